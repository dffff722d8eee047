"""The column schema: numbers against scikit-learn's imputer, scalers and one-hot encoder; vocabulary
indices, the cap, name matching and dropped columns on hand-built tables; the stored form."""

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder, RobustScaler, StandardScaler

from mlpkit.columns import number_text
from mlpkit.features import FeatureSchema, TableFeatures, choose_encoding, embedding_dim
from mlpkit.tables import as_table


@pytest.fixture
def numbers():
    """Heavy-tailed columns with gaps, and rows to transform that have gaps where training had none."""
    rng = np.random.default_rng(0)
    train = rng.standard_t(2, size=(200, 3)) * [1.0, 10.0, 1e3]
    train[rng.random(train.shape) < 0.15] = np.nan
    train[:, 2] = rng.normal(size=200)  # no gaps: no indicator
    test = rng.standard_t(2, size=(50, 3))
    test[rng.random(test.shape) < 0.2] = np.nan
    return train, test


def imputed_then(scaler, train, test):
    """scikit-learn's median imputation (with indicators) then ``scaler`` on the values."""
    imputer = SimpleImputer(strategy="median", add_indicator=True).fit(train)
    values = slice(0, train.shape[1])
    fitted = scaler.fit(imputer.transform(train)[:, values])
    return fitted.transform(imputer.transform(test)[:, values]), imputer.transform(test)[:, train.shape[1] :]


def test_standard_scaling_is_imputer_then_standard_scaler(numbers):
    train, test = numbers
    schema = FeatureSchema.fit(train, scaling="standard")
    dense = schema.transform(test).dense
    values, indicators = imputed_then(StandardScaler(), train, test)
    assert schema.dense_names == ["x0", "x0_missing", "x1", "x1_missing", "x2"]
    np.testing.assert_allclose(dense[:, [0, 2, 4]], values, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(dense[:, [1, 3]], indicators)


def test_robust_scaling_is_imputer_then_robust_scaler_then_3_asinh_of_a_third(numbers):
    train, test = numbers
    dense = FeatureSchema.fit(train, scaling="robust").transform(test).dense
    values, indicators = imputed_then(RobustScaler(), train, test)
    compressed = 3 * np.log(values / 3 + np.sqrt((values / 3) ** 2 + 1))  # asinh written out
    np.testing.assert_allclose(dense[:, [0, 2, 4]], compressed, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(dense[:, [1, 3]], indicators)
    huge = FeatureSchema.fit({"x": [0.0, 1.0, 2.0, 3.0]}).transform({"x": [1e308, -1e308]}).dense
    assert np.isfinite(huge).all() and huge[0, 0] == -huge[1, 0] > 0


def test_robust_scale_falls_back_to_the_deviation_when_the_iqr_is_zero():
    values = np.array([0.0] * 8 + [4.0, 8.0])  # median 0, IQR 0, standard deviation 2.6
    schema = FeatureSchema.fit({"x": values})
    feature = schema.features[0]
    assert (feature.center, feature.scale) == (0.0, pytest.approx(np.std(values)))
    constant = FeatureSchema.fit({"c": np.full(5, 7.0)}).features[0]
    assert constant.scale == 1.0
    np.testing.assert_array_equal(
        FeatureSchema.fit({"c": np.full(5, 7.0)}).transform({"c": [7.0]}).dense, [[0]]
    )


def test_onehot_blocks_are_scikit_learns_one_hot_encoder():
    train = np.array(
        [["rent", "b"], ["own", None], [None, "a"], ["rent", "a"], ["mortgage", "b"]], dtype=object
    )
    test = np.array([["own", "a"], ["castle", None], [None, "zz"], ["rent", "b"]], dtype=object)
    schema = FeatureSchema.fit(train, encoding="onehot")
    encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(train)
    np.testing.assert_array_equal(schema.transform(test).dense, encoder.transform(test))
    assert schema.dense_width == encoder.transform(test).shape[1] == 7
    assert schema.dense_names[:4] == ["x0=mortgage", "x0=own", "x0=rent", "x0=<missing>"]


def test_vocabulary_indices_missing_0_unseen_1_categories_from_2_sorted():
    schema = FeatureSchema.fit({"c": ["b", "a", None, "b"]}, encoding="embedding")
    features = schema.transform({"c": ["a", "b", None, "never seen", "a"]})
    np.testing.assert_array_equal(features.codes, [[2], [3], [0], [1], [2]])
    assert features.codes.dtype == np.int64 and features.dense.shape == (5, 0)
    assert schema.embedded == [("c", 4, embedding_dim(4))] and schema.dense_width == 0


def test_encoding_rule_and_embedding_size():
    assert [choose_encoding(n) for n in (3, 10, 11)] == ["onehot", "onehot", "embedding"]
    for n_c in (2, 11, 50, 1002):
        assert embedding_dim(n_c) == min(16, math.ceil(1.6 * n_c**0.56))
    assert embedding_dim(11) == 7 and embedding_dim(1002) == 16
    rows = {"few": list("abc") * 4, "many": [f"v{i}" for i in range(12)], "n": np.arange(12.0)}
    auto = FeatureSchema.fit(rows)
    assert [name for name, _, _ in auto.embedded] == ["many"]  # 12 categories: n_c = 14 > 10
    assert auto.embedded == [("many", 14, embedding_dim(14))]
    forced = FeatureSchema.fit(rows, encoding="onehot")
    assert forced.embedded == [] and forced.dense_width == 1 + 3 + 12
    mixed = FeatureSchema.fit(rows, encoding={"few": "embedding"})
    assert [name for name, _, _ in mixed.embedded] == ["few", "many"]
    with pytest.raises(ValueError, match=r"encoding names column\(s\) \['n'\] that are not categorical"):
        FeatureSchema.fit(rows, encoding={"n": "onehot"})
    with pytest.raises(ValueError, match=r"Unknown encoding 'dense' for column 'few'"):
        FeatureSchema.fit(rows, encoding="dense")


def test_the_cap_on_distinct_values_names_the_column():
    rows = {"id": [f"user{i}" for i in range(1001)], "x": np.arange(1001.0)}
    with pytest.raises(ValueError, match=r"column 'id' has 1001 distinct values .* more than the 1000"):
        FeatureSchema.fit(rows)
    assert FeatureSchema.fit(rows, max_categories=2000).embedded == [("id", 1003, 16)]


def test_columns_match_by_name_in_any_order_and_strangers_are_named():
    rows = {"a": [1.0, 2.0, 3.0], "b": ["x", "y", "x"], "c": [0.5, 0.1, 0.2]}
    schema = FeatureSchema.fit(rows)
    reordered = {"c": rows["c"], "a": rows["a"], "b": rows["b"]}
    np.testing.assert_array_equal(schema.transform(reordered).dense, schema.transform(rows).dense)
    with pytest.raises(
        ValueError, match=r"lacks the training column\(s\) \['b'\] and has column\(s\) \['d'\]"
    ):
        schema.transform({"a": [1.0], "c": [2.0], "d": ["?"]})
    with pytest.raises(ValueError, match=r"has column\(s\) \['x0', 'x1', 'x2'\] that the model was not"):
        schema.transform(np.zeros((2, 3)))


def test_an_all_missing_column_is_dropped_with_a_note_and_ignored_later():
    rows = {"a": [1.0, 2.0, 3.0], "empty": [np.nan] * 3, "none": [None, None, None]}
    schema = FeatureSchema.fit(rows)
    assert schema.columns == ["a"] and schema.dropped == ["empty", "none"]
    assert "empty: dropped, no value in the training rows" in schema.describe()
    np.testing.assert_array_equal(schema.transform({"a": [2.0]}).dense, schema.transform(rows).dense[1:2])
    with pytest.raises(ValueError, match=r"no column has any value in the training rows"):
        FeatureSchema.fit({"empty": [np.nan, np.nan]})


def test_every_kind_of_table_gives_the_same_features():
    frame = pd.DataFrame(
        {
            "age": [30.0, np.nan, 50.0, 41.0],
            "home": ["rent", "own", None, "rent"],
            "vip": [True, False, True, True],
            "city": pd.Categorical(["a", "b", "a", None]),
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "text": pd.array(["u", "v", pd.NA, "u"], dtype="string"),
            "flag": pd.array([True, None, False, True], dtype="boolean"),
        }
    )
    schema = FeatureSchema.fit(frame)
    expected = schema.transform(frame).dense
    kinds = schema.kinds()
    assert [name for name, kind in kinds.items() if kind == "numeric"] == ["age", "n"]
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    as_dict = {
        "age": frame["age"].to_numpy(),
        "home": np.array(["rent", "own", None, "rent"], dtype=object),
        "vip": np.array([True, False, True, True]),
        "city": ["a", "b", "a", None],
        "n": [1.0, np.nan, 3.0, 4.0],
        "text": ["u", "v", None, "u"],
        "flag": [True, None, False, True],
    }
    for table in (arrow, as_dict, frame[list(reversed(frame.columns))]):
        np.testing.assert_array_equal(schema.transform(table).dense, expected)
    assert FeatureSchema.fit(arrow) == schema


def test_numbers_named_categorical_use_their_text():
    rows = {"zip": [75001, 69002, 75001, np.nan], "x": [1.0, 2.0, 3.0, 4.0]}
    schema = FeatureSchema.fit(rows, categorical=["zip"])
    assert schema.features[0].categories == ("69002", "75001") and schema.kinds()["zip"] == "categorical"
    as_text = schema.transform({"zip": ["75001", "69002", "13000", None], "x": [1.0] * 4}).dense
    np.testing.assert_array_equal(as_text[:, :3], [[0, 1, 0], [1, 0, 0], [0, 0, 0], [0, 0, 1]])
    assert [number_text(v) for v in (3.0, 2.5, -0.0, 1e20)] == ["3", "2.5", "0", "1e+20"]
    with pytest.raises(ValueError, match=r"categorical names column\(s\) \['zipcode'\] not in the table"):
        FeatureSchema.fit(rows, categorical=["zipcode"])


def test_text_in_a_numeric_column_is_read_as_numbers_or_refused_by_row():
    schema = FeatureSchema.fit({"x": [1.0, 2.0, 3.0]})
    np.testing.assert_array_equal(
        schema.transform({"x": ["1", None, "3"]}).dense, schema.transform({"x": [1.0, np.nan, 3.0]}).dense
    )
    with pytest.raises(ValueError, match=r"row 1, column 'x': 'two' is not a number"):
        schema.transform({"x": ["1", "two"]})
    with pytest.raises(ValueError, match=r"row 2, column 'x': inf is not a finite number"):
        FeatureSchema.fit({"x": [1.0, 2.0, np.inf]})
    with pytest.raises(ValueError, match=r"row 0, column 'x': -inf is not a finite number"):
        schema.transform({"x": [-np.inf]})


def test_dtype_and_empty_tables():
    schema = FeatureSchema.fit({"x": [1.0, 2.0], "c": ["a", "b"]})
    features = schema.transform({"x": np.array([], dtype=float), "c": np.array([], dtype=object)}, np.float32)
    assert isinstance(features, TableFeatures) and features.dense.shape == (0, 3)
    assert features.dense.dtype == np.float32 and features.codes.shape == (0, 0)
    with pytest.raises(ValueError, match="cannot fit a feature schema on 0 rows"):
        FeatureSchema.fit({"x": np.array([])})
    with pytest.raises(ValueError, match="a table must be a pandas DataFrame, a pyarrow Table"):
        FeatureSchema.fit(42)


def test_the_stored_schema_is_json_and_reads_back_equal(numbers):
    train, _ = numbers
    table = {"a": train[:, 0], "c": np.array(["x", "y", None, "z"] * 50, dtype=object)}
    schema = FeatureSchema.fit(table, encoding={"c": "embedding"})
    again = FeatureSchema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert again == schema and again.embedded == schema.embedded
    np.testing.assert_array_equal(again.transform(table).dense, schema.transform(table).dense)
    np.testing.assert_array_equal(again.transform(table).codes, schema.transform(table).codes)


def _changed(schema: FeatureSchema, change) -> dict:
    data = json.loads(json.dumps(schema.to_dict()))
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="other"), "features must be an object with format"),
        (lambda d: d.update(version=2), "features.version is 2"),
        (lambda d: d.update(scaling="eval"), "features.scaling is 'eval'"),
        (lambda d: d.update(columns=[]), "features.columns must list 1 to"),
        (lambda d: d["columns"][0].update(scale=0), r"features.columns\[0\].scale must be > 0"),
        (
            lambda d: d["columns"][0].update(median="1"),
            r"features.columns\[0\].median must be a finite number",
        ),
        (
            lambda d: d["columns"][0].update(indicator=1),
            r"features.columns\[0\].indicator must be true or false",
        ),
        (lambda d: d["columns"][0].update(kind="code"), r"features.columns\[0\].kind is 'code'"),
        (lambda d: d["columns"][0].update(name=""), r"features.columns\[0\].name must be a string"),
        (lambda d: d["columns"][1].update(categories=["a", "a"]), r"categories must be distinct strings"),
        (lambda d: d["columns"][1].update(categories=[1]), r"categories must be distinct strings"),
        (lambda d: d["columns"][1].update(encoding="pickle"), r"\[1\].encoding is 'pickle'"),
        (
            lambda d: d["columns"][1].update(dim=3),
            r"\[1\].dim must be >= 1 for an embedding and 0 for one-hot",
        ),
        (lambda d: d["columns"].append(d["columns"][0]), "a column appears twice in the schema"),
        (lambda d: d.update(dropped=[None]), "features.dropped must be a list of column names"),
    ],
)
def test_a_bad_stored_schema_is_refused_naming_the_entry(change, message):
    schema = FeatureSchema.fit({"a": [1.0, np.nan, 3.0], "c": ["x", "y", "x"]})
    with pytest.raises(ValueError, match=message):
        FeatureSchema.from_dict(_changed(schema, change))


def test_describe_is_a_few_lines():
    rows = {f"n{i}": np.arange(4.0) for i in range(14)} | {"c": ["a", None, "b", "a"]}
    lines = FeatureSchema.fit(rows).describe()
    assert lines[0] == (
        "15 columns -> 17 inputs: 14 numeric (robust scaling, 0 with a missing indicator), 1 categorical"
    )
    assert len(lines) == 14 and lines[-1] == "... and 3 more columns"
    assert as_table(rows).shape == (4, 15)


def test_ignored_columns_round_trip_and_a_bad_entry_is_refused():
    table = {"id": np.array(["a", "b", "c", "d"], dtype=object), "x": np.array([1.0, 2.0, 3.0, 4.0])}
    schema = FeatureSchema.fit(table, ignore=["id"])
    assert schema.columns == ["x"] and schema.ignored == ["id"]
    assert FeatureSchema.from_dict(schema.to_dict()) == schema
    np.testing.assert_array_equal(schema.transform(table).dense, schema.transform({"x": table["x"]}).dense)
    for bad in ("id", [1], None):
        with pytest.raises(ValueError, match="features.ignored must be a list of column names"):
            FeatureSchema.from_dict({**schema.to_dict(), "ignored": bad})


def test_a_column_of_iso_dates_is_the_numeric_column_of_its_days():
    texts = ["2024-01-01", "2024-02-29 12:00", None, "2023-12-31T06:30:00", "2024-03-01 02:00+01:00"] * 8
    frame = pd.DataFrame({"day": texts, "x": np.arange(40.0)})
    schema = FeatureSchema.fit(frame)
    day = schema.features[0]
    assert day.kind == "numeric" and day.dates and day.indicator
    # pandas' own reading of the dates, as days since 1970-01-01, fitted as an ordinary number column
    instants = pd.to_datetime(pd.Series(texts), format="ISO8601", utc=True).dt.tz_localize(None)
    days = (instants - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
    reference = FeatureSchema.fit(frame.assign(day=days))
    assert (day.median, day.center, day.scale) == pytest.approx(
        (reference.features[0].median, reference.features[0].center, reference.features[0].scale)
    )
    expected = reference.transform(frame.assign(day=days)).dense
    np.testing.assert_allclose(schema.transform(frame).dense, expected)
    # a later date than any trained on is a larger number, not an unseen category
    later = schema.transform(pd.DataFrame({"day": ["2030-01-01"], "x": [0.0]})).dense[0, 0]
    assert later > schema.transform(frame).dense[:, 0].max()
    assert FeatureSchema.from_dict(schema.to_dict()) == schema  # stored with the flag
    older = schema.to_dict()
    older["columns"][1].pop("dates", None)  # "x": a file of an earlier version has no flag
    assert not FeatureSchema.from_dict(older).features[1].dates
    with pytest.raises(ValueError, match=r"column 'day': 'soon' is not a date"):
        schema.transform(pd.DataFrame({"day": ["2024-01-01", "soon"], "x": [0.0, 1.0]}))
    named = FeatureSchema.fit(frame, ["day"])  # named as categories: kept so
    assert named.features[0].kind == "categorical"
    mixed = FeatureSchema.fit(frame.assign(day=["2024-01-01", "01/02/2024"] * 20))  # not all ISO: text
    assert mixed.features[0].kind == "categorical"
