"""``mlpkit evaluate`` and ``mlpkit predict``: a model on labelled data (a report) or on raw rows (a CSV)."""

from __future__ import annotations

import argparse
import re
import sys

import numpy as np

from mlpkit.cli.args import EXIT_OK, UsageError, data_given_once, escape, print_json

AT_ROW = re.compile(r"at row (\d+)")


# ---------------------------------------------------------------------- evaluate
def add_evaluate_parser(subparsers) -> None:
    """The ``evaluate`` subcommand."""
    parser = subparsers.add_parser(
        "evaluate",
        help="loss, accuracy, per-class precision/recall/F1 and confusion matrix of a model",
        description=(
            "Evaluate a model file on the test split of its training data (or of a named dataset), "
            "or on the whole of another .csv/.parquet/.npz file."
        ),
    )
    parser.add_argument("model", metavar="MODEL", help="model file written by mlpkit train")
    parser.add_argument(
        "data_file", nargs="?", metavar="DATA", help="the data, as --data gives it (evaluate m.npz test.csv)"
    )
    parser.add_argument(
        "--data", metavar="NAME|PATH", help="dataset name or file (default: the training data)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(run=run_evaluate)


def data_source(model, model_path: str, data: str | None) -> str:
    """``--data``, else the data the model was trained on (a usage error when the model does not say)."""
    source = data or model.config.get("data")
    if not source:
        raise UsageError(f"{model_path}: the model does not say which data it was trained on; pass --data")
    return source


def evaluation_rows(model, source: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Rows (or a table's columns) and labels to evaluate on, and a description: a test split, or a whole
    file."""
    from mlpkit.datasets import evaluation_data

    rows, values, part = evaluation_data(source, model.config)
    if model.features is None and rows.shape[1] != model.n_features:
        raise UsageError(f"{source}: {rows.shape[1]} feature columns but the model takes {model.n_features}")
    return rows, values, f"{source} ({part}, {rows.shape[0]} rows)"


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate the model on its test split or on ``--data``; print a report or one JSON object."""
    from mlpkit.io import load
    from mlpkit.metrics import evaluate_model
    from mlpkit.tasks import encode_test_targets

    model = load(args.model)
    source = data_source(model, args.model, data_given_once(args.data_file, args.data))
    rows, values, where = evaluation_rows(model, source)
    try:
        targets = encode_test_targets(model, values)
    except ValueError as error:
        raise UsageError(f"{source}: {_in_file_rows(str(error), source, model.config)}") from None
    report = evaluate_model(model, rows, targets)
    if args.json:
        print_json({"model": args.model, "data": source, **report})
    else:
        _print_report(args.model, where, report)
    return EXIT_OK


def _in_file_rows(message: str, source: str, trained_on: dict) -> str:
    """The message with its ``at row N`` (a position among the rows evaluated) in the file's own rows."""
    from mlpkit.datasets.catalog import row_words

    match = AT_ROW.search(message)
    if match is None:
        return message
    words = row_words(source, int(match.group(1)), _part(source, trained_on), trained_on)
    return message[: match.start()] + f"at {words}" + message[match.end() :]


def _part(source: str, trained_on: dict) -> str:
    """Which part of ``source`` evaluate reads: its test split or the whole file (as ``evaluation_data``)."""
    from mlpkit.datasets import is_dataset_name, same_source

    same = is_dataset_name(source) or same_source(source, trained_on.get("data"))
    return "test split" if same else "whole file"


def _print_report(model_path: str, where: str, report: dict) -> None:
    print(escape(f"model {model_path} on {where}"))
    if "mse" in report:  # in the target's units, which may be any size: significant digits
        scores = [f"loss {report['loss']:.6g}", f"mse {report['mse']:.6g}", f"r2 {report['r2']:.4f}"]
    else:
        scores = [f"loss {report['loss']:.4f}", f"accuracy {report['accuracy']:.4f}"]
    print("  ".join(scores))
    if "per_class" in report:
        rows = [{**row, "label": escape(row["label"])} for row in report["per_class"]]
        print(_per_class_table(rows))
    if "confusion_matrix" in report:
        print(_confusion_table(report["confusion_matrix"], [row["label"] for row in rows]))


def _per_class_table(rows: list[dict]) -> str:
    width = max(5, *(len(row["label"]) for row in rows))
    lines = ["", f"{'class':<{width}}  precision  recall  f1      support"]
    for row in rows:
        lines.append(
            f"{row['label']:<{width}}  {row['precision']:<9.4f}  {row['recall']:<6.4f}  "
            f"{row['f1']:<6.4f}  {row['support']}"
        )
    return "\n".join(lines)


def _confusion_table(matrix: list[list[int]], names: list[str]) -> str:
    width = max(5, *(len(str(count)) for line in matrix for count in line))
    label_width = max(len(name) for name in names)
    lines = ["", "confusion matrix (rows: true class, columns: predicted class, in the order above)"]
    for name, line in zip(names, matrix, strict=True):
        lines.append(f"{name:<{label_width}}  " + " ".join(f"{count:>{width}}" for count in line))
    return "\n".join(lines)


# ---------------------------------------------------------------------- predict
def add_predict_parser(subparsers) -> None:
    """The ``predict`` subcommand."""
    parser = subparsers.add_parser(
        "predict",
        help="predict raw feature rows from a .csv, .parquet or .npz file; CSV out",
        description=(
            "Predict each row of INPUT (.csv with a header, .parquet, or .npz with X); write a CSV. "
            "A model trained on a table matches INPUT's columns by name."
        ),
    )
    parser.add_argument("model", metavar="MODEL", help="model file written by mlpkit train")
    parser.add_argument("input", metavar="INPUT", help="feature rows: .csv (header), .parquet, .npz (X)")
    parser.add_argument("--proba", action="store_true", help="add one probability column per class")
    parser.add_argument(
        "-o",
        "--out",
        "--output",
        dest="out",
        metavar="FILE",
        help="CSV file to write, '-' for standard output (default: standard output; --output is an old "
        "spelling)",
    )
    parser.set_defaults(run=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    """Write the prediction table of INPUT's rows as CSV, to ``--out`` (atomically) or stdout."""
    from mlpkit.io import atomic_write, check_outputs, load
    from mlpkit.predictions import prediction_csv, read_features

    out = check_outputs({"--out": args.out}, {"MODEL": args.model, "INPUT": args.input}, streams=["--out"])
    model = load(args.model)
    if args.proba and model.task == "regression":
        raise UsageError("--proba: a regression model has no class probabilities")
    text = prediction_csv(model, read_features(model, args.input), args.proba)
    if out["--out"] is not None:
        atomic_write(out["--out"], lambda handle: handle.write(text), text=True)
    else:
        sys.stdout.write(text)
    return EXIT_OK
