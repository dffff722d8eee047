"""Memory-mapped ``.npy`` datasets: opening a file pair or a shard folder, and their train/test views.

Two layouts, rows are samples:

- a pair of files: ``X.npy`` of shape ``(m, n_x)`` and ``y.npy`` of shape ``(m,)`` (labels or
  values) or ``(m, k)`` (a 0/1 indicator or several values), as ``--data X.npy --labels y.npy``;
- a folder of shards: ``X_<part>.npy`` with a matching ``y_<part>.npy`` for each ``<part>``,
  read as one dataset in the natural order of the parts (``X_2`` before ``X_10``).

Files are opened with ``np.load(mmap_mode="r")`` (never pickled) and read through
:class:`~mlpkit.datasets.mapped.MappedRows`, a mini-batch or a chunk at a time. What remains
proportional to ``m`` is one integer index per sample (the epoch's permutation, the splits).
A :class:`MappedSplit` is a source like any :class:`~mlpkit.datasets.Dataset`: the training
pipeline reads both through :mod:`mlpkit.datasets.source`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlpkit.datasets.mapped import MappedRows
from mlpkit.datasets.npy_files import LABEL_KINDS, check_parts, open_npy, shard_paths
from mlpkit.preprocessing import split_indices
from mlpkit.tasks import target_kind


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
        """Seeded random train and test views, stratified for class labels (one label per row, read in
        chunks: a few bytes per sample), so no class is left out of the training rows."""
        labels = np.concatenate([block for _, block in self.y.chunks(raw=True)]) if self.y.ndim == 1 else None
        stratify = labels if labels is not None and target_kind(labels) == "classification" else None
        train, test = split_indices(len(self), test_fraction, seed, stratify)
        if labels is not None and stratify is not None:
            _check_test_classes(self.y, labels, train, test)
        return self.subset(train), self.subset(test)

    def describe(self) -> str:
        """One line: name, rows, features, files."""
        files = len(self.X.paths)
        return f"{self.name}: {len(self)} rows, {self.n_features} features, {files} file(s), memory-mapped"


@dataclass
class MappedSplit:
    """Memory-mapped train and test views of one dataset (what ``mlpkit train`` uses for .npy data).

    It offers what a :class:`~mlpkit.datasets.Dataset` offers (``X_train``, ``y_train``,
    ``X_test``, ``y_test``, names, scaling), with mapped rows in place of arrays.
    """

    train: MappedDataset
    test: MappedDataset
    scaling: str = "standard"
    class_names = None  # labels are the values in the files
    feature_names = None
    target_name = None

    @property
    def name(self) -> str:
        """The dataset's name (the file or folder)."""
        return self.train.name

    @property
    def X_train(self) -> MappedRows:
        """Training feature rows ``(m, n_x)``."""
        return self.train.X

    @property
    def y_train(self) -> MappedRows:
        """Training targets ``(m,)`` or ``(m, k)``."""
        return self.train.y

    @property
    def X_test(self) -> MappedRows:
        """Test feature rows."""
        return self.test.X

    @property
    def y_test(self) -> MappedRows:
        """Test targets."""
        return self.test.y

    @property
    def n_features(self) -> int:
        """Number of feature columns ``n_x``."""
        return self.train.n_features

    def label_values(self, y: MappedRows) -> MappedRows:
        """The labels as the model knows them: the targets themselves."""
        return y

    def describe(self) -> str:
        """One line: name, split sizes, features, files."""
        files = len(self.train.X.paths)
        return (
            f"{self.train.name}: {len(self.train)} train / {len(self.test)} test rows, "
            f"{self.train.n_features} features, {files} file(s), memory-mapped"
        )


def _check_test_classes(y: MappedRows, labels: np.ndarray, train: np.ndarray, test: np.ndarray) -> None:
    """Refuse a class that only the test rows hold (a model could never predict it), naming the label and
    the labels file's row."""
    unseen = ~np.isin(labels[test], np.unique(labels[train]))
    if unseen.any():
        position = int(test[np.flatnonzero(unseen)[0]])
        path, row = y.locate(position)
        raise ValueError(
            f"labels file {path}: label {labels[position].item()!r} at row {row} is in the test rows only, "
            "so the model could not learn it; add training rows of that class or drop it"
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

    Shapes and dtypes are checked here; values are checked chunk by chunk when the training
    pipeline reads them (:func:`mlpkit.datasets.source.row_chunks`).
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
    check_parts(X_parts, feature_paths, "features")
    check_parts(y_parts, label_paths, "labels")
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
