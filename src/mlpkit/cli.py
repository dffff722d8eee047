"""The ``mlpkit`` command: parses arguments, calls the library, prints results. Nothing else.

Exit codes: 0 success, 1 failure (e.g. a check that did not pass), 2 bad usage or bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
GRADCHECK_THRESHOLD = 1e-7


class UsageError(ValueError):
    """Bad flags or bad input: reported in one line on stderr, exit code 2."""


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


def _random_targets(output: str, n_out: int, m: int, rng: np.random.Generator) -> np.ndarray:
    if output == "softmax":
        return np.eye(n_out)[:, rng.integers(0, n_out, m)]
    if output == "sigmoid":
        return (rng.random((n_out, m)) < 0.5).astype(np.float64)
    return rng.standard_normal((n_out, m))


def _run_gradcheck(args: argparse.Namespace) -> int:
    from mlpkit.gradcheck import gradient_check
    from mlpkit.network import DNN

    if args.batch < 1:
        raise UsageError(f"--batch must be >= 1, got {args.batch}")
    net = DNN(args.layers, args.activation, args.output, seed=args.seed, dtype="float64")
    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((args.layers[0], args.batch))
    Y = _random_targets(args.output, args.layers[-1], args.batch, rng)
    result = gradient_check(net, X, Y, epsilon=args.epsilon, input_gradient=True)
    print(f"gradient check of {net} on m={args.batch} random samples, epsilon={args.epsilon:g}")
    for name, error in result["parameters"].items():
        label = "dA0 (input)" if name == "A0" else f"d{name}"
        print(f"  {label:<12} relative error {error:.3e}")
    passed = result["error"] <= GRADCHECK_THRESHOLD
    verdict = "ok" if passed else f"FAILED (above {GRADCHECK_THRESHOLD:g})"
    print(f"overall relative error {result['error']:.3e}  {verdict}")
    return EXIT_OK if passed else EXIT_FAILURE


# ---------------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    """The full ``mlpkit`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="mlpkit",
        description="Dense neural networks trained by vectorized backpropagation.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_gradcheck_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, ValueError) as error:
        print(f"mlpkit {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
