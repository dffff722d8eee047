"""Data-parallel training over MPI: every rank takes its shard of each global mini-batch.

Run under ``mpiexec -n K``. Every rank holds the same network and sees the same training set
(in memory or memory-mapped). At the start of ``fit`` rank 0 broadcasts its weights, optimizer
state and random generator, so all ranks draw the same permutation; each global mini-batch
of ``B`` rows is then cut into ``K`` contiguous shards (sizes differ by at most one). A rank
computes the mean gradient of its shard, scales it to a sum (times its local ``m``, or its
local sample-weight total), and one ``Allreduce`` sums gradients, losses and counts over the
ranks; dividing by the global count gives exactly the single-process mean gradient, up to
floating-point reordering, even for uneven or empty shards. Every rank then takes the same
optimizer step. Each step reduces ``n_parameters + 4`` numbers of the network's dtype (the
gradient, then the loss, weight and sample sums and a stop vote, so that an interrupt on one
rank stops all ranks after the same batch). With learned inputs the gradient vector is
``dtheta`` then ``dphi`` (every ``dE_c``): the embeddings' gradient rides in the same all-reduce.

mpi4py is imported here only (the ``mpi`` extra); rank 0 alone should print and write files.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np

from mlpkit.losses import accuracy
from mlpkit.training.inputs import first_layer_input

MPI_EXTRA_HINT = (
    'distributed training needs mpi4py and an MPI library: pip install "mlpkit[mpi]" '
    "(installs mpi4py and mpich), then run under mpiexec -n K"
)
NO_RUNNING_SUMS = {"total_loss": 0.0, "correct": 0.0}
BUFFER_EXTRA = 4  # loss sum, weight sum, sample count, stop votes after the gradient in the reduce buffer


def import_mpi():
    """mpi4py's ``MPI`` module, or ImportError naming the ``mpi`` extra."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(MPI_EXTRA_HINT) from error
    return MPI


class MPICommunicator:
    """The Trainer's data-parallel hook over an mpi4py communicator (``COMM_WORLD`` by default).

    Pass it as ``Trainer(..., communicator=MPICommunicator())``. ``allreduce_seconds`` adds up
    the time spent in the gradient all-reduce, to measure the communication share.
    """

    def __init__(self, comm: Any = None) -> None:
        self.MPI = import_mpi()
        self.comm = comm if comm is not None else self.MPI.COMM_WORLD
        self.rank: int = self.comm.Get_rank()
        self.size: int = self.comm.Get_size()
        self.allreduce_seconds = 0.0
        self._buffer: np.ndarray | None = None
        self._epoch_seed: int | None = None
        self._seed_epoch: int | None = None
        self._batch_key = 0
        self._stop_requested = False

    @property
    def is_root(self) -> bool:
        """True on rank 0, the rank that prints and writes files."""
        return self.rank == 0

    def __repr__(self) -> str:
        return f"MPICommunicator(rank={self.rank}, size={self.size})"

    # ------------------------------------------------------------------ start of fit
    def synchronize(self, trainer: Any, m: int) -> None:
        """Check that all ranks train the same setup on ``m`` samples; copy rank 0's state to all ranks."""
        setup = (int(m), trainer.gradients.size, trainer.net.dtype.name, trainer.batch_size)
        setups = self.comm.allgather(setup)
        if any(other != setups[0] for other in setups):
            described = ", ".join(
                f"rank {rank}: m={s[0]}, parameters={s[1]}, dtype={s[2]}, batch_size={s[3]}"
                for rank, s in enumerate(setups)
            )
            raise ValueError(f"every rank must train the same network on the same data; got {described}")
        self._stop_requested = False
        self.settle_epoch_progress(trainer)
        self.share_state(trainer)
        if not self.is_root:
            trainer.progress = False

    def share_state(self, trainer: Any) -> None:
        """Give every rank rank 0's trainer state: weights, optimizer, generator, epoch, position.

        An interrupted epoch's running loss and accuracy sums stay on rank 0 (the others
        restart theirs from zero), so the epoch's end still adds up the whole batch once.
        """
        arrays, meta = self.comm.bcast(trainer.state_dict() if self.is_root else None, root=0)
        trainer.load_state_dict(arrays, meta if self.is_root else _without_running_sums(meta))

    def settle_epoch_progress(self, trainer: Any) -> None:
        """Gather an interrupted epoch's running loss and accuracy sums on rank 0 (zero on the others).

        Each rank sums only its own shards while an epoch runs, and the epoch's end adds the
        ranks' sums. Call this on every rank before rank 0 writes a mid-epoch checkpoint, so
        that the file holds the whole batch's sums; ``fit`` calls it when it starts.
        """
        arrays, meta = trainer.state_dict()
        progress = meta.get("epoch_progress")
        local = (progress["total_loss"], progress["correct"]) if progress else (0.0, 0.0)
        total_loss, correct = self.sum_over_ranks(*local)
        if progress is not None:
            sums = {"total_loss": total_loss, "correct": correct} if self.is_root else NO_RUNNING_SUMS
            trainer.load_state_dict(arrays, _with_running_sums(meta, sums))

    # ------------------------------------------------------------------ one step
    def shard(self, index: np.ndarray) -> np.ndarray:
        """This rank's contiguous part of a global mini-batch's row indices (may be empty)."""
        n = index.shape[0]
        self._batch_key = int(index[0]) if n else -1  # names the global batch for its dropout masks
        return index[n * self.rank // self.size : n * (self.rank + 1) // self.size]

    def forward_backward(
        self,
        trainer: Any,
        X: np.ndarray,
        Y: np.ndarray,
        sample_weight: np.ndarray | None,
        codes: np.ndarray | None = None,
    ) -> tuple[float, np.ndarray, int]:
        """Forward and backward on this rank's shard, then the global batch's mean gradient.

        Leaves the averaged gradients in ``trainer.gradients`` (``dtheta``, then ``dphi`` when
        the trainer learns embeddings: then ``X`` holds the dense rows and ``codes`` their codes);
        returns the global batch's mean loss, this shard's ``A_L`` and the global batch size ``m``.
        """
        net, inputs = trainer.net, trainer.inputs
        m = X.shape[1]
        weight = float(m if sample_weight is None else np.sum(sample_weight))
        A0 = first_layer_input(inputs, X, codes)
        AL, cache = net.forward(A0, dropout=trainer.dropout, rng=self._dropout_generator(trainer))
        if weight > 0:
            loss = net.loss(AL, Y, sample_weight)
            grads = net.compute_gradients(
                AL, Y, cache, inputs is not None, sample_weight=sample_weight, out=trainer.gradient
            )
            if inputs is not None:
                inputs.backward(grads["dA0"], codes, out=trainer.input_gradient)  # dE_c (d_c, n_c) each
        else:  # an empty (or zero-weight) shard still joins the all-reduce, adding nothing
            loss = 0.0
            trainer.gradients.fill(0.0)
        loss, m_global, stop_anywhere = self.average(trainer.gradients, loss, weight, m, self._stop_requested)
        if stop_anywhere:  # an interrupt on any rank stops every rank after this same batch
            trainer.interrupt_requested = True
            self._stop_requested = False
        return loss, AL, m_global

    def step(
        self,
        trainer: Any,
        rows: np.ndarray,
        targets: np.ndarray,
        index: np.ndarray,
        weight,
        code_rows: np.ndarray | None = None,
    ) -> tuple[float, float, int]:
        """This rank's shard ``index`` forward and backward, then the global mean gradient.

        Returns the global batch's mean loss, this shard's hits and the global batch size.
        """
        Xb, Yb = rows[index].T, targets[index].T
        codes = code_rows[index].T if code_rows is not None else None
        loss, AL, m = self.forward_backward(trainer, Xb, Yb, weight, codes)
        hits = accuracy(trainer.net.output_activation, AL, Yb) * index.shape[0] if index.shape[0] else 0.0
        return loss, hits, m

    def request_stop(self, trainer: Any = None) -> None:
        """Vote to stop after the next mini-batch (from :meth:`Trainer.request_interrupt`; signal-safe).

        A rank must not stop on its own between two all-reduces, or the others would wait for
        it forever: the vote travels with the next gradient, and every rank stops after that batch.
        """
        self._stop_requested = True

    def average(
        self, gradient: np.ndarray, loss: float, weight: float, m: int, stop: bool = False
    ) -> tuple[float, int, bool]:
        """Turn this rank's mean ``gradient`` and ``loss`` (over ``weight``) into global means, in place.

        One Allreduce of ``[gradient * weight, loss * weight, weight, m, stop]``; returns the
        global mean loss, the global sample count, and whether any rank asked to stop.
        """
        n = gradient.size
        buffer = self._reduce_buffer(gradient)
        np.multiply(gradient, weight, out=buffer[:n])  # local sum of per-sample gradients
        buffer[n:] = (loss * weight, weight, m, float(stop))
        started = time.perf_counter()
        self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        self.allreduce_seconds += time.perf_counter() - started
        total_weight = buffer[n + 1]
        np.divide(buffer[:n], total_weight, out=gradient)
        return float(buffer[n] / total_weight), int(round(float(buffer[n + 2]))), bool(buffer[n + 3] > 0)

    def _reduce_buffer(self, gradient: np.ndarray) -> np.ndarray:
        size = gradient.size + BUFFER_EXTRA
        if self._buffer is None or self._buffer.size != size or self._buffer.dtype != gradient.dtype:
            self._buffer = np.empty(size, dtype=gradient.dtype)
        return self._buffer

    def _dropout_generator(self, trainer: Any) -> np.random.Generator | None:
        """This rank's dropout masks for the current batch: a generator seeded by (epoch, batch, rank).

        Drawing masks from the shared shuffling generator would advance it by shard-sized
        amounts and desynchronize the ranks' permutations. The epoch's seed is derived from
        that generator's state without advancing it, and each batch is named by its first
        global row, so a run resumed at any batch draws the same masks as an uninterrupted one.
        """
        if trainer.dropout == 0.0:
            return None
        if self._seed_epoch != trainer.epoch or self._epoch_seed is None:
            self._epoch_seed = int(copy.deepcopy(trainer.rng).integers(2**63))
            self._seed_epoch = trainer.epoch
        return np.random.default_rng([self._epoch_seed, self._batch_key + 1, self.rank])

    # ------------------------------------------------------------------ end of epoch
    def sum_over_ranks(self, *values: float) -> tuple[float, ...]:
        """Element-wise sum of a few scalars over all ranks (float64)."""
        buffer = np.array(values, dtype=np.float64)
        self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        return tuple(float(value) for value in buffer)

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        self.comm.Barrier()


def _with_running_sums(meta: dict, sums: dict[str, float]) -> dict:
    """``meta`` with its interrupted epoch's running sums replaced (no change without one)."""
    if "epoch_progress" not in meta:
        return meta
    return {**meta, "epoch_progress": {**meta["epoch_progress"], **sums}}


def _without_running_sums(meta: dict) -> dict:
    """``meta`` with its interrupted epoch's running loss and accuracy sums set to zero."""
    return _with_running_sums(meta, NO_RUNNING_SUMS)


def make_communicator(distributed: bool) -> MPICommunicator | None:
    """An :class:`MPICommunicator` on ``COMM_WORLD`` when ``distributed`` is true, else ``None``."""
    return MPICommunicator() if distributed else None
