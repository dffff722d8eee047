"""The epoch and batch loop: seeded mini-batches, divergence, interrupts, evaluation in chunks.

Data here is in the engine's layout, columns are samples: ``X`` is ``(n_x, m)`` and ``Y`` is
``(n_L, m)``. Passing ``rows.T`` (a transposed view of row-major data) makes each
mini-batch one contiguous gather. The :class:`~mlpkit.training.trainer.Trainer` runs one
epoch with :func:`run_epoch`. With learned inputs, ``X`` holds the dense rows and each mini-batch
gathers the rows of the codes too.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from mlpkit.datasets.source import Columns, column_chunks
from mlpkit.embeddings import EmbeddingInput
from mlpkit.losses import accuracy
from mlpkit.network import DNN, PREDICT_CHUNK
from mlpkit.regularization import l2_scale
from mlpkit.schedules import ReduceOnPlateau
from mlpkit.sparse import is_sparse
from mlpkit.training.callbacks import ProgressBar
from mlpkit.training.data import TrainingData, generator_at
from mlpkit.training.inputs import first_layer_input
from mlpkit.training.state import EpochProgress

if TYPE_CHECKING:
    from mlpkit.training.trainer import Trainer


class TrainingDiverged(ArithmeticError):
    """The loss or the weights became NaN or infinite; the network keeps its last finite weights."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped between two mini-batches on request; :meth:`Trainer.state_dict` resumes it exactly."""


def interrupted(trainer: Trainer, message: str) -> TrainingInterrupted:
    """The interrupt the trainer raises, its request cleared."""
    trainer.interrupt_requested = False
    return TrainingInterrupted(message)


class _Rows(NamedTuple):
    """The training data as rows (transposed views of the columns), what mini-batches gather from."""

    X: Columns  # (m, n_x), or the dense rows (m, n_dense)
    Y: Columns  # (m, n_L)
    codes: np.ndarray | None  # (m, C), with learned inputs
    sample_weight: np.ndarray | None  # (m,)


def run_epochs(trainer: Trainer, data: TrainingData, epochs: int) -> None:
    """Run ``epochs`` epochs with the callbacks; early stopping puts the best weights back at the end."""
    trainer.stop_training = False
    for callback in trainer.callbacks:
        callback.on_train_begin(trainer)
    for _ in range(epochs):
        if trainer.interrupt_requested:
            raise interrupted(trainer, f"Training interrupted after epoch {trainer.epoch}")
        with np.errstate(over="ignore", invalid="ignore"):  # overflow surfaces as TrainingDiverged
            logs = run_epoch(trainer, data)
        track_best(trainer, logs)
        for callback in trainer.callbacks:
            callback.on_epoch_end(trainer, trainer.epoch - 1, logs)
        if trainer.stop_training:
            break
    if trainer.config.early_stopping:
        trainer.restore_best_weights()
    trainer.interrupt_requested = False
    for callback in trainer.callbacks:
        callback.on_train_end(trainer)


def run_epoch(trainer: Trainer, data: TrainingData) -> dict[str, float]:
    m = data.X.shape[1]
    learning_rate = trainer.schedule(trainer.initial_learning_rate, trainer.epoch)
    trainer.optimizer.learning_rate = learning_rate
    progress = _start_epoch(trainer, m)
    started = time.perf_counter()
    bar = ProgressBar(trainer.progress, m, progress.samples_done, trainer.epoch + 1)
    codes = data.codes.T if data.codes is not None else None
    rows = _Rows(data.X.T, data.Y.T, codes, data.sample_weight)
    try:  # gather whole rows: one contiguous copy per mini-batch
        _run_batches(trainer, rows, progress, learning_rate, bar)
    finally:
        bar.close()
    total_loss, correct = trainer._parallel.sum_over_ranks(progress.total_loss, progress.correct)
    logs = {"loss": total_loss / m, "accuracy": correct / m, "learning_rate": learning_rate}
    if data.validation is not None:
        logs["val_loss"], logs["val_accuracy"] = trainer.evaluate(*data.validation)
    logs["seconds"] = time.perf_counter() - started
    trainer.epoch += 1
    trainer.history.record(logs)
    if isinstance(trainer.schedule, ReduceOnPlateau):
        trainer.schedule.observe(logs.get("val_loss", logs["loss"]))
    return logs


def _start_epoch(trainer: Trainer, m: int) -> EpochProgress:
    """A new epoch's batch order (seeded) and its starting point, or the interrupted epoch's."""
    progress, trainer.epoch_progress = trainer.epoch_progress, None
    if progress is None:
        rng_state = trainer.rng.bit_generator.state
        order = trainer._epoch_order(m)
        start_phi = trainer.inputs.phi.copy() if trainer.inputs is not None else None
        return EpochProgress(rng_state, order, 0, 0.0, 0.0, trainer.net.theta.copy(), m, start_phi)
    if progress.rows != m:
        raise ValueError(
            f"the interrupted epoch ran over {progress.rows} samples, but this fit has {m}; "
            "resume with the same data"
        )
    if progress.order is None:  # drawn again from the state the epoch drew it from
        progress.order = trainer._epoch_order(m, generator_at(progress.rng_state))
    return progress


def _diverged(trainer: Trainer, progress: EpochProgress, what: str, batch: int, learning_rate: float):
    trainer.net.theta[...] = progress.start_theta
    if progress.start_phi is not None:
        trainer.inputs.phi[...] = progress.start_phi
    return TrainingDiverged(
        f"Training diverged: {what} at epoch {trainer.epoch + 1}, batch {batch}; the weights "
        f"from the start of that epoch were kept. Try a smaller learning rate (it was "
        f"{learning_rate:g})."
    )


def _batch(trainer: Trainer, rows: _Rows, index: np.ndarray) -> tuple[float, float, int]:
    """One mini-batch (this rank's shard of it): its loss, hits and size after the step.

    Every rank sees the whole mini-batch's weights, so all of them skip the same batches:
    a batch whose weights are all zero gives J nothing to learn, so it takes no step.
    """
    sample_weight = rows.sample_weight
    weight = sample_weight[index] if sample_weight is not None else None
    learnable = weight is None or bool(weight.any())
    # J averages over the batch's rows, or over their total weight; so does the L2 term
    total_weight = None if weight is None else float(weight.sum())
    shard = trainer._parallel.shard(index)  # this rank's rows of the global mini-batch
    if shard is not index:  # under MPI: this rank's weights (alone, the batch is the shard)
        index, weight = shard, sample_weight[shard] if sample_weight is not None else None
    if not learnable:
        return 0.0, _hits(trainer, rows, index), index.shape[0]
    loss, hits, m = trainer._parallel.step(trainer, rows.X, rows.Y, index, weight, rows.codes)
    loss = trainer._regularize_and_step(loss, m if total_weight is None else total_weight)
    return loss, hits, index.shape[0]


def _hits(trainer: Trainer, rows: _Rows, index: np.ndarray) -> float:
    """How many of the rows ``index`` the network predicts right (NaN for regression, 0 for none)."""
    if index.shape[0] == 0:
        return 0.0
    codes = rows.codes[index].T if rows.codes is not None else None
    AL, _ = trainer.net.forward(first_layer_input(trainer.inputs, rows.X[index].T, codes))
    return accuracy(trainer.net.output_activation, AL, rows.Y[index].T) * index.shape[0]


def _run_batches(trainer: Trainer, rows: _Rows, progress: EpochProgress, learning_rate, bar) -> None:
    """The epoch's remaining mini-batches; raises on divergence, or on an interrupt between batches."""
    m, batch_size = progress.rows, trainer.batch_size
    fused = None  # the whole step as one compiled call, when the trainer's setup allows it
    if trainer.communicator is None:
        fused = trainer._local.epoch_step(trainer, rows.X, rows.Y, rows.sample_weight)
    for start in range(progress.samples_done, m, batch_size):
        batch = start // batch_size + 1
        size = min(batch_size, m - start)
        result = None  # None: the batch goes through _batch (no compiled step, or a batch of zero weight)
        if fused:
            result = fused(progress.order, start, size, _fused_l2(trainer, rows, progress.order, start, size))
        if result is not None:
            loss, hits = result
        else:
            loss, hits, size = _batch(trainer, rows, progress.order[start : start + batch_size])
        if not math.isfinite(loss):
            raise _diverged(trainer, progress, f"the loss became {loss}", batch, learning_rate)
        progress.total_loss += loss * size
        progress.correct += hits
        progress.samples_done = min(start + batch_size, m)
        for callback in trainer.callbacks:
            callback.on_batch_end(trainer, batch - 1, loss)
        bar.update(size, progress.total_loss)
        if trainer.interrupt_requested and progress.samples_done < m:
            _pause(trainer, progress, batch, learning_rate)
    if not _all_finite(trainer):  # the last step overflowed: no later loss would show it
        raise _diverged(trainer, progress, "the weights became NaN or infinite", batch, learning_rate)


def _fused_l2(trainer: Trainer, rows: _Rows, order: np.ndarray, start: int, size: int) -> float:
    """The compiled step's L2 scale ``lambda / m``, with ``m`` the batch's total weight when rows are
    weighted, as :func:`_batch` takes it (a batch of zero weight takes no step, so any m will do)."""
    if trainer.l2 == 0.0 or rows.sample_weight is None:
        return l2_scale(trainer.l2, size)
    total_weight = float(rows.sample_weight[order[start : start + size]].sum())
    return l2_scale(trainer.l2, total_weight if total_weight > 0 else size)


def _pause(trainer: Trainer, progress: EpochProgress, batch: int, learning_rate: float) -> None:
    """Keep the epoch's position for :meth:`state_dict` and raise :class:`TrainingInterrupted`."""
    if not _all_finite(trainer):
        raise _diverged(trainer, progress, "the weights became NaN or infinite", batch, learning_rate)
    trainer.epoch_progress = progress
    n_batches = -(-progress.rows // trainer.batch_size)
    raise interrupted(
        trainer, f"Training interrupted at epoch {trainer.epoch + 1}, after batch {batch} of {n_batches}"
    )


def evaluate_columns(
    net: DNN, X: Columns, Y: Columns, inputs: EmbeddingInput | None = None, codes: np.ndarray | None = None
) -> tuple[float, float]:
    """Mean loss and accuracy of ``net`` on column data (no dropout); mapped data a chunk at a time.

    With learned ``inputs``, ``X`` holds the dense rows and ``A0`` is built with ``codes`` ``(C, m)``.
    """
    totals = []  # (loss, accuracy, samples) per chunk: arrays come whole, as one chunk
    start = 0
    chunks = [(X, np.asarray(Y))] if is_sparse(X) else column_chunks(X, Y, PREDICT_CHUNK)
    for Xc, Yc in chunks:
        chunk_codes = codes[:, start : start + Xc.shape[1]] if codes is not None else None
        start += Xc.shape[1]
        AL = net.predict_proba(first_layer_input(inputs, Xc, chunk_codes))
        Yc = Yc.astype(AL.dtype, copy=False)
        totals.append((net.loss(AL, Yc), accuracy(net.output_activation, AL, Yc), AL.shape[1]))
    if len(totals) == 1:
        return totals[0][0], totals[0][1]
    m = sum(size for _, _, size in totals)
    return sum(loss * size for loss, _, size in totals) / m, sum(hits * size for _, hits, size in totals) / m


def _all_finite(trainer: Trainer) -> bool:
    """Whether every trained number (``theta``, and ``phi`` with learned inputs) is finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        return all(
            bool(np.isfinite(vector.sum()) or np.isfinite(vector).all())
            for vector in trainer.parameters.values()
        )


def track_best(trainer: Trainer, logs: dict[str, float]) -> None:
    """Count epochs without improvement of the monitored loss; keep the best weights for early stopping."""
    monitored, config = logs.get("val_loss", logs["loss"]), trainer.config
    if monitored < trainer.best_loss - config.tol:
        trainer.best_loss = monitored
        trainer.epochs_without_improvement = 0
        if config.early_stopping:
            trainer.best_theta = trainer.net.theta.copy()
            if trainer.inputs is not None:
                trainer.best_phi = trainer.inputs.phi.copy()
    else:
        trainer.epochs_without_improvement += 1
        if config.early_stopping and trainer.epochs_without_improvement >= config.patience:
            trainer.stop_training = True
