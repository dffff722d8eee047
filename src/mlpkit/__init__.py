"""mlpkit: dense neural networks trained by vectorized backpropagation, in the course notes' notation.

mlpkit is the system that classic course notes on backpropagation describe, written as clear,
tested numpy under the notes' names (``W1``, ``b1``, ``Z1``, ``A1``, ``dZ1``, ``dW1``, ...), and
around it what real work needs: data files and tables, fast training, scikit-learn estimators,
safe model files, a command line, ONNX export and data-parallel training.

The network, as in the notes (in the engine, columns are samples: ``X`` is ``(n_x, m)``):

>>> import numpy as np
>>> import mlpkit
>>> net = mlpkit.DNN([2, 3, 1], hidden_activation="tanh", output_activation="sigmoid", seed=0)
>>> X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])  # (n_x, m) = (2, 4)
>>> AL, cache = net.forward(X)  # cache: A0, Z1, A1, Z2, A2
>>> AL.shape
(1, 4)
>>> Y = np.array([[0.0, 1.0, 1.0, 0.0]])  # (n_L, m)
>>> grads = net.compute_gradients(AL, Y, cache)  # the backward pass: dZ_L = A_L - Y, ...
>>> grads["dW1"].shape == net.params["W1"].shape
True

Where to go next:

- :class:`DNN` is the notes' network: ``forward`` caches ``Z_l`` and ``A_l``,
  ``compute_gradients`` is the vectorized backward pass (``dZ_L = A_L - Y``), ``backward`` the
  same from any loss's ``dA_L``, ``update`` the gradient-descent step; :mod:`mlpkit.layers`
  holds the same formulas one layer at a time, :func:`gradient_check` compares them with finite
  differences. ``train(net, X, Y, optimizer="gd", batch_size=None, print_every=100)`` is the
  notes' training loop.
- :func:`train` runs mini-batch training with an optimizer (:class:`SGD`, :class:`Adam`, ...),
  validation, early stopping, checkpoints and resume; its settings are one :class:`TrainConfig`.
  With :class:`EmbeddingInput` it learns embeddings of categorical columns as part of ``A0``.
- :class:`MLPClassifier` and :class:`MLPRegressor` are scikit-learn estimators on the same
  engine (rows are samples there; they need ``pip install "mlpkit[sklearn]"``), and take
  DataFrames with text and missing values through a :class:`FeatureSchema`.
- :func:`save` and :func:`load` write and read model files (a zip of ``.npy`` arrays and JSON,
  never pickle); :class:`Model` predicts labels from raw rows; :func:`export_onnx` writes ONNX.
- The ``mlpkit`` command (``mlpkit train``, ``evaluate``, ``predict``, ``info``, ``export``,
  ``gradcheck``, ``explain``, ``plot``; ``mlpkit --help``) calls these; docs/cli.md lists its
  options and its guarantees (no output replaces an input, sizes are bounded before memory is
  allocated, errors name the file, row, column and option).

docs/architecture.md shows how the modules fit together; docs/guide.md maps each formula of the
notes to its code and its test.
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
