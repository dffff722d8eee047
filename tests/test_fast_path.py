"""The trainer's fast step equals the reference forward/compute_gradients path, step by step."""

import tracemalloc

import numpy as np
import pytest

from conftest import make_targets
from mlpkit import DNN, Trainer
from mlpkit.activations import ACTIVATIONS, Activation, sigmoid
from mlpkit.fast import kernels
from mlpkit.fast.step import FastStep, gather_columns
from mlpkit.losses import accuracy
from mlpkit.training import Callback

HIDDEN = sorted(ACTIVATIONS)
OUTPUTS = ["sigmoid", "softmax", "identity"]
SIZES = [6, 7, 5, 3]


def column_data(output, m, rng, n_x=SIZES[0], n_out=SIZES[-1]):
    """Columns-are-samples data stored as rows (X.T is C-contiguous, as the trainer gathers it)."""
    rows = rng.standard_normal((m, n_x))
    return rows.T, make_targets(output, n_out, m, rng)


def reference_step(net, X, Y, sample_weight, dropout, rng):
    AL, cache = net.forward(X, dropout=dropout, rng=rng)
    gradient = np.zeros_like(net.theta)
    net.compute_gradients(AL, Y, cache, sample_weight=sample_weight, out=gradient)
    return net.loss(AL, Y, sample_weight), AL, gradient


def fast_step(net, X, Y, index, sample_weight, dropout, rng, use_kernels=True):
    gradient = np.full_like(net.theta, np.nan)  # every entry must be written
    step = FastStep(net, gradient, use_kernels=use_kernels)
    loss, hits, AL, Yb = step(X.T, np.ascontiguousarray(Y.T), index, sample_weight, dropout, rng)
    np.testing.assert_array_equal(Yb, Y[:, index])
    expected_hits = accuracy(net.output_activation, AL, Yb) * index.shape[0]
    np.testing.assert_equal(hits, expected_hits)  # NaN for regression
    return loss, AL.copy(), gradient


@pytest.mark.parametrize("use_kernels", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_one_step_equals_the_reference_gradient(hidden, output, dropout, weighted, use_kernels, rng):
    net = DNN(SIZES, hidden, output, seed=1, dtype="float64")
    X, Y = column_data(output, 40, rng)
    index = rng.permutation(40)[:13]
    weight = rng.uniform(0.0, 2.0, 13) if weighted else None
    expected = reference_step(net, X[:, index], Y[:, index], weight, dropout, np.random.default_rng(7))
    loss, AL, gradient = fast_step(net, X, Y, index, weight, dropout, np.random.default_rng(7), use_kernels)
    assert loss == pytest.approx(expected[0], rel=1e-12)
    np.testing.assert_allclose(AL, expected[1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gradient, expected[2], rtol=1e-10, atol=1e-14)


@pytest.mark.skipif(
    not kernels.available(),
    reason="the compiled kernels are not loaded: not built, or MLPKIT_NUMPY_ONLY is set",
)
@pytest.mark.parametrize("layout", ["samples row-major", "features row-major"])
@pytest.mark.parametrize("m", [1, 15, 16, 17, 100])  # below, at and past the kernels' 16 lanes
def test_the_compiled_layers_equal_numpy_in_float32(layout, m, rng):
    net = DNN([9, 40, 30, 10], "relu", "softmax", seed=4, dtype="float32")
    X, Y = column_data("softmax", 120, rng, n_x=9, n_out=10)
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    targets = np.ascontiguousarray(Y.T) if layout == "samples row-major" else np.ascontiguousarray(Y).T
    index = rng.permutation(120)[:m]
    results = []
    for use_kernels in (True, False):
        gradient = np.full_like(net.theta, np.nan)
        step = FastStep(net, gradient, use_kernels=use_kernels)
        loss, hits, AL, _ = step(X.T, targets, index)
        results.append((loss, hits, AL.copy(), gradient))
        (buffers,) = step._buffers.values()
        bound = [*buffers.bias_relu, *buffers.relu_backward, buffers.output_layer]
        assert all(kernel is not None for kernel in bound) == use_kernels
    (loss, hits, AL, gradient), (expected_loss, expected_hits, expected_AL, expected_gradient) = results
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    assert hits == expected_hits
    np.testing.assert_allclose(AL, expected_AL, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-5, atol=1e-6)


def softplus_reading_Z():
    """log(1 + e^z) with g'(z) = sigmoid(z) read from Z: the fast step must keep Z apart from A."""

    def forward(Z, out):
        return np.logaddexp(0.0, Z, out=out)

    def derivative(Z, A):
        return sigmoid(Z)

    def backward(dA, Z, A):
        dA *= sigmoid(Z)
        return dA

    return Activation("softplus", forward, derivative, backward, backward_reads_Z=True)


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_an_activation_whose_derivative_reads_Z_keeps_Z(monkeypatch, dropout, rng):
    monkeypatch.setitem(ACTIVATIONS, "softplus", softplus_reading_Z())
    net = DNN(SIZES, "softplus", "softmax", seed=2, dtype="float64")
    X, Y = column_data("softmax", 20, rng)
    index = np.arange(20)
    expected = reference_step(net, X, Y, None, dropout, np.random.default_rng(3))
    _, _, gradient = fast_step(net, X, Y, index, None, dropout, np.random.default_rng(3))
    np.testing.assert_allclose(gradient, expected[2], rtol=1e-10, atol=1e-14)


def reference_fit(trainer, X, Y, epochs, sample_weight=None):
    """The trainer's loop written with the public, formula-shaped train_batch on gathered columns."""
    losses = []
    for _ in range(epochs):
        for index in trainer._batches(X.shape[1]):
            weight = sample_weight[index] if sample_weight is not None else None
            loss, _ = trainer.train_batch(X[:, index], Y[:, index], weight)
            losses.append(loss)
    return losses


class LossRecorder(Callback):
    """Each mini-batch's loss, in order."""

    def __init__(self):
        self.losses = []

    def on_batch_end(self, trainer, batch, loss):
        self.losses.append(loss)


@pytest.mark.parametrize(
    ("hidden", "output", "optimizer", "options"),
    [
        ("relu", "softmax", "adam", {}),
        ("relu", "softmax", "adam", {"dropout": 0.2}),
        ("tanh", "sigmoid", "momentum", {"l2": 0.3}),
        ("leaky_relu", "identity", "rmsprop", {"dropout": 0.1, "l2": 0.1}),
        ("sigmoid", "softmax", "adamw", {"weights": True}),
        ("identity", "sigmoid", "nesterov", {"weights": True, "dropout": 0.25}),
        ("relu", "identity", "sgd", {}),
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_weights_after_epochs_equal_the_reference_loop(hidden, output, optimizer, options, dtype, rng):
    options = dict(options)
    weighted = options.pop("weights", False)
    X, Y = column_data(output, 103, rng)  # 103 = 6 batches of 16 and one of 7
    weight = rng.uniform(0.0, 3.0, 103) if weighted else None
    nets = [DNN(SIZES, hidden, output, seed=5, dtype=dtype) for _ in range(2)]
    recorder = LossRecorder()
    fast = Trainer(nets[0], optimizer, 0.01, batch_size=16, seed=9, callbacks=[recorder], **options)
    fast.fit(X, Y, epochs=3, sample_weight=weight)
    reference = Trainer(nets[1], optimizer, 0.01, batch_size=16, seed=9, **options)
    Xr, Yr = nets[1].check_X(X), Y.astype(dtype)
    expected_losses = reference_fit(reference, Xr, Yr, 3, weight)
    tolerance = {"float64": 1e-9, "float32": 2e-4}[dtype]
    np.testing.assert_allclose(recorder.losses, expected_losses, rtol=tolerance)
    np.testing.assert_allclose(nets[0].theta, nets[1].theta, rtol=tolerance, atol=tolerance)
    assert fast.optimizer.t == reference.optimizer.t == 21


def test_steps_reuse_their_buffers(rng):
    net = DNN([50, 256, 128, 4], "relu", "softmax", seed=0, dtype="float64")
    X, Y = column_data("softmax", 512, rng, n_x=50, n_out=4)
    step = FastStep(net, np.zeros_like(net.theta))
    rows, targets = X.T, np.ascontiguousarray(Y.T)
    step(rows, targets, rng.permutation(512)[:256])
    tracemalloc.start()
    step(rows, targets, rng.permutation(512)[:256])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    smallest_layer_array = 128 * 256 * 8  # the reference path allocates several of each size
    assert peak < smallest_layer_array, f"a step allocated {peak} bytes"


@pytest.mark.parametrize("layout", ["samples row-major", "features row-major", "strided view"])
def test_gather_reads_every_layout_of_X(layout, rng):
    rows = rng.standard_normal((30, 7))
    data = {
        "samples row-major": rows,  # X = rows.T, as row data passes it
        "features row-major": np.ascontiguousarray(rows.T).T,  # X built (n_x, m) C-contiguous
        "strided view": np.ascontiguousarray(rows[:, ::-1].T)[::-1].T,  # neither layout
    }[layout]
    index = rng.permutation(30)[:11]
    buffer = np.full((11, 7), np.nan)
    columns = gather_columns(data, index, buffer)
    np.testing.assert_array_equal(columns, rows[index].T)
    assert np.shares_memory(columns, buffer)


def test_training_on_features_row_major_equals_samples_row_major(rng):
    X, Y = column_data("softmax", 90, rng)
    nets = [DNN(SIZES, "relu", "softmax", seed=3) for _ in range(2)]
    Trainer(nets[0], "adam", 0.01, batch_size=16, seed=1).fit(X, Y, epochs=2)
    Trainer(nets[1], "adam", 0.01, batch_size=16, seed=1).fit(np.ascontiguousarray(X), Y, epochs=2)
    np.testing.assert_allclose(nets[0].theta, nets[1].theta, rtol=1e-5, atol=1e-6)
