"""Tasks and their targets, decided once: kind of targets, task <-> output layer, labels, target matrices.

The four tasks are binary, multiclass, multilabel and regression. Training targets are read
as consecutive blocks (an array in memory is one block, mapped files come a chunk at a time);
:func:`scan_targets` decides from them the task, the output layer and the labels, and
:class:`Targets` encodes any block of targets the way the decision says.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mlpkit.network import DNN
from mlpkit.preprocessing import encode_labels, one_hot

TASKS = ("binary", "multiclass", "multilabel", "regression")
TARGET_KINDS = ("classification", "multilabel", "regression")
CLASS_TASKS = ("binary", "multiclass")


# ---------------------------------------------------------------------- a network's task
def infer_task(net: DNN) -> str:
    """The prediction task a network's output layer implies (a bare DNN, without a Model)."""
    if net.output_activation == "softmax":
        return "multiclass"
    if net.output_activation == "sigmoid":
        return "binary" if net.layer_sizes[-1] == 1 else "multilabel"
    return "regression"


def check_task(task: str, net: DNN) -> str:
    """``task`` if the network's output layer can serve it, else ValueError naming what fits."""
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; expected one of {list(TASKS)}")
    output, n_out = net.output_activation, net.layer_sizes[-1]
    allowed = {
        "binary": (output == "sigmoid" and n_out == 1) or (output == "softmax" and n_out == 2),
        "multiclass": output == "softmax" and n_out >= 2,
        "multilabel": output == "sigmoid",
        "regression": output in ("identity", "exp"),  # exp: the mean of a Poisson model
    }
    if not allowed[task]:
        raise ValueError(
            f"task {task!r} does not fit a {output} output layer with {n_out} unit(s): binary needs "
            "sigmoid with 1 unit or softmax with 2, multiclass softmax, multilabel sigmoid, "
            "regression identity (or exp, a Poisson mean)"
        )
    return task


# ---------------------------------------------------------------------- targets -> task and output layer
CLASS_LIMIT = 20  # whole-number targets with at most this many distinct values are classes when they repeat
FEW_CLASSES = 10  # ... and with at most this many, always


def target_kind(y: np.ndarray) -> str:
    """``"classification"`` for text, booleans or whole numbers with few distinct values (see
    :func:`too_many_classes`); ``"multilabel"`` for a 0/1 matrix; ``"regression"`` for other numbers."""
    kind = _block_kind(y)
    if kind == "classification" and _is_numeric(np.asarray(y).dtype):
        return "regression" if too_many_classes(np.unique(y).size, np.asarray(y).size) else kind
    return kind


def too_many_classes(distinct: int, rows: int) -> bool:
    """Whether whole numbers with ``distinct`` values over ``rows`` rows are quantities (a price, a
    count) rather than class codes: more than ``CLASS_LIMIT`` values, and more than 1,000 or more
    than a tenth of the rows (a twentieth beyond 1,000 rows); or, on a small table, more than
    ``FEW_CLASSES`` values repeated fewer than three times on average (scores of 40 to 90 on 30 rows).
    Codes repeat; quantities rarely do."""
    share = 0.1 if rows <= 1000 else 0.05
    many = distinct > CLASS_LIMIT and (distinct > 1000 or distinct > share * rows)
    return many or (distinct > FEW_CLASSES and 3 * distinct > rows)


def _is_numeric(dtype: np.dtype) -> bool:
    return np.issubdtype(dtype, np.number) and not np.issubdtype(dtype, np.bool_)


def _block_kind(y: np.ndarray) -> str:
    """The kind one block of targets shows by itself (whole numbers count as classes here)."""
    y = np.asarray(y)
    if y.ndim == 2:
        numeric = np.issubdtype(y.dtype, np.number) or y.dtype == bool
        return "multilabel" if numeric and np.isin(y, (0, 1)).all() else "regression"
    if not np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.integer):
        return "classification"
    return "classification" if np.all(np.mod(y, 1) == 0) else "regression"


def class_output(labels: list, output: str = "auto") -> tuple[str, str, int]:
    """Task, output activation and output width for classifying into ``labels``.

    ``auto`` picks one sigmoid unit for two classes and a softmax for more.
    """
    k = len(labels)
    if k < 2:
        raise ValueError(
            f"the training labels hold a single class ({labels}); classification needs at least 2"
        )
    if output == "sigmoid" and k > 2:
        raise ValueError(f"output 'sigmoid' fits 2 classes (or multilabel targets), got {k}; use softmax")
    if output == "softmax" or (output == "auto" and k > 2):
        return ("binary" if k == 2 else "multiclass"), "softmax", k
    return "binary", "sigmoid", 1


def target_matrix(task: str, targets: np.ndarray, n_outputs: int, dtype: str | np.dtype) -> np.ndarray:
    """The engine's ``Y`` of shape ``(n_L, m)`` (columns are samples) for encoded targets.

    ``targets`` holds class indices for binary/multiclass, a 0/1 indicator ``(m, k)`` for
    multilabel, and values ``(m,)`` or ``(m, k)`` for regression.
    """
    targets = np.asarray(targets)
    if task in CLASS_TASKS and n_outputs > 1:
        return one_hot(targets, n_outputs, dtype).T
    if task == "binary":
        return targets.reshape(1, -1).astype(dtype)
    if task in ("multilabel", "regression"):
        return targets.reshape(targets.shape[0], -1).T.astype(dtype)
    raise ValueError(f"Unknown task {task!r}; expected one of {list(TASKS)}")


def encode_values(task: str, labels: Sequence | None, values: np.ndarray, name: str) -> np.ndarray:
    """Targets as the task encodes them: class indices via ``labels`` (ValueError naming the row of an
    unknown label), a 0/1 indicator as integers (multilabel) or float64 values (regression)."""
    if task in CLASS_TASKS:
        return encode_labels(np.asarray(values), labels, name)[0]
    if task == "multilabel":
        return np.asarray(values, dtype=np.int64)
    return np.asarray(values, dtype=np.float64)


@dataclass
class Targets:
    """What the training targets call for: the task, the output layer and its width, the class labels."""

    task: str
    output_activation: str
    n_outputs: int
    labels: list | None = None

    def encode(self, values: np.ndarray, name: str = "training labels") -> np.ndarray:
        """Raw targets -> class indices, a 0/1 indicator or values (see :func:`encode_values`)."""
        return encode_values(self.task, self.labels, values, name)

    def matrix(self, values: np.ndarray, dtype: str | np.dtype, name: str = "training labels") -> np.ndarray:
        """Raw targets -> the engine's ``Y`` ``(n_L, m)`` in ``dtype``."""
        return target_matrix(self.task, self.encode(values, name), self.n_outputs, dtype)


class _Scan:
    """What one pass over blocks of targets found: their kinds, dtype, width and distinct values."""

    def __init__(self) -> None:
        self.kinds: set[str] = set()
        self.dtype: np.dtype | None = None
        self.width = 1
        self.classes: np.ndarray | None = None
        self.rows = 0

    def add(self, block: np.ndarray) -> None:
        block = np.asarray(block)
        self.kinds.add(_block_kind(block))
        self.rows += block.shape[0]
        self.dtype = block.dtype if self.dtype is None else self.dtype
        self.width = 1 if block.ndim == 1 else block.shape[1]
        if block.ndim == 1:
            distinct = np.unique(block)
            self.classes = distinct if self.classes is None else np.union1d(self.classes, distinct)


def scan_targets(
    blocks: Iterable[np.ndarray], output: str = "auto", labels: Sequence | None = None
) -> Targets:
    """The task, output layer and labels that training targets call for, read block by block.

    ``blocks`` are consecutive blocks of the targets (one array in memory is one block);
    ``output`` is ``"auto"``, ``"sigmoid"``, ``"softmax"`` or ``"identity"``. Class labels are the
    sorted distinct values, or ``labels`` when given (names of integer codes, in code order).
    """
    scan = _Scan()
    for block in blocks:
        scan.add(block)
    if scan.dtype is None:
        raise ValueError("no training targets: the target blocks are empty")
    kind = "regression" if output == "identity" or "regression" in scan.kinds else scan.kinds.pop()
    if kind == "classification" and labels is None and _is_numeric(scan.dtype) and output == "auto":
        kind = "regression" if too_many_classes(scan.classes.size, scan.rows) else kind
    if kind == "regression":
        if not (np.issubdtype(scan.dtype, np.number) or scan.dtype == bool):
            raise ValueError(f"output 'identity' (regression) needs numeric targets, got {scan.dtype} labels")
        return Targets("regression", "identity", scan.width)
    if kind == "multilabel":
        if output == "softmax":
            raise ValueError(
                "output 'softmax' needs one class per row; the targets are a 0/1 matrix (multilabel)"
            )
        return Targets("multilabel", "sigmoid", scan.width, list(range(scan.width)))
    classes = list(labels) if labels is not None else [value.item() for value in scan.classes]
    return Targets(*class_output(classes, output), classes)


class Labelled(Protocol):
    """What encoding evaluation targets needs of a model: its task and class labels."""

    task: str
    labels: list


def encode_test_targets(model: Labelled, values: np.ndarray) -> np.ndarray:
    """Evaluation targets for ``model``: class indices via its labels, an indicator or values."""
    return encode_values(model.task, model.labels, values, "test labels")
