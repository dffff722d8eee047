"""Figures and their files: matplotlib on an Agg canvas (the ``plot`` extra), output paths, atomic saving.

matplotlib is imported here, when a figure is made, never when :mod:`mlpkit.plots` is imported; a
missing matplotlib raises ImportError naming ``pip install "mlpkit[plot]"``. No window opens and no
global pyplot state changes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlpkit.io import atomic_write, check_writable

PLOT_EXTRA_MESSAGE = 'plots need matplotlib; install it with: pip install "mlpkit[plot]"'
FORMATS = (".png", ".pdf", ".svg")
DPI = 100


def require_matplotlib() -> None:
    """Raise ImportError naming the ``plot`` extra unless matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(PLOT_EXTRA_MESSAGE) from None


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure on an Agg canvas (no pyplot), or ImportError naming the ``plot`` extra."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def check_output_path(path: str | os.PathLike) -> Path:
    """The output path, or ValueError if its suffix is not an image format or its folder is unusable."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"output file {str(path)!r} must end in one of {list(FORMATS)}")
    return check_writable(path)


def save(figure: Any, path: Path) -> None:
    """Write the figure atomically (temporary file in the same folder, then a rename)."""
    atomic_write(path, lambda handle: figure.savefig(handle, format=path.suffix[1:].lower(), dpi=DPI))
