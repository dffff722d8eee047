"""Accuracy and fit time of mlpkit.MLPClassifier against scikit-learn's, same hyper-parameters, one process.

Small sets (digits, iris, wine, breast-cancer): stratified 5-fold cross-validation with
``StandardScaler`` in a ``Pipeline``, scikit-learn's default hyper-parameters (both compute in
float64, the scaler's output). Fashion-MNIST: its own 60k/10k split, pixels / 255 as float32 rows
and again as float64 rows (both tools compute in the input's dtype), relu (100,). Each seed gives
both tools the same ``random_state``; the tool that fits first alternates, so that a machine
busy with other work slows both alike. Run by hand (it writes the table into
docs/benchmarks-sklearn.md):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_sklearn_parity.py
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

from bench_speed import GemmFloor  # this folder's speed benchmark
from mlpkit import MLPClassifier
from mlpkit.io import atomic_write

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks-sklearn.md"
COMMAND = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_sklearn_parity.py"
SMALL_SETS = {
    "digits": load_digits,
    "iris": load_iris,
    "wine": load_wine,
    "breast-cancer": load_breast_cancer,
}
TOOLS = {"mlpkit": MLPClassifier, "scikit-learn": SklearnMLPClassifier}
FASHION_GOAL = 0.871  # the Fashion-MNIST paper's score for scikit-learn's MLPClassifier, relu (100,)


@dataclass
class Runs:
    """Accuracy, fit seconds and epochs of one tool on one dataset, one entry per fit."""

    accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)


# ---------------------------------------------------------------------- fitting
def timed_fit(estimator, X_train, y_train, X_test, y_test) -> tuple[float, float, int]:
    """Fit, then score on the test rows; returns (accuracy, fit seconds, epochs)."""
    started = time.perf_counter()
    estimator.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    final = estimator[-1] if hasattr(estimator, "steps") else estimator
    return float(estimator.score(X_test, y_test)), seconds, int(final.n_iter_)


def run_pair(results: dict[str, Runs], make, split, order: int) -> None:
    """Fit both tools on one split, the first tool chosen by ``order`` (alternating drift)."""
    names = list(TOOLS)
    for name in names[order % 2 :] + names[: order % 2]:
        accuracy, seconds, epochs = timed_fit(make(TOOLS[name]), *split)
        results[name].accuracy.append(accuracy)
        results[name].seconds.append(seconds)
        results[name].epochs.append(epochs)


def small_set(name: str, seeds: list[int], folds: int) -> dict[str, Runs]:
    """Stratified k-fold on a standardized scikit-learn set, for every seed."""
    X, y = SMALL_SETS[name](return_X_y=True)
    results = {tool: Runs() for tool in TOOLS}
    order = 0
    for seed in seeds:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
        for train, test in splitter.split(X, y):
            split = (X[train], y[train], X[test], y[test])
            run_pair(
                results,
                lambda cls, s=seed: make_pipeline(StandardScaler(), cls(random_state=s)),
                split,
                order,
            )
            order += 1
    return results


def fashion_mnist(seeds: list[int], epochs: int, dtype: str) -> tuple[dict[str, Runs], float]:
    """relu (100,), adam, batch 200, ``epochs`` epochs, on the 60k/10k split, pixels / 255 in ``dtype``.

    Also returns the matrix products' floor in seconds per epoch (see :func:`matmul_floor`).
    """
    from mlpkit.datasets import load_dataset

    data = load_dataset("fashion-mnist")
    split = (pixels(data.X_train, dtype), data.y_train, pixels(data.X_test, dtype), data.y_test)
    results = {tool: Runs() for tool in TOOLS}
    for order, seed in enumerate(seeds):
        make = lambda cls, s=seed: cls(hidden_layer_sizes=(100,), max_iter=epochs, random_state=s)  # noqa: E731
        run_pair(results, make, split, order)
        print(f"  fashion-mnist {dtype} seed {seed}: {summary_line(results)}", file=sys.stderr, flush=True)
    return results, matmul_floor(len(split[0]), dtype)


def matmul_floor(n_rows: int, dtype: str, sizes: tuple[int, ...] = (784, 100, 10), batch: int = 200) -> float:
    """Seconds per epoch of the matrix products alone (``Z_l``, ``dW_l``, and ``dA_{l-1}`` for l > 1),
    each in its faster layout: :class:`bench_speed.GemmFloor` for this network."""
    return GemmFloor(batch, n_rows, np.dtype(dtype).type, sizes)()


def pixels(images: np.ndarray, dtype: str) -> np.ndarray:
    """uint8 images -> rows in [0, 1] of ``dtype``."""
    rows = images.reshape(len(images), -1).astype(dtype)
    rows *= rows.dtype.type(1 / 255)
    return rows


# ---------------------------------------------------------------------- reporting
def summary_line(results: dict[str, Runs]) -> str:
    return ", ".join(
        f"{tool} {statistics.mean(r.accuracy):.4f} in {statistics.mean(r.seconds):.2f} s"
        for tool, r in results.items()
    )


def paired_difference(ours: list[float], theirs: list[float]) -> tuple[float, float]:
    """Mean of mlpkit - scikit-learn over the paired fits, and its standard error."""
    differences = np.subtract(ours, theirs)
    error = differences.std(ddof=1) / np.sqrt(len(differences)) if len(differences) > 1 else float("nan")
    return float(differences.mean()), float(error)


def table_row(dataset: str, results: dict[str, Runs]) -> str:
    ours, theirs = results["mlpkit"], results["scikit-learn"]
    difference, error = paired_difference(ours.accuracy, theirs.accuracy)
    verdict = "yes" if difference >= -2 * error or difference >= 0 else "**no**"
    ours_seconds, theirs_seconds = statistics.median(ours.seconds), statistics.median(theirs.seconds)
    return (
        f"| {dataset} | {len(ours.accuracy)} | {accuracy_cell(ours)} | {accuracy_cell(theirs)} | "
        f"{difference:+.4f} ± {error:.4f} | {verdict} | {ours_seconds:.2f} | "
        f"{theirs_seconds:.2f} | {ours_seconds / theirs_seconds:.2f} | {statistics.mean(ours.epochs):.0f} / "
        f"{statistics.mean(theirs.epochs):.0f} |"
    )


def accuracy_cell(runs: Runs) -> str:
    spread = statistics.stdev(runs.accuracy) if len(runs.accuracy) > 1 else 0.0
    return f"{statistics.mean(runs.accuracy):.4f} ± {spread:.4f}"


def machine() -> list[str]:
    """Cores, CPU, numpy's BLAS with its kernel, load, versions."""
    blas = next(
        (i for i in threadpool_info() if i["user_api"] == "blas" and "numpy" in i["filepath"]),
        {},
    )
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores",
        f"- numpy's BLAS (threadpoolctl): {blas.get('internal_api', '?')} {blas.get('version', '?')}, "
        f"kernel {blas.get('architecture', '?')}, {blas.get('num_threads', '?')} threads",
        f"- OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: {os.environ.get('OPENBLAS_CORETYPE', 'unset')} / "
        f"{os.environ.get('OPENBLAS_L2_SIZE', 'unset')}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, scikit-learn {sklearn.__version__}",
    ]


def document(
    rows: list[str],
    settings: str,
    load: tuple[tuple, tuple],
    fashion: dict[str, tuple[dict[str, Runs], float]],
) -> str:
    """The markdown page: settings, machine, the table, and per Fashion-MNIST dtype the goals."""
    header = (
        "| dataset | fits | mlpkit accuracy | scikit-learn accuracy | difference (± s.e.) | not below "
        "beyond noise | mlpkit fit s | scikit-learn fit s | time ratio | epochs (mlpkit / sklearn) |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [
        "# mlpkit.MLPClassifier against scikit-learn's MLPClassifier",
        "",
        "Same hyper-parameters, same `random_state` per seed, one process, the tool that fits first",
        "alternating. Small sets: stratified 5-fold cross-validation, `StandardScaler` in a `Pipeline`,",
        "scikit-learn's defaults ((100,) relu, adam, `max_iter=200` with its training-loss stopping rule;",
        "both compute in float64, the scaler's output). Fashion-MNIST: the 60k/10k split, pixels / 255",
        "as float32 rows, then as float64 rows (both tools compute in the input's dtype), (100,) relu,",
        "adam, batch 200, a fixed number of epochs. Accuracy is mean ± standard deviation over the fits;",
        "the difference is mlpkit minus scikit-learn, paired by seed and fold, with its standard error;",
        '"not below beyond noise" means the difference is above -2 standard errors. Fit times are',
        "medians over the fits (the machine may run other jobs; its load average is shown), the time",
        "ratio is mlpkit's median over scikit-learn's (below 1: mlpkit is faster); epochs are means.",
        "",
        "Command:",
        "",
        "```bash",
        COMMAND + (f" {settings}" if settings else ""),
        "```",
        "",
        "Machine:",
        "",
        *machine(),
        f"- load average (1, 5, 15 min) at start {fmt_load(load[0])}, at end {fmt_load(load[1])}",
        "",
        header,
        *rows,
        "",
    ]
    for dtype, (results, floor) in fashion.items():
        lines += fashion_goals(dtype, results, floor)
    return "\n".join(lines)


def fashion_goals(dtype: str, results: dict[str, Runs], floor: float) -> list[str]:
    """Accuracy and time goals for one dtype, the per-seed time ratios, and the matrix-product floor."""
    ours, theirs = results["mlpkit"], results["scikit-learn"]
    accuracy = statistics.mean(ours.accuracy)
    ratio = statistics.median(ours.seconds) / statistics.median(theirs.seconds)
    paired = [mine / reference for mine, reference in zip(ours.seconds, theirs.seconds, strict=True)]
    epochs = statistics.mean(ours.epochs)
    total = floor * epochs
    ours_s, theirs_s = statistics.median(ours.seconds), statistics.median(theirs.seconds)
    return [
        f"Goals on Fashion-MNIST, {dtype} input: accuracy >= 0.871 (the Fashion-MNIST paper's score for",
        f"scikit-learn's MLPClassifier, relu (100,)): {accuracy:.4f}, "
        f"{'met' if accuracy >= FASHION_GOAL else 'NOT met'}; fit time at most half of scikit-learn's:",
        f"ratio {ratio:.2f}, {'met' if ratio <= 0.5 else 'NOT met'}. Per seed (each mlpkit fit over the",
        f"scikit-learn fit next to it): {', '.join(f'{value:.2f}' for value in paired)}; median "
        f"{statistics.median(paired):.2f}, range {min(paired):.2f} to {max(paired):.2f}.",
        "",
        f"The matrix products alone (each layer's `Z_l` and `dW_l`, and `dA_l-1` above layer 1, {dtype},",
        f"batch 200) take {floor:.3f} s per epoch on this machine, {total:.1f} s for {epochs:.0f} epochs:",
        f"a floor for any numpy implementation. mlpkit's fit takes {ours_s / total:.1f} times that floor,",
        f"scikit-learn's {theirs_s / total:.1f} times; what lies above the floor is the optimizer update,",
        "the mini-batch gathers and the element-wise work.",
        "",
    ]


def fmt_load(load: tuple) -> str:
    return ", ".join(f"{value:.1f}" for value in load)


# ---------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per dataset (default 3)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument("--fashion-epochs", type=int, default=15, help="Fashion-MNIST epochs (default 15)")
    parser.add_argument(
        "--fashion-dtypes",
        default="float32,float64",
        help="input dtypes for Fashion-MNIST, comma-separated (default float32,float64)",
    )
    parser.add_argument("--skip-fashion", action="store_true", help="small sets only")
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit numpy's BLAS to this many threads for both tools (default: BLAS's own choice); "
        "on a machine whose cores run other jobs, 1 avoids threads spinning for descheduled peers",
    )
    parser.add_argument("--output", type=Path, default=DOC, help="markdown file to write")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.blas_threads is not None:
        threadpool_limits(limits=args.blas_threads, user_api="blas")
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    seeds = list(range(args.seeds))
    start_load = os.getloadavg()
    rows = []
    for name in SMALL_SETS:
        results = small_set(name, seeds, args.folds)
        rows.append(table_row(name, results))
        print(rows[-1], file=sys.stderr, flush=True)
    fashion = {}
    for dtype in [] if args.skip_fashion else args.fashion_dtypes.split(","):
        fashion[dtype] = fashion_mnist(seeds, args.fashion_epochs, dtype)
        rows.append(table_row(f"fashion-mnist {dtype} ({args.fashion_epochs} epochs)", fashion[dtype][0]))
        print(rows[-1], file=sys.stderr, flush=True)
    defaults = parse_args([])
    settings = " ".join(
        f"--{name.replace('_', '-')} {value}"
        if not isinstance(value, bool)
        else f"--{name.replace('_', '-')}"
        for name, value in vars(args).items()
        if value != getattr(defaults, name) and name != "output"
    )
    text = document(rows, settings, (start_load, os.getloadavg()), fashion)
    atomic_write(args.output, lambda handle: handle.write(text), text=True)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
