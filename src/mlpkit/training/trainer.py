"""The :class:`Trainer`: a network, its optimizer and generator, one checked :class:`TrainConfig`.

It owns what a run carries from epoch to epoch (optimizer state, generator, history, early
stopping, an interrupted epoch's position); the epochs themselves run in
:mod:`mlpkit.training.loop`, the state is written and read in :mod:`mlpkit.training.state`.
Data is in the engine's layout, columns are samples: ``X`` ``(n_x, m)``, ``Y`` ``(n_L, m)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mlpkit.fast.adam import OptimizerStep
from mlpkit.fast.step import FastStep
from mlpkit.network import DNN
from mlpkit.optimizers import OPTIMIZERS, Optimizer, make_optimizer
from mlpkit.regularization import l2_cost, l2_scale
from mlpkit.schedules import Constant
from mlpkit.training import state
from mlpkit.training.callbacks import Callback, History
from mlpkit.training.config import POSITIVE_INTEGER, ConfigError, TrainConfig
from mlpkit.training.data import ValidationSplit, check_columns, check_sample_weight
from mlpkit.training.loop import evaluate_columns, interrupted, run_epoch
from mlpkit.training.state import EpochProgress
from mlpkit.training.steps import SingleProcess

# Trainer(...) keywords that name a TrainConfig field differently
TRAINER_NAMES = {"lr": "learning_rate"}


class Trainer:
    """Mini-batch training of a :class:`DNN` with an optimizer, L2, dropout and a schedule.

    Settings come as one :class:`TrainConfig` (``config=``) or as keywords that build one
    (``Trainer(net, "adam", 1e-3, batch_size=64, l2=1e-4)``). The trainer owns the optimizer
    state and the random generator, so calling :meth:`fit` again continues where it stopped
    (warm start), and :meth:`state_dict` captures everything an exact resume needs.
    """

    def __init__(
        self,
        net: DNN,
        optimizer: str | Optimizer = "adam",
        learning_rate: float = 1e-3,
        *,
        config: TrainConfig | None = None,
        progress: bool | None = None,
        callbacks: Sequence[Callback] = (),
        communicator=None,
        **settings,
    ) -> None:
        self.net = net
        if config is None and isinstance(optimizer, Optimizer):  # the instance's own kind and rate
            config = build_config(optimizer=optimizer_name(optimizer), lr=optimizer.learning_rate, **settings)
        elif config is None:
            config = build_config(optimizer=optimizer, lr=learning_rate, **settings)
        self.config = config
        self.progress = progress
        self.callbacks = list(callbacks)
        self.rng = np.random.default_rng(config.seed)
        self.gradient = np.zeros_like(net.theta)
        self._weights = {"theta": slice(0, net.n_weights)}  # theta holds every W_l, then every b_l
        self._local = SingleProcess(FastStep(net, self.gradient))
        self.communicator = communicator  # None, or a data-parallel hook such as an MPICommunicator
        self.schedule = config.schedule if config.schedule is not None else Constant()
        self.optimizer = optimizer if isinstance(optimizer, Optimizer) else self._new_optimizer(config)
        self._optimizer_step = OptimizerStep()  # optimizer.step, with Adam's update compiled where built
        self.initial_learning_rate = self.optimizer.learning_rate
        self.history = History()
        self.epoch = 0
        self.stop_training = False
        self.best_loss = math.inf
        self.best_theta: np.ndarray | None = None
        self.epochs_without_improvement = 0
        self.interrupt_requested = False
        self.epoch_progress: EpochProgress | None = None  # set while an interrupted epoch waits
        self.validation_split = ValidationSplit()

    def _new_optimizer(self, config: TrainConfig) -> Optimizer:
        options = dict(config.optimizer_options)
        if config.optimizer == "adamw":
            options.setdefault("decay_slices", dict(self._weights))
        return make_optimizer(config.optimizer, {"theta": self.net.theta}, config.lr, **options)

    def configure(self, config: TrainConfig) -> None:
        """Continue with new settings: a new optimizer if its kind changed, else new hyper-parameters."""
        if config.optimizer != self.config.optimizer:
            self.optimizer = self._new_optimizer(config)
        else:
            for name, value in config.optimizer_options.items():
                setattr(self.optimizer, name, value)
        self.initial_learning_rate = self.optimizer.learning_rate = config.lr
        if config.schedule is not None:
            self.schedule = config.schedule
        self.config = config

    # ------------------------------------------------------------------ settings read from the config
    @property
    def batch_size(self) -> int:
        """Samples per mini-batch."""
        return self.config.batch_size

    @property
    def l2(self) -> float:
        """The L2 coefficient lambda of the penalty ``(lambda/2m) sum ||W_l||^2``."""
        return self.config.l2

    @property
    def dropout(self) -> float:
        """The share of hidden units dropped in training."""
        return self.config.dropout

    @property
    def communicator(self):
        """The data-parallel hook (e.g. an MPICommunicator), or None when training alone."""
        return None if self._parallel is self._local else self._parallel

    @communicator.setter
    def communicator(self, communicator) -> None:
        self._parallel = self._local if communicator is None else communicator

    def request_interrupt(self) -> None:
        """Ask :meth:`fit` to stop after the current mini-batch (safe from a signal handler).

        ``fit`` then raises :class:`TrainingInterrupted`; :meth:`state_dict` holds the exact
        position inside the epoch, so a later ``fit`` (after :meth:`load_state_dict`) goes on
        from the next mini-batch. Under MPI every rank stops after the same batch.
        """
        self._parallel.request_stop(self)

    # ------------------------------------------------------------------ one step
    def train_batch(
        self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """The notes' step on a column batch: forward, backward, one optimizer step; returns (J, A_L)."""
        net = self.net
        AL, cache = net.forward(X, dropout=self.dropout, rng=self.rng)
        loss = net.loss(AL, Y, sample_weight)
        net.compute_gradients(AL, Y, cache, sample_weight=sample_weight, out=self.gradient)
        return self._regularize_and_step(loss, X.shape[1]), AL

    def _regularize_and_step(self, loss: float, m: int) -> float:
        """Take the optimizer step if the loss is finite, with the L2 penalty ``(lambda/2m) ||W||^2``:
        its gradient ``(lambda/m) W`` is added to ``dW`` and its cost to the returned loss."""
        if not math.isfinite(loss):
            return loss
        grads = {"dtheta": self.gradient}
        if self.l2 == 0.0:
            self._optimizer_step(self.optimizer, grads)
            return loss
        squares = self._optimizer_step(
            self.optimizer, grads, l2=l2_scale(self.l2, m), l2_slices=self._weights
        )
        return loss + l2_cost(self.l2, m, squares)

    # ------------------------------------------------------------------ epochs
    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        epochs: int | None = None,
        *,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        sample_weight: np.ndarray | None = None,
        **settings,
    ) -> History:
        """Train ``epochs`` more epochs (default: the config's); returns the whole :class:`History`.

        ``settings`` override the config's ``validation_fraction`` (a seeded random share of
        the columns held out when no ``validation_data`` is given), ``early_stopping``,
        ``patience`` and ``tol``: early stopping stops after ``patience`` epochs without a
        validation-loss (or training-loss) improvement greater than ``tol`` and restores the
        best weights.
        """
        self.settle(X.shape[1])
        epochs = self.config.epochs if epochs is None else epochs
        if not POSITIVE_INTEGER.contains(epochs):
            raise ConfigError("epochs", epochs, POSITIVE_INTEGER.describe())
        if settings:
            self.config = _replaced(self.config, **settings)
        config = self.config
        X, Y = check_columns(self.net, X, Y, "X", "Y")
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, X.shape[1])
        self._parallel.synchronize(self, X.shape[1])
        if validation_data is None and config.validation_fraction:
            X, Y, validation_data, sample_weight = self.validation_split.split(
                X, Y, config.validation_fraction, sample_weight, self.rng
            )
        elif validation_data is not None:
            validation_data = check_columns(self.net, *validation_data, "validation X", "validation Y")
        self._run_epochs(X, Y, sample_weight, validation_data, epochs)
        return self.history

    def _run_epochs(self, X, Y, sample_weight, validation_data, epochs: int) -> None:
        self.stop_training = False
        for callback in self.callbacks:
            callback.on_train_begin(self)
        for _ in range(epochs):
            if self.interrupt_requested:
                raise interrupted(self, f"Training interrupted after epoch {self.epoch}")
            with np.errstate(over="ignore", invalid="ignore"):  # overflow surfaces as TrainingDiverged
                logs = run_epoch(self, X, Y, sample_weight, validation_data)
            self._track_best(logs)
            for callback in self.callbacks:
                callback.on_epoch_end(self, self.epoch - 1, logs)
            if self.stop_training:
                break
        if self.config.early_stopping:
            self.restore_best_weights()
        self.interrupt_requested = False
        for callback in self.callbacks:
            callback.on_train_end(self)

    def settle(self, rows: int) -> None:
        """Fill in the config's data-size defaults (a None batch size or epochs) for ``rows`` columns."""
        if self.config.batch_size is None or self.config.epochs is None:
            self.config = self.config.settled(rows)

    @property
    def samples_done(self) -> int:
        """Samples already trained in an interrupted epoch; 0 between epochs."""
        return self.epoch_progress.samples_done if self.epoch_progress is not None else 0

    def restore_best_weights(self) -> None:
        """Put back the weights of the best epoch, when early stopping kept them."""
        if self.best_theta is not None:
            self.net.theta[...] = self.best_theta

    def epochs_left(
        self, epochs: int | None = None, *, early_stopping: bool | None = None, patience: int | None = None
    ) -> int:
        """Epochs of a run of ``epochs`` (the config's) left after a restored state; 0 once early
        stopping (the config's, unless given) ended it."""
        config = self.config
        stopping = config.early_stopping if early_stopping is None else early_stopping
        if stopping and self.epochs_without_improvement >= (patience or config.patience):
            return 0
        return max((config.epochs if epochs is None else epochs) - self.epoch, 0)

    def _epoch_order(self, m: int, rng: np.random.Generator | None = None) -> np.ndarray:
        return (rng or self.rng).permutation(m) if self.config.shuffle else np.arange(m)

    def _batches(self, m: int):
        """One epoch's mini-batches (column indices) in the seeded order :meth:`fit` trains them."""
        order = self._epoch_order(m)
        for start in range(0, m, self.batch_size):
            yield order[start : start + self.batch_size]

    def _track_best(self, logs: dict[str, float]) -> None:
        monitored, config = logs.get("val_loss", logs["loss"]), self.config
        if monitored < self.best_loss - config.tol:
            self.best_loss = monitored
            self.epochs_without_improvement = 0
            if config.early_stopping:
                self.best_theta = self.net.theta.copy()
        else:
            self.epochs_without_improvement += 1
            if config.early_stopping and self.epochs_without_improvement >= config.patience:
                self.stop_training = True

    def evaluate(self, X: np.ndarray, Y: np.ndarray) -> tuple[float, float]:
        """Mean loss and accuracy of the current weights on a column batch (no dropout)."""
        return evaluate_columns(self.net, X, Y)

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays (parameters, optimizer state, best weights) and JSON metadata for an exact resume."""
        return state.state_dict(self)

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Restore what :meth:`state_dict` produced."""
        state.load_state_dict(self, arrays, meta)

    def __setstate__(self, saved: dict) -> None:
        """Unpickling (pickle, deepcopy, joblib): the optimizer and the fast step use this ``net`` again."""
        self.__dict__.update(saved)
        self.optimizer.params["theta"] = self.net.theta
        self._local.fast_step = FastStep(self.net, self.gradient)


def build_config(**settings) -> TrainConfig:
    """A :class:`TrainConfig` from keyword settings (``learning_rate`` for ``lr``); errors use those names."""
    try:
        return TrainConfig(**_renamed(settings))
    except ConfigError as error:
        raise error.renamed(TRAINER_NAMES) from None


def _replaced(config: TrainConfig, **settings) -> TrainConfig:
    """``config`` with keyword settings changed, checked; errors use the keyword names."""
    try:
        return config.replace(**_renamed(settings))
    except ConfigError as error:
        raise error.renamed(TRAINER_NAMES) from None


def optimizer_name(optimizer: Optimizer) -> str:
    """The registered name of an optimizer's class (of its nearest registered base class)."""
    for name, cls in OPTIMIZERS.items():
        if type(optimizer) is cls:
            return name
    return next((name for name, cls in OPTIMIZERS.items() if isinstance(optimizer, cls)), "sgd")


def _renamed(settings: dict) -> dict:
    """Keyword names as the config's fields (``learning_rate`` -> ``lr``)."""
    fields = {keyword: name for name, keyword in TRAINER_NAMES.items()}
    return {fields.get(key, key): value for key, value in settings.items()}
