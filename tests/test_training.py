"""The training loop: learns XOR and moons, is reproducible, resumes exactly, stops early, fails clearly."""

import math

import numpy as np
import pytest

from mlpkit import DNN, Callback, Trainer, TrainingDiverged, train
from mlpkit.schedules import StepDecay

XOR_X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
XOR_Y = np.array([[0.0, 1.0, 1.0, 0.0]])


def moons(n=600, seed=0):
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n, noise=0.1, random_state=seed)
    return X.T, y.reshape(1, -1).astype(float)


def test_learns_xor_to_100_percent():
    net = DNN([2, 8, 1], "tanh", "sigmoid", seed=0)
    train(net, XOR_X, XOR_Y, epochs=500, optimizer="adam", learning_rate=0.05, batch_size=4, seed=0)
    np.testing.assert_array_equal(net.predict(XOR_X), XOR_Y.astype(int))


def test_learns_two_moons_to_97_percent():
    X, Y = moons(800, seed=0)
    X_test, Y_test = moons(400, seed=1)
    net = DNN([2, 16, 16, 1], "relu", "sigmoid", seed=0)
    history = train(net, X, Y, epochs=60, optimizer="adam", learning_rate=0.01, batch_size=32, seed=0)
    assert history.accuracy[-1] >= 0.97
    assert np.mean(net.predict(X_test) == Y_test) >= 0.97


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"])
def test_every_optimizer_lowers_the_loss(optimizer):
    X, Y = moons(300)
    net = DNN([2, 8, 1], "tanh", "sigmoid", seed=1)
    history = train(net, X, Y, epochs=15, optimizer=optimizer, learning_rate=0.05, batch_size=32)
    assert history.loss[-1] < 0.8 * history.loss[0]


def test_same_seed_same_weights_bit_for_bit():
    X, Y = moons(300)
    runs = []
    for _ in range(2):
        net = DNN([2, 8, 1], "relu", "sigmoid", seed=3)
        train(net, X, Y, epochs=3, batch_size=16, dropout=0.2, seed=11)
        runs.append(net.theta.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    other = DNN([2, 8, 1], "relu", "sigmoid", seed=3)
    train(other, X, Y, epochs=3, batch_size=16, dropout=0.2, seed=12)
    assert not np.array_equal(runs[0], other.theta)


def test_full_batch_sgd_epoch_is_one_notes_update():
    X, Y = moons(50)
    net = DNN([2, 4, 1], "tanh", "sigmoid", seed=0, dtype="float64")
    reference = DNN([2, 4, 1], "tanh", "sigmoid", seed=0, dtype="float64")
    train(net, X, Y, epochs=1, optimizer="sgd", learning_rate=0.3, batch_size=50, shuffle=False)
    AL, cache = reference.forward(X)
    reference.update(reference.compute_gradients(AL, Y, cache), 0.3)
    np.testing.assert_allclose(net.theta, reference.theta, rtol=1e-12)


def test_l2_adds_lambda_over_m_times_W():
    X, Y = moons(40)
    net = DNN([2, 3, 1], "tanh", "sigmoid", seed=0, dtype="float64")
    reference = DNN([2, 3, 1], "tanh", "sigmoid", seed=0, dtype="float64")
    trainer = Trainer(net, "sgd", 0.1, batch_size=40, l2=0.5, shuffle=False)
    loss, _ = trainer.train_batch(X, Y)
    AL, cache = reference.forward(X)
    grads = reference.compute_gradients(AL, Y, cache)
    penalty = 0.5 / (2 * 40) * sum((reference.params[f"W{l}"] ** 2).sum() for l in (1, 2))
    assert loss == pytest.approx(reference.loss(AL, Y) + penalty, rel=1e-12)
    for l in (1, 2):
        grads[f"dW{l}"] = grads[f"dW{l}"] + 0.5 / 40 * reference.params[f"W{l}"]
    reference.update(grads, 0.1)
    np.testing.assert_allclose(net.theta, reference.theta, rtol=1e-12)


def test_zero_sample_weight_drops_the_sample():
    X, Y = moons(30)
    weights = np.ones(30)
    weights[[3, 17]] = 0.0
    keep = weights > 0
    a = DNN([2, 5, 1], "relu", "sigmoid", seed=0, dtype="float64")
    b = DNN([2, 5, 1], "relu", "sigmoid", seed=0, dtype="float64")
    train(a, X, Y, epochs=3, optimizer="adam", batch_size=30, shuffle=False, sample_weight=weights)
    train(b, X[:, keep], Y[:, keep], epochs=3, optimizer="adam", batch_size=30, shuffle=False)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-10, atol=1e-12)


def test_validation_history_and_early_stopping_restore_best_weights():
    X, Y = moons(400)
    net = DNN([2, 32, 1], "relu", "sigmoid", seed=0)
    snapshots = []

    class Snapshot(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            snapshots.append((logs["val_loss"], trainer.net.theta.copy()))

    trainer = Trainer(net, "adam", 0.2, batch_size=16, callbacks=[Snapshot()], seed=0)
    history = trainer.fit(X, Y, epochs=60, validation_fraction=0.25, early_stopping=True, patience=3)
    assert history.epochs < 60  # a learning rate this large plateaus and stops early
    assert len(history.val_loss) == history.epochs and not math.isnan(history.val_loss[0])
    best_loss, best_theta = min(snapshots, key=lambda item: item[0])
    np.testing.assert_array_equal(net.theta, best_theta)
    assert history.val_loss.index(min(history.val_loss)) == history.epochs - 4


def test_validation_data_metrics_equal_a_direct_evaluation():
    X, Y = moons(200)
    Xv, Yv = moons(100, seed=5)
    net = DNN([2, 8, 1], "tanh", "sigmoid", seed=0)
    history = train(net, X, Y, epochs=2, validation_data=(Xv, Yv))
    AL = net.predict_proba(Xv)
    assert history.val_loss[-1] == pytest.approx(net.loss(AL, Yv), rel=1e-6)
    assert history.val_accuracy[-1] == pytest.approx(np.mean((AL > 0.5) == Yv))


def test_callbacks_and_schedule_are_called():
    X, Y = moons(64)
    calls = {"begin": 0, "batch": 0, "epoch": [], "end": 0}

    class Recorder(Callback):
        def on_train_begin(self, trainer):
            calls["begin"] += 1

        def on_batch_end(self, trainer, batch, loss):
            calls["batch"] += 1

        def on_epoch_end(self, trainer, epoch, logs):
            calls["epoch"].append(epoch)
            if epoch == 2:
                trainer.stop_training = True

        def on_train_end(self, trainer):
            calls["end"] += 1

    net = DNN([2, 4, 1], seed=0)
    history = train(
        net,
        X,
        Y,
        epochs=10,
        batch_size=16,
        learning_rate=0.1,
        callbacks=[Recorder()],
        schedule=StepDecay(step_size=1, factor=0.5),
    )
    assert calls == {"begin": 1, "batch": 12, "epoch": [0, 1, 2], "end": 1}
    assert history.learning_rate == pytest.approx([0.1, 0.05, 0.025])


def test_resume_from_state_dict_is_bit_identical():
    X, Y = moons(200)
    straight = DNN([2, 8, 1], "relu", "sigmoid", seed=0)
    Trainer(straight, "adam", 0.01, batch_size=32, dropout=0.1, seed=4).fit(X, Y, epochs=4)
    first = DNN([2, 8, 1], "relu", "sigmoid", seed=0)
    trainer = Trainer(first, "adam", 0.01, batch_size=32, dropout=0.1, seed=4)
    trainer.fit(X, Y, epochs=2)
    arrays, meta = trainer.state_dict()
    resumed_net = DNN([2, 8, 1], "relu", "sigmoid", seed=99)
    resumed = Trainer(resumed_net, "adam", 0.01, batch_size=32, dropout=0.1, seed=0)
    resumed.load_state_dict(arrays, meta)
    resumed.fit(X, Y, epochs=2)
    np.testing.assert_array_equal(resumed_net.theta, straight.theta)
    assert resumed.history.epochs == 4


def test_divergence_raises_and_keeps_finite_weights():
    X, Y = moons(100)
    Y = Y * 1e6  # a regression target this large with a huge rate overflows
    net = DNN([2, 8, 1], "relu", "identity", seed=0)
    with pytest.raises(TrainingDiverged, match=r"at epoch \d+, batch \d+.*smaller learning rate"):
        train(net, X, Y, epochs=50, optimizer="sgd", learning_rate=10.0, batch_size=10)
    assert np.isfinite(net.theta).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, r"batch_size must be an integer >= 1, got 0"),
        ({"epochs": 0}, r"epochs must be an integer >= 1, got 0"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
        ({"learning_rate": 0.0}, r"learning_rate must be a finite number > 0, got 0.0"),
        ({"optimizer": "lbfgs"}, r"Unknown optimizer 'lbfgs'; expected one of"),
        ({"l2": -1.0}, r"l2 must be a finite number >= 0"),
        ({"validation_fraction": 1.5}, r"validation_fraction must be in \[0, 1\), got 1.5"),
    ],
)
def test_bad_training_arguments_raise(kwargs, message):
    X, Y = moons(20)
    with pytest.raises(ValueError, match=message):
        train(DNN([2, 3, 1], seed=0), X, Y, **{"epochs": 1, **kwargs})


def test_bad_training_data_raise():
    X, Y = moons(20)
    net = DNN([2, 3, 1], seed=0)
    bad = X.copy()
    bad[1, 7] = np.nan
    with pytest.raises(
        ValueError, match=r"X \(as rows x features\) contains NaN or infinity at row 7, column 1"
    ):
        train(net, bad, Y, epochs=1)
    with pytest.raises(
        ValueError, match=r"Y must have shape \(n_L, m\) = \(1, 20\) to match X, got \(1, 19\)"
    ):
        train(net, X, Y[:, :19], epochs=1)
    with pytest.raises(ValueError, match=r"X has 3 rows but the network expects n_x = 2"):
        train(net, np.ones((3, 20)), Y, epochs=1)


def test_a_mini_batch_with_all_weights_zero_is_skipped():
    # Rows 0-19 weigh nothing and fill the first five batches: training must equal training on
    # rows 20-39 alone (same steps), where dividing by the batch's zero weight once gave NaN.
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((4, 40)), np.eye(3)[:, rng.integers(0, 3, 40)]
    weight = np.r_[np.zeros(20), np.ones(20)]
    nets = [DNN([4, 5, 3], "relu", "softmax", seed=0) for _ in range(2)]
    weighted = Trainer(nets[0], "adam", 0.01, batch_size=4, seed=0, shuffle=False)
    history = weighted.fit(X, Y, epochs=2, sample_weight=weight)
    alone = Trainer(nets[1], "adam", 0.01, batch_size=4, seed=0, shuffle=False).fit(
        X[:, 20:], Y[:, 20:], epochs=2
    )
    np.testing.assert_array_equal(nets[0].theta, nets[1].theta)
    assert weighted.optimizer.t == 10
    # the epoch's loss averages the batches by size, as scikit-learn's loss_curve_ does: half are 0
    np.testing.assert_allclose(history.loss, np.array(alone.loss) / 2, rtol=1e-12)
