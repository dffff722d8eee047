"""MLPRegressor: scikit-learn's multi-layer perceptron regressor on mlpkit's engine (rows are samples)."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import column_or_1d

from mlpkit.sklearn.base import BaseMLP, has_stochastic_solver
from mlpkit.sklearn.params import invalid

# loss -> scikit-learn's name of the output activation it pairs with (dZ_L = A_L - Y for both)
LOSSES = {"squared_error": "identity", "poisson": "exp"}


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor, scikit-learn's API: identity output and squared error, or
    with ``loss="poisson"`` an exp output and half the Poisson deviance (counts, rates: y >= 0).

    Single or multi-output targets. The weights take the input's dtype (float32 stays float32,
    else float64) unless ``dtype`` names one. Beyond scikit-learn: ``dropout``, ``dtype`` and
    ``validation_loss_curve_``.

    Tables: a DataFrame with text, category or bool columns and missing values (or a pyarrow
    Table, a dict of columns) is taken directly: a column schema fitted on the first fit
    (``features_``) imputes and scales the numbers and encodes the categories, one-hot or, with
    many values, as learned embeddings (``inputs_``); ``categorical_features`` names columns to
    treat as categories even if they hold numbers. Columns are matched by name when predicting.
    """

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        dtype=None,
        distributed=False,
        categorical_features=None,
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.dtype = dtype
        self.distributed = distributed
        self.categorical_features = categorical_features

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _validate_training_data(self, X, y, incremental: bool, reset: bool):
        if self.loss not in LOSSES:
            raise invalid(self, "loss", f"one of {sorted(LOSSES)}")
        X, y = self._validated_rows(X, y, reset, y_numeric=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and (y < 0).any():
            row, *column = np.argwhere(y < 0)[0]
            raise ValueError(
                f"MLPRegressor: loss='poisson' models counts and rates, which are >= 0; "
                f"y has {float(y[(row, *column)])} at row {row + 1}"
                + (f", column {column[0] + 1}" if column else "")
            )
        return X, (y.reshape(-1, 1) if y.ndim == 1 else y), y

    def _output_activation(self) -> str:
        return LOSSES[self.loss]

    def _validation_score(self, AL: np.ndarray, Y: np.ndarray, weight: np.ndarray | None) -> float:
        return r2_score(Y, AL, sample_weight=weight)

    def _model_task_and_labels(self) -> tuple[str, list | None]:
        return "regression", None  # an exp output (poisson) predicts its mean, as identity does

    @available_if(has_stochastic_solver)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``, keeping weights and optimizer state (Adam's moments)."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predicted values: ``(m,)`` for one output, ``(m, n_outputs)`` otherwise, in the input's dtype."""
        AL, dtype = self._output_rows(X)
        AL = AL.astype(dtype, copy=False)
        return AL.ravel() if AL.shape[1] == 1 else AL
