"""Backprop and optimizers against PyTorch autograd and torch.optim as independent oracles."""

import numpy as np
import pytest

from conftest import make_targets
from mlpkit import DNN, Adam, AdamW, Momentum, Nesterov, RMSprop

# PyTorch is a test-only oracle (CI installs torch==2.13.0); without it these tests cannot run.
torch = pytest.importorskip("torch")

TORCH_ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
    "identity": lambda z: z,
}


def torch_loss(output, ZL, Y):
    """The mean loss J computed from logits by PyTorch's own functions."""
    m = ZL.shape[1]
    if output == "sigmoid":
        return torch.nn.functional.binary_cross_entropy_with_logits(ZL, Y, reduction="sum") / m
    if output == "softmax":
        return torch.nn.functional.cross_entropy(ZL.T, Y.T.argmax(dim=1), reduction="sum") / m
    return 0.5 * ((ZL - Y) ** 2).sum() / m


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "identity"])
@pytest.mark.parametrize("hidden", sorted(TORCH_ACTIVATIONS))
def test_gradients_equal_autograd(hidden, output, rng):
    net = DNN([5, 6, 4, 3], hidden, output, seed=3, dtype="float64")
    net.theta[net.n_weights :] = rng.normal(0.0, 0.1, net.n_parameters - net.n_weights)
    X = rng.standard_normal((5, 8))
    Y = make_targets(output, 3, 8, rng)
    AL, cache = net.forward(X)
    grads = net.compute_gradients(AL, Y, cache, input_gradient=True)

    params = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    X_t = torch.tensor(X, requires_grad=True)
    A = X_t
    for l in range(1, net.L + 1):
        Z = params[f"W{l}"] @ A + params[f"b{l}"]
        A = TORCH_ACTIVATIONS[hidden](Z) if l < net.L else Z
    loss = torch_loss(output, A, torch.tensor(Y))
    loss.backward()

    assert net.loss(AL, Y) == pytest.approx(loss.item(), rel=1e-12)
    for name, tensor in params.items():
        np.testing.assert_allclose(grads["d" + name], tensor.grad.numpy(), rtol=1e-10, atol=1e-13)
    # dA0 is per-example (no 1/m): autograd's dJ/dX times m
    np.testing.assert_allclose(grads["dA0"], X_t.grad.numpy() * X.shape[1], rtol=1e-10, atol=1e-13)


def test_weighted_gradients_equal_autograd(rng):
    net = DNN([4, 5, 3], "tanh", "softmax", seed=0, dtype="float64")
    X = rng.standard_normal((4, 6))
    Y = make_targets("softmax", 3, 6, rng)
    weight = np.array([0.5, 2.0, 0.0, 1.0, 3.0, 1.5])
    AL, cache = net.forward(X)
    grads = net.compute_gradients(AL, Y, cache, sample_weight=weight)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    Z2 = params["W2"] @ torch.tanh(params["W1"] @ torch.tensor(X) + params["b1"]) + params["b2"]
    per_sample = torch.nn.functional.cross_entropy(Z2.T, torch.tensor(Y.argmax(axis=0)), reduction="none")
    w = torch.tensor(weight)
    loss = (per_sample * w).sum() / w.sum()
    loss.backward()
    assert net.loss(AL, Y, weight) == pytest.approx(loss.item(), rel=1e-12)
    for name, tensor in params.items():
        np.testing.assert_allclose(grads["d" + name], tensor.grad.numpy(), rtol=1e-10, atol=1e-13)


OPTIMIZER_PAIRS = {
    "adam": (lambda p: Adam(p, 0.01, 0.9, 0.999, 1e-8), lambda t: torch.optim.Adam(t, lr=0.01, eps=1e-8)),
    "adamw": (
        lambda p: AdamW(p, 0.01, weight_decay=0.1),
        lambda t: torch.optim.AdamW(t, lr=0.01, weight_decay=0.1),
    ),
    "rmsprop": (lambda p: RMSprop(p, 0.01, rho=0.9), lambda t: torch.optim.RMSprop(t, lr=0.01, alpha=0.9)),
    "momentum": (lambda p: Momentum(p, 0.05, 0.9), lambda t: torch.optim.SGD(t, lr=0.05, momentum=0.9)),
    "nesterov": (
        lambda p: Nesterov(p, 0.05, 0.9),
        lambda t: torch.optim.SGD(t, lr=0.05, momentum=0.9, nesterov=True),
    ),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZER_PAIRS))
def test_optimizer_steps_equal_torch_optim(name, rng):
    make_ours, make_theirs = OPTIMIZER_PAIRS[name]
    start = {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal((3, 1))}
    ours = {k: v.copy() for k, v in start.items()}
    theirs = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}
    optimizer, reference = make_ours(ours), make_theirs(list(theirs.values()))
    for _ in range(6):
        grads = {k: rng.standard_normal(v.shape) for k, v in start.items()}
        optimizer.step({"d" + k: g for k, g in grads.items()})
        for k, tensor in theirs.items():
            tensor.grad = torch.tensor(grads[k])
        reference.step()
    for k, tensor in theirs.items():
        np.testing.assert_allclose(ours[k], tensor.detach().numpy(), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- backward from any dA_L
TORCH_OUTPUTS = {**TORCH_ACTIVATIONS, "softmax": lambda z: torch.softmax(z, dim=0)}


def _targets(loss, n_out, m, rng):
    if loss == "hinge":
        return np.where(rng.random((n_out, m)) < 0.5, -1.0, 1.0)  # labels -1 / +1
    if loss == "cross_entropy":
        return np.eye(n_out)[:, rng.integers(0, n_out, m)]
    return rng.standard_normal((n_out, m))


# Each loss: per-example l(a, y) summed over the output units, written in torch, and its derivative
# dl/da written by hand in numpy; backward(dA_L) must give autograd's gradients of J = (1/m) sum l.
LOSSES = {
    "squared": (lambda A, Y: ((A - Y) ** 2).sum(dim=0), lambda A, Y: 2.0 * (A - Y)),
    "huber": (
        lambda A, Y: torch.nn.functional.huber_loss(A, Y, reduction="none", delta=1.0).sum(dim=0),
        lambda A, Y: np.clip(A - Y, -1.0, 1.0),  # d/da of 0.5 d^2 (|d| <= 1), |d| - 0.5 beyond
    ),
    "hinge": (lambda A, Y: torch.relu(1.0 - Y * A).sum(dim=0), lambda A, Y: -Y * (1.0 - Y * A > 0)),
    "cross_entropy": (lambda A, Y: -(Y * torch.log(A)).sum(dim=0), lambda A, Y: -Y / A),
}
CASES = [(loss, output) for loss in ("squared", "huber", "hinge") for output in sorted(TORCH_OUTPUTS)]
CASES += [("cross_entropy", "softmax"), ("cross_entropy", "sigmoid")]


@pytest.mark.parametrize("loss, output", CASES)
def test_backward_from_any_dAL_equals_autograd(loss, output, rng):
    net = DNN([5, 6, 4, 3], ["tanh", "relu"], output, seed=2, dtype="float64")
    net.theta[net.n_weights :] = rng.normal(0.0, 0.1, net.n_parameters - net.n_weights)
    X, Y = rng.standard_normal((5, 9)), _targets(loss, 3, 9, rng)
    sample_loss, sample_dA = LOSSES[loss]
    AL, cache = net.forward(X)
    dAL = sample_dA(AL, Y)
    dAL_before = dAL.copy()
    grads = net.backward(dAL, cache, input_gradient=True)

    params = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    X_t = torch.tensor(X, requires_grad=True)
    A = X_t
    for l, g in enumerate(["tanh", "relu", output], start=1):
        A = TORCH_OUTPUTS[g](params[f"W{l}"] @ A + params[f"b{l}"])
    J = sample_loss(A, torch.tensor(Y)).mean()  # J = (1/m) sum_i l_i
    J.backward()

    np.testing.assert_allclose(AL, A.detach().numpy(), rtol=1e-12)
    for name, tensor in params.items():
        np.testing.assert_allclose(grads["d" + name], tensor.grad.numpy(), rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(grads["dA0"], X_t.grad.numpy() * X.shape[1], rtol=1e-9, atol=1e-13)
    np.testing.assert_array_equal(dAL, dAL_before)  # the caller's dA_L is left alone


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "identity"])
def test_backward_from_a_paired_loss_dAL_equals_compute_gradients(output, rng):
    # dl/da of each pair's loss, through g_L', gives back the shortcut dZ_L = A_L - Y
    dA_of_pair = {
        "sigmoid": lambda A, Y: (A - Y) / (A * (1.0 - A)),  # binary cross-entropy
        "softmax": lambda A, Y: -Y / A,  # categorical cross-entropy
        "identity": lambda A, Y: A - Y,  # (1/2) ||a - y||^2
    }
    net = DNN([4, 5, 3], "tanh", output, seed=0, dtype="float64")
    X, Y = rng.standard_normal((4, 7)), make_targets(output, 3, 7, rng)
    AL, cache = net.forward(X)
    expected = net.compute_gradients(AL, Y, cache)
    grads = net.backward(dA_of_pair[output](AL, Y), cache)
    for name in expected:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-9, atol=1e-14, err_msg=name)
