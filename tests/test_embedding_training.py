"""The trainer learns embeddings: ``Trainer(net, ..., inputs=EmbeddingInput(...))``, ``fit(X, Y, codes=...)``.

Oracles: the notes' path written out (``DNN.forward``, ``compute_gradients(..., input_gradient=True)``,
``EmbeddingInput.backward``, the numpy optimizers) for the fast step and the trainer's loop, and
a synthetic table whose target depends on a categorical column through per-category values.
"""

import copy
import pickle

import numpy as np
import pytest

from conftest import make_targets
from mlpkit import DNN, Trainer
from mlpkit.embeddings import EmbeddingInput
from mlpkit.fast.step import FastStep
from mlpkit.optimizers import make_optimizer
from mlpkit.training import Callback

N_DENSE, VOCABULARY, DIMENSIONS = 3, (7, 5), (3, 2)


def embedded_problem(output="softmax", m=60, seed=0, dtype="float64", activation="tanh"):
    """Embeddings, a network on their A0, dense rows, targets and codes: values 5 and 6 of
    column 0 and value 4 of column 1 never occur."""
    rng = np.random.default_rng(seed)
    inputs = EmbeddingInput(N_DENSE, VOCABULARY, DIMENSIONS, seed=1, dtype=dtype)
    net = DNN([inputs.n_x, 6, 3], activation, output, seed=2, dtype=dtype)
    X = rng.standard_normal((N_DENSE, m))
    codes = np.stack([rng.integers(0, 5, m), rng.integers(0, 4, m)])
    return inputs, net, X, make_targets(output, 3, m, rng), codes


def absent_values(inputs):
    """The columns of E_1 and E_2 that no sample of embedded_problem looks up."""
    return np.concatenate([inputs.tables[0][:, 5:].ravel(), inputs.tables[1][:, 4:].ravel()])


def notes_step(net, inputs, X, Y, codes, sample_weight=None, dropout=0.0, rng=None):
    """Loss, dtheta and dphi by the notes' functions on a gathered batch."""
    AL, cache = net.forward(inputs.forward(X, codes), dropout=dropout, rng=rng)
    dtheta = np.zeros_like(net.theta)
    grads = net.compute_gradients(AL, Y, cache, input_gradient=True, sample_weight=sample_weight, out=dtheta)
    return net.loss(AL, Y, sample_weight), dtheta, inputs.backward(grads["dA0"], codes)


# ---------------------------------------------------------------------- one step
@pytest.mark.parametrize("use_kernels", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("output", ["sigmoid", "softmax", "identity"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("m", [17, 3])  # 3: a batch smaller than the vocabularies
def test_the_fast_step_equals_the_notes_step(output, activation, dropout, weighted, use_kernels, m):
    inputs, net, X, Y, codes = embedded_problem(output, activation=activation)
    rng = np.random.default_rng(4)
    index = rng.permutation(60)[:m]
    weight = rng.uniform(0.0, 2.0, m) if weighted else None
    batch = (X[:, index], Y[:, index], codes[:, index])
    expected = notes_step(net, inputs, *batch, weight, dropout, np.random.default_rng(7))

    gradient, input_gradient = np.full_like(net.theta, np.nan), np.full_like(inputs.phi, np.nan)
    step = FastStep(net, gradient, use_kernels, inputs=inputs, input_gradient=input_gradient)
    targets = np.ascontiguousarray(Y.T)
    loss, _, _, _ = step(X.T, targets, index, weight, dropout, np.random.default_rng(7), codes.T)
    assert loss == pytest.approx(expected[0], rel=1e-12)
    np.testing.assert_allclose(gradient, expected[1], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(input_gradient, expected[2], rtol=1e-10, atol=1e-14)


def test_logistic_regression_on_embeddings_alone():
    """No hidden layer and no dense rows: dA0 = W_1^T dZ_1 with dZ_1 = A_1 - Y."""
    rng = np.random.default_rng(0)
    inputs = EmbeddingInput(0, (6,), (4,), seed=0, dtype="float64")
    net = DNN([4, 1], output_activation="sigmoid", seed=1, dtype="float64")
    codes = rng.integers(0, 6, (1, 30))
    X, Y = np.zeros((0, 30)), (rng.random((1, 30)) < 0.5).astype(float)
    expected = notes_step(net, inputs, X, Y, codes)
    gradient, input_gradient = np.zeros_like(net.theta), np.zeros_like(inputs.phi)
    step = FastStep(net, gradient, inputs=inputs, input_gradient=input_gradient)
    step(X.T, np.ascontiguousarray(Y.T), np.arange(30), code_rows=codes.T)
    np.testing.assert_allclose(gradient, expected[1], rtol=1e-12)
    np.testing.assert_allclose(input_gradient, expected[2], rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "momentum"])
def test_one_trainer_step_is_the_notes_step_then_the_optimizer_with_l2_on_the_weights_only(optimizer):
    inputs, net, X, Y, codes = embedded_problem()
    inputs_ref, net_ref = copy.deepcopy((inputs, net))
    drawn = absent_values(inputs).copy()
    trainer = Trainer(net, optimizer, 0.05, batch_size=60, shuffle=False, seed=0, inputs=inputs, l2=0.2)
    trainer.fit(X, Y, 1, codes=codes)

    _, dtheta, dphi = notes_step(net_ref, inputs_ref, X, Y, codes)
    weights = slice(0, net_ref.n_weights)
    dtheta[weights] += 0.2 / 60 * net_ref.theta[weights]  # (lambda/m) W_l: no L2 on b_l or E_c
    options = {"decay_slices": {"theta": weights}} if optimizer == "adamw" else {}
    reference = make_optimizer(optimizer, {"theta": net_ref.theta}, 0.05, **options)
    reference.step({"dtheta": dtheta})
    make_optimizer(optimizer.replace("adamw", "adam"), {"phi": inputs_ref.phi}, 0.05).step({"dphi": dphi})
    np.testing.assert_allclose(net.theta, net_ref.theta, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(inputs.phi, inputs_ref.phi, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(absent_values(inputs), drawn)  # no gradient, no L2, no decay


def reference_fit(trainer, X, Y, codes, epochs, sample_weight=None):
    """The trainer's loop written with the formula-shaped train_batch on gathered columns."""
    losses = []
    for _ in range(epochs):
        for index in trainer._batches(X.shape[1]):
            weight = sample_weight[index] if sample_weight is not None else None
            losses.append(trainer.train_batch(X[:, index], Y[:, index], weight, codes[:, index])[0])
    return losses


class BatchLosses(Callback):
    def __init__(self):
        self.losses = []

    def on_batch_end(self, trainer, batch, loss):
        self.losses.append(loss)


@pytest.mark.parametrize(
    ("output", "optimizer", "options"),
    [
        ("softmax", "adam", {}),
        ("sigmoid", "adamw", {"dropout": 0.2, "l2": 0.1}),
        ("identity", "rmsprop", {"weights": True}),
        ("softmax", "nesterov", {"weights": True, "l2": 0.3}),
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_epochs_of_the_fast_loop_equal_the_reference_loop(output, optimizer, options, dtype):
    options = dict(options)
    weighted = options.pop("weights", False)
    runs = [embedded_problem(output, m=103, dtype=dtype) for _ in range(2)]  # 6 batches of 16, one of 7
    X, Y, codes = runs[0][2], runs[0][3].astype(dtype), runs[0][4]
    weight = np.random.default_rng(3).uniform(0.0, 3.0, 103) if weighted else None
    recorder = BatchLosses()
    fast = Trainer(runs[0][1], optimizer, 0.01, batch_size=16, seed=9, inputs=runs[0][0], **options)
    fast.callbacks = [recorder]
    fast.fit(X, Y, 3, sample_weight=weight, codes=codes)
    reference = Trainer(runs[1][1], optimizer, 0.01, batch_size=16, seed=9, inputs=runs[1][0], **options)
    losses = reference_fit(reference, X.astype(dtype), Y, codes, 3, weight)
    tolerance = {"float64": 1e-9, "float32": 2e-4}[dtype]
    np.testing.assert_allclose(recorder.losses, losses, rtol=tolerance)
    np.testing.assert_allclose(runs[0][1].theta, runs[1][1].theta, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(runs[0][0].phi, runs[1][0].phi, rtol=tolerance, atol=tolerance)
    assert fast.optimizer.t == reference.optimizer.t == 21


# ---------------------------------------------------------------------- learning a categorical effect
EFFECTS = np.array([-2.0, -1.2, -0.5, 0.0, 0.4, 1.0, 1.6, 2.2])  # of the values 2..9 (0 missing, 1 unseen)


def categorical_table(m=1200, seed=0):
    """y = effect[code] + 0.5 x_0 + noise: the code carries most of the target's variance."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(2, 10, (1, m))
    X = rng.standard_normal((2, m))
    y = EFFECTS[codes[0] - 2] + 0.5 * X[0] + 0.1 * rng.standard_normal(m)
    return X, y[None, :], codes


def test_trained_embeddings_separate_the_categories_and_beat_the_dense_baseline():
    X, Y, codes = categorical_table()
    inputs = EmbeddingInput(2, (10,), (3,), seed=1, dtype="float64")
    drawn = inputs.tables[0][:, :2].copy()  # missing and unseen: no training sample holds them
    net = DNN([inputs.n_x, 16, 1], "tanh", "identity", seed=0, dtype="float64")
    history = Trainer(net, "adam", 0.01, batch_size=32, seed=0, inputs=inputs).fit(X, Y, 30, codes=codes)
    dense_only = DNN([2, 16, 1], "tanh", "identity", seed=0, dtype="float64")
    baseline = Trainer(dense_only, "adam", 0.01, batch_size=32, seed=0).fit(X, Y, 30)

    assert baseline.loss[-1] > 0.5  # half the variance of EFFECTS: the dense rows cannot explain it
    assert history.loss[-1] < 0.02 * baseline.loss[-1]  # near the noise's 0.005
    # each value's vector alone moves the prediction to its own effect (dense rows held at 0)
    values = np.arange(2, 10)[None, :]
    predicted = net.predict_proba(inputs.forward(np.zeros((2, 8)), values))[0]
    np.testing.assert_allclose(predicted - predicted.mean(), EFFECTS - EFFECTS.mean(), atol=0.1)
    vectors = inputs.tables[0][:, 2:]
    distances = np.linalg.norm(vectors[:, :, None] - vectors[:, None, :], axis=0)
    assert distances[~np.eye(8, dtype=bool)].min() > 0.05  # no two categories share a vector
    np.testing.assert_array_equal(inputs.tables[0][:, :2], drawn)


def test_validation_data_split_and_evaluation_build_A0_from_codes():
    X, Y, codes = categorical_table(m=400)

    def trainer():
        inputs = EmbeddingInput(2, (10,), (3,), seed=1, dtype="float64")
        net = DNN([inputs.n_x, 8, 1], "tanh", "identity", seed=0, dtype="float64")
        return Trainer(net, "adam", 0.01, batch_size=32, seed=0, inputs=inputs)

    split = trainer()
    split.fit(X, Y, 3, codes=codes, validation_fraction=0.25)
    held_out = np.sort(np.random.default_rng(0).permutation(400)[:100])
    expected = split.evaluate(X[:, held_out], Y[:, held_out], codes[:, held_out])
    assert split.history.val_loss[-1] == pytest.approx(expected[0], rel=1e-12)

    given = trainer()
    given.rng.permutation(400)  # the draw the split made, so that the epochs shuffle alike
    train = np.setdiff1d(np.arange(400), held_out)
    validation = (X[:, held_out], Y[:, held_out], codes[:, held_out])
    given.fit(X[:, train], Y[:, train], 3, codes=codes[:, train], validation_data=validation)
    np.testing.assert_array_equal(given.net.theta, split.net.theta)
    np.testing.assert_array_equal(given.inputs.phi, split.inputs.phi)
    assert given.history.val_loss == split.history.val_loss


def test_early_stopping_restores_the_best_epochs_embeddings():
    X, Y, codes = categorical_table(m=200)
    inputs = EmbeddingInput(2, (10,), (3,), seed=1, dtype="float64")
    net = DNN([inputs.n_x, 8, 1], "tanh", "identity", seed=0, dtype="float64")
    snapshots = []

    class Snapshot(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            snapshots.append((logs["val_loss"], trainer.inputs.phi.copy(), trainer.net.theta.copy()))

    trainer = Trainer(net, "sgd", 0.9, batch_size=16, seed=0, inputs=inputs, callbacks=[Snapshot()])
    trainer.fit(X, Y, 15, codes=codes, validation_fraction=0.3, early_stopping=True, patience=3, tol=0.0)
    best = min(range(len(snapshots)), key=lambda epoch: snapshots[epoch][0])
    _, best_phi, best_theta = snapshots[best]
    assert best < len(snapshots) - 1  # the last epoch was worse: restoring changes the weights
    np.testing.assert_array_equal(inputs.phi, best_phi)
    np.testing.assert_array_equal(net.theta, best_theta)


@pytest.mark.parametrize("round_trip", [lambda t: pickle.loads(pickle.dumps(t)), copy.deepcopy])
def test_a_copied_trainer_keeps_learning_its_own_embeddings(round_trip):
    inputs, net, X, Y, codes = embedded_problem()
    original = Trainer(net, "adam", 0.05, batch_size=8, seed=5, inputs=inputs)
    original.fit(X, Y, 2, codes=codes)
    copied = round_trip(original)
    assert copied.optimizer.params["phi"] is copied.inputs.phi
    assert np.shares_memory(copied.input_gradient, copied.gradients)
    original.fit(X, Y, 2, codes=codes)
    copied.fit(X, Y, 2, codes=codes)
    np.testing.assert_array_equal(copied.inputs.phi, original.inputs.phi)
    np.testing.assert_array_equal(copied.net.theta, original.net.theta)
    assert not np.shares_memory(copied.inputs.phi, original.inputs.phi)


# ---------------------------------------------------------------------- errors
def test_mismatched_inputs_codes_and_optimizers_are_named():
    inputs, net, X, Y, codes = embedded_problem()
    with pytest.raises(ValueError, match=r"sum d_c = 8 rows, but the network expects n_x = 9"):
        Trainer(DNN([9, 3], seed=0, dtype="float64"), inputs=inputs)
    with pytest.raises(ValueError, match="the embeddings are float32 but the network is float64"):
        Trainer(net, inputs=EmbeddingInput(N_DENSE, VOCABULARY, DIMENSIONS))
    with pytest.raises(ValueError, match="its optimizer must step them too"):
        Trainer(net, make_optimizer("adam", {"theta": net.theta}, 0.01), inputs=inputs)
    trainer = Trainer(net, inputs=inputs)
    with pytest.raises(ValueError, match=r"codes \(C, m\) = \(2, 60\) are needed"):
        trainer.fit(X, Y, 1)
    with pytest.raises(ValueError, match=r"X must hold the dense rows of A0, shape \(n_dense, m\) = \(3,"):
        trainer.fit(inputs.forward(X, codes), Y, 1, codes=codes)
    with pytest.raises(ValueError, match="codes row 1 .* holds code 5 at sample 2"):
        trainer.fit(X, Y, 1, codes=np.where(np.arange(60) == 2, 5, codes))
    with pytest.raises(ValueError, match=r"validation codes \(C, m\) = \(2, 10\) are needed"):
        trainer.fit(X, Y, 1, codes=codes, validation_data=(X[:, :10], Y[:, :10]))
    with pytest.raises(ValueError, match="codes were given, but the trainer has no embeddings"):
        Trainer(DNN([3, 3], seed=0)).fit(X, Y, 1, codes=codes)


# ---------------------------------------------------------------------- other data paths
def test_mapped_rows_and_codes_train_and_evaluate_in_chunks_as_in_memory(tmp_path, monkeypatch):
    from mlpkit.datasets import open_memmap
    from mlpkit.training import loop

    monkeypatch.setattr(loop, "PREDICT_CHUNK", 7)  # validation A0 built chunk by chunk, codes alike
    inputs, net, X, Y, codes = embedded_problem(m=90, dtype="float32")
    np.save(tmp_path / "X.npy", X.T.astype(np.float32))
    np.save(tmp_path / "y.npy", Y.argmax(axis=0))
    mapped = open_memmap(tmp_path / "X.npy", tmp_path / "y.npy").X.T  # (n_dense, m), never loaded whole
    np.save(tmp_path / "codes.npy", codes.T)  # integer codes as rows (m, C), mapped as well
    mapped_codes = np.load(tmp_path / "codes.npy", mmap_mode="r").T
    runs = []
    for dense, coded in ((mapped, mapped_codes), (X.astype(np.float32), codes)):
        inputs_run, net_run = copy.deepcopy((inputs, net))
        trainer = Trainer(net_run, "adam", 0.02, batch_size=16, seed=1, inputs=inputs_run)
        runs.append(trainer.fit(dense, Y, 2, codes=coded, validation_fraction=0.3))
        runs.append(inputs_run.phi)
    assert runs[0].val_loss == pytest.approx(runs[2].val_loss, rel=1e-6)
    np.testing.assert_array_equal(runs[1], runs[3])


def test_a_diverging_run_keeps_the_embeddings_of_the_epochs_start():
    from mlpkit.training import TrainingDiverged

    X, Y, codes = categorical_table(m=64)
    inputs = EmbeddingInput(2, (10,), (3,), seed=1)
    net = DNN([inputs.n_x, 8, 1], "relu", "identity", seed=0)
    starts = [inputs.phi.copy()]  # the embeddings at the start of each epoch

    class EpochStart(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            starts.append(trainer.inputs.phi.copy())

    trainer = Trainer(net, "sgd", 0.3, batch_size=16, seed=0, inputs=inputs, callbacks=[EpochStart()])
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(TrainingDiverged):
        trainer.fit(X, Y * 3, 50, codes=codes)  # diverges in epoch 3, batch 4
    assert len(starts) == trainer.epoch + 1 and not np.array_equal(starts[-1], starts[0])
    np.testing.assert_array_equal(inputs.phi, starts[-1])


def test_a_batch_of_zero_weights_takes_no_step_and_counts_its_hits():
    from mlpkit.losses import accuracy

    inputs, net, X, Y, codes = embedded_problem(m=32)
    AL = net.predict_proba(inputs.forward(X, codes))  # both batches see these weights: one step, after
    expected = accuracy("softmax", AL, Y)
    weight = np.r_[np.zeros(16), np.ones(16)]  # the first batch (unshuffled) has nothing to learn
    trainer = Trainer(net, "adam", 0.05, batch_size=16, shuffle=False, seed=0, inputs=inputs)
    history = trainer.fit(X, Y, 1, codes=codes, sample_weight=weight)
    assert trainer.optimizer.t == 1
    assert history.accuracy == [pytest.approx(expected, rel=1e-12)]
