"""Standardization against robust scalings with smooth clips, 5-fold, on tables with outliers and heavy tails.

For each table and each scaling (:class:`mlpkit.features.FeatureSchema`'s ``"standard"``:
``(x - mean) / std``, and ``"robust"``: ``z = (x - median) / IQR`` then ``3 asinh(z / 3)``; and
variants of the robust one: the soft clips ``z / sqrt(1 + (z/c)^2)`` for c = 3 and 10,
``asinh(z)``, and ``z`` itself), a network is trained on 4 folds and scored on the fifth
(accuracy, or R^2 for regression), for 3 seeds of the network. The schema is fitted on the
training folds only. Tables: scikit-learn's shipped breast-cancer, wine and raw diabetes, and
synthetic ones with heavy tails or gross errors. No network access. Run by hand (about 4
minutes on 2 cores):

    python benchmarks/bench_scaling.py [--epochs 100] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.model_selection import KFold, StratifiedKFold

import mlpkit
from mlpkit.features import FeatureSchema

SCALINGS = (
    "standard",
    "robust",
    "robust-softclip3",
    "robust-softclip10",
    "robust-asinh1",
    "robust-unclipped",
)
SEEDS = (0, 1, 2)
HIDDEN = (64, 32)


def heavy_tailed_classes(rng: np.random.Generator, m: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Lognormal features (incomes, counts, durations) whose classes depend on their logarithms."""
    Z = rng.normal(size=(m, 8))
    X = np.exp(1.5 * Z) * rng.uniform(1, 1000, size=8)
    y = (Z[:, 0] + Z[:, 1] * Z[:, 2] - 0.5 * Z[:, 3] + 0.3 * rng.normal(size=m) > 0).astype(int)
    return X, y


def gross_errors(rng: np.random.Generator, m: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Normal features with 1% of the cells replaced by gross errors (+-1000 times the scale)."""
    X = rng.normal(size=(m, 8))
    y = (X[:, 0] - X[:, 1] + X[:, 2] * X[:, 3] + 0.3 * rng.normal(size=m) > 0).astype(int)
    corrupt = rng.random(X.shape) < 0.01
    X[corrupt] = rng.choice([-1000.0, 1000.0], size=corrupt.sum()) * rng.uniform(0.5, 2, size=corrupt.sum())
    return X, y


def student_t_regression(rng: np.random.Generator, m: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Student-t (2 degrees of freedom) features and a target linear in them: the tails carry signal."""
    X = rng.standard_t(2, size=(m, 6))
    y = X @ np.array([1.0, -0.5, 0.25, 0.0, 0.0, 2.0]) + 0.5 * rng.normal(size=m)
    return X, y


def tables() -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    rng = np.random.default_rng(0)
    cancer, wine = load_breast_cancer(), load_wine()
    diabetes = load_diabetes(scaled=False)
    return {
        "breast-cancer (569 x 30)": (cancer.data, cancer.target, "classification"),
        "wine (178 x 13)": (wine.data, wine.target, "classification"),
        "diabetes, raw (442 x 10)": (diabetes.data, diabetes.target, "regression"),
        "lognormal features (2000 x 8)": (*heavy_tailed_classes(rng), "classification"),
        "1% gross errors (2000 x 8)": (*gross_errors(rng), "classification"),
        "Student-t(2), linear target (1000 x 6)": (*student_t_regression(rng), "regression"),
    }


def robust_variant(schema: FeatureSchema, X: np.ndarray, squash: str) -> np.ndarray:
    """The robust ``z = (x - median) / IQR`` of the schema's numeric columns, squashed another way."""
    z = np.column_stack(
        [
            (np.where(np.isnan(x), f.median, x) - f.center) / f.scale
            for f, x in zip(schema.features, X.T, strict=True)
        ]
    )
    if squash.startswith("softclip"):
        bound = float(squash[len("softclip") :])
        return z / np.sqrt(1 + (z / bound) ** 2)
    if squash == "asinh1":
        return np.arcsinh(z)
    return z


def inputs(X_train: np.ndarray, X_test: np.ndarray, scaling: str) -> tuple[np.ndarray, np.ndarray]:
    """The engine-layout inputs ``(n_x, m)`` of both parts under ``scaling`` (fitted on the training rows)."""
    method, _, variant = scaling.partition("-")
    schema = FeatureSchema.fit(X_train, scaling=method)
    if not variant:
        return tuple(schema.transform(X).dense.T for X in (X_train, X_test))
    return tuple(robust_variant(schema, X, variant).T for X in (X_train, X_test))


def fit_score(X_train, y_train, X_test, y_test, kind: str, scaling: str, seed: int, epochs: int) -> float:
    A_train, A_test = inputs(X_train, X_test, scaling)  # (n_x, m)
    if kind == "classification":
        classes = np.unique(y_train)
        Y = (y_train[None, :] == classes[:, None]).astype(float)  # (k, m) one-hot
        net = mlpkit.DNN([A_train.shape[0], *HIDDEN, len(classes)], "relu", "softmax", seed=seed)
    else:
        mean, std = y_train.mean(), y_train.std()
        Y = ((y_train - mean) / std)[None, :]
        net = mlpkit.DNN([A_train.shape[0], *HIDDEN, 1], "relu", "identity", seed=seed)
    mlpkit.train(net, A_train, Y, epochs=epochs, batch_size=32, learning_rate=1e-3, seed=seed, progress=False)
    outputs = net.predict_proba(A_test.astype(net.dtype))
    if kind == "classification":
        return float(np.mean(classes[outputs.argmax(axis=0)] == y_test))
    predicted = outputs[0] * std + mean
    return float(1 - np.sum((y_test - predicted) ** 2) / np.sum((y_test - y_test.mean()) ** 2))


def measure(epochs: int, only: str | None = None, scalings=SCALINGS) -> dict:
    results = {}
    for name, (X, y, kind) in tables().items():
        if only and only not in name:
            continue
        folds = (StratifiedKFold if kind == "classification" else KFold)(5, shuffle=True, random_state=0)
        scores = {scaling: [] for scaling in scalings}
        started = time.perf_counter()
        for train, test in folds.split(X, y):
            for scaling in scalings:
                for seed in SEEDS:
                    score = fit_score(X[train], y[train], X[test], y[test], kind, scaling, seed, epochs)
                    scores[scaling].append(score)
        metric = "accuracy" if kind == "classification" else "R^2"
        results[name] = {
            "metric": metric,
            **{s: [float(np.mean(v)), float(np.std(v))] for s, v in scores.items()},
        }
        line = "  ".join(f"{s} {np.mean(v):.4f} +- {np.std(v):.4f}" for s, v in scores.items())
        print(f"{name} ({metric}, {time.perf_counter() - started:.0f} s)", flush=True)
        print(f"    {line}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--only", metavar="TEXT", help="only the tables whose name contains TEXT")
    parser.add_argument("--scalings", default=",".join(SCALINGS), help="comma-separated scalings to compare")
    args = parser.parse_args()
    results = measure(args.epochs, args.only, args.scalings.split(","))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
