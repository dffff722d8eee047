"""Loaders: real Fashion-MNIST files, hand-built idx files, scikit-learn's sets, generated sets, CSV, NPZ."""

import dataclasses
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from sklearn import datasets as sk

from mlpkit.datasets import (
    DATASET_NAMES,
    FASHION_MNIST,
    evaluation_data,
    is_mapped_source,
    load_dataset,
    make_planar,
    read_idx,
    read_table,
)
from mlpkit.datasets import idx as idx_module
from mlpkit.tasks import target_kind

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f8"): 0x0E}


def write_idx(path: Path, array: np.ndarray, dtype=np.uint8) -> Path:
    """An idx file by the format's definition: 0, 0, type code, rank, big-endian sizes, big-endian data."""
    dtype = np.dtype(dtype)
    header = bytes([0, 0, IDX_CODES[dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=dtype).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_fake_idx_set(folder: Path, n_train: int = 12, n_test: int = 5, marker: int = 0) -> Path:
    """Four Fashion-MNIST-named files with tiny 2x3 images; pixel [0, 0] of every image is ``marker``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(marker)
    for split, m in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (m, 2, 3)).astype(np.uint8)
        images[:, 0, 0] = marker
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", np.arange(m) % 10)
    return folder


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No $MLPKIT_DATA, an empty user cache, and no way to download."""
    monkeypatch.delenv("MLPKIT_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def no_download(*args, **kwargs):
        raise AssertionError("tests never download")

    monkeypatch.setattr(idx_module, "download_file", no_download)
    return tmp_path


# ---------------------------------------------------------------------- Fashion-MNIST and idx
@pytest.mark.skipif(
    not FASHION_DIR.is_dir(), reason="needs Debian's dataset-fashion-mnist package (CI installs it)"
)
def test_real_fashion_mnist_files(isolated):
    data = load_dataset("fashion-mnist")
    assert data.X_train.shape == (60000, 784) and data.X_test.shape == (10000, 784)
    assert data.X_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    # The dataset paper: 6000 training and 1000 test images of each of the 10 classes.
    assert np.bincount(data.y_train).tolist() == [6000] * 10
    assert np.bincount(data.y_test).tolist() == [1000] * 10
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"
    assert data.source == str(FASHION_DIR)
    assert 0 < data.X_train.mean() < 255 and data.X_train.max() == 255


@pytest.mark.parametrize("name", ["x.idx", "x.idx.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, ">i4", ">f8"])
def test_read_idx_by_the_format_definition(tmp_path, name, dtype):
    array = (np.arange(24).reshape(2, 3, 4) * 7 - 20).astype(np.float64)
    if np.dtype(dtype) == np.uint8:
        array = np.abs(array)
    path = write_idx(tmp_path / name, array, dtype)
    parsed = read_idx(path)
    assert parsed.shape == (2, 3, 4) and parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, array)


def test_read_idx_rejects_bad_files(tmp_path):
    good = write_idx(tmp_path / "good.idx", np.arange(10).reshape(2, 5))
    (tmp_path / "short.idx").write_bytes(good.read_bytes()[:-3])
    (tmp_path / "magic.idx").write_bytes(b"\x01\x02\x08\x01" + good.read_bytes()[4:])
    (tmp_path / "broken.idx.gz").write_bytes(gzip.compress(good.read_bytes())[:-10])
    with pytest.raises(
        ValueError, match=r"short.idx: holds 7 data bytes .* shape \(2, 5\), that is 10 bytes"
    ):
        read_idx(tmp_path / "short.idx")
    with pytest.raises(ValueError, match="magic.idx: not an idx file"):
        read_idx(tmp_path / "magic.idx")
    with pytest.raises(ValueError, match="broken.idx.gz: cannot be decompressed"):
        read_idx(tmp_path / "broken.idx.gz")


def test_look_up_order(isolated, monkeypatch):
    system = write_fake_idx_set(isolated / "system", marker=2)
    monkeypatch.setitem(
        idx_module.IDX_DATASETS, "fashion-mnist", dataclasses.replace(FASHION_MNIST, system_dir=system)
    )
    cache = write_fake_idx_set(isolated / "cache" / "mlpkit" / "fashion-mnist", marker=3)

    def marker() -> int:
        return int(load_dataset("fashion-mnist").X_train[0, 0])

    assert marker() == 2  # the system folder comes before the user cache
    system.rename(isolated / "gone")
    assert marker() == 3  # then the cache
    root = write_fake_idx_set(isolated / "data", marker=4)
    monkeypatch.setenv("MLPKIT_DATA", str(root))
    assert marker() == 4  # $MLPKIT_DATA comes first
    write_fake_idx_set(root / "fashion-mnist", marker=5)
    assert marker() == 5  # and its per-dataset subfolder before the folder itself
    data = load_dataset("fashion-mnist")
    assert data.X_train.shape == (12, 6) and data.X_test.shape == (5, 6)
    assert cache.is_dir()


def test_inconsistent_idx_set_is_reported(isolated, monkeypatch):
    folder = write_fake_idx_set(isolated / "system")
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(11, dtype=np.uint8))
    monkeypatch.setitem(
        idx_module.IDX_DATASETS, "fashion-mnist", dataclasses.replace(FASHION_MNIST, system_dir=folder)
    )
    with pytest.raises(
        ValueError, match=r"train-labels-idx1-ubyte.gz: expected 12 labels, got shape \(11,\)"
    ):
        load_dataset("fashion-mnist")


# ---------------------------------------------------------------------- scikit-learn and generated sets
@pytest.mark.parametrize(
    ("name", "loader"),
    [
        ("iris", sk.load_iris),
        ("wine", sk.load_wine),
        ("breast-cancer", sk.load_breast_cancer),
        ("digits", sk.load_digits),
    ],
)
def test_scikit_learn_sets_are_split_stratified(name, loader):
    bunch = loader()
    data = load_dataset(name, seed=1)
    rows = np.vstack([data.X_train, data.X_test])
    labels = np.concatenate([data.y_train, data.y_test])
    order = np.lexsort(rows.T)
    expected_order = np.lexsort(bunch.data.T)
    np.testing.assert_array_equal(rows[order], bunch.data[expected_order])
    np.testing.assert_array_equal(labels[order], bunch.target[expected_order])
    counts = np.bincount(bunch.target)
    assert np.bincount(data.y_test, minlength=counts.size).tolist() == [round(0.2 * c) for c in counts]
    assert data.class_names == [str(n) for n in bunch.target_names]


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("moons", lambda seed: sk.make_moons(n_samples=1000, noise=0.2, random_state=seed)),
        ("circles", lambda seed: sk.make_circles(n_samples=1000, noise=0.1, factor=0.5, random_state=seed)),
    ],
)
def test_generated_sets_are_scikit_learns(name, make):
    X, y = make(5)
    data = load_dataset(name, seed=5)
    rows = np.vstack([data.X_train, data.X_test])
    np.testing.assert_array_equal(rows[np.lexsort(rows.T)], X[np.lexsort(X.T)])
    assert np.bincount(data.y_test).tolist() == [100, 100]


def test_planar_is_the_notes_flower():
    X, y = make_planar(400, seed=0)
    assert X.shape == (400, 2) and np.bincount(y).tolist() == [200, 200]
    radius = np.hypot(X[:, 0], X[:, 1])
    assert radius.max() < 4 + 6 * 0.2  # r = 4 sin(4t) + N(0, 0.2^2) noise
    assert np.array_equal(make_planar(400, seed=0)[0], X) and not np.array_equal(
        make_planar(400, seed=1)[0], X
    )
    data = load_dataset("planar")
    assert data.X_train.shape == (320, 2) and data.class_names == ["red", "blue"]


def test_target_kinds():
    assert target_kind(np.array(["a", "b"])) == "classification"
    assert target_kind(np.array([1, 2, 2])) == "classification"
    assert target_kind(np.array([1.0, 2.0])) == "classification"
    assert target_kind(np.array([1.5, 2.0])) == "regression"
    assert target_kind(np.array([[0, 1], [1, 1]])) == "multilabel"
    assert target_kind(np.array([[0.5, 1], [1, 1]])) == "regression"


def test_unknown_names_and_files(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown dataset 'fashion'; expected one of \['fashion-mnist'"):
        load_dataset("fashion")
    assert set(DATASET_NAMES) >= {
        "mnist",
        "digits",
        "iris",
        "wine",
        "breast-cancer",
        "moons",
        "circles",
        "planar",
    }
    (tmp_path / "data.txt").write_text("x\n1\n")
    expected = r"unsupported file type '.txt'; expected one of \['.csv', '.parquet', '.npz'\]"
    with pytest.raises(ValueError, match=expected):
        load_dataset(tmp_path / "data.txt")
    with pytest.raises(FileNotFoundError, match="absent.csv: no such file"):
        load_dataset(tmp_path / "absent.csv")
    with pytest.raises(ValueError, match="applies to CSV and Parquet files only"):
        load_dataset("iris", target="species")
    with pytest.raises(ValueError, match=r"categorical=\['a'\] applies to CSV and Parquet files only"):
        load_dataset("iris", categorical=["a"])


def test_which_sources_are_memory_mapped(tmp_path):
    (tmp_path / "shards").mkdir()
    assert is_mapped_source(tmp_path / "X.npy") and is_mapped_source(tmp_path / "shards")
    assert is_mapped_source(tmp_path / "X.bin", labels=tmp_path / "y.npy")
    assert not is_mapped_source("iris", labels=tmp_path / "y.npy")  # a name: the CLI refuses --labels
    assert not is_mapped_source(tmp_path / "data.csv") and not is_mapped_source(tmp_path / "data.npz")


def test_evaluation_data_is_the_training_test_split_or_a_whole_file(tmp_path):
    X = np.arange(40.0).reshape(20, 2)
    y = np.array(["a", "b"] * 10)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    trained_on = {"data": str(tmp_path / "data.npz"), "seed": 3, "test_fraction": 0.25}
    split = load_dataset(tmp_path / "data.npz", seed=3, test_fraction=0.25)
    rows, values, part = evaluation_data(tmp_path / ".." / tmp_path.name / "data.npz", trained_on)
    assert part == "test split"
    np.testing.assert_array_equal(rows, split.X_test)
    np.testing.assert_array_equal(values, split.y_test)
    rows, values, part = evaluation_data(tmp_path / "data.npz", {"data": "iris"})
    assert part == "whole file" and rows.shape == (20, 2) and list(values) == list(y)
    rows, values, part = evaluation_data("iris", {"data": str(tmp_path / "data.npz")})
    assert (
        part == "test split" and rows.shape == (30, 4) and values[0] in ("setosa", "versicolor", "virginica")
    )


# ---------------------------------------------------------------------- NPZ
def test_npz_with_and_without_its_own_split(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), np.repeat([0, 1, 2], 10)
    np.savez(tmp_path / "whole.npz", X=X, y=y)
    data = load_dataset(tmp_path / "whole.npz")
    assert data.X_test.shape == (6, 3) and np.bincount(data.y_test).tolist() == [2, 2, 2]
    np.savez(tmp_path / "split.npz", X_train=X[:20], y_train=y[:20], X_test=X[20:], y_test=y[20:])
    own = load_dataset(tmp_path / "split.npz")
    np.testing.assert_array_equal(own.X_test, X[20:])
    np.testing.assert_array_equal(read_table(tmp_path / "whole.npz").X, X)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"X": np.zeros((3, 2))}, r"missing array\(s\) \['y'\]"),
        ({"X": np.zeros(3), "y": np.zeros(3)}, "X must be 2-D"),
        ({"X": np.zeros((3, 2)), "y": np.zeros(4)}, r"one entry \(or row\) per row of X \(3\)"),
        ({"X": np.array([[1.0, np.inf]]), "y": np.zeros(1)}, "X has NaN or infinity at row 0, column 1"),
        ({"X": np.array([["a", "b"]]), "y": np.zeros(1)}, "X must hold real numbers"),
        ({"X": np.array([[{}]], dtype=object), "y": np.zeros(1)}, "object arrays, which are refused"),
    ],
)
def test_npz_errors(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=message):
        load_dataset(tmp_path / "bad.npz")
