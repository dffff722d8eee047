"""Finite-difference gradient check: backprop's dW, db (and dA0) against centered differences.

What counts as a pass depends on the arithmetic of the check. In float64 (the default, on a
float64 copy of any network) the step is ``epsilon = 1e-7`` and the relative error
``||g - g_num|| / (||g|| + ||g_num||)`` of a correct backprop stays below ``1e-7``, the notes'
threshold. In float32 the rounding of ``J`` (about 1e-7 relative) swamps so small a step: the
step is ``3e-3`` (near the cube root of float32's machine epsilon, where the truncation and the
rounding errors meet) and a correct backprop stays below ``1e-3``; a float32 check can only
catch gross errors, which is why the default is float64.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlpkit.network import DNN, DTYPES

# dtype of the check -> (default step epsilon, largest relative error that passes)
CHECK_SETTINGS = {"float64": (1e-7, 1e-7), "float32": (3e-3, 1e-3)}


def _relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """``||g - g_num|| / (||g|| + ||g_num||)``, 0 when both are zero."""
    denominator = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return 0.0 if denominator == 0 else float(np.linalg.norm(analytic - numeric) / denominator)


def as_float64(net: DNN) -> DNN:
    """A float64 copy of ``net`` with the same parameters."""
    return as_dtype(net, "float64")


def as_dtype(net: DNN, dtype: str) -> DNN:
    """A copy of ``net`` in ``dtype`` with the same parameters (rounded to it)."""
    copy = DNN(net.layer_sizes, net.hidden_activations, net.output_activation, dtype=dtype, seed=0)
    copy.theta[...] = net.theta
    return copy


def _check_settings(
    dtype: str, epsilon: float | None, threshold: float | None, max_checks: int | None
) -> tuple[float, float]:
    """The step and the threshold (the dtype's unless given), or ValueError naming the bad setting."""
    if dtype not in CHECK_SETTINGS:
        raise ValueError(f"Unknown dtype {dtype!r} for the gradient check; expected one of {list(DTYPES)}")
    default_epsilon, default_threshold = CHECK_SETTINGS[dtype]
    epsilon = default_epsilon if epsilon is None else epsilon
    threshold = default_threshold if threshold is None else threshold
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    if max_checks is not None and max_checks < 1:
        raise ValueError(f"max_checks must be >= 1 or None, got {max_checks!r}")
    return epsilon, threshold


def _centered_differences(
    flat: np.ndarray, indices: np.ndarray, epsilon: float, cost: Callable[[], float]
) -> np.ndarray:
    """``(J(p + eps) - J(p - eps)) / 2 eps`` for each entry ``flat[i]``, changed in place and restored."""
    numeric = np.empty(indices.size)
    for k, i in enumerate(indices):
        original = flat[i]
        flat[i] = original + epsilon
        plus, upper = cost(), float(flat[i])
        flat[i] = original - epsilon
        minus, lower = cost(), float(flat[i])
        flat[i] = original
        # the step actually taken: p +/- eps rounded to the dtype (exact in float64 at these sizes)
        numeric[k] = (plus - minus) / (upper - lower)
    return numeric


def gradient_check(
    net: DNN,
    X: np.ndarray,
    Y: np.ndarray,
    epsilon: float | None = None,
    max_checks: int | None = None,
    *,
    input_gradient: bool = False,
    seed: int = 0,
    dtype: str = "float64",
    threshold: float | None = None,
) -> dict:
    """Compare backprop with centered differences ``(J(p + eps) - J(p - eps)) / 2 eps``; say pass or fail.

    The check runs on a copy of ``net`` in ``dtype`` (float64 by default, whatever the network's
    own dtype); ``epsilon`` and ``threshold`` default to that dtype's (module docstring). Returns
    ``{"error": overall, "parameters": {"W1": err, "b1": err, ...}, "checked": n, "dtype": ...,
    "epsilon": ..., "threshold": ..., "passed": error <= threshold}`` (plus ``"A0"`` with
    ``input_gradient``). ``max_checks`` caps the entries tried per parameter, drawn at random
    with ``seed``; the errors are over the checked entries.
    """
    epsilon, threshold = _check_settings(dtype, epsilon, threshold, max_checks)
    checked_net = as_dtype(net, dtype)
    X = checked_net.check_X(X).copy()
    AL, cache = checked_net.forward(X)
    Y = np.asarray(Y, dtype=checked_net.dtype)
    grads = checked_net.compute_gradients(AL, Y, cache, input_gradient=input_gradient)
    rng = np.random.default_rng(seed)

    def cost() -> float:
        return checked_net.loss(checked_net.predict_proba(X), Y)

    targets = {name: (checked_net.params[name], grads[f"d{name}"]) for name in checked_net.params}
    if input_gradient:
        # dA0 is per-example (no 1/m): J's gradient with respect to X is dA0 / m.
        targets["A0"] = (X, grads["dA0"] / X.shape[1])
    analytic_all, numeric_all = [], []
    per_parameter: dict[str, float] = {}
    checked = 0
    for name, (array, analytic) in targets.items():
        flat, flat_grad = array.reshape(-1), analytic.reshape(-1)
        indices = np.arange(flat.size)
        if max_checks is not None and flat.size > max_checks:
            indices = rng.choice(flat.size, size=max_checks, replace=False)
        numeric = _centered_differences(flat, indices, epsilon, cost)
        per_parameter[name] = _relative_error(flat_grad[indices], numeric)
        analytic_all.append(flat_grad[indices])
        numeric_all.append(numeric)
        checked += indices.size
    error = _relative_error(np.concatenate(analytic_all), np.concatenate(numeric_all))
    return {
        "error": error,
        "parameters": per_parameter,
        "checked": checked,
        "dtype": dtype,
        "epsilon": epsilon,
        "threshold": threshold,
        "passed": error <= threshold,
    }
