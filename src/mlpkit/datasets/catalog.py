"""Datasets by name or path: the one entry point the CLI and users call.

Names: ``fashion-mnist``, ``mnist`` (idx files), ``digits``, ``iris``, ``wine``,
``breast-cancer`` (scikit-learn), ``moons``, ``circles``, ``planar`` (generated). Anything
else is a path to a ``.csv`` or ``.npz`` file, or to memory-mapped ``.npy`` data (``X.npy``
with its labels file, or a folder of shards; see :mod:`mlpkit.datasets.memmap`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mlpkit.datasets.core import Dataset
from mlpkit.datasets.files import Table, load_csv, load_npz, read_csv, read_npz_table
from mlpkit.datasets.idx import IDX_DATASETS, load_idx_dataset
from mlpkit.datasets.toy import GENERATED_SETS, SKLEARN_SETS, load_generated, load_sklearn_set

DATASET_NAMES = (*IDX_DATASETS, *SKLEARN_SETS, *GENERATED_SETS)
FILE_TYPES = (".csv", ".npz")
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


def load_dataset(
    source: str | os.PathLike,
    *,
    target: str | None = None,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int | None = 0,
    download: bool = True,
    progress: bool | None = None,
) -> Dataset:
    """Train and test splits (rows as samples) of a named dataset or a CSV/NPZ file.

    Sets with a split of their own keep it; the others get a seeded split (stratified for
    class labels) holding out ``test_fraction`` of the rows. ``target`` names a CSV's target
    column (default: the last one).
    """
    if target is not None and (is_dataset_name(source) or _file_type(source) != ".csv"):
        raise ValueError(f"target={target!r} applies to CSV files only, not to {str(source)!r}")
    if is_dataset_name(source):
        if source in IDX_DATASETS:
            return load_idx_dataset(source, download=download, progress=progress)
        if source in SKLEARN_SETS:
            return load_sklearn_set(source, test_fraction=test_fraction, seed=seed)
        return load_generated(source, test_fraction=test_fraction, seed=seed)
    if _file_type(source) == ".csv":
        return load_csv(source, target, test_fraction=test_fraction, seed=seed)
    return load_npz(source, test_fraction=test_fraction, seed=seed)


def read_table(source: str | os.PathLike, *, target: str | None = None) -> Table:
    """A whole labelled CSV or NPZ file, unsplit (e.g. a separate test file to evaluate on)."""
    if is_dataset_name(source):
        raise ValueError(f"{source!r} is a dataset name, not a file; use load_dataset")
    if _file_type(source) == ".csv":
        return read_csv(source, target)
    if target is not None:
        raise ValueError(f"target={target!r} applies to CSV files only, not to {str(source)!r}")
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


def evaluation_data(source: str | os.PathLike, trained_on: dict) -> tuple[np.ndarray, np.ndarray, str]:
    """Rows, labels and which part (``"test split"`` or ``"whole file"``) to evaluate a model on.

    ``trained_on`` is the model's training config (``data``, ``target``, ``seed``,
    ``test_fraction``, ``target_name``). A dataset name, or the file the model was trained on,
    gives the test split drawn as in training; another file is evaluated whole.
    """
    if is_dataset_name(source) or same_source(source, trained_on.get("data")):
        dataset = load_dataset(
            source,
            target=trained_on.get("target") if not is_dataset_name(source) else None,
            seed=trained_on.get("seed", 0),
            test_fraction=trained_on.get("test_fraction", 0.2),
        )
        return dataset.X_test, dataset.label_values(dataset.y_test), "test split"
    target = trained_on.get("target_name") if str(source).lower().endswith(".csv") else None
    table = read_table(source, target=target)
    return table.X, table.y, "whole file"
