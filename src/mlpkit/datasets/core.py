"""The :class:`Dataset` every in-memory loader returns: train and test rows, labels, names."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlpkit.columns import ColumnTable
from mlpkit.datasets.split import content_split, keys_digest, row_keys
from mlpkit.tasks import target_kind


@dataclass
class Dataset:
    """Train and test splits with rows as samples: ``X_*`` is ``(m, n_x)``, ``y_*`` is ``(m,)`` or ``(m, k)``.

    ``class_names`` names the integer labels ``0..k-1`` when the labels are codes;
    ``scaling`` is the preprocessing that suits the features (``"pixel"`` or ``"standard"``; for a
    CSV or Parquet table, whose ``X_*`` are raw columns (:class:`~mlpkit.columns.ColumnTable`),
    ``"schema"``: a :class:`~mlpkit.features.FeatureSchema` fitted on the training rows).
    """

    name: str
    X_train: np.ndarray | ColumnTable
    y_train: np.ndarray
    X_test: np.ndarray | ColumnTable
    y_test: np.ndarray
    class_names: list[str] | None = None
    feature_names: list[str] | None = None
    target_name: str | None = None
    scaling: str = "standard"
    source: str = ""
    own_split: bool = True
    test_rows: str | None = None  # digest of the held-out rows' content, for evaluate to check
    test_positions: np.ndarray | None = None  # where the test rows sit in the whole data (0-based)

    @property
    def n_features(self) -> int:
        """Number of feature columns ``n_x``."""
        return self.X_train.shape[1]

    def label_values(self, y: np.ndarray) -> np.ndarray:
        """Labels as the model should know them: class names for coded labels, else ``y`` itself."""
        if self.class_names is None:
            return y
        return np.asarray(self.class_names)[y]

    def describe(self) -> str:
        """One line: name, split sizes, features and classes."""
        kind = target_kind(self.y_train)
        classes = len(self.class_names) if self.class_names else len(np.unique(self.y_train))
        what = f"{classes} classes" if kind == "classification" else kind
        return (
            f"{self.name}: {self.X_train.shape[0]} train / {self.X_test.shape[0]} test rows, "
            f"{self.n_features} features, {what}"
        )


def split_dataset(
    name: str,
    X: np.ndarray | ColumnTable,
    y: np.ndarray,
    *,
    test_fraction: float,
    seed: int | None,
    **details,
) -> Dataset:
    """A :class:`Dataset` from whole data by a seeded split by row content (see
    :mod:`~mlpkit.datasets.split`), stratified for class labels (raw columns ``X`` are split column by
    column and emptied on the way)."""
    stratify = y if target_kind(y) == "classification" else None
    keys = row_keys(X, y, seed)
    train, test = content_split(keys, test_fraction, stratify)
    details.setdefault("test_rows", keys_digest(keys[test]))
    details.setdefault("test_positions", test)
    if isinstance(X, ColumnTable):
        X_train, X_test = X.split(train, test)  # column by column: never two whole copies
    else:
        X_train, X_test = X[train], X[test]
    return Dataset(name, X_train, y[train], X_test, y[test], own_split=False, **details)
