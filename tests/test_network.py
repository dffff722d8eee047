"""DNN: the notes' formulas checked by worked examples, closed forms and a per-example loop oracle."""

import copy
import math
import pickle

import numpy as np
import pytest

from mlpkit import DNN, SGD


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def test_shapes_params_and_cache_keys():
    net = DNN([4, 5, 3, 2], "tanh", "softmax", seed=0)
    assert {k: v.shape for k, v in net.params.items()} == {
        "W1": (5, 4),
        "W2": (3, 5),
        "W3": (2, 3),
        "b1": (5, 1),
        "b2": (3, 1),
        "b3": (2, 1),
    }
    X = np.random.default_rng(0).standard_normal((4, 7))
    AL, cache = net.forward(X)
    assert sorted(cache) == ["A0", "A1", "A2", "A3", "Z1", "Z2", "Z3"]
    assert AL.shape == (2, 7) and AL is cache["A3"]
    grads = net.compute_gradients(AL, np.eye(2)[:, [0, 1, 0, 1, 1, 0, 0]], cache)
    assert sorted(grads) == ["dA1", "dA2", "dW1", "dW2", "dW3", "dZ1", "dZ2", "dZ3", "db1", "db2", "db3"]
    assert "dA0" in net.compute_gradients(AL, np.eye(2)[:, [0] * 7], cache, input_gradient=True)
    for name, value in net.params.items():
        assert grads["d" + name].shape == value.shape
    assert net.n_parameters == 5 * 4 + 5 + 3 * 5 + 3 + 2 * 3 + 2


def test_params_are_views_of_theta():
    net = DNN([3, 2, 1], seed=0)
    net.theta[:] = np.arange(net.n_parameters)
    np.testing.assert_array_equal(net.params["W1"], np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(net.params["W2"], [[6, 7]])
    np.testing.assert_array_equal(net.params["b1"], [[8], [9]])
    np.testing.assert_array_equal(net.params["b2"], [[10]])


def test_assigning_a_parameter_writes_into_theta():
    net = DNN([3, 2, 1], "relu", "sigmoid", seed=0)
    view = net.params["W1"]
    W = np.arange(6.0).reshape(2, 3)  # float64 into a float32 network: cast, as the view's dtype
    net.params["W1"] = W
    assert net.params["W1"] is view
    np.testing.assert_array_equal(net.theta[:6], np.arange(6.0))
    X = np.ones((3, 4))
    np.testing.assert_allclose(net.forward(X)[1]["Z1"], W @ X + net.params["b1"], rtol=1e-6)
    # the optimizer steps theta, so it updates the W1 that forward reads
    SGD({"theta": net.theta}, 0.5).step({"dtheta": np.ones_like(net.theta)})
    np.testing.assert_array_equal(net.params["W1"], W - 0.5)
    net.theta = np.zeros(net.n_parameters)
    assert not net.params["W1"].any() and net.params["W1"] is view


@pytest.mark.parametrize(
    "name, value, message",
    [
        (
            "W1",
            np.ones((3, 2)),
            r"params\['W1'\] must have shape \(n_1, n_0\) = \(2, 3\), got shape \(3, 2\)",
        ),
        ("b2", np.ones(1), r"params\['b2'\] must have shape \(n_2, 1\) = \(1, 1\), got shape \(1,\)"),
        ("b1", 0.0, r"params\['b1'\] must have shape \(n_1, 1\) = \(2, 1\), got shape \(\)"),
        ("W2", np.ones((1, 2), complex), r"params\['W2'\] must hold real numbers .* got dtype complex128"),
        ("W3", np.ones((1, 1)), r"Unknown parameter 'W3'; expected one of \['W1', 'W2', 'b1', 'b2'\]"),
    ],
)
def test_a_bad_parameter_assignment_raises_and_changes_nothing(name, value, message):
    net = DNN([3, 2, 1], seed=0)
    before = net.theta.copy()
    with pytest.raises(ValueError, match=message):
        net.params[name] = value
    np.testing.assert_array_equal(net.theta, before)
    assert sorted(net.params) == ["W1", "W2", "b1", "b2"]


def test_parameters_cannot_be_deleted_or_rebound():
    net = DNN([3, 2, 1], seed=0)
    with pytest.raises(TypeError, match=r"'W1' cannot be deleted"):
        del net.params["W1"]
    with pytest.raises(TypeError, match=r"cannot be deleted"):
        net.params.clear()
    with pytest.raises(AttributeError):
        net.params = {"W1": np.ones((2, 3))}
    with pytest.raises(ValueError, match=r"theta must be 11 real numbers, shape \(11,\); got shape \(10,\)"):
        net.theta = np.zeros(10)
    assert len(net.params) == 4


def _joblib_round_trip(net, tmp_path):
    joblib = pytest.importorskip("joblib", reason="joblib comes with scikit-learn, an optional extra")
    joblib.dump(net, tmp_path / "net.joblib")
    return joblib.load(tmp_path / "net.joblib")


@pytest.mark.parametrize("how", ["pickle", "deepcopy", "joblib"])
def test_a_copied_network_keeps_params_as_views_of_its_theta(how, tmp_path):
    net = DNN([3, 4, 2], "tanh", "softmax", seed=0)
    twin = {
        "pickle": lambda: pickle.loads(pickle.dumps(net)),
        "deepcopy": lambda: copy.deepcopy(net),
        "joblib": lambda: _joblib_round_trip(net, tmp_path),
    }[how]()
    np.testing.assert_array_equal(twin.theta, net.theta)
    assert not np.shares_memory(twin.theta, net.theta)
    for name in ("W1", "b1", "W2", "b2"):
        assert np.shares_memory(twin.params[name], twin.theta), name
    twin.params["W2"] = np.full((2, 4), 7.0)
    twin.theta[-1] = 5.0  # b2's last entry
    assert (twin.theta[12:20] == 7.0).all() and twin.params["b2"][-1, 0] == 5.0
    assert not (net.params["W2"] == 7.0).any()
    X = np.ones((3, 2))
    np.testing.assert_array_equal(
        twin.forward(X)[1]["Z2"], twin.params["W2"] @ twin.forward(X)[1]["A1"] + twin.params["b2"]
    )


def test_forward_matches_the_notes_equations():
    rng = np.random.default_rng(1)
    net = DNN([3, 4, 2], "relu", "softmax", seed=2, dtype="float64")
    X = rng.standard_normal((3, 5))
    W1, b1, W2, b2 = (net.params[k] for k in ("W1", "b1", "W2", "b2"))
    Z1 = W1 @ X + b1
    A1 = np.maximum(Z1, 0)
    Z2 = W2 @ A1 + b2
    A2 = np.exp(Z2) / np.exp(Z2).sum(axis=0)
    AL, cache = net.forward(X)
    np.testing.assert_allclose(cache["Z1"], Z1, rtol=1e-12)
    np.testing.assert_allclose(cache["A1"], A1, rtol=1e-12)
    np.testing.assert_allclose(AL, A2, rtol=1e-12)


def test_scalar_network_by_hand():
    """1-1-1 sigmoid network, one sample: every derivative by the chain rule on paper."""
    net = DNN([1, 1, 1], "sigmoid", "sigmoid", dtype="float64")
    w1, b1, w2, b2, x, y = 0.5, -0.2, 1.5, 0.3, 2.0, 1.0
    net.params["W1"][...] = w1
    net.params["b1"][...] = b1
    net.params["W2"][...] = w2
    net.params["b2"][...] = b2
    z1 = w1 * x + b1  # 0.8
    a1 = sigmoid(z1)
    z2 = w2 * a1 + b2
    a2 = sigmoid(z2)
    # L = -(y log a2 + (1-y) log(1-a2));  dL/dz2 = a2 - y
    dz2 = a2 - y
    dw2, db2 = dz2 * a1, dz2
    da1 = w2 * dz2
    dz1 = da1 * a1 * (1 - a1)
    dw1, db1 = dz1 * x, dz1
    AL, cache = net.forward(np.array([[x]]))
    assert AL[0, 0] == pytest.approx(a2, rel=1e-14)
    assert net.loss(AL, np.array([[y]])) == pytest.approx(-math.log(a2), rel=1e-14)
    grads = net.compute_gradients(AL, np.array([[y]]), cache)
    for key, value in {
        "dZ2": dz2,
        "dW2": dw2,
        "db2": db2,
        "dA1": da1,
        "dZ1": dz1,
        "dW1": dw1,
        "db1": db1,
    }.items():
        assert grads[key].item() == pytest.approx(value, rel=1e-13), key


def per_example_backprop(net, X, Y):
    """Backprop one example and one unit at a time, by the scalar chain rule (no matrix products)."""
    L = net.L
    W = [None] + [net.params[f"W{l}"] for l in range(1, L + 1)]
    b = [None] + [net.params[f"b{l}"][:, 0] for l in range(1, L + 1)]
    dW = [None] + [np.zeros_like(W[l]) for l in range(1, L + 1)]
    db = [None] + [np.zeros_like(b[l]) for l in range(1, L + 1)]
    m = X.shape[1]
    for i in range(m):
        a = [list(X[:, i])]
        for l in range(1, L + 1):
            z = [
                sum(W[l][j, k] * a[l - 1][k] for k in range(len(a[l - 1]))) + b[l][j]
                for j in range(len(b[l]))
            ]
            a.append([sigmoid(zj) for zj in z])
        delta = [a[L][j] - Y[j, i] for j in range(len(a[L]))]
        for l in range(L, 0, -1):
            for j in range(len(delta)):
                db[l][j] += delta[j] / m
                for k in range(len(a[l - 1])):
                    dW[l][j, k] += delta[j] * a[l - 1][k] / m
            if l > 1:
                delta = [
                    sum(W[l][j, k] * delta[j] for j in range(len(delta))) * a[l - 1][k] * (1 - a[l - 1][k])
                    for k in range(len(a[l - 1]))
                ]
    return dW, db


def test_notes_2_3_3_1_sigmoid_network_one_step():
    """The notes' 2-3-3-1 network: backprop equals a per-example scalar loop; one update as the notes."""
    net = DNN([2, 3, 3, 1], "sigmoid", "sigmoid", seed=3, dtype="float64")
    X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
    Y = np.array([[0.0, 1.0, 1.0, 0.0]])
    expected_dW, expected_db = per_example_backprop(net, X, Y)
    AL, cache = net.forward(X)
    grads = net.compute_gradients(AL, Y, cache)
    before = {k: v.copy() for k, v in net.params.items()}
    for l in range(1, 4):
        np.testing.assert_allclose(grads[f"dW{l}"], expected_dW[l], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(grads[f"db{l}"][:, 0], expected_db[l], rtol=1e-12, atol=1e-15)
    alpha = 0.75
    net.update(grads, alpha)
    for l in range(1, 4):
        np.testing.assert_allclose(net.params[f"W{l}"], before[f"W{l}"] - alpha * expected_dW[l], rtol=1e-12)
        np.testing.assert_allclose(
            net.params[f"b{l}"][:, 0], before[f"b{l}"][:, 0] - alpha * expected_db[l], rtol=1e-12
        )


def test_logistic_regression_is_the_network_without_hidden_layer():
    """One update equals the notes' w = w - alpha (1/m) X dZ^T, b = b - alpha db."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3, 6))
    Y = (rng.random((1, 6)) > 0.5).astype(float)
    net = DNN([3, 1], output_activation="sigmoid", seed=5, dtype="float64")
    w = net.params["W1"].T.copy()  # the notes' column vector w, shape (n_x, 1)
    b = net.params["b1"].item()
    m, alpha = X.shape[1], 0.1
    A = 1.0 / (1.0 + np.exp(-(np.dot(w.T, X) + b)))
    dZ = A - Y
    dw = (1 / m) * np.dot(X, dZ.T)
    db = (1 / m) * np.sum(dZ)
    AL, cache = net.forward(X)
    np.testing.assert_allclose(AL, A, rtol=1e-12)
    net.update(net.compute_gradients(AL, Y, cache), alpha)
    np.testing.assert_allclose(net.params["W1"].T, w - alpha * dw, rtol=1e-12)
    assert net.params["b1"].item() == pytest.approx(b - alpha * db, rel=1e-12)


def test_dZ_L_is_A_minus_Y_for_every_output_pair():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((3, 4))
    for output, Y in {
        "sigmoid": (rng.random((2, 4)) > 0.5) * 1.0,
        "softmax": np.eye(2)[:, [0, 1, 1, 0]],
        "identity": rng.standard_normal((2, 4)),
    }.items():
        net = DNN([3, 5, 2], "tanh", output, seed=0, dtype="float64")
        AL, cache = net.forward(X)
        grads = net.compute_gradients(AL, Y, cache)
        np.testing.assert_allclose(grads["dZ2"], AL - Y, rtol=1e-14)
        # dW_l = (1/m) dZ_l A_{l-1}^T, db_l = (1/m) sum dZ_l, dA_{l-1} = W_l^T dZ_l, dZ_l = dA_l * g'(Z_l)
        np.testing.assert_allclose(grads["dW2"], (AL - Y) @ cache["A1"].T / 4, rtol=1e-12)
        np.testing.assert_allclose(grads["db2"], (AL - Y).sum(axis=1, keepdims=True) / 4, rtol=1e-12)
        np.testing.assert_allclose(grads["dA1"], net.params["W2"].T @ (AL - Y), rtol=1e-12)
        np.testing.assert_allclose(grads["dZ1"], grads["dA1"] * (1 - np.tanh(cache["Z1"]) ** 2), rtol=1e-12)


def test_init_he_for_relu_glorot_otherwise_and_seeded():
    wide = DNN([400, 300, 200], "relu", "sigmoid", seed=0, dtype="float64")
    assert wide.params["W1"].std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    limit = math.sqrt(6 / (300 + 200))  # output layer is sigmoid: Glorot uniform
    assert np.abs(wide.params["W2"]).max() <= limit
    assert wide.params["W2"].std() == pytest.approx(limit / math.sqrt(3), rel=0.02)
    assert not wide.params["b1"].any()
    again = DNN([400, 300, 200], "relu", "sigmoid", seed=0, dtype="float64")
    np.testing.assert_array_equal(wide.theta, again.theta)
    custom = DNN([2, 3, 1], initializer=lambda rng, fan_in, fan_out: np.full((fan_out, fan_in), 0.5))
    assert (custom.params["W1"] == 0.5).all()


def test_dtype_float32_by_default_and_float64_on_request():
    X = np.ones((2, 3))
    net = DNN([2, 3, 1], seed=0)
    assert net.theta.dtype == np.float32 and net.forward(X)[0].dtype == np.float32
    assert DNN([2, 3, 1], seed=0, dtype="float64").forward(X)[0].dtype == np.float64


def test_predict_and_predict_proba():
    net = DNN([2, 3], "relu", "softmax", seed=0, dtype="float64")
    X = np.random.default_rng(0).standard_normal((2, 10))
    proba = net.predict_proba(X)
    np.testing.assert_allclose(proba, net.forward(X)[0], rtol=1e-12)
    np.testing.assert_array_equal(net.predict(X), proba.argmax(axis=0))
    binary = DNN([2, 1], output_activation="sigmoid", seed=0)
    np.testing.assert_array_equal(binary.predict(X), (binary.predict_proba(X) > 0.5).astype(int))


def test_dropout_masks_and_scales_hidden_layers():
    net = DNN([50, 400, 3], "relu", "softmax", seed=0, dtype="float64")
    X = np.abs(np.random.default_rng(0).standard_normal((50, 20)))
    AL, cache = net.forward(X, dropout=0.25, rng=np.random.default_rng(1))
    D = cache["D1"]
    assert set(np.unique(D)) == {0.0, 1 / 0.75}
    assert abs((D == 0).mean() - 0.25) < 0.02
    np.testing.assert_allclose(cache["A1"], cache["G1"] * D)
    # predict never drops: deterministic and equal to the undropped forward pass
    np.testing.assert_array_equal(net.predict_proba(X), net.predict_proba(X))
    np.testing.assert_allclose(net.predict_proba(X), net.forward(X)[0], rtol=1e-12)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (([3, 0, 1],), {}, r"layer_sizes\[1\] must be an integer >= 1, got 0"),
        (([3],), {}, r"layer_sizes must hold at least \[n_x, n_L\]"),
        (([3, 2.5, 1],), {}, r"layer_sizes\[1\] must be an integer"),
        (([3, 4, 1], "swish"), {}, r"Unknown activation 'swish'; expected one of"),
        (
            ([3, 4, 1], "relu", "swish"),
            {},
            r"Unknown output_activation 'swish'; expected one of \['exp', 'identity', 'leaky_relu', 'relu', "
            r"'sigmoid', 'softmax', 'tanh'\]",
        ),
        (([3, 4, 4, 1], ["relu"]), {}, r"hidden_activation has 1 names but the network has 2 hidden layers"),
        (([3, 4, 1],), {"dtype": "int8"}, r"Unknown dtype 'int8'; expected one of \['float32', 'float64'\]"),
        (([3, 4, 1],), {"initializer": "zeros"}, r"Unknown initializer 'zeros'; expected one of"),
    ],
)
def test_bad_construction_raises_clear_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        DNN(*args, **kwargs)


def test_bad_calls_raise_clear_errors():
    net = DNN([3, 4, 2], "relu", "softmax", seed=0)
    with pytest.raises(ValueError, match=r"X has 4 rows but the network expects n_x = 3"):
        net.forward(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"X must be 2-D"):
        net.forward(np.ones(3))
    with pytest.raises(ValueError, match=r"must hold real numbers"):
        net.forward(np.array([["a"] * 2] * 3))
    AL, cache = net.forward(np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"Y has shape \(2, 4\) but AL has shape \(2, 5\)"):
        net.compute_gradients(AL, np.ones((2, 4)), cache)
    with pytest.raises(ValueError, match=r"Y has shape"):
        net.loss(AL, np.ones((1, 5)))
    with pytest.raises(ValueError, match=r"Invalid learning rate: -0.1"):
        net.update(net.compute_gradients(AL, np.ones((2, 5)), cache), -0.1)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        net.forward(np.ones((3, 5)), dropout=1.0, rng=np.random.default_rng(0))


def test_backward_through_a_tanh_output_by_hand():
    """1-1-1 network, relu hidden, tanh output, the user's loss l = (a - y)^2: the chain rule on paper."""
    net = DNN([1, 1, 1], "relu", "tanh", dtype="float64")
    w1, b1, w2, b2, x, y = 0.5, -0.2, 1.5, 0.3, 2.0, 0.25
    for name, value in {"W1": w1, "b1": b1, "W2": w2, "b2": b2}.items():
        net.params[name][...] = value
    z1 = w1 * x + b1  # 0.8 > 0: relu passes it
    a1 = z1
    a2 = math.tanh(w2 * a1 + b2)
    da2 = 2.0 * (a2 - y)  # dl/da for l = (a - y)^2
    dz2 = da2 * (1.0 - a2**2)  # tanh'(z) = 1 - a^2
    da1 = w2 * dz2
    dz1 = da1 * 1.0  # relu'(z1) = 1
    AL, cache = net.forward(np.array([[x]]))
    assert AL.item() == pytest.approx(a2, rel=1e-14)
    grads = net.backward(2.0 * (AL - y), cache, input_gradient=True)
    expected = {"dZ2": dz2, "dW2": dz2 * a1, "db2": dz2, "dA1": da1, "dZ1": dz1, "dW1": dz1 * x, "db1": dz1}
    expected["dA0"] = w1 * dz1
    for key, value in expected.items():
        assert grads[key].item() == pytest.approx(value, rel=1e-13), key


@pytest.mark.parametrize("output", ["relu", "tanh", "leaky_relu"])
def test_an_output_with_no_paired_loss_runs_forward_and_backward_and_says_why_it_has_no_loss(output, rng):
    net = DNN([3, 4, 2], "tanh", output, seed=0, dtype="float64")
    X = rng.standard_normal((3, 5))
    AL, cache = net.forward(X)
    np.testing.assert_allclose(net.predict_proba(X), AL, rtol=1e-14)
    grads = net.backward(np.ones_like(AL), cache)
    assert grads["dW1"].shape == (4, 3) and grads["db2"].shape == (2, 1)
    why = rf"output_activation '{output}' has no loss of its own .* call net.backward\(dA_L, cache\)"
    with pytest.raises(ValueError, match=why):
        net.compute_gradients(AL, np.zeros_like(AL), cache)
    with pytest.raises(ValueError, match=why):
        net.loss(AL, np.zeros_like(AL))
    from mlpkit import train

    with pytest.raises(ValueError, match=why):
        train(net, X, np.zeros_like(AL), epochs=1)


def test_backward_checks_dAL_against_the_cache():
    net = DNN([3, 4, 2], "relu", "softmax", seed=0)
    AL, cache = net.forward(np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"dAL has shape \(2, 4\) but AL has shape \(2, 5\)"):
        net.backward(np.ones((2, 4)), cache)


def _html_rows(markup):
    """The cells of each row of the HTML tables in ``markup``, and their captions."""
    from html.parser import HTMLParser

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.captions, self.where = [], [], None

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])
            if tag in ("td", "th", "caption"):
                self.where = tag
                (self.rows[-1] if tag != "caption" else self.captions).append("")

        def handle_endtag(self, tag):
            self.where = None

        def handle_data(self, data):
            if self.where == "caption":
                self.captions[-1] += data
            elif self.where:
                self.rows[-1][-1] += data

    parser = Cells()
    parser.feed(markup)
    return parser.rows, parser.captions


def test_repr_html_lists_layers_shapes_activations_and_parameter_counts():
    net = DNN([784, 256, 128, 10], ["relu", "tanh"], "softmax", seed=0)
    rows, captions = _html_rows(net._repr_html_())
    assert rows[0] == ["layer", "units n_l", "W_l", "b_l", "activation g_l", "parameters"]
    # n_l n_{l-1} + n_l per layer: 200,960, 32,896 and 1,290, 235,146 in all
    assert rows[2] == ["1 (hidden)", "256", "(256, 784)", "(256, 1)", "relu", "200,960"]
    assert rows[3] == ["2 (hidden)", "128", "(128, 256)", "(128, 1)", "tanh", "32,896"]
    assert rows[4] == ["3 (output)", "10", "(10, 128)", "(10, 1)", "softmax", "1,290"]
    assert rows[5][0] == "total" and rows[5][-1] == f"{net.n_parameters:,}" == "235,146"
    assert "categorical cross entropy" in captions[0] and "float32" in captions[0]
    assert "no paired loss" in DNN([2, 3], [], "relu")._repr_html_()


def test_model_repr_html_shows_task_labels_and_the_network():
    from mlpkit import Model

    model = Model(DNN([4, 3, 3], "relu", "softmax", seed=0), labels=["cat", "dog", "<bird>"])
    rows, captions = _html_rows(model._repr_html_())
    assert ["task", "multiclass"] in rows and ["labels", "cat, dog, <bird>"] in rows
    assert captions[0] == "Model: 4 inputs, multiclass" and captions[1].startswith("network 4")
    assert ["total", "", "", "", "", "27"] in rows  # (3*4 + 3) + (3*3 + 3)
    assert "&lt;bird&gt;" in model._repr_html_()  # labels are escaped
