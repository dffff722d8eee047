"""Bad input: every case raises ValueError (or exits 2) naming the problem, where it is and what is allowed.

Library, estimators and the command line, for the cases the module tests do not already
cover. The command runs in-process through ``main`` (an escaping exception fails the test),
and each case checks that no file was created and an existing output file kept its bytes.
"""

import numpy as np
import pytest
from sklearn.datasets import load_iris

from mlpkit import DNN, MLPClassifier, MLPRegressor, train
from mlpkit.cli import main
from mlpkit.training.config import TrainConfig


@pytest.fixture
def columns():
    """A small binary problem in the engine's layout (columns are samples)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 20))
    return X, (X[:1] > 0).astype(float)


def with_entry(array: np.ndarray, row: int, column: int, value: float) -> np.ndarray:
    changed = array.astype(np.float64)  # a copy
    changed[row, column] = value
    return changed


# ---------------------------------------------------------------------- the engine and the trainer
@pytest.mark.parametrize(
    ("make_data", "message"),
    [
        (
            lambda X, Y: (X, with_entry(Y, 0, 5, np.nan)),
            r"Y \(as rows x outputs\) contains NaN or infinity at row 5, column 0",
        ),
        (
            lambda X, Y: (X, with_entry(Y, 0, 9, -np.inf)),
            r"Y \(as rows x outputs\) contains NaN or infinity at row 9, column 0",
        ),
        (
            lambda X, Y: (with_entry(X, 1, 3, np.inf), Y),
            r"X \(as rows x features\) contains NaN or infinity at row 3, column 1",
        ),
        (lambda X, Y: (X, Y[None]), r"Y must have shape \(n_L, m\) = \(1, 20\) to match X, got \(1, 1, 20\)"),
        (lambda X, Y: (X[:, :0], Y[:, :0]), r"X has no samples \(m = 0\)"),
        (
            lambda X, Y: (X, np.array([["a"] * 20])),
            r"Y must hold numbers \(one-hot or 0/1 labels\), got dtype <U1",
        ),
        (lambda X, Y: (X.astype(object), Y), r"X must hold real numbers, got dtype object"),
        (lambda X, Y: (X.astype(bool), Y), r"X must hold real numbers, got dtype bool"),
    ],
)
def test_bad_training_data(columns, make_data, message):
    with pytest.raises(ValueError, match=message):
        train(DNN([2, 3, 1], seed=0), *make_data(*columns), epochs=1)


def test_empty_data_is_named_before_a_validation_split_is_tried(columns):
    X, Y = columns
    with pytest.raises(ValueError, match=r"X has no samples \(m = 0\)"):
        train(DNN([2, 3, 1], seed=0), X[:, :0], Y[:, :0], epochs=1, validation_fraction=0.2)
    with pytest.raises(ValueError, match=r"validation X has no samples \(m = 0\)"):
        train(DNN([2, 3, 1], seed=0), X, Y, epochs=1, validation_data=(X[:, :0], Y[:, :0]))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"learning_rate": -1.0}, r"learning_rate must be a finite number > 0, got -1.0"),
        ({"learning_rate": float("nan")}, r"learning_rate must be a finite number > 0, got nan"),
        ({"learning_rate": float("inf")}, r"learning_rate must be a finite number > 0, got inf"),
        ({"learning_rate": "0.1"}, r"learning_rate must be a finite number > 0, got '0.1'"),
        ({"batch_size": True}, r"batch_size must be an integer >= 1, got True"),
        ({"batch_size": 2.5}, r"batch_size must be an integer >= 1, got 2.5"),
        ({"epochs": 2.5}, r"epochs must be an integer >= 1, got 2.5"),
        ({"epochs": -3}, r"epochs must be an integer >= 1, got -3"),
        ({"dropout": -0.1}, r"dropout must be in \[0, 1\), got -0.1"),
        ({"dropout": float("nan")}, r"dropout must be in \[0, 1\), got nan"),
        ({"patience": 0}, r"patience must be an integer >= 1, got 0"),
        (
            {"optimizer": "Adam"},
            r"Unknown optimizer 'Adam'; expected one of \['adam', 'adamw', 'gd', 'momentum'",
        ),
    ],
)
def test_bad_training_settings(columns, options, message):
    with pytest.raises(ValueError, match=message):
        train(DNN([2, 3, 1], seed=0), *columns, **{"epochs": 1, **options})


def test_prediction_refuses_non_finite_input_and_another_width():
    net = DNN([3, 4, 2], "relu", "softmax", seed=0)
    X = np.ones((3, 6))
    X[2, 4] = np.nan
    with pytest.raises(
        ValueError, match=r"X \(as rows x features\) contains NaN or infinity at row 4, column 2"
    ):
        net.predict(X)
    with pytest.raises(ValueError, match=r"X has 5 rows but the network expects n_x = 3"):
        net.predict_proba(np.ones((5, 6)))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"activation": "gelu"}, r"Unknown activation 'gelu'; expected one of \['identity', 'leaky_relu'"),
        ({"optimizer": "lbfgs"}, r"Unknown optimizer 'lbfgs'; expected one of \['adam'"),
        ({"output": "tanh"}, r"Unknown output 'tanh'; expected one of \['auto', 'sigmoid'"),
        ({"hidden": (16, 0)}, r"hidden must list layer sizes >= 1, got \[16, 0\]"),
        ({"lr": 0.0}, r"lr must be a finite number > 0, got 0.0"),
        ({"batch_size": 0}, r"batch_size must be an integer >= 1, got 0"),
        ({"epochs": 0}, r"epochs must be an integer >= 1, got 0"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
        ({"seed": -1}, r"seed must be an integer >= 0, got -1"),
    ],
)
def test_bad_pipeline_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**settings)


# ---------------------------------------------------------------------- estimators (scikit-learn's messages)
@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def nan_at(X: np.ndarray, row: int, column: int) -> np.ndarray:
    changed = X.copy()
    changed[row, column] = np.nan
    return changed


@pytest.mark.parametrize(
    ("fit", "message"),
    [
        (lambda X, y: MLPClassifier().fit(nan_at(X, 3, 1), y), r"Input X contains NaN"),
        (lambda X, y: MLPRegressor().fit(X, np.where(y == 2, np.inf, y)), r"Input y contains infinity"),
        (lambda X, y: MLPClassifier().fit(X, np.where(y == 2, np.nan, y)), r"Input y contains NaN"),
        (lambda X, y: MLPClassifier().fit(X[:, 0], y), r"Expected 2D array, got 1D array instead"),
        (lambda X, y: MLPClassifier().fit(X[None], y), r"Found array with dim 3"),
        (lambda X, y: MLPClassifier().fit(X, y[:-1]), r"inconsistent numbers of samples: \[150, 149\]"),
        (lambda X, y: MLPClassifier().fit(X[:0], y[:0]), r"Found array with 0 sample\(s\)"),
        (lambda X, y: MLPClassifier().fit(np.full(X.shape, "a"), y), r"could not convert string to float"),
        (lambda X, y: MLPRegressor().fit(X, np.full(y.shape, "a")), r"could not convert string to float"),
        (
            lambda X, y: MLPClassifier(learning_rate_init=float("nan")).fit(X, y),
            r"invalid learning_rate_init=nan; expected a number > 0",
        ),
        (lambda X, y: MLPClassifier(max_iter=0).fit(X, y), r"invalid max_iter=0; expected an integer >= 1"),
        (
            lambda X, y: MLPRegressor(activation="gelu").fit(X, y),
            r"invalid activation='gelu'; expected one of \['identity', 'leaky_relu'",
        ),
    ],
)
def test_estimators_refuse_bad_fits(iris, fit, message):
    with pytest.raises(ValueError, match=message):
        fit(*iris)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor])
def test_estimators_refuse_predictions_on_bad_rows(iris, make):
    X, y = iris
    estimator = make(hidden_layer_sizes=(3,), max_iter=2).fit(X, y)
    name = make.__name__
    with pytest.raises(ValueError, match=rf"X has 3 features, but {name} is expecting 4 features as input"):
        estimator.predict(X[:, :3])
    with pytest.raises(ValueError, match=r"Input X contains NaN"):
        estimator.predict(nan_at(X, 0, 0))
    with pytest.raises(ValueError, match=rf"X has 5 features, but {name} is expecting 4 features as input"):
        estimator.partial_fit(np.hstack([X, X[:, :1]]), y)


def test_unseen_labels_at_partial_fit_are_named(iris):
    X, y = iris
    estimator = MLPClassifier(hidden_layer_sizes=(3,)).partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"`y` has classes \['cat'\] not in `self.classes_` = \[0 1 2\]"):
        estimator.partial_fit(X[:2], np.array(["cat", "cat"]))


# ---------------------------------------------------------------------- the command line
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Good and bad data files, and a model trained in-process on the good CSV."""
    folder = tmp_path_factory.mktemp("files")
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(30, 2)).round(3)
    labels = np.where(rows[:, 0] > 0, "up", "down")
    good = "a,b,label\n" + "".join(f"{x},{z},{label}\n" for (x, z), label in zip(rows, labels, strict=True))
    texts = {
        "good.csv": good,
        "missing.csv": "a,b,label\n0.1,0.2,0.5\n0.3,0.1,\n0.5,0.6,1.5\n",
        "text_cell.csv": "a,b,label\n0.1,oops,up\n",
        "renamed.csv": "a,c,label\n0.1,0.2,up\n",
        "infinite.csv": "a,b,label\n1,2,up\n3,inf,down\n",
        "no_target.csv": "a,b,label\n1,2,up\n3,4,\n",
        "short_row.csv": "a,b,label\n1,2,up\n3,down\n",
        "empty.csv": "",
        "header_only.csv": "a,b,label\n",
        "one_class.csv": "a,b,label\n1,2,up\n3,4,up\n5,6,up\n7,8,up\n",
        "not_utf8.csv": None,
    }
    for name, text in texts.items():
        if text is not None:
            (folder / name).write_text(text)
    (folder / "not_utf8.csv").write_bytes(b"a,b,label\n1,2,\xff\xfe\n")
    X = rng.normal(size=(6, 2))
    arrays = {
        "nan_x.npz": {"X": with_entry(X, 4, 1, np.nan), "y": np.arange(6) % 2},
        "nan_y.npz": {"X": X, "y": np.r_[0.0, 1.0, np.nan, 1.0, 0.0, 1.0]},
        "flat_x.npz": {"X": X[:, 0], "y": np.arange(6) % 2},
        "short_y.npz": {"X": X, "y": np.arange(5) % 2},
        "text_x.npz": {"X": np.full((6, 2), "a"), "y": np.arange(6) % 2},
        "no_y.npz": {"X": X},
        "wide.npz": {"X": np.ones((4, 3))},
    }
    for name, content in arrays.items():
        np.savez(folder / name, **content)
    np.save(folder / "lone.npy", X)
    (folder / "lone.npz").write_bytes((folder / "lone.npy").read_bytes())
    (folder / "garbage.npz").write_bytes(b"\x00" * 64)
    model = folder / "model.npz"
    assert (
        main(
            [
                "train",
                "--data",
                str(folder / "good.csv"),
                "--hidden",
                "3",
                "--epochs",
                "1",
                "--quiet",
                "--out",
                str(model),
            ]
        )
        == 0
    )
    return folder


TRAIN = ["train", "--hidden", "3", "--epochs", "1", "--quiet"]

CASES = {
    # flags
    "epochs 0": (["--epochs", "0"], ["argument --epochs: must be an integer >= 1, got 0"]),
    "hidden size 0": (["--hidden", "3,0"], ["argument --hidden: must list layer sizes >= 1, got [3, 0]"]),
    "lr nan": (["--lr", "nan"], ["argument --lr: must be a finite number > 0, got nan"]),
    "lr 0": (["--lr", "0"], ["argument --lr: must be a finite number > 0, got 0.0"]),
    "dropout below 0": (["--dropout", "-0.1"], ["argument --dropout: must be in [0, 1), got -0.1"]),
    "batch size 1.5": (["--batch-size", "1.5"], ["argument --batch-size: expected an integer, got '1.5'"]),
    "seed -1": (["--seed", "-1"], ["argument --seed: must be an integer >= 0, got -1"]),
    "validation 1": (
        ["--validation-fraction", "1"],
        ["argument --validation-fraction: must be in [0, 1), got 1.0"],
    ),
    "unknown activation": (["--activation", "swish"], ["--activation: invalid choice: 'swish'", "'relu'"]),
    # files
    "missing file": (["--data", "{dir}/absent.npz"], ["absent.npz: no such file"]),
    "missing numeric target": (
        ["--data", "{dir}/missing.csv"],
        ["missing.csv, row 2, column 'label': missing target value"],
    ),
    "infinite cell": (
        ["--data", "{dir}/infinite.csv"],
        ["infinite.csv, row 2, column 'b': inf is not a finite number"],
    ),
    "missing target": (
        ["--data", "{dir}/no_target.csv"],
        ["no_target.csv, row 2, column 'label': missing target value"],
    ),
    "categorical names no column": (
        ["--data", "{dir}/good.csv", "--categorical", "colour"],
        ["categorical names column(s) ['colour'] not in the table ['a', 'b']"],
    ),
    "categorical with numeric rows": (
        ["--data", "{dir}/nan_y.npz", "--categorical", "a"],
        ["--categorical a applies to CSV and Parquet files only"],
    ),
    "short row": (
        ["--data", "{dir}/short_row.csv"],
        ["short_row.csv, row 2: 2 cells, expected 3 like the header"],
    ),
    "empty csv": (["--data", "{dir}/empty.csv"], ["empty.csv: the file is empty; expected a header line"]),
    "header only": (["--data", "{dir}/header_only.csv"], ["header_only.csv: no data rows after the header"]),
    "not utf-8": (["--data", "{dir}/not_utf8.csv"], ["not_utf8.csv: not UTF-8 text"]),
    "one class": (
        ["--data", "{dir}/one_class.csv"],
        ["the training labels hold a single class (['up'])", "at least 2"],
    ),
    "nan in X": (["--data", "{dir}/nan_x.npz"], ["nan_x.npz: X has NaN or infinity at row 4, column 1"]),
    "nan in y": (["--data", "{dir}/nan_y.npz"], ["nan_y.npz: y has NaN or infinity at row 2"]),
    "1-D X": (["--data", "{dir}/flat_x.npz"], ["flat_x.npz: X must be 2-D (rows, features), got shape (6,)"]),
    "y too short": (
        ["--data", "{dir}/short_y.npz"],
        ["short_y.npz: y must have one entry (or row) per row of X (6)"],
    ),
    "text X": (["--data", "{dir}/text_x.npz"], ["text_x.npz: X must hold real numbers, got dtype <U1"]),
    "no y": (["--data", "{dir}/no_y.npz"], ["no_y.npz: missing array(s) ['y']; expected X and y"]),
    "lone .npy as .npz": (
        ["--data", "{dir}/lone.npz"],
        ["lone.npz: not an .npz file (a zip archive of named .npy arrays"],
    ),
    "garbage .npz": (["--data", "{dir}/garbage.npz"], ["garbage.npz: not an .npz file"]),
    "target not there": (
        ["--data", "{dir}/good.csv", "--target", "colour"],
        ["good.csv: no target column 'colour'; the columns are ['a', 'b', 'label']"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_train_refuses_bad_flags_and_files_and_writes_nothing(case, files, tmp_path, capsys):
    flags, fragments = CASES[case]
    out = tmp_path / "model.npz"
    out.write_bytes(b"the previous model")
    argv = [*TRAIN, *[flag.format(dir=files) for flag in flags], "--out", str(out)]
    assert_refused(argv, fragments, capsys, "train")
    assert out.read_bytes() == b"the previous model"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.npz"]


def assert_refused(argv: list[str], fragments: list[str], capsys, command: str) -> None:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own refusals
        code = exit_.code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert captured.out == "" and len(lines) == 1 and lines[0].startswith(f"mlpkit {command}: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


PREDICT_CASES = {
    "wider rows": (
        ["predict", "{model}", "{dir}/wide.npz"],
        ["wide.npz: X has 3 columns but the model takes 2 features"],
    ),
    "missing input": (["predict", "{model}", "{dir}/absent.csv"], ["absent.csv: no such file"]),
    "text in a numeric column": (
        ["predict", "{model}", "{dir}/text_cell.csv"],
        ["text_cell.csv, row 1, column 'b': 'oops' is not a number, and the model was trained on numbers"],
    ),
    "nan rows": (
        ["predict", "{model}", "{dir}/nan_x.npz"],
        ["nan_x.npz: X has NaN or infinity at row 4, column 1"],
    ),
    "not a model": (
        ["predict", "{dir}/good.csv", "{dir}/good.csv"],
        ["good.csv: not a zip archive, so not an mlpkit model file"],
    ),
    "missing model": (["predict", "{dir}/absent.npz", "{dir}/good.csv"], ["absent.npz: no such model file"]),
    "output folder": (
        ["predict", "{model}", "{dir}/good.csv", "--output", "{dir}/none/p.csv"],
        ["--out: cannot write", "does not exist"],
    ),
    "evaluate renamed column": (
        ["evaluate", "{model}", "--data", "{dir}/renamed.csv"],
        ["renamed.csv: the table lacks the training column(s) ['b'] and has column(s) ['c'] that the model"],
    ),
    "evaluate infinite cell": (
        ["evaluate", "{model}", "--data", "{dir}/infinite.csv"],
        ["infinite.csv, row 2, column 'b': inf is not a finite number"],
    ),
}


@pytest.mark.parametrize("case", sorted(PREDICT_CASES))
def test_predict_and_evaluate_refuse_bad_input_and_write_nothing(case, files, capsys):
    argv, fragments = PREDICT_CASES[case]
    before = {path.name: path.read_bytes() for path in files.iterdir()}
    argv = [arg.format(model=files / "model.npz", dir=files) for arg in argv]
    assert_refused(argv, fragments, capsys, argv[0])
    assert {path.name: path.read_bytes() for path in files.iterdir()} == before
