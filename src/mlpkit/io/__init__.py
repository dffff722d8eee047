"""Files: atomic writes, the hardened archive reader, model files and checkpoint files."""

from mlpkit.io.serialization import (
    Checkpoint,
    atomic_write,
    check_writable,
    load,
    load_checkpoint,
    network_from_architecture,
    read_info,
    save,
    save_checkpoint,
)

__all__ = [
    "Checkpoint",
    "atomic_write",
    "check_writable",
    "load",
    "load_checkpoint",
    "network_from_architecture",
    "read_info",
    "save",
    "save_checkpoint",
]
