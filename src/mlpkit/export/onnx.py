"""ONNX export: a trained network as standard ONNX operators, its preprocessing folded into W1 and b1.

The file takes raw feature rows: one float32 input ``X`` of shape ``[N, n_x]`` (``N`` free);
a model with a feature schema takes one input per training column instead (:mod:`mlpkit.export.table`).
Each layer is one ``Gemm`` (``Z_l = A_{l-1} W_l^T + b_l^T``, rows are samples, ``W_l`` kept in
the notes' ``(n_l, n_{l-1})`` orientation with ``transB=1``) followed by its activation.
Outputs follow scikit-learn's ONNX converter:

- softmax (multi-class): ``label`` ``[N]`` and ``probabilities`` float ``[N, n_classes]``;
- sigmoid with one unit (binary): ``label`` ``[N]`` (the second class when ``p > 0.5``) and
  ``probabilities`` ``[N, 2]`` holding ``[1 - p, p]``;
- sigmoid with several units (multi-label): ``label`` int64 ``[N, n_L]`` (0/1 per output) and
  ``probabilities`` ``[N, n_L]``;
- identity (regression): ``variable`` float ``[N, n_L]``; exp (Poisson regression) the same, its mean.

For a Model, ``label`` holds the class labels themselves, as ``Model.predict`` returns them:
int64 when every class is an integer, bool or double likewise, strings otherwise. A bare DNN
has no labels: its ``label`` is the class index, the one ``DNN.predict`` returns. The labels
and their display names are also stored as JSON in the file's metadata (``labels``,
``label_names``).
"""

from __future__ import annotations

import json
import numbers
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlpkit.activations import LEAKY_RELU_SLOPE
from mlpkit.export.graph import GraphBuilder
from mlpkit.export.table import MISSING_TEXT, add_table, check_table
from mlpkit.io import atomic_write, check_writable
from mlpkit.network import DNN
from mlpkit.tasks import infer_task

OPSET_VERSION = 17
IR_VERSION = 8
INPUT_NAME = "X"
BATCH_DIM = "N"
HIDDEN_OPERATORS = {"relu": "Relu", "leaky_relu": "LeakyRelu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
ONNX_EXTRA_HINT = 'ONNX export needs the onnx package: pip install "mlpkit[onnx]"'


@dataclass(frozen=True)
class ExportSource:
    """What the exporter reads from a model: the network, the affine preprocessing and the labels."""

    net: DNN
    scaler: Any
    labels: list | None
    label_names: list[str] | None
    task: str
    features: Any = None
    inputs: Any = None
    target_scaler: Any = None


def _import_onnx():
    try:
        import onnx
    except ImportError as error:
        raise ImportError(ONNX_EXTRA_HINT) from error
    return onnx


def _check_scaler(scaler: Any, n_x: int) -> None:
    """An affine scaler with finite ``offset_`` and nonzero ``scale_`` of shape ``(n_x,)``, or ValueError."""
    if not callable(getattr(scaler, "fold", None)) or not hasattr(scaler, "offset_"):
        raise ValueError(
            f"the model's scaler {type(scaler).__name__} is not a fitted AffineScaler; only an affine "
            "scaler x_scaled = (x - offset_) / scale_ can be folded into W1 and b1"
        )
    for name in ("offset_", "scale_"):
        values = np.asarray(getattr(scaler, name))
        if values.shape != (n_x,):
            raise ValueError(f"scaler.{name} has shape {values.shape}, expected ({n_x},) = (n_x,)")
        if not np.isfinite(values).all():
            raise ValueError(
                f"scaler.{name} holds NaN or infinity at feature {int(np.argmin(np.isfinite(values)))}"
            )
    if (np.asarray(scaler.scale_) == 0).any():
        raise ValueError(
            f"scaler.scale_ is 0 at feature {int(np.argmax(scaler.scale_ == 0))}; it cannot be folded"
        )


def export_source(model: Any) -> ExportSource:
    """Read the network, preprocessing and label names from a Model, a DNN, or an object with to_model()."""
    if isinstance(model, DNN):
        return ExportSource(model, None, None, None, infer_task(model))
    if not isinstance(getattr(model, "net", None), DNN) and callable(getattr(model, "to_model", None)):
        model = model.to_model()
    net = getattr(model, "net", None)
    if not isinstance(net, DNN):
        raise ValueError(
            f"export_onnx expects an mlpkit Model, a DNN, or an object with to_model() (a fitted "
            f"estimator); got {type(model).__name__}"
        )
    scaler = getattr(model, "scaler", None)
    features, inputs = getattr(model, "features", None), getattr(model, "inputs", None)
    if features is not None:
        check_table(features, inputs, net.layer_sizes[0])
    elif inputs is not None:
        raise ValueError("the model has learned embeddings but no feature schema to read its columns")
    if scaler is not None:
        _check_scaler(scaler, net.layer_sizes[0])
    labels, label_names = getattr(model, "labels", None), getattr(model, "label_names", None)
    task = getattr(model, "task", None) or infer_task(net)
    labels = list(labels) if labels else None
    target_scaler = getattr(model, "target_scaler", None)
    names = list(label_names) if label_names else None
    return ExportSource(net, scaler, labels, names, task, features, inputs, target_scaler)


def _add_layers(builder: GraphBuilder, source: ExportSource, A0: str) -> str:
    """One Gemm per layer plus each hidden activation; returns the name of ``Z_L``."""
    net = source.net
    A_prev = A0
    for l in range(1, net.L + 1):
        W, b = net.params[f"W{l}"], net.params[f"b{l}"]
        if l == 1 and source.scaler is not None:
            # fold x_scaled = (x - offset) / scale into W1, b1 (in float64, then to float32)
            W, b = source.scaler.fold(W.astype(np.float64), b.astype(np.float64))
        if l == net.L and source.target_scaler is not None:
            # fold y = Z_L * scale + offset into W_L, b_L: the graph's outputs in the target's units
            W, b = source.target_scaler.unfold(W.astype(np.float64), b.astype(np.float64))
        builder.constant(f"W{l}", np.ascontiguousarray(W, dtype=np.float32))
        builder.constant(f"b{l}", np.asarray(b, dtype=np.float32).reshape(-1))
        Z = builder.node("Gemm", [A_prev, f"W{l}", f"b{l}"], f"Z{l}", transB=1)  # (N, n_l)
        if l < net.L:
            A_prev = _add_hidden_activation(builder, net.hidden_activations[l - 1], Z, f"A{l}")
    return Z


def _add_hidden_activation(builder: GraphBuilder, name: str, Z: str, A: str) -> str:
    if name == "identity":
        return Z
    if name == "leaky_relu":
        return builder.node("LeakyRelu", [Z], A, alpha=LEAKY_RELU_SLOPE)
    return builder.node(HIDDEN_OPERATORS[name], [Z], A)


def _add_head(builder: GraphBuilder, net: DNN, Z: str, labels: list | None) -> None:
    """The output activation and the scikit-learn style outputs (label/probabilities or variable)."""
    FLOAT, INT64 = builder.onnx.TensorProto.FLOAT, builder.onnx.TensorProto.INT64
    n_L = net.layer_sizes[-1]
    if net.output_activation in ("identity", "exp"):  # exp: a Poisson model's mean
        builder.node("Identity" if net.output_activation == "identity" else "Exp", [Z], "variable")
        builder.output("variable", FLOAT, [BATCH_DIM, n_L])
        return
    if net.output_activation == "softmax":
        builder.node("Softmax", [Z], "probabilities", axis=1)
        builder.node("ArgMax", ["probabilities"], "class_index", axis=1, keepdims=0)
        _add_label(builder, "class_index", labels)
        builder.output("probabilities", FLOAT, [BATCH_DIM, n_L])
        return
    half = builder.constant("half", np.array(0.5, dtype=np.float32))
    if n_L > 1:  # multi-label: one independent sigmoid per output
        builder.node("Sigmoid", [Z], "probabilities")
        builder.node("Greater", ["probabilities", half], "positive")
        builder.node("Cast", ["positive"], "label", to=INT64)
        builder.output("label", INT64, [BATCH_DIM, n_L])
        builder.output("probabilities", FLOAT, [BATCH_DIM, n_L])
        return
    one = builder.constant("one", np.array(1.0, dtype=np.float32))
    squeeze_axes = builder.shared("squeeze_axes", np.array([1], dtype=np.int64))
    builder.node("Sigmoid", [Z], "p")  # (N, 1)
    builder.node("Sub", [one, "p"], "q")
    builder.node("Concat", ["q", "p"], "probabilities", axis=1)  # (N, 2) = [1 - p, p]
    builder.node("Greater", ["p", half], "positive")
    builder.node("Cast", ["positive"], "label_column", to=INT64)
    builder.node("Squeeze", ["label_column", squeeze_axes], "class_index")
    _add_label(builder, "class_index", labels)
    builder.output("probabilities", FLOAT, [BATCH_DIM, 2])


def _add_label(builder: GraphBuilder, index: str, labels: list | None) -> None:
    """``label``: the class labels at ``index`` (Gather from a constant), or the index itself."""
    if labels is None:
        builder.node("Identity", [index], "label")
        builder.output("label", builder.onnx.TensorProto.INT64, [BATCH_DIM])
        return
    classes = _class_values(labels)
    builder.constant("classes", classes)
    builder.node("Gather", ["classes", index], "label", axis=0)
    element_type = builder.helper.np_dtype_to_tensor_dtype(classes.dtype)
    builder.output("label", element_type, [BATCH_DIM])


def _class_values(labels: list) -> np.ndarray:
    """The classes as a constant: bool, int64 or double when every label is one, strings otherwise."""
    for kind, dtype in ((bool, bool), (numbers.Integral, np.int64), (numbers.Real, np.float64)):
        if all(isinstance(label, kind) for label in labels) and (kind is bool or not _any_bool(labels)):
            return np.array(labels, dtype=dtype)
    return np.array([str(label) for label in labels], dtype=object)


def _any_bool(labels: list) -> bool:
    return any(isinstance(label, (bool, np.bool_)) for label in labels)


def _metadata(source: ExportSource) -> dict[str, str]:
    net = source.net
    preprocessing = "folded into W1, b1" if source.scaler is not None else "none"
    metadata = {
        "task": source.task,
        "layer_sizes": json.dumps(list(net.layer_sizes)),
        "hidden_activation": json.dumps(list(net.hidden_activations)),
        "output_activation": net.output_activation,
        "preprocessing": "feature schema in the graph" if source.features is not None else preprocessing,
    }
    if source.features is not None:
        metadata["inputs"] = json.dumps(source.features.kinds())
        metadata["missing_text"] = MISSING_TEXT
    if source.target_scaler is not None:
        metadata["target_scaling"] = "folded into W_L, b_L"
    if source.labels is not None:
        metadata["labels"] = json.dumps(source.labels)
    if source.label_names is not None:
        metadata["label_names"] = json.dumps(source.label_names)
    return metadata


def _add_inputs(builder: GraphBuilder, source: ExportSource) -> tuple[str, str]:
    """The graph inputs; returns the name of ``A0`` and a description of the inputs."""
    if source.features is not None:
        schema = source.features
        A0 = add_table(builder, schema, source.inputs)
        return A0, (
            f"one input per column, [N, 1]: {len(schema.columns)} columns, numeric ones float32 "
            f"(NaN missing), categorical ones strings ({MISSING_TEXT!r} missing)"
        )
    n_x = source.net.layer_sizes[0]
    X = builder.input(INPUT_NAME, builder.onnx.TensorProto.FLOAT, [BATCH_DIM, n_x])
    return X, f"input {INPUT_NAME} = raw feature rows [N, {n_x}] float32"


def to_onnx(model: Any):
    """Build and fully check the ``onnx.ModelProto`` of a Model, a DNN, or an object with to_model()."""
    onnx = _import_onnx()
    from mlpkit import __version__

    source = export_source(model)
    builder = GraphBuilder(onnx)
    A0, described = _add_inputs(builder, source)
    Z_L = _add_layers(builder, source, A0)
    _add_head(builder, source.net, Z_L, source.labels if source.task != "multilabel" else None)
    graph = onnx.helper.make_graph(
        builder.nodes, "mlpkit_dnn", builder.inputs, builder.outputs, initializer=builder.initializers
    )
    opsets = {"": OPSET_VERSION, **builder.domains}
    proto = onnx.helper.make_model(
        graph,
        opset_imports=[onnx.helper.make_opsetid(domain, version) for domain, version in opsets.items()],
        producer_name="mlpkit",
        producer_version=__version__,
        doc_string=f"{source.net!r}; {described}; label holds the class labels (indices for a bare network)",
    )
    proto.ir_version = IR_VERSION
    onnx.helper.set_model_props(proto, _metadata(source))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model: Any, path: str | os.PathLike) -> Path:
    """Write ``model`` (a Model, a DNN, or an object with to_model()) as an ONNX file; returns its path."""
    check_writable(path)
    payload = to_onnx(model).SerializeToString()
    return atomic_write(path, lambda handle: handle.write(payload))
