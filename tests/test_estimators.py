"""MLPClassifier / MLPRegressor: scikit-learn, closed forms and exact refits as oracles of each behaviour."""

import csv
import io
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.datasets import load_digits, load_iris, make_classification, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlpkit
from mlpkit import cli
from mlpkit.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ---------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def binary_problem(m=200, seed=0):
    X, y = make_classification(m, n_features=5, n_informative=3, random_state=seed)
    return X, y


def linear_regression_problem(m=60, n_outputs=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, 4))
    W = rng.standard_normal((4, n_outputs))
    Y = X @ W + 0.5 + 0.1 * rng.standard_normal((m, n_outputs))
    return X, (Y.ravel() if n_outputs == 1 else Y)


def copy_weights(estimator, coefs, intercepts):
    """Write scikit-learn-oriented weights into a fitted estimator (ours or scikit-learn's)."""
    for target, source in zip(estimator.coefs_, coefs, strict=True):
        target[...] = source
    for target, source in zip(estimator.intercepts_, intercepts, strict=True):
        target[...] = source


def start_from(estimator, X, y, coefs, intercepts, **params):
    """Fit once to set up the estimator, then put the given weights in and continue with ``params``."""
    estimator.set_params(max_iter=1)
    estimator.fit(X, y)
    if isinstance(estimator, (SklearnMLPClassifier, SklearnMLPRegressor)):
        estimator.coefs_ = [np.array(c) for c in coefs]
        estimator.intercepts_ = [np.array(b) for b in intercepts]
    else:
        copy_weights(estimator, coefs, intercepts)
    return estimator.set_params(warm_start=True, **params).fit(X, y)


def random_weights(sizes, seed=0):
    rng = np.random.default_rng(seed)
    coefs = [rng.uniform(-0.5, 0.5, (a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    intercepts = [rng.uniform(-0.5, 0.5, b) for b in sizes[1:]]
    return coefs, intercepts


# ---------------------------------------------------------------------- scikit-learn as the oracle
def test_lbfgs_without_hidden_layer_reaches_scikit_learns_unique_optimum():
    X, y = binary_problem()
    params = dict(hidden_layer_sizes=(), solver="lbfgs", alpha=1.0, tol=1e-10, max_iter=1000, random_state=0)
    ours = MLPClassifier(**params).fit(X, y)
    theirs = SklearnMLPClassifier(**params).fit(X, y)
    # logistic regression with an L2 term is strictly convex: one optimum, whatever the start
    # (both stop on L-BFGS-B's relative-decrease test, a little short of it)
    np.testing.assert_allclose(ours.coefs_[0], theirs.coefs_[0], atol=2e-4)
    np.testing.assert_allclose(ours.intercepts_[0], theirs.intercepts_[0], atol=2e-4)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=5e-5)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-8)


def test_lbfgs_from_the_same_weights_follows_scikit_learn(iris):
    X, y = iris
    coefs, intercepts = random_weights([4, 6, 3])
    params = dict(solver="lbfgs", hidden_layer_sizes=(6,), activation="tanh", alpha=1e-3, random_state=0)
    ours = start_from(MLPClassifier(**params), X, y, coefs, intercepts, max_iter=25)
    theirs = start_from(SklearnMLPClassifier(**params), X, y, coefs, intercepts, max_iter=25)
    assert ours.n_iter_ == theirs.n_iter_ == 25
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("momentum, nesterovs_momentum", [(0.0, True), (0.9, True), (0.9, False)])
def test_sgd_from_the_same_weights_matches_scikit_learn_step_for_step(momentum, nesterovs_momentum):
    X, y = linear_regression_problem(m=90)
    coefs, intercepts = random_weights([4, 5, 1], seed=1)
    params = dict(
        hidden_layer_sizes=(5,),
        activation="logistic",
        alpha=0.01,
        batch_size=32,
        shuffle=False,
        learning_rate_init=0.05,
        n_iter_no_change=1000,
        random_state=0,
    )
    sgd = dict(solver="sgd", momentum=momentum, nesterovs_momentum=nesterovs_momentum, max_iter=8)
    # set up with adam, then switch: both continue with a fresh sgd optimizer (zero velocity)
    ours = start_from(MLPRegressor(dtype="float64", **params), X, y, coefs, intercepts, **sgd)
    theirs = start_from(SklearnMLPRegressor(**params), X, y, coefs, intercepts, **sgd)
    np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=1e-12)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-12)


def test_adam_steps_match_a_hand_computation():
    X, y = linear_regression_problem(m=40)
    coefs, intercepts = random_weights([4, 1], seed=2)
    lr, beta_1, beta_2, epsilon, alpha = 0.1, 0.5, 0.8, 1e-3, 0.3
    adam = dict(solver="adam", beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, max_iter=3)
    setup = MLPRegressor(
        hidden_layer_sizes=(),
        solver="sgd",
        dtype="float64",
        batch_size=40,
        alpha=alpha,
        learning_rate_init=lr,
    )
    est = start_from(setup, X, y, coefs, intercepts, **adam)
    # three full-batch Adam steps on J = (1/2m)||X W + b - y||^2 + alpha/(2m) ||W||^2, by hand
    W, b = coefs[0][:, 0].copy(), intercepts[0][0]
    theta, m_t, v_t, m = np.r_[W, b], 0.0, 0.0, len(y)
    for t in range(1, 4):
        residual = X @ theta[:4] + theta[4] - y
        gradient = np.r_[X.T @ residual / m + alpha * theta[:4] / m, residual.mean()]
        m_t = beta_1 * m_t + (1 - beta_1) * gradient
        v_t = beta_2 * v_t + (1 - beta_2) * gradient**2
        theta -= lr * (m_t / (1 - beta_1**t)) / (np.sqrt(v_t / (1 - beta_2**t)) + epsilon)
    np.testing.assert_allclose(est.coefs_[0][:, 0], theta[:4], rtol=1e-12)
    np.testing.assert_allclose(est.intercepts_[0], theta[4:], rtol=1e-12)


def test_accuracy_is_comparable_to_scikit_learns_with_the_same_hyper_parameters(digits):
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    params = dict(hidden_layer_sizes=(32,), max_iter=40, random_state=0)
    ours = MLPClassifier(**params).fit(X_train, y_train).score(X_test, y_test)
    theirs = SklearnMLPClassifier(**params).fit(X_train, y_train).score(X_test, y_test)
    assert theirs > 0.9
    assert ours >= theirs - 0.03


def test_multilabel_accuracy_is_comparable_to_scikit_learns():
    X, Y = make_multilabel_classification(300, n_features=10, n_classes=4, random_state=0)
    X = StandardScaler().fit_transform(X)
    params = dict(hidden_layer_sizes=(32,), max_iter=100, random_state=0)
    ours = MLPClassifier(**params).fit(X[:200], Y[:200])
    theirs = SklearnMLPClassifier(**params).fit(X[:200], Y[:200])
    assert ours.out_activation_ == theirs.out_activation_ == "logistic"
    assert ours.score(X[200:], Y[200:]) >= theirs.score(X[200:], Y[200:]) - 0.05
    np.testing.assert_array_equal(ours.predict(X), (ours.predict_proba(X) > 0.5).astype(int))


# ---------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_regressor_without_hidden_layer_is_least_squares(n_outputs):
    X, Y = linear_regression_problem(n_outputs=n_outputs)
    reg = MLPRegressor(hidden_layer_sizes=(), solver="lbfgs", alpha=0.0, tol=1e-12, max_iter=1000).fit(X, Y)
    design = np.hstack([X, np.ones((len(X), 1))])
    solution = np.linalg.lstsq(design, Y.reshape(len(X), -1), rcond=None)[0]
    # L-BFGS-B stops once J decreases by less than about 2e-9 per step: 1e-4 is that precision
    np.testing.assert_allclose(reg.coefs_[0], solution[:-1], atol=1e-4)
    np.testing.assert_allclose(reg.intercepts_[0], solution[-1], atol=1e-4)
    assert reg.predict(X).shape == Y.shape
    assert reg.n_outputs_ == n_outputs and reg.out_activation_ == "identity"


def test_binary_and_multiclass_outputs(iris):
    X, y = iris
    binary = MLPClassifier((8,), max_iter=50, random_state=0).fit(X, y == 2)
    proba = binary.predict_proba(X)
    p = 1.0 / (
        1.0
        + np.exp(
            -(
                np.maximum(X @ binary.coefs_[0] + binary.intercepts_[0], 0) @ binary.coefs_[1]
                + binary.intercepts_[1]
            )
        )
    )
    np.testing.assert_allclose(proba[:, 1], p.ravel(), rtol=1e-5)
    np.testing.assert_allclose(proba[:, 0], 1.0 - proba[:, 1])
    np.testing.assert_array_equal(binary.predict(X), np.array([False, True])[(proba[:, 1] > 0.5).astype(int)])
    assert binary.out_activation_ == "logistic" and binary.n_outputs_ == 1

    names = np.array(["setosa", "versicolor", "virginica"])[y]
    multi = MLPClassifier((8,), max_iter=50, random_state=0).fit(X, names)
    proba = multi.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(multi.predict(X), multi.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(multi.predict_log_proba(X), np.log(proba), rtol=1e-6)
    assert multi.out_activation_ == "softmax" and multi.n_layers_ == 3
    assert [c.shape for c in multi.coefs_] == [(4, 8), (8, 3)]


# ---------------------------------------------------------------------- round trips
def test_clone_copies_parameters_and_not_the_fit(iris):
    X, y = iris
    fitted = MLPClassifier((5,), alpha=0.5, dropout=0.1, class_weight="balanced", max_iter=5).fit(X, y)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "coefs_") and not hasattr(copy, "classes_")


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_pickle_round_trip_predicts_identically_and_keeps_training(iris, solver):
    X, y = iris
    est = MLPClassifier((6,), solver=solver, max_iter=20, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict_proba(X), est.predict_proba(X))
    if solver == "adam":  # the optimizer state travels too: both continue identically
        est.partial_fit(X, y)
        restored.partial_fit(X, y)
        np.testing.assert_array_equal(restored.coefs_[0], est.coefs_[0])


@pytest.mark.parametrize(
    "make",
    [
        lambda X, y: MLPClassifier((6,), max_iter=20, random_state=0).fit(X, np.array(["a", "b", "c"])[y]),
        lambda X, y: MLPClassifier((6,), max_iter=20, random_state=0).fit(X, y == 1),
        lambda X, y: MLPClassifier((6,), max_iter=20, random_state=0).fit(X, np.eye(3, dtype=int)[y]),
        lambda X, y: MLPRegressor(hidden_layer_sizes=(6,), max_iter=20, random_state=0).fit(
            X, X[:, :2] @ [1.0, -2.0]
        ),
        lambda X, y: MLPRegressor(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=20).fit(X, X[:, :2]),
    ],
    ids=["multiclass-strings", "binary", "multilabel", "regression", "multi-output-lbfgs"],
)
def test_save_and_load_round_trip_predicts_identically(tmp_path, iris, make):
    X, y = iris
    est = make(X, y)
    path = tmp_path / "model.npz"
    mlpkit.save(est, path)
    model = mlpkit.load(path)
    np.testing.assert_array_equal(model.predict(X), est.predict(X))
    if is_classifier(est):
        np.testing.assert_array_equal(model.predict_proba(X), est.predict_proba(X))
        assert model.labels == est.classes_.tolist()
    assert model.config["estimator"] == type(est).__name__
    assert model.history["loss"] == pytest.approx(est.loss_curve_)


def test_cli_predicts_from_a_saved_estimator(tmp_path, iris, capsys):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    est = MLPClassifier((6,), max_iter=30, random_state=0).fit(X, names)
    mlpkit.save(est, tmp_path / "model.npz")
    np.savez(tmp_path / "rows.npz", X=X)
    assert cli.main(["predict", str(tmp_path / "model.npz"), str(tmp_path / "rows.npz")]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["prediction"]
    assert [row[0] for row in rows[1:]] == est.predict(X).tolist()


# ---------------------------------------------------------------------- scikit-learn's tools
def test_pipeline_cross_val_score_and_grid_search_agree_with_a_manual_loop():
    X, y = load_iris(return_X_y=True)
    pipeline = make_pipeline(
        StandardScaler(), MLPClassifier((8,), learning_rate_init=0.02, max_iter=40, random_state=0)
    )
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    manual = {
        alpha: [
            accuracy_score(
                y[test],
                clone(pipeline)
                .set_params(mlpclassifier__alpha=alpha)
                .fit(X[train], y[train])
                .predict(X[test]),
            )
            for train, test in folds.split(X, y)
        ]
        for alpha in (1e-4, 3.0)
    }
    np.testing.assert_array_equal(cross_val_score(pipeline, X, y, cv=folds), manual[1e-4])
    search = GridSearchCV(pipeline, {"mlpclassifier__alpha": [1e-4, 3.0]}, cv=folds).fit(X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], [np.mean(manual[1e-4]), np.mean(manual[3.0])]
    )
    assert search.best_params_ == {"mlpclassifier__alpha": max(manual, key=lambda a: np.mean(manual[a]))}
    assert np.mean(manual[1e-4]) > 0.85


# ---------------------------------------------------------------------- each parameter's effect
def test_early_stopping_stops_and_restores_the_best_weights(digits):
    X, y = digits
    params = dict(hidden_layer_sizes=(16,), early_stopping=True, n_iter_no_change=3, random_state=0)
    stopped = MLPClassifier(max_iter=200, **params).fit(X, y)
    assert stopped.n_iter_ < 200
    assert len(stopped.validation_scores_) == len(stopped.validation_loss_curve_) == stopped.n_iter_
    best_epoch = int(np.argmax(stopped.validation_scores_)) + 1
    assert stopped.best_validation_score_ == max(stopped.validation_scores_)
    assert stopped.n_iter_ > best_epoch and stopped.best_loss_ is None
    # the same run cut at the best epoch has exactly the weights early stopping restored
    cut = MLPClassifier(max_iter=best_epoch, **params).fit(X, y)
    for restored, at_best in zip(stopped.coefs_, cut.coefs_, strict=True):
        np.testing.assert_array_equal(restored, at_best)
    assert np.all(np.isfinite(stopped.validation_loss_curve_))


def test_class_weight_equals_sample_weight_and_shifts_the_decision():
    X, y = binary_problem(seed=3)
    params = dict(hidden_layer_sizes=(8,), max_iter=30, random_state=0)
    weighted = MLPClassifier(class_weight={1: 5.0}, **params).fit(X, y)
    by_rows = MLPClassifier(**params).fit(X, y, sample_weight=np.where(y == 1, 5.0, 1.0))
    np.testing.assert_array_equal(weighted.coefs_[0], by_rows.coefs_[0])
    plain = MLPClassifier(**params).fit(X, y)
    assert (weighted.predict(X) == 1).sum() > (plain.predict(X) == 1).sum()
    balanced = MLPClassifier(class_weight="balanced", **params).fit(X[:120], y[:120])
    counts = np.bincount(y[:120])
    by_rows = MLPClassifier(**params).fit(X[:120], y[:120], sample_weight=120 / (2 * counts[y[:120]]))
    np.testing.assert_array_equal(balanced.coefs_[0], by_rows.coefs_[0])


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_sample_weight_zero_drops_the_row(solver):
    X, y = binary_problem()
    weight = np.ones(len(y))
    weight[[3, 50, 77]] = 0.0
    params = dict(hidden_layer_sizes=(6,), solver=solver, max_iter=15, random_state=0)
    with_zeros = MLPClassifier(**params).fit(X, y, sample_weight=weight)
    without = MLPClassifier(**params).fit(X[weight > 0], y[weight > 0])
    np.testing.assert_array_equal(with_zeros.coefs_[0], without.coefs_[0])


def test_sample_weight_two_equals_a_repeated_row_with_lbfgs():
    X, y = binary_problem(m=80)
    weight = np.ones(len(y))
    weight[:10] = 2.0
    params = dict(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=30, random_state=0)
    weighted = MLPClassifier(**params).fit(X, y, sample_weight=weight)
    repeated = MLPClassifier(**params).fit(np.vstack([X, X[:10]]), np.concatenate([y, y[:10]]))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-6)


def test_warm_start_continues_with_the_optimizer_state(iris):
    X, y = iris
    params = dict(hidden_layer_sizes=(6,), random_state=0, n_iter_no_change=100)
    straight = MLPClassifier(max_iter=10, **params).fit(X, y)
    warm = MLPClassifier(max_iter=4, warm_start=True, **params).fit(X, y)
    warm.set_params(max_iter=6).fit(X, y)
    np.testing.assert_array_equal(warm.coefs_[0], straight.coefs_[0])
    assert warm.loss_curve_ == pytest.approx(straight.loss_curve_)
    assert warm.n_iter_ == 6 and warm.t_ == straight.t_ == 10 * len(y)
    cold = MLPClassifier(max_iter=6, **params).fit(X, y)
    assert not np.array_equal(cold.coefs_[0], straight.coefs_[0])


def test_partial_fit_keeps_adams_moments(iris):
    X, y = iris
    params = dict(hidden_layer_sizes=(6,), random_state=0, batch_size=50)
    incremental = MLPClassifier(**params)
    for _ in range(5):
        incremental.partial_fit(X, y, classes=[0, 1, 2])
    straight = MLPClassifier(max_iter=5, n_iter_no_change=100, **params).fit(X, y)
    np.testing.assert_array_equal(incremental.coefs_[0], straight.coefs_[0])
    assert incremental.n_iter_ == 1 and incremental.t_ == 5 * len(y)
    assert incremental._trainer.optimizer.t == 5 * 3  # 3 mini-batches of 50 rows per epoch


def test_partial_fit_takes_classes_first_and_then_any_subset(iris):
    X, y = iris
    est = MLPClassifier((4,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X, y)
    est.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    est.partial_fit(X[y == 2], y[y == 2])
    assert est.classes_.tolist() == [0, 1, 2] and est.predict_proba(X).shape == (150, 3)
    with pytest.raises(ValueError, match=r"classes \[7\] not in"):
        est.partial_fit(X[:2], [0, 7])
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    regressor = (
        MLPRegressor(hidden_layer_sizes=(4,), random_state=0).partial_fit(X, X[:, 0]).partial_fit(X, X[:, 0])
    )
    assert regressor.t_ == 2 * len(X) and len(regressor.loss_curve_) == 2


def test_invscaling_follows_samples_seen(iris):
    X, y = iris
    est = MLPClassifier(
        (4,), solver="sgd", learning_rate="invscaling", learning_rate_init=0.2, power_t=0.25, max_iter=4
    ).fit(X, y)
    expected = [0.2 / (epoch * len(y) + 1) ** 0.25 for epoch in range(4)]
    np.testing.assert_allclose(est._trainer.history.learning_rate, expected, rtol=1e-12)


def test_adaptive_divides_by_five_on_plateaus_and_stops_below_1e_6(iris):
    X, y = iris
    # tol=10: every epoch after the first counts as "no improvement"
    est = MLPClassifier(
        (4,), solver="sgd", learning_rate="adaptive", learning_rate_init=1e-5, tol=10.0, n_iter_no_change=2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X, y)
    # epoch 1 sets the best loss; epochs 2-4 count 1, 2, 3 > n_iter_no_change: divide by 5, and so on
    np.testing.assert_allclose(est._trainer.history.learning_rate, [1e-5] * 4 + [2e-6] * 3 + [4e-7] * 3)
    assert est.n_iter_ == 10


def test_stops_on_a_training_loss_plateau_or_warns_at_max_iter(iris):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        stopped = MLPClassifier((4,), tol=10.0, n_iter_no_change=4).fit(X, y)
    # epoch 1 sets the best loss, epochs 2-6 count 1..5 > n_iter_no_change = 4: stop after epoch 6
    assert stopped.n_iter_ == 6 and stopped.best_loss_ == min(stopped.loss_curve_)
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        MLPClassifier((4,), max_iter=3).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier((4,), solver="lbfgs", max_iter=3).fit(X, y)


def test_batch_size_auto_is_min_200_n(iris):
    X, y = iris
    X250, y250 = np.vstack([X, X[:100]]), np.concatenate([y, y[:100]])
    steps = {
        n_rows: MLPClassifier((4,), max_iter=2).fit(X250[:n_rows], y250[:n_rows])._trainer.optimizer.t
        for n_rows in (150, 250)
    }
    assert steps == {150: 2 * 1, 250: 2 * 2}  # one batch of 150; batches of 200 and 50
    assert MLPClassifier((4,), max_iter=2, batch_size=40).fit(X, y)._trainer.optimizer.t == 2 * 4


def test_dropout_changes_training_but_not_prediction(iris):
    X, y = iris
    params = dict(hidden_layer_sizes=(16,), learning_rate_init=0.02, max_iter=60, random_state=0)
    plain = MLPClassifier(**params).fit(X, y)
    dropped = MLPClassifier(dropout=0.3, **params).fit(X, y)
    assert not np.allclose(dropped.coefs_[0], plain.coefs_[0])
    np.testing.assert_array_equal(dropped.predict_proba(X), dropped.predict_proba(X))
    assert dropped.score(X, y) > 0.85 and plain.score(X, y) > 0.85


def test_dtype_follows_the_input_unless_set(iris):
    X, y = iris
    single = MLPClassifier((6,), max_iter=10, random_state=0).fit(X.astype(np.float32), y)
    double = MLPClassifier((6,), max_iter=10, random_state=0).fit(X, y)
    chosen = MLPClassifier((6,), max_iter=10, random_state=0, dtype="float32").fit(X, y)
    # as scikit-learn's own estimator: float32 rows train float32 weights, float64 rows float64
    reference = SklearnMLPClassifier((6,), max_iter=10, random_state=0)
    for rows, estimator in ((X.astype(np.float32), single), (X, double)):
        expected = reference.fit(rows, y).coefs_[0].dtype
        assert all(W.dtype == expected for W in estimator.coefs_ + estimator.intercepts_)
    assert chosen.coefs_[0].dtype == np.float32
    np.testing.assert_allclose(single.coefs_[0], double.coefs_[0], atol=1e-4)
    np.testing.assert_array_equal(chosen.coefs_[0], single.coefs_[0])  # the same float32 arithmetic
    assert single.predict_proba(X).dtype == np.float64  # outputs follow the input's dtype
    assert double.predict_proba(X.astype(np.float32)).dtype == np.float32


def test_logistic_activation_uses_glorot_factor_2():
    X, y = binary_problem(m=20)
    # one epoch at a negligible learning rate leaves the initial draws visible
    est = MLPClassifier((300,), activation="logistic", learning_rate_init=1e-12, max_iter=1).fit(X, y)
    bound = np.sqrt(2.0 / (5 + 300))
    assert np.abs(est.coefs_[0]).max() <= bound
    assert np.abs(est.coefs_[0]).max() > 0.95 * bound
    relu = MLPClassifier((300,), learning_rate_init=1e-12, max_iter=1).fit(X, y)
    assert np.abs(relu.coefs_[0]).max() > 0.95 * np.sqrt(6.0 / 305)


def test_verbose_prints_scikit_learns_lines_and_a_progress_bar(iris, capsys):
    X, y = iris
    est = MLPClassifier((4,), max_iter=3, verbose=True, random_state=0).fit(X, y)
    captured = capsys.readouterr()
    assert f"Iteration 3, loss = {est.loss_curve_[2]:.8f}" in captured.out
    assert "epoch 3" in captured.err and "sample" in captured.err


def test_coefs_are_views_of_the_network(iris):
    X, y = iris
    est = MLPClassifier((4,), max_iter=2).fit(X, y)
    np.testing.assert_array_equal(est.coefs_[1], est.net_.params["W2"].T)
    est.coefs_[0][...] = 0.0
    est.intercepts_[0][...] = 0.0
    hidden = np.zeros((1, 4))  # every relu unit is 0, so the output is the last layer's bias alone
    expected = np.exp(hidden @ est.coefs_[1] + est.intercepts_[1])
    np.testing.assert_allclose(est.predict_proba(X[:1]), expected / expected.sum(), rtol=1e-6)


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "params, message",
    [
        ({"solver": "newton"}, r"invalid solver='newton'; expected one of \['adam', 'lbfgs', 'sgd'\]"),
        ({"activation": "softplus"}, r"invalid activation='softplus'; expected one of \['identity'"),
        ({"hidden_layer_sizes": (10, 0)}, r"invalid hidden_layer_sizes=\(10, 0\); expected an integer >= 1"),
        ({"hidden_layer_sizes": "ten"}, "invalid hidden_layer_sizes='ten'"),
        ({"alpha": -1.0}, r"invalid alpha=-1.0; expected a number >= 0"),
        ({"learning_rate_init": 0}, r"invalid learning_rate_init=0; expected a number > 0"),
        ({"batch_size": 0}, r"invalid batch_size=0; expected 'auto' or an integer >= 1"),
        ({"learning_rate": "cosine"}, r"invalid learning_rate='cosine'; expected one of"),
        ({"max_iter": 2.5}, r"invalid max_iter=2.5; expected an integer >= 1"),
        ({"momentum": 1.5}, r"invalid momentum=1.5; expected a number in \[0, 1\)"),
        ({"validation_fraction": 1.0}, r"invalid validation_fraction=1.0; expected a number in \[0, 1\)"),
        ({"n_iter_no_change": 0}, r"invalid n_iter_no_change=0; expected an integer >= 1 or numpy.inf"),
        ({"shuffle": "yes"}, r"invalid shuffle='yes'; expected True or False"),
        ({"dtype": "float16"}, r"invalid dtype='float16'; expected None \(the input's.*\) or one of"),
        ({"dropout": 1.0}, r"invalid dropout=1.0; expected a number in \[0, 1\)"),
        ({"dropout": 0.2, "solver": "lbfgs"}, r"invalid dropout=0.2; expected 0 with solver='lbfgs'"),
        ({"class_weight": "auto"}, r"invalid class_weight='auto'; expected None, 'balanced' or a dict"),
        ({"class_weight": {5: 2.0}}, r"class_weight has labels \[5\] that are not classes of y \[0, 1, 2\]"),
        ({"distributed": True}, r"invalid distributed=True; expected False"),
        ({"verbose": -1}, r"invalid verbose=-1; expected True, False or an integer >= 0"),
    ],
)
def test_bad_parameters_raise_a_clear_error(iris, params, message):
    X, y = iris
    with pytest.raises(ValueError, match=message):
        MLPClassifier(**{"max_iter": 1, **params}).fit(X, y)


def test_bad_regressor_loss_and_multilabel_class_weight():
    X, Y = make_multilabel_classification(30, n_features=4, random_state=0)
    message = r"invalid loss='huber'; expected one of \['poisson', 'squared_error'\]"
    with pytest.raises(ValueError, match=message):
        MLPRegressor(loss="huber").fit(X, Y[:, 0])
    with pytest.raises(ValueError, match="class_weight applies to binary and multi-class targets"):
        MLPClassifier(class_weight="balanced").fit(X, Y)


@pytest.mark.parametrize(
    "weight, message",
    [
        (np.ones(3), r"sample_weight must have shape \(150,\), one weight per row of X; got \(3,\)"),
        (-np.ones(150), r"sample_weight\[0\] = -1.0; weights must be finite and >= 0"),
        (np.r_[np.ones(149), np.nan], r"sample_weight\[149\] = nan"),
        (np.zeros(150), "sample_weight is zero for every row"),
        (["a"] * 150, "sample_weight must hold numbers"),
    ],
)
def test_bad_sample_weight_raises_a_clear_error(iris, weight, message):
    X, y = iris
    with pytest.raises(ValueError, match=message):
        MLPClassifier(max_iter=1).fit(X, y, sample_weight=weight)


def test_warm_start_with_other_layer_sizes_and_divergence_raise_clear_errors(iris):
    X, y = iris
    est = MLPClassifier((4,), max_iter=1, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match=r"cannot continue training a network of layer sizes \[4, 4, 3\]"):
        est.set_params(hidden_layer_sizes=(5,)).fit(X, y)
    message = "Solver produced non-finite parameter weights.*Standardize it.*Training diverged"
    with np.errstate(all="ignore"), pytest.raises(ValueError, match=message):
        MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=10.0, max_iter=20).fit(
            X * 1e6, y * 1e6
        )


def test_missing_scikit_learn_names_the_extra_and_mlpkit_still_imports():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import mlpkit\n"
        "try:\n    mlpkit.MLPClassifier\nexcept ImportError as error:\n    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install "mlpkit[sklearn]"' in result.stdout


@pytest.mark.parametrize("continue_fit", ["partial_fit", "warm_start"])
def test_a_joblib_round_trip_keeps_training_as_the_original(tmp_path, continue_fit):
    # joblib pickles arrays apart from the objects that share them: the loaded estimator must
    # still train its own weights, exactly as the original does
    import joblib

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = 2 * X[:, 0] - X[:, 1] + 1
    original = MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0, warm_start=True).fit(X, y)
    joblib.dump(original, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    before = loaded.predict(X)
    for estimator in (original, loaded):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.partial_fit(X, y) if continue_fit == "partial_fit" else estimator.fit(X, y)
    assert np.abs(loaded.predict(X) - before).max() > 1e-4
    np.testing.assert_array_equal(loaded.predict(X), original.predict(X))
