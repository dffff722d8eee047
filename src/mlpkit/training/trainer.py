"""The :class:`Trainer`: a network, its optimizer and generator, one checked :class:`TrainConfig`.

It owns what a run carries from epoch to epoch (optimizer state, generator, history, early
stopping, an interrupted epoch's position); the epochs themselves run in
:mod:`mlpkit.training.loop`, the state is written and read in :mod:`mlpkit.training.state`.
Data is in the engine's layout, columns are samples: ``X`` ``(n_x, m)``, ``Y`` ``(n_L, m)``; with
learned inputs (``inputs=EmbeddingInput(...)``), ``X`` holds the dense rows ``(n_dense, m)`` and
``codes`` ``(C, m)`` the categorical columns looked up in the embeddings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mlpkit.embeddings import EmbeddingInput
from mlpkit.fast.adam import OptimizerStep
from mlpkit.fast.step import FastStep
from mlpkit.network import DNN
from mlpkit.optimizers import OPTIMIZERS, Optimizer, make_optimizer
from mlpkit.regularization import l2_cost, l2_scale
from mlpkit.schedules import Constant
from mlpkit.training import inputs as learned
from mlpkit.training import state
from mlpkit.training.callbacks import Callback, History
from mlpkit.training.config import POSITIVE_INTEGER, ConfigError, TrainConfig
from mlpkit.training.data import ValidationSplit, check_codes, training_data
from mlpkit.training.loop import evaluate_columns, run_epochs
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
    ``inputs=EmbeddingInput(...)`` learns embeddings too: ``fit(X_dense, Y, codes=codes)``.
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
        inputs: EmbeddingInput | None = None,
        **settings,
    ) -> None:
        self.net = net
        self._loss_layer = net.output  # training needs the output's paired loss: ValueError without one
        self.inputs = learned.check_inputs(net, inputs)
        if config is None and isinstance(optimizer, Optimizer):  # the instance's own kind and rate
            config = build_config(optimizer=optimizer_name(optimizer), lr=optimizer.learning_rate, **settings)
        elif config is None:
            config = build_config(optimizer=optimizer, lr=learning_rate, **settings)
        self.config = config
        self.progress = progress
        self.callbacks = list(callbacks)
        self.rng = np.random.default_rng(config.seed)
        # one flat vector: dtheta, then dphi with learned inputs; gradient and input_gradient view it
        self.gradients, self.gradient, self.input_gradient = learned.new_gradients(net, self.inputs)
        self._weights = {"theta": slice(0, net.n_weights)}  # theta holds every W_l, then every b_l
        self._local = SingleProcess(self._fast_step())
        self.communicator = communicator  # None, or a data-parallel hook such as an MPICommunicator
        self.schedule = config.schedule if config.schedule is not None else Constant()
        self.optimizer = optimizer if isinstance(optimizer, Optimizer) else self._new_optimizer(config)
        learned.check_optimizer_vectors(self.optimizer.params, self.inputs)
        self._optimizer_step = OptimizerStep()  # optimizer.step, with Adam's update compiled where built
        self.initial_learning_rate = self.optimizer.learning_rate
        self.history = History()
        self.epoch = 0
        self.stop_training = False
        self.best_loss = math.inf
        self.best_theta: np.ndarray | None = None
        self.best_phi: np.ndarray | None = None  # with learned inputs, the embeddings of the best epoch
        self.epochs_without_improvement = 0
        self.interrupt_requested = False
        self.epoch_progress: EpochProgress | None = None  # set while an interrupted epoch waits
        self.validation_split = ValidationSplit()

    def _new_optimizer(self, config: TrainConfig) -> Optimizer:
        options = dict(config.optimizer_options)
        if config.optimizer == "adamw":  # the weights decay; the biases and embeddings do not
            options.setdefault("decay_slices", learned.decay_slices(self._weights, self.inputs))
        return make_optimizer(config.optimizer, self.parameters, config.lr, **options)

    def _fast_step(self) -> FastStep:
        return FastStep(self.net, self.gradient, inputs=self.inputs, input_gradient=self.input_gradient)

    @property
    def parameters(self) -> dict[str, np.ndarray]:
        """The flat vectors the optimizer steps: ``{"theta": net.theta}``, plus ``"phi"`` with inputs."""
        return learned.trained_vectors(self.net, self.inputs)

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
        self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None, codes=None
    ) -> tuple[float, np.ndarray]:
        """The notes' step on a column batch: forward, backward, one optimizer step; returns (J, A_L).
        With learned inputs, ``A0`` is built from ``X`` and ``codes`` and ``dA0`` goes on into ``dE_c``."""
        net, inputs = self.net, self.inputs
        codes = check_codes(inputs, codes, X.shape[1], "codes")
        A0 = learned.first_layer_input(inputs, X, codes)  # (n_x, m)
        AL, cache = net.forward(A0, dropout=self.dropout, rng=self.rng)
        loss = net.loss(AL, Y, sample_weight)
        grads = net.compute_gradients(
            AL, Y, cache, inputs is not None, sample_weight=sample_weight, out=self.gradient
        )
        if inputs is not None:
            inputs.backward(grads["dA0"], codes, out=self.input_gradient)  # dE_c  (d_c, n_c) each
        # J averages over the batch's rows, or over their total weight; so does the L2 term
        m = X.shape[1] if sample_weight is None else float(np.sum(sample_weight))
        return self._regularize_and_step(loss, m), AL

    def _regularize_and_step(self, loss: float, m: int) -> float:
        """Take the optimizer step if the loss is finite, with the L2 penalty ``(lambda/2m) ||W||^2``:
        its gradient ``(lambda/m) W`` is added to ``dW`` and its cost to the returned loss."""
        if not math.isfinite(loss):
            return loss
        grads = learned.gradient_mapping(self.gradient, self.input_gradient)
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
        validation_data: tuple[np.ndarray, ...] | None = None,
        sample_weight: np.ndarray | None = None,
        codes: np.ndarray | None = None,
        **settings,
    ) -> History:
        """Train ``epochs`` more epochs (default: the config's); returns the whole :class:`History`.

        With learned inputs, ``X`` is the dense rows ``(n_dense, m)``, ``codes`` the integer codes
        ``(C, m)``, and ``validation_data`` is ``(X_val, Y_val, codes_val)``.

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
        run_epochs(self, training_data(self, X, Y, codes, sample_weight, validation_data), epochs)
        return self.history

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
        if self.best_phi is not None:
            self.inputs.phi[...] = self.best_phi

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

    def evaluate(self, X: np.ndarray, Y: np.ndarray, codes: np.ndarray | None = None) -> tuple[float, float]:
        """Mean loss and accuracy of the current weights on a column batch (no dropout)."""
        codes = check_codes(self.inputs, codes, X.shape[1], "codes")
        return evaluate_columns(self.net, X, Y, self.inputs, codes)

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
        self.gradient, self.input_gradient = learned.gradient_views(self.gradients, self.net, self.inputs)
        for name, vector in self.parameters.items():
            self.optimizer.params[name] = vector
        self._local.fast_step = self._fast_step()


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
