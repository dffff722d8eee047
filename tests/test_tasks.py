"""Which task whole-number targets call for: class codes repeat, quantities (prices, counts) rarely do."""

import numpy as np
import pytest

from mlpkit.tasks import scan_targets, target_kind


@pytest.mark.parametrize(
    ("distinct", "rows", "kind"),
    [
        (10, 60000, "classification"),  # Fashion-MNIST's labels
        (5, 40, "classification"),  # ratings 1-5 on 40 rows: at most 20 values are always classes
        (30, 1000, "classification"),  # 30 codes over 1,000 rows: a share of 0.03 <= 0.1
        (30, 200, "regression"),  # 30 values over 200 rows: 0.15 > 0.1
        (219, 546, "regression"),  # R's Housing prices: 219 values over 546 rows
        (1200, 60000, "regression"),  # more than 1,000 distinct values
        (900, 60000, "classification"),  # 900 codes over 60,000 rows: 0.015 <= 0.05
        (18, 22, "regression"),  # R's Burt, training rows: 18 scores over 22 rows repeat too rarely
        (19, 38, "regression"),  # R's swiss Examination: 19 values, each on 2 rows on average
        (12, 40, "classification"),  # 12 codes over 40 rows: each on more than 3 rows
        (10, 12, "classification"),  # at most 10 values are always classes
    ],
)
def test_whole_numbers_are_classes_only_when_few_values_repeat(distinct, rows, kind):
    y = np.arange(rows) % distinct * 7 + 1000
    assert target_kind(y) == kind
    assert target_kind(y.astype(np.float64)) == kind  # whole numbers stored as floats alike
    # read block by block, as memory-mapped labels are: the rule sees all the rows at once
    targets = scan_targets(np.array_split(y, 7))
    assert targets.task == ("regression" if kind == "regression" else "multiclass")


def test_text_labels_stay_classes_however_many():
    labels = np.array([f"name{i}" for i in range(500)])
    assert target_kind(labels) == "classification"
    assert scan_targets([labels]).task == "multiclass"


def test_an_identity_output_asked_for_makes_regression_and_softmax_keeps_classes():
    y = np.arange(300)  # 300 distinct values over 300 rows: regression by the rule
    assert scan_targets([y], output="identity").task == "regression"
    assert scan_targets([y], output="softmax").task == "multiclass"
