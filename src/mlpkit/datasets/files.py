"""User files: CSV with a header (numeric features, a target column) and NPZ (``X``, ``y``).

Errors name the file, the row (counting data rows from 1, with the file's line number) and
the column.
"""

from __future__ import annotations

import csv
import os
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlpkit.datasets.core import Dataset, split_dataset

NPZ_SPLIT_KEYS = ("X_train", "y_train", "X_test", "y_test")
MAX_LISTED_COLUMNS = 12
ColumnChooser = Callable[[list[str]], tuple[list[int], "int | None"]]


@dataclass
class Table:
    """A whole labelled file: features ``X`` ``(m, n_x)`` and targets ``y``, with column names."""

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str] | None = None
    target_name: str | None = None


# ---------------------------------------------------------------------- CSV
def _csv_rows(path: Path) -> Iterator[tuple[int, int, list[str]]]:
    """Yield ``(row, line, cells)`` for each non-empty data row; the header is row 0."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            row = 0
            for cells in reader:
                if cells:
                    yield row, reader.line_num, cells
                    row += 1
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except csv.Error as error:
        raise ValueError(f"{path}: malformed CSV: {error}") from None


def _where(path: Path, row: int, line: int, column: str) -> str:
    return f"{path}, row {row} (line {line}), column {column!r}"


def _check_header(path: Path, header: list[str]) -> list[str]:
    names = [name.strip() for name in header]
    for index, name in enumerate(names):
        if not name:
            raise ValueError(f"{path}: header cell {index + 1} is empty; every column needs a name")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"{path}: header repeats column name(s) {duplicates}")
    return names


def _columns_listing(names: Sequence[str]) -> str:
    shown = list(names[:MAX_LISTED_COLUMNS])
    more = f" and {len(names) - MAX_LISTED_COLUMNS} more" if len(names) > MAX_LISTED_COLUMNS else ""
    return f"{shown}{more}"


def _read_csv_columns(path: Path, choose: ColumnChooser):
    """Parse the chosen feature columns as floats and the target column as text, row by row.

    ``choose(header_names)`` returns the feature column indices and the target index (or None).
    """
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    rows = _csv_rows(path)
    try:
        _, _, header = next(rows)
    except StopIteration:
        raise ValueError(f"{path}: the file is empty; expected a header line and data rows") from None
    names = _check_header(path, header)
    wanted, target = choose(names)
    features, targets = [], []
    for row, line, cells in rows:
        if len(cells) != len(names):
            raise ValueError(
                f"{path}, row {row} (line {line}): {len(cells)} cells, expected {len(names)} like the header"
            )
        features.append(_parse_row(path, row, line, [cells[i] for i in wanted], [names[i] for i in wanted]))
        if target is not None:
            targets.append(_target_cell(path, row, line, cells[target], names[target]))
    if not features:
        raise ValueError(f"{path}: no data rows after the header")
    target_name = names[target] if target is not None else None
    return np.vstack(features), targets, [names[i] for i in wanted], target_name


def _parse_row(path: Path, row: int, line: int, cells: list[str], columns: list[str]) -> np.ndarray:
    try:
        values = np.array(cells, dtype=np.float64)
        if np.isfinite(values).all():
            return values
    except ValueError:
        pass
    for column, cell in zip(columns, cells, strict=True):
        _check_number(path, row, line, column, cell)
    return np.array([float(cell) for cell in cells])


def _check_number(path: Path, row: int, line: int, column: str, cell: str) -> None:
    if not cell.strip():
        raise ValueError(f"{_where(path, row, line, column)}: missing value")
    try:
        value = float(cell)
    except ValueError:
        raise ValueError(
            f"{_where(path, row, line, column)}: {cell[:40]!r} is not a number; "
            "feature columns must be numeric (only the target column may hold text)"
        ) from None
    if not np.isfinite(value):
        raise ValueError(f"{_where(path, row, line, column)}: {cell!r} is not a finite number")


def _target_cell(path: Path, row: int, line: int, cell: str, column: str) -> str:
    cell = cell.strip()
    if not cell or cell.lower() in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity"):
        raise ValueError(f"{_where(path, row, line, column)}: missing target value {cell!r}")
    return cell


def _target_array(texts: list[str]) -> np.ndarray:
    """Target cells as integers if they all are, else floats if they all are, else text."""
    for dtype in (np.int64, np.float64):
        try:
            return np.array(texts, dtype=dtype)
        except (ValueError, OverflowError):
            continue
    return np.array(texts, dtype=np.str_)


def _target_index(path: Path, names: list[str], target: str | None) -> int:
    if target is None:
        return len(names) - 1
    if target in names:
        return names.index(target)
    raise ValueError(f"{path}: no target column {target!r}; the columns are {_columns_listing(names)}")


def read_csv(path: str | os.PathLike, target: str | None = None) -> Table:
    """A whole CSV file: numeric feature columns and one target column (default: the last one)."""
    path = Path(path)

    def choose(names: list[str]) -> tuple[list[int], int]:
        if len(names) < 2:
            raise ValueError(f"{path}: needs at least one feature column and a target column, got {names}")
        index = _target_index(path, names, target)
        return [i for i in range(len(names)) if i != index], index

    X, targets, features, target_name = _read_csv_columns(path, choose)
    return Table(X, _target_array(targets), features, target_name)


def read_csv_features(
    path: str | os.PathLike, n_features: int, feature_names: Sequence[str] | None = None
) -> np.ndarray:
    """Feature rows ``(m, n_features)`` from a CSV with a header, for prediction.

    With ``feature_names`` all present in the header, those columns are taken (others, such as
    a target column, are ignored); otherwise the file must have exactly ``n_features`` columns.
    """
    path = Path(path)

    def choose(names: list[str]) -> tuple[list[int], None]:
        if feature_names and set(feature_names) <= set(names):
            return [names.index(name) for name in feature_names], None
        if len(names) == n_features:
            return list(range(n_features)), None
        expected = f" ({_columns_listing(list(feature_names))})" if feature_names else ""
        raise ValueError(
            f"{path}: has {len(names)} columns but the model takes {n_features} features{expected}"
        )

    X, _, _, _ = _read_csv_columns(path, choose)
    return X


def load_csv(
    path: str | os.PathLike, target: str | None = None, *, test_fraction: float = 0.2, seed: int | None = 0
) -> Dataset:
    """A CSV file split into train and test rows (stratified for class labels, seeded)."""
    table = read_csv(path, target)
    return split_dataset(
        Path(path).name,
        table.X,
        table.y,
        test_fraction=test_fraction,
        seed=seed,
        feature_names=table.feature_names,
        target_name=table.target_name,
        source=str(path),
    )


# ---------------------------------------------------------------------- NPZ
def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file, read without pickle."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):  # np.load would read a lone .npy, or try pickle on anything else
        raise ValueError(f"{path}: not an .npz file (a zip archive of named .npy arrays such as X and y)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise ValueError(
                f"{path}: holds object arrays, which are refused; store numbers or text"
            ) from None
        raise ValueError(f"{path}: not a readable .npz file: {error}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not a readable .npz file: {error}") from None


def _npz_features(path: Path, X: np.ndarray, key: str) -> np.ndarray:
    if X.ndim != 2:
        raise ValueError(f"{path}: {key} must be 2-D (rows, features), got shape {X.shape}")
    if X.dtype != bool and (not np.issubdtype(X.dtype, np.number) or np.iscomplexobj(X)):
        raise ValueError(f"{path}: {key} must hold real numbers, got dtype {X.dtype}")
    if np.issubdtype(X.dtype, np.floating) and not np.isfinite(X).all():
        row, column = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"{path}: {key} has NaN or infinity at row {row}, column {column}")
    return X.astype(np.float64) if X.dtype == bool else X


def _npz_targets(path: Path, y: np.ndarray, key: str, m: int) -> np.ndarray:
    if y.ndim not in (1, 2) or y.shape[0] != m:
        raise ValueError(
            f"{path}: {key} must have one entry (or row) per row of X ({m}), got shape {y.shape}"
        )
    if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
        raise ValueError(f"{path}: {key} has NaN or infinity at row {np.argwhere(~np.isfinite(y))[0][0]}")
    return y


def read_npz_table(path: str | os.PathLike) -> Table:
    """A whole labelled ``.npz`` (``X`` and ``y``)."""
    path = Path(path)
    arrays = read_npz(path)
    missing = [key for key in ("X", "y") if key not in arrays]
    if missing:
        raise ValueError(f"{path}: missing array(s) {missing}; expected X and y (found {sorted(arrays)})")
    X = _npz_features(path, arrays["X"], "X")
    return Table(X, _npz_targets(path, arrays["y"], "y", X.shape[0]))


def read_npz_features(path: str | os.PathLike, n_features: int) -> np.ndarray:
    """Feature rows ``X`` of an ``.npz`` file, for prediction."""
    path = Path(path)
    arrays = read_npz(path)
    if "X" not in arrays:
        raise ValueError(f"{path}: no array X (found {sorted(arrays)})")
    X = _npz_features(path, arrays["X"], "X")
    if X.shape[1] != n_features:
        raise ValueError(f"{path}: X has {X.shape[1]} columns but the model takes {n_features} features")
    return X


def load_npz(path: str | os.PathLike, *, test_fraction: float = 0.2, seed: int | None = 0) -> Dataset:
    """An ``.npz`` with its own split (``X_train``, ``y_train``, ``X_test``, ``y_test``), or ``X`` and ``y``
    split here."""
    path = Path(path)
    arrays = read_npz(path)
    if all(key in arrays for key in NPZ_SPLIT_KEYS):
        X_train = _npz_features(path, arrays["X_train"], "X_train")
        X_test = _npz_features(path, arrays["X_test"], "X_test")
        if X_test.shape[1] != X_train.shape[1]:
            raise ValueError(
                f"{path}: X_test has {X_test.shape[1]} columns but X_train has {X_train.shape[1]}"
            )
        y_train = _npz_targets(path, arrays["y_train"], "y_train", X_train.shape[0])
        y_test = _npz_targets(path, arrays["y_test"], "y_test", X_test.shape[0])
        return Dataset(path.name, X_train, y_train, X_test, y_test, source=str(path))
    table = read_npz_table(path)
    return split_dataset(
        path.name, table.X, table.y, test_fraction=test_fraction, seed=seed, source=str(path)
    )
