"""The estimators' parameters: scikit-learn's names, their checks, and the TrainConfig they become.

A parameter with a :class:`TrainConfig` field (``learning_rate_init`` is ``lr``, ``alpha`` is
``l2``, ``max_iter`` is ``epochs``, ...) is checked by TrainConfig alone; only the parameters it
has no field for (``solver``, ``momentum``, ``n_iter_no_change``, ...) and the rules that join
two parameters are checked here. Every bad value reads the same way:
``MLPClassifier: invalid alpha=-1; expected a number >= 0``.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state

from mlpkit.training.config import CHOICE_MESSAGE, ConfigError, Range, TrainConfig

# scikit-learn's activation names -> the engine's
HIDDEN_ACTIVATIONS = {
    "identity": "identity",
    "logistic": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "leaky_relu": "leaky_relu",
}
OUTPUT_ACTIVATIONS = {"logistic": "sigmoid", "softmax": "softmax", "identity": "identity", "exp": "exp"}
SOLVERS = ("adam", "lbfgs", "sgd")
LEARNING_RATES = ("adaptive", "constant", "invscaling")
AUTO_BATCH_SIZE = 200
FOLLOW_INPUT_CHECKED_AS = "float64"  # dtype=None is checked as a valid dtype; fit picks the input's

# TrainConfig field -> the estimators' parameter
PARAMETER_NAMES = {
    "hidden": "hidden_layer_sizes",
    "lr": "learning_rate_init",
    "l2": "alpha",
    "epochs": "max_iter",
}
# what the estimators accept beyond the field's values, in their own words
PARAMETER_WORDS = {
    "batch_size": "'auto' or {expected}",
    "hidden_layer_sizes": "an integer >= 1 or a sequence of integers >= 1, e.g. (100,) or (64, 32)",
    "dtype": "None (the input's: float32 stays float32, anything else float64) or {expected}",
}
MESSAGE = "{estimator}: invalid {name}={value}; expected {expected}"

# the parameters TrainConfig has no field for
OWN_RANGES = {
    "power_t": Range(0.0),
    "momentum": Range(0.0, 1.0),
    "beta_1": Range(0.0, 1.0),
    "beta_2": Range(0.0, 1.0),
    "epsilon": Range(0.0, low_closed=False),
    "max_fun": Range(1, integer=True),
}
OWN_FLAGS = ("warm_start", "nesterovs_momentum", "distributed")
OWN_CHOICES = {
    "solver": SOLVERS,
    "learning_rate": LEARNING_RATES,
    "activation": tuple(sorted(HIDDEN_ACTIVATIONS)),
}


def invalid(estimator: object, name: str, expected: str) -> ValueError:
    """The estimators' error for parameter ``name``: its value and, in words, what it may be."""
    return parameter_error(estimator, ConfigError(name, getattr(estimator, name), expected))


def parameter_error(estimator: object, error: ConfigError) -> ValueError:
    """A :class:`ConfigError` (of a TrainConfig field or of a check here) in the estimators' words.

    The value shown is the parameter as it was given (TrainConfig may hold a normalized copy).
    """
    parameter = PARAMETER_NAMES.get(error.name, error.name)
    expected = _expected_words(error)
    expected = PARAMETER_WORDS.get(parameter, "{expected}").format(expected=expected)
    template = MESSAGE.format(
        estimator=type(estimator).__name__,
        name="{name}",
        value=_literal(repr(getattr(estimator, parameter, error.value))),
        expected=_literal(expected),
    )
    return error.renamed(PARAMETER_NAMES, template=template)


def _expected_words(error: ConfigError) -> str:
    """TrainConfig's words for what is allowed, as the estimators say them: numbers here are finite."""
    if error.template == CHOICE_MESSAGE:
        return f"one of {error.expected}"
    if error.expected.startswith("in "):
        return f"a number {error.expected}"
    return error.expected.replace("a finite number", "a number")


def _literal(text: str) -> str:
    """``text`` for a str.format template, shown as it is."""
    return text.replace("{", "{{").replace("}", "}}")


def _flag(value: object) -> object:
    """numpy booleans as Python booleans (TrainConfig takes ``bool`` only); anything else unchanged."""
    return bool(value) if isinstance(value, np.bool_) else value


# ---------------------------------------------------------------------- checks
def checked_config(estimator) -> TrainConfig:
    """Check every parameter once and return the :class:`TrainConfig` they make.

    Raises a ValueError naming the first bad parameter and the values allowed. The config's
    real numbers are plain Python floats (a numpy scalar would change float32 arithmetic).
    """
    try:
        _check_own_parameters(estimator)
        config = TrainConfig(**_config_fields(estimator))
        _check_combinations(estimator, config)
    except ConfigError as error:
        raise parameter_error(estimator, error) from None
    return config.replace(
        lr=float(config.lr),
        l2=float(config.l2),
        dropout=float(config.dropout),
        tol=float(config.tol),
        validation_fraction=float(config.validation_fraction),
    )


def _config_fields(estimator) -> dict:
    kind, options = optimizer_choice(estimator)
    batch_size = estimator.batch_size
    return {
        "hidden": estimator.hidden_layer_sizes,
        "activation": HIDDEN_ACTIVATIONS[estimator.activation],
        "dtype": FOLLOW_INPUT_CHECKED_AS if estimator.dtype is None else estimator.dtype,
        "optimizer": kind,
        "optimizer_options": options,
        "lr": estimator.learning_rate_init,
        "batch_size": AUTO_BATCH_SIZE if isinstance(batch_size, str) and batch_size == "auto" else batch_size,
        "epochs": estimator.max_iter,
        "l2": estimator.alpha,
        "dropout": estimator.dropout,
        "shuffle": _flag(estimator.shuffle),
        "validation_fraction": estimator.validation_fraction,
        "early_stopping": _flag(estimator.early_stopping),
        "tol": estimator.tol,
    }


def _check_own_parameters(estimator) -> None:
    """The parameters with no TrainConfig field; raises ConfigError naming the first bad one."""
    for name, choices in OWN_CHOICES.items():
        if getattr(estimator, name) not in choices:
            raise ConfigError(name, getattr(estimator, name), str(list(choices)), CHOICE_MESSAGE)
    for name, allowed in OWN_RANGES.items():
        if not allowed.contains(getattr(estimator, name)):
            raise ConfigError(name, getattr(estimator, name), allowed.describe())
    for name in OWN_FLAGS:
        if not isinstance(getattr(estimator, name), (bool, np.bool_)):
            raise ConfigError(name, getattr(estimator, name), "True or False")
    patience = estimator.n_iter_no_change
    if patience != np.inf and not Range(1, integer=True).contains(patience):
        raise ConfigError("n_iter_no_change", patience, "an integer >= 1 or numpy.inf")
    verbose = estimator.verbose
    if not (isinstance(verbose, (bool, np.bool_)) or Range(0, integer=True).contains(verbose)):
        raise ConfigError("verbose", verbose, "True, False or an integer >= 0")


def _check_combinations(estimator, config: TrainConfig) -> None:
    """Rules that join two parameters."""
    if estimator.distributed and (
        estimator.solver == "lbfgs" or not isinstance(estimator.random_state, numbers.Integral)
    ):
        raise ConfigError(
            "distributed",
            True,
            "False, or True with solver 'sgd' or 'adam' and an integer random_state "
            "(every MPI rank must draw the same validation split)",
        )
    if estimator.solver == "lbfgs" and config.dropout > 0:
        raise ConfigError("dropout", config.dropout, "0 with solver='lbfgs' (a random objective)")


def optimizer_choice(estimator) -> tuple[str, dict]:
    """The engine's optimizer for ``solver`` (and ``momentum``), with its options."""
    if estimator.solver == "adam":
        return "adam", {"beta_1": estimator.beta_1, "beta_2": estimator.beta_2, "epsilon": estimator.epsilon}
    if estimator.momentum == 0:
        return "sgd", {}
    return ("nesterov" if estimator.nesterovs_momentum else "momentum"), {"momentum": estimator.momentum}


# ---------------------------------------------------------------------- the rest of fit's input
def training_dtype(estimator, X: object) -> str:
    """The network's dtype: ``dtype`` when set, else the input's as scikit-learn keeps it (float32
    stays float32, any other array float64; raw columns float64); lbfgs always works in float64."""
    if estimator.solver == "lbfgs":
        return "float64"
    if estimator.dtype is not None:
        return str(np.dtype(estimator.dtype))
    return "float32" if getattr(X, "dtype", None) == np.float32 else "float64"


def random_generator(random_state: object) -> np.random.Generator:
    """A numpy Generator from scikit-learn's random_state (None, an int or a RandomState)."""
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return np.random.default_rng(int(random_state))
    return np.random.default_rng(check_random_state(random_state).randint(2**32 - 1, dtype=np.uint64))


def check_sample_weight(sample_weight: object, n_samples: int) -> np.ndarray | None:
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


def without_zero_weights(X: np.ndarray, Y: np.ndarray, weight: np.ndarray | None, codes=None):
    """Drop the rows of weight 0 (a row of weight 0 is a row absent); all-ones weights become None.

    ``codes`` (the embedded columns' rows, or None) lose the same rows."""
    if weight is None:
        return X, Y, None, codes
    keep = weight > 0
    if not keep.all():
        X, Y, weight = X[keep], Y[keep], weight[keep]
        codes = None if codes is None else codes[keep]
    return X, Y, (None if np.all(weight == 1.0) else weight), codes


def json_safe(value: object) -> object:
    """Parameters as JSON values: tuples become lists, numpy scalars plain numbers, objects their repr."""
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(json_safe(key)): json_safe(item) for key, item in value.items()}
    return repr(value)
