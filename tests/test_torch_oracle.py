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
