"""The prediction table of ``mlpkit predict``, called from Python: a hand-written forward pass as oracle."""

import csv
import io

import numpy as np
import pytest

from mlpkit.model import Model
from mlpkit.network import DNN
from mlpkit.predictions import prediction_csv, prediction_table, read_features
from mlpkit.preprocessing import AffineScaler

SHAPES = {
    "binary": (1, "sigmoid", ["no", "yes"]),
    "multiclass": (3, "softmax", ["cat", "dog", "eel"]),
    "multilabel": (3, "sigmoid", ["red", "green", "blue"]),
    "regression": (2, "identity", None),
}


def make_model(task: str, dtype: str = "float32", n_out: int | None = None) -> Model:
    units, output, labels = SHAPES[task]
    rng = np.random.default_rng(1)
    net = DNN([3, 5, n_out or units], "tanh", output, seed=0, dtype=dtype)
    net.theta[...] = rng.normal(0, 0.8, net.theta.shape)
    scaler = AffineScaler().fit(rng.normal(1.0, 2.0, (20, 3)))
    return Model(net, scaler, None, task, {"feature_names": ["a", "b", "c"]}, labels=labels)


def hand_outputs(model: Model, rows: np.ndarray) -> np.ndarray:
    """A_L as rows, from the notes' equations in float64: scale, Z = W A + b, tanh, then the output g."""
    A = ((rows - model.scaler.offset_) / model.scaler.scale_).T
    p = {name: value.astype(np.float64) for name, value in model.net.params.items()}
    Z = p["W2"] @ np.tanh(p["W1"] @ A + p["b1"]) + p["b2"]
    if model.net.output_activation == "softmax":
        E = np.exp(Z - Z.max(axis=0))
        return (E / E.sum(axis=0)).T
    if model.net.output_activation == "sigmoid":
        return (1.0 / (1.0 + np.exp(-Z))).T
    return Z.T


@pytest.fixture
def rows():
    return np.random.default_rng(5).normal(1.0, 2.0, (12, 3))


def test_multiclass_labels_and_probabilities(rows):
    model = make_model("multiclass")
    header, lines = prediction_table(model, rows, proba=True)
    assert header == ["prediction", "proba_cat", "proba_dog", "proba_eel"]
    expected = hand_outputs(model, rows)
    assert [line[0] for line in lines] == [model.label_names[k] for k in expected.argmax(axis=1)]
    probabilities = np.array([[float(cell) for cell in line[1:]] for line in lines])
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5)
    # 9 significant digits read a float32 back exactly
    np.testing.assert_array_equal(probabilities.astype(np.float32), model.predict_proba(rows))


def test_binary_sigmoid_gives_two_probability_columns(rows):
    model = make_model("binary")
    header, lines = prediction_table(model, rows, proba=True)
    assert header == ["prediction", "proba_no", "proba_yes"]
    p = hand_outputs(model, rows)[:, 0]
    assert [line[0] for line in lines] == np.where(p > 0.5, "yes", "no").tolist()
    np.testing.assert_allclose([float(line[2]) for line in lines], p, rtol=1e-5)
    np.testing.assert_allclose([float(line[1]) for line in lines], 1 - p, rtol=1e-5, atol=1e-7)
    assert prediction_table(model, rows)[0] == ["prediction"]


def test_multilabel_joins_the_present_labels(rows):
    model = make_model("multilabel")
    header, lines = prediction_table(model, rows)
    present = hand_outputs(model, rows) > 0.5
    names = np.array(model.label_names)
    assert header == ["prediction"]
    assert [line[0] for line in lines] == [";".join(names[on]) for on in present]


@pytest.mark.parametrize(("dtype", "n_out"), [("float32", 1), ("float64", 2)])
def test_regression_columns_read_back_exactly(rows, dtype, n_out):
    model = make_model("regression", dtype, n_out)
    header, lines = prediction_table(model, rows)
    assert header == (["prediction"] if n_out == 1 else ["prediction_1", "prediction_2"])
    values = np.array([[float(cell) for cell in line] for line in lines])
    np.testing.assert_allclose(values, hand_outputs(model, rows), rtol=1e-5)
    # 9 digits for float32, 17 for float64: the exact value of the network's output
    np.testing.assert_array_equal(values.astype(dtype), model.outputs(rows).reshape(values.shape))
    with pytest.raises(ValueError, match="a regression model has no class probabilities"):
        prediction_table(model, rows, proba=True)


def test_prediction_csv_is_the_table(rows):
    model = make_model("multiclass")
    header, lines = prediction_table(model, rows, proba=True)
    assert list(csv.reader(io.StringIO(prediction_csv(model, rows, proba=True)))) == [header, *lines]


def test_read_features_by_column_name_and_by_suffix(rows, tmp_path):
    model = make_model("multiclass")
    path = tmp_path / "rows.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["c", "label", "a", "b"])
        writer.writerows([[r[2], "x", r[0], r[1]] for r in rows.tolist()])
    np.testing.assert_array_equal(read_features(model, path), rows)
    np.savez(tmp_path / "rows.npz", X=rows)
    np.testing.assert_array_equal(read_features(model, tmp_path / "rows.npz"), rows)
    unsupported = r"rows\.txt: unsupported input type '\.txt'; expected \.csv, \.parquet or \.npz"
    with pytest.raises(ValueError, match=unsupported):
        read_features(model, tmp_path / "rows.txt")


def test_model_summary():
    model = make_model("multiclass")
    model.history = {"loss": [0.9, 0.7, 0.6]}
    summary = model.summary()
    assert summary["parameters"] == 5 * (3 + 1) + 3 * (5 + 1)
    assert summary["architecture"]["layer_sizes"] == [3, 5, 3]
    assert summary["dtype"] == "float32" and summary["task"] == "multiclass"
    assert summary["labels"] == ["cat", "dog", "eel"] and summary["epochs_trained"] == 3
