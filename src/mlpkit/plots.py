"""Pictures of training and of a trained model: curves, confusion, decision regions, weights, saliency.

Plotting needs matplotlib (the ``plot`` extra), imported inside the functions and used through
its Agg canvas, so that no window opens and no global pyplot state changes. Each ``plot_*``
function writes its file atomically and returns the matplotlib ``Figure``. Data at this level
follows the ecosystem's convention: rows are samples, ``X_rows`` is ``(m, n_x)``.

``model`` is a :class:`mlpkit.Model` (its scaler and class names are used) or a bare
:class:`mlpkit.DNN`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlpkit.io import atomic_write, check_writable
from mlpkit.network import DNN
from mlpkit.tasks import TASKS, infer_task

PLOT_EXTRA_MESSAGE = 'plots need matplotlib; install it with: pip install "mlpkit[plot]"'
FORMATS = (".png", ".pdf", ".svg")
DPI = 100
MIN_IMAGE_SIDE = 8
GRID_RESOLUTION = 200
MAX_WEIGHT_IMAGES = 64
CURVE_KEYS = ("loss", "val_loss", "accuracy", "val_accuracy")


# ---------------------------------------------------------------------- matplotlib and files
def require_matplotlib() -> None:
    """Raise ImportError naming the ``plot`` extra unless matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(PLOT_EXTRA_MESSAGE) from None


def _new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure on an Agg canvas (no pyplot), or ImportError naming the ``plot`` extra."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def check_output_path(path: str | os.PathLike) -> Path:
    """The output path, or ValueError if its suffix is not an image format or its folder is unusable."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"output file {str(path)!r} must end in one of {list(FORMATS)}")
    return check_writable(path)


def _save(figure: Any, path: Path) -> None:
    """Write the figure atomically (temporary file in the same folder, then a rename)."""
    atomic_write(path, lambda handle: figure.savefig(handle, format=path.suffix[1:].lower(), dpi=DPI))


# ---------------------------------------------------------------------- model adapters
def network_of(model: Any) -> DNN:
    """The DNN inside a Model (its ``net``), or the DNN itself."""
    net = model if isinstance(model, DNN) else getattr(model, "net", None)
    if not isinstance(net, DNN):
        raise ValueError(f"model must be an mlpkit Model or DNN, got {type(model).__name__}")
    return net


def task_of(model: Any) -> str:
    """The model's task: its ``task`` attribute, or what a bare DNN's output layer implies."""
    task = getattr(model, "task", None)
    if task in TASKS:
        return task
    return infer_task(network_of(model))


def class_names(model: Any) -> list[str]:
    """Class names by index: the model's ``label_names``, else ``"0"``, ``"1"``, ..."""
    net = network_of(model)
    n_classes = 2 if task_of(model) == "binary" else net.layer_sizes[-1]
    names = getattr(model, "label_names", None)
    if names is not None and len(names) == n_classes:
        return [str(name) for name in names]
    return [str(index) for index in range(n_classes)]


def _check_rows(model: Any, X_rows: np.ndarray, name: str = "X_rows") -> np.ndarray:
    n_x = network_of(model).layer_sizes[0]
    X_rows = np.asarray(X_rows)
    if X_rows.ndim != 2 or X_rows.shape[1] != n_x or X_rows.shape[0] < 1:
        raise ValueError(
            f"{name} must have shape (m, n_x) = (m, {n_x}), rows are samples, m >= 1; got {X_rows.shape}"
        )
    if not np.issubdtype(X_rows.dtype, np.number):
        raise ValueError(f"{name} must hold numbers, got dtype {X_rows.dtype}")
    return X_rows


def engine_input(model: Any, X_rows: np.ndarray) -> np.ndarray:
    """The network's input ``A0`` (n_x, m): the rows scaled by the model's scaler if any, transposed."""
    X_rows = _check_rows(model, X_rows)
    transform = getattr(model, "transform", None)
    scaled = transform(X_rows) if transform is not None and not isinstance(model, DNN) else X_rows
    return network_of(model).check_X(np.asarray(scaled).T)


def output_activations(model: Any, X_rows: np.ndarray) -> np.ndarray:
    """The output ``A_L`` as rows (m, n_L)."""
    return network_of(model).predict_proba(engine_input(model, X_rows)).T


def _require_classifier(model: Any, kind: str) -> str:
    task = task_of(model)
    if task not in ("binary", "multiclass"):
        raise ValueError(
            f"plot kind {kind!r} needs a binary or multiclass classifier, but the model's task is {task!r}"
        )
    return task


def predicted_classes(model: Any, X_rows: np.ndarray) -> np.ndarray:
    """Class index per row: one sigmoid output > 0.5, else the argmax of the outputs."""
    outputs = output_activations(model, X_rows)
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.int64)
    return outputs.argmax(axis=1)


def class_indices(model: Any, y: np.ndarray) -> np.ndarray:
    """True labels as class indices.

    For a Model, ``y`` holds its original labels (``model.encode``); for a bare DNN, class
    indices or the names ``"0"``, ``"1"``, ...
    """
    if not isinstance(model, DNN) and hasattr(model, "encode"):
        return np.asarray(model.encode(np.asarray(y).reshape(-1)), dtype=np.int64)
    names = class_names(model)
    y = np.asarray(y).reshape(-1)
    if y.dtype.kind in "USO":
        lookup = {name: index for index, name in enumerate(names)}
        unknown = sorted({str(label) for label in y} - set(lookup))
        if unknown:
            raise ValueError(f"y has labels {unknown[:5]} that are not among the model's classes {names}")
        return np.array([lookup[str(label)] for label in y], dtype=np.int64)
    if y.size and (not np.all(np.equal(np.mod(y, 1), 0)) or y.min() < 0 or y.max() >= len(names)):
        raise ValueError(f"y must hold class indices 0..{len(names) - 1} or class names {names}")
    return y.astype(np.int64)


# ---------------------------------------------------------------------- numbers behind the pictures
def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts (n_classes, n_classes): row = true class, column = predicted class."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return counts


def decision_grid(
    model: Any, X_rows: np.ndarray, resolution: int = GRID_RESOLUTION
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A grid over the two features' range (plus a margin) and the model's output at each point.

    Returns ``(xx, yy, values)``, each ``(resolution, resolution)``: the probability of class 1
    for a binary model, the predicted class index for a multiclass model.
    """
    X_rows = _check_rows(model, X_rows)
    if X_rows.shape[1] != 2:
        raise ValueError(
            f"plot kind 'boundary' needs a model with exactly two input features, this one has "
            f"{X_rows.shape[1]}"
        )
    low, high = X_rows.min(axis=0).astype(float), X_rows.max(axis=0).astype(float)
    margin = 0.1 * np.maximum(high - low, 1e-9)
    xs = np.linspace(low[0] - margin[0], high[0] + margin[0], resolution)
    ys = np.linspace(low[1] - margin[1], high[1] + margin[1], resolution)
    xx, yy = np.meshgrid(xs, ys)
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    if _require_classifier(model, "boundary") == "binary":
        values = output_activations(model, grid)[:, -1]  # P(class 1): one sigmoid unit or softmax's second
    else:
        values = predicted_classes(model, grid)
    return xx, yy, values.reshape(xx.shape)


def _targets(model: Any, y: np.ndarray, m: int) -> np.ndarray:
    """Targets ``Y`` (n_L, m) in the engine's layout for the true labels ``y``."""
    net = network_of(model)
    if task_of(model) in ("binary", "multiclass"):
        indices = class_indices(model, y)
        if net.layer_sizes[-1] == 1:
            return indices.reshape(1, -1).astype(float)
        return np.eye(net.layer_sizes[-1])[indices].T
    Y = np.asarray(y, dtype=float).reshape(m, -1)
    if Y.shape[1] != net.layer_sizes[-1]:
        raise ValueError(f"y must have {net.layer_sizes[-1]} values per sample, got shape {np.shape(y)}")
    return Y.T


def input_gradients(model: Any, X_rows: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Saliency: ``dA0``, the per-example gradient of each row's loss with respect to its raw inputs, as rows.

    ``dA0`` comes from ``compute_gradients(..., input_gradient=True)``; with a scaler
    ``x_scaled = (x - offset) / scale`` it is divided by ``scale`` (chain rule back to raw inputs).
    """
    net = network_of(model)
    A0 = engine_input(model, X_rows)
    Y = _targets(model, y, A0.shape[1])
    if Y.shape[1] != A0.shape[1]:
        raise ValueError(f"y has {Y.shape[1]} labels but X_rows has {A0.shape[1]} rows")
    AL, cache = net.forward(A0)
    dA0 = net.compute_gradients(AL, Y.astype(AL.dtype), cache, input_gradient=True)["dA0"]
    scaler = None if isinstance(model, DNN) else getattr(model, "scaler", None)
    if scaler is not None:
        dA0 = dA0 / np.asarray(scaler.scale_, dtype=dA0.dtype).reshape(-1, 1)
    return dA0.T


def image_shape_of(model: Any, image_shape: Sequence[int] | None = None) -> tuple[int, int]:
    """(height, width) of the input images: given, from the model's config, or a square of side >= 8."""
    n_x = network_of(model).layer_sizes[0]
    config = getattr(model, "config", None)
    if image_shape is None and isinstance(config, Mapping) and config.get("image_shape"):
        image_shape = config["image_shape"]
    if image_shape is not None:
        height, width = (int(side) for side in image_shape)
        if height * width != n_x:
            raise ValueError(
                f"needs height x width = n_x = {n_x} pixels, "
                f"but image_shape {height}x{width} has {height * width}"
            )
        return height, width
    side = math.isqrt(n_x)
    if side * side != n_x or side < MIN_IMAGE_SIDE:
        raise ValueError(
            f"needs image inputs (a square image of side >= {MIN_IMAGE_SIDE}, such as 28x28 Fashion-MNIST "
            f"or 8x8 digits, or a given image_shape), but the model's n_x = {n_x} inputs are not"
        )
    return side, side


def _image_shape_for(model: Any, image_shape: Sequence[int] | None, kind: str) -> tuple[int, int]:
    try:
        return image_shape_of(model, image_shape)
    except ValueError as error:
        raise ValueError(f"plot kind {kind!r} {error}") from None


# ---------------------------------------------------------------------- curves
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
    figure = _new_figure(10, 4)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    epochs = np.arange(1, series["loss"].size + 1)
    _draw_curve_panel(loss_axes, epochs, series["loss"], series["val_loss"], "loss")
    _draw_curve_panel(accuracy_axes, epochs, series["accuracy"], series["val_accuracy"], "accuracy")
    figure.suptitle(f"Training history ({epochs.size} epoch{'s' if epochs.size > 1 else ''})")
    _save(figure, path)
    return figure


# ---------------------------------------------------------------------- confusion
def plot_confusion(model: Any, X_rows: np.ndarray, y: np.ndarray, path: str | os.PathLike) -> Any:
    """The confusion matrix (true class by row, predicted by column) with class names and counts."""
    _require_classifier(model, "confusion")
    path = check_output_path(path)
    names = class_names(model)
    X_rows = _check_rows(model, X_rows)
    truth = class_indices(model, y)
    if truth.size != X_rows.shape[0]:
        raise ValueError(f"y has {truth.size} labels but X_rows has {X_rows.shape[0]} rows")
    counts = confusion_counts(truth, predicted_classes(model, X_rows), len(names))
    size = max(5.0, 0.6 * len(names) + 3)
    figure = _new_figure(size + 1, size)
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
    _save(figure, path)
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
    X_rows = np.asarray(X_rows)
    truth = class_indices(model, y)
    if truth.size != X_rows.shape[0]:
        raise ValueError(f"y has {truth.size} labels but X_rows has {X_rows.shape[0]} rows")
    names = class_names(model)
    binary = task_of(model) == "binary"
    figure = _new_figure(7.5, 5.5)
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
    _save(figure, path)
    return figure


# ---------------------------------------------------------------------- first-layer weights
def weight_mosaic(W1: np.ndarray, height: int, width: int, columns: int) -> np.ndarray:
    """Rows of ``W1`` as ``height x width`` tiles, ``columns`` per row, left to right, one NaN pixel apart."""
    units = W1.shape[0]
    rows = math.ceil(units / columns)
    mosaic = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1), np.nan)
    for unit in range(units):
        top, left = (unit // columns) * (height + 1), (unit % columns) * (width + 1)
        mosaic[top : top + height, left : left + width] = W1[unit].reshape(height, width)
    return mosaic


def _label_tiles(axes: Any, units: int, columns: int, height: int, width: int) -> None:
    for unit in range(units):
        top, left = (unit // columns) * (height + 1), (unit % columns) * (width + 1)
        label_box = {"facecolor": "white", "alpha": 0.7, "pad": 0.5, "edgecolor": "none"}
        axes.text(left, top, str(unit + 1), fontsize=6, va="top", ha="left", bbox=label_box)


def plot_weights(
    model: Any,
    path: str | os.PathLike,
    image_shape: Sequence[int] | None = None,
    max_units: int = MAX_WEIGHT_IMAGES,
) -> Any:
    """The first layer's weights ``W1``, one image per hidden unit (row of ``W1``), for image inputs."""
    height, width = _image_shape_for(model, image_shape, "weights")
    path = check_output_path(path)
    if max_units < 1:
        raise ValueError(f"max_units must be >= 1, got {max_units!r}")
    W1 = np.asarray(network_of(model).params["W1"], dtype=float)
    shown = W1[:max_units]
    columns = math.ceil(math.sqrt(shown.shape[0]))
    mosaic = weight_mosaic(shown, height, width, columns)
    figure = _new_figure(8, 7)
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
    _save(figure, path)
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
    height, width = _image_shape_for(model, image_shape, "saliency")
    path = check_output_path(path)
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count!r}")
    X_rows = _check_rows(model, X_rows)[:count]
    y = np.asarray(y)[:count]
    gradients = input_gradients(model, X_rows, y)
    classify = task_of(model) in ("binary", "multiclass")
    truth = class_indices(model, y) if classify else [None] * len(y)
    predicted = predicted_classes(model, X_rows) if classify else [None] * len(y)
    shown = X_rows.shape[0]
    figure = _new_figure(1.8 * shown + 1.4, 4.8)
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
    _save(figure, path)
    return figure


# ---------------------------------------------------------------------- one entry point by kind
KINDS = ("curves", "confusion", "boundary", "weights", "saliency")
KINDS_NEEDING_DATA = ("confusion", "boundary", "saliency")


def check_plottable(model: Any, kind: str) -> None:
    """Raise ValueError unless this kind of picture can be drawn for the model (checked before any data)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown plot kind {kind!r}; expected one of {list(KINDS)}")
    if kind == "curves" and not getattr(model, "history", {}).get("loss"):
        raise ValueError("plot kind 'curves' needs a training history, and this model has none")
    if kind in ("confusion", "boundary"):
        _require_classifier(model, kind)
    if kind == "boundary" and network_of(model).layer_sizes[0] != 2:
        raise ValueError(
            "plot kind 'boundary' needs a model with exactly two input features, this one has "
            f"{network_of(model).layer_sizes[0]}"
        )
    if kind in ("weights", "saliency"):
        _image_shape_for(model, None, kind)


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
    draw = {"confusion": plot_confusion, "boundary": plot_boundary, "saliency": plot_saliency}[kind]
    return draw(model, X_rows, y, path)
