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

import numpy as np

from mlpkit.datasets import Dataset
from mlpkit.datasets.source import Columns, Source, engine_columns, fit_scaler, read_all, row_chunks
from mlpkit.embeddings import EmbeddingInput
from mlpkit.features import FeatureSchema
from mlpkit.metrics import evaluate_model
from mlpkit.model import Model
from mlpkit.network import DNN
from mlpkit.preprocessing import AffineScaler
from mlpkit.tables import is_table
from mlpkit.tasks import Targets, encode_test_targets, scan_targets
from mlpkit.training.callbacks import Callback, History
from mlpkit.training.config import TrainConfig
from mlpkit.training.run import TrainingRun
from mlpkit.training.trainer import Trainer


# ---------------------------------------------------------------------- building and training
def fit_inputs(dataset: Source, config: TrainConfig) -> AffineScaler | FeatureSchema:
    """The inputs' preprocessing fitted on the training rows: a :class:`FeatureSchema` for a table's raw
    columns (``config.categorical`` named as categories, ``config.ignore`` left out,
    ``config.table_scaling``; ``encoding="auto"``: one-hot for small vocabularies, learned embeddings
    for larger ones), else the scaler that suits the source, fitted in one pass, chunk by chunk."""
    if is_table(dataset.X_train):
        return FeatureSchema.fit(
            dataset.X_train,
            config.categorical,
            encoding="auto",
            scaling=config.table_scaling,
            ignore=config.ignore,
        )
    for name in ("categorical", "ignore"):
        if getattr(config, name):
            raise ValueError(
                f"{name}={list(getattr(config, name))} applies to CSV and Parquet tables, "
                f"not to {dataset.name}'s numeric rows"
            )
    return fit_scaler(dataset.X_train, dataset.scaling)


def fit_target_scaler(values: Columns, targets: Targets, config: TrainConfig) -> AffineScaler | None:
    """The regression target's standardization, fitted on the training rows in one pass, block by block.

    A target in the tens of thousands (a price) would start the network's squared error, and its
    gradients, far from those of standardized inputs; learning ``(y - mean) / sd`` instead, as the
    inputs are learned, and undoing it at prediction is what a scaled pipeline does. None when the
    task is not an identity-output regression or ``config.target_scaling`` is ``"none"``.
    """
    if targets.task != "regression" or targets.output_activation != "identity":
        return None
    if config.target_scaling == "none":
        return None
    blocks = (targets.matrix(block, np.float64).T for block in row_chunks(values, "labels"))  # (m, n_L)
    return AffineScaler("standard").fit_chunks(blocks, label="the target's column")


@dataclass
class TrainingData:
    """An untrained :class:`Model` and its training data in the engine's layout: ``X`` ``(n_dense, m)``,
    ``Y`` ``(n_L, m)`` and, when the model embeds columns, their ``codes`` ``(C, m)`` (else None)."""

    model: Model
    X: Columns
    Y: Columns
    codes: np.ndarray | None = None

    @property
    def fit_options(self) -> dict:
        """What ``Trainer.fit`` / ``TrainingRun.fit`` take besides ``X`` and ``Y``: the codes, if any."""
        return {} if self.codes is None else {"codes": self.codes}


def build_training(dataset: Source, config: TrainConfig) -> TrainingData:
    """An untrained :class:`Model` (network, fitted preprocessing, embeddings, labels) and its data.

    Any source serves, in memory or memory-mapped: the targets decide the task and labels,
    :func:`fit_inputs` the preprocessing; ``X`` and ``Y`` are arrays, or mapped columns read
    (scaled, encoded) a mini-batch at a time. A table whose schema embeds columns gives an
    :class:`EmbeddingInput` (seeded from ``config.seed``, in the network's dtype): the network takes
    ``n_dense + sum d_c`` inputs, ``X`` holds the dense rows and ``codes`` the embedded columns.
    """
    values = dataset.label_values(dataset.y_train)
    targets = scan_targets(row_chunks(values, "labels"), config.output, dataset.class_names)
    preprocessing = fit_inputs(dataset, config)
    target_scaler = fit_target_scaler(values, targets, config)
    schema = preprocessing if isinstance(preprocessing, FeatureSchema) else None
    inputs = _embedding_input(schema, config)
    n_dense = schema.dense_width if schema is not None else dataset.n_features
    n_x = inputs.n_x if inputs is not None else n_dense
    sizes = [n_x, *config.hidden, targets.n_outputs]
    net = DNN(sizes, config.activation, targets.output_activation, seed=config.seed, dtype=config.dtype)
    stored = {
        **config.to_dict(),
        "feature_names": dataset.feature_names,
        "target_name": dataset.target_name,
        "test_rows": getattr(dataset, "test_rows", None),  # which rows were held out, by content
    }
    scaler = None if schema is not None else preprocessing
    model = Model(
        net,
        scaler,
        None,
        targets.task,
        stored,
        labels=targets.labels,
        features=schema,
        inputs=inputs,
        target_scaler=target_scaler,
    )
    dtype = net.dtype
    Y = engine_columns(values, _target_rows(targets, target_scaler, dtype), targets.n_outputs, dtype)
    if schema is None:
        X = engine_columns(dataset.X_train, lambda rows: scaler.transform(rows, dtype), n_x, dtype)
        return TrainingData(model, X, Y)
    table = schema.transform(dataset.X_train, dtype)  # a table is held in memory, never mapped
    codes = inputs.check_codes(table.codes.T) if inputs is not None else None  # (C, m)
    return TrainingData(model, table.dense.T, Y, codes)  # (n_dense, m), (n_L, m)


def _target_rows(targets: Targets, target_scaler: AffineScaler | None, dtype: np.dtype):
    """Raw targets -> the rows of ``Y.T`` ``(m, n_L)`` the network learns: encoded, then scaled if it is."""
    if target_scaler is None:
        return lambda raw: targets.matrix(_within_range(targets, raw, dtype), dtype).T
    # in float64, then cast: a float32 network still learns a target beyond float32's range (1e39)
    return lambda raw: target_scaler.transform(targets.matrix(raw, np.float64).T).astype(dtype)


def _within_range(targets: Targets, raw: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``raw``, if a quantity learned as it is fits ``dtype`` (float32 ends at 3.4e38); else ValueError."""
    if targets.task != "regression" or raw.size == 0:
        return raw
    largest, limit = float(np.max(np.abs(raw))), float(np.finfo(dtype).max)
    if largest > limit:
        raise ValueError(
            f"the target reaches {largest:g}, beyond {np.dtype(dtype).name}'s range (±{limit:.2g}) "
            "when learned unscaled: keep --target-scaling standard (the default), or train in float64"
        )
    return raw


def _embedding_input(schema: FeatureSchema | None, config: TrainConfig) -> EmbeddingInput | None:
    """The learned embeddings of the columns ``schema`` embeds (None when it embeds none)."""
    if schema is None or not schema.embedded:
        return None
    vocabulary_sizes = [n_c for _, n_c, _ in schema.embedded]
    dimensions = [d_c for _, _, d_c in schema.embedded]
    # a stream of its own, derived from config.seed (None: fresh entropy), apart from the network's draws
    rng = np.random.default_rng(None if config.seed is None else [config.seed, 1])
    return EmbeddingInput(schema.dense_width, vocabulary_sizes, dimensions, seed=rng, dtype=config.dtype)


def build_model(dataset: Source, config: TrainConfig) -> tuple[Model, Columns, Columns]:
    """:func:`build_training` as ``(model, X, Y)``, for sources without embedded columns (numeric rows,
    tables whose categorical columns are all one-hot); a model that embeds columns also needs its codes,
    so it is refused here: use :func:`build_training`."""
    data = build_training(dataset, config)
    if data.codes is not None:
        names = [name for name, _, _ in data.model.features.embedded]
        raise ValueError(
            f"the table's column(s) {names} are learned as embeddings, whose codes build_model cannot "
            "return; use build_training, whose fit_options carry them"
        )
    return data.model, data.X, data.Y  # (n_x, m), (n_L, m)


def make_trainer(
    model: Model, config: TrainConfig, callbacks: Sequence[Callback] = (), progress: bool | None = None
) -> Trainer:
    """The :class:`Trainer` of ``model``'s network for ``config``."""
    return Trainer(model.net, config=config, progress=progress, callbacks=callbacks, inputs=model.inputs)


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
    data = build_training(dataset, config)
    trainer = make_trainer(data.model, config, callbacks, progress)
    started = time.perf_counter()
    history = TrainingRun(trainer).fit(data.X, data.Y, **data.fit_options)
    seconds = time.perf_counter() - started
    return TrainResult(data.model, finish_model(data.model, dataset, history, seconds), seconds)


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
