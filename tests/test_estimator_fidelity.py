"""What a user switching from scikit-learn's MLP relies on, with scikit-learn, PyTorch or a refit as oracle:
assignable weights, dtypes, saved estimators that train on, the poisson loss, single-class targets,
the early-stopping split and a diverging run."""

import io
import math
import warnings

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import PoissonRegressor
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor
from sklearn.preprocessing import StandardScaler

from mlpkit import DNN
from mlpkit.activations import EXP_OUTPUT
from mlpkit.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def fitted_pair(X, y, **params):
    """mlpkit's and scikit-learn's classifiers fitted with the same parameters."""
    ours = MLPClassifier(**params).fit(X, y)
    theirs = SklearnMLPClassifier(**params).fit(X, y)
    return ours, theirs


# ---------------------------------------------------------------------- weights and dtypes
def test_assigning_weight_items_and_lists_changes_predictions_as_in_scikit_learn(iris):
    X, y = iris
    ours, theirs = fitted_pair(X, y, hidden_layer_sizes=(5,), max_iter=20, random_state=0)
    for l in range(2):
        ours.coefs_[l] = theirs.coefs_[l]  # item by item, as scikit-learn's own lists take them
        ours.intercepts_[l] = theirs.intercepts_[l]
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12)
    assert not np.shares_memory(ours.coefs_[0], theirs.coefs_[0])  # copied into the network

    fresh, _ = fitted_pair(X, y, hidden_layer_sizes=(5,), max_iter=3, random_state=1)
    fresh.coefs_ = [np.array(W) for W in theirs.coefs_]  # whole lists
    fresh.intercepts_ = [np.array(b) for b in theirs.intercepts_]
    np.testing.assert_allclose(fresh.predict_proba(X), theirs.predict_proba(X), rtol=1e-12)
    message = r"coefs_\[0\] has shape \(4, 5\) \(the network's layer\); got \(5, 4\)"
    with pytest.raises(ValueError, match=message):
        ours.coefs_[0] = theirs.coefs_[0].T


def test_assigned_weights_train_on_as_scikit_learn_continues_them(iris):
    X, y = iris
    params = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=0.0, max_iter=1, random_state=0)
    ours, theirs = fitted_pair(X, y, **params)
    ours.coefs_ = [np.array(W) for W in theirs.coefs_]
    ours.intercepts_ = [np.array(b) for b in theirs.intercepts_]
    ours.set_params(warm_start=True, shuffle=False, batch_size=150).fit(X, y)
    theirs.set_params(warm_start=True, shuffle=False, batch_size=150).fit(X, y)  # one full-batch sgd step
    reference_weights = theirs.coefs_ + theirs.intercepts_
    for mine, reference in zip(ours.coefs_ + ours.intercepts_, reference_weights, strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-10, atol=1e-12)


def test_finite_float64_values_beyond_float32_are_taken_as_scikit_learn_takes_them(iris):
    X, y = iris
    ours, theirs = fitted_pair(X, y, hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    ours.coefs_, ours.intercepts_ = list(theirs.coefs_), list(theirs.intercepts_)
    huge = X[:5] * 1e39  # finite in float64, infinite in float32
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(ours.predict_proba(huge), theirs.predict_proba(huge), rtol=1e-12)
    message = "Solver produced non-finite parameter weights. The input data may contain large values"
    for estimator in (MLPRegressor(max_iter=5), SklearnMLPRegressor(max_iter=5)):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            with pytest.raises(ValueError, match=message):
                huge = np.finfo(np.float64).max * np.linspace(0.1, 1, 20).reshape(10, 2)
                estimator.fit(huge, np.arange(10.0))


# ---------------------------------------------------------------------- saved estimators train on
@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_a_loaded_estimator_trains_exactly_as_the_one_it_was_saved_from(how):
    X, y = make_regression(60, 3, noise=1.0, random_state=0)
    y = y / y.std()
    params = dict(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=20, random_state=0)
    estimator = MLPRegressor(**params).fit(X, y)
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    before = np.array(loaded.coefs_[0])
    for model in (estimator, loaded):
        if how == "partial_fit":
            for _ in range(5):
                model.partial_fit(X, -y)
        else:
            model.set_params(warm_start=True, max_iter=5).fit(X, -y)
    assert np.abs(loaded.coefs_[0] - before).max() > 1e-3  # it trained
    reference_weights = estimator.coefs_ + estimator.intercepts_
    for mine, reference in zip(loaded.coefs_ + loaded.intercepts_, reference_weights, strict=True):
        np.testing.assert_array_equal(mine, reference)  # and on the same path as the original


def test_a_loaded_estimator_learns_a_new_target_as_in_scikit_learns_test():
    params = dict(hidden_layer_sizes=(42,), random_state=42, learning_rate_init=0.01)
    estimator = MLPRegressor(**params).fit([[2]], [4])
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    for _ in range(200):
        loaded.partial_fit([[2]], [1])
    np.testing.assert_allclose(loaded.predict([[2]]), [1.0], rtol=1e-4)


# ---------------------------------------------------------------------- poisson
def test_poisson_output_gradients_equal_autograd(rng):
    torch = pytest.importorskip("torch")
    net = DNN([3, 4, 2], "tanh", "exp", seed=0, dtype="float64")
    X = rng.standard_normal((3, 7))
    Y = rng.poisson(2.0, (2, 7)).astype(np.float64)
    AL, cache = net.forward(X)
    grads = net.compute_gradients(AL, Y, cache)
    params = {name: torch.tensor(value, requires_grad=True) for name, value in net.params.items()}
    Z2 = params["W2"] @ torch.tanh(params["W1"] @ torch.tensor(X) + params["b1"]) + params["b2"]
    Y_t = torch.tensor(Y)
    # half the Poisson deviance: torch's Poisson NLL on log-means plus its constant y log y - y
    deviance = torch.nn.functional.poisson_nll_loss(Z2, Y_t, log_input=True, reduction="sum")
    loss = (deviance + (torch.special.xlogy(Y_t, Y_t) - Y_t).sum()) / X.shape[1]
    loss.backward()
    assert net.loss(AL, Y) == pytest.approx(loss.item(), rel=1e-12)
    for name, tensor in params.items():
        np.testing.assert_allclose(grads["d" + name], tensor.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_the_exp_output_activation_and_its_derivative_are_the_closed_forms():
    Z = np.array([[-3.0, 0.0, 2.5], [1.0, -0.5, 4.0]])
    A = EXP_OUTPUT.forward(Z, np.empty_like(Z))
    np.testing.assert_allclose(A, np.exp(Z), rtol=1e-15)
    np.testing.assert_allclose(EXP_OUTPUT.derivative(Z, A), np.exp(Z), rtol=1e-15)
    dA = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]])
    np.testing.assert_allclose(EXP_OUTPUT.backward(dA.copy(), Z, A), dA * np.exp(Z), rtol=1e-15)
    huge = EXP_OUTPUT.forward(np.array([1e4], dtype=np.float32), np.empty(1, dtype=np.float32))
    assert np.isfinite(huge).all()  # capped below overflow


def test_poisson_regressor_equals_the_poisson_glm():
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 1, (200, 2))
    y = rng.poisson(np.exp(X @ [1.0, -0.5] + 0.5))
    glm = PoissonRegressor(alpha=0, tol=1e-8).fit(X, y)
    params = dict(loss="poisson", hidden_layer_sizes=(1,), activation="identity", alpha=0, tol=1e-8)
    mlp = MLPRegressor(solver="lbfgs", random_state=0, **params).fit(X, y)
    np.testing.assert_allclose(mlp.predict(X), glm.predict(X), rtol=1e-4)
    assert mlp.out_activation_ == "exp" and (mlp.predict(X) > 0).all()


def test_poisson_sgd_steps_equal_scikit_learns_from_the_same_weights():
    rng = np.random.default_rng(4)
    X = rng.uniform(0, 1, (50, 3))
    y = rng.poisson(np.exp(X @ [0.5, -0.5, 1.0]))
    params = dict(loss="poisson", hidden_layer_sizes=(4,), solver="sgd", momentum=0.0)
    params["learning_rate_init"] = 0.01
    ours = MLPRegressor(max_iter=1, random_state=0, **params).fit(X, y)
    theirs = SklearnMLPRegressor(max_iter=1, random_state=0, **params).fit(X, y)
    ours.coefs_ = [np.array(W) for W in theirs.coefs_]
    ours.intercepts_ = [np.array(b) for b in theirs.intercepts_]
    for estimator in (ours, theirs):  # full-batch steps: the row order does not matter
        estimator.set_params(warm_start=True, max_iter=40, batch_size=50, n_iter_no_change=np.inf).fit(X, y)
    np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=1e-9)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9)


def test_a_poisson_regressor_exports_its_mean_to_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from mlpkit.export import export_onnx

    rng = np.random.default_rng(5)
    X = rng.uniform(0, 1, (40, 3))
    estimator = MLPRegressor(loss="poisson", hidden_layer_sizes=(5,), max_iter=20, random_state=0)
    estimator.fit(X, rng.poisson(np.exp(X.sum(axis=1))))
    path = export_onnx(estimator.to_model(), tmp_path / "poisson.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (served,) = session.run(["variable"], {session.get_inputs()[0].name: X.astype(np.float32)})
    np.testing.assert_allclose(served.ravel(), estimator.predict(X), rtol=1e-5)


def test_poisson_refuses_negative_targets_naming_the_row():
    message = r"loss='poisson' models counts and rates, which are >= 0; y has -1.0 at row 3"
    with pytest.raises(ValueError, match=message):
        MLPRegressor(loss="poisson").fit([[0.0], [1.0], [2.0]], [1.0, 2.0, -1.0])


# ---------------------------------------------------------------------- targets and early stopping
def test_a_single_class_is_fitted_as_scikit_learn_fits_it():
    X = np.random.default_rng(0).standard_normal((10, 2))
    y = np.full(10, 1)
    ours, theirs = fitted_pair(X, y, max_iter=5, random_state=0)
    assert ours.classes_.tolist() == theirs.classes_.tolist() == [1]
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.predict_proba(X).shape == theirs.predict_proba(X).shape
    with pytest.raises(ValueError, match=r"fitted on a single class \[1\] and predicts it for every row"):
        ours.to_model()


def test_early_stopping_refuses_a_binary_class_of_one_row_with_scikit_learns_message():
    X, y = [[1, 2], [2, 3], [3, 4], [4, 5]], [0, 0, 0, 1]
    with pytest.raises(ValueError) as theirs:
        SklearnMLPClassifier(early_stopping=True).fit(X, y)
    with pytest.raises(ValueError) as ours:
        MLPClassifier(early_stopping=True).fit(X, y)
    assert str(ours.value) == str(theirs.value)


def test_early_stopping_splits_multiclass_rows_stratified(iris):
    X, y = iris
    estimator = MLPClassifier((4,), early_stopping=True, validation_fraction=0.2, max_iter=1, random_state=0)
    validation = {}
    original = estimator._validation_loss_and_score

    def record(X_val, Y_val, weight, codes=None):
        validation["counts"] = Y_val.sum(axis=0)
        return original(X_val, Y_val, weight, codes)

    estimator._validation_loss_and_score = record
    estimator.fit(X, y)
    np.testing.assert_array_equal(validation["counts"], [10, 10, 10])  # 20% of each 50-row class


@pytest.mark.parametrize("n_rows", [20, 9])
def test_early_stopping_on_too_few_rows_to_stratify_splits_as_scikit_learn_does(n_rows):
    # 3 classes, and a validation share of 2 rows (20) or 1 row of a class with 2 (9): no stratified
    # split exists; scikit-learn does not stratify multi-class targets, and fits (or refuses) alike
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((n_rows, 3)), np.arange(n_rows) % 3
    sizes = []
    ours = MLPClassifier((4,), early_stopping=True, max_iter=3, random_state=0)
    original = ours._validation_loss_and_score

    def record(X_val, Y_val, weight, codes=None):
        sizes.append(X_val.shape[0])
        return original(X_val, Y_val, weight, codes)

    ours._validation_loss_and_score = record
    theirs = SklearnMLPClassifier((4,), early_stopping=True, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if n_rows == 20:
            theirs.fit(X, y)
            ours.fit(X, y)
            assert set(sizes) == {2} and len(theirs.validation_scores_) == len(ours.validation_scores_) == 3
        else:
            with pytest.raises(ValueError, match="validation set is too small"):
                theirs.fit(X, y)
            with pytest.raises(ValueError, match="validation set is too small"):
                ours.fit(X, y)


def test_a_diverging_run_with_early_stopping_ends_with_the_best_weights(iris):
    X, y = iris
    params = dict(hidden_layer_sizes=100, activation="identity", solver="sgd", learning_rate_init=1)
    estimator = MLPRegressor(max_iter=20, early_stopping=True, random_state=0, **params)
    with np.errstate(all="ignore"), pytest.warns(ConvergenceWarning, match="Training diverged"):
        estimator.fit(X, y)
    assert math.isnan(estimator.validation_scores_[-1]) and math.isnan(estimator.loss_curve_[-1])
    assert len(estimator.validation_scores_) == estimator.n_iter_ <= 20
    assert np.isfinite(estimator.predict(X)).all()
    best = int(np.nanargmax(estimator.validation_scores_))
    assert estimator.best_validation_score_ == estimator.validation_scores_[best]


def test_sample_weights_equal_repeated_rows_with_a_strong_l2_term():
    X, y = make_regression(40, 3, noise=5.0, random_state=1)
    y = y / y.std()
    weight = np.random.default_rng(0).integers(0, 3, 40)
    params = dict(hidden_layer_sizes=(6,), alpha=5.0, solver="sgd", max_iter=30, shuffle=False)
    params["random_state"] = 0
    weighted = MLPRegressor(**params).fit(X, y, sample_weight=weight)
    repeated = MLPRegressor(**params).fit(np.repeat(X, weight, axis=0), np.repeat(y, weight))
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-9, atol=1e-12)
