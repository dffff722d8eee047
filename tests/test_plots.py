"""Tests for mlpkit.plots: every kind renders a readable PNG; the numbers drawn match independent oracles."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from matplotlib.image import imread
from sklearn import datasets as sklearn_datasets
from sklearn.metrics import confusion_matrix

from mlpkit import DNN, AffineScaler, Model, plots, save
from mlpkit.plots import weight_mosaic
from mlpkit.training import Trainer


def assert_readable_png(path, width: int, height: int) -> np.ndarray:
    """The PNG has the expected pixel size and real content: many colours, much non-white area."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(path)[..., :3]
    assert pixels.shape[:2] == (height, width)
    non_white = np.any(pixels < 0.95, axis=2).mean()
    colours = np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0).shape[0]
    assert non_white > 0.05, f"{path.name} is nearly blank ({non_white:.1%} non-white)"
    assert colours > 50, f"{path.name} has only {colours} colours"
    return pixels


def assert_only(folder, name: str) -> None:
    """The folder holds exactly the named file: no temporary leftovers."""
    assert sorted(p.name for p in folder.iterdir()) == [name]


@pytest.fixture(scope="module")
def digits():
    """A 64-32-10 softmax network trained briefly on scikit-learn's 8x8 digits, and held-out rows."""
    data = sklearn_datasets.load_digits()
    X, y = data.data / 16.0, data.target
    net = DNN([64, 32, 10], "relu", "softmax", seed=0)
    trainer = Trainer(net, "adam", 0.01, batch_size=64, seed=0)
    history = trainer.fit(
        X[:1200].T, np.eye(10)[y[:1200]].T, epochs=4, validation_data=(X[1200:].T, np.eye(10)[y[1200:]].T)
    )
    return net, X[1200:], y[1200:], history


@pytest.fixture(scope="module")
def moons():
    """A 2-8-1 sigmoid network trained briefly on two moons."""
    X, y = sklearn_datasets.make_moons(200, noise=0.15, random_state=0)
    net = DNN([2, 8, 1], "tanh", "sigmoid", seed=0)
    Trainer(net, "adam", 0.05, batch_size=32, seed=0).fit(X.T, y.reshape(1, -1), epochs=20)
    return net, X, y


# ---------------------------------------------------------------------- curves
def test_curves_render_training_and_validation(digits, tmp_path):
    history = digits[3].to_dict()
    figure = plots.plot_curves(history, tmp_path / "curves.png")
    assert_readable_png(tmp_path / "curves.png", 1000, 400)
    assert_only(tmp_path, "curves.png")
    loss_axes, accuracy_axes = figure.axes
    assert loss_axes.get_xlabel() == "epoch" and loss_axes.get_ylabel() == "loss"
    drawn = {line.get_label(): line.get_ydata() for line in loss_axes.get_lines()}
    np.testing.assert_array_equal(drawn["training"], history["loss"])
    np.testing.assert_array_equal(drawn["validation"], history["val_loss"])
    assert len(accuracy_axes.get_lines()) == 2


def test_curves_without_validation_or_accuracy(tmp_path):
    history = {"loss": [1.0, 0.5, 0.3], "accuracy": [np.nan] * 3, "val_loss": [np.nan] * 3}
    figure = plots.plot_curves(history, tmp_path / "regression.png")
    loss_axes, accuracy_axes = figure.axes
    assert [line.get_label() for line in loss_axes.get_lines()] == ["training"]
    assert accuracy_axes.get_lines() == []
    assert any("no accuracy recorded" in text.get_text() for text in accuracy_axes.texts)
    assert_readable_png(tmp_path / "regression.png", 1000, 400)


@pytest.mark.parametrize(
    "history, message",
    [
        ({}, r"history\['loss'\] is missing or empty"),
        (
            {"loss": [1.0, 0.5], "val_loss": [1.0]},
            r"history\['val_loss'\] has 1 values but history\['loss'\] has 2",
        ),
        ([1.0, 2.0], "history must be a dict of per-epoch lists"),
    ],
)
def test_curves_reject_bad_history_and_write_nothing(history, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        plots.plot_curves(history, tmp_path / "curves.png")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- confusion
def test_confusion_counts_match_scikit_learn(digits, tmp_path):
    net, X, y, _ = digits
    figure = plots.plot_confusion(net, X, y, tmp_path / "confusion.png")
    assert_readable_png(tmp_path / "confusion.png", 1000, 900)  # 10 classes: 10 x 9 inches
    axes = figure.axes[0]
    expected = confusion_matrix(y, net.predict_proba(X.T).argmax(axis=0), labels=range(10))
    np.testing.assert_array_equal(axes.images[0].get_array(), expected)
    assert [label.get_text() for label in axes.get_xticklabels()] == [str(k) for k in range(10)]
    assert axes.get_xlabel() == "predicted class" and axes.get_ylabel() == "true class"
    assert len(figure.axes) == 2  # the matrix and its colour bar


def test_confusion_counts_by_hand():
    counts = plots.confusion_counts(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


def test_confusion_rejects_labels_outside_the_classes(digits, tmp_path):
    net, X, y, _ = digits
    with pytest.raises(ValueError, match=r"y must hold class indices 0\.\.9"):
        plots.plot_confusion(net, X[:3], np.array([0, 1, 10]), tmp_path / "confusion.png")
    assert list(tmp_path.iterdir()) == []


def test_confusion_needs_a_classifier(tmp_path):
    regressor = DNN([3, 4, 1], "relu", "identity", seed=0)
    with pytest.raises(ValueError, match="needs a binary or multiclass classifier.*'regression'"):
        plots.plot_confusion(regressor, np.zeros((2, 3)), np.zeros(2), tmp_path / "c.png")


# ---------------------------------------------------------------------- boundary
def test_boundary_grid_is_the_network_probability(moons):
    net, X, _ = moons
    xx, yy, values = plots.decision_grid(net, X, resolution=30)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    W1, b1, W2, b2 = (net.params[k].astype(np.float64) for k in ("W1", "b1", "W2", "b2"))
    by_hand = 1 / (1 + np.exp(-(W2 @ np.tanh(W1 @ points.T + b1) + b2)))
    np.testing.assert_allclose(values.ravel(), by_hand.ravel(), rtol=1e-5, atol=1e-6)
    assert xx.min() < X[:, 0].min() and xx.max() > X[:, 0].max()


def test_boundary_renders_binary_and_multiclass(moons, tmp_path):
    net, X, y = moons
    figure = plots.plot_boundary(net, X, y, tmp_path / "moons.png")
    assert_readable_png(tmp_path / "moons.png", 750, 550)
    axes = figure.axes[0]
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["0", "1"]
    assert "accuracy" in axes.get_title()

    X3, y3 = sklearn_datasets.make_blobs(150, centers=3, random_state=0)
    net3 = DNN([2, 8, 3], "relu", "softmax", seed=0)
    Trainer(net3, "adam", 0.05, batch_size=32, seed=0).fit(X3.T, np.eye(3)[y3].T, epochs=10)
    plots.plot_boundary(net3, X3, y3, tmp_path / "blobs.png")
    assert_readable_png(tmp_path / "blobs.png", 750, 550)


def test_boundary_refuses_more_than_two_features(digits, tmp_path):
    net, X, y, _ = digits
    with pytest.raises(ValueError, match="exactly two input features, this one has 64"):
        plots.plot_boundary(net, X, y, tmp_path / "boundary.png")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- weights
def test_weight_mosaic_by_hand():
    W1 = np.arange(12.0).reshape(3, 4)  # three units of 2x2 pixels, two per row
    mosaic = weight_mosaic(W1, 2, 2, columns=2)
    nan = np.nan
    expected = [
        [0, 1, nan, 4, 5],
        [2, 3, nan, 6, 7],
        [nan] * 5,
        [8, 9, nan, nan, nan],
        [10, 11, nan, nan, nan],
    ]
    np.testing.assert_array_equal(mosaic, expected)


def test_weights_show_each_row_of_W1_as_an_image(digits, tmp_path):
    net = digits[0]
    figure = plots.plot_weights(net, tmp_path / "weights.png")
    shown = figure.axes[0].images[0].get_array()
    W1 = net.params["W1"]
    np.testing.assert_array_equal(shown[:8, :8], W1[0].reshape(8, 8))
    np.testing.assert_array_equal(shown[9:17, 9:17], W1[7].reshape(8, 8))  # 32 units: 6 per row
    assert "W1" in figure.axes[0].get_title()
    assert figure.axes[1].get_ylabel() == "weight"
    assert_readable_png(tmp_path / "weights.png", 800, 700)


def test_weights_refuse_non_image_data_and_write_nothing(tmp_path):
    wine_like = DNN([13, 4, 3], "relu", "softmax", seed=0)
    with pytest.raises(ValueError, match="plot kind 'weights' needs image inputs .* n_x = 13 inputs are not"):
        plots.plot_weights(wine_like, tmp_path / "weights.png")
    with pytest.raises(
        ValueError,
        match="plot kind 'weights' needs height x width = n_x = 13 pixels, but image_shape 3x5 has 15",
    ):
        plots.plot_weights(wine_like, tmp_path / "weights.png", image_shape=(3, 5))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- saliency
def test_input_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    net = DNN([16, 5, 3], "tanh", "softmax", seed=1, dtype="float64")
    X, y = rng.random((2, 16)), np.array([2, 0])
    gradients = plots.input_gradients(net, X, y)

    def sample_loss(row: np.ndarray, label: int) -> float:
        probabilities = net.predict_proba(row.reshape(-1, 1))[:, 0]
        return -np.log(probabilities[label])

    eps = 1e-6
    for i in range(2):
        numeric = [
            (sample_loss(X[i] + eps * e, y[i]) - sample_loss(X[i] - eps * e, y[i])) / (2 * eps)
            for e in np.eye(16)
        ]
        np.testing.assert_allclose(gradients[i], numeric, rtol=1e-6, atol=1e-9)


def test_saliency_renders_images_beside_their_gradients(digits, tmp_path):
    net, X, y, _ = digits
    figure = plots.plot_saliency(net, X, y, tmp_path / "saliency.png", count=4)
    assert_readable_png(tmp_path / "saliency.png", 860, 480)
    images = [axes.images[0].get_array() for axes in figure.axes if axes.images]  # row by row
    np.testing.assert_array_equal(images[0], X[0].reshape(8, 8))
    expected = plots.input_gradients(net, X[:1], y[:1])[0]
    np.testing.assert_allclose(images[4], (expected / np.abs(expected).max()).reshape(8, 8), atol=1e-5)
    assert figure.axes[0].get_title().startswith(f"true: {y[0]}")


def test_saliency_refuses_non_image_data(moons, tmp_path):
    net, X, y = moons
    with pytest.raises(ValueError, match="plot kind 'saliency' needs image inputs .* n_x = 2 inputs are not"):
        plots.plot_saliency(net, X, y, tmp_path / "saliency.png")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- files and the extra
@pytest.mark.parametrize(
    "name, message",
    [
        ("curves.txt", r"must end in one of \['.png', '.pdf', '.svg'\]"),
        ("missing/curves.png", "does not exist"),
    ],
)
def test_bad_output_path_is_named(name, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        plots.plot_curves({"loss": [1.0]}, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_missing_matplotlib_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "mlpkit\[plot\]"'):
        plots.plot_curves({"loss": [1.0]}, tmp_path / "curves.png")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- a Model: scaler and label names
@pytest.fixture(scope="module")
def named_moons():
    """A Model on moons with a standard scaler and text labels, trained on the scaled rows."""
    X, y = sklearn_datasets.make_moons(200, noise=0.15, random_state=1)
    X = X * [30.0, 0.5] + [100.0, -2.0]  # features on very different scales
    scaler = AffineScaler("standard").fit(X)
    net = DNN([2, 8, 1], "tanh", "sigmoid", seed=0, dtype="float64")
    Trainer(net, "adam", 0.05, batch_size=32, seed=0).fit(scaler.transform(X).T, y.reshape(1, -1), epochs=20)
    model = Model(net, scaler, task="binary", labels=["lower", "upper"])
    return model, X, np.array(["lower", "upper"])[y]


def test_model_confusion_uses_its_labels_and_names(named_moons, tmp_path):
    model, X, labels = named_moons
    figure = plots.plot_confusion(model, X, labels, tmp_path / "confusion.png")
    axes = figure.axes[0]
    expected = confusion_matrix(labels, model.predict(X), labels=["lower", "upper"])
    np.testing.assert_array_equal(axes.images[0].get_array(), expected)
    assert [label.get_text() for label in axes.get_yticklabels()] == ["lower", "upper"]
    assert_readable_png(tmp_path / "confusion.png", 600, 500)


def test_model_boundary_is_its_probability_on_raw_features(named_moons, tmp_path):
    model, X, labels = named_moons
    xx, yy, values = plots.decision_grid(model, X, resolution=20)
    expected = model.predict_proba(np.column_stack([xx.ravel(), yy.ravel()]))[:, 1]
    np.testing.assert_allclose(values.ravel(), expected, rtol=1e-12)
    figure = plots.plot_boundary(model, X, labels, tmp_path / "boundary.png")
    assert [text.get_text() for text in figure.axes[0].get_legend().get_texts()] == ["lower", "upper"]
    assert figure.axes[1].get_ylabel().startswith("P(class upper)")


def test_model_input_gradients_are_with_respect_to_raw_features(named_moons):
    model, X, labels = named_moons
    gradients = plots.input_gradients(model, X[:3], labels[:3])
    truth = model.encode(labels[:3])

    def sample_loss(row: np.ndarray, index: int) -> float:
        return -np.log(model.predict_proba(row.reshape(1, -1))[0, index])

    steps = 1e-6 * np.array([30.0, 0.5])  # relative to each feature's spread
    for i in range(3):
        numeric = [
            (sample_loss(X[i] + h * e, truth[i]) - sample_loss(X[i] - h * e, truth[i])) / (2 * h)
            for h, e in zip(steps, np.eye(2), strict=True)
        ]
        np.testing.assert_allclose(gradients[i], numeric, rtol=1e-5)


def test_model_labels_outside_its_classes_are_named(named_moons, tmp_path):
    model, X, _ = named_moons
    with pytest.raises(ValueError, match="middle"):
        plots.plot_confusion(model, X[:2], np.array(["lower", "middle"]), tmp_path / "c.png")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- the command line
def _trained_model_file(folder, data: str, hidden: tuple[int, ...], epochs: int):
    from mlpkit.datasets import load_dataset
    from mlpkit.training.pipeline import TrainConfig, train_model

    config = TrainConfig(data=data, hidden=hidden, epochs=epochs, lr=0.01, batch_size=32)
    path = folder / f"{data}.npz"
    save(train_model(load_dataset(data), config).model, path)
    return path


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """Model files trained briefly by the pipeline: moons (two features) and digits (8x8 images)."""
    folder = tmp_path_factory.mktemp("models")
    return {
        "moons": _trained_model_file(folder, "moons", (8,), 5),
        "digits": _trained_model_file(folder, "digits", (16,), 2),
    }


def _run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    from mlpkit.cli import main

    try:
        code = main(argv)
    except SystemExit as stop:  # argparse rejects the flag itself
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    "data, kind, size",
    [
        ("moons", "curves", (1000, 400)),
        ("moons", "boundary", (750, 550)),
        ("digits", "confusion", (1000, 900)),
        ("digits", "weights", (800, 700)),
        ("digits", "saliency", (1220, 480)),
    ],
)
def test_cli_plot_draws_every_kind(model_files, data, kind, size, tmp_path, capsys):
    out = tmp_path / f"{kind}.png"
    code, printed, errors = _run_cli(
        ["plot", str(model_files[data]), "--kind", kind, "--out", str(out)], capsys
    )
    assert (code, errors) == (0, "")
    assert f"{kind} of {model_files[data]}" in printed
    assert_readable_png(out, *size)
    assert_only(tmp_path, f"{kind}.png")


@pytest.mark.parametrize(
    "data, argv, message",
    [
        ("moons", ["--kind", "weights"], "plot kind 'weights' needs image inputs"),
        ("moons", ["--kind", "saliency"], "plot kind 'saliency' needs image inputs"),
        ("digits", ["--kind", "boundary"], "exactly two input features, this one has 64"),
        ("moons", ["--kind", "heatmap"], "invalid choice: 'heatmap'"),
        ("moons", ["--kind", "confusion", "--data", "digits"], "64 feature columns but the model takes 2"),
        ("moons", ["--kind", "confusion", "digits"], "64 feature columns but the model takes 2"),  # DATA
        ("moons", ["--kind", "confusion", "digits", "--data", "iris"], "the data is given twice"),
        ("moons", ["--kind", "curves", "--out-format", "png"], "unrecognized arguments"),
    ],
)
def test_cli_plot_bad_input_exits_2_and_writes_nothing(model_files, data, argv, message, tmp_path, capsys):
    out = tmp_path / "picture.png"
    code, printed, errors = _run_cli(["plot", str(model_files[data]), "--out", str(out), *argv], capsys)
    assert code == 2
    assert message in errors and len(errors.strip().splitlines()) == 1
    assert printed == ""
    assert list(tmp_path.iterdir()) == []


def test_cli_plot_bad_out_and_missing_model(model_files, tmp_path, capsys):
    code, _, errors = _run_cli(
        ["plot", str(model_files["moons"]), "--kind", "curves", "--out", "x.jpg"], capsys
    )
    assert code == 2 and "--out: output file 'x.jpg' must end in one of" in errors
    missing = tmp_path / "missing.npz"
    code, _, errors = _run_cli(
        ["plot", str(missing), "--kind", "curves", "--out", str(tmp_path / "c.png")], capsys
    )
    assert code == 2 and "no such model file" in errors
    assert list(tmp_path.iterdir()) == []


def test_boundary_draws_colour_named_classes_in_their_colours(tmp_path):
    from matplotlib.colors import to_rgba

    X, y = sklearn_datasets.make_moons(40, noise=0.1, random_state=0)
    model = Model(DNN([2, 4, 1], "tanh", "sigmoid", seed=0), task="binary", labels=["red", "blue"])
    figure = plots.plot_boundary(model, X, np.array(["red", "blue"])[y], tmp_path / "planar.png")
    handles = figure.axes[0].get_legend().legend_handles
    for handle, name in zip(handles, ["red", "blue"], strict=True):
        np.testing.assert_allclose(handle.get_facecolor()[0], to_rgba(name))


# ---------------------------------------------------------------------- a regression model's predictions
def test_predictions_show_the_target_units_and_scikit_learns_r2(tmp_path):
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    y = np.column_stack([1000 * X[:, 0], 5 - X[:, 1]])  # two outputs in different units
    net = DNN([2, 6, 2], "tanh", "identity", seed=1)
    target = AffineScaler().fit(y)
    model = Model(net, AffineScaler().fit(X), task="regression", target_scaler=target)
    figure = plots.plot_predictions(model, X, y, tmp_path / "p.png")
    predicted = target.inverse(net.predict_proba(((X - X.mean(0)) / X.std(0)).T).T)  # by hand
    for k, axes in enumerate(figure.axes):
        np.testing.assert_allclose(axes.collections[0].get_offsets()[:, 1], predicted[:, k], rtol=1e-5)
        assert axes.get_title().endswith(f"R² {r2_score(y[:, k], predicted[:, k]):.3f}")
    assert_only(tmp_path, "p.png")


def test_predictions_need_a_regression_model(named_moons, tmp_path):
    model, X, y = named_moons
    with pytest.raises(ValueError, match="plot kind 'predictions' needs a regression model"):
        plots.plot_predictions(model, X, y, tmp_path / "p.png")
    assert list(tmp_path.iterdir()) == []
