"""The optional compiled Adam step equals the numpy reference in mlpkit.optimizers."""

import numpy as np
import pytest

from mlpkit import Adam, AdamW, fused


def test_the_kernel_is_built():
    # `pip install -e .` compiles src/mlpkit/_fused.c (the build skips it only without a C compiler).
    assert fused.available(), "the compiled Adam step was not built: is a C compiler installed?"


def run_adam(dtype, use_kernel, monkeypatch, optimizer_class=Adam, **options):
    rng = np.random.default_rng(0)
    params = {"theta": rng.standard_normal(1000).astype(dtype)}
    optimizer = optimizer_class(params, 0.01, **options)
    with monkeypatch.context() as patch:
        if not use_kernel:
            patch.setattr(fused, "adam_step", lambda *args: False)
        for _ in range(20):
            optimizer.step({"dtheta": rng.standard_normal(1000).astype(dtype)})
    return params["theta"], optimizer.state["m"]["theta"], optimizer.state["v"]["theta"]


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("optimizer_class", [Adam, AdamW])
def test_kernel_equals_numpy_reference(dtype, rtol, optimizer_class, monkeypatch):
    fast = run_adam(dtype, True, monkeypatch, optimizer_class)
    reference = run_adam(dtype, False, monkeypatch, optimizer_class)
    for got, expected in zip(fast, reference, strict=True):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def test_unsuitable_arrays_fall_back_to_numpy():
    p = np.zeros((4, 3), dtype=np.float32)
    other = np.zeros((4, 3), dtype=np.float64)
    assert not fused.adam_step(p, other, p.copy(), p.copy(), 0.9, 0.999, 0.1, 1e-8)  # mixed dtypes
    strided = np.zeros((4, 6), dtype=np.float32)[:, ::2]
    assert not fused.adam_step(strided, p, p.copy(), p.copy(), 0.9, 0.999, 0.1, 1e-8)  # not contiguous
    assert not fused.adam_step(p.astype(np.float16), *(p.astype(np.float16),) * 3, 0.9, 0.999, 0.1, 1e-8)


def test_kernel_first_step_by_hand():
    p, g = np.array([1.0, -2.0]), np.array([0.5, -0.25])
    m, v = np.zeros(2), np.zeros(2)
    # t = 1: m = 0.1 g, v = 0.001 g^2, step_size = alpha sqrt(0.001) / 0.1, eps_hat = eps sqrt(0.001)
    root = np.sqrt(0.001)
    assert fused.adam_step(p, g, m, v, 0.9, 0.999, 0.01 * root / 0.1, 1e-8 * root)
    np.testing.assert_allclose(m, 0.1 * np.array([0.5, -0.25]), rtol=1e-15)
    np.testing.assert_allclose(v, 0.001 * np.array([0.25, 0.0625]), rtol=1e-15)
    np.testing.assert_allclose(p, [1.0 - 0.01, -2.0 + 0.01], rtol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_scaled_equals_numpy(dtype):
    rng = np.random.default_rng(1)
    y, x = rng.standard_normal(1001).astype(dtype), rng.standard_normal(1001).astype(dtype)
    expected = y + dtype(0.3) * x
    assert fused.add_scaled(y, x, 0.3)
    np.testing.assert_allclose(y, expected, rtol=1e-6 if dtype == np.float32 else 1e-15)
    assert not fused.add_scaled(y, x[:-1], 0.3)  # shapes differ: nothing done
    np.testing.assert_allclose(y, expected, rtol=1e-6 if dtype == np.float32 else 1e-15)


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
