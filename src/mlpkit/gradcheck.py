"""Finite-difference gradient check: backprop's dW, db (and dA0) against centered differences."""

from __future__ import annotations

import numpy as np

from mlpkit.network import DNN


def _relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """``||g - g_num|| / (||g|| + ||g_num||)``, 0 when both are zero."""
    denominator = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return 0.0 if denominator == 0 else float(np.linalg.norm(analytic - numeric) / denominator)


def as_float64(net: DNN) -> DNN:
    """A float64 copy of ``net`` with the same parameters."""
    copy = DNN(
        net.layer_sizes,
        net.hidden_activations,
        net.output_activation,
        dtype="float64",
        seed=0,
    )
    copy.theta[...] = net.theta
    return copy


def gradient_check(
    net: DNN,
    X: np.ndarray,
    Y: np.ndarray,
    epsilon: float = 1e-7,
    max_checks: int | None = None,
    *,
    input_gradient: bool = False,
    seed: int = 0,
) -> dict:
    """Compare backprop with centered differences ``(J(p + eps) - J(p - eps)) / 2 eps`` in float64.

    Returns ``{"error": overall, "parameters": {"W1": err, "b1": err, ...}, "checked": n}``
    (plus ``"A0"`` with ``input_gradient``). ``max_checks`` caps the entries tried per
    parameter, drawn at random with ``seed``; the errors are over the checked entries.
    """
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    if max_checks is not None and max_checks < 1:
        raise ValueError(f"max_checks must be >= 1 or None, got {max_checks!r}")
    net64 = as_float64(net)
    X = net64.check_X(X).copy()
    AL, cache = net64.forward(X)
    Y = np.asarray(Y, dtype=np.float64)
    grads = net64.compute_gradients(AL, Y, cache, input_gradient=input_gradient)
    rng = np.random.default_rng(seed)

    def cost() -> float:
        return net64.loss(net64.predict_proba(X), Y)

    targets = {name: (net64.params[name], grads[f"d{name}"]) for name in net64.params}
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
        numeric = np.empty(indices.size)
        for k, i in enumerate(indices):
            original = flat[i]
            flat[i] = original + epsilon
            plus = cost()
            flat[i] = original - epsilon
            minus = cost()
            flat[i] = original
            numeric[k] = (plus - minus) / (2 * epsilon)
        per_parameter[name] = _relative_error(flat_grad[indices], numeric)
        analytic_all.append(flat_grad[indices])
        numeric_all.append(numeric)
        checked += indices.size
    error = _relative_error(np.concatenate(analytic_all), np.concatenate(numeric_all))
    return {"error": error, "parameters": per_parameter, "checked": checked}
