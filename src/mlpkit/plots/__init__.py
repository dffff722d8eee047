"""Pictures of training and of a trained model: curves, confusion, decision regions, weights, saliency,
and a regression model's predicted against true values.

Plotting needs matplotlib (the ``plot`` extra), imported only when a figure is drawn and used
through its Agg canvas, so that no window opens and no global pyplot state changes. Each
``plot_*`` function writes its file atomically and returns the matplotlib ``Figure``. Data at this
level follows the ecosystem's convention: rows are samples, ``X_rows`` is ``(m, n_x)``.

``model`` is a :class:`mlpkit.Model` (its scaler, class names and decision rule are used) or a
bare :class:`mlpkit.DNN`.

- :mod:`~mlpkit.plots.computed`: the numbers behind the pictures (no matplotlib);
- :mod:`~mlpkit.plots.curves`: training curves from a history;
- :mod:`~mlpkit.plots.model_figures`: confusion, decision regions, weights, saliency;
- :mod:`~mlpkit.plots.regression`: predicted against true values;
- :mod:`~mlpkit.plots.figures`: matplotlib, output paths and atomic saving;
- :mod:`~mlpkit.plots.kinds`: ``plot_model``, one entry point by kind (used by ``mlpkit plot``).
"""

from mlpkit.metrics import confusion_matrix as confusion_counts
from mlpkit.plots.computed import (
    GRID_RESOLUTION,
    MIN_IMAGE_SIDE,
    class_indices,
    class_names,
    decision_grid,
    engine_input,
    image_shape_of,
    input_gradients,
    network_of,
    output_activations,
    predicted_classes,
    task_of,
    weight_mosaic,
)
from mlpkit.plots.curves import CURVE_KEYS, plot_curves
from mlpkit.plots.figures import DPI, FORMATS, PLOT_EXTRA_MESSAGE, check_output_path, require_matplotlib
from mlpkit.plots.kinds import KINDS, KINDS_NEEDING_DATA, check_plottable, plot_model
from mlpkit.plots.model_figures import (
    MAX_WEIGHT_IMAGES,
    plot_boundary,
    plot_confusion,
    plot_saliency,
    plot_weights,
)
from mlpkit.plots.regression import plot_predictions

__all__ = [
    "CURVE_KEYS",
    "DPI",
    "FORMATS",
    "GRID_RESOLUTION",
    "KINDS",
    "KINDS_NEEDING_DATA",
    "MAX_WEIGHT_IMAGES",
    "MIN_IMAGE_SIDE",
    "PLOT_EXTRA_MESSAGE",
    "check_output_path",
    "check_plottable",
    "class_indices",
    "class_names",
    "confusion_counts",
    "decision_grid",
    "engine_input",
    "image_shape_of",
    "input_gradients",
    "network_of",
    "output_activations",
    "plot_boundary",
    "plot_confusion",
    "plot_curves",
    "plot_model",
    "plot_predictions",
    "plot_saliency",
    "plot_weights",
    "predicted_classes",
    "require_matplotlib",
    "task_of",
    "weight_mosaic",
]
