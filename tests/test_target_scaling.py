"""A regression target learned standardized and predicted in its own units: the scaler's algebra, the
command on a price table, the model file, ONNX and resume, each against an independent value."""

import csv
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.metrics import r2_score

from mlpkit import DNN
from mlpkit.cli import main
from mlpkit.datasets import load_dataset
from mlpkit.export import to_onnx
from mlpkit.io import load, save
from mlpkit.model import Model
from mlpkit.preprocessing import AffineScaler
from test_untrusted_files import archive_bytes, members, npy, with_meta


# ---------------------------------------------------------------------- the algebra
def test_inverse_undoes_transform_and_unfold_scales_the_output_layer():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(50, 2)) * [30000.0, 0.5] + [90000.0, -3.0]  # rows (m, n_L)
    scaler = AffineScaler("standard").fit(Y)
    np.testing.assert_allclose(scaler.offset_, Y.mean(axis=0))
    np.testing.assert_allclose(scaler.scale_, Y.std(axis=0))
    np.testing.assert_allclose(scaler.inverse(scaler.transform(Y)), Y, rtol=1e-12)
    W, b, A = rng.normal(size=(2, 4)), rng.normal(size=(2, 1)), rng.normal(size=(4, 7))
    W_unfolded, b_unfolded = scaler.unfold(W, b)
    expected = (W @ A + b) * Y.std(axis=0)[:, None] + Y.mean(axis=0)[:, None]  # y = Z_L * sd + mean
    np.testing.assert_allclose(W_unfolded @ A + b_unfolded, expected, rtol=1e-12)


def scaled_model(dtype: str = "float32") -> Model:
    net = DNN([3, 5, 1], "tanh", "identity", seed=1, dtype=dtype)
    target = AffineScaler().fit(np.array([[100.0], [300.0], [500.0]]))  # mean 300, sd sqrt(80000/3)
    return Model(net, task="regression", target_scaler=target)


def test_a_model_outputs_its_network_times_the_target_sd_plus_the_mean():
    model = scaled_model("float64")
    rows = np.random.default_rng(2).normal(size=(6, 3))
    network = model.net.predict_proba(rows.T).T
    np.testing.assert_allclose(model.predict(rows), network[:, 0] * np.sqrt(80000 / 3) + 300, rtol=1e-12)


@pytest.mark.parametrize(
    ("net", "task", "fitted_on", "message"),
    [
        (DNN([3, 4, 2], "relu", "softmax", seed=0), "multiclass", 2, "applies to regression"),
        (DNN([3, 4, 2], "relu", "identity", seed=0), "regression", 1, "fitted on 1 targets"),
    ],
)
def test_a_target_scaling_that_does_not_fit_the_network_is_refused(net, task, fitted_on, message):
    scaler = AffineScaler().fit(np.random.default_rng(0).normal(size=(5, fitted_on)))
    with pytest.raises(ValueError, match=message):
        Model(net, task=task, target_scaler=scaler)


# ---------------------------------------------------------------------- the command on a price table
def write_prices(path: Path, rows: int = 1200, seed: int = 0) -> Path:
    """A price in the tens of thousands: a smooth function of two numbers and a district, plus noise."""
    rng = np.random.default_rng(seed)
    size, age = rng.uniform(40, 200, rows), rng.uniform(0, 60, rows)
    district = rng.choice(["north", "south", "east", "west"], rows)
    premium = {"north": 30000, "south": 0, "east": 12000, "west": -8000}
    price = 400 * size + 60000 * np.exp(-age / 20) + [premium[d] for d in district]
    price += rng.normal(0, 4000, rows)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["size", "age", "district", "price"])
        writer.writerows(zip(size.round(1), age.round(1), district, price.round(0), strict=True))
    return path


def cli(*argv) -> tuple[int, str, str]:
    return main([str(arg) for arg in argv])


def train(capsys, data: Path, out: Path, *flags) -> dict:
    code = cli("train", "--data", data, "--target", "price", "--epochs", "60", "--out", out, "--json", *flags)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out.splitlines()[-1])


@pytest.fixture(scope="module")
def prices(tmp_path_factory) -> Path:
    return write_prices(tmp_path_factory.mktemp("prices") / "prices.csv")


def test_the_command_learns_a_price_standardized_and_reports_it_in_its_units(prices, tmp_path, capsys):
    summary = train(capsys, prices, tmp_path / "m.npz")
    model = load(tmp_path / "m.npz")
    dataset = load_dataset(str(prices), target="price", seed=0)  # the command's own split
    y_train = np.asarray(dataset.y_train, dtype=np.float64)
    np.testing.assert_allclose(model.target_scaler.offset_, [y_train.mean()], rtol=1e-12)
    np.testing.assert_allclose(model.target_scaler.scale_, [y_train.std()], rtol=1e-12)
    y_test = np.asarray(dataset.y_test, dtype=np.float64)
    r2 = r2_score(y_test, model.predict(dataset.X_test))
    assert summary["test_r2"] == pytest.approx(r2, rel=1e-5)
    unscaled = train(capsys, prices, tmp_path / "raw.npz", "--target-scaling", "none")
    assert load(tmp_path / "raw.npz").target_scaler is None
    assert r2 > 0.9 and unscaled["test_r2"] < r2 - 0.2  # the raw price is far harder to learn


def test_a_classification_target_is_not_scaled(tmp_path, capsys):
    cli("train", "--data", "iris", "--epochs", "2", "--quiet", "--out", tmp_path / "m.npz")
    capsys.readouterr()
    model = load(tmp_path / "m.npz")
    assert model.target_scaler is None and model.summary()["target_scaling"] is None


def test_resuming_a_scaled_run_gives_the_straight_run_bit_for_bit(prices, tmp_path, capsys):
    flags = ["--data", prices, "--target", "price", "--hidden", "8", "--quiet"]
    assert cli("train", *flags, "--epochs", "4", "--out", tmp_path / "straight.npz") == 0
    checkpoints = ["--checkpoint-dir", tmp_path / "ck", "--out", tmp_path / "m.npz"]
    assert cli("train", *flags, "--epochs", "2", *checkpoints) == 0
    assert cli("train", *flags, "--epochs", "4", *checkpoints, "--resume") == 0
    capsys.readouterr()
    resumed, straight = load(tmp_path / "m.npz"), load(tmp_path / "straight.npz")
    np.testing.assert_array_equal(resumed.net.theta, straight.net.theta)
    np.testing.assert_array_equal(resumed.target_scaler.offset_, straight.target_scaler.offset_)
    rows = load_dataset(str(prices), target="price", seed=0).X_test
    np.testing.assert_array_equal(resumed.predict(rows), straight.predict(rows))


# ---------------------------------------------------------------------- the model file and ONNX
def test_the_model_file_keeps_the_scaling_and_its_predictions(tmp_path):
    model = scaled_model()
    save(model, tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    rows = np.random.default_rng(3).normal(size=(9, 3))
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    assert json.loads(members((tmp_path / "m.npz").read_bytes())["mlpkit.json"])["format_version"] == 4


MINMAX = {"type": "affine", "method": "minmax"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda meta, arrays: meta.update(target_scaling={"type": "affine", "method": "minmax"}),
            "must be null",
        ),
        (lambda meta, arrays: arrays.update({"target_scale.npy": npy(np.zeros(1))}), "scale must be nonzero"),
        (lambda meta, arrays: arrays.update({"target_offset.npy": npy(np.zeros(2))}), "target_offset"),
        (lambda meta, arrays: arrays.pop("target_scale.npy"), "target_scale"),
        (lambda meta, arrays: meta.update(target_scaling=None), "unexpected arrays"),
    ],
)
def test_a_damaged_target_scaling_is_refused_naming_the_file(change, message, tmp_path):
    save(scaled_model(), tmp_path / "m.npz")
    entries = members((tmp_path / "m.npz").read_bytes())
    arrays = {name: data for name, data in entries.items() if name != "mlpkit.json"}
    entries = with_meta({"mlpkit.json": entries["mlpkit.json"]}, lambda meta: change(meta, arrays))
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(archive_bytes({**entries, **arrays}))
    with pytest.raises(ValueError, match=message) as caught:
        load(damaged)
    assert str(caught.value).startswith(str(damaged))


def test_onnx_folds_the_scaling_into_the_output_layer(tmp_path, capsys):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 4)) * [1.0, 10.0, 100.0, 0.1]
    np.savez(tmp_path / "rows.npz", X=X, y=50000 + 20000 * np.tanh(X @ [1.0, 0.1, 0.01, 10.0]))
    cli("train", "--data", tmp_path / "rows.npz", "--epochs", "5", "--quiet", "--out", tmp_path / "m.npz")
    capsys.readouterr()
    model = load(tmp_path / "m.npz")
    assert model.target_scaler is not None and model.scaler is not None
    rows = X.astype(np.float32)
    session = ort.InferenceSession(to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"])
    (variable,) = session.run(["variable"], {"X": rows})
    np.testing.assert_allclose(variable[:, 0], model.predict(rows), rtol=1e-5)


def huge_target_file(folder: Path, suffix: str, magnitude: float = 1e39) -> Path:
    """500 rows of 3 features and a target near ``magnitude`` (float32 ends at 3.4e38), as .npz or .csv."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(500, 3))
    y = magnitude * (1 + 0.1 * np.tanh(X @ [1.0, 2.0, 3.0]))
    path = folder / f"huge{suffix}"
    if suffix == ".npz":
        np.savez(path, X=X, y=y)
    else:
        rows = [[*map(repr, row.tolist()), repr(float(target))] for row, target in zip(X, y, strict=True)]
        with path.open("w", newline="") as f:
            csv.writer(f).writerows([["a", "b", "c", "y"], *rows])
    return path


@pytest.mark.parametrize("suffix", [".npz", ".csv"])
def test_a_target_beyond_float32s_range_trains_in_float32_and_predicts_finite(suffix, tmp_path, capsys):
    data = huge_target_file(tmp_path, suffix)
    assert cli("train", "--data", data, "--epochs", "20", "--quiet", "--out", tmp_path / "m.npz") == 0
    capsys.readouterr()
    model = load(tmp_path / "m.npz")
    assert model.net.dtype == np.float32
    dataset = load_dataset(str(data), seed=0)
    predicted = model.predict(dataset.X_test)
    assert np.isfinite(predicted).all() and r2_score(dataset.y_test, predicted) > 0.5


@pytest.mark.parametrize("suffix", [".npz", ".csv"])
def test_an_unscaled_target_beyond_the_networks_range_is_refused_before_training(suffix, tmp_path, capsys):
    data, out = huge_target_file(tmp_path, suffix), tmp_path / "m.npz"
    assert cli("train", "--data", data, "--target-scaling", "none", "--quiet", "--out", out) == 2
    message = capsys.readouterr().err
    assert "beyond float32's range" in message and "--target-scaling standard" in message
    assert not out.exists()
    float64 = ["--target-scaling", "none", "--dtype", "float64", "--epochs", "2", "--quiet", "--out", out]
    assert cli("train", "--data", data, *float64) == 0  # float64 holds 1e39 as it is


def test_a_target_too_large_to_standardize_is_refused_before_training(tmp_path, capsys):
    data, out = huge_target_file(tmp_path, ".csv", magnitude=1e299), tmp_path / "m.npz"
    assert cli("train", "--data", data, "--quiet", "--out", out) == 2
    message = capsys.readouterr().err
    assert "reaches 1.1" in message and "too large to scale" in message  # (1e299)^2 passes float64's 1.8e308
    assert not out.exists()
    with pytest.raises(ValueError, match="column 1 reaches 1e\\+200, too large"):
        AffineScaler("standard").fit(np.array([[1.0, 1e200], [2.0, -1e200]]))


def test_the_predictions_plot_draws_the_test_split_in_the_targets_units(prices, tmp_path, capsys):
    assert (
        cli(
            "train",
            "--data",
            prices,
            "--target",
            "price",
            "--epochs",
            "5",
            "--quiet",
            "--out",
            tmp_path / "m.npz",
        )
        == 0
    )
    out = tmp_path / "p.png"
    assert cli("plot", tmp_path / "m.npz", "--kind", "predictions", "--out", out) == 0
    assert "predictions of" in capsys.readouterr().out and out.stat().st_size > 0
