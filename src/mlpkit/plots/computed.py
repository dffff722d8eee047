"""The numbers behind the pictures, computed from a model without matplotlib.

Classes and their names, predicted and true class indices, the decision grid, input gradients
``dA0`` and image shapes. Rows are samples: ``X_rows`` is ``(m, n_x)``. ``model`` is a
:class:`mlpkit.Model` (its scaler, labels and decision rule are used) or a bare :class:`mlpkit.DNN`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlpkit.losses import decide
from mlpkit.model import Model
from mlpkit.network import DNN
from mlpkit.tables import as_table
from mlpkit.tasks import TASKS, infer_task, target_matrix

MIN_IMAGE_SIDE = 8
GRID_RESOLUTION = 200


# ---------------------------------------------------------------------- the model and its classes
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


def require_classifier(model: Any, kind: str) -> str:
    """The model's task if it is binary or multiclass, else ValueError naming the plot ``kind``."""
    task = task_of(model)
    if task not in ("binary", "multiclass"):
        raise ValueError(
            f"plot kind {kind!r} needs a binary or multiclass classifier, but the model's task is {task!r}"
        )
    return task


def require_two_features(n_x: int) -> None:
    """ValueError unless the model takes exactly two input features (a decision-region plot)."""
    if n_x != 2:
        raise ValueError(
            f"plot kind 'boundary' needs a model with exactly two input features, this one has {n_x}"
        )


def class_names(model: Any) -> list[str]:
    """Class names by index: the model's ``label_names``, else ``"0"``, ``"1"``, ..."""
    net = network_of(model)
    n_classes = 2 if task_of(model) == "binary" else net.layer_sizes[-1]
    names = getattr(model, "label_names", None)
    if names is not None and len(names) == n_classes:
        return [str(name) for name in names]
    return [str(index) for index in range(n_classes)]


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


# ---------------------------------------------------------------------- rows in, outputs out
def check_model_rows(model: Any, X_rows: np.ndarray, name: str = "X_rows") -> np.ndarray:
    """``X_rows`` as an array ``(m, n_x)`` of numbers with m >= 1, or ValueError naming the shape; for a
    model with a feature schema, a table of raw columns with m >= 1 (matched by name when used)."""
    if getattr(model, "features", None) is not None:
        table = as_table(X_rows)
        if table.n_rows < 1:
            raise ValueError(f"{name} must hold at least one row")
        return table
    n_x = network_of(model).layer_sizes[0]
    X_rows = np.asarray(X_rows)
    if X_rows.ndim != 2 or X_rows.shape[1] != n_x or X_rows.shape[0] < 1:
        raise ValueError(
            f"{name} must have shape (m, n_x) = (m, {n_x}), rows are samples, m >= 1; got {X_rows.shape}"
        )
    if not np.issubdtype(X_rows.dtype, np.number):
        raise ValueError(f"{name} must hold numbers, got dtype {X_rows.dtype}")
    return X_rows


def _check_label_count(n_labels: int, n_rows: int) -> None:
    if n_labels != n_rows:
        raise ValueError(f"y has {n_labels} labels but X_rows has {n_rows} rows")


def engine_input(model: Any, X_rows: np.ndarray) -> np.ndarray:
    """The network's input ``A0`` (n_x, m): the rows scaled by the model's scaler if any, transposed."""
    X_rows = check_model_rows(model, X_rows)
    transform = getattr(model, "transform", None)
    scaled = transform(X_rows) if transform is not None and not isinstance(model, DNN) else X_rows
    return network_of(model).check_X(np.asarray(scaled).T)


def output_activations(model: Any, X_rows: np.ndarray) -> np.ndarray:
    """The output ``A_L`` as rows (m, n_L); a :class:`Model`'s own (a regression target's scaling
    undone, so in the target's units)."""
    if isinstance(model, Model):
        return model.outputs(check_model_rows(model, X_rows))
    return network_of(model).predict_proba(engine_input(model, X_rows)).T


def predicted_classes(model: Any, X_rows: np.ndarray) -> np.ndarray:
    """Class index per row, by the project's one decision rule (``Model.decide``, ``losses.decide``)."""
    outputs = output_activations(model, X_rows)
    if isinstance(model, Model):
        return model.decide(outputs)
    decided = decide(network_of(model).output_activation, outputs.T)  # the rule works on columns
    return decided if decided.ndim == 1 else decided[0]  # one sigmoid unit: its 0/1 row


def true_classes(model: Any, X_rows: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The checked rows and their true class indices, or ValueError if their counts differ."""
    X_rows = check_model_rows(model, X_rows)
    truth = class_indices(model, y)
    _check_label_count(truth.size, X_rows.shape[0])
    return X_rows, truth


def decision_grid(
    model: Any, X_rows: np.ndarray, resolution: int = GRID_RESOLUTION
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A grid over the two features' range (plus a margin) and the model's output at each point.

    Returns ``(xx, yy, values)``, each ``(resolution, resolution)``: the probability of class 1
    for a binary model, the predicted class index for a multiclass model.
    """
    X_rows = check_model_rows(model, X_rows)
    require_two_features(X_rows.shape[1])
    low, high = X_rows.min(axis=0).astype(float), X_rows.max(axis=0).astype(float)
    margin = 0.1 * np.maximum(high - low, 1e-9)
    xs = np.linspace(low[0] - margin[0], high[0] + margin[0], resolution)
    ys = np.linspace(low[1] - margin[1], high[1] + margin[1], resolution)
    xx, yy = np.meshgrid(xs, ys)
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    if require_classifier(model, "boundary") == "binary":
        values = output_activations(model, grid)[:, -1]  # P(class 1): one sigmoid unit or softmax's second
    else:
        values = predicted_classes(model, grid)
    return xx, yy, values.reshape(xx.shape)


# ---------------------------------------------------------------------- input gradients
def _targets(model: Any, y: np.ndarray, m: int) -> np.ndarray:
    """Targets ``Y`` (n_L, m) in the engine's layout for the true labels ``y``."""
    net = network_of(model)
    task, n_L = task_of(model), net.layer_sizes[-1]
    if task in ("binary", "multiclass"):
        targets = class_indices(model, y)
    else:
        targets = np.asarray(y, dtype=float).reshape(m, -1)
        if targets.shape[1] != n_L:
            raise ValueError(f"y must have {n_L} values per sample, got shape {np.shape(y)}")
    return target_matrix(task, targets, n_L, net.dtype)


def input_gradients(model: Any, X_rows: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Saliency: ``dA0``, the per-example gradient of each row's loss with respect to its raw inputs, as rows.

    ``dA0`` comes from ``compute_gradients(..., input_gradient=True)``; with a scaler
    ``x_scaled = (x - offset) / scale`` it is divided by ``scale`` (chain rule back to raw inputs).
    """
    net = network_of(model)
    A0 = engine_input(model, X_rows)
    Y = _targets(model, y, A0.shape[1])
    _check_label_count(Y.shape[1], A0.shape[1])
    AL, cache = net.forward(A0)
    dA0 = net.compute_gradients(AL, Y, cache, input_gradient=True)["dA0"]
    scaler = None if isinstance(model, DNN) else getattr(model, "scaler", None)
    if scaler is not None:
        dA0 = dA0 / np.asarray(scaler.scale_, dtype=dA0.dtype).reshape(-1, 1)
    return dA0.T


# ---------------------------------------------------------------------- image inputs
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


def image_shape_for(model: Any, image_shape: Sequence[int] | None, kind: str) -> tuple[int, int]:
    """:func:`image_shape_of`, its ValueError prefixed with the plot ``kind``."""
    try:
        return image_shape_of(model, image_shape)
    except ValueError as error:
        raise ValueError(f"plot kind {kind!r} {error}") from None


def tile_corner(unit: int, columns: int, height: int, width: int) -> tuple[int, int]:
    """(top, left) pixel of tile ``unit`` in a mosaic of ``height x width`` tiles, one pixel apart."""
    return (unit // columns) * (height + 1), (unit % columns) * (width + 1)


def weight_mosaic(W1: np.ndarray, height: int, width: int, columns: int) -> np.ndarray:
    """Rows of ``W1`` as ``height x width`` tiles, ``columns`` per row, left to right, one NaN pixel apart."""
    units = W1.shape[0]
    rows = math.ceil(units / columns)
    mosaic = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1), np.nan)
    for unit in range(units):
        top, left = tile_corner(unit, columns, height, width)
        mosaic[top : top + height, left : left + width] = W1[unit].reshape(height, width)
    return mosaic
