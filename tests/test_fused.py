"""The optional compiled kernels equal the numpy references (optimizers, activations, losses)."""

import os
import pickle

import numpy as np
import pytest

from mlpkit import SGD, Adam, AdamW, Momentum
from mlpkit.activations import softmax
from mlpkit.fast import kernels as fused
from mlpkit.fast.adam import OptimizerStep

needs_kernels = pytest.mark.skipif(
    not fused.available(),
    reason="the compiled kernels are not loaded: not built, or MLPKIT_NUMPY_ONLY is set",
)


@pytest.mark.skipif(bool(os.environ.get("MLPKIT_NUMPY_ONLY")), reason="MLPKIT_NUMPY_ONLY asks for numpy only")
def test_the_kernel_is_built():
    # `pip install -e .` compiles src/mlpkit/fast/_fused.c (the build skips it only without a C compiler).
    assert fused.available(), "the compiled kernels were not built: is a C compiler installed?"


def run_adam(dtype, fused_step, optimizer_class=Adam, l2=0.0, slices=None, steps=20, **options):
    """Twenty steps on one flat vector, by ``optimizer.step`` or through an :class:`OptimizerStep`."""
    rng = np.random.default_rng(0)
    params = {"theta": rng.standard_normal(1000).astype(dtype)}
    optimizer = optimizer_class(params, 0.01, **options)
    step = OptimizerStep() if fused_step else optimizer.step
    arguments = (optimizer,) if fused_step else ()
    slices = {"theta": slice(0, 700)} if slices is None else slices
    squares = []
    for _ in range(steps):
        gradient = rng.standard_normal(1000).astype(dtype)
        squares.append(step(*arguments, {"dtheta": gradient}, l2=l2, l2_slices=slices))
    moments = [arrays["theta"] for arrays in optimizer.state.values()]  # m and v for Adam
    return (params["theta"], *moments, np.array(squares))


def assert_same_run(got, expected, rtol):
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())
    assert got[0].dtype == expected[0].dtype


@needs_kernels
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("optimizer_class", [Adam, AdamW])
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_kernel_equals_numpy_reference(dtype, rtol, optimizer_class, l2):
    assert_same_run(
        run_adam(dtype, True, optimizer_class, l2), run_adam(dtype, False, optimizer_class, l2), rtol
    )


@needs_kernels
def test_the_step_binds_the_kernel_once_and_again_for_new_arrays():
    p = np.zeros(5)
    optimizer, step = Adam({"theta": p}, 0.1), OptimizerStep()
    gradient = np.ones(5)
    step(optimizer, {"dtheta": gradient})
    kernels = step._kernels
    assert kernels is not None and len(kernels) == 1
    step(optimizer, {"dtheta": gradient})
    assert step._kernels is kernels  # same arrays: bound once
    step(optimizer, {"dtheta": np.ones(5)})
    assert step._kernels is not kernels  # a new gradient array: bound again, to it
    reference = Adam({"theta": np.zeros(5)}, 0.1)
    for _ in range(3):
        reference.step({"dtheta": np.ones(5)})
    np.testing.assert_allclose(p, reference.params["theta"], rtol=1e-14)


@pytest.mark.parametrize(
    "optimizer_class, slices",
    [
        (SGD, None),
        (Momentum, None),
        (type("MyAdam", (Adam,), {}), None),  # a subclass may change the update: numpy
        (Adam, {"theta": slice(100, 700)}),  # the kernel penalizes leading entries only
    ],
)
def test_other_optimizers_and_slices_take_the_numpy_step(optimizer_class, slices):
    for dtype in (np.float32, np.float64):
        fused_run = run_adam(dtype, True, optimizer_class, 0.3, slices, steps=3)
        numpy_run = run_adam(dtype, False, optimizer_class, 0.3, slices, steps=3)
        for got, expected in zip(fused_run, numpy_run, strict=True):
            np.testing.assert_array_equal(got, expected)


@needs_kernels
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-6), (np.float64, 1e-13)])
def test_adamw_takes_the_kernel_with_any_slices(dtype, rtol):
    # AdamW adds its L2 gradient and decays in numpy, so the kernel serves it whatever the slices
    options = {"decay_slices": {"theta": slice(3, 900)}}
    slices = {"theta": slice(5, 500, 2)}
    fused_run = run_adam(dtype, True, AdamW, 0.3, slices, **options)
    assert_same_run(fused_run, run_adam(dtype, False, AdamW, 0.3, slices, **options), rtol)


@pytest.mark.parametrize("l2, match", [(-0.1, "Invalid l2: -0.1"), (float("nan"), "Invalid l2: nan")])
def test_a_bad_l2_is_refused_before_any_update(l2, match):
    p = np.array([1.0, 2.0])
    optimizer = Adam({"theta": p}, 0.1)
    with pytest.raises(ValueError, match=match):
        OptimizerStep()(optimizer, {"dtheta": np.ones(2)}, l2=l2, l2_slices={"theta": slice(0, 1)})
    with pytest.raises(ValueError, match=r"grads has no entry 'dtheta'"):
        OptimizerStep()(optimizer, {"dw": np.ones(2)})
    np.testing.assert_array_equal(p, [1.0, 2.0])
    assert optimizer.t == 0


def test_the_l2_step_by_hand():
    # L2 over the first entry only: g = (0.5 + 0.1 * 2, -0.25); t = 1, so m = 0.1 g, v = 0.001 g^2
    # and the step is alpha * sign(g) (as eps -> 0); ||w||^2 = 4. Both the numpy step and the fused one.
    for fused_step in (False, True):
        p, g = np.array([2.0, -2.0]), np.array([0.5, -0.25])
        optimizer = Adam({"w": p}, 0.01, epsilon=1e-12)
        arguments = ({"dw": g}, 0.1, {"w": slice(0, 1)})
        squares = OptimizerStep()(optimizer, *arguments) if fused_step else optimizer.step(*arguments)
        assert squares == pytest.approx(4.0, rel=1e-15)
        np.testing.assert_allclose(g, [0.7, -0.25], rtol=1e-15)  # the penalty's gradient, added in place
        np.testing.assert_allclose(optimizer.state["m"]["w"], [0.07, -0.025], rtol=1e-14)
        np.testing.assert_allclose(p, [2.0 - 0.01, -2.0 + 0.01], rtol=1e-9)


def test_unsuitable_arrays_fall_back_to_numpy():
    p = np.zeros((4, 3), dtype=np.float32)
    other = np.zeros((4, 3), dtype=np.float64)
    assert fused.bind_adam(p, other, p.copy(), p.copy()) is None  # mixed dtypes
    strided = np.zeros((4, 6), dtype=np.float32)[:, ::2]
    assert fused.bind_adam(strided, p, p.copy(), p.copy()) is None  # not contiguous
    assert fused.bind_adam(*(p.astype(np.float16),) * 4) is None
    read_only = p.copy()
    read_only.flags.writeable = False
    assert fused.bind_adam(p, read_only, p.copy(), p.copy()) is None  # g takes the L2 term in place


@needs_kernels
def test_kernel_first_step_by_hand():
    p, g = np.array([1.0, -2.0]), np.array([0.5, -0.25])
    m, v = np.zeros(2), np.zeros(2)
    # t = 1: m = 0.1 g, v = 0.001 g^2, step_size = alpha sqrt(0.001) / 0.1, eps_hat = eps sqrt(0.001)
    root = np.sqrt(0.001)
    step = fused.bind_adam(p, g, m, v)
    assert step(0.1, 0.001, 0.01 * root / 0.1, 1e-8 * root, 0.0, 0) == 0.0
    np.testing.assert_allclose(m, 0.1 * np.array([0.5, -0.25]), rtol=1e-15)
    np.testing.assert_allclose(v, 0.001 * np.array([0.25, 0.0625]), rtol=1e-15)
    np.testing.assert_allclose(p, [1.0 - 0.01, -2.0 + 0.01], rtol=1e-7)


def test_a_step_pickles_without_its_kernels():
    params = {"theta": np.ones(5)}
    optimizer, step = Adam(params, 0.1), OptimizerStep()
    step(optimizer, {"dtheta": np.ones(5)})
    copy_optimizer, copy_step = pickle.loads(pickle.dumps((optimizer, step)))
    copy_step(copy_optimizer, {"dtheta": np.ones(5)})  # binds its own kernel to its own arrays
    step(optimizer, {"dtheta": np.ones(5)})
    np.testing.assert_array_equal(copy_optimizer.params["theta"], params["theta"])
    assert not np.shares_memory(copy_optimizer.params["theta"], params["theta"])


@needs_kernels
def test_softmax_cross_entropy_by_hand():
    # Column 0: z = (0, ln 3) gives a = (1/4, 3/4); its label is unit 1: loss -ln(3/4).
    # Column 1: z = (ln 2, 0) gives a = (2/3, 1/3); its label is unit 1: loss -ln(1/3), a miss.
    logits = np.array([[0.0, np.log(2.0)], [np.log(3.0), 0.0]])
    Z = logits.copy()
    Y_rows = np.array([[0.0, 1.0], [0.0, 1.0]])  # the gathered targets: one row per sample
    dZ, db = np.empty((2, 2)), np.empty((2, 1))
    output_layer = fused.StepKernels.for_dtype(np.float64).bind_softmax_cross_entropy(Z, Y_rows, dZ, db)
    loss, hits = output_layer(Y_rows.T)
    np.testing.assert_allclose(Z, [[1 / 4, 2 / 3], [3 / 4, 1 / 3]], rtol=1e-15)
    assert loss == pytest.approx((-np.log(3 / 4) - np.log(1 / 3)) / 2, rel=1e-15)
    assert hits == 1
    np.testing.assert_allclose(dZ, [[1 / 8, 1 / 3], [-1 / 8, -1 / 3]], rtol=1e-15)  # (A - Y) / m
    np.testing.assert_allclose(db, [[1 / 8 + 1 / 3], [-1 / 8 - 1 / 3]], rtol=1e-15)
    Z[...] = logits  # A_L was written over Z_L
    weighted_loss, _ = output_layer(Y_rows.T, np.array([0.25, 0.75]))  # a weighted mean of the losses
    assert weighted_loss == pytest.approx(-0.25 * np.log(3 / 4) - 0.75 * np.log(1 / 3), rel=1e-15)


@needs_kernels
def test_relu_kernels_keep_nan_visible():
    kernels = fused.StepKernels.for_dtype(np.float32)
    Z = np.array([[np.nan, -1.0, 2.0]], dtype=np.float32)
    kernels.bind_bias_relu(Z, np.zeros((1, 1), dtype=np.float32))()
    np.testing.assert_array_equal(Z, [[np.nan, 0.0, 2.0]])  # as numpy.maximum(Z, 0)
    dA, A = np.array([[np.inf, 1.0, 3.0]], dtype=np.float32), np.array([[0.0, 0.0, 1.0]], dtype=np.float32)
    db = np.empty((1, 1), dtype=np.float32)
    kernels.bind_relu_backward(dA, A, db)()
    np.testing.assert_array_equal(dA, [[np.nan, 0.0, 3.0]])  # inf * 0, as numpy's dA *= (A > 0)
    assert np.isnan(db[0, 0])


@needs_kernels
def test_kernels_refuse_arrays_they_cannot_take():
    kernels = fused.StepKernels.for_dtype(np.float32)
    Z = np.zeros((3, 4), dtype=np.float32)
    assert kernels.bind_bias_relu(Z, np.zeros((3, 1), dtype=np.float64)) is None  # mixed dtypes
    assert kernels.bind_bias_relu(Z, np.zeros((4, 1), dtype=np.float32)) is None  # b of another layer
    assert kernels.bind_relu_backward(Z[:, ::2], Z[:, ::2], np.zeros((3, 1), np.float32)) is None  # strided
    assert fused.StepKernels.for_dtype(np.float16) is None
    output_layer = kernels.bind_softmax_cross_entropy(
        Z, np.zeros((4, 3), np.float32), Z.copy(), Z[:, :1].copy()
    )
    with pytest.raises(ValueError, match="gathered targets"):
        output_layer(np.zeros((3, 4), np.float32))  # not the bound buffer


@needs_kernels
def test_float32_softmax_is_within_a_few_units_in_the_last_place():
    # The float32 kernel's own exp: logits spanning e^-80 .. e^0 against numpy's float32 softmax.
    rng = np.random.default_rng(3)
    logits = np.concatenate([np.linspace(-80.0, 0.0, 50), rng.uniform(-20.0, 5.0, 150)]).reshape(10, 20)
    Z = logits.astype(np.float32)
    Y_rows = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 20)]
    dZ, db = np.empty_like(Z), np.empty((10, 1), dtype=np.float32)
    fused.StepKernels.for_dtype(np.float32).bind_softmax_cross_entropy(Z, Y_rows, dZ, db)(Y_rows.T)
    expected = softmax(logits.astype(np.float32), np.empty_like(Z))
    visible = expected > 1e-30  # below, float32 and the loss's clip make every value alike
    np.testing.assert_allclose(Z[visible], expected[visible], rtol=4 * np.finfo(np.float32).eps)
    assert np.all(Z[~visible] < 1e-30)
