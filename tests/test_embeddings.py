"""Learned inputs: ``A0 = [X_dense ; E_c[:, codes_c] ...]`` and ``dE_c`` from ``dA0 = W_1^T dZ_1``.

The oracles: centered finite differences of the mean cost ``J`` (float64), and PyTorch's
``nn.Embedding`` under autograd in a network of torch operations equal to the DNN.
"""

import copy
import pickle

import numpy as np
import pytest

from conftest import make_targets
from mlpkit import DNN
from mlpkit.embeddings import EmbeddingInput, embedding_backward, embedding_forward

N_DENSE, VOCABULARY, DIMENSIONS = 3, (6, 4), (2, 3)
M = 9
# column 0: code 2 three times, codes 0, 4 and 5 never; column 1: code 1 four times, code 3 never
CODES = np.array([[2, 1, 2, 3, 2, 1, 3, 1, 3], [1, 0, 1, 2, 1, 2, 0, 1, 2]])


def problem(output="softmax", hidden="tanh", seed=0, vocabulary=VOCABULARY):
    rng = np.random.default_rng(seed)
    inputs = EmbeddingInput(N_DENSE, vocabulary, DIMENSIONS, seed=1, dtype="float64")
    net = DNN([inputs.n_x, 5, 3], hidden, output, seed=2, dtype="float64")
    net.theta[net.n_weights :] = rng.normal(0.0, 0.1, net.n_parameters - net.n_weights)
    X = rng.standard_normal((N_DENSE, M))
    Y = make_targets(output, 3, M, rng)
    return inputs, net, X, Y


def cost(inputs, net, X, Y, codes, sample_weight=None) -> float:
    AL, _ = net.forward(inputs.forward(X, codes))
    return net.loss(AL, Y, sample_weight)


def backprop(inputs, net, X, Y, codes, sample_weight=None) -> np.ndarray:
    """dphi through the notes' path: forward, compute_gradients(input_gradient=True), backward."""
    AL, cache = net.forward(inputs.forward(X, codes))
    grads = net.compute_gradients(AL, Y, cache, input_gradient=True, sample_weight=sample_weight)
    return inputs.backward(grads["dA0"], codes)


def test_A0_stacks_the_dense_rows_and_the_looked_up_columns():
    inputs, _, X, _ = problem()
    A0 = inputs.forward(X, CODES)
    E1, E2 = inputs.tables
    assert A0.shape == (N_DENSE + 2 + 3, M)
    np.testing.assert_array_equal(A0[:3], X)
    for i in range(M):  # sample i, by hand
        np.testing.assert_array_equal(A0[3:5, i], E1[:, CODES[0, i]])
        np.testing.assert_array_equal(A0[5:8, i], E2[:, CODES[1, i]])
    np.testing.assert_array_equal(embedding_forward(E2, CODES[1]), A0[5:8])


def test_the_tables_are_views_into_phi():
    inputs = EmbeddingInput(0, (3, 2), (2, 1), seed=0, dtype="float64")
    E1, E2 = inputs.tables
    assert inputs.n_parameters == 3 * 2 + 2 * 1 == inputs.phi.size
    inputs.phi[...] = np.arange(8)
    np.testing.assert_array_equal(E1, [[0, 1, 2], [3, 4, 5]])  # (d_1, n_1), row-major
    np.testing.assert_array_equal(E2, [[6, 7]])
    inputs.phi = np.zeros(8)
    assert not E1.any() and inputs.phi.base is None
    with pytest.raises(ValueError, match="phi must be 8 real numbers"):
        inputs.phi = np.zeros(7)


@pytest.mark.parametrize("n_c", [4, 9], ids=["vocabulary within the batch", "larger than the batch"])
def test_hand_computed_gradient_of_repeated_and_absent_codes(n_c):
    dA = np.array([[1.0, 2.0, 4.0, 8.0], [-1.0, 0.5, 0.25, 3.0]])  # (d_c = 2, m = 4)
    codes = np.array([1, 3, 1, 0])  # code 1 twice, code 2 never
    dE = embedding_backward(dA, codes, n_c)
    expected = np.zeros((2, n_c))
    expected[:, :4] = np.array([[8.0, 1.0 + 4.0, 0.0, 2.0], [3.0, -1.0 + 0.25, 0.0, 0.5]]) / 4
    np.testing.assert_array_equal(dE, expected)
    out = np.full((2, n_c), np.nan)
    assert embedding_backward(dA, codes, n_c, scale=1.0, out=out) is out
    np.testing.assert_array_equal(out, expected * 4)


LARGE = (40, 4)  # column 0's vocabulary is larger than the batch: summed over the values present


@pytest.mark.parametrize("vocabulary", [VOCABULARY, LARGE], ids=["small", "large"])
@pytest.mark.parametrize("weighted", [False, True], ids=["mean", "weighted mean"])
@pytest.mark.parametrize("output", ["sigmoid", "softmax", "identity"])
def test_dE_equals_centered_finite_differences_of_J(output, weighted, vocabulary):
    inputs, net, X, Y = problem(output, vocabulary=vocabulary)
    weight = np.random.default_rng(3).uniform(0.1, 2.0, M) if weighted else None
    dphi = backprop(inputs, net, X, Y, CODES, weight)
    h = 1e-6
    numeric = np.empty_like(dphi)
    for j in range(inputs.phi.size):
        saved = inputs.phi[j]
        inputs.phi[j] = saved + h
        plus = cost(inputs, net, X, Y, CODES, weight)
        inputs.phi[j] = saved - h
        minus = cost(inputs, net, X, Y, CODES, weight)
        inputs.phi[j] = saved
        numeric[j] = (plus - minus) / (2 * h)
    np.testing.assert_allclose(dphi, numeric, rtol=1e-6, atol=1e-9)
    dE1, dE2 = inputs.views(dphi).values()
    assert not dE1[:, [0, 4, 5, -1]].any() and not dE2[:, 3].any()  # values absent from the batch
    assert np.abs(dE1[:, 2]).min() > 0  # the value that occurs three times


def test_backward_takes_the_whole_dA0_or_its_embedded_rows():
    inputs, net, X, Y = problem()
    AL, cache = net.forward(inputs.forward(X, CODES))
    dA0 = net.compute_gradients(AL, Y, cache, input_gradient=True)["dA0"]
    whole = inputs.backward(dA0, CODES)
    np.testing.assert_array_equal(inputs.backward(dA0[N_DENSE:], CODES), whole)
    np.testing.assert_allclose(inputs.backward(dA0[N_DENSE:] / M, CODES, scale=1.0), whole, rtol=1e-13)
    with pytest.raises(ValueError, match="dA0 has 4 rows; expected n_x = 8 or the 5 embedded rows"):
        inputs.backward(dA0[:4], CODES)


def torch_cost(torch, output, ZL, Y, weight):
    """The (weighted) mean loss J from logits, by PyTorch's own functions."""
    if output == "sigmoid":
        per_sample = torch.nn.functional.binary_cross_entropy_with_logits(ZL, Y, reduction="none").sum(0)
    elif output == "softmax":
        per_sample = torch.nn.functional.cross_entropy(ZL.T, Y.T.argmax(dim=1), reduction="none")
    else:
        per_sample = 0.5 * ((ZL - Y) ** 2).sum(0)
    return (per_sample * weight).sum() / weight.sum()


@pytest.mark.parametrize("vocabulary", [VOCABULARY, LARGE], ids=["small", "large"])
@pytest.mark.parametrize("weighted", [False, True], ids=["mean", "weighted mean"])
@pytest.mark.parametrize("output", ["sigmoid", "softmax", "identity"])
@pytest.mark.parametrize("hidden", ["relu", "tanh"])
def test_dE_equals_torch_embedding_autograd(hidden, output, weighted, vocabulary):
    torch = pytest.importorskip("torch")  # a test-only oracle (torch==2.13.0)
    inputs, net, X, Y = problem(output, hidden, seed=4, vocabulary=vocabulary)
    weight = np.random.default_rng(5).uniform(0.1, 2.0, M) if weighted else np.ones(M)
    dphi = backprop(inputs, net, X, Y, CODES, weight if weighted else None)

    sizes = zip(vocabulary, DIMENSIONS, strict=True)
    tables = [torch.nn.Embedding(n_c, d_c, dtype=torch.float64) for n_c, d_c in sizes]
    with torch.no_grad():
        for table, E in zip(tables, inputs.tables, strict=True):
            table.weight.copy_(torch.tensor(E.T))  # nn.Embedding holds one row per value: E_c^T
    looked_up = [table(torch.tensor(CODES[c])).T for c, table in enumerate(tables)]  # (d_c, m) each
    A = torch.cat([torch.tensor(X), *looked_up], dim=0)  # A0  (n_x, m)
    params = {name: torch.tensor(value) for name, value in net.params.items()}
    activation = {"relu": torch.relu, "tanh": torch.tanh}[hidden]
    A = activation(params["W1"] @ A + params["b1"])
    ZL = params["W2"] @ A + params["b2"]
    torch_cost(torch, output, ZL, torch.tensor(Y), torch.tensor(weight)).backward()

    for dE, table in zip(inputs.views(dphi).values(), tables, strict=True):
        np.testing.assert_allclose(dE, table.weight.grad.numpy().T, rtol=1e-10, atol=1e-14)


def test_initialization_is_seeded_and_has_variance_one_over_d():
    for initializer in ("normal", "uniform"):
        a = EmbeddingInput(0, (4000,), (5,), seed=7, initializer=initializer, dtype="float64")
        b = EmbeddingInput(0, (4000,), (5,), seed=7, initializer=initializer, dtype="float64")
        np.testing.assert_array_equal(a.phi, b.phi)
        assert a.phi.var() == pytest.approx(1 / 5, rel=0.03)
        assert np.abs(a.phi.mean()) < 0.01
    uniform = EmbeddingInput(0, (4000,), (5,), seed=7, initializer="uniform")
    assert np.abs(uniform.phi).max() <= np.sqrt(3 / 5)
    assert uniform.phi.dtype == np.float32


def test_codes_are_checked_with_the_column_and_the_sample_named():
    inputs = EmbeddingInput(2, (5, 3), (2, 2))
    assert inputs.check_codes(CODES[:, :4].astype(np.int8), 4).dtype == np.int64
    with pytest.raises(ValueError, match=r"codes must have shape \(C, m\) = \(2, 9\)"):
        inputs.check_codes(CODES.T, 9)
    with pytest.raises(ValueError, match="codes must hold integer codes, got dtype float64"):
        inputs.check_codes(CODES.astype(float))
    with pytest.raises(ValueError, match=r"row 1 \(embedded column 1\) holds code 3 at sample 4; .*\[0, 3\)"):
        inputs.check_codes(np.array([[0, 1, 2, 4, 4], [0, 1, 2, 2, 3]]))
    with pytest.raises(ValueError, match="holds code -1 at sample 0"):
        inputs.check_codes(np.array([[-1], [0]]), name="codes")


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match=r"dimensions\[1\] must be an integer >= 1, got 0"):
        EmbeddingInput(1, (3, 3), (2, 0))
    with pytest.raises(ValueError, match="vocabulary_sizes lists 2 columns but dimensions lists 1"):
        EmbeddingInput(1, (3, 3), (2,))
    with pytest.raises(ValueError, match="n_dense must be an integer >= 0"):
        EmbeddingInput(-1, (3,), (2,))
    with pytest.raises(ValueError, match=r"Unknown initializer 'he'; expected one of \['normal',"):
        EmbeddingInput(1, (3,), (2,), initializer="he")


@pytest.mark.parametrize("round_trip", [lambda x: pickle.loads(pickle.dumps(x)), copy.deepcopy])
def test_a_copy_keeps_its_tables_as_views_into_its_own_phi(round_trip):
    inputs = EmbeddingInput(2, (5, 3), (2, 2), seed=3)
    copied = round_trip(inputs)
    np.testing.assert_array_equal(copied.phi, inputs.phi)
    copied.phi[...] = 0.0
    assert not any(E.any() for E in copied.tables) and inputs.phi.any()
    assert (
        copied.config()
        == inputs.config()
        == {
            "n_dense": 2,
            "vocabulary_sizes": [5, 3],
            "dimensions": [2, 2],
            "dtype": "float32",
        }
    )
