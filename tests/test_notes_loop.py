"""The notes' training loop: full-batch gradient descent with the cost printed every N iterations."""

import numpy as np
import pytest

from mlpkit import DNN, train


def planar_batch(m=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((2, m))
    Y = (X[0:1] * X[1:2] > 0).astype(np.float64)  # XOR of the signs: needs the hidden layer
    return X, Y


def notes_loop(net, X, Y, learning_rate, iterations):
    """The loop as the notes write it: forward, cost, backward, update; the cost of each iteration."""
    costs = []
    for _ in range(iterations):
        AL, cache = net.forward(X)
        costs.append(net.loss(AL, Y))
        net.update(net.compute_gradients(AL, Y, cache), learning_rate)
    return costs


def test_full_batch_gd_is_the_notes_loop_and_prints_its_costs(capsys):
    X, Y = planar_batch()
    by_hand = DNN([2, 4, 1], "tanh", "sigmoid", seed=3, dtype="float64")
    costs = notes_loop(by_hand, X, Y, 1.2, 25)
    net = DNN([2, 4, 1], "tanh", "sigmoid", seed=3, dtype="float64")
    history = train(net, X, Y, optimizer="gd", learning_rate=1.2, batch_size=None, epochs=25, print_every=10)
    # shuffling reorders the columns of the one batch: the sums agree to rounding
    np.testing.assert_allclose(history.loss, costs, rtol=1e-12)
    np.testing.assert_allclose(net.theta, by_hand.theta, rtol=1e-10, atol=1e-12)
    lines = capsys.readouterr().out.splitlines()
    assert [line.rsplit(":", 1)[0] for line in lines] == [
        "Cost after iteration 0",
        "Cost after iteration 10",
        "Cost after iteration 20",
        "Cost after iteration 24",  # the last one, as the notes print it
    ]
    printed = [float(line.rsplit(":", 1)[1]) for line in lines]
    np.testing.assert_allclose(printed, [costs[0], costs[10], costs[20], costs[24]], rtol=1e-12)


def test_print_every_with_mini_batches_counts_epochs(capsys):
    X, Y = planar_batch()
    net = DNN([2, 4, 1], "tanh", "sigmoid", seed=3, dtype="float64")
    history = train(net, X, Y, optimizer="sgd", learning_rate=0.1, batch_size=32, epochs=3, print_every=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Cost after epoch 0: {history.loss[0]}", f"Cost after epoch 2: {history.loss[2]}"]


@pytest.mark.parametrize("every", [0, -1, 2.5, True])
def test_print_every_must_be_a_positive_integer(every):
    X, Y = planar_batch(m=8)
    net = DNN([2, 3, 1], "tanh", "sigmoid", seed=0)
    with pytest.raises(ValueError, match=rf"print_every must be an integer >= 1, got {every!r}"):
        train(net, X, Y, epochs=1, print_every=every)


def test_print_cost_is_a_callback_that_writes_where_asked():
    import io

    from mlpkit.training import PrintCost, Trainer

    X, Y = planar_batch(m=40)
    stream = io.StringIO()
    net = DNN([2, 3, 1], "tanh", "sigmoid", seed=0, dtype="float64")
    trainer = Trainer(net, "gd", 0.5, batch_size=40, epochs=4, callbacks=[PrintCost(3, stream=stream)])
    history = trainer.fit(X, Y)
    assert stream.getvalue().splitlines() == [
        f"Cost after iteration 0: {history.loss[0]}",
        f"Cost after iteration 3: {history.loss[3]}",
    ]
