"""scikit-learn estimators MLPClassifier and MLPRegressor on mlpkit's engine (rows are samples here).

Drop-in replacements for ``sklearn.neural_network``'s estimators: same parameter names, defaults,
fitted attributes and stopping rules, trained by :class:`mlpkit.Trainer` (sgd, adam) or by
scipy's L-BFGS-B on :meth:`DNN.compute_gradients` (lbfgs). Extras: ``dropout``, ``dtype``,
``class_weight``, a progress bar when ``verbose``, ``validation_loss_curve_``, and optimizer
state (Adam's moments) kept across ``warm_start`` fits and ``partial_fit`` calls.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

try:
    import scipy.optimize
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from sklearn.utils.class_weight import compute_sample_weight
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as exc:
    raise ImportError(
        "mlpkit.MLPClassifier and mlpkit.MLPRegressor need scikit-learn and scipy: "
        'pip install "mlpkit[sklearn]"'
    ) from exc

from mlpkit.model import Model
from mlpkit.network import DNN
from mlpkit.training import Callback, TrainConfig, Trainer, TrainingDiverged
from mlpkit.training.distributed import make_communicator

# scikit-learn's activation names -> the engine's
HIDDEN_ACTIVATIONS = {
    "identity": "identity",
    "logistic": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "leaky_relu": "leaky_relu",
}
OUTPUT_ACTIVATIONS = {"logistic": "sigmoid", "softmax": "softmax", "identity": "identity"}
SOLVERS = ("adam", "lbfgs", "sgd")
LEARNING_RATES = ("adaptive", "constant", "invscaling")
DTYPES = ("float32", "float64")
MINIMUM_ADAPTIVE_RATE = 1e-6
ADAPTIVE_DIVISOR = 5.0
AUTO_BATCH_SIZE = 200


# ---------------------------------------------------------------------- parameter validation
@dataclass(frozen=True)
class _Range:
    """An allowed numeric interval, with whether its ends are included and whether it is integral."""

    low: float
    high: float = math.inf
    low_closed: bool = True
    high_closed: bool = False
    integer: bool = False

    def contains(self, value: object) -> bool:
        """Whether ``value`` is a real (or integral) number inside the interval."""
        kind = numbers.Integral if self.integer else numbers.Real
        if isinstance(value, bool) or not isinstance(value, kind) or math.isnan(value):
            return False
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return above and below

    def describe(self) -> str:
        """Human words for the interval, e.g. ``an integer >= 1`` or ``a number in [0, 1)``."""
        kind = "an integer" if self.integer else "a number"
        if self.high == math.inf:
            return f"{kind} {'>=' if self.low_closed else '>'} {self.low:g}"
        left, right = "[" if self.low_closed else "(", "]" if self.high_closed else ")"
        return f"{kind} in {left}{self.low:g}, {self.high:g}{right}"


NUMERIC_PARAMETERS = {
    "alpha": _Range(0.0),
    "learning_rate_init": _Range(0.0, low_closed=False),
    "power_t": _Range(0.0),
    "max_iter": _Range(1, integer=True),
    "tol": _Range(0.0),
    "momentum": _Range(0.0, 1.0),
    "validation_fraction": _Range(0.0, 1.0),
    "beta_1": _Range(0.0, 1.0),
    "beta_2": _Range(0.0, 1.0),
    "epsilon": _Range(0.0, low_closed=False),
    "max_fun": _Range(1, integer=True),
    "dropout": _Range(0.0, 1.0),
}
BOOLEAN_PARAMETERS = ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping", "distributed")
CHOICE_PARAMETERS = {"solver": SOLVERS, "learning_rate": LEARNING_RATES, "dtype": DTYPES}


def _invalid(estimator: BaseEstimator, name: str, value: object, expected: str) -> ValueError:
    return ValueError(f"{type(estimator).__name__}: invalid {name}={value!r}; expected {expected}")


def _check_hidden_layer_sizes(estimator: BaseEstimator) -> list[int]:
    sizes = estimator.hidden_layer_sizes
    expected = "an integer >= 1 or a sequence of integers >= 1, e.g. (100,) or (64, 32)"
    sizes = [sizes] if isinstance(sizes, numbers.Integral) else sizes
    try:
        sizes = list(sizes)
    except TypeError:
        raise _invalid(estimator, "hidden_layer_sizes", estimator.hidden_layer_sizes, expected) from None
    if not all(_Range(1, integer=True).contains(size) for size in sizes):
        raise _invalid(estimator, "hidden_layer_sizes", estimator.hidden_layer_sizes, expected)
    return [int(size) for size in sizes]


def _check_parameters(estimator: BaseEstimator) -> None:
    """Raise a ValueError naming the first parameter with a bad value and the values allowed."""
    for name, allowed in NUMERIC_PARAMETERS.items():
        if not allowed.contains(getattr(estimator, name)):
            raise _invalid(estimator, name, getattr(estimator, name), allowed.describe())
    for name in BOOLEAN_PARAMETERS:
        if not isinstance(getattr(estimator, name), (bool, np.bool_)):
            raise _invalid(estimator, name, getattr(estimator, name), "True or False")
    for name, choices in CHOICE_PARAMETERS.items():
        if getattr(estimator, name) not in choices:
            raise _invalid(estimator, name, getattr(estimator, name), f"one of {list(choices)}")
    if estimator.activation not in HIDDEN_ACTIVATIONS:
        raise _invalid(estimator, "activation", estimator.activation, f"one of {sorted(HIDDEN_ACTIVATIONS)}")
    batch_size = estimator.batch_size
    if batch_size != "auto" and not _Range(1, integer=True).contains(batch_size):
        raise _invalid(estimator, "batch_size", batch_size, "'auto' or an integer >= 1")
    patience = estimator.n_iter_no_change
    if patience != math.inf and not _Range(1, integer=True).contains(patience):
        raise _invalid(estimator, "n_iter_no_change", patience, "an integer >= 1 or numpy.inf")
    verbose = estimator.verbose
    if not (isinstance(verbose, (bool, np.bool_)) or _Range(0, integer=True).contains(verbose)):
        raise _invalid(estimator, "verbose", verbose, "True, False or an integer >= 0")
    if estimator.distributed and (
        estimator.solver == "lbfgs" or not isinstance(estimator.random_state, numbers.Integral)
    ):
        raise _invalid(
            estimator,
            "distributed",
            True,
            "False, or True with solver 'sgd' or 'adam' and an integer random_state "
            "(every MPI rank must draw the same validation split)",
        )
    if estimator.solver == "lbfgs" and estimator.dropout > 0:
        raise _invalid(estimator, "dropout", estimator.dropout, "0 with solver='lbfgs' (a random objective)")
    _check_hidden_layer_sizes(estimator)


def _check_sample_weight(sample_weight: object, n_samples: int) -> np.ndarray | None:
    """Sample weights as a float64 vector of length ``n_samples``, finite and >= 0, or ValueError."""
    if sample_weight is None:
        return None
    try:
        weight = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("sample_weight must hold numbers, one weight per row of X") from None
    if weight.ndim == 0:
        weight = np.full(n_samples, float(weight))
    if weight.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},), one weight per row of X; got {weight.shape}"
        )
    bad = np.flatnonzero(~np.isfinite(weight) | (weight < 0))
    if bad.size:
        raise ValueError(f"sample_weight[{bad[0]}] = {weight[bad[0]]}; weights must be finite and >= 0")
    if not weight.sum() > 0:
        raise ValueError("sample_weight is zero for every row; at least one weight must be > 0")
    return weight


def _without_zero_weights(X: np.ndarray, Y: np.ndarray, weight: np.ndarray | None):
    """Drop the rows of weight 0 (a row of weight 0 is a row absent); all-ones weights become None."""
    if weight is None:
        return X, Y, None
    keep = weight > 0
    if not keep.all():
        X, Y, weight = X[keep], Y[keep], weight[keep]
    return X, Y, (None if np.all(weight == 1.0) else weight)


# ---------------------------------------------------------------------- engine pieces
def glorot_uniform_initializer(factor: float) -> Callable[[np.random.Generator, int, int], np.ndarray]:
    """scikit-learn's initializer: ``U(-r, r)``, ``r = sqrt(factor / (fan_in + fan_out))``."""

    def draw(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
        bound = math.sqrt(factor / (fan_in + fan_out))
        return rng.uniform(-bound, bound, (fan_out, fan_in))  # (n_l, n_{l-1})

    return draw


@dataclass
class SklearnLearningRate:
    """scikit-learn's sgd schedules: constant, invscaling on samples seen, adaptive (divide by 5)."""

    kind: str = "constant"
    power_t: float = 0.5
    samples_seen: int = 0
    scale: float = 1.0

    def __call__(self, initial: float, epoch: int) -> float:
        if self.kind == "invscaling":
            return initial / (self.samples_seen + 1) ** self.power_t
        return initial * self.scale

    def reduce(self, initial: float) -> bool:
        """On a plateau: divide an adaptive rate by 5 and return True, or return False to stop."""
        if self.kind != "adaptive" or initial * self.scale <= MINIMUM_ADAPTIVE_RATE:
            return False
        self.scale /= ADAPTIVE_DIVISOR
        return True


class _EpochEnd(Callback):
    """Hands each finished epoch to the estimator, which applies scikit-learn's stopping rules."""

    def __init__(self, estimator: _BaseMLP, n_train: int, validation: tuple | None) -> None:
        self.estimator = estimator
        self.n_train = n_train
        self.validation = validation
        self.stopped = False

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if self.estimator._end_epoch(trainer, logs["loss"], self.n_train, self.validation):
            self.stopped = trainer.stop_training = True


def _random_generator(random_state: object) -> np.random.Generator:
    """A numpy Generator from scikit-learn's random_state (None, an int or a RandomState)."""
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return np.random.default_rng(int(random_state))
    return np.random.default_rng(check_random_state(random_state).randint(2**32 - 1, dtype=np.uint64))


def _json_safe(value: object) -> object:
    """Parameters as JSON values: tuples become lists, numpy scalars plain numbers, objects their repr."""
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(_json_safe(key)): _json_safe(item) for key, item in value.items()}
    return repr(value)


def _network_copy(net: DNN, dtype: str | None = None) -> DNN:
    """An independent copy of ``net`` (same architecture and parameters), in ``dtype`` if given."""
    dtype = dtype or net.dtype.name
    copy = DNN(net.layer_sizes, net.hidden_activations, net.output_activation, dtype=dtype, seed=0)
    copy.theta[...] = net.theta
    return copy


# ---------------------------------------------------------------------- the shared estimator
class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: validation, initialization, the three solvers."""

    # ------------------------------------------------------------------ subclass hooks
    def _validate_training_data(self, X, y, incremental: bool, reset: bool):
        raise NotImplementedError

    def _output_activation(self) -> str:
        raise NotImplementedError

    def _training_weights(self, sample_weight: np.ndarray | None, y) -> np.ndarray | None:
        return sample_weight

    def _validation_score(self, AL: np.ndarray, Y: np.ndarray, weight: np.ndarray | None) -> float:
        raise NotImplementedError

    def _model_task_and_labels(self) -> tuple[str, list | None]:
        raise NotImplementedError

    # ------------------------------------------------------------------ fitted state
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "net_")

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices in scikit-learn's ``(n_in, n_out)`` orientation: views ``W_l.T``."""
        check_is_fitted(self)
        return [self.net_.params[f"W{l}"].T for l in range(1, self.net_.L + 1)]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors of shape ``(n_out,)``: views of ``b_l``."""
        check_is_fitted(self)
        return [self.net_.params[f"b{l}"].ravel() for l in range(1, self.net_.L + 1)]

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, sample_weight=None):
        """Fit the network to rows ``X`` and targets ``y``; returns ``self``."""
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental: bool):
        _check_parameters(self)
        first_pass = not self.__sklearn_is_fitted__() or (not self.warm_start and not incremental)
        X, Y, y = self._validate_training_data(X, y, incremental, reset=first_pass)
        weight = _check_sample_weight(sample_weight, X.shape[0])
        weight = self._training_weights(weight, y)
        X, Y, weight = _without_zero_weights(X, Y, weight)
        dtype = "float64" if self.solver == "lbfgs" else self.dtype
        if first_pass:
            self._initialize(X.shape[1], Y.shape[1], dtype)
        else:
            self._continue_with(Y.shape[1], dtype)
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, weight)
        else:
            self._fit_stochastic(X, Y, weight, incremental)
        return self

    def _initialize(self, n_features: int, n_outputs: int, dtype: str) -> None:
        """Fresh network (scikit-learn's Glorot-uniform draws, biases too) and bookkeeping."""
        hidden = _check_hidden_layer_sizes(self)
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(hidden) + 2
        self.out_activation_ = self._output_activation()
        self.n_iter_ = 0
        self.t_ = 0
        rng = _random_generator(self.random_state)
        factor = 2.0 if self.activation == "logistic" else 6.0
        net = DNN(
            [n_features, *hidden, n_outputs],
            HIDDEN_ACTIVATIONS[self.activation],
            OUTPUT_ACTIVATIONS[self.out_activation_],
            seed=rng,
            dtype=dtype,
            initializer=glorot_uniform_initializer(factor),
        )
        for l in range(1, net.L + 1):
            bound = math.sqrt(factor / (net.layer_sizes[l - 1] + net.layer_sizes[l]))
            net.params[f"b{l}"][...] = rng.uniform(-bound, bound, (net.layer_sizes[l], 1))
        self.net_ = net
        self._seed = int(rng.integers(2**63 - 1))
        self._split_seed = int(rng.integers(2**32 - 1))
        self._trainer = None
        self.loss_curve_ = []
        self._reset_stopping_state()

    def _reset_stopping_state(self) -> None:
        self._no_improvement_count = 0
        self._best_theta = None
        if self.early_stopping:
            self.validation_scores_, self.best_validation_score_ = [], -np.inf
            self.validation_loss_curve_ = []
            self.best_loss_ = None
        else:
            self.validation_scores_ = self.best_validation_score_ = self.validation_loss_curve_ = None
            self.best_loss_ = np.inf

    def _continue_with(self, n_outputs: int, dtype: str) -> None:
        """Warm start or partial_fit: keep the weights (and optimizer) if the shapes still fit."""
        hidden = _check_hidden_layer_sizes(self)
        expected = [self.net_.layer_sizes[0], *hidden, n_outputs]
        if list(self.net_.layer_sizes) != expected:
            raise ValueError(
                f"{type(self).__name__}: cannot continue training a network of layer sizes "
                f"{list(self.net_.layer_sizes)} with hidden_layer_sizes={self.hidden_layer_sizes!r} "
                f"({expected}); set warm_start=False to start afresh"
            )
        if self.net_.dtype.name != dtype:
            self.net_ = _network_copy(self.net_, dtype)
            self._trainer = None
        if self.early_stopping != (self.validation_scores_ is not None):
            self._reset_stopping_state()

    # ------------------------------------------------------------------ sgd / adam
    def _fit_stochastic(self, X: np.ndarray, Y: np.ndarray, weight, incremental: bool) -> None:
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True; use fit")
        validation = None
        if self.early_stopping and not incremental:
            X, Y, weight, validation = self._split_validation(X, Y, weight)
        trainer = self._prepared_trainer(X.shape[0])
        monitor = _EpochEnd(self, X.shape[0], validation)
        trainer.callbacks = [monitor]
        self.n_iter_ = 0
        epochs = 1 if incremental else self.max_iter
        rows = X.astype(self.net_.dtype, copy=False)
        targets = Y.astype(self.net_.dtype, copy=False)
        trainer.communicator = make_communicator(self.distributed)  # MPI data-parallel when distributed
        try:
            trainer.fit(rows.T, targets.T, epochs, sample_weight=weight)  # columns are samples
        except TrainingDiverged as exc:
            raise ValueError(
                f"{exc} The input may hold very large values: standardize it (e.g. StandardScaler)."
            ) from exc
        finally:
            trainer.callbacks = []
            trainer.communicator = None
        if self._best_theta is not None:
            self.net_.theta[...] = self._best_theta
        if not incremental and not monitor.stopped and self.n_iter_ == self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _split_validation(self, X, Y, weight):
        """scikit-learn's early-stopping split (``validation_fraction`` of the rows), stratified by class."""
        arrays = (X, Y) if weight is None else (X, Y, weight)
        parts = train_test_split(
            *arrays,
            test_size=self.validation_fraction,
            random_state=self._split_seed,
            stratify=self._stratification(Y),
        )
        X_train, X_val, Y_train, Y_val = parts[:4]
        weight_train, weight_val = parts[4:] if weight is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError(
                f"The validation set is too small ({X_val.shape[0]} of {X.shape[0]} rows): increase "
                "validation_fraction or the number of samples, or set early_stopping=False"
            )
        return X_train, Y_train, weight_train, (X_val, Y_val, weight_val)

    def _stratification(self, Y: np.ndarray) -> np.ndarray | None:
        """Class index per row for single-label classification with >= 2 rows per class, else None."""
        if not isinstance(self, ClassifierMixin) or self._label_binarizer.y_type_ == "multilabel-indicator":
            return None
        classes = Y.argmax(axis=1) if Y.shape[1] > 1 else Y[:, 0].astype(np.int64)
        counts = np.bincount(classes)
        return classes if counts[counts > 0].min() >= 2 else None

    def _prepared_trainer(self, n_train: int) -> Trainer:
        """The kept :class:`Trainer` (optimizer state included), configured with the current parameters."""
        kind, options = self._optimizer_choice()
        trainer = self._trainer
        if trainer is None or self._optimizer_kind != kind:
            trainer = Trainer(self.net_, config=self._training_config(n_train, SklearnLearningRate()))
            self._trainer, self._optimizer_kind = trainer, kind
        else:
            trainer.configure(self._training_config(n_train, trainer.schedule))
        trainer.progress = bool(self.verbose)
        return trainer

    def _training_config(self, n_train: int, schedule: SklearnLearningRate) -> TrainConfig:
        """The one training configuration for these parameters (scikit-learn's schedule kept across fits)."""
        kind, options = self._optimizer_choice()
        schedule.kind = self.learning_rate if self.solver == "sgd" else "constant"  # as scikit-learn
        schedule.power_t = self.power_t
        return TrainConfig(
            optimizer=kind,
            optimizer_options=options,
            lr=float(self.learning_rate_init),
            batch_size=self._batch_size(n_train),
            epochs=self.max_iter,
            l2=float(self.alpha),
            dropout=float(self.dropout),
            shuffle=bool(self.shuffle),
            seed=self._seed,
            schedule=schedule,
        )

    def _optimizer_choice(self) -> tuple[str, dict]:
        if self.solver == "adam":
            return "adam", {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
        if self.momentum == 0:
            return "sgd", {}
        return ("nesterov" if self.nesterovs_momentum else "momentum"), {"momentum": self.momentum}

    def _batch_size(self, n_train: int) -> int:
        if self.batch_size == "auto":
            return min(AUTO_BATCH_SIZE, n_train)
        if self.batch_size > n_train:
            warnings.warn(
                f"batch_size={self.batch_size} is larger than the {n_train} training samples; "
                f"using {n_train}",
                stacklevel=6,
            )
        return min(int(self.batch_size), n_train)

    def _end_epoch(self, trainer: Trainer, loss: float, n_train: int, validation) -> bool:
        """scikit-learn's end-of-epoch bookkeeping; returns True when training should stop."""
        self.n_iter_ += 1
        self.t_ += n_train
        self.loss_ = float(loss)
        self.loss_curve_.append(self.loss_)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
        if validation is not None:
            self._record_validation(*validation)
        self._count_no_improvement(validation is not None)
        trainer.schedule.samples_seen = self.t_
        if self._no_improvement_count <= self.n_iter_no_change:
            return False
        if trainer.schedule.reduce(trainer.initial_learning_rate):
            self._no_improvement_count = 0
            if self.verbose:
                print(f"Setting learning rate to {trainer.schedule(trainer.initial_learning_rate, 0):f}")
            return False
        if self.verbose:
            watched = "Validation score" if validation is not None else "Training loss"
            print(f"{watched} did not improve more than tol={self.tol:f} for {self.n_iter_no_change} epochs.")
        return True

    def _record_validation(self, X_val: np.ndarray, Y_val: np.ndarray, weight) -> None:
        AL = self.net_.predict_proba(X_val.T)  # (n_L, m_val)
        self.validation_loss_curve_.append(self.net_.loss(AL, Y_val.T.astype(AL.dtype), weight))
        rows = AL.T
        score = self._validation_score(rows, Y_val, weight) if np.isfinite(rows).all() else np.nan
        self.validation_scores_.append(score)
        if self.verbose:
            print(f"Validation score: {score:f}")

    def _count_no_improvement(self, early_stopping: bool) -> None:
        """Count epochs without a ``tol`` improvement of the validation score (or training loss)."""
        if early_stopping:
            score = self.validation_scores_[-1]
            worse = score < self.best_validation_score_ + self.tol
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_theta = self.net_.theta.copy()
        else:
            worse = self.loss_curve_[-1] > self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])
        self._no_improvement_count = self._no_improvement_count + 1 if worse else 0

    # ------------------------------------------------------------------ lbfgs
    def _fit_lbfgs(self, X: np.ndarray, Y: np.ndarray, weight) -> None:
        """Full-batch L-BFGS-B (scipy) on theta, in float64, with scikit-learn's L2 term."""
        net = self.net_
        objective = self._lbfgs_objective(X.T.astype(np.float64), Y.T.astype(np.float64), weight)
        self.loss_curve_ = []
        result = scipy.optimize.minimize(
            objective,
            net.theta.copy(),
            method="L-BFGS-B",
            jac=True,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol},
            callback=self._record_lbfgs_iteration,
        )
        net.theta[...] = result.x
        self.n_iter_ = min(int(result.nit), self.max_iter)
        self.loss_ = float(result.fun)
        self.best_loss_ = min(self.loss_curve_, default=self.loss_)
        if not np.isfinite(net.theta).all():
            raise ValueError("lbfgs produced non-finite weights: standardize the input (e.g. StandardScaler)")
        if result.status != 0:
            message = result.message.decode() if isinstance(result.message, bytes) else result.message
            warnings.warn(
                f"lbfgs failed to converge after {self.n_iter_} iteration(s) (status={result.status}): "
                f"{message}. Increase max_iter or max_fun, or scale the data.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _lbfgs_objective(self, X: np.ndarray, Y: np.ndarray, weight):
        """``theta -> (J + alpha/(2 s) ||W||^2, gradient)`` with ``s`` the number (or weight) of rows."""
        net, alpha = self.net_, float(self.alpha)
        weight_sum = X.shape[1] if weight is None else float(weight.sum())
        gradient = np.empty_like(net.theta)

        def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
            net.theta[...] = theta
            AL, cache = net.forward(X)
            loss = net.loss(AL, Y, weight)
            net.compute_gradients(AL, Y, cache, sample_weight=weight, out=gradient)
            W = net.theta[: net.n_weights]
            loss += 0.5 * alpha / weight_sum * float(np.dot(W, W))
            gradient[: net.n_weights] += (alpha / weight_sum) * W  # dW += alpha W / s
            return loss, gradient.copy()

        return loss_and_gradient

    def _record_lbfgs_iteration(self, intermediate_result) -> None:
        self.loss_curve_.append(float(intermediate_result.fun))
        if self.verbose:
            print(f"Iteration {len(self.loss_curve_)}, loss = {self.loss_curve_[-1]:.8f}")

    # ------------------------------------------------------------------ export
    def to_model(self) -> Model:
        """The fitted network as an :class:`mlpkit.Model`, so ``mlpkit.save(estimator, path)`` works."""
        check_is_fitted(self)
        task, labels = self._model_task_and_labels()
        history = {
            "loss": list(self.loss_curve_),
            "val_loss": list(self.validation_loss_curve_ or []),
            "val_score": list(self.validation_scores_ or []),
        }
        metrics = {"loss": self.loss_, "n_iter": self.n_iter_, "t": self.t_}
        if self.best_validation_score_ is not None:
            metrics["best_validation_score"] = self.best_validation_score_
        config = {"estimator": type(self).__name__, **_json_safe(self.get_params())}
        return Model(
            _network_copy(self.net_),
            None,
            task=task,
            labels=labels,
            config=config,
            history=history,
            metrics=metrics,
        )

    # ------------------------------------------------------------------ predict
    def _output_rows(self, X) -> tuple[np.ndarray, np.dtype]:
        """Output activations ``(m, n_L)`` for rows ``X``, in the network's dtype, and the input's dtype."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.net_.predict_proba(X.T).T, X.dtype  # (n_L, m) -> rows


def _has_stochastic_solver(estimator: _BaseMLP) -> bool:
    """partial_fit exists for sgd and adam only (as in scikit-learn)."""
    if estimator.solver not in ("sgd", "adam"):
        raise AttributeError(
            f"partial_fit is only available for the stochastic solvers 'sgd' and 'adam', "
            f"not solver={estimator.solver!r}"
        )
    return True


# ---------------------------------------------------------------------- the two estimators
class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier, scikit-learn's API on mlpkit's engine.

    Binary targets get one sigmoid output, multi-class targets a softmax, multi-label indicator
    targets one sigmoid per label. Beyond scikit-learn: ``dropout``, ``dtype``, ``class_weight``
    (None, "balanced" or {label: weight}, applied as sample weights) and ``validation_loss_curve_``.
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        dtype="float32",
        class_weight=None,
        distributed=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.dtype = dtype
        self.class_weight = class_weight
        self.distributed = distributed

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    # ------------------------------------------------------------------ targets
    def _validate_training_data(self, X, y, incremental: bool, reset: bool):
        X, y = validate_data(self, X, y, multi_output=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if type_of_target(y) not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(
                f"MLPClassifier: unsupported target type {type_of_target(y)!r}; expected class labels "
                "(binary or multi-class) or a 0/1 indicator matrix (multi-label)"
            )
        if reset and not incremental:
            self._learn_classes(y)
        else:
            self._check_known_classes(y, incremental)
        return X, self._label_binarizer.transform(y), y

    def _learn_classes(self, labels) -> None:
        """Set ``classes_`` from the labels: at least two classes, or a multi-label indicator matrix."""
        binarizer = LabelBinarizer().fit(labels)
        if binarizer.y_type_ != "multilabel-indicator" and len(binarizer.classes_) < 2:
            raise ValueError(
                f"MLPClassifier: y holds only one class, {binarizer.classes_.tolist()}; "
                "a classifier needs at least 2 classes"
            )
        self._label_binarizer, self.classes_ = binarizer, binarizer.classes_

    def _check_known_classes(self, y, incremental: bool) -> None:
        classes = unique_labels(y)
        if self.warm_start and not incremental and set(classes) != set(self.classes_):
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as in the previous call "
                f"to fit. Previously got {self.classes_}, `y` has {classes}"
            )
        unknown = np.setdiff1d(classes, self.classes_)
        if len(unknown):
            raise ValueError(f"`y` has classes {unknown} not in `self.classes_` = {self.classes_}")

    def _output_activation(self) -> str:
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _training_weights(self, sample_weight: np.ndarray | None, y) -> np.ndarray | None:
        """Sample weights times class weights (``class_weight`` acts through the sample weights)."""
        if self.class_weight is None:
            return sample_weight
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            raise ValueError("class_weight applies to binary and multi-class targets, not multi-label")
        if isinstance(self.class_weight, dict):
            unknown = [label for label in self.class_weight if label not in set(self.classes_.tolist())]
            if unknown:
                raise ValueError(
                    f"class_weight has labels {unknown} that are not classes of y {self.classes_.tolist()}"
                )
        elif self.class_weight != "balanced":
            raise _invalid(
                self, "class_weight", self.class_weight, "None, 'balanced' or a dict {label: weight}"
            )
        class_weight = compute_sample_weight(self.class_weight, y)
        return class_weight if sample_weight is None else class_weight * sample_weight

    def _validation_score(self, AL: np.ndarray, Y: np.ndarray, weight: np.ndarray | None) -> float:
        decode = self._label_binarizer.inverse_transform
        return accuracy_score(decode(Y), decode(AL), sample_weight=weight)

    def _model_task_and_labels(self) -> tuple[str, list | None]:
        tasks = {"binary": "binary", "multiclass": "multiclass", "multilabel-indicator": "multilabel"}
        return tasks[self._label_binarizer.y_type_], self.classes_.tolist()

    # ------------------------------------------------------------------ training and prediction
    @available_if(_has_stochastic_solver)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``(X, y)``, keeping weights and optimizer state; ``classes`` on the first call."""
        first_call = not hasattr(self, "classes_")
        if first_call and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        if first_call:
            multilabel = type_of_target(y).startswith("multilabel")
            self._learn_classes(y if multilabel else classes)
        elif classes is not None and not np.array_equal(np.sort(classes), self.classes_):
            raise ValueError(f"classes={classes!r} is not the same as on the first call: {self.classes_}")
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predicted class labels (an indicator matrix for multi-label targets)."""
        AL, _ = self._output_rows(X)
        return self._label_binarizer.inverse_transform(AL.ravel() if self.n_outputs_ == 1 else AL)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(m, n_classes)`` in the order of ``classes_``; binary gives [1-p, p].

        Computed in the network's dtype and returned in the input's (as scikit-learn does).
        """
        AL, dtype = self._output_rows(X)
        if self.n_outputs_ == 1:
            AL = np.hstack([1.0 - AL, AL])
        return AL.astype(dtype, copy=False)

    def predict_log_proba(self, X) -> np.ndarray:
        """Natural log of :meth:`predict_proba`."""
        probabilities = self.predict_proba(X)
        return np.log(probabilities, out=probabilities)


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor (identity output, squared error), scikit-learn's API.

    Single or multi-output targets. Beyond scikit-learn: ``dropout``, ``dtype`` and
    ``validation_loss_curve_``.
    """

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        dtype="float32",
        distributed=False,
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.dtype = dtype
        self.distributed = distributed

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _validate_training_data(self, X, y, incremental: bool, reset: bool):
        if self.loss != "squared_error":
            raise _invalid(self, "loss", self.loss, "'squared_error'")
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=(np.float64, np.float32), reset=reset
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, (y.reshape(-1, 1) if y.ndim == 1 else y), y

    def _output_activation(self) -> str:
        return "identity"

    def _validation_score(self, AL: np.ndarray, Y: np.ndarray, weight: np.ndarray | None) -> float:
        return r2_score(Y, AL, sample_weight=weight)

    def _model_task_and_labels(self) -> tuple[str, list | None]:
        return "regression", None

    @available_if(_has_stochastic_solver)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``, keeping weights and optimizer state (Adam's moments)."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predicted values: ``(m,)`` for one output, ``(m, n_outputs)`` otherwise, in the input's dtype."""
        AL, dtype = self._output_rows(X)
        AL = AL.astype(dtype, copy=False)
        return AL.ravel() if AL.shape[1] == 1 else AL
