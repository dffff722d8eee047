"""ONNX export: every activation and output pair run in onnxruntime against mlpkit's own predictions."""

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from mlpkit import DNN
from mlpkit.export import IR_VERSION, OPSET_VERSION, export_onnx, to_onnx
from mlpkit.io import save
from mlpkit.model import Model
from mlpkit.preprocessing import AffineScaler

HIDDEN = ["relu", "leaky_relu", "sigmoid", "tanh", "identity"]
# (output activation, n_L, task)
OUTPUTS = [
    ("softmax", 4, "multiclass"),
    ("sigmoid", 1, "binary"),
    ("softmax", 2, "binary"),
    ("sigmoid", 3, "multilabel"),
    ("identity", 2, "regression"),
]
N_X = 6


def raw_rows(m: int, seed: int = 0) -> np.ndarray:
    """Feature rows far from standardized, so that folding the scaler matters."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, N_X)) * np.linspace(0.5, 3.0, N_X) + np.arange(N_X)).astype(np.float32)


def make_model(hidden: str, output: str, n_L: int, task: str, dtype: str = "float32", labels=None) -> Model:
    net = DNN([N_X, 8, 5, n_L], hidden, output, seed=7, dtype=dtype)
    scaler = AffineScaler("standard").fit(raw_rows(200, seed=1))
    return Model(net, scaler, task=task, labels=labels)


def run(path_or_proto, rows: np.ndarray) -> dict[str, np.ndarray]:
    payload = (
        path_or_proto.SerializeToString()
        if hasattr(path_or_proto, "SerializeToString")
        else str(path_or_proto)
    )
    session = ort.InferenceSession(payload, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, {"X": rows}), strict=True))


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output, n_L, task", OUTPUTS)
def test_onnxruntime_matches_mlpkit(tmp_path, hidden, output, n_L, task):
    model = make_model(hidden, output, n_L, task)
    rows = raw_rows(64, seed=2)
    path = export_onnx(model, tmp_path / "model.onnx")
    got = run(path, rows)
    outputs = model.outputs(rows)
    if task == "regression":
        assert sorted(got) == ["variable"]
        np.testing.assert_allclose(got["variable"], outputs, rtol=1e-5, atol=1e-5)
        return
    assert sorted(got) == ["label", "probabilities"]
    assert got["probabilities"].dtype == np.float32 and got["label"].dtype == np.int64
    np.testing.assert_allclose(got["probabilities"], model.predict_proba(rows), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(got["label"], model.decide(outputs))


def test_versions_checker_and_free_batch_dimension(tmp_path):
    path = export_onnx(make_model("relu", "softmax", 4, "multiclass"), tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version == IR_VERSION == 8
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", OPSET_VERSION)]
    (graph_input,) = proto.graph.input
    dims = graph_input.type.tensor_type.shape.dim
    assert graph_input.name == "X" and graph_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert dims[0].dim_param == "N" and dims[1].dim_value == N_X
    used = {node.op_type for node in proto.graph.node}
    assert used <= {"Gemm", "Relu", "Softmax", "ArgMax", "Gather"}
    for m in (1, 7):
        assert run(path, raw_rows(m))["probabilities"].shape == (m, 4)


def test_scaler_folding_by_hand():
    """One feature: W1 = 2, b1 = 1, offset 3, scale 2 -> W1' = 2/2 = 1, b1' = 1 - 1 * 3 = -2."""
    net = DNN([1, 1], output_activation="identity", dtype="float64")
    net.params["W1"][...] = 2.0
    net.params["b1"][...] = 1.0
    model = Model(net, AffineScaler.from_arrays([3.0], [2.0]), task="regression")
    initializers = {t.name: onnx.numpy_helper.to_array(t) for t in to_onnx(model).graph.initializer}
    np.testing.assert_array_equal(initializers["W1"], [[1.0]])
    np.testing.assert_array_equal(initializers["b1"], [-2.0])
    x = np.array([[5.0], [-1.0]], dtype=np.float32)
    np.testing.assert_allclose(run(to_onnx(model), x)["variable"], 2 * (x - 3) / 2 + 1)


@pytest.mark.parametrize(
    ("output", "n_L", "task", "labels", "dtype"),
    [
        ("softmax", 3, "multiclass", ["cat", "dog", "fish"], object),
        ("softmax", 3, "multiclass", [3, 5, 7], np.int64),
        ("softmax", 2, "binary", [0.5, 2.5], np.float64),
        ("sigmoid", 1, "binary", [False, True], np.bool_),
        ("sigmoid", 1, "binary", ["no", "yes"], object),
    ],
)
def test_label_holds_the_classes_predict_returns(output, n_L, task, labels, dtype):
    # as scikit-learn's converter: a model trained on '7' answers '7', one trained on 7 answers 7
    model = make_model("tanh", output, n_L, task, labels=labels)
    proto = to_onnx(model)
    rows = raw_rows(40, seed=3)
    got = run(proto, rows)["label"]
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, model.predict(rows))
    metadata = {prop.key: prop.value for prop in proto.metadata_props}
    assert json.loads(metadata["labels"]) == labels
    assert metadata["task"] == task and metadata["preprocessing"] == "folded into W1, b1"


def test_a_bare_network_answers_class_indices():
    net = DNN([N_X, 5, 3], "tanh", "softmax", seed=3)
    rows = raw_rows(30)
    np.testing.assert_array_equal(run(to_onnx(net), rows)["label"], net.predict(rows.T))


def test_dnn_float64_and_objects_with_to_model():
    net = DNN([N_X, 5, 3], "tanh", "softmax", seed=3, dtype="float64")
    rows = raw_rows(30)
    expected = net.predict_proba(rows.T.astype(np.float64)).T
    np.testing.assert_allclose(run(to_onnx(net), rows)["probabilities"], expected, atol=1e-5)

    class Fitted:
        def to_model(self):
            return make_model("relu", "sigmoid", 1, "binary")

    got = run(to_onnx(Fitted()), rows)
    np.testing.assert_allclose(got["probabilities"], Fitted().to_model().predict_proba(rows), atol=1e-5)
    assert got["probabilities"].shape == (30, 2)


def test_bad_inputs_name_the_problem(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"expects an mlpkit Model, a DNN, or an object with to_model\(\)"):
        export_onnx(object(), tmp_path / "m.onnx")
    missing = tmp_path / "no-such-folder" / "m.onnx"
    with pytest.raises(ValueError, match="does not exist"):
        export_onnx(DNN([2, 1]), missing)
    assert not missing.parent.exists()
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'pip install "mlpkit\[onnx\]"'):
        to_onnx(DNN([2, 1]))
    assert list(tmp_path.iterdir()) == []


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlpkit.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_export_writes_a_file_onnxruntime_agrees_with(tmp_path):
    model = make_model("relu", "softmax", 3, "multiclass", labels=["a", "b", "c"])
    save(model, tmp_path / "model.npz")
    done = run_cli("export", str(tmp_path / "model.npz"), "--onnx", str(tmp_path / "model.onnx"))
    assert done.returncode == 0, done.stderr
    assert f"opset {OPSET_VERSION}, IR version {IR_VERSION}" in done.stdout
    rows = raw_rows(25, seed=6)
    np.testing.assert_allclose(
        run(tmp_path / "model.onnx", rows)["probabilities"], model.predict_proba(rows), atol=1e-5
    )


def test_cli_export_bad_input_exits_2_and_writes_nothing(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a model")
    done = run_cli("export", str(tmp_path / "junk.npz"), "--onnx", str(tmp_path / "out.onnx"))
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and "junk.npz" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out.onnx").exists()
    save(make_model("tanh", "sigmoid", 1, "binary"), tmp_path / "model.npz")
    done = run_cli("export", str(tmp_path / "model.npz"), "--onnx", str(tmp_path / "no" / "out.onnx"))
    assert done.returncode == 2 and "--out" in done.stderr and "does not exist" in done.stderr
