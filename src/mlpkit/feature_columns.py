"""One column of the feature schema: a numeric column (impute, indicator, scale) or a categorical one
(vocabulary, one-hot block or embedding index); fitted, applied, stored and checked when read back.

numpy and the standard library only; :mod:`mlpkit.features` assembles these into the schema.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from mlpkit.columns import Column, day_text

SCALINGS = ("robust", "standard")
LINEAR_RANGE = 3.0  # robust scaling's 3 asinh(z / 3): about z within +-3 IQR, logarithmic beyond
MAX_CATEGORIES = 1000
MISSING, UNSEEN, FIRST_CATEGORY = 0, 1, 2
MAX_NAME_CHARS = 1024
MAX_STORED_CATEGORIES = 1 << 20
MAX_STORED_DIM = 1024
Where = Callable[[int], str]


def _check_finite(column_name: str, values: np.ndarray, where: Where) -> None:
    infinite = np.flatnonzero(np.isinf(values))
    if len(infinite):
        row = int(infinite[0])
        raise ValueError(
            f"{where(row)}, column {column_name!r}: {values[row]} is not a finite number "
            "(a missing value is an empty cell, NaN or None)"
        )


@dataclass(frozen=True)
class NumericFeature:
    """A numeric column: a missing ``x`` becomes ``median``; ``z = (x - center) / scale`` (robust: then
    ``3 asinh(z / 3)``); plus a 0/1 "was missing" column when the training rows had gaps (``indicator``).
    With ``dates``, ``x`` is a date's days since 1970-01-01 (the column holds ISO dates)."""

    name: str
    median: float
    center: float
    scale: float
    indicator: bool
    scaling: str
    missing_rows: int = 0
    dates: bool = False
    kind = "numeric"

    @property
    def width(self) -> int:
        return 1 + int(self.indicator)

    @classmethod
    def fit(cls, column: Column, scaling: str, where: Where) -> NumericFeature | None:
        """The statistics of the training values; None when the column has no value at all."""
        values = column.values
        _check_finite(column.name, values, where)
        missing = np.isnan(values)
        if missing.all():
            return None
        median = float(np.median(values[~missing]))
        imputed = np.where(missing, median, values)
        std = float(imputed.std())
        if scaling == "standard":
            center, scale = float(imputed.mean()), std
        else:
            low, high = np.percentile(imputed, [25, 75])
            center, scale = median, float(high - low)
            scale = scale if scale > 0 else std  # mostly one value: the IQR is 0, the deviation is not
        scale = scale if math.isfinite(scale) and scale > 0 else 1.0
        return cls(column.name, median, center, scale, bool(missing.any()), scaling, int(missing.sum()))

    def fill(self, values: np.ndarray, out: np.ndarray, where: Where) -> None:
        """Write the scaled values (and the indicator) of raw ``values`` ``(m,)`` into ``out`` ``(m, width)``.

        Computed in float64 and rounded once, into ``out``'s dtype."""
        _check_finite(self.name, values, where)
        missing = np.isnan(values)
        z = (np.where(missing, self.median, values) - self.center) / self.scale
        if self.scaling == "robust":  # outliers and heavy tails compressed smoothly, their order kept
            z = LINEAR_RANGE * np.arcsinh(np.clip(z, -1e300, 1e300) / LINEAR_RANGE)
        out[:, 0] = z
        if self.indicator:
            out[:, 1] = missing

    def dense_names(self) -> list[str]:
        return [self.name, f"{self.name}_missing"] if self.indicator else [self.name]

    def describe(self) -> str:
        gaps = f", {self.missing_rows} missing -> median + indicator" if self.indicator else ""
        if self.dates:
            median = day_text(self.median)
            return f"{self.name:<16} dates as days, median {median}, scale {self.scale:.4g} days{gaps}"
        return f"{self.name:<16} numeric, median {self.median:.4g}, scale {self.scale:.4g}{gaps}"

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "median": self.median,
            "center": self.center,
            "scale": self.scale,
            "indicator": self.indicator,
            "missing_rows": self.missing_rows,
            **({"dates": True} if self.dates else {}),  # absent from the files of earlier versions
        }


@dataclass(frozen=True)
class CategoricalFeature:
    """A categorical column: vocabulary index 0 for a missing value, 1 for a category not in the
    training rows, ``2 + i`` for ``categories[i]`` (sorted); ``n_c = len(categories) + 2``."""

    name: str
    categories: tuple[str, ...]
    missing: bool
    encoding: str = "onehot"
    dim: int = 0
    kind = "categorical"

    @property
    def n_c(self) -> int:
        return len(self.categories) + FIRST_CATEGORY

    @property
    def width(self) -> int:
        """Dense columns: one per category, plus one for a missing value if training had one."""
        return len(self.categories) + int(self.missing) if self.encoding == "onehot" else 0

    @cached_property
    def _index(self) -> dict[str, int]:
        return {text: FIRST_CATEGORY + i for i, text in enumerate(self.categories)}

    @classmethod
    def fit(cls, column: Column, max_categories: int = MAX_CATEGORIES) -> CategoricalFeature | None:
        """The vocabulary of the training rows (categorical ``column``); None when it has no value."""
        counts = np.bincount(column.values.astype(np.int64) + 1, minlength=len(column.categories) + 1)
        present = sorted(column.categories[i] for i in np.flatnonzero(counts[1:]))
        if not present:
            return None
        if len(present) > max_categories:
            raise ValueError(
                f"column {column.name!r} has {len(present)} distinct values in the training rows, more "
                f"than the {max_categories} a categorical column may have (max_categories); leave it out "
                f"(an identifier or free text? mlpkit train --ignore {column.name}, or drop it from the "
                "DataFrame) or map its values to fewer categories"
            )
        return cls(column.name, tuple(present), bool(counts[0]))

    def encoded(self, encoding: str, dim: int) -> CategoricalFeature:
        """This vocabulary with ``encoding`` (``dim`` = ``d_c`` for an embedding)."""
        return replace(self, encoding=encoding, dim=dim if encoding == "embedding" else 0)

    def indices(self, column: Column) -> np.ndarray:
        """Vocabulary indices ``(m,)`` int64 of a categorical column's rows."""
        index = self._index
        lookup = [index.get(text, UNSEEN) for text in column.categories]
        return np.array([*lookup, MISSING], dtype=np.int64)[column.values]

    def fill_onehot(self, indices: np.ndarray, out: np.ndarray) -> None:
        """Write the 0/1 block of ``indices`` into the zeroed ``out`` ``(m, width)``: unseen rows stay 0."""
        rows = np.flatnonzero(indices >= FIRST_CATEGORY)
        out[rows, indices[rows] - FIRST_CATEGORY] = 1
        if self.missing:
            out[:, len(self.categories)] = indices == MISSING

    def dense_names(self) -> list[str]:
        if self.encoding != "onehot":
            return []
        missing = [f"{self.name}=<missing>"] if self.missing else []
        return [f"{self.name}={text}" for text in self.categories] + missing

    def describe(self) -> str:
        values = f"{len(self.categories)} values{' + missing' if self.missing else ''}"
        if self.encoding == "onehot":
            how = f"one-hot, {self.width} columns"
        else:
            how = f"embedding d_c={self.dim} of n_c={self.n_c}"
        return f"{self.name:<16} categorical, {values}, {how}"

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "categories": list(self.categories),
            "missing": self.missing,
            "encoding": self.encoding,
            "dim": self.dim,
        }


# ---------------------------------------------------------------------- reading back, checked
def _real(item: dict, key: str, where: str) -> float:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}.{key} must be a finite number, got {value!r:.40}")
    return float(value)


def _flag(item: dict, key: str, where: str) -> bool:
    if not isinstance(item.get(key), bool):
        raise ValueError(f"{where}.{key} must be true or false, got {item.get(key)!r:.40}")
    return item[key]


def _count(item: dict, key: str, where: str, high: int) -> int:
    value = item.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise ValueError(f"{where}.{key} must be an integer in [0, {high}], got {value!r:.40}")
    return value


def feature_from_dict(item: object, where: str, scaling: str) -> NumericFeature | CategoricalFeature:
    """One column's entry of a stored schema, checked field by field (ValueError naming ``where``)."""
    if not isinstance(item, dict):
        raise ValueError(f"{where} must be an object")
    name = item.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_CHARS:
        raise ValueError(f"{where}.name must be a string of 1 to {MAX_NAME_CHARS} characters")
    if item.get("kind") == "numeric":
        scale = _real(item, "scale", where)
        if scale <= 0:
            raise ValueError(f"{where}.scale must be > 0, got {scale}")
        median, center = _real(item, "median", where), _real(item, "center", where)
        indicator = _flag(item, "indicator", where)
        rows = _count(item, "missing_rows", where, 1 << 62)
        dates = _flag(item, "dates", where) if "dates" in item else False
        return NumericFeature(name, median, center, scale, indicator, scaling, rows, dates)
    if item.get("kind") != "categorical":
        raise ValueError(f"{where}.kind is {item.get('kind')!r:.40}; expected 'numeric' or 'categorical'")
    categories = item.get("categories")
    if not isinstance(categories, list) or not 1 <= len(categories) <= MAX_STORED_CATEGORIES:
        raise ValueError(f"{where}.categories must list 1 to {MAX_STORED_CATEGORIES} strings")
    if not all(isinstance(text, str) for text in categories) or len(set(categories)) != len(categories):
        raise ValueError(f"{where}.categories must be distinct strings")
    encoding = item.get("encoding")
    if encoding not in ("onehot", "embedding"):
        raise ValueError(f"{where}.encoding is {encoding!r:.40}; expected 'onehot' or 'embedding'")
    dim = _count(item, "dim", where, MAX_STORED_DIM)
    if (encoding == "embedding") != (dim > 0):
        raise ValueError(f"{where}.dim must be >= 1 for an embedding and 0 for one-hot, got {dim}")
    return CategoricalFeature(name, tuple(sorted(categories)), _flag(item, "missing", where), encoding, dim)
