"""The ``mlpkit`` command: the parser of every subcommand, and ``main``: run one, map errors to exit codes.

Subcommands, one module per group: ``train`` (:mod:`~mlpkit.cli.train`), ``evaluate`` and
``predict`` (:mod:`~mlpkit.cli.evaluate`), ``info``, ``gradcheck`` and ``explain``
(:mod:`~mlpkit.cli.inspect`), ``plot`` and ``export``. Each only parses, calls the library and
prints. Exit codes: 0 success, 1 other failures (training diverged, a download failed, a check
did not pass), 2 bad usage or bad input (one line on stderr naming the option, file, row or
column; no output file is left behind), 130 interrupted, 141 when the reader of standard output
went away (``mlpkit info m.npz | head -1``: quietly, as other command-line tools do).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import numpy as np

from mlpkit.cli.args import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    ArgumentParser,
    escape,
)
from mlpkit.cli.evaluate import add_evaluate_parser, add_predict_parser
from mlpkit.cli.export import add_export_parser
from mlpkit.cli.inspect import add_explain_parser, add_gradcheck_parser, add_info_parser
from mlpkit.cli.plot import add_plot_parser
from mlpkit.cli.train import add_train_parser

USAGE_ERRORS = (
    ValueError,
    ImportError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def build_parser() -> argparse.ArgumentParser:
    """The full ``mlpkit`` argument parser with every subcommand."""
    parser = ArgumentParser(
        prog="mlpkit",
        description="Dense neural networks trained by vectorized backpropagation.",
    )
    parser.add_argument("--version", action="version", version=f"mlpkit {_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train_parser(subparsers)
    add_evaluate_parser(subparsers)
    add_predict_parser(subparsers)
    add_info_parser(subparsers)
    add_export_parser(subparsers)
    add_gradcheck_parser(subparsers)
    add_explain_parser(subparsers)
    add_plot_parser(subparsers)
    return parser


def _version() -> str:
    from mlpkit import __version__

    return __version__


def _fail(command: str, error: BaseException | str, code: int) -> int:
    message = escape(" ".join(str(error).split())) or type(error).__name__
    print(f"mlpkit {command}: error: {message}", file=sys.stderr, flush=True)
    return code


def _reader_gone() -> int:
    """Standard output's reader went away: send what is left to the null device, exit quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The parsed command line. argparse settles an optional positional (a command's DATA) at the
    first positionals it meets, so a DATA given after an option (``evaluate m.npz --json t.csv``)
    is left over: one such word is taken as DATA; anything else left over is a usage error."""
    args, extra = parser.parse_known_args(argv)
    if len(extra) == 1 and not extra[0].startswith("-") and getattr(args, "data_file", "") is None:
        args.data_file = extra[0]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    from mlpkit.training import TrainingDiverged

    parser = build_parser()
    args = _parse(parser, argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]  # to print a resume command
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow surfaces as TrainingDiverged
            code = args.run(args)
            sys.stdout.flush()
            return code
    except BrokenPipeError:
        return _reader_gone()
    except KeyboardInterrupt:
        return _fail(args.command, "interrupted", EXIT_INTERRUPTED)
    except TrainingDiverged as error:
        return _fail(args.command, f"{error} No model was written.", EXIT_FAILURE)
    except USAGE_ERRORS as error:
        return _fail(args.command, error, EXIT_USAGE)
    except OSError as error:
        return _fail(args.command, error, EXIT_FAILURE)
    except MemoryError:
        return _fail(args.command, "out of memory (the data or the network is too large)", EXIT_FAILURE)
