"""``mlpkit export``: a model file as ONNX, written by :mod:`mlpkit.export`."""

from __future__ import annotations

import argparse

from mlpkit.cli.args import EXIT_OK, escape


def add_export_parser(subparsers) -> None:
    """The ``export`` subcommand."""
    parser = subparsers.add_parser(
        "export",
        help="write a model file as ONNX (needs the onnx extra)",
        description=(
            "Export a model to ONNX: standard operators, the preprocessing folded into W1 and b1, "
            "one float32 input X [N, n_x] (a table: one input per column); outputs label and probabilities "
            "(classifiers) or variable."
        ),
    )
    parser.add_argument("model", metavar="MODEL", help="model file written by mlpkit train")
    parser.add_argument(
        "-o",
        "--out",
        "--onnx",
        dest="out",
        required=True,
        metavar="FILE",
        help="ONNX file to write (--onnx: the old spelling)",
    )
    parser.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> int:
    """Export the model and say what the ONNX file holds."""
    from mlpkit.export import IR_VERSION, OPSET_VERSION, export_onnx
    from mlpkit.io import check_outputs, load

    out = check_outputs({"--out": args.out}, {"MODEL": args.model})["--out"]
    model = load(args.model)
    path = export_onnx(model, out)
    outputs = "variable" if model.task == "regression" else "label, probabilities"
    if model.features is None:
        inputs = f"input X [N, {model.n_features}] float32"
    else:  # a table: one input per training column, named after it
        inputs = f"inputs one per column ({len(model.features.columns)}: {', '.join(model.features.columns)})"
    print(
        escape(
            f"{args.model} exported to {path}: ONNX opset {OPSET_VERSION}, IR version {IR_VERSION}, "
            f"{inputs}, outputs {outputs}"
        )
    )
    return EXIT_OK
