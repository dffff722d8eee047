"""Tests for mlpkit.explain: shapes against the engine's arrays and closed forms, values against autograd."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mlpkit import DNN
from mlpkit.explain import backward_steps, explain, forward_steps, random_batch

ARCHITECTURES = [
    ([2, 3, 3, 1], "sigmoid", "sigmoid"),
    ([4, 5, 3], "tanh", "softmax"),
    ([3, 4, 2], "relu", "identity"),
    ([5, 1], "relu", "sigmoid"),
]


def _steps_by_name(layers) -> dict:
    return {step.name: step for layer in layers for step in layer.steps}


@pytest.mark.parametrize("layers, hidden, output", ARCHITECTURES)
def test_forward_and_backward_shapes_match_the_engine_arrays(layers, hidden, output):
    net = DNN(layers, hidden, output, seed=1, dtype="float64")
    m = 7
    X, Y = random_batch(net, m, seed=2)
    AL, cache = net.forward(X)
    grads = net.compute_gradients(AL, Y, cache, input_gradient=True)
    described = _steps_by_name(forward_steps(net, m)) | _steps_by_name(backward_steps(net, m, True))
    computed = {**cache, **grads}
    computed.pop("A0")
    assert set(described) == set(computed)
    for name, step in described.items():
        assert step.shape == computed[name].shape, name


@pytest.mark.parametrize("layers, hidden, output", ARCHITECTURES)
def test_gradient_shapes_follow_the_notes_closed_form(layers, hidden, output):
    net = DNN(layers, hidden, output, seed=0)
    m = 6
    steps = _steps_by_name(backward_steps(net, m))
    for l in range(1, len(layers)):
        assert steps[f"dW{l}"].shape == (layers[l], layers[l - 1])
        assert steps[f"db{l}"].shape == (layers[l], 1)
        assert steps[f"dZ{l}"].shape == (layers[l], m)
    assert "dA0" not in steps


def test_the_notes_2_3_3_1_network_by_hand():
    net = DNN([2, 3, 3, 1], "sigmoid", "sigmoid", seed=0)
    steps = _steps_by_name(backward_steps(net, 4))
    assert steps["dZ3"].equation == "dZ3 = A3 - Y"
    assert steps["dW3"].derivation == "(1, 4) @ (4, 3) -> (1, 3)"
    assert steps["db3"].derivation == "sum over 4 columns of (1, 4) -> (1, 1)"
    assert steps["dA2"].derivation == "(3, 1) @ (1, 4) -> (3, 4)"
    assert steps["dZ2"].equation == "dZ2 = dA2 * g'(Z2) = dA2 * A2 * (1 - A2)"
    assert steps["dW1"].derivation == "(3, 4) @ (4, 2) -> (3, 2)"
    forward = _steps_by_name(forward_steps(net, 4))
    assert forward["Z1"].derivation == "(3, 2) @ (2, 4) + (3, 1) -> (3, 4)"


def test_backward_runs_from_the_output_layer_back_to_the_first_hidden_layer():
    text = explain(DNN([2, 3, 3, 1], "sigmoid", "sigmoid", seed=0), 4)
    backward = text[text.index("Backward propagation") :]
    positions = [backward.index(f"dZ{l} =") for l in (3, 2, 1)]
    assert positions == sorted(positions)
    assert [layer.layer for layer in backward_steps(DNN([2, 3, 3, 1]), 4)] == [3, 2, 1]


def test_dA0_is_described_as_not_needed_unless_the_input_is_learned():
    text = explain(DNN([2, 3, 1], "tanh", "sigmoid", seed=0), 5)
    assert re.search(r"dA0 = W1\^T dZ1 \(2, 5\) is not needed", text)
    assert "input_gradient=True" in text
    with_input = explain(DNN([2, 3, 1], "tanh", "sigmoid", seed=0), 5, input_gradient=True)
    assert "is not needed" not in with_input
    assert re.search(r"dA0 = W1\^T dZ1 +\(2, 3\) @ \(3, 5\) -> \(2, 5\)", with_input)


def _printed_values(text: str, name: str) -> np.ndarray:
    match = re.search(rf"^ +{name} = \[([^\]]*?)(?: \.\.\. \(\d+ values\))?\]", text, re.MULTILINE)
    assert match, f"no values printed for {name}"
    return np.array([float(value) for value in match.group(1).split(",")])


def _printed_check_error(text: str, name: str) -> float:
    match = re.search(rf"^ +{name} = \[.*gradient check: relative error (\S+)$", text, re.MULTILINE)
    assert match, f"no gradient check printed for {name}"
    return float(match.group(1))


def _torch_gradients(net: DNN, X: np.ndarray, Y: np.ndarray) -> dict[str, np.ndarray]:
    torch = pytest.importorskip("torch", reason="PyTorch is the autograd oracle (test extra)")
    activations = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}
    params = {
        name: torch.tensor(value, dtype=torch.float64, requires_grad=True)
        for name, value in net.params.items()
    }
    A, Yt = torch.tensor(X), torch.tensor(Y)
    A0 = A.clone().requires_grad_(True)
    A = A0
    for l in range(1, net.L + 1):
        Z = params[f"W{l}"] @ A + params[f"b{l}"]
        A = activations[net.hidden_activations[l - 1]](Z) if l < net.L else Z
    if net.output_activation == "sigmoid":
        losses = -(Yt * torch.nn.functional.logsigmoid(A) + (1 - Yt) * torch.nn.functional.logsigmoid(-A))
    else:
        losses = -(Yt * torch.log_softmax(A, dim=0))
    losses.sum(dim=0).mean().backward()
    grads = {f"d{name}": tensor.grad.numpy() for name, tensor in params.items()}
    grads["dA0"] = A0.grad.numpy() * X.shape[1]  # dA0 is per example: m times dJ/dX
    return grads


@pytest.mark.parametrize(
    "layers, hidden, output", [([2, 3, 3, 1], "sigmoid", "sigmoid"), ([4, 5, 3], "tanh", "softmax")]
)
def test_run_prints_autograd_gradients_and_small_check_errors(layers, hidden, output):
    net = DNN(layers, hidden, output, seed=3)
    m = 5
    text = explain(net, m, run=True, seed=4, input_gradient=True)
    X, Y = random_batch(net, m, seed=4)
    expected = _torch_gradients(net, X, Y)
    for name in [*(f"d{p}" for p in net.params), "dA0"]:
        shown = _printed_values(text, name)
        np.testing.assert_allclose(shown, expected[name].reshape(-1)[: shown.size], rtol=2e-5, atol=1e-9)
        assert _printed_check_error(text, name) < 1e-6


def test_run_shows_forward_values_and_the_cost():
    net = DNN([3, 2, 1], "sigmoid", "sigmoid", seed=0)
    text = explain(net, 4, run=True, seed=9)
    X, Y = random_batch(net, 4, seed=9)
    A1 = 1 / (1 + np.exp(-(net.params["W1"].astype(float) @ X + net.params["b1"])))
    np.testing.assert_allclose(_printed_values(text, "A1"), A1.reshape(-1)[:3], rtol=1e-5)
    A2 = 1 / (1 + np.exp(-(net.params["W2"].astype(float) @ A1 + net.params["b2"])))
    cost = -np.mean(Y * np.log(A2) + (1 - Y) * np.log(1 - A2))
    printed_cost = float(re.search(r"cost J = (\S+)", text).group(1))
    assert printed_cost == pytest.approx(cost, rel=1e-5)


def test_logistic_regression_is_the_no_hidden_layer_case_of_the_notes():
    net = DNN([3, 1], output_activation="sigmoid", seed=5, dtype="float64")
    text = explain(net, 6, run=True, seed=1)
    assert "no hidden layer: logistic regression" in text
    X, Y = random_batch(net, 6, seed=1)
    w, b = net.params["W1"].T, net.params["b1"]  # the notes' column vector w
    A = 1 / (1 + np.exp(-(w.T @ X + b)))
    dZ = A - Y
    dw = (1 / 6) * X @ dZ.T  # the notes' dw = (1/m) X dZ^T
    np.testing.assert_allclose(_printed_values(text, "dW1"), dw.T.reshape(-1)[:3], rtol=1e-5)
    assert _printed_values(text, "db1")[0] == pytest.approx(dZ.sum() / 6, rel=1e-5)


def test_explaining_is_left_to_the_explain_module():
    # the engine holds no presentation: DNN has no explain method, mlpkit.explain reads the network
    assert not hasattr(DNN, "explain")
    assert "layer 1" in explain(DNN([4, 3, 2], "relu", "softmax", seed=0), 3)


@pytest.mark.parametrize("m", [0, -2, 2.5, True, "4"])
def test_bad_batch_size_is_named(m):
    with pytest.raises(ValueError, match=r"m \(the batch size\) must be an integer >= 1"):
        explain(DNN([2, 1]), m)


# ---------------------------------------------------------------------- the command line
def test_cli_explain_prints_the_equations_and_runs(capsys):
    from mlpkit.cli import main

    assert main(["explain", "--layers", "2,3,3,1", "--batch", "5", "--run"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"dW3 = \(1/m\) dZ3 A2\^T +\(1, 5\) @ \(5, 3\) -> \(1, 3\)", out)
    errors = [float(e) for e in re.findall(r"gradient check: relative error (\S+)", out)]
    assert len(errors) == 6 and max(errors) < 1e-6  # dW and db of 3 layers


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--layers", "3"], "--layers needs at least two sizes"),
        (["--layers", "2,x"], "expected comma-separated integers"),
        (["--activation", "swish"], "invalid choice: 'swish'"),
        (["--output", "relu"], "invalid choice: 'relu'"),
        (["--batch", "0"], "must be an integer >= 1"),
    ],
)
def test_cli_explain_bad_flags_exit_2_with_one_line(argv, message, capsys):
    from mlpkit.cli import main

    try:
        code = main(["explain", *argv])
    except SystemExit as stop:  # argparse rejects the flag itself
        code = stop.code
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert message in captured.err and len(captured.err.strip().splitlines()) == 1
