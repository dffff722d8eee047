"""A table with text, booleans and missing cells, end to end: mlpkit train, evaluate, predict (columns in
another order) and info; the model file keeps the schema, checked on load."""

import contextlib
import csv
import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

import mlpkit
from mlpkit.cli import main
from mlpkit.datasets import load_dataset
from mlpkit.features import FeatureSchema
from mlpkit.io import load, save
from mlpkit.model import Model
from mlpkit.network import DNN

COLUMNS = ["age", "home", "income", "student", "city", "zip", "label"]


def people(m: int, seed: int) -> list[list[str]]:
    """Rows whose label follows home, student and income; gaps in numbers, text and booleans."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(m):
        home = rng.choice(["rent", "own", "mortgage", "NA", ""])
        student = rng.choice(["true", "false", ""])
        income = rng.lognormal(10, 1)
        score = (home == "own") + (student == "true") + (income > 30000) + 0.3 * rng.normal()
        rows.append(
            [
                "" if rng.random() < 0.1 else str(rng.integers(18, 80)),
                home,
                "NaN" if rng.random() < 0.1 else f"{income:.2f}",
                student,
                rng.choice(["Paris, FR", "Lyon", "Nice"]),
                rng.choice(["01000", "75001", "13000"]),
                "yes" if score > 1 else "no",
            ]
        )
    return rows


def write_rows(path, header, rows) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("table")
    data = folder / "people.csv"
    write_rows(data, COLUMNS, people(400, 0))
    model = folder / "people.npz"
    argv = ["train", "--data", str(data), "--target", "label", "--categorical", "zip", "--hidden", "16"]
    argv += ["--epochs", "60", "--lr", "0.01", "--batch-size", "32", "--out", str(model)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return folder, data, model, out.getvalue()


def test_train_prints_the_detected_schema(trained):
    _, _, path, stdout = trained
    lines = stdout.splitlines()
    assert lines[0].startswith("data      people.csv: 320 train / 80 test rows, 6 features, 2 classes")
    assert lines[1].startswith("features  6 columns -> 17 inputs: 2 numeric (robust scaling, 2 with a")
    described = "\n".join(lines[2:8])
    assert "home             categorical, 3 values + missing, one-hot, 4 columns" in described
    assert "student          categorical, 2 values + missing, one-hot, 3 columns" in described
    assert "zip              categorical, 3 values, one-hot, 3 columns" in described
    assert "age              numeric" in described and "missing -> median + indicator" in described
    assert lines[8].startswith("network   17-16-1, relu hidden, sigmoid output (binary)")
    model = load(path)
    assert model.features.columns == ["age", "home", "income", "student", "city", "zip"]
    assert model.features.features[5].categories == ("01000", "13000", "75001")  # zip read as text
    assert model.metrics["test_accuracy"] > 0.7


def test_evaluate_is_the_test_split_scored_by_scikit_learn(trained, capsys):
    _, data, path, _ = trained
    assert main(["evaluate", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    model = load(path)
    split = load_dataset(data, target="label", categorical=["zip"], seed=0, test_fraction=0.2)
    assert report["rows"] == 80
    assert report["accuracy"] == pytest.approx(accuracy_score(split.y_test, model.predict(split.X_test)))
    assert report["accuracy"] == pytest.approx(model.metrics["test_accuracy"])


def test_predict_matches_columns_by_name_in_any_order(trained, tmp_path, capsys):
    _, _, path, _ = trained
    rows = people(50, 1)
    order = [5, 3, 0, 4, 2, 1]  # zip, student, age, city, income, home; no label
    shuffled = tmp_path / "new.csv"
    write_rows(shuffled, [COLUMNS[i] for i in order], [[row[i] for i in order] for row in rows])
    assert main(["predict", str(path), str(shuffled), "--proba"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    # the same rows read by pandas, in the training order, through the Python API
    frame = pd.read_csv(shuffled, dtype={"zip": str}, keep_default_na=False, na_values=["", "NA", "NaN"])[
        COLUMNS[:-1]
    ]
    model = load(path)
    assert [line["prediction"] for line in table] == model.predict(frame).tolist()
    probabilities = np.array([[float(line["proba_no"]), float(line["proba_yes"])] for line in table])
    np.testing.assert_allclose(probabilities, model.predict_proba(frame), rtol=1e-5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)


def test_info_shows_the_schema(trained, capsys):
    _, _, path, _ = trained
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format_version"] == 2 and info["preprocessing"] is None
    assert info["features"][0].startswith("6 columns -> 17 inputs")
    assert info["config"]["categorical"] == ["zip"] and info["config"]["table_scaling"] == "robust"
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "format         mlpkit-model version 2" in text and "features       6 columns -> 17 inputs" in text


def test_a_table_model_file_round_trips_and_its_schema_is_checked(tmp_path):
    frame = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0], "c": ["a", "b", None, "a"]})
    schema = FeatureSchema.fit(frame, encoding="onehot")
    net = DNN([schema.dense_width, 3, 1], output_activation="sigmoid", seed=0)
    model = Model(net, task="binary", features=schema)
    path = save(model, tmp_path / "m.npz")
    again = load(path)
    assert again.features == schema
    np.testing.assert_array_equal(again.predict_proba(frame), model.predict_proba(frame))
    meta_text = _meta(path)
    bad = json.loads(meta_text)
    bad["features"]["columns"][0]["scale"] = -1
    _write_meta(path, tmp_path / "bad.npz", bad)
    with pytest.raises(ValueError, match=r"bad.npz: features.columns\[0\].scale must be > 0"):
        load(tmp_path / "bad.npz")
    wider = json.loads(meta_text)
    wider["features"]["columns"][1]["categories"] = ["a", "b", "z"]
    _write_meta(path, tmp_path / "wider.npz", wider)
    with pytest.raises(ValueError, match=r"wider.npz: the feature schema makes 6 inputs but the network"):
        load(tmp_path / "wider.npz")


def test_a_model_refuses_an_embedding_schema_without_embeddings_and_a_scaler_with_a_schema():
    frame = {"c": [f"v{i}" for i in range(20)]}
    embedded = FeatureSchema.fit(frame)
    with pytest.raises(ValueError, match=r"embeds column\(s\) \['c'\]; the model needs their embeddings"):
        Model(DNN([1, 1], output_activation="sigmoid"), task="binary", features=embedded)
    onehot = FeatureSchema.fit(frame, encoding="onehot")
    scaler = mlpkit.preprocessing.AffineScaler().fit(np.zeros((2, 20)))
    with pytest.raises(ValueError, match="a scaler or a feature schema, not both"):
        Model(DNN([20, 1], output_activation="sigmoid"), scaler, task="binary", features=onehot)


def _meta(path) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read("mlpkit.json").decode()


def _write_meta(source, target, meta: dict) -> None:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            data = json.dumps(meta).encode() if info.filename == "mlpkit.json" else old.read(info)
            new.writestr(info.filename, data)


def test_the_confusion_plot_reads_the_table(trained, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="plots need the plot extra")
    _, _, path, _ = trained
    out = tmp_path / "confusion.png"
    assert main(["plot", str(path), "--kind", "confusion", "--out", str(out)]) == 0
    assert "(test split, 80 rows)" in capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_table_of_raw_columns_is_an_array_only_when_all_numbers_are_there():
    from mlpkit.tables import as_table

    np.testing.assert_array_equal(np.asarray(as_table({"a": [1.0, 2.0], "b": [3, 4]})), [[1, 3], [2, 4]])
    with pytest.raises(ValueError, match=r"row 1, column 'a': missing value"):
        np.asarray(as_table({"a": [1.0, np.nan]}))
    with pytest.raises(ValueError, match=r"column 'c' holds text \('x', ...\); this model takes numbers"):
        np.asarray(as_table({"c": ["x", "y"]}))


def test_ignore_leaves_an_identifier_out_and_predict_accepts_it(tmp_path, capsys):
    header = ["customer", *COLUMNS]
    rows = [[f"C{i:05d}", *row] for i, row in enumerate(people(1500, 3))]  # 1,500 distinct identifiers
    write_rows(tmp_path / "ids.csv", header, rows)
    argv = [
        "train",
        "--data",
        str(tmp_path / "ids.csv"),
        "--epochs",
        "5",
        "--quiet",
        "--out",
        str(tmp_path / "m.npz"),
    ]
    assert main(argv) == 2
    assert "--ignore customer" in capsys.readouterr().err  # the cap's message says how to leave it out
    assert main([*argv, "--ignore", "customer", "--json"]) == 0
    model = load(tmp_path / "m.npz")
    assert model.features.ignored == ["customer"] and "customer" not in model.features.columns
    assert model.config["ignore"] == ["customer"]
    capsys.readouterr()
    assert (
        main(
            ["predict", str(tmp_path / "m.npz"), str(tmp_path / "ids.csv"), "--out", str(tmp_path / "p.csv")]
        )
        == 0
    )
    predicted = pd.read_csv(tmp_path / "p.csv").iloc[:, 0].to_numpy()
    frame = pd.read_csv(
        tmp_path / "ids.csv", dtype={"zip": str}, keep_default_na=False, na_values=["", "NA", "NaN"]
    )
    expected = model.predict(frame[model.features.columns])  # the training columns alone
    np.testing.assert_array_equal(predicted, expected)  # the identifier changes nothing


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--ignore", "custmer"], "ignore names column(s) ['custmer'] not in the table"),
        (["--ignore", "incme"], "did you mean 'income'?"),  # a close spelling
        (["--categorical", "CITY"], "did you mean 'city'?"),  # the same name but for case
        (
            ["--ignore", "city", "--categorical", "city"],
            "named both as categories and as columns to leave out",
        ),
    ],
)
def test_ignore_names_only_columns_it_can_leave_out(flags, message, trained, capsys):
    _, data, _, _ = trained
    assert main(["train", "--data", str(data), "--epochs", "1", "--quiet", *flags]) == 2
    assert message in capsys.readouterr().err


def test_train_warns_of_a_column_seen_once_and_reads_written_prices(tmp_path, capsys):
    rng = np.random.default_rng(6)
    m = 300
    prices = rng.uniform(10, 20000, m)
    frame = pd.DataFrame(
        {
            "ticket": [f"T-{i:04d}" for i in rng.permutation(m)],
            "price": [f"${v:,.2f}" for v in prices],
            "y": np.where(prices > 10000, "dear", "cheap"),
        }
    )
    frame.to_csv(tmp_path / "sales.csv", index=False)
    out = tmp_path / "m.npz"
    assert main(["train", str(tmp_path / "sales.csv"), "--epochs", "3", "--quiet", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: column 'ticket' has 240 distinct values in 240 training rows" in err  # 80% trains
    assert "--ignore ticket" in err and "'price'" not in err
    model = load(out)
    assert {feature.name: feature.kind for feature in model.features.features}["price"] == "numeric"
    # the same rows with the prices as plain numbers: the same predictions
    frame.assign(price=[float(f"{v:.2f}") for v in prices]).to_csv(tmp_path / "plain.csv", index=False)
    predictions = []
    for name in ("sales.csv", "plain.csv"):
        target = tmp_path / f"p-{name}"
        assert main(["predict", str(out), str(tmp_path / name), "--out", str(target)]) == 0
        predictions.append(pd.read_csv(target).iloc[:, 0].tolist())
    assert predictions[0] == predictions[1]


def test_a_date_column_trains_as_days_and_predicts_a_later_date(tmp_path, capsys):
    rng = np.random.default_rng(8)
    days = pd.date_range("2022-01-01", periods=400, freq="D")
    trend = np.arange(400) / 400
    frame = pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "x": rng.normal(size=400)})
    frame["y"] = np.where(trend + 0.1 * frame["x"] > 0.5, "late", "early")
    frame.to_csv(tmp_path / "days.csv", index=False)
    out = tmp_path / "m.npz"
    assert main(["train", str(tmp_path / "days.csv"), "--epochs", "20", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "dates as days, median 2022-" in printed.out and "warning" not in printed.err
    assert load(out).features.features[0].dates
    (tmp_path / "new.csv").write_text("day,x\n2023-06-01,0.0\n2021-01-01,0.0\n")
    assert main(["predict", str(out), str(tmp_path / "new.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    assert pd.read_csv(tmp_path / "p.csv").iloc[:, 0].tolist() == ["late", "early"]  # beyond both ends
    (tmp_path / "bad.csv").write_text("day,x\n2023-06-01,0.0\nsoon,0.0\n")
    assert main(["predict", str(out), str(tmp_path / "bad.csv"), "--out", str(tmp_path / "q.csv")]) == 2
    assert "column 'day': 'soon' is not a date" in capsys.readouterr().err
    assert not (tmp_path / "q.csv").exists()
