"""User files: tables (CSV and Parquet, through :mod:`~mlpkit.datasets.table_files`) and NPZ (``X``, ``y``).

A table's features are raw columns (:class:`~mlpkit.columns.ColumnTable`: numbers, text,
missing values) that a model's feature schema turns into inputs; an NPZ's are numeric rows.
Errors name the file, the row and the column.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlpkit.columns import ColumnTable
from mlpkit.datasets.core import Dataset, split_dataset
from mlpkit.datasets.table_files import read_table_file

NPZ_SPLIT_KEYS = ("X_train", "y_train", "X_test", "y_test")
MAX_MAGNITUDE = float(np.finfo(np.float32).max)
NPY_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


@dataclass
class Table:
    """A whole labelled file: features ``X`` (rows ``(m, n_x)``, or raw columns for a CSV or Parquet
    table) and targets ``y``, with column names."""

    X: np.ndarray | ColumnTable
    y: np.ndarray
    feature_names: list[str] | None = None
    target_name: str | None = None


# ---------------------------------------------------------------------- CSV and Parquet
def read_csv(path: str | os.PathLike, target: str | None = None, *, categorical: Iterable[str] = ()) -> Table:
    """A whole ``.csv`` (or ``.parquet``) table: raw feature columns and one target column (default: the
    last one). ``categorical`` names columns to read as text whatever they hold."""
    X, y, target_name = read_table_file(path, target, categorical=categorical)
    return Table(X, y, X.names, target_name)


def read_csv_features(
    path: str | os.PathLike, n_features: int, feature_names: Sequence[str] | None = None
) -> np.ndarray:
    """Numeric feature rows ``(m, n_features)`` of a ``.csv`` (or ``.parquet``) file, for a model without a
    column schema.

    With ``feature_names`` all present in the header, those columns are taken (others, such as
    a target column, are ignored); otherwise the file must have exactly ``n_features`` columns.
    """
    table, _, _ = read_table_file(path, labelled=False)
    if feature_names and set(feature_names) <= set(table.names):
        return table.select(list(feature_names)).numeric_rows()
    if table.shape[1] == n_features:
        return table.numeric_rows()
    expected = f" ({list(feature_names)[:12]})" if feature_names else ""
    raise ValueError(
        f"{path}: has {table.shape[1]} columns but the model takes {n_features} features{expected}"
    )


def load_csv(
    path: str | os.PathLike,
    target: str | None = None,
    *,
    categorical: Iterable[str] = (),
    test_fraction: float = 0.2,
    seed: int | None = 0,
) -> Dataset:
    """A ``.csv`` (or ``.parquet``) table split into train and test rows (stratified for class labels,
    seeded); the features stay raw columns for a feature schema to fit."""
    table = read_csv(path, target, categorical=categorical)
    return split_dataset(
        Path(path).name,
        table.X,
        table.y,
        test_fraction=test_fraction,
        seed=seed,
        feature_names=table.feature_names,
        target_name=table.target_name,
        source=str(path),
        scaling="schema",
    )


# ---------------------------------------------------------------------- NPZ
def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file, read without pickle; each ``.npy`` header is checked against what
    its entry holds and against memory before the array is allocated."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):  # np.load would read a lone .npy, or try pickle on anything else
        raise ValueError(f"{path}: not an .npz file (a zip archive of named .npy arrays such as X and y)")
    try:
        _check_npz_headers(path)
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise ValueError(
                f"{path}: holds object arrays, which are refused; store numbers or text"
            ) from None
        if str(error).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable .npz file: {error}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not a readable .npz file: {error}") from None


def _check_npz_headers(path: Path) -> None:
    """Bound every array of the archive from its ``.npy`` header (see :mod:`mlpkit.io.bounds`)."""
    from mlpkit.io.bounds import check_array_header

    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            name = info.filename[: -len(".npy")]
            with archive.open(info) as member:
                try:
                    version = np.lib.format.read_magic(member)
                    read_header = NPY_HEADER_READERS.get(version)
                    if read_header is None:
                        raise ValueError(f"unsupported .npy version {version}")
                    shape, _, dtype = read_header(member)
                except (ValueError, SyntaxError, TypeError, EOFError) as error:
                    raise ValueError(f"{path}: array {name!r} has no valid .npy header: {error}") from None
                if dtype.hasobject:
                    raise ValueError(f"{path}: holds object arrays, which are refused; store numbers or text")
                stored = info.file_size - member.tell()
                check_array_header(shape, dtype, stored, f"{path}: array {name!r}")


def _npz_features(path: Path, X: np.ndarray, key: str) -> np.ndarray:
    if X.ndim != 2:
        raise ValueError(f"{path}: {key} must be 2-D (rows, features), got shape {X.shape}")
    if X.shape[1] == 0:
        raise ValueError(
            f"{path}: {key} has no columns (shape {X.shape}); a model needs at least one feature"
        )
    if X.dtype != bool and (not np.issubdtype(X.dtype, np.number) or np.iscomplexobj(X)):
        raise ValueError(f"{path}: {key} must hold real numbers, got dtype {X.dtype}")
    if np.issubdtype(X.dtype, np.floating):
        check_magnitudes(X, f"{path}: {key}")
    return X.astype(np.float64) if X.dtype == bool else X


def check_magnitudes(values: np.ndarray, name: str) -> None:
    """Refuse NaN, infinity and numbers beyond float32's range in the rows ``values`` (called ``name``):
    training and prediction compute in float32 by default, where such a value becomes infinite."""
    flat = values.reshape(values.shape[0], -1)
    bad = ~(np.abs(flat) <= MAX_MAGNITUDE)  # NaN compares False
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        value = flat[row, column]
        if not np.isfinite(value):
            raise ValueError(f"{name} has NaN or infinity at row {row}, column {column}")
        raise ValueError(
            f"{name} has {value:g} at row {row}, column {column}, beyond float32's range (±3.4e38); "
            "rescale it"
        )


def _npz_targets(path: Path, y: np.ndarray, key: str, m: int) -> np.ndarray:
    if y.ndim not in (1, 2) or y.shape[0] != m:
        raise ValueError(
            f"{path}: {key} must have one entry (or row) per row of X ({m}), got shape {y.shape}"
        )
    if y.dtype.kind == "S":  # bytes labels: read as text
        try:
            y = np.char.decode(y, "utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{path}: {key} holds bytes that are not UTF-8 text") from None
    if y.dtype.kind not in "biufU":
        raise ValueError(f"{path}: {key} must hold numbers or text labels, got dtype {y.dtype}")
    if y.ndim == 2 and y.dtype.kind == "U":
        raise ValueError(
            f"{path}: {key} has shape {y.shape} and holds text; text labels must be one column (m,), "
            "several target columns must be numbers"
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
