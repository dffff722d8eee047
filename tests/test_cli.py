"""The mlpkit command: subprocess runs for exit codes, JSON and files; metrics against scikit-learn."""

import csv
import dataclasses
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    log_loss,
    mean_squared_error,
    precision_recall_fscore_support,
    r2_score,
)

import mlpkit
from mlpkit.cli import build_parser, main
from mlpkit.cli.settings import train_config
from mlpkit.datasets import load_dataset
from mlpkit.training.config import CHOICES, TrainConfig


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlpkit.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert result.stdout == ""


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory):
    """Iris with text labels in a CSV whose target column sits in the middle."""
    iris = load_iris()
    path = tmp_path_factory.mktemp("data") / "iris.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sepal_length", "sepal_width", "species", "petal_length", "petal_width"])
        for row, label in zip(iris.data, iris.target, strict=True):
            writer.writerow([*row[:2], iris.target_names[label], *row[2:]])
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained by a real subprocess on the named iris set, with its --json summary."""
    folder = tmp_path_factory.mktemp("run")
    result = run_cli(
        "train", "--data", "iris", "--hidden", "16", "--lr", "0.05", "--epochs", "20", "--batch-size", "16",
        "--no-early-stopping", "--validation-fraction", "0.1", "--json", "--out", folder / "iris.npz",
        cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return folder / "iris.npz", result.stdout


# ---------------------------------------------------------------------- train
def test_train_prints_config_epochs_summary_and_json(trained):
    path, stdout = trained
    lines = stdout.strip().splitlines()
    assert lines[0].startswith("data      iris: 120 train / 30 test rows, 4 features, 3 classes")
    assert lines[1].startswith(
        "network   4-16-3, relu hidden, softmax output (multiclass), float32, 131 parameters"
    )
    assert sum(line.startswith("epoch ") for line in lines) == 20
    assert "val_loss" in lines[3] and "val_accuracy" in lines[3]
    summary = json.loads(lines[-1])
    assert {"test_accuracy", "test_loss", "epochs", "train_seconds", "model"} <= set(summary)
    assert summary["epochs"] == 20 and summary["model"] == str(path)
    assert f"test accuracy {summary['test_accuracy']:.4f}" in lines[-2]
    # The reported accuracy, recomputed by scikit-learn from the saved model on the same test split.
    data = load_dataset("iris", seed=0)
    predicted = mlpkit.load(path).predict(data.X_test)
    expected = accuracy_score(np.asarray(data.class_names)[data.y_test], predicted)
    assert summary["test_accuracy"] == pytest.approx(expected, abs=1e-12)
    assert summary["test_accuracy"] >= 0.8


def test_evaluate_reproduces_train_and_matches_scikit_learn(trained):
    path, stdout = trained
    summary = json.loads(stdout.strip().splitlines()[-1])
    result = run_cli("evaluate", path, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert round(report["accuracy"], 4) == round(summary["test_accuracy"], 4)
    data = load_dataset("iris", seed=0)
    model = mlpkit.load(path)
    probabilities = model.predict_proba(data.X_test)
    predicted = probabilities.argmax(axis=1)
    assert report["loss"] == pytest.approx(log_loss(data.y_test, probabilities, labels=[0, 1, 2]), rel=1e-5)
    assert report["confusion_matrix"] == confusion_matrix(data.y_test, predicted, labels=[0, 1, 2]).tolist()
    precision, recall, f1, support = precision_recall_fscore_support(
        data.y_test, predicted, labels=[0, 1, 2], zero_division=0
    )
    np.testing.assert_allclose([row["precision"] for row in report["per_class"]], precision, rtol=1e-12)
    np.testing.assert_allclose([row["recall"] for row in report["per_class"]], recall, rtol=1e-12)
    np.testing.assert_allclose([row["f1"] for row in report["per_class"]], f1, rtol=1e-12)
    assert [row["support"] for row in report["per_class"]] == support.tolist()
    assert [row["label"] for row in report["per_class"]] == ["setosa", "versicolor", "virginica"]


def test_evaluate_text_report(trained, capsys):
    path, _ = trained
    assert main(["evaluate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "on iris (test split, 30 rows)" in out
    assert "precision" in out and "confusion matrix" in out and "virginica" in out


def test_info(trained, capsys):
    path, _ = trained
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"] == 16 * (4 + 1) + 3 * (16 + 1)
    assert info["format_version"] == 1 and info["dtype"] == "float32" and info["task"] == "multiclass"
    assert info["architecture"]["layer_sizes"] == [4, 16, 3]
    assert info["config"]["lr"] == 0.05 and info["config"]["batch_size"] == 16
    assert info["metrics"]["epochs"] == 20 and info["epochs_trained"] == 20
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "4-16-3 (relu, softmax)" in text and "parameters     131" in text and "version 1" in text


# ---------------------------------------------------------------------- train flags from TrainConfig
def parse_train(*flags: str):
    return build_parser().parse_args(["train", *flags])


def test_train_flags_are_the_config_settings_with_their_defaults():
    args = parse_train()
    for setting in TrainConfig.settings():
        assert getattr(args, setting.name) == setting.metadata.get("cli", setting.default)
    # the command line's own defaults: a validation share, early stopping, sizes from the data
    expected = TrainConfig(
        **{name: None for name in ("validation_fraction", "early_stopping", "hidden", "patience", "l2")},
        batch_size=None,
        epochs=None,
    )
    assert train_config(args) == expected
    parser = build_parser()._subparsers._group_actions[0].choices["train"]
    choices = {action.dest: action.choices for action in parser._actions if action.choices}
    assert choices == {name: CHOICES[name] for name in choices} and set(choices) == set(CHOICES)


@pytest.mark.parametrize(
    ("rows", "batch", "epochs", "hidden", "l2", "fraction", "stopping", "patience"),
    [
        # iris: 2^round(log2(3.75)) = 4 -> 16; ceil(4000*16/120) -> 300; small: L2 instead of stopping
        (120, 16, 300, (100,), 0.3, 0.0, False, 60),
        (1437, 32, 90, (100,), 0.3, 0.0, False, 18),  # digits: 2^round(log2(44.9)) = 32; ceil(4000*32/1437)
        (2000, 64, 128, (256, 128), 0.0, 0.1, True, 26),  # 2^round(log2(62.5)) = 64; ceil(4000*64/2000) = 128
        (60000, 128, 10, (256, 128), 0.0, 0.1, True, 10),  # Fashion-MNIST: ceil(4000*128/60000) = 9 -> 10
    ],
)
def test_data_size_defaults_follow_the_documented_rule(
    rows, batch, epochs, hidden, l2, fraction, stopping, patience
):
    settled = train_config(parse_train()).settled(rows)
    assert (settled.batch_size, settled.epochs, settled.hidden, settled.l2) == (batch, epochs, hidden, l2)
    assert (settled.validation_fraction, settled.early_stopping, settled.patience) == (
        fraction,
        stopping,
        patience,
    )


def test_a_setting_given_overrides_the_data_size_rule():
    small = train_config(parse_train("--hidden", "32", "--patience", "3", "--l2", "0")).settled(150)
    assert (small.hidden, small.patience, small.l2) == ((32,), 3, 0.0)
    assert train_config(parse_train("--hidden", "")).settled(150).hidden == ()  # logistic regression stays
    stopped = train_config(parse_train("--early-stopping")).settled(150)  # stopping asked for: a split too
    assert (stopped.early_stopping, stopped.validation_fraction) == (True, 0.1)
    large = train_config(parse_train("--no-early-stopping", "--validation-fraction", "0.3")).settled(10**5)
    assert (large.early_stopping, large.validation_fraction, large.l2) == (False, 0.3, 0.0)


def test_every_setting_reaches_the_config():
    args = parse_train(
        "--hidden", "", "--activation", "tanh", "--output", "softmax", "--dtype", "float64",
        "--optimizer", "sgd", "--lr", "0.5", "--batch-size", "7", "--epochs", "3", "--l2", "0.01",
        "--dropout", "0.25", "--no-shuffle", "--seed", "4", "--validation-fraction", "0",
        "--early-stopping", "--patience", "2", "--tol", "1e-3", "--data", "iris", "--target", "y",
        "--test-fraction", "0.4",
    )  # fmt: skip
    config = train_config(args)
    assert config == TrainConfig(
        hidden=(), activation="tanh", output="softmax", dtype="float64", optimizer="sgd", lr=0.5,
        batch_size=7, epochs=3, l2=0.01, dropout=0.25, shuffle=False, seed=4, validation_fraction=0.0,
        early_stopping=True, patience=2, tol=1e-3, data="iris", target="y", test_fraction=0.4,
    )  # fmt: skip


def test_a_new_setting_is_a_flag_without_touching_the_cli(monkeypatch):
    from mlpkit.cli import settings

    @dataclasses.dataclass(frozen=True)
    class Extended(TrainConfig):
        warmup: int = dataclasses.field(default=0, metadata={"help": "warm-up epochs"})
        decay: float | None = dataclasses.field(default=None, metadata={"help": "decay", "cli": 0.5})

    monkeypatch.setattr(settings, "TrainConfig", Extended)
    args = parse_train("--warmup", "3", "--lr", "0.1")
    config = settings.train_config(args)
    assert isinstance(config, Extended) and (config.warmup, config.decay, config.lr) == (3, 0.5, 0.1)


def test_range_errors_come_from_the_config_and_name_the_flag(tmp_path, capsys):
    assert main(["train", "--tol", "-1", "--out", str(tmp_path / "m.npz")]) == 2
    error = capsys.readouterr().err
    assert error == (
        "mlpkit train: error: argument --tol: must be a finite number >= 0, got -1.0"
        " (see mlpkit train --help)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_test_fraction_and_no_shuffle_reach_the_run(tmp_path, capsys):
    argv = ["train", "--data", "iris", "--hidden", "4", "--epochs", "2", "--quiet", "--json"]
    out = tmp_path / "m.npz"
    assert main([*argv, "--test-fraction", "0.4", "--no-shuffle", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["test_rows"] == 60  # 40% of iris's 150 rows
    config = mlpkit.load(out).config
    assert config["test_fraction"] == 0.4 and config["shuffle"] is False


# ---------------------------------------------------------------------- CSV data, predict
def test_csv_with_text_labels_train_evaluate_predict(iris_csv, tmp_path, capsys):
    model_path = tmp_path / "species.npz"
    argv = ["train", "--data", str(iris_csv), "--target", "species", "--hidden", "8", "--epochs", "30"]
    assert main([*argv, "--lr", "0.05", "--batch-size", "16", "--out", str(model_path), "--quiet"]) == 0
    summary_line = capsys.readouterr().out.strip().splitlines()
    assert len(summary_line) == 1 and summary_line[0].startswith("test accuracy")
    model = mlpkit.load(model_path)
    assert model.labels == ["setosa", "versicolor", "virginica"]
    assert model.config["feature_names"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]

    # predict reads the feature columns by name (the species column is ignored) and writes labels.
    assert main(["predict", str(model_path), str(iris_csv), "--proba"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    iris = load_iris()
    rows = dict(zip(model.config["feature_names"], iris.data.T, strict=True))
    assert [line["prediction"] for line in table] == model.predict(rows).tolist()
    probabilities = np.array([[float(line[f"proba_{n}"]) for n in model.label_names] for line in table])
    np.testing.assert_allclose(probabilities, model.predict_proba(rows), rtol=1e-6)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)

    # The training file itself is evaluated on its test split, like train did.
    assert main(["evaluate", str(model_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] == pytest.approx(model.metrics["test_accuracy"], abs=1e-12)
    assert report["rows"] == 30


def test_the_data_may_be_given_as_the_first_argument(iris_csv, tmp_path, capsys):
    common = ["--target", "species", "--hidden", "8", "--epochs", "3", "--seed", "1", "--quiet"]
    assert main(["train", "--data", str(iris_csv), *common, "--out", str(tmp_path / "flag.npz")]) == 0
    assert main(["train", str(iris_csv), *common, "--out", str(tmp_path / "first.npz")]) == 0
    by_flag, by_position = mlpkit.load(tmp_path / "flag.npz"), mlpkit.load(tmp_path / "first.npz")
    assert by_position.config["data"] == by_flag.config["data"] == str(iris_csv)
    np.testing.assert_array_equal(by_position.net.theta, by_flag.net.theta)
    capsys.readouterr()
    twice = ["train", str(iris_csv), "--data", str(tmp_path / "other.csv")]
    assert main([*twice, *common, "--out", str(tmp_path / "x.npz")]) == 2
    assert "the data is given twice" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()
    # evaluate likewise: MODEL DATA reports what MODEL --data DATA reports
    reports = []
    model = str(tmp_path / "flag.npz")
    for argv in ([model, str(iris_csv), "--json"], [model, "--data", str(iris_csv), "--json"]):
        assert main(["evaluate", *argv]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    assert main(["evaluate", model, "--json", str(iris_csv)]) == 0  # DATA after an option
    reports.append(json.loads(capsys.readouterr().out))
    assert reports[0] == reports[1] == reports[2] and reports[0]["rows"] == 30
    with pytest.raises(SystemExit) as usage:  # argparse's own exit, as for any unknown argument
        main(["evaluate", model, "--json", str(iris_csv), "stray"])
    assert usage.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "flag.npz"), str(iris_csv), "--data", "iris"]) == 2
    assert "the data is given twice" in capsys.readouterr().err


def test_predict_writes_a_file_atomically(trained, tmp_path):
    path, _ = trained
    np.savez(tmp_path / "rows.npz", X=load_iris().data[:5])
    out = tmp_path / "predictions.csv"
    result = run_cli("predict", path, tmp_path / "rows.npz", "--output", out)
    assert result.returncode == 0 and result.stdout == ""
    lines = out.read_text().splitlines()
    assert lines[0] == "prediction" and len(lines) == 6
    assert lines[1:] == mlpkit.load(path).predict(load_iris().data[:5]).tolist()


def test_evaluate_a_separate_whole_file(trained, tmp_path, capsys):
    path, _ = trained
    iris = load_iris()
    np.savez(tmp_path / "all.npz", X=iris.data, y=np.asarray(iris.target_names)[iris.target])
    assert main(["evaluate", str(path), "--data", str(tmp_path / "all.npz"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    predicted = mlpkit.load(path).predict(iris.data)
    assert report["rows"] == 150
    assert report["accuracy"] == pytest.approx(accuracy_score(iris.target_names[iris.target], predicted))


def test_binary_and_regression_metrics_match_scikit_learn(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y_binary = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    y_value = X @ [0.5, -1.0, 2.0] + 0.1 * rng.normal(size=200)
    np.savez(tmp_path / "binary.npz", X=X, y=y_binary)
    np.savez(tmp_path / "value.npz", X=X, y=y_value)
    for name in ("binary", "value"):
        argv = ["train", "--data", str(tmp_path / f"{name}.npz"), "--hidden", "8", "--epochs", "15"]
        assert (
            main([*argv, "--lr", "0.02", "--batch-size", "20", "--out", str(tmp_path / f"{name}-model.npz")])
            == 0
        )
    capsys.readouterr()
    binary = mlpkit.load(tmp_path / "binary-model.npz")
    assert binary.task == "binary" and binary.net.layer_sizes[-1] == 1 and binary.labels == ["no", "yes"]
    assert main(["evaluate", str(tmp_path / "binary-model.npz"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    data = load_dataset(tmp_path / "binary.npz", seed=0)
    probabilities = binary.predict_proba(data.X_test)
    assert report["loss"] == pytest.approx(
        log_loss(data.y_test, probabilities, labels=["no", "yes"]), rel=1e-5
    )

    value = mlpkit.load(tmp_path / "value-model.npz")
    assert value.task == "regression"
    assert main(["evaluate", str(tmp_path / "value-model.npz"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    data = load_dataset(tmp_path / "value.npz", seed=0)
    predicted = value.predict(data.X_test)
    assert report["mse"] == pytest.approx(mean_squared_error(data.y_test, predicted), rel=1e-5)
    assert report["r2"] == pytest.approx(r2_score(data.y_test, predicted), rel=1e-5)
    assert report["loss"] == pytest.approx(mean_squared_error(data.y_test, predicted) / 2, rel=1e-4)
    assert main(["predict", str(tmp_path / "value-model.npz"), str(tmp_path / "value.npz")]) == 0
    column = capsys.readouterr().out.splitlines()
    np.testing.assert_allclose([float(v) for v in column[1:]], value.predict(X), rtol=1e-6)


# ---------------------------------------------------------------------- failures
def test_bad_option_values_exit_2_in_one_line(tmp_path):
    result = run_cli("train", "--lr", "-1", "--out", tmp_path / "m.npz")
    assert_one_line_error(result, 2, "argument --lr: must be a finite number > 0, got -1.0")
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["train", "--hidden", "12,x"], ["--hidden", "comma-separated integers"]),
        (["train", "--optimizer", "lbfgs"], ["--optimizer", "invalid choice: 'lbfgs'"]),
        (["train", "--dropout", "1"], ["--dropout", "must be in [0, 1)"]),
        (["train", "--batch-size", "0"], ["--batch-size", "integer >= 1"]),
        (["train", "--data", "fashion"], ["Unknown dataset 'fashion'", "fashion-mnist"]),
        (["train", "--data", "iris", "--target", "species"], ["applies to CSV and Parquet files only"]),
        (["train", "--data", "iris", "--out", "no/such/folder/m.npz"], ["--out", "does not exist"]),
        (["train", "--data", "iris", "--plot", "curves.txt"], ["--plot", "must end in one of"]),
        (["train", "--data", "absent.csv"], ["absent.csv: no such file"]),
        (["evaluate", "absent.npz"], ["absent.npz: no such model file"]),
        (["frobnicate"], ["invalid choice: 'frobnicate'"]),
    ],
)
def test_usage_errors(argv, fragments, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as caught:
        code = main([*argv])
        raise SystemExit(code)
    assert caught.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and captured.out == ""
    for fragment in fragments:
        assert fragment in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_bad_csv_names_file_row_and_column(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,2,0.5\n3,oops,\n")
    result = run_cli("train", "--data", bad, "--out", tmp_path / "m.npz")
    assert_one_line_error(result, 2, "bad.csv, row 2, column 'label': missing target value")
    assert not (tmp_path / "m.npz").exists()
    missing = run_cli("train", "--data", bad, "--target", "class", "--out", tmp_path / "m.npz")
    assert_one_line_error(missing, 2, "no target column 'class'", "['a', 'b', 'label']")


def test_model_and_data_that_do_not_fit(trained, tmp_path, capsys):
    path, _ = trained
    (tmp_path / "three.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(SystemExit) as caught:
        raise SystemExit(
            main(["predict", str(path), str(tmp_path / "three.csv"), "--output", str(tmp_path / "p.csv")])
        )
    assert caught.value.code == 2
    assert "has 3 columns but the model takes 4 features" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()
    np.savez(tmp_path / "wide.npz", X=np.zeros((4, 5)), y=np.array(["setosa"] * 4))
    assert main(["evaluate", str(path), "--data", str(tmp_path / "wide.npz")]) == 2
    assert "5 feature columns but the model takes 4" in capsys.readouterr().err
    np.savez(tmp_path / "alien.npz", X=np.zeros((2, 4)), y=np.array(["setosa", "rose"]))
    assert main(["evaluate", str(path), "--data", str(tmp_path / "alien.npz")]) == 2
    assert "label 'rose' at row 1 that the model does not know" in capsys.readouterr().err


def test_corrupted_model_file(trained, tmp_path):
    data = trained[0].read_bytes()
    broken = tmp_path / "broken.npz"
    broken.write_bytes(data[: len(data) // 2])
    assert_one_line_error(run_cli("info", broken), 2, "broken.npz: not a zip archive")


def test_divergence_exits_1_and_writes_no_model(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    np.savez(tmp_path / "big.npz", X=X, y=X @ [1e3, 2e3, 3e3])
    result = run_cli(
        "train", "--data", tmp_path / "big.npz", "--optimizer", "sgd", "--lr", "1000", "--epochs", "5",
        "--quiet", "--out", tmp_path / "m.npz",
    )  # fmt: skip
    assert_one_line_error(result, 1, "Training diverged", "smaller learning rate", "No model was written")
    assert not (tmp_path / "m.npz").exists()


def test_plot_writes_training_curves(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra")
    curves = tmp_path / "curves.png"
    argv = ["train", "--data", "planar", "--hidden", "4", "--epochs", "2", "--quiet", "--json"]
    assert main([*argv, "--out", str(tmp_path / "m.npz"), "--plot", str(curves)]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["plot"] == str(curves)
    assert curves.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
