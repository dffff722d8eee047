"""Sparse input (scipy CSR/CSC): the same numbers as the dense matrix, and never densified.

Oracles: the dense path on ``X.toarray()`` (itself tested against finite differences, PyTorch
and scikit-learn), scikit-learn's own MLP on the same sparse matrix, and ``tracemalloc`` for
the memory a large sparse fit allocates.
"""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor

from mlpkit import DNN
from mlpkit.fast.step import FastStep
from mlpkit.sklearn import MLPClassifier, MLPRegressor
from mlpkit.sparse import first_nonfinite, is_sparse, matmul
from mlpkit.training import Trainer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FORMATS = [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.csc_array]


def sparse_rows(m=120, n=40, density=0.15, seed=0):
    """Non-negative sparse rows ``(m, n)`` as a dense array (about ``density`` of them nonzero)."""
    rng = np.random.default_rng(seed)
    return rng.random((m, n)) * (rng.random((m, n)) < density)


def one_hot(labels, n_classes):
    return np.eye(n_classes)[labels]


# ---------------------------------------------------------------------- the engine
def test_matmul_with_a_sparse_factor_equals_the_dense_product():
    rng = np.random.default_rng(0)
    A, W, dZ = sparse_rows(7, 5).T, rng.standard_normal((3, 5)), rng.standard_normal((3, 7))
    S = sp.csc_matrix(A)  # (n_x, m) = (5, 7): columns are samples
    np.testing.assert_allclose(matmul(W, S), W @ A, rtol=1e-12)  # Z = W A0
    out = np.empty((3, 5))
    assert matmul(dZ, S.T, out=out) is out  # dW = dZ A0^T, into a gradient view
    np.testing.assert_allclose(out, dZ @ A.T, rtol=1e-12)
    np.testing.assert_allclose(matmul(S.T, W.T), A.T @ W.T, rtol=1e-12)  # the sparse factor first
    assert is_sparse(S) and not is_sparse(A) and not is_sparse([[1.0]])


def test_forward_gradients_and_predictions_on_a_sparse_A0_equal_the_dense_ones():
    rows = sparse_rows()
    Y = one_hot(np.random.default_rng(1).integers(0, 3, rows.shape[0]), 3).T
    net = DNN([40, 8, 6, 3], "tanh", "softmax", seed=0, dtype="float64")
    dense_AL, dense_cache = net.forward(rows.T)
    sparse_AL, sparse_cache = net.forward(sp.csr_matrix(rows).T)
    assert is_sparse(sparse_cache["A0"])  # the cache keeps the sparse input, not a dense copy
    np.testing.assert_allclose(sparse_AL, dense_AL, rtol=1e-12)
    dense = net.compute_gradients(dense_AL, Y, dense_cache, input_gradient=True)
    sparse = net.compute_gradients(sparse_AL, Y, sparse_cache, input_gradient=True)
    for name in dense:
        np.testing.assert_allclose(sparse[name], dense[name], rtol=1e-10, atol=1e-14, err_msg=name)
    predicted = net.predict_proba(sp.csr_matrix(rows.T))  # columns as CSR: made CSC, then sliced
    np.testing.assert_allclose(predicted, net.predict_proba(rows.T), rtol=1e-12)


def test_a_nan_in_sparse_data_is_named_by_row_and_column():
    rows = sparse_rows(10, 6)
    rows[4, 2] = np.nan
    net = DNN([6, 3, 1], seed=0)
    assert first_nonfinite(sp.csr_matrix(rows)) == (4, 2)
    message = r"X \(as rows x features\) contains NaN or infinity at row 4, column 2"
    with pytest.raises(ValueError, match=message):
        Trainer(net, batch_size=4, progress=False).fit(sp.csr_matrix(rows).T, np.zeros((1, 10)), 1)


# ---------------------------------------------------------------------- the trainer's step
@pytest.mark.parametrize("hidden", [[], [16, 8]])
@pytest.mark.parametrize("use_kernels", [True, False])
@pytest.mark.parametrize("dropout, weighted", [(0.0, False), (0.3, True)])
def test_the_fast_step_on_sparse_rows_equals_the_step_on_dense_rows(hidden, use_kernels, dropout, weighted):
    rows = sparse_rows()
    targets = one_hot(np.random.default_rng(2).integers(0, 3, rows.shape[0]), 3)
    index = np.random.default_rng(3).permutation(rows.shape[0])[:32]
    weight = np.random.default_rng(4).random(32) if weighted else None
    results = []
    for X in (rows, sp.csr_matrix(rows)):
        net = DNN([40, *hidden, 3], "relu", "softmax", seed=0, dtype="float64")
        step = FastStep(net, np.zeros_like(net.theta), use_kernels=use_kernels)
        loss, hits, AL, _ = step(X, targets, index, weight, dropout, np.random.default_rng(5))
        results.append((loss, hits, AL.copy(), step.gradient.copy()))
    (dense_loss, dense_hits, dense_AL, dense_gradient), (loss, hits, AL, gradient) = results
    assert loss == pytest.approx(dense_loss, rel=1e-12) and hits == dense_hits
    np.testing.assert_allclose(AL, dense_AL, rtol=1e-12)
    np.testing.assert_allclose(gradient, dense_gradient, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("columns", [sp.csc_matrix, sp.csr_matrix], ids=["csr rows", "csc rows"])
def test_trainer_fit_on_sparse_columns_equals_fit_on_the_dense_matrix(columns):
    rows = sparse_rows(200)
    Y = one_hot(np.random.default_rng(6).integers(0, 3, 200), 3).T
    weight = np.random.default_rng(7).random(200)
    weight[:40] = 0.0  # some mini-batches may hold only rows of weight 0: they count hits, take no step
    histories, thetas = [], []
    for X in (rows.T, columns(rows.T)):
        net = DNN([40, 12, 3], "relu", "softmax", seed=0, dtype="float64")
        trainer = Trainer(net, "adam", 0.01, batch_size=16, seed=3, validation_fraction=0.2, progress=False)
        histories.append(trainer.fit(X, Y, 4, sample_weight=weight))
        thetas.append(net.theta)
    np.testing.assert_allclose(thetas[1], thetas[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(histories[1].val_loss, histories[0].val_loss, rtol=1e-10)
    np.testing.assert_allclose(histories[1].accuracy, histories[0].accuracy, rtol=1e-12)


# ---------------------------------------------------------------------- the estimators
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("to_sparse", FORMATS, ids=lambda f: f.__name__)
def test_estimators_fit_on_sparse_equals_fit_on_dense(solver, to_sparse):
    X, y = load_digits(n_class=4, return_X_y=True)
    X = X / 16.0
    params = dict(hidden_layer_sizes=(20,), solver=solver, max_iter=15, random_state=0, dtype="float64")
    for make, target in ((MLPRegressor, y / 3.0), (MLPClassifier, y)):
        dense = make(**params).fit(X, target)
        sparse = make(**params).fit(to_sparse(X), target)
        fitted = zip(sparse.coefs_ + sparse.intercepts_, dense.coefs_ + dense.intercepts_, strict=True)
        for ours, expected in fitted:
            np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(sparse.predict(to_sparse(X)), dense.predict(X), rtol=1e-9, atol=1e-12)
        assert sparse.score(to_sparse(X), target) == pytest.approx(dense.score(X, target), rel=1e-12)
    np.testing.assert_array_equal(sparse.predict(to_sparse(X)), dense.predict(X))  # the same labels
    np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-10)


def test_float32_early_stopping_partial_fit_and_predict_proba_on_sparse_rows():
    X, y = load_digits(n_class=3, return_X_y=True)
    X = sp.csr_matrix(X / 16.0)
    params = dict(hidden_layer_sizes=(16,), early_stopping=True, max_iter=12, random_state=0)
    dense = MLPClassifier(**params).fit(X.toarray(), y)
    sparse = MLPClassifier(**params).fit(X, y)
    np.testing.assert_allclose(sparse.validation_scores_, dense.validation_scores_, atol=1e-3)
    np.testing.assert_allclose(sparse.predict_proba(X), dense.predict_proba(X.toarray()), atol=1e-4)
    assert sparse.predict_proba(X).dtype == np.float64  # the input's dtype, as for dense rows
    for model, rows in ((dense, X.toarray()), (sparse, X)):
        model.set_params(early_stopping=False).partial_fit(rows[:100], y[:100])
    np.testing.assert_allclose(sparse.coefs_[0], dense.coefs_[0], atol=1e-4)


def test_scikit_learns_test_sparse_matrices():
    # scikit-learn's test_sparse_matrices (sklearn/neural_network/tests/test_mlp.py), as it is
    X, y = load_digits(n_class=2, return_X_y=True)
    X, y = X[:50], y[:50]
    for container in (sp.csr_matrix, sp.csr_array):
        X_sparse = container(X)
        mlp = MLPClassifier(solver="lbfgs", hidden_layer_sizes=15, random_state=1)
        mlp.fit(X, y)
        pred1 = mlp.predict(X)
        mlp.fit(X_sparse, y)
        pred2 = mlp.predict(X_sparse)
        np.testing.assert_almost_equal(pred1, pred2)
        np.testing.assert_array_equal(mlp.predict(X), mlp.predict(X_sparse))


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_sparse_fits_follow_scikit_learns_mlp_on_the_same_sparse_matrix(solver):
    X = sp.csr_matrix(sparse_rows(90, 12, density=0.3, seed=8))
    y = X @ np.random.default_rng(9).standard_normal(12) + 0.5
    rng = np.random.default_rng(10)
    coefs = [rng.uniform(-0.5, 0.5, (12, 5)), rng.uniform(-0.5, 0.5, (5, 1))]
    intercepts = [rng.uniform(-0.5, 0.5, 5), rng.uniform(-0.5, 0.5, 1)]
    params = dict(hidden_layer_sizes=(5,), activation="tanh", alpha=0.01, batch_size=32, shuffle=False)
    params.update(learning_rate_init=0.05, n_iter_no_change=1000, random_state=0)
    fits = []
    for estimator in (MLPRegressor(dtype="float64", **params), SklearnMLPRegressor(**params)):
        estimator.set_params(max_iter=1).fit(X, y)  # set up, then start both from the same weights
        for target, source in zip(estimator.coefs_ + estimator.intercepts_, coefs + intercepts, strict=True):
            target[...] = source
        fits.append(estimator.set_params(warm_start=True, solver=solver, max_iter=8).fit(X, y))
    ours, theirs = fits
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-7)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------------- never densified
def test_a_large_sparse_matrix_trains_without_being_densified():
    m, n, nnz = 200_000, 50_000, 1_000_000  # 0.01% nonzeros; dense float32 would take 40 GB
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(
        (rng.random(nnz, dtype=np.float32), (rng.integers(0, m, nnz), rng.integers(0, n, nnz))), shape=(m, n)
    )
    y = rng.integers(0, 2, m)
    dense_bytes = m * n * 4
    estimator = MLPClassifier(hidden_layer_sizes=(8,), batch_size=2000, max_iter=1, random_state=0)
    tracemalloc.start()
    try:
        estimator.fit(X, y)
        predicted = estimator.predict(X[:5000])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.isfinite(estimator.loss_) and predicted.shape == (5000,)
    assert peak < dense_bytes / 400, f"peak {peak / 1e6:.0f} MB: was X densified?"  # under 100 MB
