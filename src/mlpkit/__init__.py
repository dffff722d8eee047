"""mlpkit: dense neural networks trained by vectorized backpropagation, in the course notes' notation."""

from mlpkit.export import export_onnx
from mlpkit.gradcheck import gradient_check
from mlpkit.io import load, save
from mlpkit.model import Model
from mlpkit.network import DNN
from mlpkit.optimizers import SGD, Adam, AdamW, Momentum, Nesterov, RMSprop
from mlpkit.preprocessing import AffineScaler
from mlpkit.training import Callback, History, Trainer, TrainingDiverged, TrainingInterrupted, train

__version__ = "0.1.0"

# scikit-learn estimators: imported on first use (and left out of __all__, so that
# `from mlpkit import *` works without scikit-learn, an optional extra)
_ESTIMATORS = ("MLPClassifier", "MLPRegressor")


def __getattr__(name: str):
    """Load ``MLPClassifier``/``MLPRegressor`` lazily (ImportError naming the extra if it is missing)."""
    if name in _ESTIMATORS:
        from mlpkit import sklearn

        return getattr(sklearn, name)
    raise AttributeError(f"module 'mlpkit' has no attribute {name!r}")


__all__ = [
    "DNN",
    "SGD",
    "Adam",
    "AdamW",
    "AffineScaler",
    "Callback",
    "History",
    "Model",
    "Momentum",
    "Nesterov",
    "RMSprop",
    "Trainer",
    "TrainingDiverged",
    "TrainingInterrupted",
    "export_onnx",
    "gradient_check",
    "load",
    "save",
    "train",
]
