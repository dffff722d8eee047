"""Explain a network: each layer's forward and backward equations with the actual shapes of its matrices.

The text follows the course notes: forward propagation from layer 1 to L, then backward
propagation from the output layer L back to the first hidden layer. With ``run=True`` one
forward/backward pass on a random batch prints a few values of each matrix and, beside each
gradient, its relative error against centered finite differences (:func:`mlpkit.gradient_check`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mlpkit.gradcheck import as_float64, gradient_check
from mlpkit.network import DNN

SHOWN_VALUES = 3
DEFAULT_MAX_CHECKS = 50
CHECK_EPSILON = 1e-6
EQUATION_WIDTH = 44

DERIVATIVES = {
    "sigmoid": "A{l} * (1 - A{l})",
    "tanh": "(1 - A{l}^2)",
    "relu": "(Z{l} > 0)",
    "leaky_relu": "where(Z{l} > 0, 1, 0.01)",
    "identity": "1",
}

OUTPUT_LOSSES = {
    "sigmoid": "binary cross-entropy     J = -(1/m) sum [Y log A{L} + (1 - Y) log(1 - A{L})]",
    "softmax": "categorical cross-entropy  J = -(1/m) sum Y log A{L}",
    "identity": "squared error            J = (1/2m) sum ||A{L} - Y||^2",
}


@dataclass(frozen=True)
class Step:
    """One equation of one layer: the matrix it defines, its formula, and how its shape arises."""

    name: str
    equation: str
    shape: tuple[int, int]
    derivation: str
    note: str = ""


@dataclass
class LayerSteps:
    """The equations of one layer in one direction (forward or backward), in computing order."""

    layer: int
    title: str
    steps: list[Step] = field(default_factory=list)


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def _check_batch_size(m: int) -> int:
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"m (the batch size) must be an integer >= 1, got {m!r}")
    return int(m)


NO_HIDDEN_LAYER_MODELS = {
    "sigmoid": "logistic regression",
    "softmax": "softmax regression",
    "identity": "linear regression",
}


def _layer_title(net: DNN, l: int) -> str:
    if l < net.L:
        return f"layer {l} (hidden: {net.hidden_activations[l - 1]})"
    loss_name = net.output.loss_name.replace("_", " ")
    title = f"layer {l} (output: {net.output_activation} + {loss_name})"
    if net.L == 1:
        title += f", no hidden layer: {NO_HIDDEN_LAYER_MODELS[net.output_activation]}"
    return title


def forward_steps(net: DNN, m: int) -> list[LayerSteps]:
    """Forward propagation ``Z_l = W_l A_{l-1} + b_l``, ``A_l = g_l(Z_l)`` for l = 1..L, with shapes."""
    m = _check_batch_size(m)
    sizes = net.layer_sizes
    layers = []
    for l in range(1, net.L + 1):
        n_l, n_prev = sizes[l], sizes[l - 1]
        g = net.output_activation if l == net.L else net.hidden_activations[l - 1]
        z_step = Step(
            f"Z{l}",
            f"Z{l} = W{l} A{l - 1} + b{l}",
            (n_l, m),
            f"{_shape((n_l, n_prev))} @ {_shape((n_prev, m))} + {_shape((n_l, 1))} -> {_shape((n_l, m))}",
            f"b{l} broadcasts over the {m} columns",
        )
        applied = "column by column" if g == "softmax" else "element-wise"
        a_step = Step(f"A{l}", f"A{l} = {g}(Z{l})", (n_l, m), f"{applied} -> {_shape((n_l, m))}")
        layers.append(LayerSteps(l, _layer_title(net, l), [z_step, a_step]))
    return layers


def _dz_step(net: DNN, l: int, m: int) -> Step:
    n_l = net.layer_sizes[l]
    if l == net.L:
        return Step(
            f"dZ{l}",
            f"dZ{l} = A{l} - Y",
            (n_l, m),
            f"{_shape((n_l, m))} - {_shape((n_l, m))} -> {_shape((n_l, m))}",
            f"{net.output_activation} + {net.output.loss_name.replace('_', ' ')} gives A_L - Y",
        )
    derivative = DERIVATIVES[net.hidden_activations[l - 1]].format(l=l)
    return Step(
        f"dZ{l}",
        f"dZ{l} = dA{l} * g'(Z{l}) = dA{l} * {derivative}",
        (n_l, m),
        f"element-wise {_shape((n_l, m))} * {_shape((n_l, m))} -> {_shape((n_l, m))}",
        "chain rule, element-wise product",
    )


def _backward_layer(net: DNN, l: int, m: int, input_gradient: bool) -> LayerSteps:
    n_l, n_prev = net.layer_sizes[l], net.layer_sizes[l - 1]
    steps = [
        _dz_step(net, l, m),
        Step(
            f"dW{l}",
            f"dW{l} = (1/m) dZ{l} A{l - 1}^T",
            (n_l, n_prev),
            f"{_shape((n_l, m))} @ {_shape((m, n_prev))} -> {_shape((n_l, n_prev))}",
            f"same shape as W{l}; 1/m averages over the batch",
        ),
        Step(
            f"db{l}",
            f"db{l} = (1/m) sum(dZ{l}, axis=1, keepdims=True)",
            (n_l, 1),
            f"sum over {m} columns of {_shape((n_l, m))} -> {_shape((n_l, 1))}",
            f"same shape as b{l}",
        ),
    ]
    if l > 1 or input_gradient:
        note = "passed back to the layer below" if l > 1 else "the input gradient (input_gradient=True)"
        steps.append(
            Step(
                f"dA{l - 1}",
                f"dA{l - 1} = W{l}^T dZ{l}",
                (n_prev, m),
                f"{_shape((n_prev, n_l))} @ {_shape((n_l, m))} -> {_shape((n_prev, m))}",
                note,
            )
        )
    return LayerSteps(l, _layer_title(net, l), steps)


def backward_steps(net: DNN, m: int, input_gradient: bool = False) -> list[LayerSteps]:
    """Backward propagation from the output layer L back to layer 1, with the shape of every gradient."""
    m = _check_batch_size(m)
    return [_backward_layer(net, l, m, input_gradient) for l in range(net.L, 0, -1)]


def random_batch(net: DNN, m: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A float64 batch ``X`` (n_x, m) ~ N(0, 1) and targets ``Y`` (n_L, m) valid for the output layer."""
    m = _check_batch_size(m)
    rng = np.random.default_rng(seed)
    n_x, n_out = net.layer_sizes[0], net.layer_sizes[-1]
    X = rng.standard_normal((n_x, m))
    if net.output_activation == "softmax":
        Y = np.eye(n_out)[:, rng.integers(0, n_out, m)]
    elif net.output_activation == "sigmoid":
        Y = (rng.random((n_out, m)) < 0.5).astype(np.float64)
    else:
        Y = rng.standard_normal((n_out, m))
    return X, Y


@dataclass
class PassResult:
    """What one forward/backward pass produced: every named matrix, the cost, gradient-check errors."""

    values: dict[str, np.ndarray]
    cost: float
    errors: dict[str, float]
    overall_error: float


def run_pass(
    net: DNN, m: int, seed: int = 0, input_gradient: bool = False, max_checks: int = DEFAULT_MAX_CHECKS
) -> PassResult:
    """One float64 forward and backward pass on :func:`random_batch`, and the gradient check of it."""
    X, Y = random_batch(net, m, seed)
    net64 = as_float64(net)
    AL, cache = net64.forward(X)
    grads = net64.compute_gradients(AL, Y, cache, input_gradient=input_gradient)
    check = gradient_check(net64, X, Y, CHECK_EPSILON, max_checks, input_gradient=input_gradient, seed=seed)
    errors = {f"d{name}": error for name, error in check["parameters"].items()}
    values = {"Y": Y, **cache, **grads}
    return PassResult(values, net64.loss(AL, Y), errors, check["error"])


def _format_values(array: np.ndarray) -> str:
    flat = array.reshape(-1)
    shown = ", ".join(f"{value:.6g}" for value in flat[:SHOWN_VALUES])
    more = f" ... ({flat.size} values)" if flat.size > SHOWN_VALUES else ""
    return f"[{shown}{more}]"


def _format_step(step: Step, result: PassResult | None) -> list[str]:
    lines = [f"    {step.equation:<{EQUATION_WIDTH}} {step.derivation}"]
    if step.note:
        lines.append(f"    {'':<{EQUATION_WIDTH}} {step.note}")
    if result is not None and step.name in result.values:
        line = f"      {step.name} = {_format_values(result.values[step.name])}"
        if step.name in result.errors:
            line += f"   gradient check: relative error {result.errors[step.name]:.2e}"
        lines.append(line)
    return lines


def _format_layers(layers: list[LayerSteps], result: PassResult | None) -> list[str]:
    lines = []
    for layer in layers:
        lines.append(f"  {layer.title}")
        for step in layer.steps:
            lines.extend(_format_step(step, result))
    return lines


def _input_gradient_note(net: DNN, m: int) -> list[str]:
    n_x = net.layer_sizes[0]
    return [
        f"    dA0 = W1^T dZ1 {_shape((n_x, m))} is not needed: A0 = X is the input, a constant that is",
        "    not learned. It is computed only when the input is learned (embeddings) or for saliency",
        "    maps: compute_gradients(..., input_gradient=True).",
    ]


def _header(net: DNN, m: int) -> list[str]:
    loss = OUTPUT_LOSSES[net.output_activation].format(L=net.L)
    sizes = ", ".join(f"n_{l} = {n}" for l, n in enumerate(net.layer_sizes))
    layers = "1 layer" if net.L == 1 else f"{net.L} layers"
    lines = [
        f"{net!r}: L = {layers}, {net.n_parameters} parameters; batch of m = {m} (columns are samples)",
        f"  layer sizes: {sizes}",
        f"  output loss: {loss}",
        "  dZ and dA are per example (no 1/m); dW and db are gradients of the mean cost J.",
    ]
    if net.L == 1 and net.output_activation == "sigmoid":
        lines.append(
            "  No hidden layer: the notes' logistic regression with W1 = w^T, so dW1 = (1/m) dZ1 X^T"
            " is their dw = (1/m) X dZ^T, transposed."
        )
    return lines


def explain(
    net: DNN,
    m: int = 4,
    *,
    run: bool = False,
    seed: int = 0,
    input_gradient: bool = False,
    max_checks: int = DEFAULT_MAX_CHECKS,
) -> str:
    """The text walk through ``net``'s forward and backward equations for a batch of ``m`` samples.

    With ``run``, one pass on a random batch (seeded) adds a few values of each matrix and the
    gradient-check error beside each gradient (at most ``max_checks`` entries per parameter).
    """
    m = _check_batch_size(m)
    result = run_pass(net, m, seed, input_gradient, max_checks) if run else None
    lines = _header(net, m)
    lines.append("")
    lines.append(f"Forward propagation, layer 1 to {net.L}:")
    lines.append(f"    A0 = X {_shape((net.layer_sizes[0], m))}")
    if result is not None:
        lines.append(f"      A0 = {_format_values(result.values['A0'])}")
    lines.extend(_format_layers(forward_steps(net, m), result))
    if result is not None:
        lines.append(f"    cost J = {result.cost:.6g}")
    lines.append("")
    lines.append(f"Backward propagation, from the output layer {net.L} back to layer 1:")
    lines.extend(_format_layers(backward_steps(net, m, input_gradient), result))
    if not input_gradient:
        lines.extend(_input_gradient_note(net, m))
    if result is not None:
        lines.append("")
        lines.append(
            f"Gradient check, all checked entries: relative error {result.overall_error:.2e} "
            f"(float64, centered differences with epsilon = {CHECK_EPSILON:g})"
        )
    return "\n".join(lines)
