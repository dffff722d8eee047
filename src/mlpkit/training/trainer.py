"""The training loop: epochs of seeded mini-batches, validation, early stopping, callbacks, history.

Data here is in the engine's layout, columns are samples: ``X`` is ``(n_x, m)`` and ``Y`` is
``(n_L, m)``. Passing ``rows.T`` (a transposed view of row-major data) makes each
mini-batch one contiguous gather.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from mlpkit.fast.step import FastStep
from mlpkit.losses import accuracy
from mlpkit.network import DNN, PREDICT_CHUNK, check_finite
from mlpkit.optimizers import Optimizer, make_optimizer
from mlpkit.schedules import Constant, ReduceOnPlateau

DEFAULT_PATIENCE = 10


class TrainingDiverged(ArithmeticError):
    """The loss or the weights became NaN or infinite; the network keeps its last finite weights."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped between two mini-batches on request; :meth:`Trainer.state_dict` resumes it exactly."""


@dataclass
class _EpochProgress:
    """Where the current epoch stands: its batch order, the samples done, running sums, starting weights."""

    rng_state: dict  # the generator's state before the epoch drew its batch order
    order: np.ndarray | None  # the columns in batch order (rebuilt from rng_state after a resume)
    samples_done: int
    total_loss: float
    correct: float
    start_theta: np.ndarray  # the weights divergence falls back to
    rows: int  # m, the number of training columns


@dataclass
class History:
    """Per-epoch training record: loss and accuracy on train and validation, seconds, learning rate."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.loss)

    def to_dict(self) -> dict[str, list[float]]:
        """Plain lists (JSON-serializable; NaN stays NaN)."""
        return {name: list(getattr(self, name)) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict) -> History:
        """Rebuild from :meth:`to_dict` output."""
        return cls(**{name: [float(v) for v in data.get(name, [])] for name in cls.__dataclass_fields__})


class Callback:
    """Hooks called by :class:`Trainer`; set ``trainer.stop_training = True`` to stop after the epoch."""

    def on_train_begin(self, trainer: Trainer) -> None:
        """Called once before the first epoch of a ``fit`` call."""

    def on_batch_end(self, trainer: Trainer, batch: int, loss: float) -> None:
        """Called after each mini-batch update."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Called after each epoch with that epoch's metrics."""

    def on_train_end(self, trainer: Trainer) -> None:
        """Called once after the last epoch."""


def _check_int(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class Trainer:
    """Mini-batch training of a :class:`DNN` with an optimizer, L2, dropout and a schedule.

    The trainer owns the optimizer state and the random generator, so calling :meth:`fit`
    again continues where it stopped (warm start), and :meth:`state_dict` captures everything
    an exact resume needs.
    """

    def __init__(
        self,
        net: DNN,
        optimizer: str | Optimizer = "adam",
        learning_rate: float = 1e-3,
        *,
        batch_size: int = 128,
        l2: float = 0.0,
        dropout: float = 0.0,
        schedule=None,
        shuffle: bool = True,
        seed: int | None = 0,
        progress: bool | None = None,
        callbacks: Sequence[Callback] = (),
        optimizer_options: dict | None = None,
        communicator=None,
    ) -> None:
        self.net = net
        self.communicator = communicator  # data-parallel hook: an MPICommunicator
        self.batch_size = _check_int("batch_size", batch_size, 1)
        if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not l2 >= 0 or not math.isfinite(l2):
            raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
        self.l2 = float(l2)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        self.schedule = schedule if schedule is not None else Constant()
        self.shuffle = bool(shuffle)
        self.rng = np.random.default_rng(seed)
        self.progress = progress
        self.callbacks = list(callbacks)
        self.gradient = np.zeros_like(net.theta)
        self._weights = {"theta": slice(0, net.n_weights)}  # theta holds every W_l, then every b_l
        self._fast_step = FastStep(net, self.gradient)
        if isinstance(optimizer, Optimizer):
            self.optimizer = optimizer
        else:
            options = dict(optimizer_options or {})
            if optimizer == "adamw":
                options.setdefault("decay_slices", {"theta": slice(0, net.n_weights)})
            self.optimizer = make_optimizer(optimizer, {"theta": net.theta}, learning_rate, **options)
        from mlpkit.fast.adam import OptimizerStep

        self._optimizer_step = OptimizerStep()  # optimizer.step, with Adam's update compiled where built
        self.initial_learning_rate = self.optimizer.learning_rate
        self.history = History()
        self.epoch = 0
        self.stop_training = False
        self.best_loss = math.inf
        self.best_theta: np.ndarray | None = None
        self.epochs_without_improvement = 0
        self.interrupt_requested = False
        self._epoch_progress: _EpochProgress | None = None  # set while an interrupted epoch waits
        self._validation_split: dict | None = None  # rows, fraction and the generator state it drew from

    def request_interrupt(self) -> None:
        """Ask :meth:`fit` to stop after the current mini-batch (safe from a signal handler).

        ``fit`` then raises :class:`TrainingInterrupted`; :meth:`state_dict` holds the exact
        position inside the epoch, so a later ``fit`` (after :meth:`load_state_dict`) goes on
        from the next mini-batch.
        """
        if self.communicator is not None:  # all ranks agree in the next gradient all-reduce
            self.communicator.request_stop()
            return
        self.interrupt_requested = True

    # ------------------------------------------------------------------ one step
    def train_batch(
        self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """Forward, backward and one optimizer step on a column batch; returns (loss, A_L)."""
        net, m = self.net, X.shape[1]
        if self.communicator is not None:  # this rank's shard; gradient and loss averaged over ranks
            loss, AL, m = self.communicator.forward_backward(self, X, Y, sample_weight)
        else:
            AL, cache = net.forward(X, dropout=self.dropout, rng=self.rng)
            loss = net.loss(AL, Y, sample_weight)
            net.compute_gradients(AL, Y, cache, sample_weight=sample_weight, out=self.gradient)
        return self._regularize_and_step(loss, m), AL

    def _train_rows(
        self, rows: np.ndarray, targets: np.ndarray, index: np.ndarray, sample_weight: np.ndarray | None
    ) -> tuple[float, float]:
        """One step on the rows ``index`` of ``X.T``/``Y.T``; returns the batch's loss and hits
        (samples predicted right, NaN for regression).

        The same step as :meth:`train_batch`, through :class:`~mlpkit.fast.step.FastStep`
        (buffers reused across batches) unless a communicator takes part.
        """
        size = index.shape[0]
        if self.communicator is not None:
            Xb, Yb = rows[index].T, targets[index].T
            loss, AL = self.train_batch(Xb, Yb, sample_weight)
            return loss, accuracy(self.net.output_activation, AL, Yb) * size if size else 0.0
        loss, hits, _, _ = self._fast_step(rows, targets, index, sample_weight, self.dropout, self.rng)
        return self._regularize_and_step(loss, size), hits

    def _hits(self, X: np.ndarray, Y: np.ndarray) -> float:
        """How many columns of ``X`` the network predicts right (NaN for regression, 0 for none)."""
        if X.shape[1] == 0:
            return 0.0
        AL, _ = self.net.forward(X)
        return accuracy(self.net.output_activation, AL, Y) * X.shape[1]

    def _regularize_and_step(self, loss: float, m: int) -> float:
        """Take the optimizer step if the loss is finite, with the L2 penalty ``(lambda/2m) ||W||^2``:
        its gradient ``(lambda/m) W`` is added to ``dW`` and its cost to the returned loss."""
        if not math.isfinite(loss):
            return loss
        if self.l2 == 0.0:
            self._optimizer_step(self.optimizer, {"dtheta": self.gradient})
            return loss
        grads = {"dtheta": self.gradient}
        squares = self._optimizer_step(self.optimizer, grads, l2=self.l2 / m, l2_slices=self._weights)
        return loss + 0.5 * self.l2 / m * squares

    # ------------------------------------------------------------------ epochs
    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        epochs: int = 10,
        *,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        validation_fraction: float = 0.0,
        early_stopping: bool = False,
        patience: int = DEFAULT_PATIENCE,
        tol: float = 0.0,
        sample_weight: np.ndarray | None = None,
    ) -> History:
        """Train for ``epochs`` more epochs; returns the (cumulative) :class:`History`.

        ``validation_fraction`` holds out a seeded random share of the columns when no
        ``validation_data`` is given. ``early_stopping`` stops after ``patience`` epochs
        without a validation-loss (or training-loss) improvement greater than ``tol``, and
        restores the best weights.
        """
        epochs = _check_int("epochs", epochs, 1)
        patience = _check_int("patience", patience, 1)
        X, Y = self._check_data(X, Y, "X", "Y")
        if sample_weight is not None:
            sample_weight = self._check_sample_weight(sample_weight, X.shape[1])
        if self.communicator is not None:
            self.communicator.synchronize(self, X.shape[1])
        if validation_data is None and validation_fraction:
            X, Y, validation_data, sample_weight = self._split_validation(
                X, Y, validation_fraction, sample_weight
            )
        elif validation_data is not None:
            validation_data = self._check_data(*validation_data, "validation X", "validation Y")
        self.stop_training = False
        for callback in self.callbacks:
            callback.on_train_begin(self)
        for _ in range(epochs):
            if self.interrupt_requested:
                raise self._interrupted(f"Training interrupted after epoch {self.epoch}")
            with np.errstate(over="ignore", invalid="ignore"):  # overflow surfaces as TrainingDiverged
                logs = self._run_epoch(X, Y, sample_weight, validation_data)
            self._track_best(logs, early_stopping, patience, tol)
            for callback in self.callbacks:
                callback.on_epoch_end(self, self.epoch - 1, logs)
            if self.stop_training:
                break
        if early_stopping:
            self.restore_best_weights()
        self.interrupt_requested = False
        for callback in self.callbacks:
            callback.on_train_end(self)
        return self.history

    @property
    def samples_done(self) -> int:
        """Samples already trained in an interrupted epoch; 0 between epochs."""
        return self._epoch_progress.samples_done if self._epoch_progress is not None else 0

    def restore_best_weights(self) -> None:
        """Put back the weights of the best epoch, when early stopping kept them."""
        if self.best_theta is not None:
            self.net.theta[...] = self.best_theta

    def epochs_left(
        self, epochs: int, *, early_stopping: bool = False, patience: int = DEFAULT_PATIENCE
    ) -> int:
        """Epochs of a run of ``epochs`` left after a restored state; 0 once early stopping ended it."""
        if early_stopping and self.epochs_without_improvement >= patience:
            return 0
        return max(epochs - self.epoch, 0)

    def _interrupted(self, message: str) -> TrainingInterrupted:
        self.interrupt_requested = False
        return TrainingInterrupted(message)

    def _check_data(
        self, X: np.ndarray, Y: np.ndarray, x_name: str, y_name: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """``X`` ``(n_x, m)`` and ``Y`` ``(n_L, m)`` checked and cast, or ValueError naming the problem.

        Memory-mapped data (``out_of_core``, see :mod:`mlpkit.datasets.memmap`) was checked in
        chunks when opened; here only its shape is, so it is never loaded or cast whole.
        """
        if getattr(X, "out_of_core", False):
            X.check_shape(self.net.layer_sizes[0], None, x_name)
        else:
            X = self.net.check_X(X, x_name)
            check_finite(X.T, f"{x_name} (as rows x features)")
        if X.shape[1] < 1:
            raise ValueError(f"{x_name} has no samples (m = 0); training needs at least one column")
        if getattr(Y, "out_of_core", False):
            Y.check_shape(self.net.layer_sizes[-1], X.shape[1], y_name)
        else:
            Y = self._check_targets(X, Y, y_name)
            check_finite(Y.T, f"{y_name} (as rows x outputs)")
        return X, Y

    def _check_targets(self, X: np.ndarray, Y: np.ndarray, name: str) -> np.ndarray:
        Y = np.asarray(Y)
        n_L = self.net.layer_sizes[-1]
        if Y.ndim == 1 and n_L == 1:
            Y = Y.reshape(1, -1)
        if Y.ndim != 2 or Y.shape[0] != n_L or Y.shape[1] != X.shape[1]:
            raise ValueError(
                f"{name} must have shape (n_L, m) = ({n_L}, {X.shape[1]}) to match X, got {Y.shape}"
            )
        if not np.issubdtype(Y.dtype, np.number):
            raise ValueError(f"{name} must hold numbers (one-hot or 0/1 labels), got dtype {Y.dtype}")
        return Y.astype(self.net.dtype, copy=False)

    @staticmethod
    def _check_sample_weight(sample_weight: np.ndarray, m: int) -> np.ndarray:
        weight = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if weight.shape[0] != m:
            raise ValueError(f"sample_weight has {weight.shape[0]} entries, expected one per sample ({m})")
        if not np.isfinite(weight).all() or (weight < 0).any() or weight.sum() <= 0:
            raise ValueError("sample_weight must be finite, >= 0, and not all zero")
        return weight

    def _split_validation(self, X, Y, fraction, sample_weight):
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {fraction!r}")
        m = X.shape[1]
        n_val = max(1, int(round(fraction * m)))
        if n_val >= m:
            raise ValueError(f"validation_fraction={fraction} leaves no training samples out of {m}")
        order = self._validation_order(m, fraction)
        val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
        weight = sample_weight[train] if sample_weight is not None else None
        return X[:, train], Y[:, train], (X[:, val], Y[:, val]), weight

    def _validation_order(self, m: int, fraction: float) -> np.ndarray:
        """The permutation that splits off validation columns: drawn once, then kept for the same data.

        A later ``fit`` on ``m`` columns with the same fraction (warm start, or a resume from
        :meth:`state_dict`) holds out the same columns, so it never trains on what it validated on.
        """
        split = self._validation_split
        if split is not None and split["rows"] == m and split["fraction"] == fraction:
            return _generator_at(split["rng"]).permutation(m)
        self._validation_split = {"rows": m, "fraction": fraction, "rng": self.rng.bit_generator.state}
        return self.rng.permutation(m)

    def _epoch_order(self, m: int, rng: np.random.Generator | None = None) -> np.ndarray:
        return (rng or self.rng).permutation(m) if self.shuffle else np.arange(m)

    def _batches(self, m: int) -> Iterator[np.ndarray]:
        """One epoch's mini-batches (column indices) in the seeded order :meth:`fit` trains them."""
        order = self._epoch_order(m)
        for start in range(0, m, self.batch_size):
            yield order[start : start + self.batch_size]

    def _start_epoch(self, m: int) -> _EpochProgress:
        """A new epoch's batch order (seeded) and its starting point, or the interrupted epoch's."""
        progress, self._epoch_progress = self._epoch_progress, None
        if progress is None:
            rng_state = self.rng.bit_generator.state
            order = self._epoch_order(m)
            return _EpochProgress(rng_state, order, 0, 0.0, 0.0, self.net.theta.copy(), m)
        if progress.rows != m:
            raise ValueError(
                f"the interrupted epoch ran over {progress.rows} samples, but this fit has {m}; "
                "resume with the same data"
            )
        if progress.order is None:  # drawn again from the state the epoch drew it from
            progress.order = self._epoch_order(m, _generator_at(progress.rng_state))
        return progress

    def _diverged(self, progress: _EpochProgress, what: str, batch: int, learning_rate: float):
        self.net.theta[...] = progress.start_theta
        return TrainingDiverged(
            f"Training diverged: {what} at epoch {self.epoch + 1}, batch {batch}; the weights "
            f"from the start of that epoch were kept. Try a smaller learning rate (it was "
            f"{learning_rate:g})."
        )

    def _run_batches(
        self, rows, targets, sample_weight, progress: _EpochProgress, learning_rate, bar
    ) -> None:
        """The epoch's remaining mini-batches; raises on divergence, or on an interrupt between batches."""

        m, batch_size = progress.rows, self.batch_size
        for start in range(progress.samples_done, m, batch_size):
            batch = start // batch_size + 1
            index = progress.order[start : start + batch_size]
            # every rank sees the whole mini-batch's weights, so all of them skip the same batches
            wb = sample_weight[index] if sample_weight is not None else None
            learnable = wb is None or bool(wb.any())
            if self.communicator is not None:
                index = self.communicator.shard(index)  # this rank's rows of the global mini-batch
                wb = sample_weight[index] if sample_weight is not None else None
            if learnable:
                loss, hits = self._train_rows(rows, targets, index, wb)
            else:  # all its weights are zero: J has nothing from it to learn, so no step
                loss, hits = 0.0, self._hits(rows[index].T, targets[index].T)
            if not math.isfinite(loss):
                raise self._diverged(progress, f"the loss became {loss}", batch, learning_rate)
            size = index.shape[0]
            progress.total_loss += loss * size
            progress.correct += hits
            progress.samples_done = min(start + batch_size, m)
            for callback in self.callbacks:
                callback.on_batch_end(self, batch - 1, loss)
            if bar is not None:
                bar.update(size)
                bar.set_postfix(loss=f"{progress.total_loss / (bar.n or 1):.4f}", refresh=False)
            if self.interrupt_requested and progress.samples_done < m:
                self._pause(progress, batch, learning_rate)
        if not _all_finite(self.net.theta):  # the last step overflowed: no later loss would show it
            raise self._diverged(progress, "the weights became NaN or infinite", batch, learning_rate)

    def _pause(self, progress: _EpochProgress, batch: int, learning_rate: float) -> None:
        """Keep the epoch's position for :meth:`state_dict` and raise :class:`TrainingInterrupted`."""
        if not _all_finite(self.net.theta):
            raise self._diverged(progress, "the weights became NaN or infinite", batch, learning_rate)
        self._epoch_progress = progress
        n_batches = -(-progress.rows // self.batch_size)
        raise self._interrupted(
            f"Training interrupted at epoch {self.epoch + 1}, after batch {batch} of {n_batches}"
        )

    def _run_epoch(self, X, Y, sample_weight, validation_data) -> dict[str, float]:
        m = X.shape[1]
        learning_rate = self.schedule(self.initial_learning_rate, self.epoch)
        self.optimizer.learning_rate = learning_rate
        progress = self._start_epoch(m)
        rows, targets = X.T, Y.T  # gather whole rows: one contiguous copy per mini-batch
        started = time.perf_counter()
        bar = self._progress_bar(m, progress.samples_done)
        try:
            self._run_batches(rows, targets, sample_weight, progress, learning_rate, bar)
        finally:
            if bar is not None:
                bar.close()
        total_loss, correct = progress.total_loss, progress.correct
        if self.communicator is not None:
            total_loss, correct = self.communicator.sum_over_ranks(total_loss, correct)
        logs = {"loss": total_loss / m, "accuracy": correct / m, "learning_rate": learning_rate}

        if validation_data is not None:
            logs["val_loss"], logs["val_accuracy"] = self.evaluate(*validation_data)
        logs["seconds"] = time.perf_counter() - started
        self.epoch += 1
        self._record(logs)
        if isinstance(self.schedule, ReduceOnPlateau):
            self.schedule.observe(logs.get("val_loss", logs["loss"]))
        return logs

    def _record(self, logs: dict[str, float]) -> None:
        history = self.history
        history.loss.append(logs["loss"])
        history.accuracy.append(logs["accuracy"])
        history.val_loss.append(logs.get("val_loss", math.nan))
        history.val_accuracy.append(logs.get("val_accuracy", math.nan))
        history.seconds.append(logs["seconds"])
        history.learning_rate.append(logs["learning_rate"])

    def _track_best(self, logs: dict[str, float], early_stopping: bool, patience: int, tol: float) -> None:
        monitored = logs.get("val_loss", logs["loss"])
        if monitored < self.best_loss - tol:
            self.best_loss = monitored
            self.epochs_without_improvement = 0
            if early_stopping:
                self.best_theta = self.net.theta.copy()
        else:
            self.epochs_without_improvement += 1
            if early_stopping and self.epochs_without_improvement >= patience:
                self.stop_training = True

    def evaluate(self, X: np.ndarray, Y: np.ndarray) -> tuple[float, float]:
        """Mean loss and accuracy of the current weights on a column batch (no dropout)."""
        if getattr(X, "out_of_core", False):
            return self._evaluate_in_chunks(X, Y)
        AL = self.net.predict_proba(X)
        Y = Y.astype(AL.dtype, copy=False)
        return self.net.loss(AL, Y), accuracy(self.net.output_activation, AL, Y)

    def _evaluate_in_chunks(self, X, Y) -> tuple[float, float]:
        """:meth:`evaluate` for memory-mapped columns: reads ``PREDICT_CHUNK`` samples at a time."""
        rows, targets = X.T, Y.T
        m = rows.shape[0]
        loss = correct = 0.0
        for start in range(0, m, PREDICT_CHUNK):
            AL = self.net.predict_proba(rows[start : start + PREDICT_CHUNK].T)
            Yc = np.asarray(targets[start : start + PREDICT_CHUNK]).T.astype(AL.dtype, copy=False)
            loss += self.net.loss(AL, Yc) * AL.shape[1]
            correct += accuracy(self.net.output_activation, AL, Yc) * AL.shape[1]
        return loss / m, correct / m

    def _progress_bar(self, m: int, done: int = 0):
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        if not show:
            return None
        from tqdm.auto import tqdm

        return tqdm(
            total=m, initial=done, desc=f"epoch {self.epoch + 1}", unit="sample", leave=False, file=sys.stderr
        )

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays (parameters, optimizer state, best weights) and JSON metadata for an exact resume."""
        arrays: dict[str, np.ndarray] = {"theta": self.net.theta.copy()}
        meta: dict = {
            "epoch": self.epoch,
            "rng": self.rng.bit_generator.state,
            "history": self.history.to_dict(),
            "best_loss": self.best_loss,
            "epochs_without_improvement": self.epochs_without_improvement,
            "optimizer": {},
        }
        for name, value in self.optimizer.state_dict().items():
            if isinstance(value, np.ndarray):
                arrays[f"optimizer.{name}"] = value.copy()
            else:
                meta["optimizer"][name] = value
        if isinstance(self.schedule, ReduceOnPlateau):
            meta["plateau"] = {
                "scale": self.schedule.scale,
                "best": self.schedule.best,
                "wait": self.schedule.wait,
            }
        if self.best_theta is not None:
            arrays["best_theta"] = self.best_theta.copy()
        if self._validation_split is not None:
            meta["validation_split"] = dict(self._validation_split)
        progress = self._epoch_progress
        if progress is not None:  # interrupted inside an epoch: where it stands
            meta["epoch_progress"] = {
                "rng": progress.rng_state,
                "rows": progress.rows,
                "samples_done": progress.samples_done,
                "total_loss": progress.total_loss,
                "correct": progress.correct,
            }
            arrays["epoch_start_theta"] = progress.start_theta.copy()
        return arrays, meta

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Restore what :meth:`state_dict` produced."""
        theta = np.asarray(arrays["theta"])
        if theta.shape != self.net.theta.shape:
            raise ValueError(f"checkpoint has {theta.size} parameters, the network has {self.net.theta.size}")
        self.net.theta[...] = theta
        optimizer_state = dict(meta["optimizer"])
        optimizer_state.update(
            {k[len("optimizer.") :]: v for k, v in arrays.items() if k.startswith("optimizer.")}
        )
        self.optimizer.load_state_dict(optimizer_state)
        self.epoch = int(meta["epoch"])
        self.rng.bit_generator.state = meta["rng"]
        self.history = History.from_dict(meta["history"])
        self.best_loss = float(meta["best_loss"])
        self.epochs_without_improvement = int(meta["epochs_without_improvement"])
        if "plateau" in meta and isinstance(self.schedule, ReduceOnPlateau):
            plateau = meta["plateau"]
            self.schedule.scale, self.schedule.best = float(plateau["scale"]), float(plateau["best"])
            self.schedule.wait = int(plateau["wait"])
        self.best_theta = np.asarray(arrays["best_theta"]).copy() if "best_theta" in arrays else None
        self._validation_split = meta.get("validation_split")
        self._epoch_progress = self._progress_from_state(arrays, meta.get("epoch_progress"))

    def _progress_from_state(
        self, arrays: dict[str, np.ndarray], progress: dict | None
    ) -> _EpochProgress | None:
        if progress is None:
            return None
        start_theta = np.asarray(arrays["epoch_start_theta"], dtype=self.net.dtype)
        if start_theta.shape != self.net.theta.shape:
            raise ValueError(
                f"epoch_start_theta has {start_theta.size} parameters, the network has {self.net.theta.size}"
            )
        rows, done = int(progress["rows"]), int(progress["samples_done"])
        if not 0 < done < rows:
            raise ValueError(f"epoch_progress.samples_done must be in (0, {rows}), got {done}")
        _generator_at(progress["rng"])  # a malformed generator state fails here, not mid-epoch
        total_loss, correct = float(progress["total_loss"]), float(progress["correct"])
        return _EpochProgress(progress["rng"], None, done, total_loss, correct, start_theta.copy(), rows)


def _generator_at(state: dict) -> np.random.Generator:
    """A new generator in the given ``bit_generator.state`` (drawing from it leaves the original alone)."""
    generator = np.random.default_rng()
    generator.bit_generator.state = state
    return generator


def _all_finite(array: np.ndarray) -> bool:
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(array.sum()) or np.isfinite(array).all())


def train(
    net: DNN,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    epochs: int = 10,
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    batch_size: int = 128,
    seed: int | None = 0,
    **options,
) -> History:
    """Train ``net`` on column data with a fresh :class:`Trainer`; a one-call convenience.

    ``options`` go to :class:`Trainer` (``l2``, ``dropout``, ``schedule``, ``callbacks``,
    ``progress``...) or to :meth:`Trainer.fit` (``validation_data``, ``validation_fraction``,
    ``early_stopping``, ``patience``, ``sample_weight``).
    """
    fit_names = {
        "validation_data",
        "validation_fraction",
        "early_stopping",
        "patience",
        "tol",
        "sample_weight",
    }
    fit_options = {k: options.pop(k) for k in list(options) if k in fit_names}
    trainer = Trainer(net, optimizer, learning_rate, batch_size=batch_size, seed=seed, **options)
    return trainer.fit(X, Y, epochs, **fit_options)
