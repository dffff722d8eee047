"""Preprocessing against scikit-learn's scalers and encoders, closed forms and hand examples."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import LabelEncoder, MinMaxScaler, OneHotEncoder, StandardScaler

from mlpkit.preprocessing import AffineScaler, encode_labels, one_hot, split_indices
from mlpkit.tasks import target_matrix


@pytest.fixture
def rows(rng):
    data = rng.normal(3.0, 2.0, size=(40, 5))
    data[:, 2] = 7.0  # a constant feature: zero deviation, zero range
    return data


def test_standard_scaler_matches_scikit_learn(rows, rng):
    ours = AffineScaler("standard").fit(rows)
    theirs = StandardScaler().fit(rows)
    np.testing.assert_allclose(ours.offset_, theirs.mean_, rtol=1e-12)
    np.testing.assert_allclose(ours.scale_, theirs.scale_, rtol=1e-12)  # zero std -> 1 in both
    new_rows = rng.normal(size=(7, 5))
    np.testing.assert_allclose(ours.transform(new_rows), theirs.transform(new_rows), rtol=1e-12, atol=1e-12)


def test_minmax_scaler_matches_scikit_learn(rows):
    ours = AffineScaler("minmax").fit(rows)
    np.testing.assert_allclose(ours.transform(rows), MinMaxScaler().fit_transform(rows), atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8])
def test_one_chunk_fit_is_numpys_mean_and_std_exactly(rng, dtype):
    rows = (rng.normal(50.0, 20.0, size=(257, 6)) % 255).astype(dtype)
    scaler = AffineScaler("standard").fit(rows)
    np.testing.assert_array_equal(scaler.offset_, rows.mean(axis=0, dtype=np.float64))
    np.testing.assert_array_equal(scaler.scale_, rows.std(axis=0, dtype=np.float64))
    minmax = AffineScaler("minmax").fit_chunks([rows])
    np.testing.assert_array_equal(minmax.offset_, rows.min(axis=0))
    np.testing.assert_array_equal(minmax.scale_, np.ptp(rows.astype(np.float64), axis=0))


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 60),
    cuts=st.lists(st.integers(0, 60), max_size=6),
    shift=st.floats(-1e6, 1e6),
    seed=st.integers(0, 2**16),
)
def test_streaming_fit_over_chunks_equals_numpy_on_the_whole_array(m, cuts, shift, seed):
    rows = np.random.default_rng(seed).normal(shift, 3.0, size=(m, 4))
    rows[:, 1] = round(shift)  # a constant column (its sum exact): zero deviation and range become 1
    chunks = np.split(rows, sorted(cut for cut in cuts if cut <= m))  # some chunks may be empty
    standard = AffineScaler("standard").fit_chunks(iter(chunks))
    np.testing.assert_allclose(standard.offset_, rows.mean(axis=0), rtol=1e-12, atol=1e-9)
    std = rows.std(axis=0)
    np.testing.assert_allclose(standard.scale_, np.where(std == 0, 1.0, std), rtol=1e-8, atol=1e-9)
    minmax = AffineScaler("minmax").fit_chunks(chunks)
    np.testing.assert_array_equal(minmax.offset_, rows.min(axis=0))
    span = rows.max(axis=0) - rows.min(axis=0)
    np.testing.assert_array_equal(minmax.scale_, np.where(span == 0, 1.0, span))


def test_streaming_fit_errors_name_the_problem():
    with pytest.raises(ValueError, match="cannot fit a scaler on 0 rows"):
        AffineScaler().fit_chunks([np.zeros((0, 3))])
    with pytest.raises(ValueError, match="cannot fit a scaler on 0 rows"):
        AffineScaler().fit_chunks([])
    with pytest.raises(ValueError, match="has 2 features .* but 3 are expected"):
        AffineScaler().fit_chunks([np.ones((4, 3)), np.ones((4, 2))])
    with pytest.raises(ValueError, match="rows to fit the scaler on contains NaN or infinity at row 1"):
        AffineScaler().fit_chunks([np.ones((4, 3)), np.array([[1.0, 2, 3], [np.inf, 0, 0]])])


def test_pixel_scaling_is_offset_zero_scale_255():
    pixels = np.array([[0, 51, 255], [255, 102, 0]], dtype=np.uint8)
    scaler = AffineScaler("pixel").fit(pixels)
    np.testing.assert_array_equal(scaler.offset_, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(scaler.scale_, [255.0, 255.0, 255.0])
    scaled = scaler.transform(pixels, dtype=np.float32)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, [[0.0, 0.2, 1.0], [1.0, 0.4, 0.0]], rtol=1e-7)


def test_fit_uses_training_rows_only_and_never_modifies_input():
    train = np.array([[1.0], [3.0]])  # mean 2, std 1
    test = np.array([[10.0]])
    before = test.copy()
    scaler = AffineScaler().fit(train)
    np.testing.assert_allclose(scaler.transform(test), [[8.0]])
    np.testing.assert_array_equal(test, before)


def test_fold_into_first_layer_gives_the_same_pre_activation(rows, rng):
    scaler = AffineScaler().fit(rows)
    W1, b1 = rng.normal(size=(3, 5)), rng.normal(size=(3, 1))
    folded_W1, folded_b1 = scaler.fold(W1, b1)
    raw = rows[:6]
    expected = W1 @ scaler.transform(raw).T + b1  # Z1 on scaled inputs, (3, 6)
    np.testing.assert_allclose(folded_W1 @ raw.T + folded_b1, expected, rtol=1e-10, atol=1e-10)


def test_from_arrays_restores_a_fitted_scaler():
    scaler = AffineScaler.from_arrays([1.0, 2.0], [2.0, 4.0], "standard")
    np.testing.assert_allclose(scaler.transform([[3.0, 10.0]]), [[1.0, 2.0]])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: AffineScaler().transform([[1.0]]), "not fitted"),
        (lambda: AffineScaler("zscore").fit([[1.0]]), r"Unknown scaling method 'zscore'; expected one of"),
        (lambda: AffineScaler().fit([1.0, 2.0]), "must be 2-D"),
        (lambda: AffineScaler().fit([[1.0, np.nan]]), "NaN or infinity at row 0, column 1"),
        (lambda: AffineScaler().fit([["a"]]), "real numbers"),
        (
            lambda: AffineScaler().fit(np.ones((3, 2))).transform(np.ones((1, 3))),
            "3 features .* 2 are expected",
        ),
        (lambda: AffineScaler.from_arrays([0.0], [0.0]), "nonzero"),
    ],
)
def test_scaler_errors_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("labels", [np.array(["cat", "dog", "cat", "eel"]), np.array([5, 3, 5, 9])])
def test_encode_labels_matches_label_encoder(labels):
    indices, classes = encode_labels(labels)
    encoder = LabelEncoder().fit(labels)
    np.testing.assert_array_equal(indices, encoder.transform(labels))
    assert classes == encoder.classes_.tolist()


def test_encode_labels_with_known_labels_and_an_unknown_one():
    indices, _ = encode_labels(np.array(["b", "a", "b"]), labels=["b", "a"])
    np.testing.assert_array_equal(indices, [0, 1, 0])
    with pytest.raises(ValueError, match=r"label 'z' at row 2 .* labels are \['b', 'a'\]"):
        encode_labels(np.array(["a", "b", "z"]), labels=["b", "a"])


def test_one_hot_matches_scikit_learn():
    indices = np.array([2, 0, 1, 2])
    expected = OneHotEncoder(categories=[[0, 1, 2]]).fit_transform(indices.reshape(-1, 1)).toarray()
    np.testing.assert_array_equal(one_hot(indices, 3), expected)
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        one_hot(np.array([0, 3]), 3)


def test_target_matrix_layouts_by_hand():
    classes = np.array([1, 0, 1])
    np.testing.assert_array_equal(target_matrix("binary", classes, 1, np.float64), [[1, 0, 1]])
    np.testing.assert_array_equal(target_matrix("binary", classes, 2, np.float64), [[0, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(
        target_matrix("multiclass", np.array([2, 0]), 3, np.float32), [[0, 1], [0, 0], [1, 0]]
    )
    np.testing.assert_array_equal(
        target_matrix("regression", np.array([0.5, 2.0]), 1, np.float64), [[0.5, 2.0]]
    )
    np.testing.assert_array_equal(
        target_matrix("multilabel", np.array([[1, 0], [1, 1], [0, 0]]), 2, np.float64), [[1, 1, 0], [0, 1, 0]]
    )


def test_stratified_split_takes_the_rounded_share_of_each_class():
    classes = np.array([0] * 50 + [1] * 30 + [2] * 7)
    train, test = split_indices(classes.size, 0.2, seed=0, stratify=classes)
    assert np.bincount(classes[test]).tolist() == [10, 6, 1]  # round(0.2 * 50), round(0.2 * 30), round(1.4)
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(classes.size))


def test_split_is_seeded():
    first = split_indices(100, 0.3, seed=4)
    again = split_indices(100, 0.3, seed=4)
    other = split_indices(100, 0.3, seed=5)
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])
    assert first[1].size == 30


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=5),
    fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**31),
)
def test_stratified_split_partitions_the_rows(counts, fraction, seed):
    classes = np.repeat(np.arange(len(counts)), counts)
    expected_test = [min(int(round(fraction * count)), count - 1) for count in counts]
    if sum(expected_test) == 0:
        with pytest.raises(ValueError, match="leaves no test rows|at least 2"):
            split_indices(classes.size, fraction, seed, classes)
        return
    train, test = split_indices(classes.size, fraction, seed, classes)
    assert np.bincount(classes[test], minlength=len(counts)).tolist() == expected_test
    assert np.bincount(classes[train], minlength=len(counts)).min() >= 1
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(classes.size))


def test_split_errors():
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\)"):
        split_indices(10, 1.0)
    with pytest.raises(ValueError, match="at least 2"):
        split_indices(1, 0.5)
