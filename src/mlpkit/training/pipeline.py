"""From a dataset and a training config to a trained, evaluated :class:`Model`.

The steps, each a small function the CLI (and later checkpointing or distributed runs) can
compose: pick the task and output layer from the targets, encode labels, fit the inputs'
preprocessing on the training rows (a feature schema for a table's raw columns, the scaler for
numeric rows), build the network and its trainer, fit, evaluate on the test rows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from mlpkit.datasets import Dataset
from mlpkit.datasets.source import Columns, Source, engine_columns, fit_scaler, read_all, row_chunks
from mlpkit.features import FeatureSchema
from mlpkit.metrics import evaluate_model
from mlpkit.model import Model
from mlpkit.network import DNN
from mlpkit.preprocessing import AffineScaler
from mlpkit.tables import is_table
from mlpkit.tasks import encode_test_targets, scan_targets
from mlpkit.training.callbacks import Callback, History
from mlpkit.training.config import TrainConfig
from mlpkit.training.run import TrainingRun
from mlpkit.training.trainer import Trainer


# ---------------------------------------------------------------------- building and training
def fit_inputs(dataset: Source, config: TrainConfig) -> AffineScaler | FeatureSchema:
    """The inputs' preprocessing fitted on the training rows: a :class:`FeatureSchema` for a table's raw
    columns (``config.categorical`` named as categories, ``config.table_scaling``; one-hot encoding until
    the trainer feeds embeddings), else the scaler that
    suits the source, fitted in one pass, chunk by chunk."""
    if is_table(dataset.X_train):
        return FeatureSchema.fit(
            dataset.X_train, config.categorical, encoding="onehot", scaling=config.table_scaling
        )
    if config.categorical:
        raise ValueError(
            f"categorical={list(config.categorical)} applies to CSV and Parquet tables, "
            f"not to {dataset.name}'s numeric rows"
        )
    return fit_scaler(dataset.X_train, dataset.scaling)


def build_model(dataset: Source, config: TrainConfig) -> tuple[Model, Columns, Columns]:
    """An untrained :class:`Model` (network, fitted preprocessing, labels) and the engine-layout ``X``, ``Y``.

    Any source serves, in memory or memory-mapped: the targets decide the task and labels,
    :func:`fit_inputs` the preprocessing; ``X`` and ``Y`` are arrays, or mapped columns read
    (scaled, encoded) a mini-batch at a time.
    """
    values = dataset.label_values(dataset.y_train)
    targets = scan_targets(row_chunks(values, "labels"), config.output, dataset.class_names)
    inputs = fit_inputs(dataset, config)
    schema = inputs if isinstance(inputs, FeatureSchema) else None
    n_x = schema.dense_width if schema is not None else dataset.n_features
    sizes = [n_x, *config.hidden, targets.n_outputs]
    net = DNN(sizes, config.activation, targets.output_activation, seed=config.seed, dtype=config.dtype)
    stored = {
        **config.to_dict(),
        "feature_names": dataset.feature_names,
        "target_name": dataset.target_name,
    }
    scaler = None if schema is not None else inputs
    model = Model(net, scaler, None, targets.task, stored, labels=targets.labels, features=schema)
    dtype = net.dtype
    if schema is not None:
        X = engine_columns(dataset.X_train, lambda table: schema.transform(table, dtype).dense, n_x, dtype)
    else:
        X = engine_columns(dataset.X_train, lambda rows: scaler.transform(rows, dtype), n_x, dtype)
    Y = engine_columns(values, lambda raw: targets.matrix(raw, dtype).T, targets.n_outputs, dtype)
    return model, X, Y  # (n_x, m), (n_L, m)


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


def evaluate_test(model: Model, dataset: Source) -> dict:
    """Loss and task metrics of ``model`` on the source's test rows (mapped rows read chunk by chunk)."""
    targets = encode_test_targets(model, read_all(dataset.label_values(dataset.y_test)))
    return evaluate_model(model, row_chunks(dataset.X_test), targets)


def finish_model(model: Model, dataset: Source, history: History, seconds: float) -> dict:
    """Evaluate on the test split, store history and summary metrics in the model; return the report."""
    report = evaluate_test(model, dataset)
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
