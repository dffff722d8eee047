"""Output layers: each pairs an output activation with its loss, so that dZ_L = A_L - Y.

sigmoid + binary cross-entropy, softmax + categorical cross-entropy, identity + squared
error ``J = (1/2m) sum ||a - y||^2`` and exp + half the Poisson deviance all give the same output
gradient ``dZ_L = A_L - Y``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlpkit.activations import ACTIVATIONS, EXP_OUTPUT, softmax


def _clip_probabilities(A: np.ndarray) -> np.ndarray:
    # log-loss never takes log(0): keep probabilities one machine epsilon away from 0 and 1.
    eps = np.finfo(A.dtype).eps if np.issubdtype(A.dtype, np.floating) else 1e-15
    clipped = np.maximum(A, eps)  # np.clip's result, with two ufunc calls and less overhead
    return np.minimum(clipped, 1.0 - eps, out=clipped)


def binary_cross_entropy(A: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Per-sample loss ``-sum_k [y log a + (1 - y) log(1 - a)]`` over the output units."""
    A = _clip_probabilities(A)
    return -(Y * np.log(A) + (1.0 - Y) * np.log1p(-A)).sum(axis=0)


def categorical_cross_entropy(A: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Per-sample loss ``-sum_k y_k log a_k`` over the classes."""
    return -(Y * np.log(_clip_probabilities(A))).sum(axis=0)


def squared_error(A: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Per-sample loss ``(1/2) ||a - y||^2``."""
    diff = A - Y
    return 0.5 * (diff * diff).sum(axis=0)


def poisson_deviance(A: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Per-sample loss: half the Poisson deviance ``sum_k [y log(y/a) - y + a]`` (``0 log 0 = 0``).

    With ``a = exp(z)``, ``d/dz = a - y``: the canonical link, so ``dZ_L = A_L - Y`` holds here too.
    """
    tiny = np.finfo(A.dtype).tiny if np.issubdtype(A.dtype, np.floating) else 1e-300
    log_ratio = np.log(np.where(Y > 0, Y, 1.0)) - np.log(np.maximum(A, tiny))  # log y - log a
    return (Y * log_ratio - Y + A).sum(axis=0)


@dataclass(frozen=True)
class OutputLayer:
    """An output activation ``A_L = g_L(Z_L)`` and the loss it pairs with."""

    name: str
    loss_name: str
    forward: Callable[[np.ndarray, np.ndarray], np.ndarray]
    sample_losses: Callable[[np.ndarray, np.ndarray], np.ndarray]


OUTPUT_LAYERS: dict[str, OutputLayer] = {
    "sigmoid": OutputLayer(
        "sigmoid", "binary_cross_entropy", ACTIVATIONS["sigmoid"].forward, binary_cross_entropy
    ),
    "softmax": OutputLayer("softmax", "categorical_cross_entropy", softmax, categorical_cross_entropy),
    "identity": OutputLayer("identity", "squared_error", ACTIVATIONS["identity"].forward, squared_error),
    "exp": OutputLayer("exp", "poisson_deviance", EXP_OUTPUT.forward, poisson_deviance),
}


def get_output_layer(name: str) -> OutputLayer:
    """Look up an output activation + loss pair by name; unknown names list the valid ones."""
    try:
        return OUTPUT_LAYERS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown output_activation {name!r}; expected one of {sorted(OUTPUT_LAYERS)}"
        ) from None


def mean_loss(
    output: OutputLayer, A: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None
) -> float:
    """The cost ``J = (1/m) sum_i loss(a_i, y_i)``, or its ``sample_weight``-weighted mean.

    Both sums run in float64 (as the compiled output layer's does), so that weights all equal to
    one give the unweighted mean to the last digit, whatever the network's dtype.
    """
    losses = output.sample_losses(A, Y)
    if sample_weight is None:
        return float(losses.sum(dtype=np.float64)) / losses.shape[0]
    weight = np.asarray(sample_weight, dtype=np.float64)
    return float(np.dot(losses, weight) / weight.sum())


def output_gradient(A: np.ndarray, Y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``dZ_L = A_L - Y``, written into ``out`` when given."""
    # sigmoid+BCE, softmax+CE and identity+squared error all give dZ_L = A_L - Y
    # (so does exp + half the Poisson deviance: the canonical link of counts)
    return np.subtract(A, Y, out=out)


def decide(output_activation: str, AL: np.ndarray) -> np.ndarray:
    """The decision rule, the one place it is written: scores ``A_L`` (n_L, m) -> predictions.

    softmax: the class index per column (m,); sigmoid: 0/1 per output unit (n_L, m), threshold
    0.5; identity: the values themselves.
    """
    if output_activation == "softmax":
        return AL.argmax(axis=0)
    if output_activation == "sigmoid":
        return (AL > 0.5).astype(np.int64)
    return AL


def accuracy(output_activation: str, AL: np.ndarray, Y: np.ndarray) -> float:
    """Fraction of samples predicted exactly right (all outputs right for multi-label); NaN for regression."""
    if output_activation == "softmax":
        return _fraction(decide("softmax", AL) == decide("softmax", Y))
    if output_activation == "sigmoid":
        return _fraction(np.all(decide("sigmoid", AL) == (Y > 0.5), axis=0))
    return math.nan


def _fraction(hits: np.ndarray) -> float:
    """Share of true entries (NaN when empty); np.count_nonzero costs less per batch than np.mean."""
    return np.count_nonzero(hits) / hits.size if hits.size else math.nan
