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
    read_csv,
    read_csv_features,
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
    with pytest.raises(ValueError, match=r"unsupported file type '.txt'; expected one of \['.csv', '.npz'\]"):
        load_dataset(tmp_path / "data.txt")
    with pytest.raises(FileNotFoundError, match="absent.csv: no such file"):
        load_dataset(tmp_path / "absent.csv")
    with pytest.raises(ValueError, match="applies to CSV files only"):
        load_dataset("iris", target="species")


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


# ---------------------------------------------------------------------- CSV
def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_with_text_labels(tmp_path):
    path = write_csv(tmp_path / "pets.csv", "weight,height,kind\n1.5,2,cat\n-3e2, 4 ,dog\n\n7,8,cat\n")
    table = read_csv(path)
    np.testing.assert_array_equal(table.X, [[1.5, 2.0], [-300.0, 4.0], [7.0, 8.0]])
    np.testing.assert_array_equal(table.y, ["cat", "dog", "cat"])
    assert table.feature_names == ["weight", "height"] and table.target_name == "kind"
    with pytest.raises(ValueError, match=r"row 1 \(line 2\), column 'kind': 'cat' is not a number"):
        read_csv(path, target="height")


def test_csv_targets_are_integers_floats_or_text(tmp_path):
    integers = read_csv(write_csv(tmp_path / "i.csv", "a,b\n1,2\n3,4\n"))
    assert integers.y.dtype == np.int64 and integers.y.tolist() == [2, 4]
    floats = read_csv(write_csv(tmp_path / "f.csv", "a,b\n1,2.5\n3,4\n"))
    assert floats.y.dtype == np.float64 and floats.y.tolist() == [2.5, 4.0]


def test_csv_target_in_the_middle_with_numeric_features(tmp_path):
    path = write_csv(tmp_path / "t.csv", "a,label,b\n1,x,2\n3,y,4\n")
    table = read_csv(path, target="label")
    np.testing.assert_array_equal(table.X, [[1, 2], [3, 4]])
    assert table.feature_names == ["a", "b"]


def test_csv_split_is_stratified_and_seeded(tmp_path):
    lines = ["f1,f2,c"] + [f"{i},{i * 2},{'ab'[i % 2]}" for i in range(40)]
    path = write_csv(tmp_path / "s.csv", "\n".join(lines) + "\n")
    data = load_dataset(path, seed=3)
    assert sorted(data.y_test.tolist()) == ["a"] * 4 + ["b"] * 4
    assert data.X_train.shape == (32, 2)
    np.testing.assert_array_equal(load_dataset(path, seed=3).X_test, data.X_test)
    np.testing.assert_array_equal(data.X_train[:, 1], 2 * data.X_train[:, 0])  # rows stay whole


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,c\n1,2,x\n3,,y\n", r"bad.csv, row 2 \(line 3\), column 'b': missing value"),
        ("a,b,c\n1,2,x\n3,abc,y\n", r"row 2 \(line 3\), column 'b': 'abc' is not a number"),
        ("a,b,c\n1,nan,x\n", r"row 1 \(line 2\), column 'b': 'nan' is not a finite number"),
        ("a,b,c\n1,2\n", r"row 1 \(line 2\): 2 cells, expected 3"),
        ("a,b,c\n1,2,\n", r"row 1 \(line 2\), column 'c': missing target value"),
        ("", "the file is empty"),
        ("a,b,c\n", "no data rows"),
        ("a,a,c\n1,2,3\n", r"repeats column name\(s\) \['a'\]"),
        ("a,,c\n1,2,3\n", "header cell 2 is empty"),
        ("a\n1\n", "needs at least one feature column"),
    ],
)
def test_csv_errors_name_file_row_and_column(tmp_path, text, message):
    path = write_csv(tmp_path / "bad.csv", text)
    with pytest.raises(ValueError, match=message):
        read_csv(path)


def test_csv_unknown_target_lists_the_columns(tmp_path):
    path = write_csv(tmp_path / "t.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match=r"no target column 'd'; the columns are \['a', 'b', 'c'\]"):
        read_csv(path, target="d")


def test_csv_features_for_prediction(tmp_path):
    by_name = write_csv(tmp_path / "named.csv", "c,extra,a\n3,9,1\n6,9,4\n")
    np.testing.assert_array_equal(read_csv_features(by_name, 2, ["a", "c"]), [[1, 3], [4, 6]])
    plain = write_csv(tmp_path / "plain.csv", "x,y\n1,2\n")
    np.testing.assert_array_equal(read_csv_features(plain, 2, ["a", "c"]), [[1, 2]])
    with pytest.raises(ValueError, match=r"plain.csv: has 2 columns but the model takes 3 features"):
        read_csv_features(plain, 3)


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
