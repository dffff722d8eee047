"""``mlpkit plot``: one picture of a model file, drawn by :mod:`mlpkit.plots`."""

from __future__ import annotations

import argparse

from mlpkit.cli.args import EXIT_OK, UsageError, data_given_once, escape
from mlpkit.cli.evaluate import data_source, evaluation_rows


def add_plot_parser(subparsers) -> None:
    """The ``plot`` subcommand."""
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
    parser.add_argument(
        "data_file", nargs="?", metavar="DATA", help="the data, as --data gives it (plot m.npz test.csv ...)"
    )
    parser.add_argument("--kind", required=True, choices=KINDS, help="what to draw")
    parser.add_argument(
        "--data", metavar="NAME|PATH", help="dataset name or file (default: the training data)"
    )
    parser.add_argument(
        "-o", "--out", required=True, metavar="FILE.png", help="image to write (.png, .pdf, .svg)"
    )
    parser.set_defaults(run=run_plot)


def run_plot(args: argparse.Namespace) -> int:
    """Check the output path and the model, read the data the kind needs, draw, say where."""
    from mlpkit.io import check_outputs, load
    from mlpkit.plots import (
        KINDS_NEEDING_DATA,
        check_output_path,
        check_plottable,
        plot_model,
        require_matplotlib,
    )

    require_matplotlib()
    data = data_given_once(args.data_file, args.data)
    check_outputs({"--out": args.out}, {"MODEL": args.model, "--data": data})
    try:
        out = check_output_path(args.out)
    except ValueError as error:
        raise UsageError(f"--out: {error}") from None
    model = load(args.model)
    check_plottable(model, args.kind)
    rows = values = None
    where = ""
    if args.kind in KINDS_NEEDING_DATA:
        rows, values, where = evaluation_rows(model, data_source(model, args.model, data))
        where = f" on {where}"
    plot_model(model, args.kind, out, rows, values)
    print(escape(f"{args.kind} of {args.model}{where} written to {out}"))
    return EXIT_OK
