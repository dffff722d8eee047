"""The notes' layer functions: hand-computed examples and centered finite differences."""

import numpy as np
import pytest

from mlpkit.activations import ACTIVATIONS, OUTPUT_ACTIVATIONS, get_activation, get_output_activation
from mlpkit.layers import (
    activation_backward,
    linear_activation_backward,
    linear_activation_forward,
    linear_backward,
    linear_forward,
)

# one layer n_{l-1} = 2 -> n_l = 1 on m = 2 columns, small enough to compute by hand
A_PREV = np.array([[1.0, 2.0], [3.0, 4.0]])
W = np.array([[1.0, -1.0]])
B = np.array([[0.5]])


def test_linear_forward_by_hand():
    Z, cache = linear_forward(A_PREV, W, B)
    # Z = W A_prev + b = [1 - 3, 2 - 4] + 0.5
    np.testing.assert_array_equal(Z, [[-1.5, -1.5]])
    assert cache[0] is A_PREV and cache[1] is W and cache[2] is B


@pytest.mark.parametrize(
    "activation, expected",
    [("relu", [[0.0, 0.0]]), ("identity", [[-1.5, -1.5]]), ("sigmoid", [[1 / (1 + np.exp(1.5))] * 2])],
)
def test_linear_activation_forward_by_hand(activation, expected):
    A, (linear_cache, Z) = linear_activation_forward(A_PREV, W, B, activation)
    np.testing.assert_allclose(A, expected, rtol=1e-15)
    np.testing.assert_array_equal(Z, [[-1.5, -1.5]])
    assert linear_cache[0] is A_PREV


def test_linear_backward_by_hand():
    dZ = np.array([[1.0, 2.0]])
    dA_prev, dW, db = linear_backward(dZ, (A_PREV, W, B))
    # dW = (1/2) dZ A_prev^T = (1/2) [1*1 + 2*2, 1*3 + 2*4]; db = (1/2)(1 + 2); dA_prev = W^T dZ
    np.testing.assert_array_equal(dW, [[2.5, 5.5]])
    np.testing.assert_array_equal(db, [[1.5]])
    np.testing.assert_array_equal(dA_prev, [[1.0, 2.0], [-1.0, -2.0]])


def test_linear_backward_writes_into_out_and_skips_dA_prev_on_request():
    flat = np.full(3, np.nan)
    dW_out, db_out = flat[:2].reshape(1, 2), flat[2:].reshape(1, 1)
    dA_prev, dW, db = linear_backward(
        np.array([[1.0, 2.0]]), (A_PREV, W, B), out=(dW_out, db_out), input_gradient=False
    )
    assert dA_prev is None
    assert dW is dW_out and db is db_out
    np.testing.assert_array_equal(flat, [2.5, 5.5, 1.5])


def test_relu_backward_by_hand():
    # Z = (-1, 2): relu' = (0, 1), so dZ = dA * (0, 1)
    dA, Z = np.array([[3.0, 5.0]]), np.array([[-1.0, 2.0]])
    np.testing.assert_array_equal(activation_backward(dA, Z, "relu"), [[0.0, 5.0]])
    np.testing.assert_array_equal(dA, [[3.0, 5.0]])  # left alone


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_backward_reads_the_forward_A_or_computes_it(name):
    rng = np.random.default_rng(0)
    Z, dA = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    g = get_activation(name)
    A = g.forward(Z, np.empty_like(Z))
    expected = dA * g.derivative(Z, A)  # dZ = dA * g'(Z)
    np.testing.assert_allclose(activation_backward(dA, Z, name, A), expected, rtol=1e-14)
    np.testing.assert_allclose(activation_backward(dA, Z, g), expected, rtol=1e-14)


def centered_difference(f, x, epsilon=1e-6):
    """``(f(x + eps) - f(x - eps)) / 2 eps`` for every entry of ``x``, changed in place and restored."""
    gradient = np.empty_like(x)
    for i in np.ndindex(x.shape):
        original = x[i]
        x[i] = original + epsilon
        plus = f()
        x[i] = original - epsilon
        minus = f()
        x[i] = original
        gradient[i] = (plus - minus) / (2 * epsilon)
    return gradient


@pytest.mark.parametrize("name", sorted(OUTPUT_ACTIVATIONS))
def test_linear_activation_backward_equals_finite_differences(name):
    # J = (1/m) sum_i c_i . a_i, so the per-example dA is C, and dW, db, dA_prev / m are J's gradients
    rng = np.random.default_rng(1)
    n_prev, n, m = 4, 3, 5
    A_prev, W, b = (
        rng.standard_normal((n_prev, m)),
        rng.standard_normal((n, n_prev)),
        rng.standard_normal((n, 1)),
    )
    C = rng.standard_normal((n, m))

    def J():
        A, _ = linear_activation_forward(A_prev, W, b, name)
        return float((C * A).sum()) / m

    _, cache = linear_activation_forward(A_prev, W, b, name)
    dA_prev, dW, db = linear_activation_backward(C, cache, name)
    np.testing.assert_allclose(dW, centered_difference(J, W), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(db, centered_difference(J, b), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dA_prev / m, centered_difference(J, A_prev), rtol=1e-6, atol=1e-9)
    assert dW.shape == W.shape and db.shape == b.shape and dA_prev.shape == A_prev.shape


def test_an_unknown_activation_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown activation 'swish'; expected one of \['exp', 'identity'"):
        linear_activation_forward(A_PREV, W, B, "swish")


def test_softmax_backward_is_the_jacobian_times_dA():
    # the Jacobian of a = softmax(z), column by column: da_j / dz_k = a_j (delta_jk - a_k)
    rng = np.random.default_rng(2)
    Z, dA = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    A = get_output_activation("softmax").forward(Z, np.empty_like(Z))
    expected = np.column_stack(
        [(np.diag(a) - np.outer(a, a)).T @ da for a, da in zip(A.T, dA.T, strict=True)]
    )
    np.testing.assert_allclose(activation_backward(dA, Z, "softmax"), expected, rtol=1e-13, atol=1e-15)


def test_two_class_softmax_backward_by_hand():
    # softmax of (z1, z2) is (s, 1 - s) with s = sigmoid(z1 - z2): dz1 = s (1 - s) (da1 - da2) = -dz2
    Z, dA = np.array([[0.3], [-0.4]]), np.array([[2.0], [0.5]])
    s = 1.0 / (1.0 + np.exp(-0.7))
    dZ = activation_backward(dA, Z, "softmax")
    np.testing.assert_allclose(dZ, [[s * (1 - s) * 1.5], [-s * (1 - s) * 1.5]], rtol=1e-14)


def test_softmax_has_no_element_wise_derivative_and_is_no_hidden_activation():
    Z = np.zeros((2, 1))
    with pytest.raises(ValueError, match=r"softmax has no element-wise derivative.*Jacobian-vector product"):
        get_output_activation("softmax").derivative(Z, Z)
    with pytest.raises(ValueError, match=r"Unknown activation 'softmax'"):
        get_activation("softmax")
