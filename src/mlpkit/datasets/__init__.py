"""Datasets, rows as samples: named sets, CSV, NPZ and memory-mapped .npy files, read through one interface.

Every loader gives a source with training and test rows (see :mod:`mlpkit.datasets.source`):
a :class:`Dataset` in memory (Fashion-MNIST/MNIST idx files, scikit-learn and generated sets,
CSV, NPZ) or a :class:`MappedSplit` of memory-mapped ``.npy`` files read in chunks.
"""

from mlpkit.datasets.catalog import (
    DATASET_NAMES,
    evaluation_data,
    is_dataset_name,
    is_mapped_source,
    load_dataset,
    read_table,
    same_source,
)
from mlpkit.datasets.core import Dataset
from mlpkit.datasets.download import DownloadError, download_file, user_cache_dir
from mlpkit.datasets.files import Table, load_csv, load_npz, read_csv, read_csv_features, read_npz_features
from mlpkit.datasets.idx import FASHION_MNIST, MNIST, load_idx_dataset, read_idx
from mlpkit.datasets.mapped import MappedColumns, MappedRows
from mlpkit.datasets.memmap import MappedDataset, MappedSplit, load_mapped, open_memmap
from mlpkit.datasets.source import (
    Source,
    check_columns,
    column_chunks,
    engine_columns,
    fit_scaler,
    is_mapped,
    read_all,
    row_chunks,
)
from mlpkit.datasets.toy import load_generated, load_sklearn_set, make_planar

__all__ = [
    "DATASET_NAMES",
    "FASHION_MNIST",
    "MNIST",
    "Dataset",
    "DownloadError",
    "MappedColumns",
    "MappedDataset",
    "MappedRows",
    "MappedSplit",
    "Source",
    "Table",
    "check_columns",
    "column_chunks",
    "download_file",
    "engine_columns",
    "evaluation_data",
    "fit_scaler",
    "is_dataset_name",
    "is_mapped",
    "is_mapped_source",
    "load_csv",
    "load_dataset",
    "load_generated",
    "load_idx_dataset",
    "load_mapped",
    "load_npz",
    "load_sklearn_set",
    "make_planar",
    "open_memmap",
    "read_all",
    "read_csv",
    "read_csv_features",
    "read_idx",
    "read_npz_features",
    "read_table",
    "row_chunks",
    "same_source",
    "user_cache_dir",
]
