"""mlpkit: dense neural networks trained by vectorized backpropagation, in the course notes' notation.

Where to start:

- :class:`DNN` is the notes' network: ``forward`` caches ``Z_l`` and ``A_l``,
  ``compute_gradients`` is the vectorized backward pass (``dZ_L = A_L - Y``), ``backward`` the
  same from any loss's ``dA_L``, ``update`` the gradient-descent step; :mod:`mlpkit.layers`
  holds the same formulas one layer at a time. ``train(net, X, Y, optimizer="gd",
  batch_size=None, print_every=100)`` is the notes' training loop.
  In the engine, columns are samples: ``X`` is ``(n_x, m)``.
- :func:`train` runs mini-batch training with an optimizer (:class:`Adam`, ...), validation,
  early stopping and checkpoints; its settings are one :class:`TrainConfig`. With
  :class:`EmbeddingInput` it learns embeddings of categorical columns as part of ``A0``.
- :class:`MLPClassifier` and :class:`MLPRegressor` are scikit-learn estimators on the same
  engine (rows are samples there); :func:`save` and :func:`load` write and read model files.
- :class:`FeatureSchema` turns a table's raw columns (numbers, text, missing values) into
  the network's input: imputation, missing indicators, scaling, one-hot vocabularies.
- The ``mlpkit`` command (``mlpkit train``, ``evaluate``, ``predict``, ...) calls these.

docs/architecture.md shows how the modules fit together.
"""

from mlpkit.embeddings import EmbeddingInput
from mlpkit.export import export_onnx
from mlpkit.features import FeatureSchema
from mlpkit.gradcheck import gradient_check
from mlpkit.io import load, save
from mlpkit.model import Model
from mlpkit.network import DNN
from mlpkit.optimizers import SGD, Adam, AdamW, Momentum, Nesterov, RMSprop
from mlpkit.preprocessing import AffineScaler
from mlpkit.training import (
    Callback,
    History,
    TrainConfig,
    Trainer,
    TrainingDiverged,
    TrainingInterrupted,
    train,
)

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
    "EmbeddingInput",
    "FeatureSchema",
    "History",
    "Model",
    "Momentum",
    "Nesterov",
    "RMSprop",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "TrainingInterrupted",
    "export_onnx",
    "gradient_check",
    "load",
    "save",
    "train",
]
