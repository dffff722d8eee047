"""Accuracy and fit time of mlpkit.MLPClassifier against scikit-learn's, same hyper-parameters, one process.

Small sets (digits, iris, wine, breast-cancer): stratified 5-fold cross-validation with
``StandardScaler`` in a ``Pipeline``, scikit-learn's default hyper-parameters. Fashion-MNIST:
its own 60k/10k split, pixels / 255 as float32 rows for both tools (scikit-learn keeps float32
input in float32, so both compute in float32), relu (100,). Each seed gives both tools the
same ``random_state``; the tool that fits first alternates. Run by hand (it writes the table
into docs/benchmarks-sklearn.md):

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
from threadpoolctl import threadpool_info

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


def fashion_mnist(seeds: list[int], epochs: int) -> tuple[dict[str, Runs], float]:
    """relu (100,), adam, batch 200, ``epochs`` epochs, on the 60k/10k split, float32 pixels / 255.

    Also returns the matrix products' floor in seconds per epoch (see :func:`matmul_floor`).
    """
    from mlpkit.datasets import load_dataset

    data = load_dataset("fashion-mnist")
    split = (pixels(data.X_train), data.y_train, pixels(data.X_test), data.y_test)
    results = {tool: Runs() for tool in TOOLS}
    for order, seed in enumerate(seeds):
        make = lambda cls, s=seed: cls(hidden_layer_sizes=(100,), max_iter=epochs, random_state=s)  # noqa: E731
        run_pair(results, make, split, order)
        print(f"  fashion-mnist seed {seed}: {summary_line(results)}", file=sys.stderr, flush=True)
    return results, matmul_floor(len(split[0]))


def matmul_floor(n_rows: int, sizes: tuple[int, ...] = (784, 100, 10), batch: int = 200) -> float:
    """Seconds per epoch of the matrix products alone: ``Z_l``, ``dW_l``, and ``dA_{l-1}`` for l > 1."""
    rng = np.random.default_rng(0)
    products = []
    for l in range(1, len(sizes)):
        W = rng.random((sizes[l], sizes[l - 1]), dtype=np.float32)
        A_prev = rng.random((batch, sizes[l - 1]), dtype=np.float32).T  # (n_{l-1}, m), rows gathered
        dZ = rng.random((sizes[l], batch), dtype=np.float32)
        products += [lambda W=W, A=A_prev: W @ A, lambda dZ=dZ, A=A_prev: dZ @ A.T]
        if l > 1:
            products.append(lambda W=W, dZ=dZ: W.T @ dZ)
    seconds = []
    for _ in range(7):
        started = time.perf_counter()
        for _ in range(50):
            for product in products:
                product()
        seconds.append((time.perf_counter() - started) / 50)
    return statistics.median(seconds) * -(-n_rows // batch)


def pixels(images: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 rows in [0, 1]."""
    rows = images.reshape(len(images), -1).astype(np.float32)
    rows *= np.float32(1 / 255)
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
    fashion: dict[str, Runs] | None,
    floor: float | None = None,
) -> str:
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
        "scikit-learn computes in float64 there, mlpkit in its default float32). Fashion-MNIST: the",
        "60k/10k split, pixels / 255 as float32 for both (both compute in float32), (100,) relu, adam,",
        "batch 200, a fixed number of epochs. Accuracy is mean ± standard deviation over the fits; the",
        "difference is mlpkit minus scikit-learn, paired by seed and fold, with its standard error;",
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
    if fashion is not None:
        ours = statistics.mean(fashion["mlpkit"].accuracy)
        ratio = statistics.median(fashion["mlpkit"].seconds) / statistics.median(
            fashion["scikit-learn"].seconds
        )
        accuracy_met = "met" if ours >= FASHION_GOAL else "NOT met"
        time_met = "met" if ratio <= 0.5 else "NOT met"
        lines += [
            "Goals on Fashion-MNIST: accuracy >= 0.871 (the Fashion-MNIST paper's score for scikit-learn's",
            f"MLPClassifier, relu (100,)): {ours:.4f}, {accuracy_met}; fit time at most half of",
            f"scikit-learn's: ratio {ratio:.2f}, {time_met}.",
            "",
        ]
        epochs = statistics.mean(fashion["mlpkit"].epochs)
        total = floor * epochs
        ours_s, theirs_s = (statistics.median(fashion[tool].seconds) for tool in TOOLS)
        lines += [
            "The matrix products alone (each layer's `Z_l` and `dW_l`, and `dA_l-1` above layer 1,",
            f"float32, batch 200) take {floor:.3f} s per epoch on this machine, {total:.1f} s for",
            f"{epochs:.0f} epochs: a floor for any numpy implementation. mlpkit's fit takes",
            f"{ours_s / total:.1f} times that floor, scikit-learn's {theirs_s / total:.1f} times; what lies",
            "above the floor is the optimizer update, the mini-batch gathers and the element-wise work.",
            "",
        ]
    return "\n".join(lines)


def fmt_load(load: tuple) -> str:
    return ", ".join(f"{value:.1f}" for value in load)


# ---------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per dataset (default 3)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument("--fashion-epochs", type=int, default=30, help="Fashion-MNIST epochs (default 30)")
    parser.add_argument("--skip-fashion", action="store_true", help="small sets only")
    parser.add_argument("--output", type=Path, default=DOC, help="markdown file to write")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    seeds = list(range(args.seeds))
    start_load = os.getloadavg()
    rows = []
    for name in SMALL_SETS:
        results = small_set(name, seeds, args.folds)
        rows.append(table_row(name, results))
        print(rows[-1], file=sys.stderr, flush=True)
    fashion = floor = None
    if not args.skip_fashion:
        fashion, floor = fashion_mnist(seeds, args.fashion_epochs)
        rows.append(table_row(f"fashion-mnist ({args.fashion_epochs} epochs)", fashion))
        print(rows[-1], file=sys.stderr, flush=True)
    defaults = parse_args([])
    settings = " ".join(
        f"--{name.replace('_', '-')} {value}"
        if not isinstance(value, bool)
        else f"--{name.replace('_', '-')}"
        for name, value in vars(args).items()
        if value != getattr(defaults, name) and name != "output"
    )
    text = document(rows, settings, (start_load, os.getloadavg()), fashion, floor)
    atomic_write(args.output, lambda handle: handle.write(text), text=True)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
