"""Files: atomic writes, the hardened archive reader, model files and checkpoint files.

``atomic`` writes any file safely; ``archive`` is the zip-of-``.npy`` container both file
kinds share; ``model_file`` and ``checkpoint_file`` say what each kind holds and check it.
"""

from mlpkit.io.atomic import atomic_write, check_writable
from mlpkit.io.checkpoint_file import Checkpoint, load_checkpoint, save_checkpoint
from mlpkit.io.model_file import load, network_from_architecture, read_info, save
from mlpkit.io.outputs import check_outputs, same_file

__all__ = [
    "Checkpoint",
    "atomic_write",
    "check_outputs",
    "check_writable",
    "load",
    "load_checkpoint",
    "network_from_architecture",
    "read_info",
    "save",
    "same_file",
    "save_checkpoint",
]
