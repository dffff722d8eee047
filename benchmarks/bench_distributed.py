"""Data-parallel training over MPI on one machine: epoch time and communication share for K ranks.

For each K (default 1, 2, 4) runs ``mpiexec -n K`` on this file: every rank trains
784-256-128-10 (ReLU, softmax, Adam 1e-3, float32, global batch 128) on Fashion-MNIST with an
:class:`~mlpkit.training.distributed.MPICommunicator`, BLAS threads per rank = cores // K (at least 1)
unless ``--threads`` says otherwise.
Rank 0 reports the median epoch time, the time spent inside the gradient Allreduce (which
includes waiting for the slowest rank), and the bytes each step reduces. A plain single-process
run (no MPI) is the baseline. Prints a Markdown table. Run by hand:

    python benchmarks/bench_distributed.py --epochs 3 --ranks 1 2 4
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
from pathlib import Path

HIDDEN = (256, 128)
BATCH = 128
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def train(epochs: int, distributed: bool) -> dict | None:
    """Train on Fashion-MNIST; rank 0 (or the single process) returns the measurements."""
    from mlpkit.datasets import load_dataset
    from mlpkit.training import Callback
    from mlpkit.training.pipeline import TrainConfig, build_model, finish_model, make_trainer

    communicator = None
    if distributed:
        from mlpkit.training.distributed import MPICommunicator

        communicator = MPICommunicator()

    class AllreduceClock(Callback):
        """Records the Allreduce seconds of each epoch."""

        def __init__(self) -> None:
            self.per_epoch: list[float] = []
            self.last = 0.0

        def on_epoch_end(self, trainer, epoch, logs) -> None:
            total = communicator.allreduce_seconds if communicator is not None else 0.0
            self.per_epoch.append(total - self.last)
            self.last = total

    config = TrainConfig(hidden=HIDDEN, batch_size=BATCH, epochs=epochs, validation_fraction=0.0)
    dataset = load_dataset("fashion-mnist", download=False, progress=False)
    model, X, Y = build_model(dataset, config)
    clock = AllreduceClock()
    trainer = make_trainer(model, config, [clock], progress=False)
    trainer.communicator = communicator
    history = trainer.fit(X, Y, epochs)
    if communicator is not None and not communicator.is_root:
        return None
    report = finish_model(model, dataset, history, sum(history.seconds))
    n_train = X.shape[1]
    return {
        "ranks": communicator.size if communicator is not None else 0,
        "epoch_seconds": statistics.median(history.seconds[1:] or history.seconds),
        "allreduce_seconds": statistics.median(clock.per_epoch[1:] or clock.per_epoch),
        "steps_per_epoch": -(-n_train // BATCH),
        "bytes_per_step": (model.net.n_parameters + 4) * model.net.dtype.itemsize,
        "n_parameters": model.net.n_parameters,
        "test_accuracy": report["accuracy"],
    }


def mpiexec() -> str:
    local = Path(sysconfig.get_path("scripts")) / "mpiexec"
    return str(local) if local.exists() else "mpiexec"


def run(ranks: int, epochs: int, cores: int, threads: int | None) -> dict:
    """One measurement: ``ranks`` = 0 is the plain single process, else ``mpiexec -n ranks``."""
    threads = str(threads or max(1, cores // max(ranks, 1)))
    env = {**os.environ, **{name: threads for name in THREAD_VARIABLES}}
    worker = [sys.executable, __file__, "--worker", "--epochs", str(epochs)]
    command = worker if ranks == 0 else [mpiexec(), "-n", str(ranks), *worker, "--distributed"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    result = json.loads(done.stdout.splitlines()[-1])
    result["threads"] = int(threads)
    return result


def table(results: list[dict], cores: int) -> str:
    first = results[0]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    lines = [
        f"{cores} cores (load average after the runs: {load}); global batch {BATCH}; "
        f"{first['n_parameters']:,} parameters; "
        f"{first['bytes_per_step']:,} bytes reduced per step; {first['steps_per_epoch']} steps per epoch",
        "",
        "| ranks | BLAS threads/rank | epoch (s) | in Allreduce (s) | communication share | test accuracy |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        name = "1 (no MPI)" if result["ranks"] == 0 else str(result["ranks"])
        share = result["allreduce_seconds"] / result["epoch_seconds"]
        lines.append(
            f"| {name} | {result['threads']} | {result['epoch_seconds']:.2f} | "
            f"{result['allreduce_seconds']:.2f} | {share:.0%} | {result['test_accuracy']:.4f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (the median skips the first)")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4], help="MPI rank counts to run")
    parser.add_argument("--threads", type=int, help="BLAS threads per rank (default: cores // ranks)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = train(args.epochs, args.distributed)
        if result is not None:
            print(json.dumps(result))
        return
    cores = os.cpu_count() or 1
    results = [run(ranks, args.epochs, cores, args.threads) for ranks in [0, *args.ranks]]
    print(table(results, cores))


if __name__ == "__main__":
    main()
