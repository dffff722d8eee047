"""The :class:`Model`: a trained network with its preprocessing and labels, rows in and labels out.

The preprocessing is an affine scaler of numeric rows, or a column schema
(:class:`~mlpkit.features.FeatureSchema`) that turns a table's raw columns into ``A0``, with
learned embeddings (:class:`~mlpkit.embeddings.EmbeddingInput`) for the columns it embeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlpkit.columns import ColumnTable
from mlpkit.embeddings import EmbeddingInput
from mlpkit.features import FeatureSchema
from mlpkit.losses import decide
from mlpkit.network import DNN
from mlpkit.preprocessing import AffineScaler, check_rows, encode_labels
from mlpkit.summary import html_table, network_html
from mlpkit.tasks import check_task

MAX_SHOWN_LABELS = 12  # a notebook's model view lists this many labels, then their count


class Model:
    """A trained network ready for rows-as-samples input, with its preprocessing and labels.

    ``labels`` are the original class values (``predict`` returns them); ``label_names`` are
    their display strings. Tasks: ``"binary"``, ``"multiclass"``, ``"multilabel"``,
    ``"regression"``. ``features`` (a fitted :class:`~mlpkit.features.FeatureSchema`, instead
    of a scaler) makes the model take tables: a DataFrame, a pyarrow Table, a dict of columns,
    columns matched by name. When the schema embeds columns, ``inputs`` (an
    :class:`~mlpkit.embeddings.EmbeddingInput` matching it) holds their learned ``E_c``, and
    ``A0 = [dense ; E_c[:, codes_c] ...]``. A regression model may hold a ``target_scaler`` (an
    :class:`AffineScaler` of the targets, fitted on the training rows): the network learns
    ``(y - offset) / scale``, and :meth:`outputs` undoes it, so predictions come in the target's units.
    """

    def __init__(
        self,
        net: DNN,
        scaler: AffineScaler | None = None,
        label_names: Sequence[str] | None = None,
        task: str = "multiclass",
        config: dict | None = None,
        history: dict | None = None,
        metrics: dict | None = None,
        *,
        labels: Sequence | None = None,
        features: FeatureSchema | None = None,
        inputs: EmbeddingInput | None = None,
        target_scaler: AffineScaler | None = None,
    ) -> None:
        if not isinstance(net, DNN):
            raise ValueError(f"net must be an mlpkit.DNN, got {type(net).__name__}")
        self.net = net
        self.task = check_task(task, net)
        self.scaler = self._check_scaler(scaler)
        self.features = self._check_features(features)
        self.inputs = self._check_inputs(inputs)
        self.target_scaler = self._check_target_scaler(target_scaler)
        self.labels, self.label_names = self._resolve_labels(labels, label_names)
        self.config = dict(config or {})
        self.history = dict(history or {})
        self.metrics = dict(metrics or {})

    def _check_scaler(self, scaler: AffineScaler | None) -> AffineScaler | None:
        if scaler is not None and scaler.n_features != self.n_features:
            raise ValueError(
                f"the scaler was fitted on {scaler.n_features} features "
                f"but the network takes {self.n_features}"
            )
        return scaler

    def _check_features(self, features: FeatureSchema | None) -> FeatureSchema | None:
        if features is None:
            return None
        if not isinstance(features, FeatureSchema):
            raise ValueError(f"features must be an mlpkit FeatureSchema, got {type(features).__name__}")
        if self.scaler is not None:
            raise ValueError("a model takes a scaler or a feature schema, not both")
        return features

    def _check_inputs(self, inputs: EmbeddingInput | None) -> EmbeddingInput | None:
        """The embeddings must be those the schema calls for: same columns, sizes and dtype as the network."""
        features = self.features
        embedded = features.embedded if features is not None else []
        if inputs is None:
            if embedded:
                names = [name for name, _, _ in embedded]
                raise ValueError(
                    f"the feature schema embeds column(s) {names}; the model needs their embeddings "
                    "(inputs=EmbeddingInput(...))"
                )
            if features is not None and features.dense_width != self.n_features:
                raise ValueError(
                    f"the feature schema makes {features.dense_width} inputs "
                    f"but the network takes {self.n_features}"
                )
            return None
        if not isinstance(inputs, EmbeddingInput):
            raise ValueError(f"inputs must be an mlpkit EmbeddingInput, got {type(inputs).__name__}")
        if features is None:
            raise ValueError(
                "embeddings (inputs=) need the feature schema that gives their codes (features=)"
            )
        expected = (features.dense_width, [n_c for _, n_c, _ in embedded], [d_c for _, _, d_c in embedded])
        found = (inputs.n_dense, list(inputs.vocabulary_sizes), list(inputs.dimensions))
        if found != expected:
            raise ValueError(
                "the embeddings (n_dense, vocabulary sizes, dimensions) = "
                f"{found} do not match the feature schema's {expected}"
            )
        if inputs.n_x != self.n_features or inputs.dtype != self.net.dtype:
            raise ValueError(
                f"the embeddings make {inputs.n_x} {inputs.dtype.name} inputs "
                f"but the network takes {self.n_features} {self.net.dtype.name}"
            )
        return inputs

    def _check_target_scaler(self, scaler: AffineScaler | None) -> AffineScaler | None:
        """A target scaling belongs to a regression network with an identity output, one entry per unit."""
        if scaler is None:
            return None
        if not isinstance(scaler, AffineScaler):
            raise ValueError(f"target_scaler must be an mlpkit AffineScaler, got {type(scaler).__name__}")
        if self.task != "regression" or self.net.output_activation != "identity":
            raise ValueError(
                "a target scaling applies to regression with an identity output, "
                f"not to a {self.task} model with a {self.net.output_activation} output"
            )
        if scaler.n_features != self.net.layer_sizes[-1]:
            raise ValueError(
                f"the target scaler was fitted on {scaler.n_features} targets "
                f"but the network has {self.net.layer_sizes[-1]} output units"
            )
        return scaler

    def _resolve_labels(
        self, labels: Sequence | None, label_names: Sequence[str] | None
    ) -> tuple[list, list]:
        if self.task == "regression":
            return [], []
        if labels is None:
            labels = list(label_names) if label_names is not None else list(range(self.n_classes))
        labels = [value.item() if isinstance(value, np.generic) else value for value in labels]
        names = [str(value) for value in labels] if label_names is None else [str(n) for n in label_names]
        if len(labels) != self.n_classes or len(names) != self.n_classes:
            raise ValueError(
                f"a {self.task} model with {self.net.layer_sizes[-1]} output unit(s) needs "
                f"{self.n_classes} labels, got {len(labels)} labels and {len(names)} names"
            )
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must be distinct, got {labels}")
        return labels, names

    @property
    def n_features(self) -> int:
        """Number of input features ``n_x``."""
        return self.net.layer_sizes[0]

    @property
    def n_classes(self) -> int:
        """Number of classes (labels for multilabel); 0 for regression."""
        if self.task == "regression":
            return 0
        return 2 if self.task == "binary" else self.net.layer_sizes[-1]

    def transform(self, rows) -> np.ndarray:
        """Raw rows ``(m, n_x)`` (or a table, for a model with a feature schema) -> the rows ``A0.T`` the
        network was trained on, in its dtype."""
        if self.features is not None:
            table = self.features.transform(rows, self.net.dtype)
            if self.inputs is None:
                return table.dense
            codes = self.inputs.check_codes(table.codes.T)  # (C, m)
            return self.inputs.forward(table.dense.T, codes).T  # A0.T  (m, n_x)
        if isinstance(rows, ColumnTable):
            rows = rows.numeric_rows()
        rows = check_rows(rows, n_features=self.n_features)
        if self.scaler is None:
            return rows.astype(self.net.dtype)
        return self.scaler.transform(rows, self.net.dtype)

    def outputs(self, rows) -> np.ndarray:
        """The output activations ``A_L`` as rows ``(m, n_L)`` for raw input rows (with a target
        scaling, ``A_L * scale + offset`` in float64: in the target's units, whatever their size)."""
        outputs = self.net.predict_proba(self.transform(rows).T).T
        if self.target_scaler is None:
            return outputs
        return self.target_scaler.inverse(outputs)

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """Output rows -> class probabilities ``(m, n_classes)`` (a binary sigmoid gives ``[1-p, p]``)."""
        if self.task == "regression":
            raise ValueError("a regression model has no class probabilities; use predict")
        if self.task == "binary" and outputs.shape[1] == 1:
            return np.hstack([1.0 - outputs, outputs])
        return outputs

    def predict_proba(self, rows) -> np.ndarray:
        """Class probabilities ``(m, n_classes)`` for raw rows ``(m, n_x)``."""
        return self.probabilities(self.outputs(rows))

    def decide(self, outputs: np.ndarray) -> np.ndarray:
        """Output rows -> class indices ``(m,)``, a 0/1 indicator (multilabel) or values (regression)."""
        decided = decide(self.net.output_activation, outputs.T).T  # the rule works on columns
        if self.task == "multilabel" or decided.ndim == 1 or decided.shape[1] > 1:
            return decided
        return decided[:, 0]  # one output unit: binary (sigmoid) or one regression target

    def predict(self, rows) -> np.ndarray:
        """Original labels for classifiers, a 0/1 indicator for multilabel, values for regression."""
        decided = self.decide(self.outputs(rows))
        if self.task in ("binary", "multiclass"):
            return np.asarray(self.labels)[decided]
        return decided

    def encode(self, y: np.ndarray, name: str = "y") -> np.ndarray:
        """Original labels -> class indices (ValueError naming the row of an unknown label)."""
        indices, _ = encode_labels(y, self.labels, name)
        return indices

    def summary(self) -> dict:
        """What the model is: architecture, parameter count, dtype, task, labels, its feature schema's
        description (or None), training config, test metrics and the number of epochs trained
        (JSON-ready)."""
        return {
            "features": self.features.describe() if self.features is not None else None,
            "embeddings": self.embeddings(),
            "architecture": self.net.config(),
            "parameters": self.net.n_parameters,
            "embedding_parameters": self.inputs.n_parameters if self.inputs is not None else 0,
            "dtype": self.net.dtype.name,
            "task": self.task,
            "labels": self.label_names,
            "target_scaling": self.target_scaling(),
            "config": self.config,
            "metrics": self.metrics,
            "epochs_trained": len(self.history.get("loss", [])),
        }

    def target_scaling(self) -> dict | None:
        """``{"offset": [...], "scale": [...]}`` of the target scaling, one entry per output (or None)."""
        if self.target_scaler is None:
            return None
        return {"offset": self.target_scaler.offset_.tolist(), "scale": self.target_scaler.scale_.tolist()}

    def embeddings(self) -> list[dict]:
        """One entry per embedded column: ``{"column", "n_c", "d_c"}`` (empty without embeddings)."""
        if self.inputs is None:
            return []
        return [{"column": name, "n_c": n_c, "d_c": d_c} for name, n_c, d_c in self.features.embedded]

    def _repr_html_(self) -> str:
        """A notebook's view: task, labels and inputs, then the network layer by layer."""
        return _model_html(self)

    def __repr__(self) -> str:
        inputs = f"features={self.features!r}" if self.features is not None else f"scaler={self.scaler!r}"
        return f"Model({self.net!r}, task={self.task!r}, {inputs})"


def _model_html(model: Model) -> str:
    """What a model is, as HTML: its task, labels and input preprocessing, then its network's table."""
    labels = ", ".join(model.label_names[:MAX_SHOWN_LABELS])
    if len(model.label_names) > MAX_SHOWN_LABELS:
        labels += f", ... ({len(model.label_names)} in all)"
    if model.features is not None:
        inputs = f"feature schema: {model.features.dense_width} dense inputs"
    else:
        inputs = "affine scaler" if model.scaler is not None else "rows as given (no scaling)"
    rows = [("task", model.task), ("labels", labels or "-"), ("inputs", inputs)]
    if model.target_scaler is not None:
        rows.append(("target", "standardized in training; outputs in the target's units"))
    rows += [(f"embedding {e['column']}", f"{e['n_c']} codes x {e['d_c']} dims") for e in model.embeddings()]
    if model.inputs is not None:
        rows.append(("embedding parameters", f"{model.inputs.n_parameters:,}"))
    facts = html_table(rows, (), f"Model: {model.n_features} inputs, {model.task}")
    return facts + network_html(model.net, "network")
