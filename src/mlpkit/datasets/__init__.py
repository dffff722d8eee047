"""Datasets, rows as samples: Fashion-MNIST/MNIST idx files, scikit-learn and generated sets, CSV, NPZ."""

from mlpkit.datasets.catalog import DATASET_NAMES, is_dataset_name, load_dataset, read_table
from mlpkit.datasets.core import Dataset, target_kind
from mlpkit.datasets.download import DownloadError, download_file, user_cache_dir
from mlpkit.datasets.files import Table, load_csv, load_npz, read_csv, read_csv_features, read_npz_features
from mlpkit.datasets.idx import FASHION_MNIST, MNIST, load_idx_dataset, read_idx
from mlpkit.datasets.toy import load_generated, load_sklearn_set, make_planar

__all__ = [
    "DATASET_NAMES",
    "FASHION_MNIST",
    "MNIST",
    "Dataset",
    "DownloadError",
    "Table",
    "download_file",
    "is_dataset_name",
    "load_csv",
    "load_dataset",
    "load_generated",
    "load_idx_dataset",
    "load_npz",
    "load_sklearn_set",
    "make_planar",
    "read_csv",
    "read_csv_features",
    "read_idx",
    "read_npz_features",
    "read_table",
    "target_kind",
    "user_cache_dir",
]
