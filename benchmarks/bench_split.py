"""The held-out rows chosen by content: what the row hash costs, next to scikit-learn's positional split.

On Fashion-MNIST's 60,000 x 784 training images (uint8 pixels, 10 classes) and on a tall table of
2,000,000 rows (8 numeric columns and one categorical), times ``mlpkit.datasets.split``'s keyed
row hash plus the stratified choice of the test rows, and scikit-learn's stratified
``train_test_split`` (which draws by position) on the same arrays; prints the median of a few
runs and their ratio. Run by hand:

    python benchmarks/bench_split.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from sklearn.model_selection import train_test_split

from mlpkit.columns import ColumnTable, categorical_column, numeric_column
from mlpkit.datasets import load_dataset
from mlpkit.datasets.split import content_split, row_keys

TEST_FRACTION = 0.2


def median_seconds(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cases() -> dict[str, tuple]:
    fashion = load_dataset("fashion-mnist")
    rng = np.random.default_rng(0)
    m = 2_000_000
    numbers = rng.normal(size=(m, 8))
    codes = rng.integers(0, 50, m)
    table = ColumnTable(
        [numeric_column(f"x{j}", numbers[:, j]) for j in range(8)]
        + [categorical_column("city", codes, [f"city{k}" for k in range(50)])]
    )
    y = rng.integers(0, 2, m)
    return {
        "Fashion-MNIST 60,000 x 784": (fashion.X_train, fashion.y_train, fashion.X_train),
        "table 2,000,000 x 9": (table, y, np.column_stack([numbers, codes])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    print("| data | mlpkit content split (s) | scikit-learn train_test_split (s) | ratio |")
    print("|---|---:|---:|---:|")
    for name, (X, y, array) in cases().items():
        ours = median_seconds(lambda X=X, y=y: content_split(row_keys(X, y, 0), TEST_FRACTION, y), repeats)
        theirs = median_seconds(
            lambda array=array, y=y: train_test_split(
                array, y, test_size=TEST_FRACTION, stratify=y, random_state=0
            ),
            repeats,
        )
        print(f"| {name} | {ours:.3f} | {theirs:.3f} | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
