"""Memory-mapped ``.npy`` datasets: samples are read a mini-batch at a time, never loaded whole.

Two layouts, rows are samples:

- a pair of files: ``X.npy`` of shape ``(m, n_x)`` and ``y.npy`` of shape ``(m,)`` (labels or
  values) or ``(m, k)`` (a 0/1 indicator or several values), as ``--data X.npy --labels y.npy``;
- a folder of shards: ``X_<part>.npy`` with a matching ``y_<part>.npy`` for each ``<part>``,
  read as one dataset in the natural order of the parts (``X_2`` before ``X_10``).

Files are opened with ``np.load(mmap_mode="r")`` (never pickled). :class:`MappedRows` is a
virtual concatenation of the mapped arrays: ``rows[index]`` gathers just those rows (a copy),
applies a per-batch transform (the scaler, the label encoding) and casts to the network's
dtype. Every pass over the data (checks, statistics, evaluation) runs in chunks, and mapped
pages are handed back to the kernel (``madvise(MADV_DONTNEED)``) after every few tens of MB
read, so the resident memory stays near the model plus a few batches. What remains
proportional to ``m`` is one integer index per sample (the epoch's permutation, the splits).
"""

from __future__ import annotations

import mmap
import os
import re
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlpkit.datasets.core import target_kind
from mlpkit.model import Model
from mlpkit.network import DNN
from mlpkit.preprocessing import AffineScaler, class_output, encode_labels, split_indices, target_matrix

CHUNK_BYTES = 8 << 20  # rows per sequential pass: about this many bytes at a time
RELEASE_BYTES = 32 << 20  # hand mapped pages back once they grew by this much
PAGE_BYTES = mmap.PAGESIZE
STATM = Path("/proc/self/statm")
SHARD_NAME = re.compile(r"X(?P<part>.*)\.npy")
NUMERIC_KINDS = "biuf"
LABEL_KINDS = "biufU"


def file_resident_bytes() -> int | None:
    """Resident file-backed (and shared) memory of this process from ``/proc/self/statm``; None elsewhere."""
    try:
        return int(STATM.read_text().split()[2]) * PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return None


# ---------------------------------------------------------------------- opening files
def open_npy(path: str | os.PathLike, role: str, kinds: str = NUMERIC_KINDS) -> np.memmap:
    """``np.load(path, mmap_mode="r")`` with a ValueError naming the file when it cannot serve as ``role``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{role} file {path} does not exist")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"{role} file {path} is not a readable .npy array: {error}") from None
    if not isinstance(array, np.ndarray):
        array.close()
        raise ValueError(
            f"{role} file {path} is an .npz archive; memory mapping needs one .npy file per array"
        )
    if array.dtype.kind not in kinds:
        raise ValueError(f"{role} file {path} holds {array.dtype} values; expected numbers")
    if array.ndim == 0 or array.shape[0] == 0:
        raise ValueError(f"{role} file {path} has no rows (shape {array.shape})")
    return array


def _natural_key(text: str) -> list:
    return [int(piece) if piece.isdigit() else piece for piece in re.split(r"(\d+)", text)]


def shard_paths(folder: str | os.PathLike) -> list[tuple[Path, Path]]:
    """The ``(X_<part>.npy, y_<part>.npy)`` pairs of a shard folder, in natural order of the parts."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"shard folder {folder} does not exist")
    parts = sorted(
        (match["part"] for path in folder.iterdir() if (match := SHARD_NAME.fullmatch(path.name))),
        key=_natural_key,
    )
    if not parts:
        raise ValueError(f"shard folder {folder} holds no X_<part>.npy files (each with a y_<part>.npy)")
    pairs = [(folder / f"X{part}.npy", folder / f"y{part}.npy") for part in parts]
    for features, labels in pairs:
        if not labels.is_file():
            raise ValueError(f"shard {features} has no labels file {labels.name} beside it")
    return pairs


def _check_parts(parts: Sequence[np.ndarray], paths: Sequence[Path], role: str) -> None:
    first = parts[0]
    for array, path in zip(parts, paths, strict=True):
        if array.shape[1:] != first.shape[1:] or array.dtype != first.dtype:
            raise ValueError(
                f"{role} shard {path} has rows of shape {array.shape[1:]} and dtype {array.dtype}, but "
                f"{paths[0]} has {first.shape[1:]} and {first.dtype}; every shard must match"
            )


# ---------------------------------------------------------------------- reading rows
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


# ---------------------------------------------------------------------- rows of mapped arrays
class MappedRows:
    """Samples of one or more memory-mapped arrays read as one, a batch of rows at a time.

    ``rows[index]`` (an integer array or a slice) returns a new C-ordered ndarray of those rows
    after ``transform`` and the cast to ``dtype``. ``subset`` and ``with_transform`` make new
    views without reading anything. ``out_of_core`` tells the :class:`~mlpkit.training.Trainer`
    to read it batch by batch.
    """

    out_of_core = True

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

    out_of_core = True
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


# ---------------------------------------------------------------------- a mapped dataset
@dataclass
class MappedDataset:
    """Raw features ``X`` ``(m, n_x)`` and targets ``y`` ``(m,)`` or ``(m, k)``, memory-mapped."""

    name: str
    X: MappedRows
    y: MappedRows

    @property
    def n_features(self) -> int:
        """Number of feature columns ``n_x``."""
        return self.X.shape[1]

    def __len__(self) -> int:
        return len(self.X)

    def subset(self, positions: np.ndarray) -> MappedDataset:
        """The samples at ``positions``, as views."""
        return MappedDataset(self.name, self.X.subset(positions), self.y.subset(positions))

    def split(self, test_fraction: float, seed: int | None = 0) -> tuple[MappedDataset, MappedDataset]:
        """Seeded random train and test views (not stratified: labels are never loaded whole)."""
        train, test = split_indices(len(self), test_fraction, seed)
        return self.subset(train), self.subset(test)

    def describe(self) -> str:
        """One line: name, rows, features, files."""
        files = len(self.X.paths)
        return f"{self.name}: {len(self)} rows, {self.n_features} features, {files} file(s), memory-mapped"


@dataclass
class MappedSplit:
    """Memory-mapped train and test views of one dataset (what ``mlpkit train`` uses for .npy data)."""

    train: MappedDataset
    test: MappedDataset
    scaling: str = "standard"

    def describe(self) -> str:
        """One line: name, split sizes, features, files."""
        files = len(self.train.X.paths)
        return (
            f"{self.train.name}: {len(self.train)} train / {len(self.test)} test rows, "
            f"{self.train.n_features} features, {files} file(s), memory-mapped"
        )


def _check_pair(X: MappedRows, y: MappedRows) -> None:
    if X.ndim != 2:
        raise ValueError(f"features file {X.paths[0]} must be 2-D (m, n_x), rows are samples; got {X.shape}")
    if y.ndim not in (1, 2):
        raise ValueError(f"labels file {y.paths[0]} must be (m,) or (m, k); got {y.shape}")
    for features, labels, x_part, y_part in zip(X.paths, y.paths, X.parts, y.parts, strict=True):
        if x_part.shape[0] != y_part.shape[0]:
            raise ValueError(
                f"{features} has {x_part.shape[0]} rows but {labels} has {y_part.shape[0]}; "
                "they must hold one label per row"
            )


def open_memmap(data: str | os.PathLike, labels: str | os.PathLike | None = None) -> MappedDataset:
    """Open ``X.npy`` + ``y.npy`` (``labels`` given) or a folder of ``X_<part>.npy``/``y_<part>.npy`` shards.

    Shapes and dtypes are checked here; values are checked by :func:`scan_features` and
    :func:`scan_targets`, chunk by chunk.
    """
    data = Path(data)
    if data.is_dir():
        if labels is not None:
            raise ValueError(
                f"{data} is a shard folder: its labels are the y_<part>.npy files, drop --labels"
            )
        pairs = shard_paths(data)
    else:
        if labels is None:
            raise ValueError(
                f"features file {data} needs a labels file (--labels y.npy) with one row per sample"
            )
        pairs = [(data, Path(labels))]
    feature_paths, label_paths = [p for p, _ in pairs], [q for _, q in pairs]
    X_parts = [open_npy(path, "features") for path in feature_paths]
    y_parts = [open_npy(path, "labels", LABEL_KINDS) for path in label_paths]
    _check_parts(X_parts, feature_paths, "features")
    _check_parts(y_parts, label_paths, "labels")
    X, y = MappedRows(X_parts, feature_paths), MappedRows(y_parts, label_paths)
    _check_pair(X, y)
    return MappedDataset(data.name, X, y)


def load_mapped(
    data: str | os.PathLike,
    labels: str | os.PathLike | None = None,
    *,
    test_fraction: float = 0.2,
    seed: int | None = 0,
) -> MappedSplit:
    """Open mapped data (see :func:`open_memmap`) and split it into seeded train and test views."""
    train, test = open_memmap(data, labels).split(test_fraction, seed)
    return MappedSplit(train, test)


# ---------------------------------------------------------------------- chunked passes
def _first_bad_entry(block: np.ndarray) -> tuple[int, int]:
    bad = np.argwhere(~np.isfinite(block.reshape(block.shape[0], -1)))[0]
    return int(bad[0]), int(bad[1])


def scan_features(X: MappedRows, method: str = "standard") -> AffineScaler:
    """One chunked pass: check every value is finite and fit the ``method`` scaler.

    The statistics are those of :meth:`AffineScaler.fit` (mean and population standard
    deviation, or minimum and range), merged over chunks in float64.
    """
    count, mean, m2 = 0, np.zeros(X.shape[1]), np.zeros(X.shape[1])
    low, high = np.full(X.shape[1], np.inf), np.full(X.shape[1], -np.inf)
    for start, block in X.chunks(raw=True):
        if block.dtype.kind == "f" and not np.isfinite(block).all():
            row, column = _first_bad_entry(block)
            path, file_row = X.locate(start + row)
            raise ValueError(
                f"features file {path} contains NaN or infinity at row {file_row}, column {column}"
            )
        block = block.astype(np.float64)
        n = block.shape[0]
        block_mean = block.mean(axis=0)
        block_m2 = ((block - block_mean) ** 2).sum(axis=0)
        delta = block_mean - mean
        total = count + n
        mean = mean + delta * (n / total)  # Chan et al.: merge the means and the sums of squares
        m2 = m2 + block_m2 + delta**2 * (count * n / total)
        count = total
        low, high = np.minimum(low, block.min(axis=0)), np.maximum(high, block.max(axis=0))
    if method == "standard":
        offset, scale = mean, np.sqrt(m2 / count)
    elif method == "minmax":
        offset, scale = low, high - low
    else:
        return AffineScaler(method).fit(X[0:1])
    return AffineScaler.from_arrays(offset, np.where(scale == 0, 1.0, scale), method)


@dataclass
class MappedTargets:
    """What the targets imply: task, output layer, outputs and labels (as the training pipeline decides)."""

    task: str
    output_activation: str
    n_outputs: int
    labels: list | None = None


def scan_targets(y: MappedRows, output: str = "auto") -> MappedTargets:
    """One chunked pass over the targets: their kind, the classes, and the output layer they call for."""
    kinds, classes = set(), None
    for start, block in y.chunks(raw=True):
        if block.dtype.kind == "f" and not np.isfinite(block).all():
            row = int(np.argwhere(~np.isfinite(block.reshape(block.shape[0], -1)))[0][0])
            path, file_row = y.locate(start + row)
            raise ValueError(f"labels file {path} contains NaN or infinity at row {file_row}")
        kinds.add(target_kind(block))
        if block.ndim == 1:
            distinct = np.unique(block)
            classes = distinct if classes is None else np.union1d(classes, distinct)
    kind = "regression" if output == "identity" or "regression" in kinds else kinds.pop()
    width = 1 if y.ndim == 1 else y.shape[1]
    if kind == "regression":
        if y.parts[0].dtype.kind not in NUMERIC_KINDS:
            raise ValueError(
                f"output 'identity' (regression) needs numeric targets, got {y.parts[0].dtype} labels"
            )
        return MappedTargets("regression", "identity", width)
    if kind == "multilabel":
        if output == "softmax":
            raise ValueError(
                "output 'softmax' needs one class per row; the targets are a 0/1 matrix (multilabel)"
            )
        return MappedTargets("multilabel", "sigmoid", width, list(range(width)))
    labels = [value.item() for value in classes]
    return MappedTargets(*class_output(labels, output), labels)


def target_rows(y: MappedRows, targets: MappedTargets, dtype: str | np.dtype) -> MappedRows:
    """Raw targets -> rows of the engine's ``Y`` (one-hot, 0/1 or values), encoded batch by batch."""
    labels = targets.labels

    def encode(raw: np.ndarray) -> np.ndarray:
        values = encode_labels(raw, labels, "labels")[0] if targets.task in ("binary", "multiclass") else raw
        return target_matrix(targets.task, values, targets.n_outputs, dtype).T  # (b, n_L)

    return y.with_transform(encode, targets.n_outputs, dtype)


def feature_rows(X: MappedRows, scaler: AffineScaler, dtype: str | np.dtype) -> MappedRows:
    """Raw feature rows -> scaled rows in ``dtype``, batch by batch."""
    return X.with_transform(lambda raw: scaler.transform(raw, dtype), X.shape[1], dtype)


# ---------------------------------------------------------------------- model and evaluation
def build_mapped_model(dataset: MappedDataset, config) -> tuple[Model, MappedColumns, MappedColumns]:
    """An untrained :class:`Model` and the engine-layout ``X``, ``Y`` views for mapped training data.

    ``config`` is a :class:`mlpkit.training.pipeline.TrainConfig`; this is its ``build_model`` for data
    that stays on disk: the scaler is fitted and the labels found in chunked passes.
    """
    targets = scan_targets(dataset.y, config.output)
    scaler = scan_features(dataset.X)
    sizes = [dataset.n_features, *config.hidden, targets.n_outputs]
    net = DNN(sizes, config.activation, targets.output_activation, seed=config.seed, dtype=config.dtype)
    labels = targets.labels
    names = None if labels is None else [str(label) for label in labels]
    model = Model(net, scaler, names, targets.task, config.to_dict(), labels=labels)
    X = feature_rows(dataset.X, scaler, net.dtype)
    Y = target_rows(dataset.y, targets, net.dtype)
    return model, X.T, Y.T


def mapped_outputs(model: Model, X: MappedRows) -> np.ndarray:
    """The model's output rows ``(m, n_L)`` for raw mapped feature rows, computed chunk by chunk."""
    return np.concatenate([model.outputs(block) for _, block in X.chunks(raw=True)])


def finish_mapped_model(model: Model, split: MappedSplit, history, seconds: float) -> dict:
    """``finish_model`` for mapped data: test report, history and metrics in the model."""
    from mlpkit.training.pipeline import summary_metrics

    report = evaluate_mapped(model, split.test)
    model.history = history.to_dict()
    model.metrics = summary_metrics(report, history.epochs, seconds)
    return report


def evaluate_mapped(model: Model, dataset: MappedDataset) -> dict:
    """Loss and accuracy (or MSE and R^2) of ``model`` on mapped rows, reading the features in chunks.

    Only the outputs and targets (a few numbers per sample) are held in memory.
    """
    from mlpkit.metrics import confusion_matrix, mean_squared_error, r2_score

    outputs = mapped_outputs(model, dataset.X)  # (m, n_L)
    targets = np.concatenate([block for _, block in dataset.y.chunks(raw=True)])
    encoded = model.encode(targets, "labels") if model.task in ("binary", "multiclass") else targets
    Y = target_matrix(model.task, encoded, outputs.shape[1], outputs.dtype)  # (n_L, m)
    report: dict = {"rows": int(outputs.shape[0]), "loss": model.net.loss(outputs.T, Y)}
    decided = model.decide(outputs)
    if model.task == "regression":
        report.update(mse=mean_squared_error(targets, decided), r2=r2_score(targets, decided))
    elif model.task == "multilabel":
        report["accuracy"] = float(np.mean(np.all(decided == targets, axis=1)))
    else:
        confusion = confusion_matrix(encoded, decided, model.n_classes)
        report["accuracy"] = float(np.trace(confusion) / max(confusion.sum(), 1))
        report["confusion_matrix"] = confusion.tolist()
    return report
