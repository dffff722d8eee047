"""One entry point by kind of picture: the kinds, what each needs, and the dispatch to its ``plot_*``."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from mlpkit.plots.computed import image_shape_for, network_of, require_classifier, require_two_features
from mlpkit.plots.curves import plot_curves
from mlpkit.plots.model_figures import plot_boundary, plot_confusion, plot_saliency, plot_weights
from mlpkit.plots.regression import plot_predictions, require_regression

KINDS = ("curves", "confusion", "boundary", "weights", "saliency", "predictions")
KINDS_NEEDING_DATA = ("confusion", "boundary", "saliency", "predictions")


def check_plottable(model: Any, kind: str) -> None:
    """Raise ValueError unless this kind of picture can be drawn for the model (checked before any data)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown plot kind {kind!r}; expected one of {list(KINDS)}")
    if kind == "curves" and not getattr(model, "history", {}).get("loss"):
        raise ValueError("plot kind 'curves' needs a training history, and this model has none")
    if kind in ("confusion", "boundary"):
        require_classifier(model, kind)
    if kind == "predictions":
        require_regression(model, kind)
    if kind == "boundary":
        require_two_features(network_of(model).layer_sizes[0])
    if kind in ("weights", "saliency"):
        _require_pixel_inputs(model, kind)
        image_shape_for(model, None, kind)


def _require_pixel_inputs(model: Any, kind: str) -> None:
    """Weights and saliency draw one pixel per input: learned embeddings are not pixels."""
    if getattr(model, "inputs", None) is not None:
        names = [entry["column"] for entry in model.embeddings()]
        raise ValueError(
            f"plot kind {kind!r} draws one pixel per input, but this model's inputs include the "
            f"learned embeddings of {names}, which are not pixels; try --kind curves or confusion"
        )


def plot_model(
    model: Any,
    kind: str,
    path: str | os.PathLike,
    X_rows: np.ndarray | None = None,
    y: np.ndarray | None = None,
) -> Any:
    """Draw one ``kind`` of picture of a trained model; ``X_rows`` and ``y`` for the kinds that show data."""
    check_plottable(model, kind)
    if kind in KINDS_NEEDING_DATA and (X_rows is None or y is None):
        raise ValueError(f"plot kind {kind!r} needs data rows and their labels")
    if kind == "curves":
        return plot_curves(model.history, path)
    if kind == "weights":
        return plot_weights(model, path)
    draw = {
        "confusion": plot_confusion,
        "boundary": plot_boundary,
        "saliency": plot_saliency,
        "predictions": plot_predictions,
    }[kind]
    return draw(model, X_rows, y, path)
