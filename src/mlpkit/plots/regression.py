"""The picture of a regression model: predicted against true values, one panel per output.

A model that fits well puts its points on the diagonal; the title gives each output's R^2
(:func:`mlpkit.metrics.r2_score`). Rows are samples: ``X_rows`` is ``(m, n_x)``, ``y`` is
``(m,)`` or ``(m, n_L)`` in the target's own units.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from mlpkit.metrics import r2_score
from mlpkit.plots.computed import output_activations, task_of
from mlpkit.plots.figures import check_output_path, new_figure, save

MAX_PANELS = 6  # outputs drawn side by side; a model with more draws its first six


def require_regression(model: Any, kind: str) -> None:
    """ValueError naming the plot ``kind`` unless the model predicts values (regression)."""
    task = task_of(model)
    if task != "regression":
        raise ValueError(f"plot kind {kind!r} needs a regression model, but the model's task is {task!r}")


def plot_predictions(model: Any, X_rows: np.ndarray, y: np.ndarray, path: str | os.PathLike) -> Any:
    """Predicted against true values with the diagonal ``predicted = true``, per output."""
    require_regression(model, "predictions")
    path = check_output_path(path)
    predicted = np.asarray(output_activations(model, X_rows), dtype=np.float64)  # (m, n_L), y's units
    truth = np.asarray(y, dtype=np.float64).reshape(predicted.shape[0], -1)
    if truth.shape != predicted.shape:
        raise ValueError(
            f"y holds {truth.shape[1]} output(s) per row but the model predicts {predicted.shape[1]}"
        )
    panels = min(truth.shape[1], MAX_PANELS)
    figure = new_figure(4.5 * panels + 0.5, 4.5)
    for k, axes in enumerate(np.atleast_1d(figure.subplots(1, panels))):
        low = min(truth[:, k].min(), predicted[:, k].min())
        high = max(truth[:, k].max(), predicted[:, k].max())
        axes.plot([low, high], [low, high], color="gray", linewidth=1, label="predicted = true")
        axes.scatter(truth[:, k], predicted[:, k], s=8, alpha=0.6)
        axes.set_xlabel("true value")
        axes.set_ylabel("predicted value")
        name = f"output {k + 1}: " if truth.shape[1] > 1 else ""
        axes.set_title(f"{name}{truth.shape[0]} samples, R² {r2_score(truth[:, k], predicted[:, k]):.3f}")
        axes.legend(loc="upper left")
    save(figure, path)
    return figure
