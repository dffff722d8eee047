"""scikit-learn's own estimator checks on MLPClassifier and MLPRegressor: the default instances
(adam, the input's dtype) and lbfgs, with no check declared as an expected failure."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlpkit.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CHECKED = [
    MLPClassifier(),
    MLPRegressor(),
    MLPClassifier(solver="lbfgs", max_iter=50),
    MLPRegressor(solver="lbfgs", max_iter=50),
]


@parametrize_with_checks(CHECKED)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
