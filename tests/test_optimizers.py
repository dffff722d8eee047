"""Optimizers and schedules: first steps computed by hand, state round trips, clear errors."""

import math

import numpy as np
import pytest

from mlpkit import DNN, SGD, Adam, AdamW, Momentum, Nesterov, RMSprop
from mlpkit.optimizers import make_optimizer
from mlpkit.schedules import Constant, Cosine, InverseScaling, ReduceOnPlateau, StepDecay, make_schedule


def run_steps(optimizer_class, gradients, **options):
    params = {"w": np.array([1.0])}
    optimizer = optimizer_class(params, **options)
    values = []
    for g in gradients:
        optimizer.step({"dw": np.array([g])})
        values.append(params["w"].item())
    return values


def test_sgd_is_the_notes_update():
    assert run_steps(SGD, [0.5, 0.5], learning_rate=0.1) == pytest.approx([0.95, 0.90])


def test_momentum_by_hand():
    # v = 0.9 v - 0.1 g ; w = w + v
    assert run_steps(Momentum, [0.5, 0.5], learning_rate=0.1, momentum=0.9) == pytest.approx([0.95, 0.855])


def test_nesterov_by_hand():
    # v = 0.9 v - 0.1 g ; w = w + 0.9 v - 0.1 g
    assert run_steps(Nesterov, [0.5, 0.5], learning_rate=0.1, momentum=0.9) == pytest.approx([0.905, 0.7695])


def test_rmsprop_by_hand():
    # s = 0.1 * 0.25 ; w = 1 - 0.01 * 0.5 / sqrt(0.025)
    expected = 1 - 0.01 * 0.5 / (math.sqrt(0.025) + 1e-8)
    assert run_steps(RMSprop, [0.5], learning_rate=0.01, rho=0.9) == pytest.approx([expected], rel=1e-12)


def test_adam_by_hand():
    # step 1: m_hat = 0.5, v_hat = 0.25 -> w = 1 - 0.01 * 0.5 / 0.5
    # step 2 (g = -0.5): m = -0.005, v = 0.00049975 -> m_hat = -0.005/0.19, v_hat = 0.25
    step_1 = 1 - 0.01 * 0.5 / (0.5 + 1e-8)
    step_2 = step_1 - 0.01 * (-0.005 / 0.19) / (math.sqrt(0.00049975 / (1 - 0.999**2)) + 1e-8)
    values = run_steps(Adam, [0.5, -0.5], learning_rate=0.01)
    assert values == pytest.approx([step_1, step_2], rel=1e-12)


def test_adamw_decays_before_the_adam_step():
    expected = 1 * (1 - 0.01 * 0.1) - 0.01 * 0.5 / (0.5 + 1e-8)
    assert run_steps(AdamW, [0.5], learning_rate=0.01, weight_decay=0.1) == pytest.approx(
        [expected], rel=1e-12
    )


def test_adamw_decay_slices_spare_the_biases():
    params = {"theta": np.ones(4)}
    optimizer = AdamW(params, 0.01, weight_decay=0.5, decay_slices={"theta": slice(0, 2)})
    optimizer.step({"dtheta": np.zeros(4)})
    np.testing.assert_allclose(params["theta"], [0.995, 0.995, 1.0, 1.0])


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(3) for _ in range(4)]
    a = {"p": np.zeros(3)}
    first = Adam(a, 0.1)
    for g in grads[:2]:
        first.step({"dp": g})
    b = {"p": a["p"].copy()}
    second = Adam(b, 0.1)
    second.load_state_dict(
        {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in first.state_dict().items()}
    )
    for g in grads[2:]:
        first.step({"dp": g})
        second.step({"dp": g})
    np.testing.assert_array_equal(a["p"], b["p"])


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda p: SGD(p, 0.0), r"Invalid learning rate: 0.0"),
        (lambda p: SGD(p, -1), r"Invalid learning rate: -1"),
        (lambda p: SGD(p, float("nan")), r"Invalid learning rate: nan"),
        (lambda p: Momentum(p, 0.1, momentum=1.0), r"Invalid momentum: 1.0; must be in \[0, 1\)"),
        (lambda p: Adam(p, 0.1, beta_1=-0.1), r"Invalid beta_1"),
        (lambda p: Adam(p, 0.1, epsilon=0), r"Invalid epsilon"),
        (
            lambda p: make_optimizer("lion", p, 0.1),
            r"Unknown optimizer 'lion'; expected one of \['adam', 'adamw'",
        ),
    ],
)
def test_bad_hyper_parameters_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build({"w": np.zeros(2)})


def test_missing_gradient_names_the_parameter():
    with pytest.raises(ValueError, match=r"grads has no entry 'dw'"):
        SGD({"w": np.zeros(2)}, 0.1).step({"dv": np.zeros(2)})


def test_schedules_closed_forms():
    assert Constant()(0.1, 7) == 0.1
    assert [StepDecay(step_size=2, factor=0.5)(0.1, t) for t in range(5)] == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.025]
    )
    assert InverseScaling(power_t=0.5)(0.1, 3) == pytest.approx(0.1 / 2.0)
    cosine = Cosine(total_epochs=4, minimum=0.0)
    assert [cosine(1.0, t) for t in range(5)] == pytest.approx([1.0, 0.853553, 0.5, 0.146447, 0.0], abs=1e-6)


def test_reduce_on_plateau_shrinks_after_patience():
    schedule = ReduceOnPlateau(factor=0.5, patience=1, tol=0.0)
    rates = []
    for loss in [1.0, 0.9, 0.95, 0.95, 0.95, 0.8]:
        schedule.observe(loss)
        rates.append(schedule(0.1, 0))
    assert rates == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05])


def test_unknown_schedule_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown schedule 'exp'; expected one of \['constant', 'cosine'"):
        make_schedule("exp")


@pytest.mark.parametrize(
    ("l2", "slices", "match"),
    [
        (-0.1, {"w": slice(0, 1)}, "Invalid l2: -0.1"),
        (float("nan"), {"w": slice(0, 1)}, "Invalid l2: nan"),
        (0.1, {"v": slice(0, 1)}, r"l2_slices names \['v'\], which are not parameters"),
    ],
)
def test_a_bad_l2_penalty_is_refused_before_any_update(l2, slices, match):
    p = np.array([1.0, 2.0])
    optimizer = Adam({"w": p}, 0.1)
    with pytest.raises(ValueError, match=match):
        optimizer.step({"dw": np.ones(2)}, l2=l2, l2_slices=slices)
    np.testing.assert_array_equal(p, [1.0, 2.0])
    assert optimizer.t == 0


def test_sgd_on_the_network_params_is_the_notes_update():
    # an optimizer takes net.params (views into theta) as well as {"theta": net.theta}
    X, Y = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0]]), np.array([[0.0, 1.0, 1.0]])
    nets = [DNN([2, 3, 1], "tanh", "sigmoid", seed=0, dtype="float64") for _ in range(2)]
    grads = []
    for net in nets:
        AL, cache = net.forward(X)
        grads.append(net.compute_gradients(AL, Y, cache))
    SGD(nets[0].params, 0.5).step(grads[0])
    nets[1].update(grads[1], 0.5)  # W_l -= alpha dW_l, b_l -= alpha db_l
    np.testing.assert_array_equal(nets[0].theta, nets[1].theta)
