"""sgd and adam: epochs through :class:`mlpkit.Trainer`, with scikit-learn's split, schedule and stopping.

The Trainer runs the epochs and owns the optimizer state, kept across ``warm_start`` fits and
``partial_fit`` calls. After each epoch a callback does scikit-learn's bookkeeping (``n_iter_``,
``t_``, ``loss_curve_``, the validation score) and asks :class:`NoImprovement` whether to go on.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from mlpkit.embeddings import EmbeddingInput
from mlpkit.sklearn.frames import network_input
from mlpkit.sklearn.stopping import REDUCED, STOP, NoImprovement, SklearnLearningRate
from mlpkit.training import Callback, TrainConfig, Trainer, TrainingDiverged
from mlpkit.training.distributed import make_communicator

# scikit-learn's words when training gives non-finite weights (its tests match them)
NON_FINITE_WEIGHTS = (
    "Solver produced non-finite parameter weights. The input data may contain large values and "
    "need to be preprocessed. Standardize it, e.g. with StandardScaler."
)


class _EpochEnd(Callback):
    """Hands each finished epoch to the estimator, which applies scikit-learn's stopping rule."""

    def __init__(
        self, estimator: StochasticSolver, n_train: int, validation: tuple | None, tol: float
    ) -> None:
        self.estimator = estimator
        self.n_train = n_train
        self.validation = validation
        self.tol = tol
        self.stopped = False

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if self.estimator._end_epoch(trainer, logs["loss"], self.n_train, self.validation, self.tol):
            self.stopped = trainer.stop_training = True


class StochasticSolver:
    """The sgd/adam half of the estimators: needs ``net_``, ``_stopping`` and the parameters."""

    _trainer: Trainer | None
    _stopping: NoImprovement
    inputs_: EmbeddingInput | None

    def _fit_stochastic(
        self, X: np.ndarray, Y: np.ndarray, weight, config: TrainConfig, incremental: bool, codes=None
    ):
        """Epochs over rows ``X`` (with ``codes``, the embedded columns' rows, when ``inputs_`` is set)."""
        if incremental and config.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True; use fit")
        validation = None
        if config.early_stopping and not incremental:
            X, Y, weight, codes, validation = self._split_validation(
                X, Y, weight, codes, config.validation_fraction
            )
        trainer = self._prepared_trainer(config, X.shape[0])
        monitor = _EpochEnd(self, X.shape[0], validation, config.tol)
        self.n_iter_ = 0
        try:
            self._run_epochs(trainer, monitor, (X, Y, weight, codes), 1 if incremental else config.epochs)
        finally:
            trainer.callbacks = []
            trainer.communicator = None
        if self._stopping.best_theta is not None:
            self._set_trained_vector(self._stopping.best_theta)
        if not incremental and not monitor.stopped and self.n_iter_ == config.epochs:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({config.epochs}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _run_epochs(self, trainer: Trainer, monitor: _EpochEnd, data: tuple, epochs: int) -> None:
        X, Y, weight, codes = data
        trainer.callbacks = [monitor]
        trainer.communicator = make_communicator(self.distributed)  # MPI data-parallel when distributed
        rows = X.astype(self.net_.dtype, copy=False)
        targets = Y.astype(self.net_.dtype, copy=False)
        columns = None if self.inputs_ is None else np.ascontiguousarray(codes.T)  # (C, m)
        try:
            # columns are samples
            trainer.fit(rows.T, targets.T, epochs, sample_weight=weight, codes=columns)
        except TrainingDiverged as exc:
            if monitor.validation is None:
                raise ValueError(f"{NON_FINITE_WEIGHTS} {exc}") from exc
            self._end_diverged_epoch(trainer, monitor, exc)

    def _end_diverged_epoch(self, trainer: Trainer, monitor: _EpochEnd, exc: TrainingDiverged) -> None:
        """With early stopping, a diverged epoch ends training as scikit-learn's would: its loss and
        validation score are NaN, and the weights of the best validation score are put back; the
        epochs scikit-learn would run on after it (NaN weights give NaN ever after) are not run."""
        self.n_iter_ += 1
        self.t_ += monitor.n_train
        self.loss_ = math.nan
        self.loss_curve_.append(self.loss_)
        self._stopping.end_epoch(self.loss_, self._trained_vector(), monitor.tol, (math.nan, math.nan))
        monitor.stopped = True
        warnings.warn(
            f"{exc} Training stopped there; the weights of the best validation score were kept.",
            ConvergenceWarning,
            stacklevel=5,
        )

    def _split_validation(self, X, Y, weight, codes, fraction: float):
        """scikit-learn's early-stopping split (``validation_fraction`` of the rows), stratified by class."""
        optional = [array for array in (weight, codes) if array is not None]
        stratify = self._stratification(Y, fraction)
        parts = train_test_split(
            X, Y, *optional, test_size=fraction, random_state=self._split_seed, stratify=stratify
        )
        X_train, X_val, Y_train, Y_val = parts[:4]
        rest = iter(parts[4:])
        weight_train, weight_val = (next(rest), next(rest)) if weight is not None else (None, None)
        codes_train, codes_val = (next(rest), next(rest)) if codes is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError(
                f"The validation set is too small ({X_val.shape[0]} of {X.shape[0]} rows): increase "
                "validation_fraction or the number of samples, or set early_stopping=False"
            )
        return X_train, Y_train, weight_train, codes_train, (X_val, Y_val, weight_val, codes_val)

    def _stratification(self, Y: np.ndarray, fraction: float) -> np.ndarray | None:
        """The class of each row, to stratify a ``fraction`` validation split by (None: not stratified)."""
        return None

    def _trained_vector(self) -> np.ndarray:
        """What training changes: ``theta``, followed by ``phi`` (the embeddings) with ``inputs_``."""
        if self.inputs_ is None:
            return self.net_.theta
        return np.concatenate([self.net_.theta, self.inputs_.phi])

    def _set_trained_vector(self, vector: np.ndarray) -> None:
        """Put back a vector of :meth:`_trained_vector`'s layout."""
        n = self.net_.theta.size
        self.net_.theta[...] = vector[:n]
        if self.inputs_ is not None:
            self.inputs_.phi[...] = vector[n:]

    # ------------------------------------------------------------------ the trainer
    def _prepared_trainer(self, config: TrainConfig, n_train: int) -> Trainer:
        """The kept :class:`Trainer` (optimizer state included), configured with the current parameters."""
        trainer = self._trainer
        if trainer is None or trainer.config.optimizer != config.optimizer:
            settings = self._trainer_config(config, n_train, SklearnLearningRate())
            trainer = Trainer(self.net_, config=settings, inputs=self.inputs_)
            self._trainer = trainer
        else:
            trainer.configure(self._trainer_config(config, n_train, trainer.schedule))
        trainer.progress = bool(self.verbose)
        return trainer

    def _trainer_config(
        self, config: TrainConfig, n_train: int, schedule: SklearnLearningRate
    ) -> TrainConfig:
        """The Trainer's settings: the estimator's, with scikit-learn's schedule (kept across fits);
        the validation split and the stopping rule are the estimator's, not the Trainer's."""
        schedule.kind = self.learning_rate if self.solver == "sgd" else "constant"  # as scikit-learn
        schedule.power_t = self.power_t
        return config.replace(
            batch_size=self._batch_size(config, n_train),
            seed=self._seed,
            schedule=schedule,
            validation_fraction=0.0,
            early_stopping=False,
        )

    def _batch_size(self, config: TrainConfig, n_train: int) -> int:
        """``batch_size``, or ``min(200, n)`` for 'auto'; at most the number of training rows."""
        if isinstance(self.batch_size, str):  # 'auto': the config holds 200
            return min(config.batch_size, n_train)
        if config.batch_size > n_train:
            warnings.warn(
                f"batch_size={self.batch_size} is larger than the {n_train} training samples; "
                f"using {n_train}",
                stacklevel=7,
            )
        return min(config.batch_size, n_train)

    # ------------------------------------------------------------------ after each epoch
    def _end_epoch(self, trainer: Trainer, loss: float, n_train: int, validation, tol: float) -> bool:
        """scikit-learn's end-of-epoch bookkeeping; returns True when training should stop."""
        self.n_iter_ += 1
        self.t_ += n_train
        self.loss_ = float(loss)
        self.loss_curve_.append(self.loss_)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
        scores = self._validation_loss_and_score(*validation) if validation is not None else None
        self._stopping.end_epoch(self.loss_, self._trained_vector(), tol, scores)
        trainer.schedule.samples_seen = self.t_
        decision = self._stopping.decide(
            self.n_iter_no_change, trainer.schedule, trainer.initial_learning_rate
        )
        if self.verbose and decision == REDUCED:
            print(f"Setting learning rate to {trainer.schedule(trainer.initial_learning_rate, 0):f}")
        if self.verbose and decision == STOP:
            print(
                f"{self._stopping.watched} did not improve more than tol={tol:f} "
                f"for {self.n_iter_no_change} epochs."
            )
        return decision == STOP

    def _validation_loss_and_score(
        self, X_val: np.ndarray, Y_val: np.ndarray, weight, codes=None
    ) -> tuple[float, float]:
        """The loss and scikit-learn's score (accuracy or R^2) on the held-out rows."""
        AL = self.net_.predict_proba(network_input(self.inputs_, X_val, codes))  # (n_L, m_val)
        loss = self.net_.loss(AL, Y_val.T.astype(AL.dtype), weight)
        rows = AL.T
        score = self._validation_score(rows, Y_val, weight) if np.isfinite(rows).all() else np.nan
        if self.verbose:
            print(f"Validation score: {score:f}")
        return loss, score
