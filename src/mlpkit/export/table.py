"""A table model's column schema as ONNX nodes: one graph input per training column -> ``A0`` ``[N, n_x]``.

Numeric column: float32 ``[N, 1]``, NaN for a missing value. ``IsNaN`` and ``Where`` put the
training median in its place, ``Sub``/``Div`` scale it (robust: then ``Clip`` to the float32
range, ``Div`` by 3, ``Asinh``, ``Mul`` by 3), ``Cast`` of the NaN mask is the indicator.
Categorical column: string ``[N, 1]``, :data:`MISSING_TEXT` (the empty string) for a missing
value. ``ai.onnx.ml`` ``LabelEncoder`` gives the vocabulary index (0 missing, 1 unseen, 2..
the categories); ``Equal`` against the block's indices and ``Cast`` make the one-hot block,
``Gather`` from ``E_c^T`` the embedded vector. ``Concat`` joins them as ``A0`` does: the dense
block in the schema's order, then ``E_1[:, codes_1]``, ``E_2[:, codes_2]``, ...
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlpkit.columns import as_categorical
from mlpkit.export.graph import GraphBuilder, GraphInput
from mlpkit.feature_columns import FIRST_CATEGORY, LINEAR_RANGE, MISSING, UNSEEN, NumericFeature
from mlpkit.features import FeatureSchema, numeric_values
from mlpkit.tables import as_table

MISSING_TEXT = ""
ML_DOMAIN = "ai.onnx.ml"
ML_OPSET_VERSION = 3  # LabelEncoder-2 (string keys, int64 values)
OUTPUT_NAMES = ("label", "probabilities", "variable")
BATCH_DIM = "N"


def check_table(schema: FeatureSchema, inputs: Any, n_x: int) -> None:
    """ValueError naming what in ``schema`` (and the embeddings ``inputs``) a graph cannot take."""
    clashes = [name for name in schema.columns if name in OUTPUT_NAMES]
    if clashes:
        raise ValueError(
            f"column(s) {clashes} have the name of an ONNX output ({', '.join(OUTPUT_NAMES)}); "
            "rename them before training to export the model"
        )
    for feature in schema.features:
        if not isinstance(feature, NumericFeature) and MISSING_TEXT in feature.categories:
            raise ValueError(
                f"column {feature.name!r} has the empty string as a category, which the ONNX graph "
                "reads as a missing value; map it to another text before training to export the model"
            )
    embedded = schema.embedded
    if embedded and inputs is None:
        names = [name for name, _, _ in embedded]
        raise ValueError(f"the feature schema embeds column(s) {names} but the model has no embeddings")
    if inputs is not None:
        expected = (schema.dense_width, [n_c for _, n_c, _ in embedded], [d_c for _, _, d_c in embedded])
        got = (inputs.n_dense, list(inputs.vocabulary_sizes), list(inputs.dimensions))
        if got != expected:
            raise ValueError(
                f"the embeddings (n_dense, n_c, d_c) = {got} do not match the feature schema's {expected}"
            )
    width = schema.dense_width + sum(d_c for _, _, d_c in embedded)
    if width != n_x:
        raise ValueError(f"the feature schema makes {width} inputs but the network takes {n_x}")


def add_table(builder: GraphBuilder, schema: FeatureSchema, inputs: Any) -> str:
    """Declare one graph input per column and build ``A0`` from them; returns its name."""
    STRING, FLOAT = builder.onnx.TensorProto.STRING, builder.onnx.TensorProto.FLOAT
    columns = [  # every input first, so that no internal name made below shadows one
        builder.input(feature.name, FLOAT if isinstance(feature, NumericFeature) else STRING, [BATCH_DIM, 1])
        for feature in schema.features
    ]
    dense, embedded = [], []
    tables = list(inputs.tables) if inputs is not None else []
    for i, (feature, column) in enumerate(zip(schema.features, columns, strict=True)):
        if isinstance(feature, NumericFeature):
            dense += _numeric(builder, feature, column, f"c{i}")
            continue
        codes = _vocabulary(builder, feature, column, f"c{i}")
        if feature.encoding == "onehot":
            dense.append(_onehot(builder, feature, codes, f"c{i}"))
            continue
        E_T = np.ascontiguousarray(tables[len(embedded)].T, dtype=np.float32)  # (n_c, d_c)
        E_T = builder.constant(f"E{len(embedded) + 1}_T", E_T)
        axes = builder.shared("squeeze_axes", np.array([1], dtype=np.int64))
        index = builder.node("Squeeze", [codes, axes], f"c{i}_code")  # (N,)
        embedded.append(builder.node("Gather", [E_T, index], f"c{i}_embedded", axis=0))  # (N, d_c)
    pieces = dense + embedded
    if len(pieces) == 1:
        return pieces[0]
    return builder.node("Concat", pieces, "A0", axis=1)


def _numeric(builder: GraphBuilder, feature: NumericFeature, x: GraphInput, prefix: str) -> list[str]:
    """The scaled value ``[N, 1]`` (and the indicator) of one numeric column."""
    constant = {
        key: builder.constant(f"{prefix}_{key}", np.array(getattr(feature, key), dtype=np.float32))
        for key in ("median", "center", "scale")
    }
    nan = builder.node("IsNaN", [x], f"{prefix}_nan")
    filled = builder.node("Where", [nan, constant["median"], x], f"{prefix}_filled")
    centered = builder.node("Sub", [filled, constant["center"]], f"{prefix}_centered")
    z = builder.node("Div", [centered, constant["scale"]], f"{prefix}_z")
    if feature.scaling == "robust":  # 3 asinh(z / 3), z clipped to the float32 range first
        largest = np.finfo(np.float32).max
        low = builder.shared("float_min", np.array(-largest, dtype=np.float32))
        high = builder.shared("float_max", np.array(largest, dtype=np.float32))
        three = builder.shared("three", np.array(LINEAR_RANGE, dtype=np.float32))
        z = builder.node("Clip", [z, low, high], f"{prefix}_z_finite")
        u = builder.node("Div", [z, three], f"{prefix}_u")
        z = builder.node("Mul", [builder.node("Asinh", [u], f"{prefix}_asinh"), three], f"{prefix}_robust")
    if not feature.indicator:
        return [z]
    return [z, builder.node("Cast", [nan], f"{prefix}_missing", to=builder.onnx.TensorProto.FLOAT)]


def _vocabulary(builder: GraphBuilder, feature, text: GraphInput, prefix: str) -> str:
    """The vocabulary index ``[N, 1]`` int64: 0 missing, 1 unseen, ``2 + i`` for ``categories[i]``."""
    builder.domains[ML_DOMAIN] = ML_OPSET_VERSION
    keys = [*feature.categories, MISSING_TEXT]
    values = [*range(FIRST_CATEGORY, feature.n_c), MISSING]
    return builder.node(
        "LabelEncoder",
        [text],
        f"{prefix}_index",
        domain=ML_DOMAIN,
        keys_strings=keys,
        values_int64s=values,
        default_int64=UNSEEN,
    )


def _onehot(builder: GraphBuilder, feature, codes: str, prefix: str) -> str:
    """The 0/1 block ``[N, width]``: one column per category, then missing if training had one."""
    columns = [*range(FIRST_CATEGORY, feature.n_c), *([MISSING] if feature.missing else [])]
    block = builder.constant(f"{prefix}_columns", np.array(columns, dtype=np.int64))
    hit = builder.node("Equal", [codes, block], f"{prefix}_hit")  # (N, width): unseen hits none
    return builder.node("Cast", [hit], f"{prefix}_onehot", to=builder.onnx.TensorProto.FLOAT)


def onnx_inputs(model: Any, table) -> dict[str, np.ndarray]:
    """The feed of an exported table model: ``{column: [N, 1] array}`` from any table mlpkit reads.

    ``model`` is a Model with a feature schema (or the schema itself); ``table`` a DataFrame,
    pyarrow Table, dict of columns... Numeric columns become float32 (NaN missing), categorical
    ones the texts mlpkit matches against the vocabulary (booleans ``"True"``/``"False"``, numbers
    ``"3"`` or ``"2.5"``), :data:`MISSING_TEXT` for a missing cell. Columns the model was not
    trained on are left out.
    """
    schema = model if isinstance(model, FeatureSchema) else model.features
    table = as_table(table)
    missing = [name for name in schema.columns if name not in table.columns]
    if missing:
        raise ValueError(f"the table lacks the training column(s) {missing}")
    feed = {}
    for feature in schema.features:
        column = table.column(feature.name)
        if isinstance(feature, NumericFeature):
            values = numeric_values(feature, column, table)  # as predict reads them
        else:
            column = as_categorical(column)
            values = np.array([*column.categories, MISSING_TEXT], dtype=object)[column.values]
        dtype = np.float32 if isinstance(feature, NumericFeature) else object
        feed[feature.name] = np.asarray(values, dtype=dtype).reshape(-1, 1)
    return feed
