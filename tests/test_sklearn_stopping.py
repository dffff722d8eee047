"""scikit-learn's stopping rule and learning-rate schedule (mlpkit.sklearn.stopping), by hand and
against scikit-learn's own bookkeeping."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("sklearn")

from mlpkit.sklearn.stopping import CONTINUE, REDUCED, STOP, NoImprovement, SklearnLearningRate  # noqa: E402

THETA = np.zeros(3)


def counts(rule: NoImprovement, values, tol: float) -> list[int]:
    """The no-improvement count after each epoch of training losses (or validation scores)."""
    seen = []
    for value in values:
        validation = (0.0, value) if rule.validation else None
        rule.end_epoch(value, THETA, tol, validation)
        seen.append(rule.count)
    return seen


def test_training_loss_must_fall_by_more_than_tol():
    rule = NoImprovement(validation=False)
    # 1.0 sets the best; 0.95 falls by 0.05 <= tol: no improvement, yet it is the new best;
    # 0.8 falls by 0.15 from 0.95: improvement; 0.9 does not improve; NaN compares false, so
    # (as in scikit-learn) it is not counted as worse and the count restarts
    assert counts(rule, [1.0, 0.95, 0.8, 0.9, math.nan], tol=0.1) == [0, 1, 0, 1, 0]
    assert rule.best_loss == 0.8 and rule.best_score is None and rule.scores is None


def test_validation_score_must_rise_by_tol_and_keeps_the_best_weights():
    rule = NoImprovement(validation=True)
    scores = [0.5, 0.55, 0.7, 0.7, math.nan, 0.69]
    for epoch, score in enumerate(scores):
        rule.end_epoch(1.0, np.full(3, epoch), 0.1, (10.0 - epoch, score))
    np.testing.assert_array_equal(rule.scores, scores)  # NaN included
    assert rule.validation_losses == [10.0, 9.0, 8.0, 7.0, 6.0, 5.0]
    # 0.55 < 0.5 + 0.1: count 1; 0.7 >= 0.55 + 0.1: reset; 0.7 ties: 1; NaN compares false: reset; 0.69: 1
    assert rule.count == 1 and rule.best_score == 0.7 and rule.best_loss is None
    np.testing.assert_array_equal(rule.best_theta, np.full(3, 2))  # the first epoch that scored 0.7


def test_decide_waits_more_than_n_iter_no_change_epochs_then_stops():
    rule, schedule = NoImprovement(validation=False), SklearnLearningRate("constant")
    decisions = []
    for loss in [1.0, 1.0, 1.0, 1.0]:  # an equal loss is no fall by more than tol
        rule.end_epoch(loss, THETA, 0.01)
        decisions.append(rule.decide(2, schedule, 0.1))
    assert decisions == [CONTINUE, CONTINUE, CONTINUE, STOP]  # counts 0, 1, 2, 3 > 2
    assert schedule(0.1, 0) == 0.1


def test_adaptive_rate_is_divided_by_5_until_1e_6():
    rule, schedule = NoImprovement(validation=False), SklearnLearningRate("adaptive")
    rates, decisions = [], []
    while not decisions or decisions[-1] != STOP:
        rule.count = 1  # one epoch without improvement, more than n_iter_no_change = 0
        decisions.append(rule.decide(0, schedule, 1e-4))
        rates.append(schedule(1e-4, 0))
        assert rule.count == (0 if decisions[-1] == REDUCED else 1)  # a reduction restarts the count
    # 1e-4 -> 2e-5 -> 4e-6 -> 8e-7, which is <= 1e-6: stop
    assert decisions == [REDUCED, REDUCED, REDUCED, STOP]
    np.testing.assert_allclose(rates, [2e-5, 4e-6, 8e-7, 8e-7])


def test_invscaling_follows_samples_seen():
    schedule = SklearnLearningRate("invscaling", power_t=0.5, samples_seen=99)
    assert schedule(0.3, 7) == pytest.approx(0.3 / 10.0)


@pytest.mark.parametrize("validation", [False, True])
def test_counts_equal_scikit_learns_bookkeeping(validation):
    """The same losses (or scores) through scikit-learn's own update give the same counts and bests."""
    module = pytest.importorskip("sklearn.neural_network._multilayer_perceptron")
    update = getattr(getattr(module, "BaseMultilayerPerceptron", None), "_update_no_improvement_count", None)
    if update is None:
        pytest.skip("scikit-learn's private stopping bookkeeping moved")
    rng = np.random.default_rng(0)
    values = np.round(rng.uniform(0.0, 1.0, 200), 2).tolist()  # ties happen, as on small sets
    values[50] = math.nan
    tol = 0.05
    theirs = SimpleNamespace(
        _no_improvement_count=0,
        tol=tol,
        verbose=False,
        best_loss_=math.inf,
        loss_curve_=[],
        validation_scores_=[],
        best_validation_score_=-math.inf,
        coefs_=[],
        intercepts_=[],
    )
    ours, expected = NoImprovement(validation), []
    for value in values:
        theirs.loss_curve_.append(value)
        theirs._score = lambda X, y, sample_weight=None, value=value: value
        update(theirs, validation, None, None, None)
        expected.append(theirs._no_improvement_count)
    assert counts(ours, values, tol) == expected
    if validation:
        assert ours.best_score == theirs.best_validation_score_
    else:
        assert ours.best_loss == theirs.best_loss_
