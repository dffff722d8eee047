"""The estimator MLPClassifier and MLPRegressor share: fit, warm start, partial_fit, fitted attributes.

``fit`` checks the parameters once (they become a :class:`TrainConfig`), validates the data
(the subclass's job), builds or keeps the network, and hands it to a solver: sgd and adam
through the Trainer (:mod:`.stochastic`), lbfgs through scipy (:mod:`.lbfgs`).
"""

from __future__ import annotations

import copy

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import _check_y, check_is_fitted, validate_data

from mlpkit.columns import ColumnTable
from mlpkit.initializers import glorot_uniform_scaled
from mlpkit.model import Model
from mlpkit.network import DNN
from mlpkit.sklearn.attributes import FittedAttributes
from mlpkit.sklearn.frames import (
    embeddings_in,
    fit_schema,
    network_input,
    new_embeddings,
    read_table,
    table_features,
    takes_schema,
)
from mlpkit.sklearn.lbfgs import LbfgsSolver
from mlpkit.sklearn.params import (
    OUTPUT_ACTIVATIONS,
    check_sample_weight,
    checked_config,
    json_safe,
    random_generator,
    training_dtype,
    without_zero_weights,
)
from mlpkit.sklearn.stochastic import StochasticSolver
from mlpkit.sklearn.stopping import NoImprovement
from mlpkit.training import TrainConfig

# What X may be, as for scikit-learn's MLP: an array or a scipy sparse CSR or CSC matrix (other
# sparse formats become CSR), of float64 or float32 (other dtypes become float64)
INPUT = {"accept_sparse": ["csr", "csc"], "dtype": (np.float64, np.float32)}


class BaseMLP(FittedAttributes, StochasticSolver, LbfgsSolver, BaseEstimator):
    """What the classifier and the regressor share; they add the targets, the score and predict."""

    # ------------------------------------------------------------------ subclass hooks
    def _validate_training_data(self, X, y, incremental: bool, reset: bool):
        raise NotImplementedError

    def _output_activation(self) -> str:
        raise NotImplementedError

    def _training_weights(self, sample_weight: np.ndarray | None, y) -> np.ndarray | None:
        return sample_weight

    def _validation_score(self, AL: np.ndarray, Y: np.ndarray, weight: np.ndarray | None) -> float:
        raise NotImplementedError

    def _model_task_and_labels(self) -> tuple[str, list | None]:
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # scipy sparse X: the first layer's products stay sparse
        return tags

    # ------------------------------------------------------------------ fitted state
    def __sklearn_is_fitted__(self) -> bool:
        return "net_" in self.__dict__ or self._has_assigned_weights()

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, sample_weight=None):
        """Fit the network to rows ``X`` and targets ``y``; returns ``self``."""
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental: bool):
        config = checked_config(self)
        first_pass = not self.__sklearn_is_fitted__() or (not self.warm_start and not incremental)
        if not first_pass:
            self._take_assigned_weights()
        table = self._training_table(X, first_pass)
        rows = X if table is None else table
        X, Y, y = self._validate_training_data(rows, y, incremental, reset=first_pass)
        dtype = training_dtype(self, X) if first_pass else self._continued_dtype()
        codes = None
        if table is not None:
            X, codes = table_features(self, table, dtype)  # (m, n_dense), (m, C)
        weight = check_sample_weight(sample_weight, X.shape[0])
        weight = self._training_weights(weight, y)
        X, Y, weight, codes = without_zero_weights(X, Y, weight, codes)
        if first_pass:
            self._initialize(X.shape[1], Y.shape[1], dtype, config)
        else:
            self._continue_with(Y.shape[1], dtype, config)
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, weight, config, codes)
        else:
            self._fit_stochastic(X, Y, weight, config, incremental, codes)
        return self

    def _training_table(self, X, first_pass: bool) -> ColumnTable | None:
        """``X`` as raw columns when it goes through the column schema (fitted on a first pass), else None."""
        if first_pass:
            self.features_ = None
            return fit_schema(self, X) if takes_schema(X, self.categorical_features) else None
        return read_table(self, X) if self.features_ is not None else None

    def _validated_rows(self, X, y, reset: bool, **check) -> tuple:
        """scikit-learn's checks of ``X`` and ``y``; for raw columns (read by the schema) of ``y`` alone."""
        if not isinstance(X, ColumnTable):
            return validate_data(self, X, y, multi_output=True, reset=reset, **check, **INPUT)
        y = _check_y(y, multi_output=True, y_numeric=check.get("y_numeric", False), estimator=self)
        if y.shape[0] != X.n_rows:
            raise ValueError(f"X has {X.n_rows} rows but y has {y.shape[0]}; give one target per row")
        return X, y

    def _initialize(self, n_features: int, n_outputs: int, dtype: str, config: TrainConfig) -> None:
        """A fresh network (scikit-learn's Glorot-uniform draws, biases too) and bookkeeping;
        with a schema that embeds columns, the embeddings too (drawn after the network)."""
        self._forget_assigned_weights()  # a fresh fit starts from its own draws
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(config.hidden) + 2
        self.out_activation_ = self._output_activation()
        self.n_iter_ = 0
        self.t_ = 0
        rng = random_generator(self.random_state)
        embedded = self.features_.embedded if self.features_ is not None else []
        n_x = n_features + sum(d_c for _, _, d_c in embedded)  # n_dense + sum_c d_c
        self.net_ = self._new_network([n_x, *config.hidden, n_outputs], config.activation, rng, dtype)
        self._seed = int(rng.integers(2**63 - 1))
        self._split_seed = int(rng.integers(2**32 - 1))
        self.inputs_ = new_embeddings(self.features_, rng, dtype) if embedded else None
        self._trainer = None
        self.loss_curve_ = []
        self._stopping = NoImprovement(config.early_stopping)

    def _new_network(
        self, layer_sizes: list[int], activation: str, rng: np.random.Generator, dtype: str
    ) -> DNN:
        """scikit-learn's initialization: every W_l, then every b_l, from U(-r, r) with
        r = sqrt(f / (n_{l-1} + n_l)), f = 2 for logistic units and 6 otherwise."""
        draw = glorot_uniform_scaled(2.0 if self.activation == "logistic" else 6.0)
        output = OUTPUT_ACTIVATIONS[self.out_activation_]
        net = DNN(layer_sizes, activation, output, seed=rng, dtype=dtype, initializer=draw)
        for l in range(1, net.L + 1):
            net.params[f"b{l}"][...] = draw(rng, layer_sizes[l - 1], layer_sizes[l], (layer_sizes[l], 1))
        return net

    def _continued_dtype(self) -> str:
        """Warm start and partial_fit keep the network's dtype, unless ``dtype`` (or lbfgs) asks otherwise."""
        if self.solver == "lbfgs":
            return "float64"
        return self.net_.dtype.name if self.dtype is None else str(np.dtype(self.dtype))

    def _continue_with(self, n_outputs: int, dtype: str, config: TrainConfig) -> None:
        """Warm start or partial_fit: keep the weights (and optimizer) if the shapes still fit."""
        expected = [self.net_.layer_sizes[0], *config.hidden, n_outputs]
        if list(self.net_.layer_sizes) != expected:
            raise ValueError(
                f"{type(self).__name__}: cannot continue training a network of layer sizes "
                f"{list(self.net_.layer_sizes)} with hidden_layer_sizes={self.hidden_layer_sizes!r} "
                f"({expected}); set warm_start=False to start afresh"
            )
        if self.net_.dtype.name != dtype:
            self.net_ = _network_copy(self.net_, dtype)
            if self.inputs_ is not None:
                self.inputs_ = embeddings_in(self.inputs_, dtype)
            self._trainer = None
        if config.early_stopping != self._stopping.validation:
            self._stopping = NoImprovement(config.early_stopping)

    # ------------------------------------------------------------------ export and predict
    def to_model(self) -> Model:
        """The fitted network as an :class:`mlpkit.Model`, so ``mlpkit.save(estimator, path)`` works."""
        check_is_fitted(self)
        self._take_assigned_weights()
        task, labels = self._model_task_and_labels()
        history = {
            "loss": list(self.loss_curve_),
            "val_loss": list(self.validation_loss_curve_ or []),
            "val_score": list(self.validation_scores_ or []),
        }
        metrics = {"loss": self.loss_, "n_iter": self.n_iter_, "t": self.t_}
        if self.best_validation_score_ is not None:
            metrics["best_validation_score"] = self.best_validation_score_
        config = {"estimator": type(self).__name__, **json_safe(self.get_params())}
        features = getattr(self, "features_", None)
        inputs = copy.deepcopy(self.inputs_)  # the model owns its embeddings, as its network
        return Model(
            _network_copy(self.net_),
            None,
            task=task,
            labels=labels,
            config=config,
            history=history,
            metrics=metrics,
            features=features,
            inputs=inputs,
        )

    def _output_rows(self, X) -> tuple[np.ndarray, np.dtype]:
        """Output activations ``(m, n_L)`` for rows ``X``, in the network's dtype, and the dtype to
        return them in: the input's for arrays, float64 for tables."""
        check_is_fitted(self)
        self._take_assigned_weights()
        if getattr(self, "features_", None) is not None:
            dense, codes = table_features(self, read_table(self, X), self.net_.dtype)
            A0 = network_input(self.inputs_, dense, codes)  # (n_x, m)
            return self.net_.predict_proba(A0).T, np.dtype(np.float64)
        X = validate_data(self, X, reset=False, **INPUT)
        return self.net_.predict_proba(X.T).T, X.dtype  # (n_L, m) -> rows


def has_stochastic_solver(estimator: BaseMLP) -> bool:
    """partial_fit exists for sgd and adam only (as in scikit-learn)."""
    if estimator.solver not in ("sgd", "adam"):
        raise AttributeError(
            f"partial_fit is only available for the stochastic solvers 'sgd' and 'adam', "
            f"not solver={estimator.solver!r}"
        )
    return True


def _network_copy(net: DNN, dtype: str | None = None) -> DNN:
    """An independent copy of ``net`` (same architecture and parameters), in ``dtype`` if given."""
    dtype = dtype or net.dtype.name
    copy = DNN(net.layer_sizes, net.hidden_activations, net.output_activation, dtype=dtype, seed=0)
    copy.theta[...] = net.theta
    return copy
