"""The one interface every data source offers: rows in memory or memory-mapped, read alike in chunks.

A source (a :class:`~mlpkit.datasets.Dataset` in memory, a
:class:`~mlpkit.datasets.memmap.MappedSplit` on disk) gives training rows ``X_train``
``(m, n_x)`` and targets ``y_train``, test rows and targets, their names and the scaling that
suits the features. Rows are a numpy array or :class:`~mlpkit.datasets.mapped.MappedRows`;
the functions here treat both alike, so one pipeline serves every source: an array is one
chunk and is transformed at once, mapped rows are read a chunk or a mini-batch at a time and
never loaded whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np

from mlpkit.datasets.mapped import MappedColumns, MappedRows, finite_chunks
from mlpkit.preprocessing import AffineScaler

Rows = np.ndarray | MappedRows  # (m, ...) rows are samples
Columns = np.ndarray | MappedColumns  # (n, m) columns are samples: the engine's layout


class Source(Protocol):
    """What the training pipeline reads from a dataset, in memory or mapped."""

    @property
    def name(self) -> str: ...
    @property
    def X_train(self) -> Rows: ...
    @property
    def y_train(self) -> Rows: ...
    @property
    def X_test(self) -> Rows: ...
    @property
    def y_test(self) -> Rows: ...
    @property
    def class_names(self) -> list[str] | None: ...
    @property
    def feature_names(self) -> list[str] | None: ...
    @property
    def target_name(self) -> str | None: ...
    @property
    def scaling(self) -> str: ...
    @property
    def n_features(self) -> int: ...

    def label_values(self, y: Rows) -> Rows:
        """The targets as the model should know them (class names for coded labels)."""

    def describe(self) -> str:
        """One line about the data."""


def is_mapped(data: object) -> bool:
    """True for rows or columns read from memory-mapped files (never to be converted whole)."""
    return isinstance(data, (MappedRows, MappedColumns))


def row_chunks(rows: Rows, role: str | None = None) -> Iterator[np.ndarray]:
    """Consecutive blocks of raw rows: an array is one block, mapped rows come about 8 MB at a time.

    With a ``role`` (``"features"`` or ``"labels"``) mapped blocks are checked finite on the
    way, and a NaN or infinity raises ValueError naming the file, the row and the column;
    arrays are checked where they are used (the scaler, the trainer).
    """
    if isinstance(rows, MappedRows):
        if role is None:
            yield from (block for _, block in rows.chunks(raw=True))
        else:
            yield from finite_chunks(rows, role)
    else:
        yield rows


def read_all(rows: Rows) -> np.ndarray:
    """All the rows in memory (an array as it is, mapped rows read chunk by chunk); for targets and
    outputs, a few numbers per sample."""
    if isinstance(rows, MappedRows):
        return np.concatenate(list(row_chunks(rows)))
    return np.asarray(rows)


def fit_scaler(rows: Rows, method: str = "standard") -> AffineScaler:
    """The ``method`` scaler fitted on raw feature rows in one pass (mapped rows checked on the way)."""
    return AffineScaler(method).fit_chunks(row_chunks(rows, "features"))


def engine_columns(
    rows: Rows, transform: Callable[[np.ndarray], np.ndarray], n_columns: int, dtype: str | np.dtype
) -> Columns:
    """``transform`` (raw rows -> ``(b, n_columns)`` in ``dtype``) in the engine's layout ``(n_columns, m)``.

    An array is transformed now; mapped rows are transformed a mini-batch at a time as the
    trainer reads them.
    """
    if isinstance(rows, MappedRows):
        return rows.with_transform(transform, n_columns, dtype).T
    return transform(rows).T


def check_columns(X: Columns, n_rows: int, m: int | None, name: str) -> None:
    """Raise ValueError unless ``X`` has shape ``(n_rows, m)`` (any ``m`` when ``None``); mapped data is
    not read."""
    if isinstance(X, MappedColumns):
        X.check_shape(n_rows, m, name)
        return
    shape = np.shape(X)
    if len(shape) != 2 or shape[0] != n_rows or (m is not None and shape[1] != m):
        raise ValueError(
            f"{name} has shape {shape} (columns are samples) but ({n_rows}, {'m' if m is None else m}) "
            "is expected"
        )


def column_chunks(X: Columns, Y: Columns, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(X_chunk, Y_chunk)`` in memory, columns are samples: arrays whole, mapped data ``size`` samples
    at a time (for evaluating without loading it)."""
    if not is_mapped(X) and not is_mapped(Y):
        yield np.asarray(X), np.asarray(Y)
        return
    rows, targets = X.T, Y.T
    for start in range(0, rows.shape[0], size):
        yield np.asarray(rows[start : start + size]).T, np.asarray(targets[start : start + size]).T
