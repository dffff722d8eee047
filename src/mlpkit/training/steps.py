"""One process's share of a training step: the whole mini-batch here, or a rank's shard under MPI.

The trainer asks its step source for the same few things whether it runs alone or with other
ranks (see :class:`mlpkit.training.distributed.MPICommunicator`, which answers the same calls):
``synchronize`` at the start of ``fit``, ``shard`` a mini-batch, ``step`` (forward and backward,
leaving the mean gradient in ``trainer.gradients``: ``dtheta``, then ``dphi`` with learned
inputs), ``sum_over_ranks`` at the end of an epoch and ``request_stop``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mlpkit.fast.fused import EpochStep, FusedSteps, serves
from mlpkit.fast.step import FastStep

if TYPE_CHECKING:
    from mlpkit.training.trainer import Trainer


class SingleProcess:
    """Training in this process alone: each mini-batch through the reused-buffer :class:`FastStep`."""

    is_root = True

    def __init__(self, fast_step: FastStep) -> None:
        self.fast_step = fast_step
        self.fused = FusedSteps()

    def epoch_step(self, trainer: Trainer, rows, targets, sample_weight) -> EpochStep | None:
        """This epoch's whole step as one compiled call (:mod:`mlpkit.fast.fused`), or None when the
        network, optimizer or data need :meth:`step` and the optimizer's own ``step``."""
        net, optimizer = trainer.net, trainer.optimizer
        if trainer.inputs is not None or not serves(net, optimizer, trainer.gradient, trainer.dropout):
            return None
        return self.fused.bind(
            net, optimizer, trainer.gradient, rows, targets, sample_weight, trainer.batch_size
        )

    def synchronize(self, trainer: Trainer, m: int) -> None:
        """Nothing to agree on with other ranks."""

    def shard(self, index: np.ndarray) -> np.ndarray:
        """The whole mini-batch is this process's."""
        return index

    def step(
        self,
        trainer: Trainer,
        rows: np.ndarray,
        targets: np.ndarray,
        index: np.ndarray,
        weight,
        code_rows: np.ndarray | None = None,
    ) -> tuple[float, float, int]:
        """Forward and backward on rows ``index`` (and their codes, with learned inputs); returns
        (J, hits, m) with the gradients in place."""
        step = self.fast_step
        loss, hits, _, _ = step(rows, targets, index, weight, trainer.dropout, trainer.rng, code_rows)
        return loss, hits, index.shape[0]

    def sum_over_ranks(self, *values: float) -> tuple[float, ...]:
        """One process: the sums are the values."""
        return values

    def request_stop(self, trainer: Trainer) -> None:
        """Stop after the current mini-batch."""
        trainer.interrupt_requested = True
