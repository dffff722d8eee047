"""From a dataset and a training config to a trained, evaluated :class:`Model`.

The steps, each a small function the CLI (and later checkpointing or distributed runs) can
compose: pick the task and output layer from the targets, encode labels, fit the scaler on
the training rows, build the network and its trainer, fit, evaluate on the test rows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mlpkit.datasets import Dataset, target_kind
from mlpkit.metrics import evaluate_model
from mlpkit.model import Model
from mlpkit.network import DNN
from mlpkit.preprocessing import AffineScaler, class_output, encode_labels, target_matrix
from mlpkit.training.callbacks import Callback, History
from mlpkit.training.config import TrainConfig
from mlpkit.training.run import TrainingRun
from mlpkit.training.trainer import Trainer


# ---------------------------------------------------------------------- task and labels
@dataclass
class Targets:
    """Encoded training targets and what they imply: task, output layer, labels."""

    task: str
    output_activation: str
    n_outputs: int
    encoded: np.ndarray
    labels: list | None = None
    label_names: list[str] | None = None


def encode_targets(dataset: Dataset, output: str = "auto") -> Targets:
    """Pick the task and output layer for the training targets and encode them."""
    y = dataset.y_train
    kind = "regression" if output == "identity" else target_kind(y)
    if kind == "regression":
        return _regression_targets(y)
    if kind == "multilabel":
        if output == "softmax":
            raise ValueError(
                "output 'softmax' needs one class per row; the targets are a 0/1 matrix (multilabel)"
            )
        n_labels = y.shape[1]
        return Targets("multilabel", "sigmoid", n_labels, y.astype(np.int64), list(range(n_labels)))
    return _class_targets(dataset, output)


def _regression_targets(y: np.ndarray) -> Targets:
    if not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
        raise ValueError(f"output 'identity' (regression) needs numeric targets, got {y.dtype} labels")
    values = y.astype(np.float64)
    return Targets("regression", "identity", 1 if values.ndim == 1 else values.shape[1], values)


def _class_targets(dataset: Dataset, output: str) -> Targets:
    if dataset.class_names is not None:
        indices, labels = np.asarray(dataset.y_train, dtype=np.int64), list(dataset.class_names)
    else:
        indices, labels = encode_labels(dataset.y_train, name="training labels")
    task, output_activation, n_outputs = class_output(labels, output)
    return Targets(task, output_activation, n_outputs, indices, labels)


def encode_test_targets(model: Model, values: np.ndarray) -> np.ndarray:
    """Evaluation targets for ``model``: class indices via its labels, an indicator or values."""
    if model.task in ("binary", "multiclass"):
        return model.encode(np.asarray(values), name="test labels")
    if model.task == "multilabel":
        return np.asarray(values, dtype=np.int64)
    return np.asarray(values, dtype=np.float64)


# ---------------------------------------------------------------------- building and training
def build_model(dataset: Dataset, config: TrainConfig) -> tuple[Model, np.ndarray, np.ndarray]:
    """An untrained :class:`Model` (network, fitted scaler, labels) and the engine-layout ``X``, ``Y``."""
    targets = encode_targets(dataset, config.output)
    scaler = AffineScaler(dataset.scaling).fit(dataset.X_train)
    rows = scaler.transform(dataset.X_train, config.dtype)  # (m, n_x)
    sizes = [dataset.n_features, *config.hidden, targets.n_outputs]
    net = DNN(sizes, config.activation, targets.output_activation, seed=config.seed, dtype=config.dtype)
    stored = {
        **config.to_dict(),
        "feature_names": dataset.feature_names,
        "target_name": dataset.target_name,
    }
    model = Model(net, scaler, targets.label_names, targets.task, stored, labels=targets.labels)
    Y = target_matrix(targets.task, targets.encoded, targets.n_outputs, net.dtype)  # (n_L, m)
    return model, rows.T, Y


def make_trainer(
    model: Model, config: TrainConfig, callbacks: Sequence[Callback] = (), progress: bool | None = None
) -> Trainer:
    """The :class:`Trainer` of ``model``'s network for ``config``."""
    return Trainer(model.net, config=config, progress=progress, callbacks=callbacks)


@dataclass
class TrainResult:
    """A trained model, its test-split report and the training wall time."""

    model: Model
    report: dict
    train_seconds: float


def train_model(
    dataset: Dataset, config: TrainConfig, callbacks: Sequence[Callback] = (), progress: bool | None = None
) -> TrainResult:
    """Build, train and evaluate on the test split; the model's ``history`` and ``metrics`` are filled in."""
    model, X, Y = build_model(dataset, config)
    trainer = make_trainer(model, config, callbacks, progress)
    started = time.perf_counter()
    history = TrainingRun(trainer).fit(X, Y)
    seconds = time.perf_counter() - started
    return TrainResult(model, finish_model(model, dataset, history, seconds), seconds)


def finish_model(model: Model, dataset: Dataset, history: History, seconds: float) -> dict:
    """Evaluate on the test split, store history and summary metrics in the model; return the report."""
    report = evaluate_model(
        model, dataset.X_test, encode_test_targets(model, dataset.label_values(dataset.y_test))
    )
    model.history = history.to_dict()
    model.metrics = summary_metrics(report, history.epochs, seconds)
    return report


def summary_metrics(report: dict, epochs: int, seconds: float) -> dict:
    """The numbers stored in the model file: test loss and accuracy (or MSE, R^2), epochs, time."""
    metrics = {
        "test_loss": report["loss"],
        "test_rows": report["rows"],
        "epochs": epochs,
        "train_seconds": seconds,
    }
    for key in ("accuracy", "mse", "r2"):
        if key in report:
            metrics[f"test_{key}"] = report[key]
    return metrics
