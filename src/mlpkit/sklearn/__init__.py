"""scikit-learn estimators on mlpkit's engine: MLPClassifier and MLPRegressor (rows are samples)."""

from mlpkit.sklearn.estimators import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
