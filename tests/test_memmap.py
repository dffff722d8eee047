"""Memory-mapped datasets: gathers, chunked statistics and training equal their in-memory counterparts."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlpkit import DNN, Trainer
from mlpkit.datasets import (
    Dataset,
    MappedColumns,
    MappedRows,
    MappedSplit,
    check_columns,
    column_chunks,
    fit_scaler,
    is_mapped,
    mapped,
    open_memmap,
    row_chunks,
)
from mlpkit.io import load
from mlpkit.metrics import evaluate_model
from mlpkit.preprocessing import AffineScaler
from mlpkit.tasks import Targets, encode_test_targets, scan_targets
from mlpkit.training.pipeline import TrainConfig, build_model, evaluate_test, make_trainer

SHARD_ROWS = (70, 55, 95)  # 220 rows in three uneven shards


def features(m: int, n_x: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n_x)) * np.linspace(0.5, 4.0, n_x) + np.arange(n_x) * 3
    X[:, -1] = 7.0  # a constant column: its scale becomes 1
    return X.astype(np.float32)


def targets(kind: str, X: np.ndarray) -> np.ndarray:
    score = X[:, 0] - X[:, 1] / 2
    if kind == "multiclass":
        return np.digitize(score, np.quantile(score, [0.33, 0.66])).astype(np.int64)
    if kind == "binary_text":
        return np.where(score > np.median(score), "yes", "no")
    if kind == "multilabel":
        return np.stack([score > 0, X[:, 2] > 6, X[:, 3] > 9], axis=1).astype(np.int64)
    return np.stack([score, X[:, 2]], axis=1)  # regression, two outputs


def write_shards(folder: Path, X: np.ndarray, y: np.ndarray, sizes=SHARD_ROWS) -> Path:
    folder.mkdir()
    bounds = np.cumsum([0, *sizes])
    for part, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        np.save(folder / f"X_{part * 5}.npy", X[start:stop])  # parts 0, 5, 10: natural order
        np.save(folder / f"y_{part * 5}.npy", y[start:stop])
    return folder


def write_pair(folder: Path, X: np.ndarray, y: np.ndarray) -> tuple[Path, Path]:
    np.save(folder / "X.npy", X)
    np.save(folder / "y.npy", y)
    return folder / "X.npy", folder / "y.npy"


@pytest.fixture
def never_whole(monkeypatch):
    """Fail if anything converts mapped data to one array; force many small chunks and releases."""

    def refuse(self, dtype=None, copy=None):
        raise AssertionError("mapped data was loaded whole")

    monkeypatch.setattr(MappedRows, "__array__", refuse)
    monkeypatch.setattr(MappedColumns, "__array__", refuse)
    monkeypatch.setattr(mapped, "CHUNK_BYTES", 600)
    monkeypatch.setattr(mapped, "RELEASE_BYTES", 4096)


def test_gathers_across_shards_match_the_concatenation(tmp_path, never_whole):
    X = features(sum(SHARD_ROWS))
    y = np.arange(X.shape[0])
    dataset = open_memmap(write_shards(tmp_path / "shards", X, y))
    assert [path.name for path in dataset.X.paths] == ["X_0.npy", "X_5.npy", "X_10.npy"]
    assert dataset.X.shape == X.shape and len(dataset) == 220
    index = np.random.default_rng(3).permutation(220)[:90]
    np.testing.assert_array_equal(dataset.X[index], X[index])
    np.testing.assert_array_equal(dataset.X[60:140], X[60:140])
    nested = dataset.subset(np.arange(50, 200)).subset(np.array([0, 19, 20, 149, 70]))
    np.testing.assert_array_equal(nested.y[0:5], y[50:200][[0, 19, 20, 149, 70]])
    out = np.empty((4, 5), dtype=np.float32)
    assert np.take(dataset.X, np.array([219, 0, 70, 125]), axis=0, out=out) is out
    np.testing.assert_array_equal(out, X[[219, 0, 70, 125]])
    assert dataset.X.locate(100) == (tmp_path / "shards" / "X_5.npy", 30)
    assert [start for start, _ in dataset.X.chunks(raw=True)][:3] == [0, 30, 60]  # 600 B / 20 B rows


@pytest.mark.parametrize("method", ["standard", "minmax", "pixel"])
def test_chunked_scaler_statistics_equal_the_in_memory_fit(tmp_path, never_whole, method):
    X = features(sum(SHARD_ROWS), seed=1)
    dataset = open_memmap(write_shards(tmp_path / "shards", X, np.zeros(X.shape[0])))
    chunked = fit_scaler(dataset.X, method)
    whole = AffineScaler(method).fit(X)
    np.testing.assert_allclose(chunked.offset_, whole.offset_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(chunked.scale_, whole.scale_, rtol=1e-12)
    assert chunked.scale_[-1] == (1.0 if method != "pixel" else 255.0)


@pytest.mark.parametrize(
    ("kind", "output", "expected"),
    [
        ("multiclass", "auto", Targets("multiclass", "softmax", 3, [0, 1, 2])),
        ("binary_text", "auto", Targets("binary", "sigmoid", 1, ["no", "yes"])),
        ("binary_text", "softmax", Targets("binary", "softmax", 2, ["no", "yes"])),
        ("multilabel", "auto", Targets("multilabel", "sigmoid", 3, [0, 1, 2])),
        ("regression", "auto", Targets("regression", "identity", 2)),
        ("multiclass", "identity", Targets("regression", "identity", 1)),
    ],
)
def test_targets_scanned_chunk_by_chunk_are_those_of_the_whole_array(
    tmp_path, never_whole, kind, output, expected
):
    X = features(sum(SHARD_ROWS), seed=6)
    y = targets(kind, X)
    dataset = open_memmap(write_shards(tmp_path / "shards", X, y))
    assert len(list(row_chunks(dataset.y))) >= 3  # the labels come in several chunks
    assert scan_targets(row_chunks(dataset.y, "labels"), output) == scan_targets([y], output) == expected


def test_a_regression_label_in_a_middle_chunk_makes_the_task_regression(tmp_path, never_whole):
    y = np.arange(220.0)
    y[150] = 0.5  # shard y_10.npy, the only non-whole value
    dataset = open_memmap(write_shards(tmp_path / "shards", features(220), y))
    assert scan_targets(row_chunks(dataset.y, "labels")) == Targets("regression", "identity", 1)


def test_bad_labels_name_the_file_and_row(tmp_path):
    y = np.arange(220.0) % 3
    y[200] = np.nan  # shard y_10.npy, its row 75
    dataset = open_memmap(write_shards(tmp_path / "shards", features(220), y))
    with pytest.raises(ValueError, match=r"labels file .*y_10.npy contains NaN or infinity at row 75$"):
        scan_targets(row_chunks(dataset.y, "labels"))


def test_evaluating_chunk_by_chunk_equals_evaluating_the_array(tmp_path, never_whole):
    X = features(sum(SHARD_ROWS), seed=8)
    y = targets("multiclass", X)
    dataset = open_memmap(write_shards(tmp_path / "shards", X, y))
    model, _, _ = build_model(MappedSplit(dataset, dataset), TrainConfig(hidden=(4,), seed=2))
    encoded = encode_test_targets(model, y)
    chunked = evaluate_model(model, row_chunks(dataset.X), encoded)
    whole = evaluate_model(model, X, encoded)
    assert chunked.keys() == whole.keys()
    assert chunked["loss"] == pytest.approx(whole["loss"], rel=1e-6)
    assert chunked["confusion_matrix"] == whole["confusion_matrix"]
    assert chunked["per_class"] == whole["per_class"]


def test_column_sources_are_checked_and_read_in_chunks_alike(tmp_path, never_whole):
    X = features(30)
    dataset = open_memmap(*write_pair(tmp_path, X, np.arange(30) % 2))
    columns = dataset.X.T
    assert is_mapped(columns) and is_mapped(dataset.X) and not is_mapped(X.T)
    check_columns(columns, 5, 30, "X")
    check_columns(X.T, 5, None, "X")
    with pytest.raises(ValueError, match=r"X from .*X.npy has shape \(5, 30\) .* but \(4, m\) is expected"):
        check_columns(columns, 4, None, "X")
    with pytest.raises(ValueError, match=r"X has shape \(5, 30\) \(columns are samples\) but \(5, 29\)"):
        check_columns(X.T, 5, 29, "X")
    Y = np.arange(30.0).reshape(1, 30)
    blocks = list(column_chunks(columns, Y, 8))
    assert [block.shape for block, _ in blocks] == [(5, 8), (5, 8), (5, 8), (5, 6)]
    np.testing.assert_array_equal(np.hstack([block for block, _ in blocks]), X.T)
    np.testing.assert_array_equal(np.hstack([targets for _, targets in blocks]), Y)
    [(whole, whole_Y)] = column_chunks(X.T, Y, 8)  # arrays stay one chunk
    assert whole.shape == (5, 30) and whole_Y is Y


def test_coded_labels_train_as_their_names(never_whole):
    X = features(60, seed=9)
    codes = targets("multiclass", X)
    names = ["low", "mid", "high"]
    coded = Dataset("coded", X[:45], codes[:45], X[45:], codes[45:], class_names=names)
    named = Dataset("named", X[:45], np.asarray(names)[codes[:45]], X[45:], np.asarray(names)[codes[45:]])
    config = TrainConfig(hidden=(3,), seed=4)
    model, X_cols, Y_cols = build_model(coded, config)
    assert model.labels == names  # the names in code order, not sorted
    np.testing.assert_array_equal(Y_cols.argmax(axis=0), codes[:45])
    reference, _, _ = build_model(named, config)
    assert reference.labels == sorted(names)


def in_memory_dataset(X, y, train, test) -> Dataset:
    return Dataset("whole", X[train], y[train], X[test], y[test], own_split=False)


@pytest.mark.parametrize("kind", ["multiclass", "binary_text", "multilabel", "regression"])
def test_training_from_mapped_shards_equals_training_in_memory(tmp_path, never_whole, kind):
    X = features(sum(SHARD_ROWS), seed=2)
    y = targets(kind, X)
    mapped = open_memmap(write_shards(tmp_path / "shards", X, y))
    mapped_train, mapped_test = mapped.split(0.25, seed=4)
    train, test = mapped_train.X.index, mapped_test.X.index
    config = TrainConfig(hidden=(6,), epochs=3, batch_size=16, lr=0.01, validation_fraction=0.2, seed=3)

    model, X_cols, Y_cols = build_model(MappedSplit(mapped_train, mapped_test), config)
    history = make_trainer(model, config, progress=False).fit(X_cols, Y_cols, 3, validation_fraction=0.2)
    reference, X_ref, Y_ref = build_model(in_memory_dataset(X, y, train, test), config)
    expected = make_trainer(reference, config, progress=False).fit(X_ref, Y_ref, 3, validation_fraction=0.2)

    assert (model.task, model.labels) == (reference.task, reference.labels)
    np.testing.assert_allclose(model.scaler.scale_, reference.scaler.scale_, rtol=1e-12)
    np.testing.assert_array_equal(model.net.theta, reference.net.theta)
    np.testing.assert_array_equal(history.loss, expected.loss)
    np.testing.assert_array_equal(history.val_loss, expected.val_loss)

    report = evaluate_test(model, MappedSplit(mapped_train, mapped_test))
    expected_report = evaluate_model(model, X[test], encode_test_targets(model, y[test]))
    assert report["rows"] == expected_report["rows"] == test.shape[0]
    assert report["loss"] == pytest.approx(expected_report["loss"], rel=1e-6)
    for key in ("accuracy", "confusion_matrix", "mse", "r2"):
        assert (key in report) == (key in expected_report)
        if key in report:
            np.testing.assert_allclose(report[key], expected_report[key], rtol=1e-9)


def test_a_file_pair_trains_like_its_shards(tmp_path, never_whole):
    X = features(sum(SHARD_ROWS), seed=5)
    y = targets("multiclass", X)
    pair = open_memmap(*write_pair(tmp_path, X, y))
    shards = open_memmap(write_shards(tmp_path / "shards", X, y))
    config = TrainConfig(hidden=(4,), epochs=2, batch_size=32, seed=1)
    thetas = []
    for dataset in (pair, shards):
        model, X_cols, Y_cols = build_model(MappedSplit(dataset, dataset), config)
        make_trainer(model, config, progress=False).fit(X_cols, Y_cols, 2)
        thetas.append(model.net.theta)
    np.testing.assert_array_equal(thetas[0], thetas[1])


def mapping_rss_bytes(path: Path) -> int:
    """Resident bytes of this process's mappings of ``path``, from the kernel's /proc/self/smaps."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and len(fields) >= 5:
            inside = fields[-1] == str(path)
        elif inside and fields[0] == "Rss:":
            total += int(fields[1]) * 1024
    return total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the kernel's /proc/self/smaps")
def test_batches_are_read_without_mapping_pages_and_passes_release_theirs(tmp_path, monkeypatch):
    monkeypatch.setattr(mapped, "RELEASE_BYTES", 1 << 40)
    X = np.arange(4096 * 1024, dtype=np.float32).reshape(4096, 1024)  # 16 MiB
    path, _ = write_pair(tmp_path, X, np.zeros(4096))
    rows = open_memmap(path, tmp_path / "y.npy").X
    index = np.random.default_rng(0).permutation(4096)[:2048]
    np.testing.assert_array_equal(rows[index], X[index])  # positional reads: nothing mapped
    assert mapping_rss_bytes(path) < 1 << 20
    np.testing.assert_array_equal(rows[0:4096], X)  # a sequential pass reads through the mapping
    assert mapping_rss_bytes(path) > 12 << 20
    rows.release()
    assert mapping_rss_bytes(path) < 1 << 20


def test_bad_files_name_the_file_row_and_column(tmp_path):
    X = features(20)
    X_path, y_path = write_pair(tmp_path, X, np.arange(20))
    with pytest.raises(ValueError, match=r"labels file .*missing.npy does not exist"):
        open_memmap(X_path, tmp_path / "missing.npy")
    with pytest.raises(ValueError, match=r"needs a labels file \(--labels y.npy\)"):
        open_memmap(X_path)
    np.savez(tmp_path / "both.npz", X=X)
    with pytest.raises(ValueError, match="is an .npz archive"):
        open_memmap(tmp_path / "both.npz", y_path)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}] * 20, dtype=object))
    with pytest.raises(ValueError, match=r"objects.npy is not a readable .npy array"):
        open_memmap(X_path, tmp_path / "objects.npy")
    np.save(tmp_path / "short.npy", np.arange(19))
    with pytest.raises(ValueError, match=r"X.npy has 20 rows but .*short.npy has 19"):
        open_memmap(X_path, tmp_path / "short.npy")
    np.save(tmp_path / "cube.npy", np.zeros((20, 2, 2)))
    with pytest.raises(ValueError, match=r"must be \(m,\) or \(m, k\)"):
        open_memmap(X_path, tmp_path / "cube.npy")
    with pytest.raises(ValueError, match="is a shard folder: its labels are the y_<part>.npy files"):
        open_memmap(tmp_path, y_path)


def test_bad_shards_name_the_shard(tmp_path):
    X = features(sum(SHARD_ROWS))
    X[100, 2] = np.nan  # shard X_5.npy, its row 30
    folder = write_shards(tmp_path / "shards", X, targets("multiclass", features(220)))
    with pytest.raises(ValueError, match=r"X_5.npy contains NaN or infinity at row 30, column 2"):
        fit_scaler(open_memmap(folder).X)
    (folder / "y_10.npy").unlink()
    with pytest.raises(ValueError, match=r"shard .*X_10.npy has no labels file y_10.npy"):
        open_memmap(folder)
    np.save(folder / "y_10.npy", np.zeros(95))
    np.save(folder / "X_10.npy", np.zeros((95, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"features shard .*X_10.npy has rows of shape \(4,\)"):
        open_memmap(folder)
    with pytest.raises(ValueError, match="holds no X_<part>.npy files"):
        open_memmap(tmp_path / "shards" / ".." / "shards" / "..")


def test_trainer_checks_mapped_shapes_without_loading(tmp_path, never_whole):
    X = features(30)
    dataset = open_memmap(*write_pair(tmp_path, X, np.arange(30) % 2))
    config = TrainConfig(hidden=(3,), epochs=1)
    model, X_cols, Y_cols = build_model(MappedSplit(dataset, dataset), config)
    trainer = Trainer(model.net, progress=False)
    with pytest.raises(ValueError, match=r"Y from .*y.npy has shape \(1, 10\) .* but \(1, 30\) is expected"):
        trainer.fit(X_cols, Y_cols[:, np.arange(10)], 1)
    wrong_trainer = Trainer(DNN([4, 1], output_activation="sigmoid"), progress=False)
    with pytest.raises(ValueError, match=r"X from .*X.npy has shape \(5, 30\) .* but \(4, m\) is expected"):
        wrong_trainer.fit(X_cols, Y_cols, 1)


def run_cli(*args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mlpkit.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_cli_trains_on_npy_files_and_reports_the_test_split(tmp_path):
    X = features(300, seed=7)
    y = targets("multiclass", X)
    X_path, y_path = write_pair(tmp_path, X, y)
    out = tmp_path / "model.npz"
    done = run_cli(
        "train",
        "--data",
        X_path,
        "--labels",
        y_path,
        "--hidden",
        "6",
        "--epochs",
        "2",
        "--out",
        out,
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert "memory-mapped" in done.stdout
    summary = json.loads(done.stdout.splitlines()[-1])
    test = open_memmap(X_path, y_path).split(0.2, seed=0)[1].X.index  # the CLI's defaults
    model = load(out)
    assert summary["test_rows"] == test.shape[0]
    assert summary["test_accuracy"] == pytest.approx(np.mean(model.predict(X[test]) == y[test]), abs=1e-12)


def test_cli_bad_npy_data_exits_2_and_writes_no_model(tmp_path):
    X = features(40)
    X[17, 3] = np.inf
    X_path, y_path = write_pair(tmp_path, X, np.arange(40) % 2)
    out = tmp_path / "model.npz"
    for args, message in [
        (["--data", X_path, "--labels", y_path], r"X.npy contains NaN or infinity at row 17, column 3"),
        (["--data", X_path], r"needs a labels file \(--labels y.npy\)"),
        (["--data", "digits", "--labels", y_path], r"--labels applies to --data X.npy"),
    ]:
        done = run_cli("train", *args, "--epochs", "1", "--out", out)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.splitlines()) == 1 and re.search(message, done.stderr), done.stderr
        assert not out.exists()
