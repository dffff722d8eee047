"""Pictures of a trained model: confusion matrix, decision regions, first-layer weights, saliency.

Each ``plot_*`` function writes its file atomically and returns the matplotlib ``Figure``; the
numbers it draws come from :mod:`mlpkit.plots.computed`. Rows are samples: ``X_rows`` is ``(m, n_x)``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlpkit.metrics import confusion_matrix
from mlpkit.network import DNN
from mlpkit.plots.computed import (
    check_model_rows,
    class_indices,
    class_names,
    decision_grid,
    image_shape_for,
    input_gradients,
    network_of,
    predicted_classes,
    require_classifier,
    task_of,
    tile_corner,
    true_classes,
    weight_mosaic,
)
from mlpkit.plots.figures import check_output_path, new_figure, save

MAX_WEIGHT_IMAGES = 64


# ---------------------------------------------------------------------- confusion
def plot_confusion(model: Any, X_rows: np.ndarray, y: np.ndarray, path: str | os.PathLike) -> Any:
    """The confusion matrix (true class by row, predicted by column) with class names and counts."""
    require_classifier(model, "confusion")
    path = check_output_path(path)
    names = class_names(model)
    X_rows, truth = true_classes(model, X_rows, y)
    counts = confusion_matrix(truth, predicted_classes(model, X_rows), len(names))
    size = max(5.0, 0.6 * len(names) + 3)
    figure = new_figure(size + 1, size)
    axes = figure.subplots()
    image = axes.imshow(counts, cmap="Blues")
    threshold = counts.max() / 2
    for (row, column), count in np.ndenumerate(counts):
        color = "white" if count > threshold else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=color, fontsize=9)
    ticks = np.arange(len(names))
    axes.set_xticks(ticks, names, rotation=45, ha="right")
    axes.set_yticks(ticks, names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    accuracy = np.trace(counts) / counts.sum()
    axes.set_title(f"Confusion matrix: {counts.sum()} samples, accuracy {accuracy:.1%}")
    figure.colorbar(image, ax=axes, label="samples")
    save(figure, path)
    return figure


# ---------------------------------------------------------------------- decision boundary
def _region_colors(names: list[str], binary: bool) -> list[str]:
    """One colour per class: the class names themselves when they are two colours (the notes'
    planar data is "red" and "blue"), else blue and red for binary, the default cycle otherwise."""
    from matplotlib.colors import CSS4_COLORS

    if binary:
        named = len(set(names)) == 2 and all(name in CSS4_COLORS for name in names)
        return list(names) if named else ["tab:blue", "tab:red"]
    return [f"C{k % 10}" for k in range(len(names))]


def _draw_regions(figure: Any, axes: Any, grid: tuple, names: list[str], binary: bool) -> None:
    from matplotlib.colors import LinearSegmentedColormap, ListedColormap

    xx, yy, values = grid
    colors = _region_colors(names, binary)
    if binary:
        colormap = LinearSegmentedColormap.from_list("classes", [colors[0], "white", colors[1]])
        regions = axes.contourf(xx, yy, values, levels=np.linspace(0, 1, 11), cmap=colormap, alpha=0.6)
        axes.contour(xx, yy, values, levels=[0.5], colors="black", linewidths=1.5)
        figure.colorbar(regions, ax=axes, label=f"P(class {names[1]}); black line: 0.5")
        return
    axes.pcolormesh(xx, yy, values, cmap=ListedColormap(colors), vmin=-0.5, vmax=len(names) - 0.5, alpha=0.3)


def _draw_points(axes: Any, X_rows: np.ndarray, truth: np.ndarray, names: list[str], binary: bool) -> None:
    colors = _region_colors(names, binary)
    for index, name in enumerate(names):
        chosen = truth == index
        axes.scatter(
            X_rows[chosen, 0],
            X_rows[chosen, 1],
            s=14,
            color=colors[index],
            edgecolors="black",
            linewidths=0.4,
            label=name,
        )
    axes.legend(title="true class", loc="best")


def _describe_network(net: DNN) -> str:
    hidden = ", ".join(sorted(set(net.hidden_activations))) or "no hidden layer"
    return f"layers {list(net.layer_sizes)}, {hidden} / {net.output_activation}"


def _feature_names(model: Any) -> list[str]:
    config = getattr(model, "config", None)
    names = config.get("feature_names") if isinstance(config, Mapping) else None
    if names and len(names) == network_of(model).layer_sizes[0]:
        return [str(name) for name in names]
    return [f"feature {index + 1}" for index in range(network_of(model).layer_sizes[0])]


def plot_boundary(model: Any, X_rows: np.ndarray, y: np.ndarray, path: str | os.PathLike) -> Any:
    """Decision regions of a two-feature classifier over its data (planar, moons, circles)."""
    path = check_output_path(path)
    grid = decision_grid(model, X_rows)
    X_rows, truth = true_classes(model, X_rows, y)
    names = class_names(model)
    binary = task_of(model) == "binary"
    figure = new_figure(7.5, 5.5)
    axes = figure.subplots()
    _draw_regions(figure, axes, grid, names, binary)
    _draw_points(axes, X_rows, truth, names, binary)
    first, second = _feature_names(model)
    axes.set_xlabel(first)
    axes.set_ylabel(second)
    accuracy = np.mean(predicted_classes(model, X_rows) == truth)
    axes.set_title(
        f"Decision regions ({_describe_network(network_of(model))})\n"
        f"{truth.size} samples, accuracy {accuracy:.1%}"
    )
    save(figure, path)
    return figure


# ---------------------------------------------------------------------- first-layer weights
def _label_tiles(axes: Any, units: int, columns: int, height: int, width: int) -> None:
    for unit in range(units):
        top, left = tile_corner(unit, columns, height, width)
        label_box = {"facecolor": "white", "alpha": 0.7, "pad": 0.5, "edgecolor": "none"}
        axes.text(left, top, str(unit + 1), fontsize=6, va="top", ha="left", bbox=label_box)


def plot_weights(
    model: Any,
    path: str | os.PathLike,
    image_shape: Sequence[int] | None = None,
    max_units: int = MAX_WEIGHT_IMAGES,
) -> Any:
    """The first layer's weights ``W1``, one image per hidden unit (row of ``W1``), for image inputs."""
    height, width = image_shape_for(model, image_shape, "weights")
    path = check_output_path(path)
    if max_units < 1:
        raise ValueError(f"max_units must be >= 1, got {max_units!r}")
    W1 = np.asarray(network_of(model).params["W1"], dtype=float)
    shown = W1[:max_units]
    columns = math.ceil(math.sqrt(shown.shape[0]))
    mosaic = weight_mosaic(shown, height, width, columns)
    figure = new_figure(8, 7)
    axes = figure.subplots()
    limit = float(np.abs(shown).max()) or 1.0
    image = axes.imshow(mosaic, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    _label_tiles(axes, shown.shape[0], columns, height, width)
    axes.set_axis_off()
    figure.colorbar(image, ax=axes, label="weight", shrink=0.8)
    axes.set_title(
        f"First-layer weights W1: hidden units 1-{shown.shape[0]} of {W1.shape[0]}, "
        f"each a {height}x{width} image\n"
        "(numbered left to right, top to bottom; red: positive, blue: negative)"
    )
    save(figure, path)
    return figure


# ---------------------------------------------------------------------- saliency
def _label_text(model: Any, index: int) -> str:
    names = class_names(model)
    return names[index] if 0 <= index < len(names) else str(index)


def _saliency_title(model: Any, truth: int | None, predicted: int | None) -> str:
    if truth is None:
        return ""
    return f"true: {_label_text(model, truth)}\npredicted: {_label_text(model, predicted)}"


def plot_saliency(
    model: Any,
    X_rows: np.ndarray,
    y: np.ndarray,
    path: str | os.PathLike,
    count: int = 6,
    image_shape: Sequence[int] | None = None,
) -> Any:
    """The first ``count`` images above their input gradients ``dA0`` (how each pixel moves the loss).

    Each map is scaled by its own largest ``|dA0|`` (printed under it), so that a confident,
    nearly flat gradient stays visible beside a large one.
    """
    height, width = image_shape_for(model, image_shape, "saliency")
    path = check_output_path(path)
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count!r}")
    X_rows = check_model_rows(model, X_rows)[:count]
    y = np.asarray(y)[:count]
    gradients = input_gradients(model, X_rows, y)
    classify = task_of(model) in ("binary", "multiclass")
    truth = class_indices(model, y) if classify else [None] * len(y)
    predicted = predicted_classes(model, X_rows) if classify else [None] * len(y)
    shown = X_rows.shape[0]
    figure = new_figure(1.8 * shown + 1.4, 4.8)
    grid = figure.subplots(2, shown, squeeze=False)
    saliency = None
    for k in range(shown):
        grid[0, k].imshow(X_rows[k].reshape(height, width), cmap="gray_r")
        grid[0, k].set_title(_saliency_title(model, truth[k], predicted[k]), fontsize=8)
        largest = float(np.abs(gradients[k]).max())
        relative = gradients[k] / largest if largest > 0 else gradients[k]
        saliency = grid[1, k].imshow(relative.reshape(height, width), cmap="RdBu_r", vmin=-1, vmax=1)
        grid[1, k].set_xlabel(f"max |dA0| = {largest:.2g}", fontsize=8)
        for axes in grid[:, k]:
            axes.set_xticks([])
            axes.set_yticks([])
    grid[0, 0].set_ylabel("image")
    grid[1, 0].set_ylabel("dA0")
    figure.colorbar(saliency, ax=list(grid[1]), label="dA0 / max |dA0|", shrink=0.9)
    figure.suptitle("Saliency: input gradients dA0 (red: raising the pixel raises the loss; blue: lowers it)")
    save(figure, path)
    return figure
