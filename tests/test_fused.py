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
