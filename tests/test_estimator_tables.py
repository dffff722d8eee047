"""The estimators on DataFrames with text, category and bool columns and missing values.

Independent sources: scikit-learn's own MLP behind SimpleImputer + OneHotEncoder +
StandardScaler on the same split, finite differences of the lbfgs objective, the same
estimator without the column that drives the target.
"""

from __future__ import annotations

import io
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import mlpkit
from mlpkit.network import DNN
from mlpkit.sklearn.frames import embeddings_in
from mlpkit.sklearn.lbfgs import lbfgs_objective


def mixed_frame(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Numbers with gaps, a text column with gaps, a bool and a category column; a class target."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 12, rows)
    income = rng.lognormal(3, 1, rows)
    home = rng.choice(["own", "rent", "family"], rows)
    member = rng.random(rows) < 0.4
    plan = rng.choice(["basic", "plus", "pro", "max"], rows)
    effect = {"own": 0.8, "rent": -0.6, "family": 0.0}
    plans = {"basic": -1.0, "plus": 0.0, "pro": 0.7, "max": 1.2}
    logit = (
        (age - 40) / 12
        + 0.8 * np.log(income / 20)
        + np.vectorize(effect.get)(home)
        + 1.2 * member
        + np.vectorize(plans.get)(plan)
    )
    y = np.where(logit + rng.logistic(scale=0.3, size=rows) > 0, "yes", "no")
    frame = pd.DataFrame(
        {
            "age": age,
            "income": income,
            "home": home.astype(object),
            "member": member,
            "plan": pd.Categorical(plan),
        }
    )
    frame.loc[rng.random(rows) < 0.1, "age"] = np.nan
    frame.loc[rng.random(rows) < 0.1, "income"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "home"] = None
    return frame, y


def sklearn_pipeline(seed: int):
    """scikit-learn's MLP behind the usual preparation of a mixed table."""
    numbers = ["age", "income"]
    text = ["home", "member", "plan"]
    prepare = ColumnTransformer(
        [
            (
                "numbers",
                make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()),
                numbers,
            ),
            (
                "text",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
                ),
                text,
            ),
        ]
    )
    return make_pipeline(prepare, SklearnMLPClassifier(random_state=seed, max_iter=300))


@pytest.fixture(scope="module")
def fitted():
    X, y = mixed_frame(600, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator = mlpkit.MLPClassifier(random_state=0, max_iter=60).fit(X, y)
    return estimator, X, y


def test_score_at_least_scikit_learns_pipeline():
    ours, theirs = [], []
    for seed in range(3):
        X, y = mixed_frame(1000, seed)
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours.append(
                mlpkit.MLPClassifier(random_state=seed, max_iter=300)
                .fit(X_train, y_train)
                .score(X_test, y_test)
            )
            theirs.append(sklearn_pipeline(seed).fit(X_train, y_train).score(X_test, y_test))
    # a 300-row test set: one standard error of an accuracy near 0.85 is about 0.02
    assert np.mean(ours) >= np.mean(theirs) - 0.015, (ours, theirs)


def test_fitted_attributes_describe_the_original_columns(fitted):
    estimator, X, _ = fitted
    assert estimator.n_features_in_ == 5
    assert list(estimator.feature_names_in_) == list(X.columns)
    assert estimator.features_.kinds() == {
        "age": "numeric",
        "income": "numeric",
        "home": "categorical",
        "member": "categorical",
        "plan": "categorical",
    }
    assert estimator.inputs_ is None  # every category here is one-hot (n_c <= 10)
    assert set(estimator.classes_) == {"no", "yes"}


def test_columns_in_another_order_predict_identically(fitted):
    estimator, X, _ = fitted
    shuffled = X[["plan", "member", "income", "home", "age"]]
    np.testing.assert_array_equal(estimator.predict_proba(shuffled), estimator.predict_proba(X))
    np.testing.assert_array_equal(estimator.predict(shuffled), estimator.predict(X))


def test_joblib_round_trip_predicts_identically(fitted):
    estimator, X, _ = fitted
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    np.testing.assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))


def test_a_missing_column_is_named(fitted):
    estimator, X, _ = fitted
    with pytest.raises(
        ValueError, match=r"MLPClassifier: the table lacks the training column\(s\) \['plan'\]"
    ):
        estimator.predict(X.drop(columns=["plan"]))
    with pytest.raises(ValueError, match=r"was fitted on a table with the columns \['age', 'income'"):
        estimator.predict(np.zeros((3, 5)))


def test_pyarrow_table_and_dict_of_columns_predict_as_the_frame(fitted):
    pyarrow = pytest.importorskip("pyarrow")
    estimator, X, _ = fitted
    expected = estimator.predict_proba(X)
    np.testing.assert_array_equal(estimator.predict_proba(pyarrow.Table.from_pandas(X)), expected)
    columns = {name: X[name] for name in X.columns}
    np.testing.assert_array_equal(estimator.predict_proba(columns), expected)


def test_save_writes_the_schema_and_the_model_predicts_the_same(fitted, tmp_path):
    estimator, X, _ = fitted
    path = mlpkit.save(estimator, tmp_path / "table.npz")
    model = mlpkit.load(path)
    np.testing.assert_array_equal(model.predict(X), estimator.predict(X))
    np.testing.assert_allclose(model.predict_proba(X), estimator.predict_proba(X), rtol=1e-6)


def city_table(rows: int, seed: int, levels: int = 60) -> tuple[pd.DataFrame, np.ndarray]:
    """A 60-level text column whose levels drive most of the target, and one weak number."""
    rng = np.random.default_rng(seed)
    city = rng.integers(0, levels, rows)
    effect = np.random.default_rng(100).normal(0, 1, levels)
    x = rng.normal(size=rows)
    y = effect[city] + 0.3 * x + 0.1 * rng.normal(size=rows)
    return pd.DataFrame({"city": [f"city{c:02d}" for c in city], "x": x}), y


def test_a_high_cardinality_column_is_embedded_and_learned():
    X, y = city_table(3000, seed=1)
    X_test, y_test = city_table(1000, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full = mlpkit.MLPRegressor(random_state=0, max_iter=80).fit(X, y)
        numbers_only = mlpkit.MLPRegressor(random_state=0, max_iter=80).fit(X[["x"]], y)
    assert full.features_.embedded == [("city", 62, 16)]  # 60 levels + missing + unseen; d_c capped at 16
    assert full.inputs_.vocabulary_sizes == (62,) and full.net_.layer_sizes[0] == 1 + 16
    # the city explains ~ 1 / (1 + 0.09 + 0.01) of the variance; x alone ~ 0.08
    assert numbers_only.score(X_test[["x"]], y_test) < 0.2
    assert full.score(X_test, y_test) > 0.9


def test_lbfgs_trains_the_embeddings_with_the_exact_gradient():
    X, y = city_table(400, seed=3, levels=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator = mlpkit.MLPRegressor(solver="lbfgs", random_state=0, max_iter=200).fit(X, y)
    assert estimator.inputs_ is not None and estimator.inputs_.dtype == np.float64
    assert estimator.score(*city_table(400, seed=4, levels=30)) > 0.8
    # the objective's gradient in phi against central finite differences
    features = estimator.features_.transform(X)
    net = DNN(estimator.net_.layer_sizes, "relu", "identity", seed=1, dtype="float64")
    inputs = embeddings_in(estimator.inputs_, "float64")
    objective = lbfgs_objective(net, features.dense.T, y.reshape(1, -1), None, 0.1, inputs, features.codes.T)
    vector = np.concatenate([net.theta, inputs.phi])
    _, gradient = objective(vector.copy())
    rng = np.random.default_rng(0)
    for index in net.theta.size + rng.choice(inputs.n_parameters, 8, replace=False):
        step = np.zeros_like(vector)
        step[index] = 1e-6
        numeric = (objective(vector + step)[0] - objective(vector - step)[0]) / 2e-6
        assert gradient[index] == pytest.approx(numeric, rel=1e-4, abs=1e-8)


def test_early_stopping_keeps_the_best_embeddings():
    X, y = city_table(1500, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator = mlpkit.MLPRegressor(random_state=0, early_stopping=True, max_iter=60).fit(X, y)
    assert estimator.best_validation_score_ == max(estimator.validation_scores_)
    # the held-out share scored again with the weights and embeddings kept at the end
    _, X_val, _, y_val = train_test_split(X, y, test_size=0.1, random_state=estimator._split_seed)
    assert estimator.score(X_val, y_val) == pytest.approx(estimator.best_validation_score_, abs=1e-5)


def test_warm_start_and_partial_fit_keep_the_schema():
    X, y = city_table(600, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator = mlpkit.MLPRegressor(random_state=0, max_iter=5, warm_start=True).fit(X, y)
        schema, inputs = estimator.features_, estimator.inputs_
        estimator.fit(X.iloc[:100], y[:100])  # fewer cities: the vocabulary stays that of the first fit
    assert estimator.features_ is schema and estimator.inputs_ is inputs
    incremental = mlpkit.MLPRegressor(random_state=0)
    incremental.partial_fit(X, y)
    schema = incremental.features_
    phi = incremental.inputs_.phi.copy()
    incremental.partial_fit(X.iloc[:50], y[:50])
    assert incremental.features_ is schema
    assert not np.array_equal(incremental.inputs_.phi, phi)  # the embeddings keep training


def test_an_estimator_with_embeddings_saves_and_predicts_the_same_after_loading(tmp_path):
    X, y = city_table(300, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator = mlpkit.MLPRegressor(random_state=0, max_iter=20).fit(X, y)
    assert estimator.inputs_ is not None
    mlpkit.save(estimator, tmp_path / "model.npz")
    model = mlpkit.load(tmp_path / "model.npz")
    np.testing.assert_array_equal(model.inputs.phi, estimator.inputs_.phi)
    np.testing.assert_allclose(model.predict(X.iloc[:, ::-1]), estimator.predict(X), rtol=1e-6, atol=1e-6)


def test_categorical_features_names_numeric_columns():
    rng = np.random.default_rng(8)
    X = pd.DataFrame({"zone": rng.integers(0, 4, 400), "x": rng.normal(size=400)})
    y = np.where(X["zone"].isin([1, 3]), 1, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator = mlpkit.MLPClassifier(random_state=0, max_iter=50, categorical_features=["zone"]).fit(X, y)
    assert estimator.categorical_features == ["zone"]  # stored unchanged
    assert estimator.features_.kinds()["zone"] == "categorical"
    assert estimator.score(X, y) == 1.0  # 1 and 3 are not the numbers between 0 and 2: one-hot learns it
    with pytest.raises(ValueError, match=r"categorical names column\(s\) \['nope'\]|\['nope'\]"):
        mlpkit.MLPClassifier(categorical_features=["nope"]).fit(X, y)


def test_a_numeric_frame_keeps_the_array_path():
    rng = np.random.default_rng(9)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (X["a"] > 0).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        from_frame = mlpkit.MLPClassifier(random_state=0, max_iter=20).fit(X, y)
        from_array = mlpkit.MLPClassifier(random_state=0, max_iter=20).fit(X.to_numpy(), y)
    assert from_frame.features_ is None and from_frame.inputs_ is None
    np.testing.assert_array_equal(from_frame.net_.theta, from_array.net_.theta)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        from_frame.predict(X.assign(a=np.nan))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_frame_of_numbers_with_gaps_is_imputed_where_scikit_learn_refuses_it():
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(600, 3)), columns=["a", "b", "c"])
    y = 3 * X["a"] - 2 * X["b"] + X["c"]
    X.loc[rng.random(600) < 0.1, "b"] = np.nan  # a tenth of b missing
    with pytest.raises(ValueError, match="contains NaN"):
        SklearnMLPClassifier().fit(X, y > 0)  # scikit-learn's own estimator refuses the frame
    model = mlpkit.MLPRegressor(max_iter=200, random_state=0).fit(X.iloc[:500], y.iloc[:500])
    assert model.features_ is not None and list(model.feature_names_in_) == ["a", "b", "c"]
    predicted = model.predict(X.iloc[500:])
    # a linear target, with b's gaps filled by its training median: most of the variance is still explained
    assert np.isfinite(predicted).all() and r2_score(y.iloc[500:], predicted) > 0.8
    with pytest.raises(ValueError, match="NaN"):
        mlpkit.MLPRegressor(max_iter=5).fit(X.to_numpy(), y)  # an array with NaN: refused, as in scikit-learn


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 20 epochs are enough here
def test_a_column_of_numbers_with_question_marks_trains_as_the_numbers_with_gaps():
    rng = np.random.default_rng(3)
    numbers = rng.integers(1, 11, 200).astype(float)
    numbers[rng.choice(200, 15, replace=False)] = np.nan
    y = (np.nan_to_num(numbers, nan=5.0) > 5).astype(int)
    marked = pd.DataFrame(
        {"nuclei": [("?" if np.isnan(v) else str(int(v))) for v in numbers], "x": rng.normal(size=200)}
    )
    gaps = marked.assign(nuclei=numbers)  # what pandas gives with na_values="?"
    assert_trains_as(marked, gaps, y)


def assert_trains_as(written: pd.DataFrame, numbers: pd.DataFrame, y: np.ndarray) -> None:
    """A table whose first column holds numbers written as text fits, and predicts, to the bit as the
    table of those numbers does (both with a gap, so that both are read as tables)."""
    fits = [
        mlpkit.MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(frame, y)
        for frame in (written, numbers)
    ]
    assert [feature.kind for feature in fits[0].features_.features] == ["numeric", "numeric"]
    for ours, reference in zip(fits[0].coefs_, fits[1].coefs_, strict=True):
        np.testing.assert_array_equal(ours, reference)
    np.testing.assert_array_equal(fits[0].predict_proba(written), fits[1].predict_proba(numbers))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_prices_written_with_signs_train_as_the_numbers_they_write():
    rng = np.random.default_rng(4)
    amounts = rng.uniform(100, 90000, 200)
    y = (amounts > 40000).astype(int)
    written = pd.DataFrame({"price": [f"${v:,.2f}" for v in amounts], "x": rng.normal(size=200)})
    numbers = written.assign(price=[float(f"{v:.2f}") for v in amounts])  # what the signs write
    written.loc[7, "price"], numbers.loc[7, "price"] = "?", np.nan  # a gap: both read as tables
    assert_trains_as(written, numbers, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_column_whose_categories_are_mostly_seen_once_is_warned_about():
    rng = np.random.default_rng(5)
    m = 120
    frame = pd.DataFrame(
        {
            "ticket": [f"T{i}" for i in rng.permutation(m)],  # one per row: an identifier
            "city": rng.choice([f"c{i}" for i in range(25)], m),  # 25 cities, about 5 rows each
            "x": rng.normal(size=m),
        }
    )
    y = np.arange(m) % 2
    message = r"column 'ticket' has 120 distinct values in 120 training rows"
    with pytest.warns(UserWarning, match=message) as seen:
        mlpkit.MLPClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(frame, y)
    assert not any("'city'" in str(warning.message) for warning in seen)
