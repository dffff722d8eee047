"""Data checked before the first epoch, held-out rows chosen by content, messages in the user's words."""

import csv
import json
import random

import numpy as np
import pytest
from sklearn.datasets import load_iris

from conftest import refuse
from mlpkit.cli import main
from mlpkit.datasets import load_dataset, load_mapped
from mlpkit.datasets.mapped import MappedRows
from mlpkit.datasets.memmap import _check_test_classes


def write_csv(path, header, rows) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


IRIS = load_iris()
IRIS_ROWS = [[*row, IRIS.target_names[label]] for row, label in zip(IRIS.data, IRIS.target, strict=True)]
HEADER = ["a", "b", "c", "d", "species"]


# ---------------------------------------------------------------------- held-out rows by content
def test_the_test_rows_are_the_same_rows_in_any_order(tmp_path):
    write_csv(tmp_path / "in_order.csv", HEADER, IRIS_ROWS)
    shuffled = random.Random(4).sample(IRIS_ROWS, len(IRIS_ROWS))
    write_csv(tmp_path / "shuffled.csv", HEADER, shuffled)
    order = [4, 2, 0, 3, 1]  # columns moved too: the target first
    write_csv(
        tmp_path / "moved.csv", [HEADER[j] for j in order], [[row[j] for j in order] for row in shuffled]
    )
    tests = []
    for name in ("in_order.csv", "shuffled.csv", "moved.csv"):
        data = load_dataset(tmp_path / name, target="species", seed=3)
        rows = np.column_stack([data.X_test.column(column).values for column in "abcd"])
        tests.append(sorted(zip(map(tuple, rows.tolist()), data.y_test.tolist(), strict=True)))
        assert data.test_rows is not None
    assert tests[0] == tests[1] == tests[2]
    other_seed = load_dataset(tmp_path / "in_order.csv", seed=4)
    assert other_seed.test_rows != load_dataset(tmp_path / "in_order.csv", seed=3).test_rows


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8])
def test_an_npz_in_another_row_order_gives_the_same_test_rows(dtype, tmp_path):
    X = (IRIS.data * 10).astype(dtype)
    order = np.random.default_rng(5).permutation(len(X))
    np.savez(tmp_path / "a.npz", X=X, y=IRIS.target)
    np.savez(tmp_path / "b.npz", X=X[order], y=IRIS.target[order])
    a, b = (load_dataset(tmp_path / name, seed=11) for name in ("a.npz", "b.npz"))
    rows = [sorted(map(tuple, np.column_stack([d.X_test, d.y_test]).tolist())) for d in (a, b)]
    assert rows[0] == rows[1] and a.test_rows == b.test_rows
    assert sorted(order[b.test_positions].tolist()) == a.test_positions.tolist()  # the same file rows


def test_the_content_split_keeps_the_classes_proportions(tmp_path):
    y = np.repeat([0, 1, 2], [50, 30, 7])
    X = np.random.default_rng(0).normal(size=(len(y), 3))
    np.savez(tmp_path / "d.npz", X=X, y=y)
    data = load_dataset(tmp_path / "d.npz", test_fraction=0.2)
    counts = np.bincount(data.y_test, minlength=3)
    assert counts.tolist() == [10, 6, 1]  # round(0.2 * count) of each class: 10, 6, 1.4 -> 1
    assert np.bincount(data.y_train).tolist() == [40, 24, 6]


def test_repeated_rows_are_spread_over_train_and_test_in_any_order(tmp_path):
    # A table of few distinct rows (as titanic's 1,316 rows hold 24): a hash of the content alone
    # would hold out every copy of a row or none; each row's copies split like any rows instead.
    distinct = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 0.5]])
    X = np.repeat(distinct, 50, axis=0)
    y = np.repeat([0, 1, 0, 1], 50)
    order = np.random.default_rng(3).permutation(len(y))
    np.savez(tmp_path / "a.npz", X=X, y=y)
    np.savez(tmp_path / "b.npz", X=X[order], y=y[order])
    a, b = (load_dataset(tmp_path / name, test_fraction=0.2, seed=2) for name in ("a.npz", "b.npz"))
    held_out = [(a.X_test == row).all(axis=1).sum() for row in distinct]
    assert sum(held_out) == 40 and all(5 <= count <= 15 for count in held_out)  # about 10 of each 50
    rows = [sorted(map(tuple, np.column_stack([d.X_test, d.y_test]).tolist())) for d in (a, b)]
    assert rows[0] == rows[1] and a.test_rows == b.test_rows  # the same test rows in any order


def test_evaluate_after_reordering_reports_what_train_reported_and_refuses_edited_rows(tmp_path, capsys):
    path = tmp_path / "iris.csv"
    write_csv(path, HEADER, IRIS_ROWS)
    argv = ["train", "--data", path, "--epochs", "3", "--json", "--quiet", "--out", tmp_path / "m.npz"]
    assert main([str(arg) for arg in argv]) == 0
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    write_csv(path, HEADER, random.Random(7).sample(IRIS_ROWS, len(IRIS_ROWS)))
    assert main(["evaluate", str(tmp_path / "m.npz"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] == trained["test_accuracy"] and report["loss"] == pytest.approx(
        trained["test_loss"]
    )
    edited = [[row[0] + 10, *row[1:]] for row in IRIS_ROWS]  # every row moved: the test rows are gone
    write_csv(path, HEADER, edited)
    refuse(capsys, ["evaluate", tmp_path / "m.npz"], "no longer holds the rows", "cannot be drawn again")


# ---------------------------------------------------------------------- labels and values
@pytest.mark.parametrize(
    "y, fragments",
    [
        (IRIS.target.astype("datetime64[D]"), ["y must hold numbers or text labels", "datetime64[D]"]),
        (IRIS.target.astype(complex), ["y must hold numbers or text labels", "complex128"]),
        (np.stack([IRIS.target_names[IRIS.target]] * 2, axis=1), ["y has shape (150, 2) and holds text"]),
    ],
    ids=["datetime64", "complex", "2-D text"],
)
def test_labels_that_cannot_be_a_target_are_refused_before_training(y, fragments, tmp_path, capsys):
    np.savez(tmp_path / "d.npz", X=IRIS.data, y=y)
    line = refuse(capsys, ["train", "--data", tmp_path / "d.npz", "--out", tmp_path / "m.npz"], *fragments)
    assert "identity" not in line and not (tmp_path / "m.npz").exists()


def test_bytes_labels_train_as_text(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", X=IRIS.data, y=IRIS.target_names[IRIS.target].astype("S"))
    argv = ["train", "--data", tmp_path / "d.npz", "--epochs", "2", "--quiet", "--out", tmp_path / "m.npz"]
    assert main([str(arg) for arg in argv]) == 0
    assert main(["info", str(tmp_path / "m.npz"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["labels"] == list(IRIS.target_names)


def test_bad_values_are_named_by_file_row_and_column(tmp_path, capsys):
    np.savez(tmp_path / "zero.npz", X=np.zeros((150, 0)), y=IRIS.target)
    refuse(capsys, ["train", "--data", tmp_path / "zero.npz"], "zero.npz: X has no columns (shape (150, 0))")
    X = IRIS.data.copy()
    X[3, 1] = 1e308
    np.savez(tmp_path / "huge.npz", X=X, y=IRIS.target)
    refuse(capsys, ["train", "--data", tmp_path / "huge.npz"], "huge.npz: X has 1e+308 at row 3, column 1")
    write_csv(tmp_path / "train.csv", HEADER, IRIS_ROWS)
    train = ["train", "--data", tmp_path / "train.csv", "--epochs", "1", "--quiet"]
    assert main([str(arg) for arg in [*train, "--out", tmp_path / "m.npz"]]) == 0
    capsys.readouterr()
    write_csv(tmp_path / "rows.csv", HEADER[:4], [[1, 2, 3, 4], [5, 1e300, 1, 1]])
    line = refuse(
        capsys, ["predict", tmp_path / "m.npz", tmp_path / "rows.csv"], "rows.csv, row 2, column 'b'"
    )
    assert "1e+300 is beyond float32's range" in line
    write_csv(tmp_path / "other.csv", HEADER, [IRIS_ROWS[0], [*IRIS_ROWS[1][:4], "rose"]])
    argv = ["evaluate", tmp_path / "m.npz", "--data", tmp_path / "other.csv"]
    refuse(capsys, argv, "label 'rose' at row 2 that the model does not know")


def test_options_are_named_as_the_command_line_spells_them(tmp_path, capsys):
    refuse(
        capsys,
        ["train", "--data", "iris", "--test-fraction", "0.001"],
        "--test-fraction 0.001 holds out no rows",
    )
    refuse(capsys, ["train", "--data", "iris", "--l2", "1e308", "--out", tmp_path / "m.npz"], "--l2 1e+308")


def test_a_test_label_no_training_row_has_is_refused_before_training(tmp_path, capsys):
    y_test = np.array([0, 1, 2, 5, 1])
    np.savez(
        tmp_path / "own.npz", X_train=IRIS.data, y_train=IRIS.target, X_test=IRIS.data[:5], y_test=y_test
    )
    refuse(
        capsys, ["train", "--data", tmp_path / "own.npz"], "y_test[3] is label 5, which no training row has"
    )


# ---------------------------------------------------------------------- memory-mapped data
def test_a_memory_mapped_split_keeps_every_class_in_training(tmp_path, capsys):
    y = np.zeros(200, dtype=np.int64)
    y[100:] = 1
    y[0] = 2  # the only row of class 2: a positional split could leave it to the test rows
    X = np.random.default_rng(0).normal(size=(200, 3)) + y[:, None]
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    for seed in range(10):
        split = load_mapped(tmp_path / "X.npy", tmp_path / "y.npy", seed=seed)
        train_labels = np.concatenate([block for _, block in split.y_train.chunks()])
        assert 2 in train_labels and np.bincount(train_labels).tolist() == [79, 80, 1]  # 99 - 20, 100 - 20, 1
    argv = ["train", "--data", tmp_path / "X.npy", "--labels", tmp_path / "y.npy", "--epochs", "1", "--quiet"]
    assert main([str(arg) for arg in [*argv, "--out", tmp_path / "m.npz"]]) == 0


def test_a_class_only_in_the_test_rows_is_named_by_its_file_row(tmp_path):
    labels = np.array([0, 0, 1, 1, 7, 0])
    np.save(tmp_path / "y.npy", labels)
    rows = MappedRows([np.load(tmp_path / "y.npy", mmap_mode="r")], [tmp_path / "y.npy"])
    with pytest.raises(ValueError, match=r"y.npy: label 7 at row 4 is in the test rows only"):
        _check_test_classes(rows, labels, np.array([0, 1, 2, 5]), np.array([3, 4]))


def test_resume_refuses_a_replaced_memory_mapped_file(tmp_path, capsys):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(120, 3)), rng.integers(0, 2, 120)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    argv = ["train", "--data", tmp_path / "X.npy", "--labels", tmp_path / "y.npy", "--quiet"]
    argv += ["--checkpoint-dir", tmp_path / "ckpt", "--out", tmp_path / "m.npz"]
    assert main([str(arg) for arg in [*argv, "--epochs", "1"]]) == 0
    capsys.readouterr()
    np.save(tmp_path / "X.npy", X[::-1] * 2)  # same shape, other data
    refuse(capsys, [*argv, "--epochs", "2", "--resume"], "--resume", "the training data differ")


def test_a_target_with_a_class_per_row_is_refused_as_naming_the_rows(tmp_path, capsys):
    header, rows = ["x", "name"], [[i * 0.5, f"row {i}"] for i in range(30)]  # every label its own class
    write_csv(tmp_path / "ids.csv", header, rows)
    refuse(
        capsys,
        ["train", "--data", tmp_path / "ids.csv", "--out", tmp_path / "m.npz"],
        "--test-fraction 0.2 holds out no rows out of 30",
        "30 classes have at most 1 row(s) each",
    )


@pytest.mark.parametrize(("separator", "name"), [(";", "semicolons"), ("\t", "tabs")])
def test_a_file_separated_otherwise_is_refused_with_a_conversion_that_works(
    separator, name, tmp_path, capsys
):
    import pandas as pd

    rows = [
        [f"{x:.1f}".replace(".", "," if separator == ";" else "."), y]
        for x, y in zip(IRIS.data[:, 2], IRIS.target, strict=True)
    ]
    path = tmp_path / "european.csv"
    path.write_text("\n".join(separator.join(map(str, row)) for row in [["petal", "species"], *rows]) + "\n")
    out = tmp_path / "m.npz"
    line = refuse(
        capsys, ["train", path, "--out", out], f"european.csv: the header has no comma but is split by {name}"
    )
    assert not out.exists()
    # the conversion the message gives reads the file back as the numbers it holds
    options = {"sep": separator, "decimal": "," if separator == ";" else "."}
    assert f"sep={separator!r}" in line and ("decimal=','" in line) == (separator == ";")
    converted = pd.read_csv(path, **options)
    np.testing.assert_allclose(converted["petal"], np.round(IRIS.data[:, 2], 1))
    converted.to_csv(tmp_path / "converted.csv", index=False)
    assert (
        main(["train", str(tmp_path / "converted.csv"), "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    )
