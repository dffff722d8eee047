"""Arrow data as raw columns: pyarrow arrays, tables and record batches -> :class:`~mlpkit.columns.Column`.

Numbers (integers, floats, decimals) become float64 numeric columns with NaN for nulls;
strings, booleans, dictionary-encoded values and dates or times (as their ISO text) become
categorical columns. A :class:`ColumnBuilder` copies the pieces of one column that arrive
batch by batch (each with its own dictionary) into one array, so a file is read a batch at a
time and held once, compactly (float64 numbers, int32 category codes).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.types as pat

from mlpkit.columns import MISSING_CODE, Column, ColumnTable, categorical_column, cell_text, numbers_from_text


def is_number_type(kind: pa.DataType) -> bool:
    return pat.is_integer(kind) or pat.is_floating(kind) or pat.is_decimal(kind)


def is_text_type(kind: pa.DataType) -> bool:
    return pat.is_string(kind) or pat.is_large_string(kind) or pat.is_string_view(kind)


def is_temporal_type(kind: pa.DataType) -> bool:
    return pat.is_temporal(kind)


def arrow_column(name: str, array: pa.Array, where: str = "") -> Column:
    """One Arrow array (not chunked) as a column; ``where`` (a file) prefixes error messages."""
    kind = array.type
    if is_number_type(kind):
        values = pc.cast(array, pa.float64()).fill_null(np.nan)
        return Column(name, values.to_numpy(zero_copy_only=False).astype(np.float64, copy=False))
    if pat.is_null(kind):
        return Column(name, np.full(len(array), np.nan))
    if pat.is_dictionary(kind):
        texts = [cell_text(value) for value in array.dictionary.to_pylist()]
        codes = array.indices.fill_null(MISSING_CODE).to_numpy(zero_copy_only=False)
        return categorical_column(name, codes, texts)
    if is_temporal_type(kind):
        array = array.cast(pa.string())
    elif pat.is_binary(kind) or pat.is_large_binary(kind):
        raise ValueError(f"{where}column {name!r} is not UTF-8 text")
    elif not (is_text_type(kind) or pat.is_boolean(kind)):
        raise ValueError(f"{where}column {name!r} has type {kind}; expected numbers, text or booleans")
    encoded = pc.dictionary_encode(array)
    texts = [cell_text(value) for value in encoded.dictionary.to_pylist()]
    codes = encoded.indices.fill_null(MISSING_CODE).to_numpy(zero_copy_only=False)
    return categorical_column(name, codes, texts)


class ColumnBuilder:
    """The pieces of one column, batch after batch, copied into one array: :meth:`finish` gives the column.

    With ``capacity`` (an upper bound of the rows, e.g. counted before reading) the array is
    allocated once and filled in place; its untouched tail costs no memory. Without, it grows
    by doubling.
    """

    def __init__(self, name: str, capacity: int | None = None) -> None:
        self.name = name
        self.capacity = capacity or 1024
        self.values: np.ndarray | None = None
        self.rows = 0
        self.index: dict[str, int] | None = None  # category text -> code, for a categorical column

    def add(self, piece: Column) -> None:
        """Append the rows of ``piece`` (a categorical piece's codes are mapped to the joint categories)."""
        if self.values is None:
            self.index = None if piece.is_numeric else {}
            self.values = np.empty(self.capacity, dtype=np.float64 if piece.is_numeric else np.int32)
        if (self.index is None) != piece.is_numeric:
            raise ValueError(f"column {self.name!r} holds numbers in some rows and text in others")
        if self.rows + len(piece) > len(self.values):
            grown = np.empty(max(2 * len(self.values), self.rows + len(piece)), dtype=self.values.dtype)
            grown[: self.rows] = self.values[: self.rows]
            self.values = grown
        target = self.values[self.rows : self.rows + len(piece)]
        if piece.is_numeric:
            target[...] = piece.values
        else:
            remap = [self.index.setdefault(text, len(self.index)) for text in piece.categories]
            target[...] = np.array([*remap, MISSING_CODE], dtype=np.int32)[piece.values]
        self.rows += len(piece)

    def finish(self) -> Column:
        """The whole column (its first ``rows`` entries; nothing is copied)."""
        if self.values is None:
            return Column(self.name, np.empty(0))
        values, self.values = self.values[: self.rows], None
        return Column(self.name, values, None if self.index is None else tuple(self.index))


def arrow_table(table: pa.Table | pa.RecordBatch, source: str | None = None) -> ColumnTable:
    """A pyarrow Table (its chunks joined column by column) or RecordBatch as a :class:`ColumnTable`."""
    columns = []
    for name, data in zip(table.column_names, table.columns, strict=True):
        builder = ColumnBuilder(str(name), len(data))
        chunks = data.chunks if isinstance(data, pa.ChunkedArray) else [data]
        if not chunks:
            chunks = [pa.array([], type=data.type)]
        for chunk in chunks:
            builder.add(arrow_column(str(name), chunk))
        columns.append(numbers_from_text(builder.finish()))
    return ColumnTable(columns, source)
