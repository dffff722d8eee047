"""Activations and output losses: closed forms, finite-difference derivatives, stability at |z| = 1e4."""

import math

import numpy as np
import pytest

from mlpkit.activations import ACTIVATIONS, get_activation, softmax
from mlpkit.losses import OUTPUT_LAYERS, get_output_layer, mean_loss

Z_VALUES = np.array([[-3.0, -0.5, 0.0, 0.25, 2.0], [1.5, -1.0, 0.75, -2.5, 0.1]])


def closed_form(name: str, z: float) -> float:
    return {
        "sigmoid": 1.0 / (1.0 + math.exp(-z)),
        "tanh": math.tanh(z),
        "relu": max(z, 0.0),
        "leaky_relu": z if z > 0 else 0.01 * z,
        "identity": z,
    }[name]


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_forward_matches_closed_form(name):
    activation = get_activation(name)
    A = activation.forward(Z_VALUES, np.empty_like(Z_VALUES))
    expected = np.vectorize(lambda z: closed_form(name, z))(Z_VALUES)
    np.testing.assert_allclose(A, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_matches_finite_differences(name):
    activation = get_activation(name)
    Z = Z_VALUES + 0.01  # keep away from relu's kink at 0
    A = activation.forward(Z, np.empty_like(Z))
    h = 1e-6
    numeric = (
        np.vectorize(lambda z: closed_form(name, z + h))(Z)
        - np.vectorize(lambda z: closed_form(name, z - h))(Z)
    ) / (2 * h)
    np.testing.assert_allclose(activation.derivative(Z, A), numeric, rtol=1e-6, atol=1e-9)
    dA = np.linspace(-1, 1, Z.size).reshape(Z.shape)
    np.testing.assert_allclose(activation.backward(dA.copy(), Z, A), dA * numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_stable_at_large_inputs(name, dtype):
    Z = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        activation = get_activation(name)
        A = activation.forward(Z, np.empty_like(Z))
        derivative = activation.derivative(Z, A)
    assert np.isfinite(A).all() and np.isfinite(derivative).all()
    if name == "sigmoid":
        assert A[0, 0] == 0.0 and A[0, -1] == 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_shift_invariant_and_stable(dtype):
    Z = np.array([[1e4, -1e4, 3.0], [1e4 - 1.0, 1e4, 1.0], [0.0, 0.0, 2.0]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        A = softmax(Z, np.empty_like(Z))
    np.testing.assert_allclose(A.sum(axis=0), 1.0, rtol=1e-6)
    # column 0: classes 0 and 1 differ by 1, class 2 is 1e4 below: e / (1 + e) and 1 / (1 + e)
    np.testing.assert_allclose(A[:2, 0], [math.e / (1 + math.e), 1 / (1 + math.e)], rtol=1e-6)
    expected = np.exp([3.0, 1.0, 2.0]) / np.exp([3.0, 1.0, 2.0]).sum()
    np.testing.assert_allclose(A[:, 2], expected, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(OUTPUT_LAYERS))
def test_losses_finite_at_saturated_outputs(name):
    output = get_output_layer(name)
    Z = np.array([[1e4, -1e4], [-1e4, 1e4]], dtype=np.float32)
    A = output.forward(Z, np.empty_like(Z))
    Y = np.array([[0.0, 0.0], [1.0, 1.0]], dtype=np.float32)  # first column is confidently wrong
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = mean_loss(output, A, Y)
    assert math.isfinite(loss) and loss > 0


def test_loss_closed_forms():
    A = np.array([[0.8, 0.3]])
    Y = np.array([[1.0, 0.0]])
    bce = -(math.log(0.8) + math.log(0.7)) / 2
    assert mean_loss(get_output_layer("sigmoid"), A, Y) == pytest.approx(bce, rel=1e-12)
    A = np.array([[0.2, 0.5], [0.7, 0.25], [0.1, 0.25]])
    Y = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    cce = -(math.log(0.7) + math.log(0.5)) / 2
    assert mean_loss(get_output_layer("softmax"), A, Y) == pytest.approx(cce, rel=1e-12)
    A = np.array([[1.0, 2.0], [0.0, -1.0]])
    Y = np.array([[0.0, 2.5], [1.0, 1.0]])
    mse = (1.0 + 1.0 + 0.25 + 4.0) / (2 * 2)  # J = (1/2m) sum ||a - y||^2
    assert mean_loss(get_output_layer("identity"), A, Y) == pytest.approx(mse, rel=1e-12)


def test_unknown_names_list_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown activation 'swish'; expected one of \['identity'"):
        get_activation("swish")
    with pytest.raises(ValueError, match=r"Unknown output_activation 'relu'; expected one of"):
        get_output_layer("relu")


@pytest.mark.parametrize("name", sorted(OUTPUT_LAYERS))
def test_weights_of_one_give_the_plain_mean_in_float32(name):
    # J is summed in float64 with or without weights: unit weights change nothing, to the last digit
    rng = np.random.default_rng(2)
    A = softmax(rng.standard_normal((3, 1000)), np.empty((3, 1000))).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[:, rng.integers(0, 3, 1000)]
    output = get_output_layer(name)
    plain = mean_loss(output, A, Y)
    assert mean_loss(output, A, Y, np.ones(1000, dtype=np.float32)) == pytest.approx(plain, rel=1e-15)
    exact = math.fsum(output.sample_losses(A, Y).tolist()) / 1000  # the float32 losses, summed exactly
    assert plain == pytest.approx(exact, rel=1e-14)
