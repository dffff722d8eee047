"""Training curves: loss and accuracy per epoch, training beside validation, from a history."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlpkit.plots.figures import check_output_path, new_figure, save

CURVE_KEYS = ("loss", "val_loss", "accuracy", "val_accuracy")


def _series(history: Mapping[str, Sequence[float]], key: str, epochs: int) -> np.ndarray:
    values = np.asarray(history.get(key, []), dtype=float).reshape(-1)
    if values.size == 0:
        return np.full(epochs, np.nan)
    if values.size != epochs:
        raise ValueError(f"history[{key!r}] has {values.size} values but history['loss'] has {epochs}")
    return values


def _check_history(history: Any) -> dict[str, np.ndarray]:
    if hasattr(history, "to_dict"):
        history = history.to_dict()
    if not isinstance(history, Mapping):
        raise ValueError(f"history must be a dict of per-epoch lists, got {type(history).__name__}")
    epochs = len(history.get("loss", []))
    if epochs == 0:
        raise ValueError("history['loss'] is missing or empty: there are no epochs to plot")
    return {key: _series(history, key, epochs) for key in CURVE_KEYS}


def _draw_curve_panel(axes: Any, epochs: np.ndarray, train: np.ndarray, val: np.ndarray, label: str) -> None:
    marker = "o" if epochs.size <= 30 else None
    if np.isfinite(train).any():
        axes.plot(epochs, train, marker=marker, label="training")
    if np.isfinite(val).any():
        axes.plot(epochs, val, marker=marker, linestyle="--", label="validation")
    if not (np.isfinite(train).any() or np.isfinite(val).any()):
        axes.text(0.5, 0.5, f"no {label} recorded", ha="center", va="center", transform=axes.transAxes)
    else:
        axes.legend()
    from matplotlib.ticker import MaxNLocator

    if epochs.size <= 12:
        axes.set_xticks(epochs)
    else:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(0.5, epochs.size + 0.5)
    axes.set_title(f"{label.capitalize()} per epoch")
    axes.set_xlabel("epoch")
    axes.set_ylabel(label)
    axes.grid(alpha=0.3)


def plot_curves(history: Mapping[str, Sequence[float]] | Any, path: str | os.PathLike) -> Any:
    """Training and validation loss and accuracy per epoch; a missing series is simply not drawn."""
    series = _check_history(history)
    path = check_output_path(path)
    figure = new_figure(10, 4)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    epochs = np.arange(1, series["loss"].size + 1)
    _draw_curve_panel(loss_axes, epochs, series["loss"], series["val_loss"], "loss")
    _draw_curve_panel(accuracy_axes, epochs, series["accuracy"], series["val_accuracy"], "accuracy")
    figure.suptitle(f"Training history ({epochs.size} epoch{'s' if epochs.size > 1 else ''})")
    save(figure, path)
    return figure
