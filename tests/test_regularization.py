"""The L2 penalty (mlpkit.regularization): a hand-computed value, and the lbfgs objective that adds
it checked against finite differences."""

import numpy as np
import pytest

from mlpkit.network import DNN
from mlpkit.regularization import l2_cost, l2_scale


def test_l2_penalty_by_hand():
    W1, W2 = np.array([[1.0, 2.0]]), np.array([[3.0], [-1.0]])
    squares = float((W1**2).sum() + (W2**2).sum())  # 1 + 4 + 9 + 1 = 15
    assert l2_cost(0.4, 5, squares) == pytest.approx(0.4 / (2 * 5) * 15)  # 0.6
    assert l2_scale(0.4, 5) == pytest.approx(0.08)


@pytest.mark.parametrize("weighted", [False, True])
def test_lbfgs_objective_gradient_equals_finite_differences(weighted):
    pytest.importorskip("sklearn")
    from mlpkit.sklearn.lbfgs import lbfgs_objective

    rng = np.random.default_rng(0)
    net = DNN([3, 4, 2], "tanh", "softmax", seed=1, dtype="float64")
    X = rng.standard_normal((3, 7))
    Y = np.eye(2)[:, rng.integers(0, 2, 7)]
    weight = rng.uniform(0.5, 2.0, 7) if weighted else None
    objective = lbfgs_objective(net, X, Y, weight, l2=0.3)
    theta = net.theta.copy()
    _, gradient = objective(theta)
    eps = 1e-6
    numeric = np.empty_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = eps
        numeric[i] = (objective(theta + step)[0] - objective(theta - step)[0]) / (2 * eps)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-8)
