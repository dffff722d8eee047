"""Table files: CSV (``pyarrow.csv``) and Parquet (``pyarrow.parquet``), read in batches into raw columns.

CSV: a header line, then rows; quoted cells may hold commas and line breaks; types are
inferred (numbers, text, ``true``/``false``); a cell that is empty, ``NA``, ``N/A``, ``NaN``,
``nan``, ``None``, ``null`` or ``NULL`` is a missing value. A CSV is parsed in chunks cut
between records (pyarrow's streaming reader reads far ahead of its consumer), a Parquet file
in batches; each is copied at once into compact columns allocated once for the whole file
(float64 numbers, int32 category codes) and the Arrow data is released, so the file is held
once, never as Arrow data and numpy arrays together. Errors name the file, the row (data
rows count from 1) and the column.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from mlpkit.columns import ColumnTable, did_you_mean, numbers_from_text

TABLE_TYPES = (".csv", ".parquet")
NULL_CELLS = ("", "NA", "N/A", "NaN", "nan", "None", "null", "NULL")
CSV_BLOCK_BYTES = 8 << 20  # CSV is parsed this many bytes at a time; types come from the first chunk
PARQUET_BATCH_ROWS = 1 << 16
MAX_RETYPES_PER_COLUMN = 2  # int -> float -> text
MAX_LISTED_COLUMNS = 12
MAX_MAGNITUDE = float(np.finfo(np.float32).max)
CONVERSION_ERROR = re.compile(
    r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (\w+): invalid value '(.*)'", re.DOTALL
)
SHORT_ROW = re.compile(r"Row #(\d+): Expected (\d+) columns, got (\d+)")


def columns_listing(names: list[str]) -> str:
    shown = list(names[:MAX_LISTED_COLUMNS])
    more = f" and {len(names) - MAX_LISTED_COLUMNS} more" if len(names) > MAX_LISTED_COLUMNS else ""
    return f"{shown}{more}"


def is_table_file(source: str | os.PathLike) -> bool:
    return Path(source).suffix.lower() in TABLE_TYPES


class _Retype(Exception):
    """A later CSV block does not fit the type inferred from the first: read again with a wider one."""

    def __init__(self, column: int, to: str) -> None:
        self.column, self.to = column, to


# ---------------------------------------------------------------------- batches of Arrow data
def _record_chunks(path: Path, size: int) -> Iterator[bytes]:
    """The file's bytes in pieces of about ``size`` that end at a record's end: a line break outside
    quotes (an even number of ``"`` before it), so a quoted cell's line breaks stay inside."""
    with open(path, "rb") as handle:
        rest = b""
        while True:
            data = handle.read(size)
            if not data:
                if rest:
                    yield rest
                return
            block = rest + data
            ends = _record_ends(block)
            if len(ends) == 0:
                rest = block
                continue
            cut = int(ends[-1]) + 1
            yield block[:cut]
            rest = block[cut:]


def _csv_batches(path: Path, types: dict[str, str]) -> Iterator:
    """The header's names, then one Arrow table per chunk of records; types are inferred from the
    first chunk (``types`` forces some: ``"text"`` or ``"number"``) and kept for the others."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    forced = {name: pa.string() if kind == "text" else pa.float64() for name, kind in types.items()}
    parse = pacsv.ParseOptions(newlines_in_values=True)
    header, column_types, rows_before = None, forced, 0
    for chunk in _record_chunks(path, CSV_BLOCK_BYTES):
        if header is None:
            header = chunk[: _first_record_end(chunk)]
            _check_separator(path, header)
            text = chunk
        else:
            text = header + chunk
        convert = pacsv.ConvertOptions(
            null_values=list(NULL_CELLS),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            column_types=column_types,
        )
        read = pacsv.ReadOptions(use_threads=False, block_size=len(text) + 1)
        try:
            table = pacsv.read_csv(
                pa.py_buffer(text), read_options=read, parse_options=parse, convert_options=convert
            )
        except pa.ArrowInvalid as error:
            raise _csv_error(path, str(error), rows_before) from None
        if column_types is forced:
            yield table.column_names
            column_types = {**dict(zip(table.column_names, table.schema.types, strict=True)), **forced}
        rows_before += table.num_rows
        yield from table.to_batches()
        del table, text
    if header is None:
        raise ValueError(f"{path}: the file is empty; expected a header line and data rows")


OTHER_SEPARATORS = {b";": "semicolon", b"\t": "tab", b"|": "vertical bar"}


def _check_separator(path: Path, header: bytes) -> None:
    """Refuse a header without commas that another separator splits: the file is not comma-separated
    (a semicolon file, often with decimal commas, from a European spreadsheet; a tab file)."""
    if b"," in header:
        return
    for separator, name in OTHER_SEPARATORS.items():
        if separator in header:
            sep = separator.decode()
            decimals = ", with decimal=',' for numbers written 1,5" if sep == ";" else ""
            raise ValueError(
                f"{path}: the header has no comma but is split by {name}s ({sep!r}); mlpkit reads "
                f"comma-separated files: convert it first (pandas: pd.read_csv(path, sep={sep!r})"
                f".to_csv(new_path, index=False){decimals})"
            )


def _record_ends(block: bytes) -> np.ndarray:
    """Positions of the line breaks outside quotes (parity of the ``"`` before them; uint8 keeps it)."""
    codes = np.frombuffer(block, dtype=np.uint8)
    inside = np.cumsum(codes == ord('"'), dtype=np.uint8) & 1
    return np.flatnonzero((codes == ord("\n")) & (inside == 0))


def _first_record_end(chunk: bytes) -> int:
    ends = _record_ends(chunk)
    return int(ends[0]) + 1 if len(ends) else len(chunk)


def _count_records(path: Path) -> int:
    """An upper bound of the CSV's data rows (blank lines are counted too), read chunk by chunk."""
    records = 0
    for chunk in _record_chunks(path, CSV_BLOCK_BYTES):
        records += len(_record_ends(chunk)) + (not chunk.endswith(b"\n"))
    return max(records - 1, 0)


def _csv_error(path: Path, message: str, rows_before: int = 0) -> Exception:
    if "Empty CSV file" in message:
        return ValueError(f"{path}: the file is empty; expected a header line and data rows")
    conversion = CONVERSION_ERROR.search(message)
    if conversion:
        column, kind, value = int(conversion[1]), conversion[2], conversion[3]
        try:
            float(value)
            wider = "number" if kind in ("null", "int64", "int32") else "text"
        except ValueError:
            wider = "text"
        return _Retype(column, wider)
    short = SHORT_ROW.search(message)
    if short:
        record, expected, got = (int(group) for group in short.groups())
        where = f"{path}, row {rows_before + record - 1}"  # the chunk's record 1 is the header
        return ValueError(f"{where}: {got} cells, expected {expected} like the header")
    if "invalid UTF8" in message or "UTF-8" in message:
        return ValueError(f"{path}: not UTF-8 text ({message})")
    return ValueError(f"{path}: malformed CSV: {message}")


def _parquet_batches(path: Path) -> Iterator:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(path) as file:
            yield file.schema_arrow.names
            yield from file.iter_batches(batch_size=PARQUET_BATCH_ROWS)
    except (pa.ArrowException, OSError) as error:
        raise ValueError(f"{path}: not a readable Parquet file: {error}") from None


# ---------------------------------------------------------------------- one pass over the file
def _check_header(path: Path, names: list[str]) -> list[str]:
    for index, name in enumerate(names):
        if not name.strip():
            raise ValueError(f"{path}: header cell {index + 1} is empty; every column needs a name")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates and _all_numbers(names):  # names do not repeat; a row of data often does
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        raise ValueError(
            f"{path}: the first line holds numbers that repeat ({shown}), not column names: the file "
            "has no header line; add one (pandas: pd.read_csv(path, header=None).to_csv(new_path, "
            "index=False) names the columns 0, 1, ...)"
        )
    if duplicates:
        raise ValueError(f"{path}: header repeats column name(s) {duplicates}")
    return names


def _all_numbers(names: list[str]) -> bool:
    """Whether every header cell reads as a number."""
    try:
        [float(name) for name in names]
    except ValueError:
        return False
    return True


def _target_piece(path: Path, array, name: str, offset: int) -> np.ndarray:
    """A batch of target cells as numbers or text; a missing or infinite one raises ValueError."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pat

    if array.null_count:
        row = offset + int(pc.index(array.is_null(), True).as_py()) + 1
        raise ValueError(
            f"{path}, row {row}, column {name!r}: missing target value; a row without a target has "
            f"nothing to learn: drop such rows first (pandas: df.dropna(subset=[{name!r}]))"
        )
    if pat.is_integer(array.type):
        return array.to_numpy(zero_copy_only=False).astype(np.int64)  # a copy: the batch is released
    if pat.is_floating(array.type) or pat.is_decimal(array.type):
        values = np.array(pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False))
        infinite = np.flatnonzero(~np.isfinite(values))  # a large finite one is scaled in float64 later
        if len(infinite):
            row = offset + int(infinite[0]) + 1
            value = values[infinite[0]]
            raise ValueError(f"{path}, row {row}, column {name!r}: {value:g} is not a finite target value")
        return values
    if pat.is_boolean(array.type):
        return np.where(array.to_numpy(zero_copy_only=False), "True", "False")
    if pat.is_binary(array.type) or pat.is_large_binary(array.type):
        raise ValueError(f"{path}: not UTF-8 text (column {name!r})")
    return np.array([str(value) for value in array.cast(pa.string()).to_pylist()], dtype=np.str_)


def _read_once(
    path: Path, batches: Iterator, target: str | None, label: str | None, rows: int, text: Iterable[str] = ()
) -> tuple:
    """One pass: the feature columns, the target values (or None) and the target's name; ``rows`` is
    an upper bound of the rows, so each column is allocated once. A column of numbers with marks
    for the missing ones (``"?"``) becomes numeric, unless ``text`` (the columns asked for as text)
    names it."""
    from mlpkit.arrow_columns import ColumnBuilder, arrow_column

    names = _check_header(path, [str(name) for name in next(batches)])
    target_name = _target_name(path, names, target, label)
    builders = {name: ColumnBuilder(name, rows) for name in names if name != target_name}
    targets, offset = [], 0
    for batch in batches:
        for name, array in zip(names, batch.columns, strict=True):
            if name == target_name:
                targets.append(_target_piece(path, array, name, offset))
                continue
            piece = arrow_column(name, array, f"{path}: ")
            if piece.is_numeric:
                _check_numbers(path, piece.values, name, offset)
            builders[name].add(piece)
        offset += batch.num_rows
        del batch
    if offset == 0:
        raise ValueError(f"{path}: no data rows after the header")
    text = set(text)
    columns = (builder.finish() for builder in builders.values())
    table = ColumnTable((c if c.name in text else numbers_from_text(c) for c in columns), str(path))
    return table, (np.concatenate(targets) if target_name is not None else None), target_name


def _check_numbers(path: Path, values: np.ndarray, name: str, offset: int) -> None:
    """Refuse an infinity or a number beyond float32's range (training and prediction compute in float32
    by default, where it becomes infinite), naming the file, the data row and the column."""
    bad = np.flatnonzero(np.abs(values) > MAX_MAGNITUDE)  # NaN (a missing cell) compares False
    if len(bad):
        value = values[bad[0]]
        what = "is not a finite number" if np.isinf(value) else "is beyond float32's range (±3.4e38)"
        raise ValueError(f"{path}, row {offset + int(bad[0]) + 1}, column {name!r}: {value:g} {what}")


def _target_name(path: Path, names: list[str], target: str | None, label: str | None) -> str | None:
    """The target column: ``target`` if given, else the last column (``label == "last"``) or none."""
    if target is not None:
        if target not in names:
            raise ValueError(
                f"{path}: no target column {target!r}; the columns are {columns_listing(names)}"
                f"{did_you_mean(target, names)}"
            )
        return target
    if label == "last":
        if len(names) < 2:
            raise ValueError(f"{path}: needs at least one feature column and a target column, got {names}")
        return names[-1]
    return None


def read_table_file(
    path: str | os.PathLike,
    target: str | None = None,
    *,
    labelled: bool = True,
    categorical: Iterable[str] = (),
    numeric: Iterable[str] = (),
) -> tuple[ColumnTable, np.ndarray | None, str | None]:
    """A whole ``.csv`` or ``.parquet`` file: its feature columns, its target values and the target's name.

    ``target`` names the target column (default: the last one when ``labelled``; with
    ``labelled=False`` and no ``target`` every column is a feature and the targets are None).
    ``categorical`` and ``numeric`` name CSV columns to read as text or as numbers whatever
    their cells look like (a model's schema knows; leading zeros of codes survive as text).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if not path.is_file():
        raise ValueError(f"{path}: not a file")
    label, categorical = "last" if labelled else None, list(categorical)
    if path.suffix.lower() == ".parquet":
        return _read_once(path, _parquet_batches(path), target, label, _parquet_rows(path), categorical)
    types = {**dict.fromkeys(numeric, "number"), **dict.fromkeys(categorical, "text")}
    widened: dict[str, int] = {}
    rows = _count_records(path)
    while True:
        try:
            return _read_once(path, _csv_batches(path, types), target, label, rows, categorical)
        except _Retype as retype:
            name = _header(path)[retype.column]
            widened[name] = widened.get(name, 0) + 1
            if widened[name] > MAX_RETYPES_PER_COLUMN:
                raise ValueError(f"{path}: column {name!r} cannot be read as numbers or text") from None
            types[name] = retype.to


def _parquet_rows(path: Path) -> int | None:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception:  # an unreadable file is reported, with its reason, when it is read
        return None


def _header(path: Path) -> list[str]:
    batches = _csv_batches(path, {})
    return [str(name) for name in next(batches)]
