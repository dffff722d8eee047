"""``mlpkit info``, ``gradcheck`` and ``explain``: look at a model file, or at backpropagation itself."""

from __future__ import annotations

import argparse

from mlpkit.cli.args import (
    EXIT_FAILURE,
    EXIT_OK,
    UsageError,
    escape,
    int_list,
    positive_int,
    print_json,
    real,
    seed,
)

GRADCHECK_THRESHOLD = 1e-7


# ---------------------------------------------------------------------- info
def add_info_parser(subparsers) -> None:
    """The ``info`` subcommand."""
    parser = subparsers.add_parser(
        "info",
        help="architecture, parameters, dtype, training config, metrics and format of a model file",
        description="Describe a model file written by mlpkit train (or mlpkit.save).",
    )
    parser.add_argument("model", metavar="MODEL", help="model file")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(run=run_info)


def model_info(path: str) -> dict:
    """The file's format facts (:func:`~mlpkit.io.read_info`) and the model's own (:meth:`Model.summary`)."""
    from mlpkit.io import load, read_info

    facts = load(path).summary()
    meta = read_info(path)
    return {
        "model": path,
        "format": meta["format"],
        "format_version": meta["format_version"],
        "mlpkit_version": meta.get("mlpkit_version"),
        "file_bytes": meta["file_bytes"],
        **{key: facts[key] for key in ("architecture", "parameters", "dtype", "task", "labels")},
        "target_scaling": facts["target_scaling"],
        "preprocessing": meta.get("preprocessing"),
        "features": facts["features"],
        "embeddings": facts["embeddings"],
        "embedding_parameters": facts["embedding_parameters"],
        **{key: facts[key] for key in ("config", "metrics", "epochs_trained")},
    }


def run_info(args: argparse.Namespace) -> int:
    """Print the model file's description, as text or one JSON object."""
    info = model_info(args.model)
    if args.json:
        print_json(info)
        return EXIT_OK
    architecture = info["architecture"]
    sizes = "-".join(str(size) for size in architecture["layer_sizes"])
    activations = ", ".join([*architecture["hidden_activation"], architecture["output_activation"]])
    preprocessing = info["preprocessing"]
    _show(f"model          {info['model']} ({info['file_bytes']:,} bytes)")
    _show(
        f"format         {info['format']} version {info['format_version']} (mlpkit {info['mlpkit_version']})"
    )
    _show(f"architecture   {sizes} ({activations})")
    embedded = info["embedding_parameters"]
    _show(f"parameters     {info['parameters']:,}" + (f" + {embedded:,} in embeddings" if embedded else ""))
    _show(f"dtype          {info['dtype']}")
    _show(f"task           {info['task']}" + (f", labels {info['labels']}" if info["labels"] else ""))
    if info["features"]:
        first, *rest = info["features"]
        _show(f"features       {first}")
        for line in rest:
            _show(f"               {line}")
        for entry in info["embeddings"]:
            _show(f"embedding      {entry['column']}: E ({entry['d_c']} x {entry['n_c']}), learned")
    else:
        _show(f"preprocessing  {preprocessing['method'] + ' scaling' if preprocessing else 'none'}")
    if info["target_scaling"]:
        offset, scale = (
            ", ".join(f"{v:.6g}" for v in info["target_scaling"][key]) for key in ("offset", "scale")
        )
        _show(f"target         learned as (y - {offset}) / {scale}; predictions in y's units")
    _show(f"epochs trained {info['epochs_trained']}")
    _show("training config")
    for key, value in info["config"].items():
        _show(f"  {key:<20} {value}")
    _show("metrics")
    for key, value in info["metrics"].items():
        _show(f"  {key:<20} {value:.6g}" if isinstance(value, float) else f"  {key:<20} {value}")
    return EXIT_OK


def _show(text: str) -> None:
    """Print a line of the description: names from the file are escaped, never sent raw to the terminal."""
    print(escape(text))


# ---------------------------------------------------------------------- gradcheck
def add_gradcheck_parser(subparsers) -> None:
    """The ``gradcheck`` subcommand."""
    from mlpkit.activations import ACTIVATIONS

    parser = subparsers.add_parser(
        "gradcheck",
        help="check backprop against finite differences on a random network",
        description="Compare backpropagation's gradients with centered finite differences (float64).",
    )
    parser.add_argument("--layers", type=int_list, default=[4, 5, 3], help="layer sizes n_x,...,n_L")
    parser.add_argument("--activation", default="tanh", choices=sorted(ACTIVATIONS), help="hidden activation")
    _add_output_activation(parser, "softmax")
    parser.add_argument("--batch", type=positive_int, default=8, help="number of random samples m")
    parser.add_argument("--epsilon", type=real, default=1e-7, help="finite-difference step")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the random network and batch")
    parser.set_defaults(run=run_gradcheck)


def run_gradcheck(args: argparse.Namespace) -> int:
    """Check a random float64 network's gradients on a random batch; exit 1 above the threshold."""
    from mlpkit.explain import random_batch
    from mlpkit.gradcheck import gradient_check

    net = _network(args, "float64")
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
def add_explain_parser(subparsers) -> None:
    """The ``explain`` subcommand."""
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
    _add_output_activation(parser, "sigmoid")
    parser.add_argument("--batch", type=positive_int, default=4, help="batch size m")
    parser.add_argument(
        "--run",
        action="store_true",
        dest="run_pass",
        help="run one pass on a random batch: values and gradient checks",
    )
    parser.add_argument("--seed", type=seed, default=0, help="seed of the random network and batch")
    parser.set_defaults(run=run_explain)


def _add_output_activation(parser: argparse.ArgumentParser, default: str) -> None:
    """``--output-activation`` (``--output``, its old spelling, still accepted)."""
    from mlpkit.losses import OUTPUT_LAYERS

    parser.add_argument(
        "--output-activation",
        "--output",
        dest="output",
        default=default,
        choices=tuple(OUTPUT_LAYERS),
        help="output activation",
    )


def _network(args: argparse.Namespace, dtype: str = "float32"):
    """The random network of ``--layers``, its size (and a pass over ``--batch`` random samples: every
    layer's Z and A, and their gradients) checked before anything is allocated."""
    from mlpkit.io.bounds import check_allocation, check_layer_sizes
    from mlpkit.network import DNN

    if len(args.layers) < 2:
        raise UsageError(f"--layers needs at least two sizes n_x,n_L (input and output), got {args.layers}")
    check_layer_sizes(args.layers, "--layers", dtype)
    itemsize = 8 if dtype == "float64" else 4
    check_allocation(4 * args.batch * sum(args.layers) * itemsize, "one pass over the batch", "--batch")
    return DNN(args.layers, args.activation, args.output, seed=args.seed, dtype=dtype)


def run_explain(args: argparse.Namespace) -> int:
    """Print the equations and shapes of the network ``--layers`` (with ``--run``, one pass's values)."""
    from mlpkit.explain import explain

    net = _network(args)
    print(explain(net, args.batch, run=args.run_pass, seed=args.seed))
    return EXIT_OK
