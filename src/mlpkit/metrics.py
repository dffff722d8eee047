"""Evaluation metrics in numpy: accuracy, confusion matrix, per-class precision/recall/F1, MSE, R^2.

Conventions follow scikit-learn's: the confusion matrix has true classes as rows and
predicted classes as columns; a precision or recall with a zero denominator is 0.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mlpkit.model import Model
from mlpkit.tasks import target_matrix


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``(n_classes, n_classes)``: entry ``[i, j]`` counts rows of class ``i`` predicted as ``j``."""
    true, predicted = np.asarray(true, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    if true.shape != predicted.shape:
        raise ValueError(f"true has shape {true.shape} but predicted has shape {predicted.shape}")
    counts = np.bincount(true * n_classes + predicted, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes)


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    result = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=result, where=denominator != 0)
    return result


def precision_recall_f1(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class ``precision``, ``recall``, ``f1`` and ``support`` from a confusion matrix."""
    confusion = np.asarray(confusion, dtype=np.float64)
    hits = np.diag(confusion)
    precision = _safe_divide(hits, confusion.sum(axis=0))
    recall = _safe_divide(hits, confusion.sum(axis=1))
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": confusion.sum(axis=1).astype(np.int64),
    }


def mean_squared_error(y: np.ndarray, predicted: np.ndarray) -> float:
    """Mean of the squared differences over every entry."""
    return float(np.mean((np.asarray(y, dtype=np.float64) - predicted) ** 2))


def r2_score(y: np.ndarray, predicted: np.ndarray) -> float:
    """Coefficient of determination averaged over outputs (1 when a constant target is fitted exactly)."""
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(y.shape)
    residual = ((y - predicted) ** 2).sum(axis=0)
    total = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    scores = np.where(total > 0, 1.0 - _safe_divide(residual, total), np.where(residual == 0, 1.0, 0.0))
    return float(scores.mean())


def model_outputs(model: Model, rows: np.ndarray | Iterator[np.ndarray]) -> np.ndarray:
    """The output rows ``(m, n_L)`` for raw rows ``(m, n_x)``, or for an iterator over consecutive blocks
    of raw rows (computed block by block: only the outputs are held)."""
    if isinstance(rows, Iterator):
        return np.concatenate([model.outputs(block) for block in rows])
    return model.outputs(rows)


def evaluate_model(model: Model, rows: np.ndarray | Iterator[np.ndarray], targets: np.ndarray) -> dict:
    """Loss and task metrics of ``model`` on raw ``rows`` and encoded ``targets``.

    ``rows`` is an array ``(m, n_x)`` or an iterator over consecutive blocks of it (data read
    chunk by chunk, such as memory-mapped files). ``targets`` are class indices (binary,
    multiclass), a 0/1 indicator (multilabel) or values (regression), one per row. The loss is
    the network's own cost ``J`` (cross-entropy or squared error).
    """
    outputs = model_outputs(model, rows)  # (m, n_L)
    Y = target_matrix(model.task, targets, outputs.shape[1], outputs.dtype)  # (n_L, m)
    report: dict = {"rows": int(outputs.shape[0]), "loss": model.net.loss(outputs.T, Y)}
    decided = model.decide(outputs)
    if model.task == "regression":
        report.update(mse=mean_squared_error(targets, decided), r2=r2_score(targets, decided))
        return report
    if model.task == "multilabel":
        report["accuracy"] = float(np.mean(np.all(decided == targets, axis=1)))
        report["per_class"] = _per_label(np.asarray(targets, dtype=np.int64), decided, model.label_names)
        return report
    confusion = confusion_matrix(targets, decided, model.n_classes)
    report["accuracy"] = float(np.trace(confusion) / max(confusion.sum(), 1))
    report["per_class"] = _per_class_rows(precision_recall_f1(confusion), model.label_names)
    report["confusion_matrix"] = confusion.tolist()
    return report


def _per_class_rows(scores: dict[str, np.ndarray], names: list[str]) -> list[dict]:
    return [
        {
            "label": name,
            "precision": float(scores["precision"][k]),
            "recall": float(scores["recall"][k]),
            "f1": float(scores["f1"][k]),
            "support": int(scores["support"][k]),
        }
        for k, name in enumerate(names)
    ]


def _per_label(targets: np.ndarray, decided: np.ndarray, names: list[str]) -> list[dict]:
    rows = []
    for k, name in enumerate(names):
        binary = confusion_matrix(targets[:, k], decided[:, k], 2)
        scores = precision_recall_f1(binary)
        rows.append(_per_class_rows({key: value[1:] for key, value in scores.items()}, [name])[0])
    return rows
