"""Backprop against centered finite differences for every hidden activation x output pair."""

import subprocess
import sys

import numpy as np
import pytest

from conftest import make_targets
from mlpkit import DNN, gradient_check

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
OUTPUTS = ["sigmoid", "softmax", "identity"]
DEPTHS = {0: [], 1: [5], 3: [5, 4, 3]}


@pytest.mark.parametrize("depth", sorted(DEPTHS))
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradients_match_finite_differences(hidden, output, depth, rng):
    sizes = [4, *DEPTHS[depth], 3]
    net = DNN(sizes, hidden, output, seed=7, dtype="float64")
    # Nonzero biases: with b = 0 a sample whose ReLUs are all off gives Z = 0 exactly, at the kink.
    net.theta[net.n_weights :] = rng.normal(0.0, 0.1, net.n_parameters - net.n_weights)
    X = rng.standard_normal((4, 6))
    Y = make_targets(output, 3, 6, rng)
    result = gradient_check(net, X, Y, input_gradient=True)
    assert result["error"] < 1e-7, result
    # Per parameter, small gradients meet the cost's rounding error (~1e-16 / epsilon): with a
    # larger step every parameter and the input gradient dA0 pass 1e-7 on their own.
    per_parameter = gradient_check(net, X, Y, epsilon=1e-5, input_gradient=True)["parameters"]
    assert max(per_parameter.values()) < 1e-7, per_parameter


def test_gradient_check_detects_a_wrong_gradient(rng, monkeypatch):
    net = DNN([3, 4, 2], "tanh", "softmax", seed=0, dtype="float64")
    X = rng.standard_normal((3, 5))
    Y = make_targets("softmax", 2, 5, rng)
    original = DNN.compute_gradients

    def off_by_factor(self, *args, **kwargs):
        grads = original(self, *args, **kwargs)
        grads["dW1"] = grads["dW1"] * 1.01
        return grads

    monkeypatch.setattr(DNN, "compute_gradients", off_by_factor)
    result = gradient_check(net, X, Y)
    assert result["parameters"]["W1"] > 1e-3
    assert result["error"] > 1e-5


def test_max_checks_samples_a_subset(rng):
    net = DNN([30, 20, 3], "relu", "softmax", seed=0, dtype="float64")
    X = rng.standard_normal((30, 4))
    result = gradient_check(net, X, make_targets("softmax", 3, 4, rng), max_checks=10)
    assert result["checked"] == 10 + 10 + 10 + 3  # W1, b1 (20 > 10), W2 (60 > 10), b2 (3)
    assert result["error"] < 1e-7


def test_gradient_check_of_float32_net_runs_in_float64(rng):
    net = DNN([3, 4, 1], "sigmoid", "sigmoid", seed=0)
    result = gradient_check(net, rng.standard_normal((3, 5)), make_targets("sigmoid", 1, 5, rng))
    assert result["error"] < 1e-7
    assert net.theta.dtype == np.float32


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "mlpkit.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_cli_gradcheck_prints_each_parameter_and_passes():
    done = run_cli("gradcheck", "--layers", "4,5,3", "--activation", "tanh", "--output", "softmax")
    assert done.returncode == 0, done.stderr
    for name in ("dW1", "db1", "dW2", "db2", "dA0"):
        assert name in done.stdout
    assert "overall relative error" in done.stdout


def test_cli_gradcheck_fails_with_exit_1_when_epsilon_is_too_coarse():
    done = run_cli("gradcheck", "--layers", "3,4,2", "--activation", "sigmoid", "--epsilon", "0.5")
    assert done.returncode == 1
    assert "FAILED" in done.stdout


def test_cli_gradcheck_bad_activation_exits_2():
    done = run_cli("gradcheck", "--activation", "swish")
    assert done.returncode == 2
    assert "invalid choice: 'swish'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("dtype, epsilon, threshold", [("float64", 1e-7, 1e-7), ("float32", 3e-3, 1e-3)])
def test_gradient_check_says_pass_with_the_threshold_of_its_dtype(dtype, epsilon, threshold, rng):
    net = DNN([4, 5, 3], "tanh", "softmax", seed=0)
    X, Y = rng.standard_normal((4, 6)), make_targets("softmax", 3, 6, rng)
    result = gradient_check(net, X, Y, dtype=dtype)
    assert (result["dtype"], result["epsilon"], result["threshold"]) == (dtype, epsilon, threshold)
    assert result["passed"] and result["error"] <= threshold
    # the same check, told to expect a gradient far more exact than its dtype can show, fails
    assert not gradient_check(net, X, Y, dtype=dtype, threshold=result["error"] / 10)["passed"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gradient_check_fails_a_wrong_gradient_in_either_dtype(dtype, rng, monkeypatch):
    net = DNN([3, 4, 2], "tanh", "sigmoid", seed=0)
    X, Y = rng.standard_normal((3, 5)), make_targets("sigmoid", 2, 5, rng)
    original = DNN.compute_gradients

    def off_by_half(self, *args, **kwargs):
        grads = original(self, *args, **kwargs)
        grads["db2"] = grads["db2"] * 1.5
        return grads

    monkeypatch.setattr(DNN, "compute_gradients", off_by_half)
    result = gradient_check(net, X, Y, dtype=dtype)
    assert not result["passed"] and result["error"] > result["threshold"]


def test_gradient_check_refuses_an_unknown_dtype(rng):
    net = DNN([3, 2], [], "sigmoid")
    with pytest.raises(ValueError, match=r"Unknown dtype 'float16' for the gradient check; expected one of"):
        gradient_check(net, np.ones((3, 2)), np.ones((2, 2)), dtype="float16")
