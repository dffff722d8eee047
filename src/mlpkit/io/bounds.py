"""Size bounds, checked before anything is allocated: networks (from an option or a file) and arrays
(from a file's header).

One place says how large a network or an array may be, so that ``--hidden``, ``--layers``, a
model file's declared architecture and a data file's ``.npy`` headers are all refused the same
way: a ValueError naming where the size came from, never a MemoryError from deep in numpy.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

MAX_LAYERS = 1024
MAX_UNITS = 1 << 20  # units in one layer
MAX_PARAMETERS = 1 << 28  # numbers in one network: 1 GiB as float32, 2 GiB as float64


def parameter_count(layer_sizes: Sequence[int]) -> int:
    """How many numbers the network holds: ``n_l * (n_{l-1} + 1)`` per layer (``W_l`` and ``b_l``)."""
    return sum(layer_sizes[l] * (layer_sizes[l - 1] + 1) for l in range(1, len(layer_sizes)))


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def size_text(n_bytes: int) -> str:
    """``12.5 GB``: a byte count for people."""
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n_bytes < 1000 or unit == "PB":
            return f"{n_bytes:.3g} {unit}" if unit != "bytes" else f"{n_bytes} bytes"
        n_bytes /= 1000
    return f"{n_bytes:.3g} PB"


def check_allocation(n_bytes: int, what: str, where: str) -> None:
    """Raise ValueError when ``what`` (from ``where``) needs more bytes than this machine's memory."""
    available = memory_bytes()
    if available is not None and n_bytes > available:
        raise ValueError(
            f"{where}: {what} would need {size_text(n_bytes)}, more than this machine's "
            f"{size_text(available)} of memory"
        )


def check_layer_sizes(
    layer_sizes: Sequence[int], where: str, dtype: str | np.dtype = "float32", *, n_outputs_known: bool = True
) -> int:
    """The network's parameter count, or ValueError naming ``where`` when its sizes are out of bounds:
    at most ``MAX_LAYERS`` layers of 1 to ``MAX_UNITS`` units, ``MAX_PARAMETERS`` numbers in all.
    Without ``n_outputs_known``, the last size is a lower bound (one output) and is not shown."""
    if len(layer_sizes) > MAX_LAYERS:
        raise ValueError(f"{where}: {len(layer_sizes)} layers, more than the {MAX_LAYERS} allowed")
    for size in layer_sizes:
        if not 1 <= size <= MAX_UNITS:
            raise ValueError(f"{where}: a layer of {size} units; each layer must have 1 to {MAX_UNITS} units")
    count = parameter_count(layer_sizes)
    if count > MAX_PARAMETERS:
        sizes = "-".join(map(str, layer_sizes if n_outputs_known else [*layer_sizes[:-1], "n_L"]))
        holds = f"{count:,}" if n_outputs_known else f"at least {count:,}"
        raise ValueError(
            f"{where}: a {sizes} network holds {holds} parameters, more than the {MAX_PARAMETERS:,} allowed"
        )
    check_allocation(count * np.dtype(dtype).itemsize, "the network's parameters", where)
    return count


def check_array_header(shape: Sequence[int], dtype: np.dtype, stored_bytes: int | None, where: str) -> int:
    """The bytes an ``.npy`` header declares, or ValueError naming ``where`` when the file cannot hold
    them (``stored_bytes``: what the file or archive entry holds after the header) or memory cannot."""
    n_bytes = math.prod(int(size) for size in shape) * dtype.itemsize
    if stored_bytes is not None and n_bytes > stored_bytes:
        raise ValueError(
            f"{where}: its header declares shape {tuple(shape)} ({size_text(n_bytes)} of {dtype}) but it "
            f"holds {size_text(stored_bytes)}: truncated or corrupted"
        )
    check_allocation(n_bytes, f"an array of shape {tuple(shape)} and dtype {dtype}", where)
    return n_bytes
