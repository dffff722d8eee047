"""Rows of memory-mapped arrays read as one dataset, a mini-batch or a chunk at a time, never whole.

:class:`MappedRows` is a virtual concatenation of mapped ``.npy`` arrays (rows are samples):
``rows[index]`` gathers just those rows (a copy), applies a per-batch transform (the scaler,
the label encoding) and casts to the network's dtype. Every pass over the data (checks,
statistics, evaluation) runs in chunks of about ``CHUNK_BYTES``, and mapped pages are handed
back to the kernel (``madvise(MADV_DONTNEED)``) after every ``RELEASE_BYTES`` read, so the
resident memory stays near the model plus a few batches. :class:`MappedColumns` is the
engine's view, columns are samples.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from mlpkit.datasets.reader import PAGE_BYTES, RowReader, file_resident_bytes

CHUNK_BYTES = 8 << 20  # rows per sequential pass: about this many bytes at a time
RELEASE_BYTES = 32 << 20  # hand mapped pages back once they grew by this much
MAX_MAGNITUDE = float(np.finfo(np.float32).max)  # beyond it a value is infinite in float32


class MappedRows:
    """Samples of one or more memory-mapped arrays read as one, a batch of rows at a time.

    ``rows[index]`` (an integer array or a slice) returns a new C-ordered ndarray of those rows
    after ``transform`` and the cast to ``dtype``. ``subset`` and ``with_transform`` make new
    views without reading anything; the trainer reads it batch by batch
    (:func:`mlpkit.datasets.source.is_mapped`).
    """

    def __init__(
        self,
        parts: Sequence[np.ndarray],
        paths: Sequence[Path],
        *,
        index: np.ndarray | None = None,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        n_columns: int | None = None,
        dtype: str | np.dtype | None = None,
        readers: Sequence[RowReader] | None = None,
    ) -> None:
        self.parts, self.paths = list(parts), [Path(path) for path in paths]
        self.readers = list(readers) if readers is not None else [RowReader(part) for part in self.parts]
        self.starts = np.concatenate([[0], np.cumsum([part.shape[0] for part in self.parts])])
        self.index = index
        self.transform = transform
        raw_columns = self.parts[0].shape[1:]
        columns = raw_columns if transform is None else (n_columns,)
        m = self.starts[-1] if index is None else index.shape[0]
        self.shape = tuple(int(size) for size in (m, *columns))
        self.dtype = np.dtype(dtype if dtype is not None else self.parts[0].dtype)
        self.row_bytes = int(np.prod(raw_columns, dtype=np.int64)) * self.parts[0].dtype.itemsize
        self._touched_bytes = 0
        self._resident_after_release = file_resident_bytes() or 0

    @property
    def ndim(self) -> int:
        """Number of dimensions of the rows view (1 for raw labels, 2 otherwise)."""
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"MappedRows(shape={self.shape}, dtype={self.dtype}, files={len(self.paths)})"

    @property
    def T(self) -> MappedColumns:
        """The engine's layout, columns are samples: ``(n_x, m)``."""
        return MappedColumns(self)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """All rows in memory (only for data that fits; training never calls this)."""
        return np.asarray(self[0 : len(self)], dtype=dtype)

    # ------------------------------------------------------------------ views
    def subset(self, positions: np.ndarray) -> MappedRows:
        """The rows at ``positions`` (of this view), as a new view; nothing is read."""
        positions = np.asarray(positions)
        if positions.ndim != 1 or not np.issubdtype(positions.dtype, np.integer):
            raise ValueError(
                f"row positions must be a 1-D integer array, got {positions.dtype} {positions.shape}"
            )
        index = positions if self.index is None else self.index[positions]
        return self._view(index=index.astype(np.int64, copy=False))

    def with_transform(
        self, transform: Callable[[np.ndarray], np.ndarray], n_columns: int, dtype: str | np.dtype
    ) -> MappedRows:
        """The same rows through ``transform`` (raw rows -> ``(b, n_columns)``), cast to ``dtype``."""
        return self._view(transform=transform, n_columns=n_columns, dtype=dtype)

    def _view(self, **changes) -> MappedRows:
        settings = {
            "index": self.index,
            "transform": self.transform,
            "n_columns": self.shape[1] if self.transform is not None else None,
            "dtype": self.dtype if self.transform is not None else None,
        }
        settings.update(changes)
        return MappedRows(self.parts, self.paths, readers=self.readers, **settings)

    # ------------------------------------------------------------------ reading
    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step == 1 and self.index is None:
                return self._finish(self._read_range(start, stop))
            key = np.arange(start, stop, step)
        positions = np.asarray(key)
        if positions.ndim != 1 or not np.issubdtype(positions.dtype, np.integer):
            raise TypeError(f"MappedRows takes a slice or a 1-D integer array of row positions, got {key!r}")
        rows = positions if self.index is None else self.index[positions]
        return self._finish(self._gather(rows))

    def take(self, indices: np.ndarray, axis: int = 0, out: np.ndarray | None = None, mode: str = "raise"):
        """``np.take(rows, indices, axis=0, out=...)``: the rows at ``indices``, optionally into ``out``.

        Indices out of range raise IndexError whatever ``mode`` says.
        """
        if axis != 0:
            raise ValueError(f"MappedRows.take gathers rows (axis=0) only, got axis={axis}")
        rows = self[np.asarray(indices)]
        if out is None:
            return rows
        out[...] = rows
        return out

    def _read_range(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of the concatenation, read sequentially."""
        pieces = []
        for part, part_start, part_stop in zip(self.parts, self.starts[:-1], self.starts[1:], strict=True):
            low, high = max(start, part_start), min(stop, part_stop)
            if low < high:
                pieces.append(np.array(part[low - part_start : high - part_start]))
        self._account((stop - start) * self.row_bytes + PAGE_BYTES)
        if len(pieces) == 1:
            return pieces[0]
        return (
            np.concatenate(pieces) if pieces else np.empty((0, *self.parts[0].shape[1:]), self.parts[0].dtype)
        )

    def _gather(self, rows: np.ndarray) -> np.ndarray:
        """Rows at the given positions of the concatenation, in that order."""
        total = int(self.starts[-1])
        if rows.size and (rows.min() < 0 or rows.max() >= total):
            raise IndexError(f"row positions must be in [0, {total}), got [{rows.min()}, {rows.max()}]")
        gathered = np.empty((rows.shape[0], *self.parts[0].shape[1:]), dtype=self.parts[0].dtype)
        if len(self.parts) == 1:
            self.readers[0].read(rows, gathered)
            return gathered
        which = np.searchsorted(self.starts, rows, side="right") - 1
        for part in np.unique(which):
            chosen = which == part
            block = np.empty((int(chosen.sum()), *gathered.shape[1:]), dtype=gathered.dtype)
            self.readers[part].read(rows[chosen] - self.starts[part], block)
            gathered[chosen] = block
        return gathered

    def _finish(self, raw: np.ndarray) -> np.ndarray:
        rows = raw if self.transform is None else self.transform(raw)
        return np.ascontiguousarray(rows, dtype=self.dtype)

    def chunks(self, raw: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, rows)`` for consecutive blocks of about ``CHUNK_BYTES``; untransformed when ``raw``."""
        step = max(1, CHUNK_BYTES // max(self.row_bytes, 1))
        source = self._view(transform=None, n_columns=None, dtype=None) if raw else self
        for start in range(0, len(self), step):
            yield start, source[start : start + step]
        source.release()

    # ------------------------------------------------------------------ memory
    def _account(self, touched_bytes: int) -> None:
        """Release the mapped pages once they grew by ``RELEASE_BYTES`` since the last release.

        The growth is measured where the kernel reports it (a fault may map a whole large
        folio, far more than the row it reads), else estimated from the bytes read.
        """
        self._touched_bytes += touched_bytes
        resident = file_resident_bytes()
        grown = self._touched_bytes if resident is None else resident - self._resident_after_release
        if grown >= RELEASE_BYTES:
            self.release()

    def release(self) -> None:
        """Hand the mapped pages read so far back to the kernel (they stay in the page cache)."""
        for part in self.parts:
            mapping = getattr(part, "_mmap", None)  # numpy.memmap keeps its mmap.mmap here
            if mapping is not None and hasattr(mapping, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
                mapping.madvise(mmap.MADV_DONTNEED)
        self._touched_bytes = 0
        self._resident_after_release = file_resident_bytes() or 0

    def locate(self, position: int) -> tuple[Path, int]:
        """The file and the row inside it that hold row ``position`` of this view."""
        row = int(position if self.index is None else self.index[position])
        part = int(np.searchsorted(self.starts, row, side="right") - 1)
        return self.paths[part], row - int(self.starts[part])


class MappedColumns:
    """The engine's view of :class:`MappedRows`: shape ``(n_x, m)``, columns are samples.

    ``X.T`` gives the rows back and ``X[:, index]`` a subset of the samples; this is all the
    :class:`~mlpkit.training.Trainer` uses, so an epoch reads one mini-batch of rows at a time.
    """

    ndim = 2

    def __init__(self, rows: MappedRows) -> None:
        self.rows = rows

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_columns, m)``."""
        return (self.rows.shape[1], self.rows.shape[0])

    @property
    def dtype(self) -> np.dtype:
        """The dtype batches are cast to."""
        return self.rows.dtype

    @property
    def T(self) -> MappedRows:
        """The rows-as-samples view."""
        return self.rows

    def __getitem__(self, key) -> MappedColumns:
        if not (isinstance(key, tuple) and len(key) == 2 and key[0] == slice(None)):
            raise TypeError(f"mapped columns take [:, index] (a subset of samples), got {key!r}")
        return self.rows.subset(np.asarray(key[1])).T

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """All columns in memory (only for data that fits; training never calls this)."""
        return np.asarray(self.rows, dtype=dtype).T

    def check_shape(self, n_rows: int, m: int | None, name: str) -> None:
        """Raise ValueError unless the shape is ``(n_rows, m)`` (any ``m`` when ``None``)."""
        expected_m = self.shape[1] if m is None else m
        if self.shape != (n_rows, expected_m):
            files = ", ".join(str(path) for path in self.rows.paths[:3])
            raise ValueError(
                f"{name} from {files} has shape {self.shape} (columns are samples) but "
                f"({n_rows}, {'m' if m is None else m}) is expected"
            )


def finite_chunks(rows: MappedRows, role: str) -> Iterator[np.ndarray]:
    """Raw blocks of ``rows`` (see :meth:`MappedRows.chunks`), each checked finite on the way.

    A NaN or infinity raises ValueError naming the ``role`` (``"features"`` or ``"labels"``)
    file and its row (and column, for features).
    """
    for start, block in rows.chunks(raw=True):
        if block.dtype.kind == "f" and not (np.abs(block) <= MAX_MAGNITUDE).all():  # NaN compares False
            flat = block.reshape(block.shape[0], -1)
            row, column = np.argwhere(~(np.abs(flat) <= MAX_MAGNITUDE))[0]
            path, file_row = rows.locate(start + int(row))
            where = f"row {file_row}" if role == "labels" else f"row {file_row}, column {int(column)}"
            value = flat[row, column]
            what = "NaN or infinity" if not np.isfinite(value) else f"{value:g}, beyond float32's range"
            raise ValueError(f"{role} file {path} contains {what} at {where}")
        yield block
