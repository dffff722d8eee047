"""scikit-learn estimators on mlpkit's engine: MLPClassifier and MLPRegressor (rows are samples).

Drop-in replacements for ``sklearn.neural_network``'s estimators: same parameter names, defaults,
fitted attributes and stopping rules, trained by :class:`mlpkit.Trainer` (sgd, adam) or by
scipy's L-BFGS-B on :meth:`DNN.compute_gradients` (lbfgs); docs/sklearn.md lists what is the
same and what differs. Extras: ``dropout``, ``dtype``,
``class_weight``, a progress bar when ``verbose``, ``validation_loss_curve_``, and optimizer
state (Adam's moments) kept across ``warm_start`` fits and ``partial_fit`` calls.

Modules: ``params`` (parameter checks, scikit-learn's names, the TrainConfig they make),
``base`` (fit, warm start), ``attributes`` (``coefs_``, ``intercepts_`` and the stopping
rule's fitted attributes, readable and assignable), ``stochastic`` (sgd and adam through the
Trainer), ``stopping`` (scikit-learn's schedule and stopping rule), ``lbfgs`` (scipy),
``classifier`` and ``regressor``.
"""

try:
    import scipy.optimize  # noqa: F401
    import sklearn.base  # noqa: F401
except ImportError as exc:
    raise ImportError(
        "mlpkit.MLPClassifier and mlpkit.MLPRegressor need scikit-learn and scipy: "
        'pip install "mlpkit[sklearn]"'
    ) from exc

from mlpkit.sklearn.classifier import MLPClassifier
from mlpkit.sklearn.regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
