"""``python -m mlpkit.cli``: the ``mlpkit`` command."""

import sys

from mlpkit.cli import main

sys.exit(main())
