"""The column schema: raw table columns -> the network's input ``A0``, fitted on the training rows.

Numeric columns are imputed with the training median, get a 0/1 missing-indicator column
when the training rows had gaps, and are scaled: ``"robust"`` (the default, chosen by
``benchmarks/bench_scaling.py``, see docs/tables.md) is ``z = (x - median) / IQR`` then the
smooth compression ``3 asinh(z / 3)`` (close to ``z`` within 3 IQRs of the median, logarithmic
beyond); ``"standard"`` is ``(x - mean) / std``. Categorical
columns get a vocabulary from the training rows: index 0 is a missing value, 1 a category
the training rows did not have, 2.. the categories in sorted order (``n_c`` indices in all).
Each is encoded ``"onehot"`` (0/1 columns of the dense block: one per category, plus one
for a missing value when the training rows had one; an unseen category is all zeros) or
``"embedding"`` (its index kept apart, for a learned ``E_c`` of shape ``(d_c, n_c)``).
numpy and the standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from mlpkit.columns import (
    MISSING_CODE,
    Column,
    ColumnTable,
    as_categorical,
    date_days,
    dates_as_days,
    did_you_mean,
    text_number,
)
from mlpkit.feature_columns import (
    MAX_CATEGORIES,
    SCALINGS,
    CategoricalFeature,
    NumericFeature,
    feature_from_dict,
)
from mlpkit.tables import as_table

ENCODINGS = ("auto", "onehot", "embedding")
DEFAULT_SCALING = "robust"
ONEHOT_MAX_VOCABULARY = 10  # n_c up to this (8 categories + missing + unseen): one-hot
MAX_EMBEDDING_DIM = 16
SCHEMA_FORMAT = "mlpkit-features"
SCHEMA_VERSION = 1
MAX_SCHEMA_COLUMNS = 1 << 16
MAX_LISTED = 12
SEEN_ONCE_MIN = 20  # distinct values of a categorical column before it may be called seen-once


def embedding_dim(n_c: int) -> int:
    """``d_c = min(16, ceil(1.6 * n_c ** 0.56))`` (fastai's rule of thumb, capped at 16)."""
    return min(MAX_EMBEDDING_DIM, math.ceil(1.6 * n_c**0.56))


def choose_encoding(n_c: int) -> str:
    """``"onehot"`` for a vocabulary of ``n_c <= 10`` indices, else ``"embedding"``."""
    return "onehot" if n_c <= ONEHOT_MAX_VOCABULARY else "embedding"


@dataclass
class TableFeatures:
    """A transformed table: ``dense`` ``(m, n_dense)`` (scaled numbers, indicators, one-hot blocks) and
    ``codes`` ``(m, n_embedded)`` int64 (one column of vocabulary indices per embedded column)."""

    dense: np.ndarray
    codes: np.ndarray


def _listing(names: Sequence[str]) -> str:
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return f"{list(names[:MAX_LISTED])}{more}"


class FeatureSchema:
    """What each training column is and how it becomes input: built by :meth:`fit`, applied by
    :meth:`transform`, stored in model files by :meth:`to_dict` / :meth:`from_dict`."""

    def __init__(
        self,
        features: Sequence[NumericFeature | CategoricalFeature],
        dropped: Sequence[str] = (),
        scaling: str = DEFAULT_SCALING,
        ignored: Sequence[str] = (),
    ) -> None:
        self.features = list(features)
        self.dropped = list(dropped)
        self.scaling = scaling
        self.ignored = list(ignored)  # columns left out by request; a table may still carry them
        # (column, distinct values, rows with a value) of each categorical column whose values are
        # mostly seen once in the training rows: filled by fit, for the caller to warn about
        self.seen_once: list[tuple[str, int, int]] = []
        names = [feature.name for feature in self.features] + self.dropped + self.ignored
        if len(set(names)) != len(names):
            raise ValueError(f"a column appears twice in the schema: {names}")

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls,
        table,
        categorical: Iterable[str] | None = None,
        *,
        encoding: str | Mapping[str, str] = "auto",
        scaling: str = DEFAULT_SCALING,
        max_categories: int = MAX_CATEGORIES,
        ignore: Iterable[str] = (),
    ) -> FeatureSchema:
        """The schema of the training ``table`` (a DataFrame, pyarrow Table, dict of columns, 2-D array).

        ``categorical`` names columns to treat as categories even if they hold numbers (text,
        booleans and pandas ``category`` columns are categorical anyway). ``encoding``: ``"auto"``
        (:func:`choose_encoding` from ``n_c``), ``"onehot"`` or ``"embedding"`` for every
        categorical column, or a dict of column -> encoding (others ``"auto"``). A categorical
        column with more than ``max_categories`` distinct values, and a column with no value at
        all, are handled as docs/tables.md says: the first is refused, the second dropped.
        ``ignore`` names columns to leave out (an identifier, free text); tables passed to
        :meth:`transform` may still carry them.
        """
        table = as_table(table)
        if scaling not in SCALINGS:
            raise ValueError(f"Unknown scaling {scaling!r}; expected one of {list(SCALINGS)}")
        named = _named_columns(table, categorical, "categorical")
        ignored = _named_columns(table, ignore, "ignore")
        if named & ignored:
            both = sorted(named & ignored)
            raise ValueError(f"column(s) {both} are named both as categories and as columns to leave out")
        encodings = _encodings(encoding, table, named)
        if table.n_rows < 1:
            raise ValueError("cannot fit a feature schema on 0 rows")
        features, dropped, seen_once = [], [], []
        for column in table.columns.values():
            if column.name in ignored:
                continue
            named_categorical = column.name in named
            feature = _fit_column(column, named_categorical, encodings, scaling, max_categories, table.where)
            if feature is None:
                dropped.append(column.name)
            else:
                features.append(feature)
                seen_once += _seen_once(feature, column)
        if not features:
            if not dropped:
                raise ValueError("every column is left out (ignore); there is nothing to learn from")
            raise ValueError(f"no column has any value in the training rows (columns {_listing(dropped)})")
        schema = cls(features, dropped, scaling, [name for name in table.names if name in ignored])
        schema.seen_once = seen_once
        return schema

    # ------------------------------------------------------------------ what it makes
    @property
    def columns(self) -> list[str]:
        """The input columns the schema uses, in training order (dropped columns left out)."""
        return [feature.name for feature in self.features]

    @property
    def dense_width(self) -> int:
        """``n_dense``: scaled numbers, indicators and one-hot blocks."""
        return sum(feature.width for feature in self.features)

    @property
    def embedded(self) -> list[tuple[str, int, int]]:
        """``(column name, n_c, d_c)`` of each embedded categorical column, in the order of ``codes``."""
        return [
            (feature.name, feature.n_c, feature.dim)
            for feature in self.features
            if isinstance(feature, CategoricalFeature) and feature.encoding == "embedding"
        ]

    @property
    def dense_names(self) -> list[str]:
        """A name for each dense column: ``age``, ``age_missing``, ``city=Paris``, ``city=<missing>``."""
        return [name for feature in self.features for name in feature.dense_names()]

    def kinds(self) -> dict[str, str]:
        """Column -> ``"numeric"`` or ``"categorical"`` (how a reader should read each column)."""
        return {feature.name: feature.kind for feature in self.features}

    # ------------------------------------------------------------------ applying it
    def transform(self, table, dtype=np.float64) -> TableFeatures:
        """``dense`` ``(m, dense_width)`` in ``dtype`` and ``codes`` ``(m, n_embedded)`` of ``table``.

        Columns are matched by name (any order); a missing training column, or a column the
        schema does not know, raises ValueError naming them.
        """
        table = as_table(table)
        self._check_names(table)
        dense = np.zeros((table.n_rows, self.dense_width), dtype=dtype)
        codes = np.zeros((table.n_rows, len(self.embedded)), dtype=np.int64)
        start, embedded = 0, 0
        for feature in self.features:
            column = table.column(feature.name)
            if isinstance(feature, NumericFeature):
                values = numeric_values(feature, column, table)
                feature.fill(values, dense[:, start : start + feature.width], table.where)
            else:
                indices = feature.indices(as_categorical(column))
                if feature.encoding == "embedding":
                    codes[:, embedded] = indices
                    embedded += 1
                else:
                    feature.fill_onehot(indices, dense[:, start : start + feature.width])
            start += feature.width
        return TableFeatures(dense, codes)

    def _check_names(self, table: ColumnTable) -> None:
        names = set(table.names)
        missing = [name for name in self.columns if name not in names]
        known = set(self.columns) | set(self.dropped) | set(self.ignored)
        unknown = [name for name in table.names if name not in known]
        problems = []
        if missing:
            problems.append(f"lacks the training column(s) {_listing(missing)}")
        if unknown:
            problems.append(f"has column(s) {_listing(unknown)} that the model was not trained on")
        if problems:
            where = f"{table.source}: the table" if table.source else "the table"
            expected = _listing(self.columns)
            raise ValueError(f"{where} {' and '.join(problems)}; expected the columns {expected}")

    # ------------------------------------------------------------------ describing and storing
    def describe(self) -> list[str]:
        """A few lines for people: a summary, then one line per column (the first 12)."""
        numeric = [f for f in self.features if isinstance(f, NumericFeature)]
        categorical = [f for f in self.features if isinstance(f, CategoricalFeature)]
        indicators = sum(feature.indicator for feature in numeric)
        summary = (
            f"{len(self.features)} columns -> {self.dense_width} inputs"
            f"{f' + {len(self.embedded)} embedded' if self.embedded else ''}: "
            f"{len(numeric)} numeric ({self.scaling} scaling, {indicators} with a missing indicator), "
            f"{len(categorical)} categorical"
        )
        lines = [summary, *(feature.describe() for feature in self.features[:MAX_LISTED])]
        if len(self.features) > MAX_LISTED:
            lines.append(f"... and {len(self.features) - MAX_LISTED} more columns")
        lines += [f"{name}: dropped, no value in the training rows" for name in self.dropped]
        lines += [f"{name}: left out (ignore)" for name in self.ignored]
        return lines

    def to_dict(self) -> dict:
        """The JSON-ready schema (stored in model files)."""
        return {
            "format": SCHEMA_FORMAT,
            "version": SCHEMA_VERSION,
            "scaling": self.scaling,
            "columns": [feature.to_dict() for feature in self.features],
            "dropped": list(self.dropped),
            "ignored": list(self.ignored),
        }

    @classmethod
    def from_dict(cls, data: object) -> FeatureSchema:
        """The schema :meth:`to_dict` wrote; anything else raises ValueError naming the entry."""
        if not isinstance(data, dict) or data.get("format") != SCHEMA_FORMAT:
            raise ValueError(f"features must be an object with format {SCHEMA_FORMAT!r}")
        if data.get("version") != SCHEMA_VERSION:
            raise ValueError(f"features.version is {data.get('version')!r:.40}; this mlpkit reads 1")
        scaling, columns, dropped = data.get("scaling"), data.get("columns"), data.get("dropped", [])
        ignored = data.get("ignored", [])
        if scaling not in SCALINGS:
            raise ValueError(f"features.scaling is {scaling!r:.40}; expected one of {list(SCALINGS)}")
        if not isinstance(columns, list) or not 1 <= len(columns) <= MAX_SCHEMA_COLUMNS:
            raise ValueError(f"features.columns must list 1 to {MAX_SCHEMA_COLUMNS} columns")
        for key, names in (("dropped", dropped), ("ignored", ignored)):
            if not isinstance(names, list) or len(names) > MAX_SCHEMA_COLUMNS:
                raise ValueError(f"features.{key} must be a list of column names")
            if not all(isinstance(name, str) for name in names):
                raise ValueError(f"features.{key} must be a list of column names")
        features = [
            feature_from_dict(item, f"features.columns[{i}]", scaling) for i, item in enumerate(columns)
        ]
        return cls(features, dropped, scaling, ignored)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureSchema) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        sizes = f"{self.dense_width} dense, {len(self.embedded)} embedded"
        return f"FeatureSchema({len(self.features)} columns -> {sizes})"


# ---------------------------------------------------------------------- fitting, per column
def _named_columns(table: ColumnTable, names: Iterable[str] | None, option: str) -> set[str]:
    """The columns an option (``categorical``, ``ignore``) names: a list of the table's column names."""
    if names is None:
        return set()
    if isinstance(names, str):
        raise ValueError(f"{option} must be a list of column names, got the string {names!r}")
    named = [str(name) for name in names]
    unknown = [name for name in named if name not in table.columns]
    if unknown:
        hint = did_you_mean(unknown[0], table.names)
        raise ValueError(f"{option} names column(s) {unknown} not in the table {_listing(table.names)}{hint}")
    return set(named)


def _encodings(encoding: str | Mapping[str, str], table: ColumnTable, named: set[str]) -> dict[str, str]:
    """Column -> ``"auto"``, ``"onehot"`` or ``"embedding"``, checked."""
    chosen = dict(encoding) if isinstance(encoding, Mapping) else dict.fromkeys(table.names, encoding)
    for name, value in chosen.items():
        if value not in ENCODINGS:
            raise ValueError(
                f"Unknown encoding {value!r} for column {name!r}; expected one of {list(ENCODINGS)}"
            )
    if isinstance(encoding, Mapping):
        unknown = [name for name in chosen if name not in table.columns]
        numeric = [name for name in chosen if name in table.columns and name not in named]
        numeric = [name for name in numeric if table.column(name).is_numeric]
        if unknown or numeric:
            raise ValueError(
                f"encoding names column(s) {unknown + numeric} that are not categorical columns of the table"
            )
    return chosen


def _fit_column(
    column: Column, named: bool, encodings: dict[str, str], scaling: str, max_categories: int, where
) -> NumericFeature | CategoricalFeature | None:
    if column.is_numeric and not named:
        return NumericFeature.fit(column, scaling, where)
    days = None if named else dates_as_days(column)
    if days is not None:  # ISO dates: their days, in order, so that a later date is not unseen
        feature = NumericFeature.fit(days, scaling, where)
        return replace(feature, dates=True) if feature is not None else None
    encoding = encodings.get(column.name, "auto")
    feature = CategoricalFeature.fit(as_categorical(column), max_categories)
    if feature is None:
        return None
    if encoding == "auto":
        encoding = choose_encoding(feature.n_c)
    return feature.encoded(encoding, embedding_dim(feature.n_c))


def _seen_once(feature: NumericFeature | CategoricalFeature, column: Column) -> list[tuple[str, int, int]]:
    """``[(name, distinct values, rows with a value)]`` when a categorical column has at least
    SEEN_ONCE_MIN distinct values and more than half as many as rows: most categories are then seen
    once or twice, too seldom to learn what carries to new rows."""
    if not isinstance(feature, CategoricalFeature):
        return []
    rows = int(np.count_nonzero(column.values != MISSING_CODE))
    values = len(feature.categories)
    return [(feature.name, values, rows)] if values >= SEEN_ONCE_MIN and 2 * values > rows else []


def seen_once_note(name: str, values: int, rows: int) -> str:
    """Why a column of :attr:`FeatureSchema.seen_once` is worth a warning (the caller adds what to do)."""
    return (
        f"column {name!r} has {values} distinct values in {rows} training rows: a category seen about "
        "once teaches little that carries to new rows (an identifier, a date, free text?)"
    )


def numeric_values(feature: NumericFeature, column: Column, table: ColumnTable) -> np.ndarray:
    """The raw values ``(m,)`` of a numeric feature's column: numbers as they are; text read as an ISO
    date's days (a date feature) or as a number, plain or written with signs (``"$1,234.50"``, read
    so at training too); a cell that is neither is refused, naming its row."""
    if column.is_numeric:
        return column.values
    read, what, trained = (
        (date_days, "a date (YYYY-MM-DD, with a time or not)", "dates")
        if feature.dates
        else (text_number, "a number", "numbers")
    )
    values = []
    for code, text in enumerate(column.categories):
        value = read(text)
        if value is None:
            row = int(np.flatnonzero(column.values == code)[0])
            raise ValueError(
                f"{table.where(row)}, column {column.name!r}: {text[:40]!r} is not {what}, "
                f"and the model was trained on {trained} in this column"
            )
        values.append(value)
    return np.array([*values, np.nan])[column.values]
