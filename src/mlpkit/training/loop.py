"""The epoch and batch loop: seeded mini-batches, divergence, interrupts, evaluation in chunks.

Data here is in the engine's layout, columns are samples: ``X`` is ``(n_x, m)`` and ``Y`` is
``(n_L, m)``. Passing ``rows.T`` (a transposed view of row-major data) makes each
mini-batch one contiguous gather. The :class:`~mlpkit.training.trainer.Trainer` runs one
epoch with :func:`run_epoch`.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import numpy as np

from mlpkit.datasets.source import Columns, column_chunks
from mlpkit.losses import accuracy
from mlpkit.network import DNN, PREDICT_CHUNK
from mlpkit.schedules import ReduceOnPlateau
from mlpkit.sparse import is_sparse
from mlpkit.training.callbacks import ProgressBar
from mlpkit.training.data import generator_at
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


def run_epoch(trainer: Trainer, X, Y, sample_weight, validation_data) -> dict[str, float]:
    m = X.shape[1]
    learning_rate = trainer.schedule(trainer.initial_learning_rate, trainer.epoch)
    trainer.optimizer.learning_rate = learning_rate
    progress = _start_epoch(trainer, m)
    started = time.perf_counter()
    bar = ProgressBar(trainer.progress, m, progress.samples_done, trainer.epoch + 1)
    try:  # gather whole rows: one contiguous copy per mini-batch
        _run_batches(trainer, X.T, Y.T, sample_weight, progress, learning_rate, bar)
    finally:
        bar.close()
    total_loss, correct = trainer._parallel.sum_over_ranks(progress.total_loss, progress.correct)
    logs = {"loss": total_loss / m, "accuracy": correct / m, "learning_rate": learning_rate}
    if validation_data is not None:
        logs["val_loss"], logs["val_accuracy"] = trainer.evaluate(*validation_data)
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
        return EpochProgress(rng_state, order, 0, 0.0, 0.0, trainer.net.theta.copy(), m)
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
    return TrainingDiverged(
        f"Training diverged: {what} at epoch {trainer.epoch + 1}, batch {batch}; the weights "
        f"from the start of that epoch were kept. Try a smaller learning rate (it was "
        f"{learning_rate:g})."
    )


def _batch(trainer: Trainer, rows, targets, sample_weight, index: np.ndarray) -> tuple[float, float, int]:
    """One mini-batch (this rank's shard of it): its loss, hits and size after the step.

    Every rank sees the whole mini-batch's weights, so all of them skip the same batches:
    a batch whose weights are all zero gives J nothing to learn, so it takes no step.
    """
    weight = sample_weight[index] if sample_weight is not None else None
    learnable = weight is None or bool(weight.any())
    index = trainer._parallel.shard(index)  # this rank's rows of the global mini-batch
    weight = sample_weight[index] if sample_weight is not None else None
    if not learnable:
        return 0.0, _hits(trainer, rows[index].T, targets[index].T), index.shape[0]
    loss, hits, m = trainer._parallel.step(trainer, rows, targets, index, weight)
    return trainer._regularize_and_step(loss, m), hits, index.shape[0]


def _hits(trainer: Trainer, X: np.ndarray, Y: np.ndarray) -> float:
    """How many columns of ``X`` the network predicts right (NaN for regression, 0 for none)."""
    if X.shape[1] == 0:
        return 0.0
    AL, _ = trainer.net.forward(X)
    return accuracy(trainer.net.output_activation, AL, Y) * X.shape[1]


def _run_batches(
    trainer: Trainer, rows, targets, sample_weight, progress: EpochProgress, learning_rate, bar
) -> None:
    """The epoch's remaining mini-batches; raises on divergence, or on an interrupt between batches."""
    m, batch_size = progress.rows, trainer.batch_size
    for start in range(progress.samples_done, m, batch_size):
        batch = start // batch_size + 1
        loss, hits, size = _batch(
            trainer, rows, targets, sample_weight, progress.order[start : start + batch_size]
        )
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
    if not _all_finite(trainer.net.theta):  # the last step overflowed: no later loss would show it
        raise _diverged(trainer, progress, "the weights became NaN or infinite", batch, learning_rate)


def _pause(trainer: Trainer, progress: EpochProgress, batch: int, learning_rate: float) -> None:
    """Keep the epoch's position for :meth:`state_dict` and raise :class:`TrainingInterrupted`."""
    if not _all_finite(trainer.net.theta):
        raise _diverged(trainer, progress, "the weights became NaN or infinite", batch, learning_rate)
    trainer.epoch_progress = progress
    n_batches = -(-progress.rows // trainer.batch_size)
    raise interrupted(
        trainer, f"Training interrupted at epoch {trainer.epoch + 1}, after batch {batch} of {n_batches}"
    )


def evaluate_columns(net: DNN, X: Columns, Y: Columns) -> tuple[float, float]:
    """Mean loss and accuracy of ``net`` on column data (no dropout); mapped data a chunk at a time."""
    totals = []  # (loss, accuracy, samples) per chunk: arrays come whole, as one chunk
    chunks = [(X, np.asarray(Y))] if is_sparse(X) else column_chunks(X, Y, PREDICT_CHUNK)
    for Xc, Yc in chunks:
        AL = net.predict_proba(Xc)
        Yc = Yc.astype(AL.dtype, copy=False)
        totals.append((net.loss(AL, Yc), accuracy(net.output_activation, AL, Yc), AL.shape[1]))
    if len(totals) == 1:
        return totals[0][0], totals[0][1]
    m = sum(size for _, _, size in totals)
    return sum(loss * size for loss, _, size in totals) / m, sum(hits * size for _, hits, size in totals) / m


def _all_finite(array: np.ndarray) -> bool:
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(array.sum()) or np.isfinite(array).all())
