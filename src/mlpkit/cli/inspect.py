"""``mlpkit info``, ``gradcheck`` and ``explain``: look at a model file, or at backpropagation itself."""

from __future__ import annotations

import argparse

from mlpkit.cli.args import EXIT_FAILURE, EXIT_OK, UsageError, int_list, positive_int, print_json

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
    print(f"model          {info['model']} ({info['file_bytes']:,} bytes)")
    print(
        f"format         {info['format']} version {info['format_version']} (mlpkit {info['mlpkit_version']})"
    )
    print(f"architecture   {sizes} ({activations})")
    embedded = info["embedding_parameters"]
    print(f"parameters     {info['parameters']:,}" + (f" + {embedded:,} in embeddings" if embedded else ""))
    print(f"dtype          {info['dtype']}")
    print(f"task           {info['task']}" + (f", labels {info['labels']}" if info["labels"] else ""))
    if info["features"]:
        first, *rest = info["features"]
        print(f"features       {first}")
        for line in rest:
            print(f"               {line}")
        for entry in info["embeddings"]:
            print(f"embedding      {entry['column']}: E ({entry['d_c']} x {entry['n_c']}), learned")
    else:
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
def add_gradcheck_parser(subparsers) -> None:
    """The ``gradcheck`` subcommand."""
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
    parser.set_defaults(run=run_gradcheck)


def run_gradcheck(args: argparse.Namespace) -> int:
    """Check a random float64 network's gradients on a random batch; exit 1 above the threshold."""
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
def add_explain_parser(subparsers) -> None:
    """The ``explain`` subcommand."""
    from mlpkit.activations import ACTIVATIONS
    from mlpkit.losses import OUTPUT_LAYERS

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
    parser.add_argument("--output", default="sigmoid", choices=tuple(OUTPUT_LAYERS), help="output activation")
    parser.add_argument("--batch", type=positive_int, default=4, help="batch size m (default: 4)")
    parser.add_argument(
        "--run",
        action="store_true",
        dest="run_pass",
        help="run one pass on a random batch: values and gradient checks",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run_explain)


def run_explain(args: argparse.Namespace) -> int:
    """Print the equations and shapes of the network ``--layers`` (with ``--run``, one pass's values)."""
    from mlpkit.explain import explain
    from mlpkit.network import DNN

    if len(args.layers) < 2:
        raise UsageError(f"--layers needs at least two sizes n_x,n_L (input and output), got {args.layers}")
    net = DNN(args.layers, args.activation, args.output, seed=args.seed)
    print(explain(net, args.batch, run=args.run_pass, seed=args.seed))
    return EXIT_OK
