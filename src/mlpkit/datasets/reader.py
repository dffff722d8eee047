"""Reading rows of one memory-mapped ``.npy`` file by position, and the process's file-backed memory."""

from __future__ import annotations

import mmap
import os
import weakref
from pathlib import Path

import numpy as np

PAGE_BYTES = mmap.PAGESIZE
STATM = Path("/proc/self/statm")


def file_resident_bytes() -> int | None:
    """Resident file-backed (and shared) memory of this process from ``/proc/self/statm``; None elsewhere."""
    try:
        return int(STATM.read_text().split()[2]) * PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return None


class RowReader:
    """Reads whole rows of one memory-mapped ``.npy`` array by position (``os.preadv``), into a buffer.

    A page fault on a mapped file may map a whole large folio (megabytes on recent Linux
    kernels), so the scattered rows of a mini-batch read through the mapping would pull far
    more than the batch into the process. Positional reads of the same file bring in just the
    rows (the kernel's page cache still serves repeats). Without ``os.preadv``, or for an
    array that is not C-ordered, rows are read through the mapping.
    """

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.path = getattr(array, "filename", None)
        self.offset = int(getattr(array, "offset", 0))
        self.row_bytes = int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize
        self.positional = hasattr(os, "preadv") and self.path is not None and array.flags.c_contiguous
        self._handle: int | None = None

    def _open(self) -> int:
        if self._handle is None:
            self._handle = os.open(self.path, os.O_RDONLY)
            weakref.finalize(self, os.close, self._handle)
        return self._handle

    def read(self, rows: np.ndarray, out: np.ndarray) -> None:
        """Copy the rows at ``rows`` (in range) into the C-ordered ``out`` of matching shape."""
        if not self.positional:
            out[...] = self.array[rows]
            return
        handle, size = self._open(), self.row_bytes
        buffer = memoryview(out.reshape(-1).view(np.uint8))
        for position, row in enumerate(rows.tolist()):
            target = buffer[position * size : (position + 1) * size]
            if os.preadv(handle, [target], self.offset + row * size) != size:
                raise ValueError(f"{self.path} ended before row {row}: the file was truncated")
