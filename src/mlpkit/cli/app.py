"""The ``mlpkit`` command: parses arguments, calls the library, prints results. Nothing else.

Subcommands: ``train``, ``evaluate``, ``predict``, ``info``, ``export``, ``gradcheck``,
``explain``, ``plot``. Exit codes: 0
success, 1 other failures (training diverged, a download failed, a check did not pass), 2 bad
usage or bad input (one line on stderr naming the option, file, row or column; no output
file is left behind).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import shlex
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from mlpkit.training import Callback, TrainingInterrupted

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
GRADCHECK_THRESHOLD = 1e-7
OUTPUT_CHOICES = ("auto", "sigmoid", "softmax", "identity")
OPTIMIZER_CHOICES = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")
DTYPE_CHOICES = ("float32", "float64")


class UsageError(ValueError):
    """Bad flags or bad input: reported in one line on stderr, exit code 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with usage errors reported in one line (and exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ---------------------------------------------------------------------- argument types
def int_list(text: str) -> list[int]:
    """Parse ``"256,128"`` into ``[256, 128]`` (an empty string gives ``[]``)."""
    if text.strip() == "":
        return []
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"every size must be >= 1, got {text!r}")
    return values


def _number(text: str, kind: type) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
        ) from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _number(text, float)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    value = _number(text, float)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return value


def _say(args: argparse.Namespace, text: str = "") -> None:
    if not args.quiet:
        print(text, flush=True)


def _print_json(value: dict) -> None:
    print(json.dumps(_finite_or_null(value)), flush=True)


def _finite_or_null(value):
    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------------- train
def _add_train_parser(subparsers) -> None:
    from mlpkit.activations import ACTIVATIONS

    parser = subparsers.add_parser(
        "train",
        help="train a network on a dataset and write the model file",
        description="Train a dense network (default: 784-256-128-10 on Fashion-MNIST); report test accuracy.",
    )
    parser.add_argument(
        "--data",
        default="fashion-mnist",
        metavar="NAME|PATH",
        help="dataset name, .csv/.npz, X.npy (with --labels) or a folder of X_*.npy/y_*.npy shards",
    )
    parser.add_argument(
        "--labels", metavar="Y.npy", help="labels for --data X.npy; both are memory-mapped, read per batch"
    )
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over MPI: run under mpiexec -n K (needs the mpi extra)",
    )
    parser.add_argument("--target", metavar="COL", help="CSV target column (default: the last one)")
    parser.add_argument(
        "--hidden", type=int_list, default=[256, 128], help="hidden layer sizes, e.g. 256,128"
    )
    parser.add_argument("--activation", default="relu", choices=sorted(ACTIVATIONS), help="hidden activation")
    parser.add_argument(
        "--output", default="auto", choices=OUTPUT_CHOICES, help="output layer (auto: from y)"
    )
    parser.add_argument("--optimizer", default="adam", choices=OPTIMIZER_CHOICES)
    parser.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate")
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--epochs", type=positive_int, default=10)
    parser.add_argument("--dropout", type=fraction, default=0.0, help="hidden-unit drop probability")
    parser.add_argument("--l2", type=non_negative_float, default=0.0, help="L2 penalty lambda")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--dtype", default="float32", choices=DTYPE_CHOICES)
    parser.add_argument(
        "--validation-fraction", type=fraction, default=0.1, help="held-out share of training"
    )
    parser.add_argument(
        "--early-stopping", action="store_true", help="stop on a validation plateau, keep best"
    )
    parser.add_argument("--out", default="model.npz", help="model file to write (default: model.npz)")
    parser.add_argument("--plot", metavar="FILE", help="write training curves (needs the plot extra)")
    parser.add_argument("--json", action="store_true", help="end the output with one JSON summary line")
    parser.add_argument("--quiet", action="store_true", help="print only the final summary")
    parser.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help="write a checkpoint into DIR at the end of every epoch (and on Ctrl-C)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in --checkpoint-dir (same arguments)",
    )
    parser.set_defaults(run=_run_train)


class EpochPrinter(Callback):
    """Prints one line per epoch: loss, accuracy, validation loss and accuracy, seconds."""

    def __init__(self, total_epochs: int) -> None:
        self.total_epochs = total_epochs

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, float]) -> None:
        width = len(str(self.total_epochs))
        parts = [f"epoch {epoch + 1:>{width}}/{self.total_epochs}", f"loss {logs['loss']:.4f}"]
        if math.isfinite(logs["accuracy"]):
            parts.append(f"accuracy {logs['accuracy']:.4f}")
        if "val_loss" in logs:
            parts.append(f"val_loss {logs['val_loss']:.4f}")
            if math.isfinite(logs["val_accuracy"]):
                parts.append(f"val_accuracy {logs['val_accuracy']:.4f}")
        parts.append(f"{logs['seconds']:.1f} s")
        print("  ".join(parts), flush=True)


def _train_config(args: argparse.Namespace):
    from mlpkit.training.config import TrainConfig

    return TrainConfig(
        data=args.data,
        target=args.target,
        hidden=tuple(args.hidden),
        activation=args.activation,
        output=args.output,
        optimizer=args.optimizer,
        lr=args.lr,
        batch_size=args.batch_size,
        epochs=args.epochs,
        dropout=args.dropout,
        l2=args.l2,
        seed=args.seed,
        dtype=args.dtype,
        validation_fraction=args.validation_fraction,
        early_stopping=args.early_stopping,
    )


def _check_plot_path(path: str | None):
    """The plotting function, checked before training so a bad --plot fails fast."""
    if path is None:
        return None
    try:
        from mlpkit.plots import check_output_path, plot_curves
    except ImportError:
        raise UsageError("--plot is not available in this mlpkit (no mlpkit.plots module)") from None
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError('--plot needs matplotlib: pip install "mlpkit[plot]"') from None
    try:
        check_output_path(path)
    except ValueError as error:
        raise UsageError(f"--plot: {error}") from None
    return plot_curves


def _describe_network(model) -> str:
    net = model.net
    sizes = "-".join(str(size) for size in net.layer_sizes)
    hidden = ",".join(sorted(set(net.hidden_activations))) or "no"
    return (
        f"{sizes}, {hidden} hidden, {net.output_activation} output ({model.task}), "
        f"{net.dtype.name}, {net.n_parameters:,} parameters"
    )


def _describe_training(config) -> str:
    stopping = "on" if config.early_stopping else "off"
    return (
        f"{config.optimizer} lr {config.lr:g}, batch {config.batch_size}, {config.epochs} epochs, "
        f"dropout {config.dropout:g}, l2 {config.l2:g}, validation {config.validation_fraction:g}, "
        f"early stopping {stopping}, seed {config.seed}"
    )


def _run_train(args: argparse.Namespace) -> int:
    import time

    from mlpkit.io import check_writable, save
    from mlpkit.training.pipeline import make_trainer
    from mlpkit.training.run import TrainingRun

    config = _train_config(args)
    communicator = _communicator(args)
    is_root = communicator is None or communicator.is_root
    args.quiet = args.quiet or not is_root  # rank 0 alone prints and writes files
    try:
        out = check_writable(args.out)
    except ValueError as error:
        raise UsageError(f"--out: {error}") from None
    plot_curves = _check_plot_path(args.plot)
    _check_checkpoint_flags(args)
    dataset, model, X, Y = _training_data(args, config)
    _say(args, f"data      {dataset.describe()}, {dataset.scaling} scaling")
    _say(args, f"network   {_describe_network(model)}")
    _say(args, f"training  {_describe_training(config)}")
    callbacks = [] if args.quiet else [EpochPrinter(config.epochs)]
    trainer = make_trainer(model, config, callbacks, progress=False if args.quiet else None)
    trainer.communicator = communicator
    with _checkpoint_usage():
        run = TrainingRun(
            trainer, args.checkpoint_dir, resume=args.resume, settings={"labels": args.labels}, warn=_warn
        )
        run.start(X, Y)
    _say_resumed(args, run)
    started = time.perf_counter()
    try:
        history = run.fit(X, Y)
    except TrainingInterrupted as interruption:
        if not is_root:
            return EXIT_INTERRUPTED
        return _report_interrupt(args, interruption, communicator)
    seconds = time.perf_counter() - started
    report = _finish_training(model, dataset, history, seconds)
    if not is_root:
        return EXIT_OK
    save(model, out)
    if plot_curves is not None:
        plot_curves(model.history, args.plot)
    _print_train_summary(args, model, report, out)
    return EXIT_OK


def _check_checkpoint_flags(args: argparse.Namespace) -> None:
    """Refuse --resume without a folder, and a folder that is a file or holds another run's checkpoints."""
    from mlpkit.training.run import check_checkpoint_folder

    if args.checkpoint_dir is None:
        if args.resume:
            raise UsageError(
                "--resume needs --checkpoint-dir DIR, the folder the run wrote its checkpoints to"
            )
        return
    with _checkpoint_usage():
        check_checkpoint_folder(args.checkpoint_dir, args.resume)


@contextlib.contextmanager
def _checkpoint_usage() -> Iterator[None]:
    """A checkpoint folder that cannot serve this run is bad usage, named by its flag."""
    from mlpkit.training.run import CheckpointError

    try:
        yield
    except CheckpointError as error:
        raise UsageError(f"--{error.option.replace('_', '-')}: {error}") from None


def _warn(line: str) -> None:
    print(f"mlpkit train: warning: {line}", file=sys.stderr, flush=True)


def _say_resumed(args: argparse.Namespace, run) -> None:
    """Where a resumed run goes on from (or that the folder had no checkpoint yet)."""
    if not args.resume:
        return
    trainer = run.trainer
    if run.resumed_from is None:
        _say(args, f"resume    no checkpoint in {run.folder.folder} yet: starting from epoch 1")
        return
    where = f", {trainer.samples_done} samples into epoch {trainer.epoch + 1}" if trainer.samples_done else ""
    epochs = trainer.config.epochs
    _say(args, f"resume    from {run.resumed_from}: {trainer.epoch} of {epochs} epochs done{where}")


def _report_interrupt(args: argparse.Namespace, interruption, communicator=None) -> int:
    """Say where training stopped: the checkpoint written (with --checkpoint-dir) and how to resume."""
    path = getattr(interruption, "checkpoint", None)
    if path is None:
        detail = "nothing was saved (no --checkpoint-dir), and no model was written"
    else:
        launcher = ["mpiexec", "-n", str(communicator.size)] if communicator is not None else []
        command = [*launcher, *(arg for arg in ("mlpkit", *args.argv) if arg != "--resume")]
        detail = f"checkpoint written to {path}; to resume: {shlex.join([*command, '--resume'])}"
    print(f"mlpkit {args.command}: {interruption}; {detail}", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED


def _communicator(args: argparse.Namespace):
    """An MPI communicator over every rank for ``--distributed``, else None."""
    if not args.distributed:
        return None
    from mlpkit.training.distributed import MPICommunicator

    return MPICommunicator()


def _training_data(args: argparse.Namespace, config):
    """The dataset, an untrained model and its ``X``, ``Y``: memory-mapped for .npy data, else loaded."""
    from mlpkit.datasets import is_mapped_source, load_dataset, load_mapped
    from mlpkit.training.pipeline import build_model

    if is_mapped_source(config.data, args.labels):
        if config.target is not None:
            raise UsageError("--target applies to CSV files, not to memory-mapped .npy data")
        dataset = load_mapped(config.data, args.labels, test_fraction=config.test_fraction, seed=config.seed)
    else:
        if args.labels is not None:
            raise UsageError(f"--labels applies to --data X.npy, not to {config.data!r}")
        dataset = load_dataset(
            config.data, target=config.target, seed=config.seed, test_fraction=config.test_fraction
        )
    return (dataset, *build_model(dataset, config))


def _finish_training(model, dataset, history, seconds: float) -> dict:
    """Evaluate on the test split and store history and metrics in the model; returns the report."""
    from mlpkit.training.pipeline import finish_model

    return finish_model(model, dataset, history, seconds)


def _print_train_summary(args: argparse.Namespace, model, report: dict, out: Path) -> None:
    metrics = model.metrics
    if "accuracy" in report:
        scores = f"test accuracy {report['accuracy']:.4f}  test loss {report['loss']:.4f}"
    else:
        scores = f"test loss {report['loss']:.4f}  test mse {report['mse']:.4g}  test r2 {report['r2']:.4f}"
    print(
        f"{scores} on {report['rows']} rows; {metrics['epochs']} epochs in "
        f"{metrics['train_seconds']:.1f} s; model written to {out}",
        flush=True,
    )
    if args.json:
        summary = {
            "test_accuracy": report.get("accuracy", math.nan),
            "test_loss": report["loss"],
            "epochs": metrics["epochs"],
            "train_seconds": metrics["train_seconds"],
            "model": str(out),
            "test_rows": report["rows"],
            "data": args.data,
        }
        summary.update({f"test_{key}": report[key] for key in ("mse", "r2") if key in report})
        if args.plot:
            summary["plot"] = args.plot
        _print_json(summary)


# ---------------------------------------------------------------------- evaluate
def _add_evaluate_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="loss, accuracy, per-class precision/recall/F1 and confusion matrix of a model",
        description=(
            "Evaluate a model file on the test split of its training data (or of a named dataset), "
            "or on the whole of another .csv/.npz file."
        ),
    )
    parser.add_argument("model", metavar="MODEL", help="model file written by mlpkit train")
    parser.add_argument(
        "--data", metavar="NAME|PATH", help="dataset name or file (default: the training data)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(run=_run_evaluate)


def _evaluation_rows(model, source: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Rows and labels to evaluate on, and a description: a test split, or a whole file."""
    from mlpkit.datasets import evaluation_data

    rows, values, part = evaluation_data(source, model.config)
    if rows.shape[1] != model.n_features:
        raise UsageError(f"{source}: {rows.shape[1]} feature columns but the model takes {model.n_features}")
    return rows, values, f"{source} ({part}, {rows.shape[0]} rows)"


def _run_evaluate(args: argparse.Namespace) -> int:
    from mlpkit.io import load
    from mlpkit.metrics import evaluate_model
    from mlpkit.training.pipeline import encode_test_targets

    model = load(args.model)
    source = args.data or model.config.get("data")
    if not source:
        raise UsageError(f"{args.model}: the model does not say which data it was trained on; pass --data")
    rows, values, where = _evaluation_rows(model, source)
    try:
        targets = encode_test_targets(model, values)
    except ValueError as error:
        raise UsageError(f"{source}: {error}") from None
    report = evaluate_model(model, rows, targets)
    if args.json:
        _print_json({"model": args.model, "data": source, **report})
    else:
        _print_report(args.model, where, report)
    return EXIT_OK


def _print_report(model_path: str, where: str, report: dict) -> None:
    print(f"model {model_path} on {where}")
    scores = [f"loss {report['loss']:.4f}"]
    scores += [f"{key} {report[key]:.4f}" for key in ("accuracy", "mse", "r2") if key in report]
    print("  ".join(scores))
    if "per_class" in report:
        print(_per_class_table(report["per_class"]))
    if "confusion_matrix" in report:
        print(_confusion_table(report["confusion_matrix"], [row["label"] for row in report["per_class"]]))


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
def _add_predict_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="predict raw feature rows from a .csv or .npz file; CSV out",
        description="Predict each row of INPUT (.csv with a header, or .npz with X); write a CSV.",
    )
    parser.add_argument("model", metavar="MODEL", help="model file written by mlpkit train")
    parser.add_argument("input", metavar="INPUT", help="feature rows: .csv with a header, or .npz with X")
    parser.add_argument("--proba", action="store_true", help="add one probability column per class")
    parser.add_argument("--output", metavar="FILE", help="CSV file to write (default: standard output)")
    parser.set_defaults(run=_run_predict)


def _read_features(model, path: str) -> np.ndarray:
    from mlpkit.datasets import read_csv_features, read_npz_features

    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return read_csv_features(path, model.n_features, model.config.get("feature_names"))
    if suffix == ".npz":
        return read_npz_features(path, model.n_features)
    raise UsageError(f"{path}: unsupported input type {suffix or '(none)'!r}; expected .csv or .npz")


def _prediction_columns(model, rows: np.ndarray, proba: bool) -> tuple[list[str], list[list[str]]]:
    number = "{:.9g}" if model.net.dtype == np.float32 else "{:.17g}"
    outputs = model.outputs(rows)
    decided = model.decide(outputs)
    if model.task == "regression":
        values = decided.reshape(len(rows), -1)
        header = (
            ["prediction"]
            if values.shape[1] == 1
            else [f"prediction_{k + 1}" for k in range(values.shape[1])]
        )
        columns = [[number.format(v) for v in line] for line in values]
    elif model.task == "multilabel":
        header = ["prediction"]
        columns = [
            [";".join(n for n, on in zip(model.label_names, line, strict=True) if on)] for line in decided
        ]
    else:
        header = ["prediction"]
        columns = [[model.label_names[index]] for index in decided]
    if proba:
        probabilities = model.probabilities(outputs)
        header += [f"proba_{name}" for name in model.label_names]
        columns = [
            line + [number.format(p) for p in ps] for line, ps in zip(columns, probabilities, strict=True)
        ]
    return header, columns


def _run_predict(args: argparse.Namespace) -> int:
    from mlpkit.io import atomic_write, check_writable, load

    model = load(args.model)
    if args.proba and model.task == "regression":
        raise UsageError("--proba: a regression model has no class probabilities")
    if args.output:
        try:
            check_writable(args.output)
        except ValueError as error:
            raise UsageError(f"--output: {error}") from None
    rows = _read_features(model, args.input)

    header, lines = _prediction_columns(model, rows, args.proba)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    if args.output:
        atomic_write(args.output, lambda handle: handle.write(buffer.getvalue()), text=True)
    else:
        sys.stdout.write(buffer.getvalue())
    return EXIT_OK


# ---------------------------------------------------------------------- info
def _add_info_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "info",
        help="architecture, parameters, dtype, training config, metrics and format of a model file",
        description="Describe a model file written by mlpkit train (or mlpkit.save).",
    )
    parser.add_argument("model", metavar="MODEL", help="model file")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(run=_run_info)


def _model_info(path: str) -> dict:
    from mlpkit.io import load, read_info

    model = load(path)
    meta = read_info(path)
    net = model.net
    return {
        "model": path,
        "format": meta["format"],
        "format_version": meta["format_version"],
        "mlpkit_version": meta.get("mlpkit_version"),
        "file_bytes": meta["file_bytes"],
        "architecture": net.config(),
        "parameters": net.n_parameters,
        "dtype": net.dtype.name,
        "task": model.task,
        "labels": model.label_names,
        "preprocessing": meta.get("preprocessing"),
        "config": model.config,
        "metrics": model.metrics,
        "epochs_trained": len(model.history.get("loss", [])),
    }


def _run_info(args: argparse.Namespace) -> int:
    info = _model_info(args.model)
    if args.json:
        _print_json(info)
        return EXIT_OK
    architecture = info["architecture"]
    sizes = "-".join(str(size) for size in architecture["layer_sizes"])
    activations = ", ".join([*architecture["hidden_activation"], architecture["output_activation"]])
    preprocessing = info["preprocessing"]
    print(f"model          {info['model']} ({info['file_bytes']:,} bytes)")
    print(
        f"format         {info['format']} version {info['format_version']} (mlpkit {info['mlpkit_version']})"
    )
    print(f"architecture   {sizes} ({activations})")
    print(f"parameters     {info['parameters']:,}")
    print(f"dtype          {info['dtype']}")
    print(f"task           {info['task']}" + (f", labels {info['labels']}" if info["labels"] else ""))
    print(f"preprocessing  {preprocessing['method'] + ' scaling' if preprocessing else 'none'}")
    print(f"epochs trained {info['epochs_trained']}")
    print("training config")
    for key, value in info["config"].items():
        print(f"  {key:<20} {value}")
    print("metrics")
    for key, value in info["metrics"].items():
        print(f"  {key:<20} {value:.6g}" if isinstance(value, float) else f"  {key:<20} {value}")
    return EXIT_OK


# ---------------------------------------------------------------------- gradcheck
def _add_gradcheck_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "gradcheck",
        help="check backprop against finite differences on a random network",
        description="Compare backpropagation's gradients with centered finite differences (float64).",
    )
    parser.add_argument("--layers", type=int_list, default=[4, 5, 3], help="layer sizes n_x,...,n_L")
    parser.add_argument("--activation", default="tanh", help="hidden activation")
    parser.add_argument("--output", default="softmax", help="output activation: sigmoid, softmax, identity")
    parser.add_argument("--batch", type=int, default=8, help="number of random samples m")
    parser.add_argument("--epsilon", type=float, default=1e-7, help="finite-difference step")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=_run_gradcheck)


def _run_gradcheck(args: argparse.Namespace) -> int:
    from mlpkit.explain import random_batch
    from mlpkit.gradcheck import gradient_check
    from mlpkit.network import DNN

    if args.batch < 1:
        raise UsageError(f"--batch must be >= 1, got {args.batch}")
    net = DNN(args.layers, args.activation, args.output, seed=args.seed, dtype="float64")
    X, Y = random_batch(net, args.batch, args.seed)
    result = gradient_check(net, X, Y, epsilon=args.epsilon, input_gradient=True)
    print(f"gradient check of {net} on m={args.batch} random samples, epsilon={args.epsilon:g}")
    for name, error in result["parameters"].items():
        label = "dA0 (input)" if name == "A0" else f"d{name}"
        print(f"  {label:<12} relative error {error:.3e}")
    passed = result["error"] <= GRADCHECK_THRESHOLD
    verdict = "ok" if passed else f"FAILED (above {GRADCHECK_THRESHOLD:g})"
    print(f"overall relative error {result['error']:.3e}  {verdict}")
    return EXIT_OK if passed else EXIT_FAILURE


# ---------------------------------------------------------------------- explain
def _add_explain_parser(subparsers) -> None:
    from mlpkit.activations import ACTIVATIONS

    parser = subparsers.add_parser(
        "explain",
        help="each layer's forward and backward equations with the shapes of every matrix",
        description=(
            "Print the notes' forward and backward equations for a network, with the actual shapes "
            "of W, b, Z, A, dZ, dW, db and dA_prev, from the output layer back to the first."
        ),
    )
    parser.add_argument("--layers", type=int_list, default=[2, 3, 3, 1], help="layer sizes n_x,...,n_L")
    parser.add_argument(
        "--activation", default="sigmoid", choices=sorted(ACTIVATIONS), help="hidden activation"
    )
    parser.add_argument("--output", default="sigmoid", choices=OUTPUT_CHOICES[1:], help="output activation")
    parser.add_argument("--batch", type=positive_int, default=4, help="batch size m (default: 4)")
    parser.add_argument(
        "--run",
        action="store_true",
        dest="run_pass",
        help="run one pass on a random batch: values and gradient checks",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=_run_explain)


def _run_explain(args: argparse.Namespace) -> int:
    from mlpkit.explain import explain
    from mlpkit.network import DNN

    if len(args.layers) < 2:
        raise UsageError(f"--layers needs at least two sizes n_x,n_L (input and output), got {args.layers}")
    net = DNN(args.layers, args.activation, args.output, seed=args.seed)
    print(explain(net, args.batch, run=args.run_pass, seed=args.seed))
    return EXIT_OK


# ---------------------------------------------------------------------- plot
def _add_plot_parser(subparsers) -> None:
    from mlpkit.plots import KINDS

    parser = subparsers.add_parser(
        "plot",
        help="draw a model: training curves, confusion matrix, decision regions, weights or saliency",
        description=(
            "Draw one picture of a model file (needs the plot extra). confusion, boundary and "
            "saliency use the test split of the training data, or --data."
        ),
    )
    parser.add_argument("model", metavar="MODEL", help="model file written by mlpkit train")
    parser.add_argument("--kind", required=True, choices=KINDS, help="what to draw")
    parser.add_argument(
        "--data", metavar="NAME|PATH", help="dataset name or file (default: the training data)"
    )
    parser.add_argument("--out", required=True, metavar="FILE.png", help="image to write (.png, .pdf, .svg)")
    parser.set_defaults(run=_run_plot)


def _run_plot(args: argparse.Namespace) -> int:
    from mlpkit.io import load
    from mlpkit.plots import (
        KINDS_NEEDING_DATA,
        check_output_path,
        check_plottable,
        plot_model,
        require_matplotlib,
    )

    require_matplotlib()
    try:
        out = check_output_path(args.out)
    except ValueError as error:
        raise UsageError(f"--out: {error}") from None
    model = load(args.model)
    check_plottable(model, args.kind)
    rows = values = None
    where = ""
    if args.kind in KINDS_NEEDING_DATA:
        source = args.data or model.config.get("data")
        if not source:
            raise UsageError(
                f"{args.model}: the model does not say which data it was trained on; pass --data"
            )
        rows, values, where = _evaluation_rows(model, source)
        where = f" on {where}"
    plot_model(model, args.kind, out, rows, values)
    print(f"{args.kind} of {args.model}{where} written to {out}")
    return EXIT_OK


# ---------------------------------------------------------------------- export
def _add_export_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a model file as ONNX (needs the onnx extra)",
        description=(
            "Export a model to ONNX: standard operators, the preprocessing folded into W1 and b1, "
            "one float32 input X [N, n_x]; outputs label and probabilities (classifiers) or variable."
        ),
    )
    parser.add_argument("model", metavar="MODEL", help="model file written by mlpkit train")
    parser.add_argument("--onnx", required=True, metavar="FILE", help="ONNX file to write")
    parser.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from mlpkit.export import IR_VERSION, OPSET_VERSION, export_onnx
    from mlpkit.io import check_writable, load

    try:
        check_writable(args.onnx)
    except ValueError as error:
        raise UsageError(f"--onnx: {error}") from None
    model = load(args.model)
    path = export_onnx(model, args.onnx)
    outputs = "variable" if model.task == "regression" else "label, probabilities"
    print(
        f"{args.model} exported to {path}: ONNX opset {OPSET_VERSION}, IR version {IR_VERSION}, "
        f"input X [N, {model.n_features}] float32, outputs {outputs}"
    )
    return EXIT_OK


# ---------------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    """The full ``mlpkit`` argument parser with every subcommand."""
    parser = ArgumentParser(
        prog="mlpkit",
        description="Dense neural networks trained by vectorized backpropagation.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train_parser(subparsers)
    _add_evaluate_parser(subparsers)
    _add_predict_parser(subparsers)
    _add_info_parser(subparsers)
    _add_export_parser(subparsers)
    _add_gradcheck_parser(subparsers)
    _add_explain_parser(subparsers)
    _add_plot_parser(subparsers)
    return parser


def _fail(command: str, error: BaseException | str, code: int) -> int:
    message = " ".join(str(error).split()) or type(error).__name__
    print(f"mlpkit {command}: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    from mlpkit.training import TrainingDiverged

    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]  # to print a resume command
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow surfaces as TrainingDiverged
            return args.run(args)
    except KeyboardInterrupt:
        return _fail(args.command, "interrupted", EXIT_INTERRUPTED)
    except TrainingDiverged as error:
        return _fail(args.command, f"{error} No model was written.", EXIT_FAILURE)
    except (
        ValueError,
        ImportError,
        FileNotFoundError,
        IsADirectoryError,
        NotADirectoryError,
        PermissionError,
    ) as error:
        return _fail(args.command, error, EXIT_USAGE)
    except OSError as error:
        return _fail(args.command, error, EXIT_FAILURE)
