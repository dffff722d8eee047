"""MLPClassifier: scikit-learn's multi-layer perceptron classifier on mlpkit's engine (rows are samples)."""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import column_or_1d

from mlpkit.sklearn.base import BaseMLP, has_stochastic_solver
from mlpkit.sklearn.params import invalid


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier, scikit-learn's API on mlpkit's engine.

    Binary targets get one sigmoid output, multi-class targets a softmax, multi-label indicator
    targets one sigmoid per label; a single class is fitted and always predicted, as in
    scikit-learn. The weights take the input's dtype (float32 stays float32, else float64) unless
    ``dtype`` names one. Beyond scikit-learn: ``dropout``, ``dtype``, ``class_weight`` (None,
    "balanced" or {label: weight}, applied as sample weights) and ``validation_loss_curve_``.

    Tables: a DataFrame with text, category or bool columns and missing values (or a pyarrow
    Table, a dict of columns) is taken directly: a column schema fitted on the first fit
    (``features_``) imputes and scales the numbers and encodes the categories, one-hot or, with
    many values, as learned embeddings (``inputs_``); ``categorical_features`` names columns to
    treat as categories even if they hold numbers. Columns are matched by name when predicting.
    """

    def __init__(
        self,
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
        class_weight=None,
        distributed=False,
        categorical_features=None,
    ):
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
        self.class_weight = class_weight
        self.distributed = distributed
        self.categorical_features = categorical_features

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    # ------------------------------------------------------------------ targets
    def _validate_training_data(self, X, y, incremental: bool, reset: bool):
        X, y = self._validated_rows(X, y, reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if type_of_target(y) not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(
                f"MLPClassifier: unsupported target type {type_of_target(y)!r}; expected class labels "
                "(binary or multi-class) or a 0/1 indicator matrix (multi-label)"
            )
        if reset and not incremental:
            self._learn_classes(y)
        else:
            self._check_known_classes(y, incremental)
        return X, self._label_binarizer.transform(y), y

    def _learn_classes(self, labels) -> None:
        """Set ``classes_`` from the labels. A single class is fitted as scikit-learn fits it: one
        sigmoid unit learning that no row is "positive", and every prediction is that class."""
        binarizer = LabelBinarizer().fit(labels)
        self._label_binarizer, self.classes_ = binarizer, binarizer.classes_

    def _check_known_classes(self, y, incremental: bool) -> None:
        classes = unique_labels(y)
        if self.warm_start and not incremental and set(classes) != set(self.classes_):
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as in the previous call "
                f"to fit. Previously got {self.classes_}, `y` has {classes}"
            )
        unknown = np.setdiff1d(classes, self.classes_)
        if len(unknown):
            raise ValueError(f"`y` has classes {unknown} not in `self.classes_` = {self.classes_}")

    def _output_activation(self) -> str:
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _training_weights(self, sample_weight: np.ndarray | None, y) -> np.ndarray | None:
        """Sample weights times class weights (``class_weight`` acts through the sample weights)."""
        if self.class_weight is None:
            return sample_weight
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            raise ValueError("class_weight applies to binary and multi-class targets, not multi-label")
        if isinstance(self.class_weight, dict):
            unknown = [label for label in self.class_weight if label not in set(self.classes_.tolist())]
            if unknown:
                raise ValueError(
                    f"class_weight has labels {unknown} that are not classes of y {self.classes_.tolist()}"
                )
        elif self.class_weight != "balanced":
            raise invalid(self, "class_weight", "None, 'balanced' or a dict {label: weight}")
        class_weight = compute_sample_weight(self.class_weight, y)
        return class_weight if sample_weight is None else class_weight * sample_weight

    def _stratification(self, Y: np.ndarray, fraction: float) -> np.ndarray | None:
        """What the early-stopping split is stratified by. Binary (one output): the 0/1 target as
        scikit-learn has it, so a class of one row is refused with its message. Multi-class: the
        class index when a stratified split can be made (every class has >= 2 rows, and both parts
        have a row for each class), else None, as scikit-learn never stratifies these. Multi-label:
        None."""
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            return None
        if Y.shape[1] == 1:
            return Y.astype(bool)  # (m, 1): train_test_split names its classes 'True' and 'False'

        classes = Y.argmax(axis=1)
        counts = np.bincount(classes)
        n_classes, n_validation = np.count_nonzero(counts), math.ceil(fraction * len(classes))
        smaller_part = min(n_validation, len(classes) - n_validation)
        stratifiable = counts[counts > 0].min() >= 2 and n_classes <= smaller_part
        return classes if stratifiable else None

    def _validation_score(self, AL: np.ndarray, Y: np.ndarray, weight: np.ndarray | None) -> float:
        decode = self._label_binarizer.inverse_transform
        return accuracy_score(decode(Y), decode(AL), sample_weight=weight)

    def _model_task_and_labels(self) -> tuple[str, list | None]:
        if len(self.classes_) < 2:
            raise ValueError(
                f"MLPClassifier was fitted on a single class {self.classes_.tolist()} and predicts it for "
                "every row; a model file holds classifiers of at least 2 classes"
            )
        tasks = {"binary": "binary", "multiclass": "multiclass", "multilabel-indicator": "multilabel"}
        return tasks[self._label_binarizer.y_type_], self.classes_.tolist()

    # ------------------------------------------------------------------ training and prediction
    @available_if(has_stochastic_solver)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``(X, y)``, keeping weights and optimizer state; ``classes`` on the first call."""
        first_call = not hasattr(self, "classes_")
        if first_call and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        if first_call:
            multilabel = type_of_target(y).startswith("multilabel")
            self._learn_classes(y if multilabel else classes)
        elif classes is not None and not np.array_equal(np.sort(classes), self.classes_):
            raise ValueError(f"classes={classes!r} is not the same as on the first call: {self.classes_}")
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predicted class labels (an indicator matrix for multi-label targets)."""
        AL, _ = self._output_rows(X)
        return self._label_binarizer.inverse_transform(AL.ravel() if self.n_outputs_ == 1 else AL)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(m, n_classes)`` in the order of ``classes_``; binary gives [1-p, p].

        Computed in the network's dtype and returned in the input's (as scikit-learn does).
        """
        AL, dtype = self._output_rows(X)
        if self.n_outputs_ == 1:
            AL = np.hstack([1.0 - AL, AL])
        return AL.astype(dtype, copy=False)

    def predict_log_proba(self, X) -> np.ndarray:
        """Natural log of :meth:`predict_proba`."""
        probabilities = self.predict_proba(X)
        return np.log(probabilities, out=probabilities)
