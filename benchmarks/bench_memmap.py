"""Peak memory of training on a memory-mapped dataset of a few GB, against loading it in RAM.

Generates ``X.npy`` (float32, rows x 784) and ``y.npy`` (10 classes) under a temporary folder
(``--folder``, default the system temp dir), trains 784-256-128-10 for one epoch from the
mapped files in a fresh process, and reports that process's peak resident memory (VmHWM) next
to the data size, the model size and a batch; then the same for ``np.load`` into RAM (unless
``--skip-in-memory``). The files are deleted at the end. Run by hand:

    python benchmarks/bench_memmap.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_FEATURES = 784
N_CLASSES = 10
HIDDEN = (256, 128)
BATCH = 128
WRITE_ROWS = 65536


def generate(folder: Path, rows: int, seed: int = 0) -> tuple[Path, Path]:
    """A learnable 10-class problem written chunk by chunk (never whole in memory)."""
    rng = np.random.default_rng(seed)
    centers = 0.15 * rng.standard_normal((N_CLASSES, N_FEATURES)).astype(np.float32)
    X = np.lib.format.open_memmap(folder / "X.npy", mode="w+", dtype=np.float32, shape=(rows, N_FEATURES))
    y = np.lib.format.open_memmap(folder / "y.npy", mode="w+", dtype=np.int64, shape=(rows,))
    for start in range(0, rows, WRITE_ROWS):
        stop = min(start + WRITE_ROWS, rows)
        labels = rng.integers(0, N_CLASSES, stop - start)
        noise = rng.standard_normal((stop - start, N_FEATURES), dtype=np.float32) * 3
        X[start:stop] = centers[labels] + noise
        y[start:stop] = labels
    X.flush()
    y.flush()
    del X, y
    return folder / "X.npy", folder / "y.npy"


def peak_rss_bytes() -> int:
    """This process's peak resident set (VmHWM) from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def train_once(X_path: str, y_path: str, mode: str) -> dict:
    """One epoch from the files (``mapped``, or ``memory`` after np.load); returns times and peak RSS."""
    from mlpkit.datasets import Dataset, load_mapped
    from mlpkit.preprocessing import split_indices
    from mlpkit.training.pipeline import TrainConfig, build_model, finish_model, make_trainer

    config = TrainConfig(hidden=HIDDEN, epochs=1, batch_size=BATCH, validation_fraction=0.0)
    started = time.perf_counter()
    if mode == "mapped":
        dataset = load_mapped(X_path, y_path, test_fraction=config.test_fraction, seed=config.seed)
    else:
        rows, labels = np.load(X_path), np.load(y_path)
        train, test = split_indices(rows.shape[0], config.test_fraction, config.seed)
        dataset = Dataset("memory", rows[train], labels[train], rows[test], labels[test], own_split=False)
        del rows
    model, X, Y = build_model(dataset, config)
    prepared = time.perf_counter()
    trainer = make_trainer(model, config, progress=False)
    history = trainer.fit(X, Y, 1)
    trained = time.perf_counter()
    report = finish_model(model, dataset, history, trained - prepared)
    return {
        "mode": mode,
        "prepare_seconds": prepared - started,
        "epoch_seconds": trained - prepared,
        "evaluate_seconds": time.perf_counter() - trained,
        "test_accuracy": report["accuracy"],
        "peak_rss_bytes": peak_rss_bytes(),
        "model_bytes": int(model.net.theta.nbytes),
        "n_parameters": int(model.net.n_parameters),
    }


def run_child(X_path: Path, y_path: Path, mode: str) -> dict:
    command = [sys.executable, __file__, "--child", mode, str(X_path), str(y_path)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def baseline_rss() -> int:
    """Peak RSS of a process that only imports mlpkit's training modules (the floor)."""
    code = (
        "import mlpkit.training.pipeline, mlpkit.datasets.memmap, pathlib;"
        "print([l for l in pathlib.Path('/proc/self/status').read_text().splitlines() if 'VmHWM' in l][0])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[1]) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="samples to generate (784 float32 each)")
    parser.add_argument("--folder", default=None, help="where to write the files (default: system temp)")
    parser.add_argument("--skip-in-memory", action="store_true", help="do not run the np.load comparison")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "X", "Y"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(train_once(args.child[1], args.child[2], args.child[0])))
        return
    folder = Path(tempfile.mkdtemp(prefix="mlpkit-bench-memmap-", dir=args.folder))
    try:
        started = time.perf_counter()
        X_path, y_path = generate(folder, args.rows)
        data_bytes = X_path.stat().st_size + y_path.stat().st_size
        seconds = time.perf_counter() - started
        print(f"generated {args.rows:,} rows, {data_bytes / 2**30:.2f} GiB in {seconds:.0f} s")
        floor = baseline_rss()
        modes = ["mapped"] if args.skip_in_memory else ["mapped", "memory"]
        results = [run_child(X_path, y_path, mode) for mode in modes]
    finally:
        shutil.rmtree(folder)
    batch_bytes = BATCH * N_FEATURES * 4
    print(
        f"\ndata {data_bytes / 2**20:,.0f} MiB; model {results[0]['model_bytes'] / 2**20:.1f} MiB "
        f"({results[0]['n_parameters']:,} parameters); one batch {batch_bytes / 2**20:.2f} MiB; "
        f"python + numpy + mlpkit imported: {floor / 2**20:.0f} MiB\n"
    )
    print(
        "| data read | peak RSS (MiB) | above the import floor (MiB) | prepare (s) | epoch (s) | accuracy |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for result in results:
        label = "memory-mapped (np.load mmap_mode='r')" if result["mode"] == "mapped" else "np.load into RAM"
        print(
            f"| {label} | {result['peak_rss_bytes'] / 2**20:,.0f} | "
            f"{(result['peak_rss_bytes'] - floor) / 2**20:,.0f} | {result['prepare_seconds']:.1f} | "
            f"{result['epoch_seconds']:.1f} | {result['test_accuracy']:.4f} |"
        )


if __name__ == "__main__":
    main()
