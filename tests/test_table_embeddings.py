"""A table's high-cardinality column learned as an embedding, end to end: mlpkit train, evaluate, predict,
info and plot on the file; the model file keeps E_c, checked on load; one-hot tables as before."""

import contextlib
import csv
import io
import json
import math
import zipfile

import numpy as np
import pytest

from mlpkit.cli import main
from mlpkit.datasets import load_dataset
from mlpkit.features import FeatureSchema
from mlpkit.io import load, save
from mlpkit.predictions import read_features
from mlpkit.training.config import TrainConfig
from mlpkit.training.pipeline import build_model, build_training, train_model

CITIES = 50
SETTINGS = ["--hidden", "32", "--epochs", "60", "--seed", "0", "--quiet", "--json"]


def city_rows(m: int, seed: int) -> tuple[list[str], list[list[str]]]:
    """y = effect[city] + 0.3 x + noise: the city carries nearly all of the variance."""
    rng = np.random.default_rng(seed)
    effect = np.random.default_rng(123).normal(0.0, 2.0, CITIES)
    city = rng.integers(0, CITIES, m)
    x = rng.normal(size=m)
    y = effect[city] + 0.3 * x + rng.normal(0.0, 0.2, m)
    rows = [[f"town{c:02d}", f"{a:.5f}", f"{b:.5f}"] for c, a, b in zip(city, x, y, strict=True)]
    return ["city", "x", "y"], rows


def write_rows(path, header, rows) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(arg) for arg in args])
    return code, out.getvalue(), err.getvalue()


def summary_of(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cities")
    header, rows = city_rows(2000, 0)
    data, model = folder / "cities.csv", folder / "model.npz"
    write_rows(data, header, rows)
    code, out, err = cli("train", "--data", data, "--target", "y", "--out", model, *SETTINGS)
    assert code == 0, err
    return folder, data, model, summary_of(out)


def test_train_embeds_the_city_column_and_fits_it(trained):
    _, data, path, summary = trained
    model = load(path)
    assert model.features.embedded == [("city", CITIES + 2, 15)]  # d_c = ceil(1.6 * 52 ** 0.56)
    assert model.inputs is not None and model.inputs.vocabulary_sizes == (CITIES + 2,)
    assert model.net.layer_sizes[0] == 1 + 15  # x, then E_city's 15 rows
    assert summary["test_r2"] > 0.9


def test_the_printed_schema_says_embedding(tmp_path):
    header, rows = city_rows(300, 1)
    write_rows(tmp_path / "c.csv", header, rows)
    code, out, err = cli(
        "train", "--data", tmp_path / "c.csv", "--target", "y", "--epochs", "1", "--out", tmp_path / "m.npz"
    )
    assert code == 0, err
    codes = load_dataset(tmp_path / "c.csv", target="y").X_train.column("city").values
    seen = len(np.unique(codes[codes >= 0]))
    n_c = seen + 2  # the training rows' cities, missing and unseen
    d_c = math.ceil(1.6 * n_c**0.56)
    assert "+ 1 embedded" in out and f"embedding d_c={d_c} of n_c={n_c}" in out
    assert "in embeddings" in out  # the network line counts E_c's numbers


def test_without_the_city_column_the_same_run_explains_little(trained, tmp_path):
    _, _, _, summary = trained
    header, rows = city_rows(2000, 0)
    write_rows(tmp_path / "x_only.csv", header[1:], [row[1:] for row in rows])
    code, out, err = cli(
        "train", "--data", tmp_path / "x_only.csv", "--target", "y", "--out", tmp_path / "m.npz", *SETTINGS
    )
    assert code == 0, err
    assert summary_of(out)["test_r2"] < 0.2 < summary["test_r2"] - 0.6


def test_evaluate_predict_and_info_use_the_embeddings(trained, tmp_path):
    _, data, path, summary = trained
    code, out, err = cli("evaluate", path, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["r2"] == pytest.approx(summary["test_r2"], abs=1e-9)
    code, out, err = cli("predict", path, data)
    assert code == 0, err
    predicted = np.array([float(line) for line in out.splitlines()[1:]])
    model = load(path)
    expected = model.predict(read_features(model, data))  # the target column is left out
    np.testing.assert_allclose(predicted, expected, rtol=1e-6)
    header, rows = city_rows(2000, 0)
    truth = np.array([float(row[2]) for row in rows])
    assert 1 - np.mean((predicted - truth) ** 2) / np.var(truth) > 0.9
    code, out, err = cli("info", path, "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["format_version"] == 4  # embeddings (3) and a scaled regression target (4)
    assert info["embeddings"] == [{"column": "city", "n_c": CITIES + 2, "d_c": 15}]
    assert info["embedding_parameters"] == 15 * (CITIES + 2)
    code, out, err = cli("info", path)
    assert "city: E (15 x 52)" in out and "in embeddings" in out


def test_plot_draws_curves_and_refuses_per_input_pictures(trained, tmp_path):
    pytest.importorskip("matplotlib", reason="plots need the plot extra")
    _, _, path, _ = trained
    code, _, err = cli("plot", path, "--kind", "curves", "--out", tmp_path / "c.png")
    assert code == 0, err
    code, _, err = cli("plot", path, "--kind", "saliency", "--out", tmp_path / "s.png")
    assert code == 2 and "learned embeddings of ['city'], which are not pixels" in err


def test_a_trained_embedding_model_saves_loads_and_predicts_identically(tmp_path):
    header, rows = city_rows(600, 3)
    write_rows(tmp_path / "c.csv", header, rows)
    dataset = load_dataset(str(tmp_path / "c.csv"), target="y", seed=0)
    result = train_model(dataset, TrainConfig(hidden=(8,), epochs=3, seed=0), progress=False)
    model = result.model
    before = model.predict(dataset.X_test)
    save(model, tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.inputs.phi, model.inputs.phi)
    np.testing.assert_array_equal(loaded.predict(dataset.X_test), before)
    assert loaded.inputs.config() == model.inputs.config()
    # the embeddings were trained: the loaded E_city is not its initial draw
    fresh = build_training(dataset, TrainConfig(hidden=(8,), epochs=3, seed=0)).model.inputs
    assert not np.array_equal(fresh.phi, loaded.inputs.phi)
    with zipfile.ZipFile(tmp_path / "m.npz") as archive:
        assert "E1.npy" in archive.namelist()


def test_build_training_carries_the_codes_and_build_model_refuses_them(tmp_path):
    header, rows = city_rows(200, 4)
    write_rows(tmp_path / "c.csv", header, rows)
    dataset = load_dataset(str(tmp_path / "c.csv"), target="y", seed=0)
    data = build_training(dataset, TrainConfig(hidden=(4,), seed=0))
    m = len(dataset.y_train)
    assert data.X.shape == (1, m) and data.codes.shape == (1, m)
    schema = data.model.features
    np.testing.assert_array_equal(data.codes.T, schema.transform(dataset.X_train).codes)
    assert set(data.fit_options) == {"codes"}
    with pytest.raises(ValueError, match=r"\['city'\] are learned as embeddings.*use build_training"):
        build_model(dataset, TrainConfig(hidden=(4,), seed=0))


def _tampered(source, target, edit) -> None:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        meta = json.loads(old.read("mlpkit.json"))
        edit(meta)
        for info in old.infolist():
            data = json.dumps(meta).encode() if info.filename == "mlpkit.json" else old.read(info)
            new.writestr(info.filename, data)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda m: m.update(embeddings=None),
            r"embeds column\(s\) \['city'\] but the file has no embeddings",
        ),
        (lambda m: m["embeddings"].update(dimensions=[16]), r"embeddings.dimensions is \[16\]"),
        (lambda m: m["embeddings"].update(vocabulary_sizes=[1 << 40]), "embeddings.vocabulary_sizes"),
        (lambda m: m["embeddings"].update(n_dense=True), "embeddings.n_dense is True"),
        (lambda m: m["embeddings"].update(dtype="float64"), "embeddings.dtype"),
        (lambda m: m["embeddings"].pop("dtype"), "embeddings must be null or an object with keys"),
        (lambda m: m["features"]["columns"][0].update(dim=16), "embeddings.dimensions is \\[15\\]"),
    ],
)
def test_load_checks_the_embeddings_against_the_schema(trained, tmp_path, edit, message):
    _, _, path, _ = trained
    _tampered(path, tmp_path / "bad.npz", edit)
    with pytest.raises(ValueError, match=message):
        load(tmp_path / "bad.npz")


def test_load_refuses_an_embedding_array_of_the_wrong_shape(trained, tmp_path):
    _, _, path, _ = trained
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(tmp_path / "bad.npz", "w") as new:
        for info in old.infolist():
            data = old.read(info)
            if info.filename == "E1.npy":
                buffer = io.BytesIO()
                np.save(buffer, np.zeros((15, 51), dtype=np.float32))
                data = buffer.getvalue()
            new.writestr(info.filename, data)
    with pytest.raises(ValueError, match="E1"):
        load(tmp_path / "bad.npz")


def test_a_onehot_only_table_trains_as_before(tmp_path):
    rng = np.random.default_rng(5)
    rows = [[rng.choice(["a", "b", "c"]), f"{rng.normal():.4f}", str(rng.integers(0, 2))] for _ in range(200)]
    write_rows(tmp_path / "small.csv", ["kind", "x", "label"], rows)
    dataset = load_dataset(str(tmp_path / "small.csv"), target="label", seed=0)
    config = TrainConfig(hidden=(4,), epochs=2, seed=0)
    model, X, _ = build_model(dataset, config)
    onehot = FeatureSchema.fit(dataset.X_train, encoding="onehot", scaling=config.table_scaling)
    assert model.inputs is None and model.features.to_dict() == onehot.to_dict()
    np.testing.assert_array_equal(X, onehot.transform(dataset.X_train, model.net.dtype).dense.T)
    result = train_model(dataset, config, progress=False)
    save(result.model, tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz") as archive:
        meta = json.loads(archive.read("mlpkit.json"))
        assert meta["format_version"] == 2 and meta["embeddings"] is None
        assert not any(name.startswith("E") for name in archive.namelist())
    np.testing.assert_array_equal(
        load(tmp_path / "m.npz").predict(dataset.X_test), result.model.predict(dataset.X_test)
    )


def test_the_library_refuses_per_input_pictures_of_embeddings_as_the_command_does(trained):
    from mlpkit.plots import check_plottable

    _, _, path, _ = trained
    model = load(path)
    for kind in ("weights", "saliency"):
        with pytest.raises(ValueError, match=r"learned embeddings of \['city'\], which are not pixels"):
            check_plottable(model, kind)
    check_plottable(model, "curves")
