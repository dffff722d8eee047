"""A whole training run: :func:`train` and :class:`TrainingRun`, with checkpoints, resume and Ctrl-C.

What ``mlpkit train --checkpoint-dir DIR [--resume]`` does, Python does with
``mlpkit.train(net, X, Y, checkpoint_dir=DIR, resume=True)``: a checkpoint at the end of every
epoch, a refusal to mix two runs in one folder, an exact resume from the newest readable
checkpoint, and Ctrl-C stopping after the current mini-batch with a checkpoint of that point.
Under MPI, rank 0 alone reads and writes the checkpoints and hands its state to every rank.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

import numpy as np

from mlpkit.network import DNN
from mlpkit.optimizers import Optimizer
from mlpkit.training.callbacks import History, PrintCost
from mlpkit.training.checkpoints import CheckpointFolder, EpochCheckpoints, data_digest
from mlpkit.training.loop import TrainingInterrupted
from mlpkit.training.trainer import Trainer

TRAINER_OPTIONS = ("progress", "callbacks", "communicator", "inputs")
FIT_OPTIONS = ("validation_data", "sample_weight", "codes")


class CheckpointError(ValueError):
    """A checkpoint folder that cannot serve this run; ``option`` names the setting at fault."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option  # "checkpoint_dir" or "resume"


class TrainingRun:
    """Runs a trainer's configured epochs, with an optional checkpoint folder and Ctrl-C handling.

    ``settings`` (JSON values) are stored in every checkpoint with the trainer's config; a resume
    whose config or settings differ (except in ``epochs``) is refused.
    """

    def __init__(
        self,
        trainer: Trainer,
        checkpoint_dir: str | None = None,
        *,
        resume: bool = False,
        settings: dict | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        if resume and checkpoint_dir is None:
            raise CheckpointError("resume", "resume needs a checkpoint folder, the one the run wrote to")
        self.trainer = trainer
        self.resume = resume
        self.settings = dict(settings or {})
        self.warn = warn or (lambda line: None)
        self.folder = CheckpointFolder(checkpoint_dir, {}) if checkpoint_dir is not None else None
        self.resumed_from: str | None = None
        if checkpoint_dir is not None:
            check_checkpoint_folder(checkpoint_dir, resume, probe_lock=self._writes_checkpoints)

    @property
    def _writes_checkpoints(self) -> bool:
        communicator = self.trainer.communicator
        return self.folder is not None and (communicator is None or communicator.is_root)

    def start(self, X: np.ndarray, Y: np.ndarray, codes: np.ndarray | None = None) -> None:
        """Create the folder, restore the newest checkpoint when resuming, share the state over ranks.

        With learned inputs, ``codes`` are part of the training data the checkpoints' digest covers.
        """
        trainer = self.trainer
        if self._writes_checkpoints:
            digest = data_digest(X, Y, codes)
            settings = {**trainer.config.to_dict(), **self.settings, "data_digest": digest}
            self.folder = CheckpointFolder(self.folder.folder, settings)
            try:
                self.folder.create()
                self.folder.lock.acquire()  # released when fit ends, or when the process does
            except ValueError as error:
                raise CheckpointError("checkpoint_dir", str(error)) from None
            if self.resume:
                try:
                    self._restore()
                except BaseException:
                    self.folder.lock.release()
                    raise
            trainer.callbacks.append(EpochCheckpoints(self.folder))
        if trainer.communicator is not None:
            trainer.communicator.share_state(trainer)  # a resumed run: the same epochs left on every rank

    def _restore(self) -> None:
        """Load the newest readable checkpoint into the trainer (none yet: start afresh)."""
        folder = self.folder
        folder.remove_temporaries()
        checkpoint, skipped = folder.newest()
        for line in skipped:
            self.warn(line)
        if checkpoint is None:
            if skipped:
                raise CheckpointError("resume", f"no checkpoint in {folder.folder} can be read")
            return
        try:
            folder.check_settings(checkpoint, self.trainer.config.epochs)
            checkpoint.restore(self.trainer)
        except ValueError as error:
            raise CheckpointError("resume", str(error)) from None
        self.resumed_from = str(checkpoint.path)

    def fit(self, X: np.ndarray, Y: np.ndarray, **fit_options) -> History:
        """Train the epochs left of the config's run (none once early stopping ended it).

        On Ctrl-C or :meth:`Trainer.request_interrupt` the trainer stops after the current
        mini-batch; with a folder, a checkpoint of that point is written, and the raised
        :class:`TrainingInterrupted` carries its path as ``checkpoint`` (None without a folder).
        """
        try:
            return self._fit(X, Y, **fit_options)
        finally:
            if self.folder is not None:
                self.folder.lock.release()

    def _fit(self, X: np.ndarray, Y: np.ndarray, **fit_options) -> History:
        trainer = self.trainer
        trainer.settle(X.shape[1])
        epochs = trainer.epochs_left()
        if epochs == 0:
            if trainer.config.early_stopping:
                trainer.restore_best_weights()
            return trainer.history
        try:
            with stop_after_batch_on_ctrl_c(trainer):
                return trainer.fit(X, Y, epochs, **fit_options)
        except TrainingInterrupted as interruption:
            interruption.checkpoint = self._checkpoint_interrupted()
            raise

    def _checkpoint_interrupted(self) -> str | None:
        """Every rank stopped after the same batch; rank 0 writes where it stands."""
        trainer = self.trainer
        if trainer.communicator is not None:
            trainer.communicator.settle_epoch_progress(trainer)
        if not self._writes_checkpoints:
            return None
        return str(self.folder.write(trainer))


def check_checkpoint_folder(checkpoint_dir: str, resume: bool, *, probe_lock: bool = True) -> None:
    """Refuse a folder that is a file, that another run holds (``probe_lock``: the process that will
    write the checkpoints asks), or that holds another run's checkpoints when not resuming."""
    folder = CheckpointFolder(checkpoint_dir, {})
    if folder.folder.exists() and not folder.folder.is_dir():
        raise CheckpointError("checkpoint_dir", f"{folder.folder} is a file, not a folder")
    if probe_lock and folder.folder.is_dir():  # fail fast, before the data is read; start() takes it
        try:
            folder.lock.acquire()
        except ValueError as error:
            raise CheckpointError("checkpoint_dir", str(error)) from None
        folder.lock.release()
    entries = folder.entries()
    if entries and not resume:
        raise CheckpointError(
            "checkpoint_dir",
            f"{folder.folder} already holds checkpoints (newest {entries[-1].path.name}); "
            "add --resume (resume=True in Python) to continue that run, or choose an empty folder",
        )


@contextlib.contextmanager
def stop_after_batch_on_ctrl_c(trainer: Trainer) -> Iterator[None]:
    """Ctrl-C (SIGINT) asks the trainer to stop after its current mini-batch; a second one stops at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop_after_batch(signum, frame) -> None:
        if trainer.interrupt_requested:
            raise KeyboardInterrupt
        trainer.request_interrupt()

    previous = signal.signal(signal.SIGINT, stop_after_batch)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def train(
    net: DNN,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    epochs: int = 10,
    optimizer: str | Optimizer = "adam",
    learning_rate: float = 1e-3,
    batch_size: int | None = 128,
    seed: int | None = 0,
    checkpoint_dir: str | None = None,
    resume: bool = False,
    print_every: int | None = None,
    **options,
) -> History:
    """Train ``net`` on column data ``X`` ``(n_x, m)``, ``Y`` ``(n_L, m)``; returns the :class:`History`.

    ``options`` are settings of :class:`~mlpkit.training.config.TrainConfig` (``l2``,
    ``dropout``, ``schedule``, ``validation_fraction``, ``early_stopping``, ``patience``...),
    the trainer's ``progress``, ``callbacks``, ``communicator`` and ``inputs``, or the data's
    ``validation_data``, ``sample_weight`` and ``codes``. With ``checkpoint_dir`` a checkpoint is
    written every epoch and on Ctrl-C; ``resume=True`` continues from the newest one there.
    With ``inputs=EmbeddingInput(...)`` the embeddings are learned too: ``X`` is then the dense
    rows ``(n_dense, m)`` and ``codes`` the codes ``(C, m)``.

    The notes' training loop: ``batch_size=None`` takes all ``m`` columns as one batch, one step
    an epoch (with ``optimizer="gd"``, plain gradient descent), and ``print_every=N`` prints
    ``Cost after iteration i: J`` every ``N`` epochs and after the last (``epoch`` in place of
    ``iteration`` with mini-batches).
    """
    full_batch = batch_size is None
    if full_batch:
        batch_size = max(1, np.shape(X)[1] if np.ndim(X) == 2 else 1)  # every column in one batch
    if print_every is not None:
        printer = PrintCost(print_every, "iteration" if full_batch else "epoch")
        options["callbacks"] = [*options.get("callbacks", ()), printer]
    trainer_options = {k: options.pop(k) for k in TRAINER_OPTIONS if k in options}
    fit_options = {k: options.pop(k) for k in FIT_OPTIONS if k in options}
    settings = dict(batch_size=batch_size, seed=seed, epochs=epochs, **options)
    trainer = Trainer(net, optimizer, learning_rate, **settings, **trainer_options)
    run = TrainingRun(trainer, checkpoint_dir, resume=resume)
    run.start(X, Y, fit_options.get("codes"))
    return run.fit(X, Y, **fit_options)
