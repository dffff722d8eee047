"""Predictions as a table: raw feature rows from a file, and the model's answer for each as text columns.

This is what ``mlpkit predict`` writes, callable from Python::

    rows = read_features(model, "new.csv")
    header, lines = prediction_table(model, rows, proba=True)
    Path("predictions.csv").write_text(prediction_csv(model, rows, proba=True))
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from mlpkit.columns import ColumnTable
from mlpkit.datasets import read_csv_features, read_npz_features
from mlpkit.datasets.table_files import TABLE_TYPES, read_table_file
from mlpkit.model import Model


def read_features(model: Model, path: str | os.PathLike) -> np.ndarray | ColumnTable:
    """The raw feature rows for ``model`` of a ``.csv`` (with a header), ``.parquet`` or ``.npz`` (``X``).

    For a model with a feature schema, a table's columns (its target column, if present, left
    out), matched by name when transformed; read like the training table (the columns named
    categorical in training as text, the numeric ones as numbers). Otherwise rows ``(m, n_x)``:
    a table whose header names the model's feature columns gives those columns, in order; else
    it must have exactly ``model.n_features`` columns.
    """
    suffix = Path(path).suffix.lower()
    if suffix in TABLE_TYPES and model.features is not None:
        kinds = model.features.kinds()
        numeric = [name for name, kind in kinds.items() if kind == "numeric"]
        categorical = [name for name in model.config.get("categorical") or () if name in kinds]
        table, _, _ = read_table_file(path, labelled=False, categorical=categorical, numeric=numeric)
        target = model.config.get("target_name")
        return table.select([name for name in table.names if name != target])
    if suffix in TABLE_TYPES:
        return read_csv_features(path, model.n_features, model.config.get("feature_names"))
    if suffix == ".npz":
        return read_npz_features(path, model.n_features)
    raise ValueError(
        f"{path}: unsupported input type {suffix or '(none)'!r}; expected .csv, .parquet or .npz"
    )


def number_format(model: Model) -> str:
    """Enough significant digits to read each value back exactly: 9 for float32, 17 for float64."""
    return "{:.9g}" if model.net.dtype == np.float32 else "{:.17g}"


def prediction_table(model: Model, rows, proba: bool = False) -> tuple[list[str], list[list[str]]]:
    """The header and one line of text cells per raw row ``(m, n_x)`` (or per row of a table).

    ``prediction`` holds the original label (classifiers), the present labels joined by ``;``
    (multilabel) or the value (regression; ``prediction_1``, ``prediction_2``, ... for several
    outputs). ``proba=True`` adds one ``proba_LABEL`` column per class (ValueError for regression).
    Numbers are written with :func:`number_format`.
    """
    number = number_format(model)
    outputs = model.outputs(rows)  # (m, n_L)
    if proba:
        probabilities = model.probabilities(outputs)  # (m, n_classes); refuses regression
    decided = model.decide(outputs)
    if model.task == "regression":
        values = decided.reshape(len(outputs), -1)
        header = (
            ["prediction"]
            if values.shape[1] == 1
            else [f"prediction_{k + 1}" for k in range(values.shape[1])]
        )
        lines = [[number.format(v) for v in line] for line in values]
    elif model.task == "multilabel":
        header = ["prediction"]
        names = model.label_names
        lines = [[";".join(n for n, on in zip(names, line, strict=True) if on)] for line in decided]
    else:
        header = ["prediction"]
        lines = [[model.label_names[index]] for index in decided]
    if proba:
        header += [f"proba_{name}" for name in model.label_names]
        lines = [line + [number.format(p) for p in ps] for line, ps in zip(lines, probabilities, strict=True)]
    return header, lines


def prediction_csv(model: Model, rows, proba: bool = False) -> str:
    """:func:`prediction_table` as CSV text: the header line, then one line per row."""
    header, lines = prediction_table(model, rows, proba)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    return buffer.getvalue()
