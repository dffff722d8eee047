"""ONNX export of models trained on tables: the column schema in the graph, one input per raw column."""

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest

from mlpkit import DNN
from mlpkit.embeddings import EmbeddingInput
from mlpkit.export import MISSING_TEXT, export_onnx, onnx_inputs, to_onnx
from mlpkit.features import FeatureSchema
from mlpkit.io import save
from mlpkit.model import Model

CITIES = [f"city{k}" for k in range(12)]


def training_frame(m: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 12, m)
    age[rng.random(m) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "age": age,
            "income": rng.lognormal(10, 1, m),  # no gap: no indicator
            "home": rng.choice(np.array(["own", "rent", "other", None], dtype=object), m),
            "member": rng.choice([True, False], m),
            "rooms": rng.integers(1, 5, m).astype(float),  # numbers named categorical
            "city": rng.choice(CITIES, m),
        }
    )


def new_rows(m: int = 60, seed: int = 1) -> pd.DataFrame:
    """Rows to predict: gaps where training had none, unseen categories, extreme numbers."""
    frame = training_frame(m, seed)
    frame.loc[::7, "income"] = np.nan
    frame.loc[1::5, "home"] = "castle"
    frame.loc[2::9, "home"] = None
    frame.loc[3::8, "rooms"] = 9.0
    frame.loc[3::11, "rooms"] = np.nan
    frame.loc[4::6, "age"] = 1e9
    frame.loc[5::10, "city"] = "atlantis"
    return frame


def table_model(scaling="robust", output=("softmax", 3, "multiclass"), labels=("a", "b", "c"), m=200):
    frame = training_frame(m)
    schema = FeatureSchema.fit(frame, ["rooms"], encoding="onehot", scaling=scaling)
    activation, n_L, task = output
    net = DNN([schema.dense_width, 8, 5, n_L], "tanh", activation, seed=2)
    labels = list(labels) if labels is not None else None
    return Model(net, task=task, labels=labels, features=schema)


def run(proto, feed: dict) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, feed), strict=True))


@pytest.mark.parametrize("scaling", ["robust", "standard"])
@pytest.mark.parametrize(
    "output, labels",
    [
        (("softmax", 3, "multiclass"), ("a", "b", "c")),
        (("sigmoid", 1, "binary"), (False, True)),
        (("softmax", 2, "binary"), (3, 7)),
        (("identity", 2, "regression"), None),
    ],
)
def test_raw_rows_in_onnxruntime_match_predict(scaling, output, labels):
    model = table_model(scaling, output, labels)
    proto = to_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    rows = new_rows()
    got = run(proto, onnx_inputs(model, rows))
    if output[2] == "regression":
        np.testing.assert_allclose(got["variable"], model.predict(rows), rtol=1e-5, atol=1e-5)
        return
    np.testing.assert_allclose(got["probabilities"], model.predict_proba(rows), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(got["label"], model.predict(rows))


def test_inputs_are_the_training_columns_by_name_and_type():
    model = table_model()
    proto = to_onnx(model)
    types = {i.name: i.type.tensor_type.elem_type for i in proto.graph.input}
    S, F = onnx.TensorProto.STRING, onnx.TensorProto.FLOAT
    assert types == {"age": F, "income": F, "home": S, "member": S, "rooms": S, "city": S}
    for graph_input in proto.graph.input:
        dims = graph_input.type.tensor_type.shape.dim
        assert dims[0].dim_param == "N" and dims[1].dim_value == 1
    opsets = {o.domain: o.version for o in proto.opset_import}
    assert opsets == {"": 17, "ai.onnx.ml": 3}
    metadata = {prop.key: prop.value for prop in proto.metadata_props}
    assert json.loads(metadata["inputs"]) == model.features.kinds()
    assert metadata["missing_text"] == MISSING_TEXT == ""
    used = {node.op_type for node in proto.graph.node}
    assert {"IsNaN", "Where", "Asinh", "LabelEncoder", "Equal", "Concat", "Gemm"} <= used


def test_feeding_by_hand_one_row_at_a_time():
    model = table_model()
    rows = new_rows(5)
    proto = to_onnx(model)
    for i in range(len(rows)):
        row = rows.iloc[i]
        feed = {
            "age": np.array([[row["age"]]], dtype=np.float32),
            "income": np.array([[row["income"]]], dtype=np.float32),
            "home": np.array([[row["home"] if isinstance(row["home"], str) else ""]], dtype=object),
            "member": np.array([[str(bool(row["member"]))]], dtype=object),
            "rooms": np.array([["" if np.isnan(row["rooms"]) else str(int(row["rooms"]))]], dtype=object),
            "city": np.array([[row["city"]]], dtype=object),
        }
        got = run(proto, feed)
        np.testing.assert_allclose(got["probabilities"], model.predict_proba(rows.iloc[[i]]), atol=1e-5)


def test_learned_embeddings_are_gathered_from_E_transposed():
    # the Model does not take embeddings yet: a stand-in holds the schema, the network and E_c
    frame = training_frame()
    schema = FeatureSchema.fit(frame, ["rooms"], encoding={"city": "embedding"})
    ((name, n_c, d_c),) = schema.embedded
    inputs = EmbeddingInput(schema.dense_width, [n_c], [d_c], seed=0)
    net = DNN([inputs.n_x, 7, 4], "relu", "softmax", seed=5)
    stand_in = SimpleNamespace(
        net=net, features=schema, inputs=inputs, labels=list("wxyz"), task="multiclass"
    )
    rows = new_rows()
    features = schema.transform(rows, np.float32)
    expected = net.predict_proba(inputs.forward(features.dense.T, features.codes.T)).T
    proto = to_onnx(stand_in)
    assert any(node.op_type == "Gather" and "E1_T" in node.input for node in proto.graph.node)
    got = run(proto, onnx_inputs(schema, rows))
    np.testing.assert_allclose(got["probabilities"], expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(got["label"], np.array(list("wxyz"))[expected.argmax(axis=1)])


def test_a_column_named_like_an_internal_tensor_keeps_its_name():
    frame = pd.DataFrame({"W1": [1.0, 2.0, 3.0, 4.0], "p": ["u", "v", "u", None], "A0": [0.5, 0.1, 0.2, 0.3]})
    schema = FeatureSchema.fit(frame)
    model = Model(DNN([schema.dense_width, 3, 1], "tanh", "sigmoid", seed=1), task="binary", features=schema)
    got = run(to_onnx(model), onnx_inputs(model, frame))
    np.testing.assert_allclose(got["probabilities"], model.predict_proba(frame), atol=1e-5)


def stand_in_with(schema, inputs=None):
    n_x = schema.dense_width + (sum(inputs.dimensions) if inputs is not None else 0)
    return SimpleNamespace(net=DNN([max(n_x, 1), 2]), features=schema, inputs=inputs, labels=None, task=None)


def test_schemas_it_cannot_export_are_refused(tmp_path):
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "t": ["", "a", "b"], "label": [1.0, 0.0, 1.0]})
    with pytest.raises(ValueError, match="empty string as a category"):
        export_onnx(stand_in_with(FeatureSchema.fit(frame[["x", "t"]])), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=r"\['label'\] have the name of an ONNX output"):
        to_onnx(stand_in_with(FeatureSchema.fit(frame[["x", "label"]])))
    embedded = FeatureSchema.fit(training_frame(), ["rooms"], encoding={"city": "embedding"})
    with pytest.raises(ValueError, match=r"embeds column\(s\) \['city'\] but the model has no embeddings"):
        to_onnx(stand_in_with(embedded))
    wrong = EmbeddingInput(embedded.dense_width, [5], [embedded.embedded[0][2]], seed=0)
    with pytest.raises(ValueError, match="do not match the feature schema"):
        to_onnx(stand_in_with(embedded, wrong))
    assert list(tmp_path.iterdir()) == []


def test_cli_exports_a_table_model_and_refuses_one_it_cannot(tmp_path):
    model = table_model()
    save(model, tmp_path / "model.npz")
    command = [sys.executable, "-m", "mlpkit.cli", "export", str(tmp_path / "model.npz"), "--onnx"]
    done = subprocess.run([*command, str(tmp_path / "m.onnx")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    proto = onnx.load(str(tmp_path / "m.onnx"))
    rows = new_rows(20)
    np.testing.assert_array_equal(run(proto, onnx_inputs(model, rows))["label"], model.predict(rows))
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "t": ["", "a", "b", "a"]})
    schema = FeatureSchema.fit(frame)
    save(
        Model(DNN([schema.dense_width, 1], output_activation="identity"), task="regression", features=schema),
        tmp_path / "empty.npz",
    )
    command[4] = str(tmp_path / "empty.npz")
    done = subprocess.run([*command, str(tmp_path / "e.onnx")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "empty string" in done.stderr and not (tmp_path / "e.onnx").exists()


def test_a_date_column_goes_into_the_graph_as_its_days():
    rng = np.random.default_rng(7)
    days = pd.date_range("2023-01-01", periods=150, freq="36h")
    schema = FeatureSchema.fit(pd.DataFrame({"day": days, "x": rng.normal(size=150)}))
    net = DNN([schema.dense_width, 4, 1], "tanh", "identity", seed=0)
    model = Model(net, task="regression", features=schema)
    later = pd.DataFrame({"day": pd.to_datetime(["2024-06-01 06:00", "2022-12-01 00:00"]), "x": [0.1, -0.2]})
    feed = onnx_inputs(model, later)
    since_1970 = (later["day"] - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)  # pandas' own days
    np.testing.assert_allclose(feed["day"][:, 0], since_1970, rtol=1e-7)
    got = run(to_onnx(model), feed)
    np.testing.assert_allclose(got["variable"].ravel(), model.predict(later), rtol=1e-5, atol=1e-5)


def test_the_feed_reads_numbers_written_with_signs_as_predict_does():
    model = table_model()
    rows = new_rows().dropna(subset=["income"])
    written = rows.assign(income=[f"${value:,.2f}" for value in rows["income"]])
    plain = rows.assign(income=[float(f"{value:.2f}") for value in rows["income"]])
    np.testing.assert_array_equal(onnx_inputs(model, written)["income"], onnx_inputs(model, plain)["income"])
    with pytest.raises(ValueError, match=r"column 'income': 'lots' is not a number"):
        onnx_inputs(model, rows.assign(income=["lots"] * len(rows)))
