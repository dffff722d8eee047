"""Preprocessing stored with a model: affine feature scaling fitted in one streaming pass, labels, splits.

Everything here works on the user-facing layout, rows are samples: ``rows`` is ``(m, n_x)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

SCALING_METHODS = ("standard", "pixel", "minmax", "none")
PIXEL_SCALE = 255.0


def check_rows(rows: np.ndarray, name: str = "rows", n_features: int | None = None) -> np.ndarray:
    """Return ``rows`` as a 2-D real array ``(m, n_x)`` with finite entries, or raise ValueError."""
    rows = np.asarray(rows)
    if rows.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D with shape (m, n_features), rows are samples; got shape {rows.shape}"
        )
    if rows.dtype == bool or not np.issubdtype(rows.dtype, np.number) or np.iscomplexobj(rows):
        raise ValueError(f"{name} must hold real numbers, got dtype {rows.dtype}")
    if n_features is not None and rows.shape[1] != n_features:
        raise ValueError(f"{name} has {rows.shape[1]} features (columns) but {n_features} are expected")
    if np.issubdtype(rows.dtype, np.floating) and not np.isfinite(rows).all():
        row, column = np.argwhere(~np.isfinite(rows))[0]
        raise ValueError(f"{name} contains NaN or infinity at row {row}, column {column}")
    return rows


class RowMoments:
    """Per-column count, mean, sum of squared deviations (``M2``), minimum and maximum of rows seen so far.

    Blocks are merged with Chan et al.'s parallel update, in float64; the first block's
    statistics are numpy's own (``mean(axis=0, dtype=float64)`` and the squared deviations
    from it), so one block gives exactly ``rows.mean(axis=0)`` and ``rows.std(axis=0)``.
    """

    def __init__(self) -> None:
        self.count = 0
        self.n_features: int | None = None

    def add(self, block: np.ndarray) -> None:
        """Merge the rows ``(b, n_x)`` of ``block`` into the statistics."""
        n = block.shape[0]
        if n == 0:
            return
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused by the scaler's fit
            mean = block.mean(axis=0, dtype=np.float64)
            m2 = ((block - mean) ** 2).sum(axis=0)
        low, high = block.min(axis=0).astype(np.float64), block.max(axis=0).astype(np.float64)
        if self.count == 0:
            self.mean, self.m2, self.low, self.high = mean, m2, low, high
        else:
            total = self.count + n
            delta = mean - self.mean
            self.mean = self.mean + delta * (n / total)
            self.m2 = self.m2 + m2 + delta**2 * (self.count * n / total)
            self.low, self.high = np.minimum(self.low, low), np.maximum(self.high, high)
        self.count += n
        self.n_features = block.shape[1]

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation per column."""
        return np.sqrt(self.m2 / self.count)


class AffineScaler:
    """Per-feature ``x_scaled = (x - offset_) / scale_``, fitted on training rows only.

    ``method``: ``"standard"`` (mean and standard deviation, a zero deviation becomes 1),
    ``"pixel"`` (offset 0, scale 255), ``"minmax"`` (minimum and range, a zero range becomes 1)
    or ``"none"`` (offset 0, scale 1). Being affine, it folds into ``W1``/``b1`` (see :meth:`fold`).
    """

    def __init__(self, method: str = "standard") -> None:
        self.method = method

    @classmethod
    def from_arrays(cls, offset: np.ndarray, scale: np.ndarray, method: str = "standard") -> AffineScaler:
        """A fitted scaler with the given ``offset_`` and ``scale_`` (e.g. read from a model file)."""
        offset = np.asarray(offset, dtype=np.float64).reshape(-1)
        scale = np.asarray(scale, dtype=np.float64).reshape(-1)
        if offset.shape != scale.shape:
            raise ValueError(f"scaler offset has shape {offset.shape} but scale has shape {scale.shape}")
        if not (np.isfinite(offset).all() and np.isfinite(scale).all()) or (scale == 0).any():
            raise ValueError("scaler offset and scale must be finite, and scale must be nonzero")
        scaler = cls(method)
        scaler.offset_, scaler.scale_ = offset, scale
        return scaler

    def fit(self, rows: np.ndarray) -> AffineScaler:
        """Learn ``offset_`` and ``scale_`` from training rows ``(m, n_x)``; returns ``self``."""
        return self.fit_chunks([rows])

    def fit_chunks(self, chunks: Iterable[np.ndarray], label: str = "column") -> AffineScaler:
        """Learn ``offset_`` and ``scale_`` from consecutive blocks of training rows, in one pass.

        Rows in memory are one block; larger data comes a block at a time (e.g. memory-mapped
        files). The statistics are merged over blocks in float64 (:class:`RowMoments`). ``label``
        names a column in errors (``"column 3"``).
        """
        moments = RowMoments()
        for block in chunks:
            moments.add(check_rows(block, "rows to fit the scaler on", moments.n_features))
        if moments.count < 1:
            raise ValueError("cannot fit a scaler on 0 rows")
        offset, scale = self._statistics(moments)
        overflowed = np.flatnonzero(~(np.isfinite(offset) & np.isfinite(scale)))
        if len(overflowed):  # finite values whose sum or squared deviations pass float64's 1.8e308
            column = int(overflowed[0])
            largest = max(abs(moments.low[column]), abs(moments.high[column]))
            raise ValueError(
                f"{label} {column} reaches {largest:g}, too large to scale ({self.method}: its "
                "statistics overflow float64); rescale it"
            )
        scale = np.where(scale == 0, 1.0, scale)
        self.offset_, self.scale_ = offset.astype(np.float64), scale.astype(np.float64)
        return self

    def _statistics(self, moments: RowMoments) -> tuple[np.ndarray, np.ndarray]:
        n_features = moments.n_features
        if self.method == "standard":
            return moments.mean, moments.std
        if self.method == "minmax":
            return moments.low, moments.high - moments.low
        if self.method == "pixel":
            return np.zeros(n_features), np.full(n_features, PIXEL_SCALE)
        if self.method == "none":
            return np.zeros(n_features), np.ones(n_features)
        raise ValueError(f"Unknown scaling method {self.method!r}; expected one of {list(SCALING_METHODS)}")

    @property
    def n_features(self) -> int:
        """Number of features the scaler was fitted on."""
        self._check_fitted()
        return self.offset_.shape[0]

    def _check_fitted(self) -> None:
        if not hasattr(self, "offset_"):
            raise ValueError("this AffineScaler is not fitted yet; call fit(rows) first")

    def transform(self, rows: np.ndarray, dtype: str | np.dtype = np.float64) -> np.ndarray:
        """``(rows - offset_) / scale_`` as a new ``dtype`` array of the same shape."""
        self._check_fitted()
        rows = check_rows(rows, n_features=self.n_features)
        dtype = np.dtype(dtype)
        scaled = rows.astype(dtype)  # a copy: the caller's rows are never modified
        scaled -= self.offset_.astype(dtype)
        scaled /= self.scale_.astype(dtype)
        return scaled

    def fit_transform(self, rows: np.ndarray, dtype: str | np.dtype = np.float64) -> np.ndarray:
        """Fit on ``rows`` and return them transformed."""
        return self.fit(rows).transform(rows, dtype)

    def inverse(self, scaled: np.ndarray, dtype: str | np.dtype = np.float64) -> np.ndarray:
        """``scaled * scale_ + offset_``: scaled rows back in their original units (a new array)."""
        self._check_fitted()
        dtype = np.dtype(dtype)
        rows = np.asarray(scaled).astype(dtype)  # a copy: the caller's rows are never modified
        rows *= self.scale_.astype(dtype)
        rows += self.offset_.astype(dtype)
        return rows

    def unfold(self, W_L: np.ndarray, b_L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``W_L'``, ``b_L'`` such that ``W_L' a + b_L' = (W_L a + b_L) * scale + offset``: a target
        scaler folded into an identity output layer, so its outputs come in the target's units."""
        self._check_fitted()
        scale, offset = self.scale_.reshape(-1, 1), self.offset_.reshape(-1, 1)
        return (W_L * scale).astype(W_L.dtype), (b_L * scale + offset).astype(b_L.dtype)

    def fold(self, W1: np.ndarray, b1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``W1'``, ``b1'`` such that ``W1' x + b1' = W1 ((x - offset) / scale) + b1`` for raw ``x``."""
        self._check_fitted()
        W1_folded = W1 / self.scale_  # (n_1, n_x): column j divided by scale_j
        b1_folded = b1 - W1_folded @ self.offset_.reshape(-1, 1)  # (n_1, 1)
        return W1_folded.astype(W1.dtype), b1_folded.astype(b1.dtype)

    def __repr__(self) -> str:
        return f"AffineScaler(method={self.method!r})"


def encode_labels(y: np.ndarray, labels: Sequence | None = None, name: str = "y") -> tuple[np.ndarray, list]:
    """Class indices and the label list: ``labels[indices[i]] == y[i]``.

    Without ``labels`` they are the sorted distinct values of ``y``; with ``labels``, a value
    of ``y`` outside them raises ValueError naming its row.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per row), got shape {y.shape}")
    distinct, inverse = np.unique(y, return_inverse=True)
    if labels is None:
        return inverse.astype(np.int64), [value.item() for value in distinct]
    position = {_plain(label): index for index, label in enumerate(labels)}
    mapped = np.empty(distinct.shape[0], dtype=np.int64)
    for index, value in enumerate(distinct):
        key = _plain(value)
        if key not in position:
            row = int(np.flatnonzero(inverse == index)[0])
            raise ValueError(
                f"{name} has label {key!r} at row {row} that the model does not know; "
                f"its labels are {list(labels)}"
            )
        mapped[index] = position[key]
    return mapped[inverse], list(labels)


def _plain(value):
    """A numpy scalar as the matching Python scalar (so 3, np.int64(3) and '3' compare as expected)."""
    return value.item() if isinstance(value, np.generic) else value


def one_hot(indices: np.ndarray, n_classes: int, dtype: str | np.dtype = np.float64) -> np.ndarray:
    """One-hot rows ``(m, n_classes)`` for class indices ``(m,)``."""
    indices = np.asarray(indices)
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"class indices must be a 1-D integer array, got {indices.dtype} {indices.shape}")
    if indices.size and (indices.min() < 0 or indices.max() >= n_classes):
        raise ValueError(
            f"class indices must be in [0, {n_classes}), got range [{indices.min()}, {indices.max()}]"
        )
    encoded = np.zeros((indices.shape[0], n_classes), dtype=dtype)
    encoded[np.arange(indices.shape[0]), indices] = 1
    return encoded


def split_indices(
    m: int, test_fraction: float, seed: int | None = 0, stratify: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test row indices (sorted), stratified by the class indices in ``stratify``.

    Each class sends ``round(test_fraction * count)`` rows to the test split but keeps at
    least one in the training split.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if m < 2:
        raise ValueError(f"cannot split {m} row(s) into train and test; need at least 2")
    rng = np.random.default_rng(seed)
    groups = [np.arange(m)] if stratify is None else _class_groups(np.asarray(stratify), m)
    test_parts = []
    for group in groups:
        shuffled = rng.permutation(group)
        n_test = min(int(round(test_fraction * group.shape[0])), group.shape[0] - 1)
        test_parts.append(shuffled[:n_test])
    test = np.sort(np.concatenate(test_parts))
    if test.shape[0] == 0:
        raise ValueError(f"test_fraction={test_fraction} leaves no test rows out of {m}")
    train = np.setdiff1d(np.arange(m), test, assume_unique=True)
    return train, test


def _class_groups(classes: np.ndarray, m: int) -> list[np.ndarray]:
    if classes.shape[0] != m:
        raise ValueError(f"stratify has {classes.shape[0]} entries, expected one per row ({m})")
    _, inverse = np.unique(classes, return_inverse=True, axis=0 if classes.ndim > 1 else None)
    inverse = inverse.reshape(-1)
    return [np.flatnonzero(inverse == k) for k in range(inverse.max() + 1)]
