"""``mlpkit train``: flags to a :class:`TrainConfig`, data and model from the library, a run, a summary."""

from __future__ import annotations

import argparse
import ast
import contextlib
import math
import re
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mlpkit.cli.args import EXIT_INTERRUPTED, EXIT_OK, UsageError, flag, print_json, say
from mlpkit.cli.settings import add_setting_flags, train_config
from mlpkit.features import seen_once_note
from mlpkit.training import Callback, TrainingDiverged, TrainingInterrupted

# "setting=value" as Python says it: a number, a quoted name or a list of names
PYTHON_SETTING = re.compile(r"\b(test_fraction|seed|target|categorical|ignore)=(\[[^\]]*\]|'[^']*'|[^\s,;]+)")


def add_train_parser(subparsers) -> None:
    """The ``train`` subcommand: the training settings' flags, then where data and results go."""
    parser = subparsers.add_parser(
        "train",
        help="train a network on a dataset and write the model file",
        description="Train a dense network (default: 784-256-128-10 on Fashion-MNIST); report test accuracy.",
    )
    parser.add_argument(
        "data_file", nargs="?", metavar="DATA", help="the data, as --data gives it (mlpkit train prices.csv)"
    )
    add_setting_flags(parser)
    run_flags = parser.add_argument_group("run and output")
    run_flags.add_argument(
        "--labels", metavar="Y.npy", help="labels for --data X.npy; both are memory-mapped, read per batch"
    )
    run_flags.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over MPI: run under mpiexec -n K (needs the mpi extra)",
    )
    run_flags.add_argument("-o", "--out", default="model.npz", metavar="FILE", help="model file to write")
    run_flags.add_argument("--plot", metavar="FILE", help="write training curves (needs the plot extra)")
    run_flags.add_argument("--json", action="store_true", help="end the output with one JSON summary line")
    run_flags.add_argument("--quiet", action="store_true", help="print only the final summary")
    run_flags.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help="write a checkpoint into DIR at the end of every epoch (and on Ctrl-C)",
    )
    run_flags.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in --checkpoint-dir (same arguments)",
    )
    parser.set_defaults(run=run_train)


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


def run_train(args: argparse.Namespace) -> int:
    """Check every flag and output path, read the data, train, then save, plot and summarize."""
    from mlpkit.io import check_outputs, save
    from mlpkit.training.pipeline import finish_model, make_trainer
    from mlpkit.training.run import TrainingRun

    config = train_config(args)
    communicator = _communicator(args)
    is_root = communicator is None or communicator.is_root
    args.quiet = args.quiet or not is_root  # rank 0 alone prints and writes files
    inputs = {"--data": config.data, "--labels": args.labels}
    out = check_outputs({"--out": args.out, "--plot": args.plot}, inputs)["--out"]
    plot_curves = _check_plot_path(args.plot)
    _check_checkpoint_flags(args, is_root)
    config, dataset, data = _training_data(args, config)
    model = data.model
    _check_model(model, config)
    _say_data(args, dataset, model)
    say(args, f"network   {_describe_network(model)}")
    say(args, f"training  {_describe_training(config)}")
    callbacks = [] if args.quiet else [EpochPrinter(config.epochs)]
    trainer = make_trainer(model, config, callbacks, progress=False if args.quiet else None)
    trainer.communicator = communicator
    with _checkpoint_usage():
        run = TrainingRun(
            trainer, args.checkpoint_dir, resume=args.resume, settings={"labels": args.labels}, warn=_warn
        )
        run.start(data.X, data.Y, data.codes)
    _say_resumed(args, run)
    started = time.perf_counter()
    try:
        history = run.fit(data.X, data.Y, **data.fit_options)
    except TrainingDiverged as error:
        raise TrainingDiverged(_divergence_hint(str(error), config)) from None
    except TrainingInterrupted as interruption:
        if not is_root:
            return EXIT_INTERRUPTED
        return _report_interrupt(args, interruption, communicator)
    report = finish_model(model, dataset, history, time.perf_counter() - started)
    if not is_root:
        return EXIT_OK
    save(model, out)
    if plot_curves is not None:
        plot_curves(model.history, args.plot)
    _print_train_summary(args, model, report, out)
    return EXIT_OK


def _say_data(args: argparse.Namespace, dataset, model) -> None:
    """The data line, for a table the detected column schema (a few lines), and the target's scaling."""
    if model.features is None:
        say(args, f"data      {dataset.describe()}, {dataset.scaling} scaling")
    else:
        say(args, f"data      {dataset.describe()}")
        first, *rest = model.features.describe()
        say(args, f"features  {first}")
        for line in rest:
            say(args, f"          {line}")
        for name, values, rows in model.features.seen_once:
            advice = f"leave it out with --ignore {name}, or give it as numbers"
            _warn(f"{seen_once_note(name, values, rows)}; {advice}")
    if model.target_scaler is not None:
        mean, sd = model.target_scaler.offset_[0], model.target_scaler.scale_[0]
        say(args, f"target    learned as (y - {mean:.6g}) / {sd:.6g}; test scores in y's own units")


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
    embedded = f" + {model.inputs.n_parameters:,} in embeddings" if model.inputs is not None else ""
    return (
        f"{sizes}, {hidden} hidden, {net.output_activation} output ({model.task}), "
        f"{net.dtype.name}, {net.n_parameters:,} parameters{embedded}"
    )


def _describe_training(config) -> str:
    stopping = "on" if config.early_stopping else "off"
    return (
        f"{config.optimizer} lr {config.lr:g}, batch {config.batch_size}, {config.epochs} epochs, "
        f"dropout {config.dropout:g}, l2 {config.l2:g}, validation {config.validation_fraction:g}, "
        f"early stopping {stopping}, seed {config.seed}"
    )


def _check_checkpoint_flags(args: argparse.Namespace, is_root: bool = True) -> None:
    """Refuse --resume without a folder, and a folder that is a file or holds another run's checkpoints."""
    from mlpkit.training.run import check_checkpoint_folder

    if args.checkpoint_dir is None:
        if args.resume:
            raise UsageError(
                "--resume needs --checkpoint-dir DIR, the folder the run wrote its checkpoints to"
            )
        return
    with _checkpoint_usage():
        check_checkpoint_folder(args.checkpoint_dir, args.resume, probe_lock=is_root)  # rank 0 writes


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
        say(args, f"resume    no checkpoint in {run.folder.folder} yet: starting from epoch 1")
        return
    where = f", {trainer.samples_done} samples into epoch {trainer.epoch + 1}" if trainer.samples_done else ""
    epochs = trainer.config.epochs
    say(args, f"resume    from {run.resumed_from}: {trainer.epoch} of {epochs} epochs done{where}")


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
    """The dataset, and an untrained model with its ``X``, ``Y`` (and codes of embedded columns):
    memory-mapped for .npy data, else loaded."""
    from mlpkit.datasets import is_mapped_source, load_dataset, load_mapped
    from mlpkit.training.pipeline import build_training

    with _in_option_words():
        if is_mapped_source(config.data, args.labels):
            given = {
                "--target": config.target,
                "--categorical": config.categorical,
                "--ignore": config.ignore,
            }
            for option, value in given.items():
                if value not in (None, ()):
                    raise UsageError(f"{option} applies to CSV and Parquet files, not to mapped .npy data")
            dataset = load_mapped(
                config.data, args.labels, test_fraction=config.test_fraction, seed=config.seed
            )
        else:
            if args.labels is not None:
                raise UsageError(f"--labels applies to --data X.npy, not to {config.data!r}")
            dataset = load_dataset(
                config.data,
                target=config.target,
                categorical=config.categorical,
                seed=config.seed,
                test_fraction=config.test_fraction,
            )
    config = config.settled(len(dataset.y_train))  # the data-size defaults, now that m is known
    _check_before_training(args, config, dataset)
    with _in_option_words():
        return config, dataset, build_training(dataset, config)


@contextlib.contextmanager
def _in_option_words() -> Iterator[None]:
    """The library's ``test_fraction=0.001`` is the command line's ``--test-fraction 0.001``."""
    try:
        yield
    except ValueError as error:
        message = str(error)
        if PYTHON_SETTING.search(message) is None:
            raise
        raise UsageError(PYTHON_SETTING.sub(_as_option, message)) from None


def _as_option(match: re.Match) -> str:
    """``categorical=['zip', 'store']`` -> ``--categorical zip,store``; ``seed=3`` -> ``--seed 3``."""
    value = match.group(2)
    with contextlib.suppress(ValueError, SyntaxError):
        parsed = ast.literal_eval(value)
        value = ",".join(map(str, parsed)) if isinstance(parsed, list) else str(parsed)
    return f"{flag(match.group(1))} {value}"


def _check_before_training(args: argparse.Namespace, config, dataset) -> None:
    """What can be known before the first epoch from the data: the network's size (before it is
    allocated), and test labels that no training row has (a file with its own split)."""
    from mlpkit.io.bounds import check_layer_sizes
    from mlpkit.tasks import target_kind

    width = dataset.n_features
    if dataset.scaling != "schema":  # a table's width comes from its schema, fitted later
        check_layer_sizes([width, *config.hidden, 1], "--hidden", config.dtype, n_outputs_known=False)
    y_train, y_test = dataset.y_train, dataset.y_test
    if isinstance(y_train, np.ndarray) and y_train.ndim == 1 and target_kind(y_train) == "classification":
        unseen = np.flatnonzero(~np.isin(y_test, y_train))
        if len(unseen):
            label = dataset.label_values(y_test[unseen[:1]])[0]
            raise UsageError(
                f"{config.data}: y_test[{unseen[0]}] is label {_plain(label)!r}, which no training row has; "
                "the model could not learn it"
            )


def _check_model(model, config) -> None:
    """Before the first epoch: the labels can be stored in the model file, and the L2 penalty of the
    initial weights, ``(lambda/2m) sum_l ||W_l||^2``, is finite in the network's dtype."""
    from mlpkit.io.model_file import LABEL_TYPES

    for label in model.labels:
        if not isinstance(_plain(label), LABEL_TYPES):
            raise UsageError(f"{config.data}: label {label!r} cannot be stored in a model file")
    net = model.net
    squares = sum(
        float(np.sum(np.square(net.params[f"W{l}"], dtype=np.float64))) for l in range(1, net.L + 1)
    )
    with np.errstate(over="ignore"):
        penalty = net.dtype.type(0.5 * config.l2 / config.batch_size * squares)
    if not np.isfinite(penalty):
        raise UsageError(
            f"--l2 {config.l2:g}: the penalty (lambda/2m) sum ||W_l||^2 of the initial weights is already "
            f"infinite in {net.dtype.name}; choose a smaller --l2"
        )


def _divergence_hint(message: str, config) -> str:
    """A divergence with an L2 penalty names --l2 too, the learning rate is not the only suspect."""
    if config.l2 > 0:
        return f"{message} With --l2 {config.l2:g}, a smaller --l2 may be what is needed."
    return message


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _print_train_summary(args: argparse.Namespace, model, report: dict, out: Path) -> None:
    metrics = model.metrics
    if "accuracy" in report:
        scores = f"test accuracy {report['accuracy']:.4f}  test loss {report['loss']:.4f}"
    else:
        scores = f"test loss {report['loss']:.6g}  test mse {report['mse']:.6g}  test r2 {report['r2']:.4f}"
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
        print_json(summary)
