"""Datasets by name or path: the one entry point the CLI and users call.

Names: ``fashion-mnist``, ``mnist`` (idx files), ``digits``, ``iris``, ``wine``,
``breast-cancer`` (scikit-learn), ``moons``, ``circles``, ``planar`` (generated). Anything
else is a path to a ``.csv``, ``.parquet`` or ``.npz`` file, or to memory-mapped ``.npy`` data
(``X.npy`` with its labels file, or a folder of shards; see :mod:`mlpkit.datasets.memmap`).
A CSV or Parquet table keeps its features as raw columns (text, missing values), for a
:class:`~mlpkit.features.FeatureSchema`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from mlpkit.columns import ColumnTable
from mlpkit.datasets.core import Dataset
from mlpkit.datasets.files import Table, load_csv, load_npz, read_csv, read_npz_table
from mlpkit.datasets.idx import IDX_DATASETS, load_idx_dataset
from mlpkit.datasets.table_files import TABLE_TYPES
from mlpkit.datasets.toy import GENERATED_SETS, SKLEARN_SETS, load_generated, load_sklearn_set

DATASET_NAMES = (*IDX_DATASETS, *SKLEARN_SETS, *GENERATED_SETS)
FILE_TYPES = (*TABLE_TYPES, ".npz")
DEFAULT_TEST_FRACTION = 0.2


def is_dataset_name(source: str | os.PathLike) -> bool:
    """True for a built-in dataset name (as opposed to a file path)."""
    return isinstance(source, str) and source in DATASET_NAMES


def _file_type(source: str | os.PathLike) -> str:
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix in FILE_TYPES:
        return suffix
    if path.exists():
        raise ValueError(
            f"{path}: unsupported file type {suffix or '(none)'!r}; expected one of {list(FILE_TYPES)}"
        )
    raise ValueError(
        f"Unknown dataset {str(source)!r}; expected one of {list(DATASET_NAMES)} "
        f"or a path to a {' or '.join(FILE_TYPES)} file"
    )


def _is_table_file(source: str | os.PathLike) -> bool:
    return not is_dataset_name(source) and _file_type(source) in TABLE_TYPES


def _check_table_options(source, target: str | None, categorical) -> None:
    if target is not None and not _is_table_file(source):
        raise ValueError(f"target={target!r} applies to CSV and Parquet files only, not to {str(source)!r}")
    if categorical and not _is_table_file(source):
        raise ValueError(
            f"categorical={list(categorical)} applies to CSV and Parquet files only, not to {str(source)!r}"
        )


def load_dataset(
    source: str | os.PathLike,
    *,
    target: str | None = None,
    categorical: Iterable[str] = (),
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int | None = 0,
    download: bool = True,
    progress: bool | None = None,
) -> Dataset:
    """Train and test splits (rows as samples) of a named dataset or a CSV, Parquet or NPZ file.

    Sets with a split of their own keep it; the others get a seeded split (stratified for
    class labels) holding out ``test_fraction`` of the rows. ``target`` names a table's target
    column (default: the last one); ``categorical`` names its columns to read as categories.
    """
    _check_table_options(source, target, categorical)
    if is_dataset_name(source):
        if source in IDX_DATASETS:
            return load_idx_dataset(source, download=download, progress=progress)
        if source in SKLEARN_SETS:
            return load_sklearn_set(source, test_fraction=test_fraction, seed=seed)
        return load_generated(source, test_fraction=test_fraction, seed=seed)
    if _is_table_file(source):
        return load_csv(source, target, categorical=categorical, test_fraction=test_fraction, seed=seed)
    return load_npz(source, test_fraction=test_fraction, seed=seed)


def read_table(
    source: str | os.PathLike, *, target: str | None = None, categorical: Iterable[str] = ()
) -> Table:
    """A whole labelled CSV, Parquet or NPZ file, unsplit (e.g. a separate test file to evaluate on)."""
    if is_dataset_name(source):
        raise ValueError(f"{source!r} is a dataset name, not a file; use load_dataset")
    _check_table_options(source, target, categorical)
    if _is_table_file(source):
        return read_csv(source, target, categorical=categorical)
    return read_npz_table(source)


def is_mapped_source(source: str | os.PathLike, labels: str | os.PathLike | None = None) -> bool:
    """True when ``source`` is memory-mapped ``.npy`` data: an ``.npy`` file, a folder of shards, or
    any path given with a ``labels`` file; those open with :func:`~mlpkit.datasets.memmap.load_mapped`."""
    if is_dataset_name(source):
        return False
    path = Path(source)
    return bool(labels) or path.is_dir() or path.suffix == ".npy"


def same_source(a: str | os.PathLike, b: str | os.PathLike | None) -> bool:
    """True when ``a`` and ``b`` name the same dataset or file."""
    if b is None:
        return False
    return a == b or Path(a).resolve() == Path(b).resolve()


def _check_test_rows(source, dataset: Dataset, recorded: str | None) -> None:
    """Refuse to report on a test split whose rows are not those the model held out in training."""
    if recorded is not None and dataset.test_rows is not None and dataset.test_rows != recorded:
        raise ValueError(
            f"{source}: the file no longer holds the rows the model was trained and tested on (rows were "
            "added, removed or edited), so its test rows cannot be drawn again; evaluate on a separate file"
        )


def evaluation_data(
    source: str | os.PathLike, trained_on: dict
) -> tuple[np.ndarray | ColumnTable, np.ndarray, str]:
    """Rows (or a table's raw columns), labels and which part (``"test split"`` or ``"whole file"``) to
    evaluate a model on.

    ``trained_on`` is the model's training config (``data``, ``target``, ``seed``,
    ``test_fraction``, ``target_name``, ``categorical``). A dataset name, or the file the model
    was trained on, gives the test split drawn as in training; another file is evaluated
    whole. A table is read as in training (the columns named categorical read as text).
    """
    categorical = trained_on.get("categorical") or ()
    if is_dataset_name(source) or same_source(source, trained_on.get("data")):
        table_file = not is_dataset_name(source) and _is_table_file(source)
        seed = trained_on.get("seed", 0)
        if seed is None:
            raise ValueError(
                f"{source}: the model was trained without a seed, so its test rows cannot be drawn again; "
                "evaluate it on a separate file"
            )
        dataset = load_dataset(
            source,
            target=trained_on.get("target") if table_file else None,
            categorical=categorical if table_file else (),
            seed=seed,
            test_fraction=trained_on.get("test_fraction", 0.2),
        )
        if same_source(source, trained_on.get("data")):
            _check_test_rows(source, dataset, trained_on.get("test_rows"))
        return dataset.X_test, dataset.label_values(dataset.y_test), "test split"
    if _is_table_file(source):
        table = read_table(source, target=trained_on.get("target_name"), categorical=categorical)
    else:
        table = read_table(source)
    return table.X, table.y, "whole file"


def row_words(source: str | os.PathLike, position: int, part: str, trained_on: dict) -> str:
    """Where row ``position`` of what :func:`evaluation_data` returned sits, as the user counts: a table
    file's data row (from 1), an ``.npz``'s row (from 0, as numpy counts); for a test split, the row of
    the file it came from."""
    if part == "test split":
        if is_dataset_name(source):
            return f"test row {position} of {source}"
        dataset = load_dataset(
            source,
            target=trained_on.get("target") if _is_table_file(source) else None,
            categorical=(trained_on.get("categorical") or ()) if _is_table_file(source) else (),
            seed=trained_on.get("seed", 0),
            test_fraction=trained_on.get("test_fraction", 0.2),
        )
        if dataset.test_positions is None:
            return f"row {position} of the test split"
        position = int(dataset.test_positions[position])
    return f"row {position + 1}" if _is_table_file(source) else f"row {position}"  # an array's rows: from 0
