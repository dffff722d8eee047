"""The whole training step as one compiled call (mlpkit.fast.fused) equals the numpy reference:
``DNN.forward``, ``DNN.loss``, ``DNN.compute_gradients`` and ``Adam.step``, step after step."""

import numpy as np
import pytest

from mlpkit import DNN, Adam, Trainer, TrainingDiverged, TrainingInterrupted
from mlpkit.fast import blas, fused, kernels
from mlpkit.regularization import l2_cost, l2_scale
from mlpkit.training import Callback

needs_fused_step = pytest.mark.skipif(
    kernels._library() is None or blas.gemm_addresses() is None,
    reason="no compiled step here: the kernels are not built, MLPKIT_NUMPY_ONLY is set, "
    "or this numpy has no bundled 64-bit-integer OpenBLAS to hand to it",
)


class CountingSteps:
    """Counts the compiled steps taken, so that a test knows which path trained."""

    def __init__(self, monkeypatch):
        self.calls = 0
        original = fused.EpochStep.__call__

        def counted(step, *args):
            self.calls += 1
            return original(step, *args)

        monkeypatch.setattr(fused.EpochStep, "__call__", counted)


def reference_fit(net, X, Y, epochs, batch_size, seed, lr, l2=0.0, weight=None, batches=None, thetas=None):
    """The notes' loop in plain numpy: the same seeded batch order, forward, loss, backward,
    the L2 term and ``Adam.step`` (numpy's own update), for ``epochs`` epochs or the first
    ``batches`` mini-batches; returns each batch's loss and the optimizer (and appends theta after
    each step to ``thetas``)."""
    rng, optimizer, losses = np.random.default_rng(seed), Adam({"theta": net.theta}, lr), []
    m = X.shape[1]
    for _ in range(epochs):
        order = rng.permutation(m)
        for start in range(0, m, batch_size)[:batches]:
            index = order[start : start + batch_size]
            w = weight[index] if weight is not None else None
            if w is not None and not w.any():
                continue
            AL, cache = net.forward(X[:, index])
            loss = net.loss(AL, Y[:, index], w)
            gradient = np.zeros_like(net.theta)
            net.compute_gradients(AL, Y[:, index], cache, sample_weight=w, out=gradient)
            if l2:  # J's average is over the batch's total weight, and so is the L2 term's
                total = index.shape[0] if w is None else float(w.sum())
                scale = l2_scale(l2, total)
                squares = float(np.vdot(net.theta[: net.n_weights], net.theta[: net.n_weights]))
                gradient[: net.n_weights] += scale * net.theta[: net.n_weights]
                loss += l2_cost(l2, total, squares)
            optimizer.step({"dtheta": gradient})
            losses.append(loss)
            if thetas is not None:
                thetas.append(net.theta.copy())
    return losses, optimizer


class Recorder(Callback):
    """Each mini-batch's loss and the network's theta after it, in order."""

    def __init__(self):
        self.losses, self.thetas = [], []

    def on_batch_end(self, trainer, batch, loss):
        self.losses.append(loss)
        self.thetas.append(trainer.net.theta.copy())


def data(rng, m, sizes, dtype):
    rows = rng.standard_normal((m, sizes[0])).astype(dtype)  # samples as rows, as the trainer gathers them
    Y = np.eye(sizes[-1], dtype=dtype)[:, rng.integers(0, sizes[-1], m)]
    return rows.T, Y


@needs_fused_step
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", [[7, 5, 3], [9, 8, 6, 4], [5, 12, 7, 6, 3]], ids=["L2", "L3", "L4"])
@pytest.mark.parametrize(
    ("l2", "weights"), [(0.0, None), (0.3, None), (0.0, "uniform"), (0.2, "zero batches")]
)
def test_epochs_of_compiled_steps_equal_the_numpy_reference(dtype, sizes, l2, weights, monkeypatch, rng):
    X, Y = data(rng, 103, sizes, dtype)  # 103 = 6 batches of 16 and one of 7
    weight = None
    if weights == "uniform":
        weight = rng.uniform(0.0, 3.0, 103)
    elif weights == "zero batches":
        weight = rng.uniform(0.5, 3.0, 103)
        weight[np.random.default_rng(4).permutation(103)[:16]] = 0.0  # the first batch has nothing to learn
    nets = [DNN(sizes, "relu", "softmax", seed=5, dtype=dtype) for _ in range(2)]
    counter, recorder = CountingSteps(monkeypatch), Recorder()
    trainer = Trainer(
        nets[0], "adam", 0.01, batch_size=16, seed=4, l2=l2, callbacks=[recorder], progress=False
    )
    trainer.fit(X, Y, epochs=3, sample_weight=weight)
    thetas = []
    expected, reference = reference_fit(nets[1], X, Y.astype(dtype), 3, 16, 4, 0.01, l2, weight, None, thetas)
    assert counter.calls == 21  # every batch went to the compiled step (a zero-weight one declines)
    tolerance = {"float64": 1e-10, "float32": 2e-4}[dtype]
    np.testing.assert_allclose(recorder.losses[-len(expected) :], expected, rtol=tolerance)
    # a callback reading the network after each batch sees that batch's step
    np.testing.assert_allclose(recorder.thetas[-len(thetas) :], thetas, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(nets[0].theta, nets[1].theta, rtol=tolerance, atol=tolerance)
    for moment in ("m", "v"):  # the step's own copies came back into the optimizer's state
        actual, wanted = trainer.optimizer.state[moment]["theta"], reference.state[moment]["theta"]
        np.testing.assert_allclose(actual, wanted, rtol=tolerance, atol=tolerance * 1e-3)
    assert trainer.optimizer.t == reference.t == (20 if weights == "zero batches" else 21)


@needs_fused_step
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_steps_whose_gather_and_adam_are_shared_between_threads_equal_the_numpy_reference(
    dtype, threads, monkeypatch, rng
):
    # 37,330 parameters and 128 x 300 gathered values: both loops go to the pool (_pool.h), in as
    # many parts as numpy's BLAS has threads, with L2 and sample weights on
    from threadpoolctl import threadpool_limits

    sizes, l2 = [300, 120, 10], 0.3
    X, Y = data(rng, 300, sizes, dtype)
    weight = rng.uniform(0.5, 2.0, 300)
    nets = [DNN(sizes, "relu", "softmax", seed=2, dtype=dtype) for _ in range(2)]
    counter, recorder = CountingSteps(monkeypatch), Recorder()
    settings = {"batch_size": 128, "seed": 4, "l2": l2, "progress": False}
    trainer = Trainer(nets[0], "adam", 0.01, callbacks=[recorder], **settings)
    with threadpool_limits(limits=threads, user_api="blas"):
        trainer.fit(X, Y, epochs=2, sample_weight=weight)
    expected, reference = reference_fit(nets[1], X, Y, 2, 128, 4, 0.01, l2, weight)
    assert counter.calls == 6
    tolerance = {"float64": 1e-10, "float32": 2e-4}[dtype]
    np.testing.assert_allclose(recorder.losses, expected, rtol=tolerance)
    np.testing.assert_allclose(nets[0].theta, nets[1].theta, rtol=tolerance, atol=tolerance)
    for moment in ("m", "v"):
        actual, wanted = trainer.optimizer.state[moment]["theta"], reference.state[moment]["theta"]
        np.testing.assert_allclose(actual, wanted, rtol=tolerance, atol=tolerance * 1e-3)


@needs_fused_step
def test_an_interrupt_between_compiled_batches_leaves_the_network_at_that_batch(monkeypatch, rng):
    # no callback reads the batches, so the step's copy of theta comes back only at the pause
    X, Y = data(rng, 160, [12, 9, 7, 4], "float64")
    nets = [DNN([12, 9, 7, 4], "relu", "softmax", seed=3, dtype="float64") for _ in range(2)]
    trainer = Trainer(nets[0], "adam", 0.01, batch_size=32, seed=6, progress=False)
    updates = []

    def interrupt_after_three(bar, size, total_loss):
        updates.append(size)
        if len(updates) == 3:
            trainer.request_interrupt()

    monkeypatch.setattr("mlpkit.training.loop.ProgressBar.update", interrupt_after_three)
    counter = CountingSteps(monkeypatch)
    with pytest.raises(TrainingInterrupted, match="after batch 3 of 5"):
        trainer.fit(X, Y, epochs=1)
    _, reference = reference_fit(nets[1], X, Y, 1, 32, 6, 0.01, batches=3)
    assert counter.calls == 3 and trainer.optimizer.t == reference.t == 3
    np.testing.assert_allclose(nets[0].theta, nets[1].theta, rtol=1e-12, atol=1e-15)
    for moment in ("m", "v"):
        np.testing.assert_allclose(
            trainer.optimizer.state[moment]["theta"], reference.state[moment]["theta"], rtol=1e-12, atol=1e-18
        )


@needs_fused_step
def test_compiled_and_numpy_steps_agree_to_the_bit_without_weights(monkeypatch, rng):
    # both paths call the same BLAS on the same arrays and the same element-wise kernels
    X, Y = data(rng, 200, [30, 20, 10, 5], "float64")
    thetas = []
    for serves in (fused.serves, lambda *args: False):
        monkeypatch.setattr("mlpkit.training.steps.serves", serves)
        net = DNN([30, 20, 10, 5], "relu", "softmax", seed=1, dtype="float64")
        Trainer(net, "adam", 0.01, batch_size=32, seed=2, progress=False).fit(X, Y, epochs=2)
        thetas.append(net.theta)
    np.testing.assert_allclose(thetas[0], thetas[1], rtol=1e-13, atol=1e-15)


@needs_fused_step
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the data check's sum
def test_a_nan_loss_takes_no_step_and_reports_divergence(monkeypatch, rng):
    X, Y = data(rng, 64, [6, 5, 3], "float32")
    X[:, 20] = 3e38  # finite, but Z_1 overflows: in the first batch of the unshuffled order
    net = DNN([6, 5, 3], "relu", "softmax", seed=0, dtype="float32")
    start = net.theta.copy()
    counter = CountingSteps(monkeypatch)
    trainer = Trainer(net, "adam", 0.01, batch_size=32, shuffle=False, progress=False)
    with pytest.raises(TrainingDiverged, match="epoch 1, batch 1"):
        trainer.fit(X, Y, epochs=1)
    assert counter.calls == 1 and trainer.optimizer.t == 0
    np.testing.assert_array_equal(net.theta, start)


@needs_fused_step
@pytest.mark.parametrize(
    ("network", "optimizer", "options"),
    [
        (("tanh", "softmax"), "adam", {}),
        (("relu", "sigmoid"), "adam", {}),
        (("relu", "softmax"), "adamw", {}),
        (("relu", "softmax"), "momentum", {}),
        (("relu", "softmax"), "adam", {"dropout": 0.2}),
    ],
)
def test_what_the_compiled_step_does_not_serve_trains_in_numpy(network, optimizer, options, monkeypatch, rng):
    X, Y = data(rng, 50, [6, 5, 3], "float64")
    net = DNN([6, 5, 3], *network, seed=0, dtype="float64")
    counter = CountingSteps(monkeypatch)
    Trainer(net, optimizer, 0.01, batch_size=16, progress=False, **options).fit(X, Y, epochs=1)
    assert counter.calls == 0
    assert np.isfinite(net.theta).all()


@needs_fused_step
def test_columns_stored_feature_major_train_in_numpy(monkeypatch, rng):
    X, Y = data(rng, 50, [6, 5, 3], "float64")
    counter = CountingSteps(monkeypatch)
    net = DNN([6, 5, 3], "relu", "softmax", seed=0, dtype="float64")
    Trainer(net, "adam", 0.01, batch_size=16, progress=False).fit(np.ascontiguousarray(X), Y, epochs=1)
    assert counter.calls == 0  # the compiled gather copies whole rows only


def test_numpy_only_turns_the_blas_lookup_off(monkeypatch):
    monkeypatch.setenv("MLPKIT_NUMPY_ONLY", "1")
    lookups = (blas._bundled, blas.gemm_addresses, blas.thread_addresses)
    for lookup in lookups:
        lookup.cache_clear()
    try:
        assert blas.gemm_addresses() is None and blas.thread_addresses() is None
    finally:
        monkeypatch.delenv("MLPKIT_NUMPY_ONLY")
        for lookup in lookups:
            lookup.cache_clear()


@needs_fused_step
def test_an_order_or_batch_outside_the_rows_is_refused_before_any_step(rng):
    X, Y = data(rng, 40, [6, 5, 3], "float32")
    net = DNN([6, 5, 3], "relu", "softmax", seed=0, dtype="float32")
    optimizer, gradient = Adam({"theta": net.theta}, 0.01), np.zeros_like(net.theta)
    step = fused.FusedSteps().bind(net, optimizer, gradient, X.T, np.ascontiguousarray(Y.T), None, 16)
    start = net.theta.copy()
    with pytest.raises(ValueError, match="must index the 40 training rows"):
        step(np.arange(41), 0, 16, 0.0)
    with pytest.raises(ValueError, match="outside the epoch's order or buffers"):
        step(np.arange(40), 32, 16, 0.0)  # past the end
    with pytest.raises(ValueError, match="outside the epoch's order or buffers"):
        step(np.arange(40), 0, 17, 0.0)  # more columns than the buffers hold
    np.testing.assert_array_equal(net.theta, start)
    assert optimizer.t == 0
