"""Any table as raw columns: a pandas DataFrame, a pyarrow Table or RecordBatch, a dict of columns or a 2-D
array -> :class:`~mlpkit.columns.ColumnTable`, the form :mod:`mlpkit.features` reads.

pandas objects are read through their own methods (pandas is never imported here); pyarrow
(:mod:`mlpkit.arrow_columns`) is imported only when an Arrow object is handed in. Numbers
become numeric columns; text, booleans, pandas' ``category`` dtype and dates (as their text)
categorical ones.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mlpkit.columns import (
    Column,
    ColumnTable,
    categorical_column,
    cell_text,
    numbers_from_text,
    numeric_column,
    object_column,
)


def array_column(name: str, values) -> Column:
    """A column from a 1-D array-like: numbers -> numeric; text, booleans, objects -> categorical."""
    if _is_series(values):
        return series_column(name, values)
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"column {name!r} must be 1-D (one value per row), got shape {values.shape}")
    kind = values.dtype.kind
    if kind in "iuf":
        return numeric_column(name, values)
    if kind == "b":
        return categorical_column(name, values.astype(np.int32), ["False", "True"])
    if kind in "USOMm":
        return numbers_from_text(object_column(name, values.astype(object)))
    raise ValueError(f"column {name!r} has dtype {values.dtype}; expected numbers, text or booleans")


# ---------------------------------------------------------------------- pandas, without importing it
def _is_series(values: object) -> bool:
    return all(hasattr(values, attribute) for attribute in ("dtype", "to_numpy", "isna", "factorize"))


def _is_frame(table: object) -> bool:
    return all(hasattr(table, attribute) for attribute in ("columns", "dtypes", "iloc"))


def series_column(name: str, series) -> Column:
    """A pandas Series as a column: numeric and nullable numeric dtypes -> numeric; ``category``,
    ``object``, ``string``, ``bool``/``boolean`` and dates -> categorical."""
    dtype = series.dtype
    kind = getattr(dtype, "kind", "O")
    if str(dtype) == "category":
        texts = [cell_text(value) for value in series.cat.categories]
        return categorical_column(name, series.cat.codes.to_numpy(), texts)
    if kind in "iuf":
        return numeric_column(name, series.to_numpy(dtype=np.float64, na_value=np.nan))
    if kind in "bOSUMm":
        codes, uniques = series.factorize(use_na_sentinel=True)
        return numbers_from_text(categorical_column(name, codes, [cell_text(value) for value in uniques]))
    raise ValueError(f"column {name!r} has dtype {dtype}; expected numbers, text, categories or booleans")


def is_table(data: object) -> bool:
    """True for the tables :func:`as_table` reads by column name (not for plain arrays of rows)."""
    return (
        isinstance(data, (ColumnTable, Mapping))
        or _is_frame(data)
        or type(data).__module__.split(".")[0] == "pyarrow"
    )


def as_table(table, source: str | None = None) -> ColumnTable:
    """A :class:`ColumnTable` from a ColumnTable, a pandas DataFrame, a pyarrow Table or RecordBatch,
    a dict of 1-D columns, or a 2-D array (columns ``x0``, ``x1``, ...)."""
    if isinstance(table, ColumnTable):
        return table
    if isinstance(table, Mapping):
        return ColumnTable((array_column(str(name), values) for name, values in table.items()), source)
    if _is_frame(table):
        return ColumnTable((series_column(str(name), table[name]) for name in table.columns), source)
    if type(table).__module__.split(".")[0] == "pyarrow":
        from mlpkit.arrow_columns import arrow_table

        return arrow_table(table, source)
    if isinstance(table, (np.ndarray, list, tuple)):
        rows = np.asarray(table)
        if rows.ndim != 2:
            raise ValueError(f"rows must be 2-D with shape (m, n_columns), got shape {rows.shape}")
        return ColumnTable((array_column(f"x{j}", rows[:, j]) for j in range(rows.shape[1])), source)
    raise ValueError(
        "a table must be a pandas DataFrame, a pyarrow Table, a dict of columns or a 2-D array, "
        f"got {type(table).__name__}"
    )
