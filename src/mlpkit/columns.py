"""Raw table columns: numbers (NaN for a missing value) or category codes (-1 for a missing value).

A :class:`ColumnTable` is what :mod:`mlpkit.features` fits and transforms: named columns of
equal length, rows as samples (:func:`mlpkit.tables.as_table` makes one from any table).
Numbers are numeric columns; text, booleans and dates are categorical ones, stored compactly
as integer codes into the column's distinct texts (a feature schema reads a column of ISO dates
as numbers of days: :func:`dates_as_days`). numpy and the standard library only.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

MISSING_CODE = -1


def did_you_mean(name: str, names: Iterable[str]) -> str:
    """``"; did you mean 'Age'?"`` when one of ``names`` is ``name`` but for case and surrounding
    blanks (or, failing that, a close spelling); else ``""``. For messages about a column not found."""
    names = list(names)
    folded = name.strip().casefold()
    same = [other for other in names if other.strip().casefold() == folded]
    close = same or difflib.get_close_matches(name, names, n=1, cutoff=0.8)
    return f"; did you mean {close[0]!r}?" if close else ""


def number_text(value: float) -> str:
    """The category text of a number: ``"3"`` for 3.0, ``"2.5"`` for 2.5 (so 3 and 3.0 are one category)."""
    value = float(value)
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def cell_text(value: object) -> str:
    """The category text of one cell: strings as they are, booleans ``"True"``/``"False"``, numbers
    through :func:`number_text`, anything else ``str(value)``."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        return number_text(value)
    return str(value)


def is_missing_cell(value: object) -> bool:
    """None, a float NaN, or pandas' ``NA``/``NaT`` (recognized without importing pandas)."""
    if value is None:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


@dataclass(frozen=True)
class Column:
    """One raw column of ``m`` rows.

    Numeric: ``values`` is float64 ``(m,)`` with NaN for a missing value and ``categories`` is
    None. Categorical: ``values`` holds int32 codes ``(m,)`` into ``categories`` (distinct
    texts), -1 for a missing value.
    """

    name: str
    values: np.ndarray
    categories: tuple[str, ...] | None = None

    @property
    def is_numeric(self) -> bool:
        return self.categories is None

    def __len__(self) -> int:
        return len(self.values)

    def missing(self) -> np.ndarray:
        """Boolean mask ``(m,)`` of the missing cells."""
        return np.isnan(self.values) if self.is_numeric else self.values == MISSING_CODE

    def take(self, rows) -> Column:
        """The rows ``rows`` (indices, slice or mask) of this column."""
        return Column(self.name, self.values[rows], self.categories)


def categorical_column(name: str, codes: np.ndarray, texts: Sequence[str]) -> Column:
    """A categorical column from codes into ``texts`` (-1 missing); repeated texts are merged into one."""
    index: dict[str, int] = {}
    remap = np.array([index.setdefault(text, len(index)) for text in texts] + [MISSING_CODE], np.int32)
    return Column(name, remap[np.asarray(codes, dtype=np.int64)], tuple(index))


PLACEHOLDER_MARKS = frozenset("?-.*/_")  # '?' (the UCI archive's missing value), '-', '--', '.', '*'


def _placeholder(text: str) -> bool:
    """A cell that marks a missing number: up to three marks ('?', '-', '--', '.'), or blanks."""
    stripped = text.strip()
    return len(stripped) <= 3 and all(mark in PLACEHOLDER_MARKS for mark in stripped)


# a number as a spreadsheet writes it: a sign, a currency symbol, thousands grouped by commas (the
# groups of exactly three digits: "1,5" stays text, as a decimal comma may mean), a percent sign
_WRITTEN_NUMBER = re.compile(r"\s*([+-]?)\s*[$€£¥]?\s*([+-]?)(\d{1,3}(?:,\d{3})+|\d*)(\.\d*)?\s*%?\s*")


def written_number(text: str) -> float | None:
    """The number a cell such as ``"$1,234.50"``, ``"-€5"`` or ``"57.5%"`` writes (1234.5, -5.0, 57.5:
    a percentage as written), or None when it writes none."""
    match = _WRITTEN_NUMBER.fullmatch(text)
    if match is None or (match[1] and match[2]):
        return None
    digits = match[3].replace(",", "") + (match[4] or "")
    if not any(character.isdigit() for character in digits):
        return None
    value = float(digits)
    return -value if "-" in match[1] + match[2] else value


def text_number(text: str) -> float | None:
    """The number a text cell holds, plain (``"2.5"``) or written with signs (:func:`written_number`),
    or None for a word."""
    try:
        return float(text)
    except ValueError:
        return written_number(text)


def numbers_from_text(column: Column) -> Column:
    """A text column of numbers written with marks as the numeric column it stands for: missing
    numbers marked (``"?"``, ``"-"``) become missing, numbers written with a currency symbol,
    thousands separators or a percent sign become those numbers. Any other column as it is (a word
    among the numbers keeps it text). As categories, such a column would lose the numbers' order."""
    texts = column.categories
    if texts is None:
        return column
    numbers = np.full(len(texts) + 1, np.nan)  # the last entry serves the missing code -1
    marked = False  # plain numbers alone stay text: the table, or the user, chose text for them
    for index, text in enumerate(texts):
        if _placeholder(text):
            marked = True
            continue
        try:
            numbers[index] = float(text)
            continue
        except ValueError:
            value = written_number(text)
        if value is None:  # a word: the column is text
            return column
        numbers[index], marked = value, True
    return Column(column.name, numbers[column.values]) if marked else column


# an ISO date, with a time of day or not, and with its offset from UTC or not: 2024-01-31,
# 2024-01-31 12:30, 2024-01-31T12:30:00.5, 2024-01-31 12:30:00+01:00, 2024-01-31T11:30Z
_ISO_DATE = re.compile(
    r"(\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?)(Z|([+-])(\d{2}):?(\d{2}))?"
)
MILLISECONDS_PER_DAY = 86_400_000
MINUTES_PER_DAY = 1440


def date_days(text: str) -> float | None:
    """Days since 1970-01-01 (UTC, when the date gives its offset) of an ISO date such as
    ``2024-01-31`` or ``2024-01-31 12:30:00+01:00`` (the time of day as a fraction, to the
    millisecond), or None for any other text."""
    match = _ISO_DATE.fullmatch(text.strip())
    if match is None:
        return None
    try:
        days = int(np.datetime64(match[1], "ms").astype(np.int64)) / MILLISECONDS_PER_DAY
    except ValueError:  # 2024-13-01
        return None
    if match[3]:  # local time = UTC + offset
        offset = (int(match[4]) * 60 + int(match[5])) / MINUTES_PER_DAY
        days -= offset if match[3] == "+" else -offset
    return days


def dates_as_days(column: Column) -> Column | None:
    """A text column whose every value is an ISO date, as the numeric column of its days since
    1970-01-01 (missing values stay missing); None for any other column. As categories, dates would
    lose their order, and a date after the training rows would be unseen."""
    texts = column.categories
    if not texts:
        return None
    days = np.full(len(texts) + 1, np.nan)  # the last entry serves the missing code -1
    for index, text in enumerate(texts):
        value = date_days(text)
        if value is None:
            return None
        days[index] = value
    return Column(column.name, days[column.values])


def day_text(days: float) -> str:
    """The ISO date (and time to the second, when not midnight) of a number of days since 1970-01-01."""
    instant = str(np.datetime64(round(days * MILLISECONDS_PER_DAY / 1000), "s"))
    return instant.removesuffix("T00:00:00").replace("T", " ")


def numeric_column(name: str, values) -> Column:
    """A numeric column: ``values`` as float64 (NaN stays the missing value)."""
    return Column(name, np.asarray(values, dtype=np.float64).reshape(-1))


def as_categorical(column: Column) -> Column:
    """The column as categories: a numeric one's values become their :func:`number_text`."""
    if not column.is_numeric:
        return column
    present = ~np.isnan(column.values)
    uniques, inverse = np.unique(column.values[present], return_inverse=True)
    codes = np.full(len(column), MISSING_CODE, dtype=np.int32)
    codes[present] = inverse
    return categorical_column(column.name, codes, [number_text(value) for value in uniques])


def object_column(name: str, values: np.ndarray) -> Column:
    """A categorical column from an object array of cells (None, NaN or pandas' NA are missing)."""
    missing = np.fromiter((is_missing_cell(value) for value in values), dtype=bool, count=len(values))
    texts = np.array([cell_text(value) for value in values[~missing]], dtype=object)
    uniques, inverse = np.unique(texts, return_inverse=True) if len(texts) else (texts, texts)
    codes = np.full(len(values), MISSING_CODE, dtype=np.int32)
    codes[~missing] = inverse
    return categorical_column(name, codes, list(uniques))


# ---------------------------------------------------------------------- the table
class ColumnTable:
    """Named raw columns of equal length, rows as samples; ``source`` (a file) names rows in messages."""

    def __init__(self, columns: Iterable[Column], source: str | None = None) -> None:
        self.columns: dict[str, Column] = {}
        for column in columns:
            if column.name in self.columns:
                raise ValueError(f"column name {column.name!r} appears twice")
            self.columns[column.name] = column
        lengths = {len(column) for column in self.columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns differ in length: {sorted(lengths)}")
        self.n_rows = lengths.pop() if lengths else 0
        self.source = source

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)``, as for an array of rows."""
        return self.n_rows, len(self.columns)

    def __len__(self) -> int:
        return self.n_rows

    def __getitem__(self, rows) -> ColumnTable:
        """The rows ``rows`` (indices, slice or mask) of every column."""
        return ColumnTable(column.take(rows) for column in self.columns.values())

    def column(self, name: str) -> Column:
        return self.columns[name]

    def select(self, names: Sequence[str]) -> ColumnTable:
        """The columns ``names``, in that order."""
        return ColumnTable((self.columns[name] for name in names), self.source)

    def split(self, *row_sets) -> list[ColumnTable]:
        """The tables of rows ``row_sets`` (index arrays), built column by column; this table is emptied
        as they are, so that its columns are never held twice."""
        parts: list[list[Column]] = [[] for _ in row_sets]
        for name in list(self.columns):
            column = self.columns.pop(name)
            for part, rows in zip(parts, row_sets, strict=True):
                part.append(column.take(rows))
            del column
        self.n_rows = 0
        return [ColumnTable(part) for part in parts]

    def where(self, row: int) -> str:
        """Words for row ``row`` (0-based): a file's data rows count from 1, an in-memory table's from 0."""
        return f"{self.source}, row {row + 1}" if self.source else f"row {row}"

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """``numpy.asarray(table)``: :meth:`numeric_rows` (a clear error for text or missing values)."""
        return self.numeric_rows(dtype or np.float64)

    def numeric_rows(self, dtype=np.float64) -> np.ndarray:
        """All columns as numbers ``(m, n)``, for a model without a column schema: a categorical
        column or a missing value raises ValueError naming the column and the row."""
        out = np.empty(self.shape, dtype=dtype)
        for j, column in enumerate(self.columns.values()):
            where = f"{self.source}, column {column.name!r}" if self.source else f"column {column.name!r}"
            if not column.is_numeric:
                raise ValueError(
                    f"{where} holds text ({column.categories[0][:40]!r}, ...); this model takes numbers only"
                )
            missing = np.flatnonzero(np.isnan(column.values) | np.isinf(column.values))
            if len(missing):
                value = column.values[missing[0]]
                what = "missing value" if np.isnan(value) else f"{value} is not a finite number"
                raise ValueError(f"{self.where(int(missing[0]))}, column {column.name!r}: {what}")
            out[:, j] = column.values
        return out

    def __repr__(self) -> str:
        more = " ..." if len(self.columns) > 8 else ""
        return f"ColumnTable({self.n_rows} rows, columns {self.names[:8]}{more})"
