"""Activation functions g and their derivatives g', one registry entry per name.

Each entry keeps ``g`` and ``g'`` side by side so the two can never drift apart. Every
function here is numerically stable for |z| up to 1e4 in float32 and float64: no overflow
warning, no NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LEAKY_RELU_SLOPE = 0.01


@dataclass(frozen=True)
class Activation:
    """An activation ``A = g(Z)`` and the in-place backward step ``dZ = dA * g'(Z)``.

    ``forward(Z, out)`` writes ``g(Z)`` into ``out`` (which may be ``Z`` itself).
    ``derivative(Z, A)`` returns ``g'(Z)``; it may read ``A = g(Z)`` instead of recomputing it.
    ``backward(dA, Z, A)`` overwrites ``dA`` with ``dA * g'(Z)`` and returns it (that is ``dZ``).
    ``backward_reads_Z`` is false when ``backward`` reads ``A`` alone, so that a training loop
    may compute ``A`` in place over ``Z``.
    """

    name: str
    forward: Callable[[np.ndarray, np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]
    backward: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    backward_reads_Z: bool = False


def _sigmoid(Z: np.ndarray, out: np.ndarray) -> np.ndarray:
    # sigma(z) = (1 + tanh(z/2)) / 2: exact, and tanh never overflows.
    np.multiply(Z, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def _sigmoid_derivative(Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    return A * (1.0 - A)  # sigma'(z) = a (1 - a)


def _sigmoid_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    dA *= A
    dA *= 1.0 - A
    return dA


def _tanh(Z: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.tanh(Z, out=out)


def _tanh_derivative(Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    return 1.0 - A * A  # tanh'(z) = 1 - a^2


def _tanh_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    dA *= 1.0 - A * A
    return dA


def _relu(Z: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.maximum(Z, 0.0, out=out)


def _relu_derivative(Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    return (Z > 0).astype(Z.dtype)  # relu'(z) = 1 if z > 0 else 0


def _relu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    # A > 0 exactly where Z > 0, so the mask can read either cached array.
    dA *= A > 0
    return dA


def _leaky_relu(Z: np.ndarray, out: np.ndarray) -> np.ndarray:
    # max(z, slope * z) is z for z > 0 and slope * z otherwise (0 < slope < 1).
    return np.maximum(Z, LEAKY_RELU_SLOPE * Z, out=out)


def _leaky_relu_derivative(Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    return np.where(Z > 0, 1.0, LEAKY_RELU_SLOPE).astype(Z.dtype)


def _leaky_relu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    # A > 0 exactly where Z > 0 (the slope is positive), so the mask can read A.
    dA *= _leaky_relu_derivative(A, A)
    return dA


def _identity(Z: np.ndarray, out: np.ndarray) -> np.ndarray:
    if out is not Z:
        np.copyto(out, Z)
    return out


def _identity_derivative(Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    return np.ones_like(Z)


def _identity_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    return dA


def softmax(Z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Column-wise softmax of ``Z`` (classes x samples), shifted by each column's max."""
    # ufunc reductions directly: the array methods add a Python-level wrapper per call
    np.subtract(Z, np.maximum.reduce(Z, axis=0, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= np.add.reduce(out, axis=0, keepdims=True)
    return out


def _softmax_derivative(Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    raise ValueError(
        "softmax has no element-wise derivative g'(z): its Jacobian diag(a) - a a^T mixes the units of "
        "a column; its backward is the Jacobian-vector product dZ = A * (dA - sum(A * dA, axis=0))"
    )


def _softmax_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    # Jacobian-vector product per column: dz_k = sum_j (da_j / dz_k) da_j = a_k (da_k - sum_j a_j da_j)
    projection = np.add.reduce(A * dA, axis=0, keepdims=True)  # sum(A * dA, axis=0)  (1, m)
    dA -= projection
    dA *= A
    return dA


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", _sigmoid, _sigmoid_derivative, _sigmoid_backward),
    "tanh": Activation("tanh", _tanh, _tanh_derivative, _tanh_backward),
    "relu": Activation("relu", _relu, _relu_derivative, _relu_backward),
    "leaky_relu": Activation("leaky_relu", _leaky_relu, _leaky_relu_derivative, _leaky_relu_backward),
    "identity": Activation("identity", _identity, _identity_derivative, _identity_backward),
}


# Softmax maps a whole column to probabilities, so it is an output activation only.
SOFTMAX = Activation("softmax", softmax, _softmax_derivative, _softmax_backward)


def exp_output(Z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``exp(Z)``, the Poisson output's mean (the log link inverted); ``Z`` is first capped at
    ``log(max float) - 1`` so that the largest means stay finite (max / e) instead of overflowing."""
    np.minimum(Z, np.log(np.finfo(Z.dtype).max) - 1.0, out=out)
    return np.exp(out, out=out)


def _exp_derivative(Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    return A.copy()  # exp'(z) = exp(z) = a


def _exp_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    dA *= A
    return dA


# exp is an output activation only (the Poisson output, paired with half the deviance in losses.py)
EXP_OUTPUT = Activation("exp", exp_output, _exp_derivative, _exp_backward)

OUTPUT_ACTIVATIONS: dict[str, Activation] = {**ACTIVATIONS, "softmax": SOFTMAX, "exp": EXP_OUTPUT}


def get_activation(name: str) -> Activation:
    """Look up a hidden-layer activation by name; unknown names list the valid ones."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}") from None


def sigmoid(Z: np.ndarray) -> np.ndarray:
    """Stable logistic function on a new array."""
    return _sigmoid(Z, np.empty_like(Z))


def get_output_activation(name: str, option: str = "output_activation") -> Activation:
    """Look up an output-layer activation (any hidden one, or softmax); unknown names list the valid ones.

    ``option`` is the name the caller's user knows the argument by, for the error message.
    """
    try:
        return OUTPUT_ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown {option} {name!r}; expected one of {sorted(OUTPUT_ACTIVATIONS)}") from None
