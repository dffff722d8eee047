"""Training speed on Fashion-MNIST against PyTorch, JAX and scikit-learn, and against the GEMM floor.

Run by hand (a few minutes; needs ``pip install -e ".[bench]"`` plus torch, and the data once,
``mlpkit download fashion-mnist``):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_speed.py  # docs/benchmarks.md

Trains 784-256-128-10 (ReLU, softmax cross-entropy, Adam 1e-3, float32) at batch sizes 32,
128 and 512 with mlpkit's engine (``Trainer``, float32, and float64 on the same data),
mlpkit's ``MLPClassifier``, PyTorch on the CPU (same thread count as numpy's BLAS), JAX with
optax (the whole epoch one jitted ``lax.scan`` over the train step) and scikit-learn's
``MLPClassifier`` (float32 input). The tools alternate epoch by epoch in one process (the order
rotates), so a drift of the machine's speed hits all of them alike. The GEMM floor, one step's
matrix products each timed alone in numpy times the steps per epoch, is measured after every round.
Reports the median seconds per epoch, each tool's ratio to the mlpkit engine and to the floor,
test accuracy after the same epochs, numpy's BLAS kernel, the peak resident memory of a fresh
process per tool while it trains, and predict_proba throughput. ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE`` are removed from the environment (the script starts itself again without
them) so that numpy's OpenBLAS picks its kernel as it does for users.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

LAYER_SIZES = (784, 256, 128, 10)
LEARNING_RATE = 1e-3
MEMORY_MARGIN = 150 * 10**6  # 150 MB
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
TOOLS = ("mlpkit", "mlpkit-float64", "mlpkit.MLPClassifier", "pytorch", "jax-scan", "scikit-learn")
PINNED_BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
COMMAND = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_speed.py"


# ---------------------------------------------------------------------- data and machine
def load_fashion_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fashion-MNIST as float32 rows scaled to [0, 1] and int64 labels (train, then test)."""
    from mlpkit.datasets import load_idx_dataset

    data = load_idx_dataset("fashion-mnist", download=False)
    return _pixels(data.X_train), data.y_train, _pixels(data.X_test), data.y_test


def _pixels(images: np.ndarray) -> np.ndarray:
    rows = images.astype(np.float32)
    rows *= np.float32(1 / 255)
    return rows


def blas_threads() -> int:
    """Threads of numpy's BLAS, which PyTorch is given too."""
    from threadpoolctl import threadpool_info

    return next(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")


def machine() -> dict[str, str]:
    """Cores, CPU, numpy's BLAS and its kernel, PyTorch's BLAS, library versions."""
    import sklearn
    import torch
    from threadpoolctl import threadpool_info

    blas = [info for info in threadpool_info() if info["user_api"] == "blas" and "numpy" in info["filepath"]]
    numpy_blas = blas[0] if blas else {}
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    torch_blas = "MKL" if torch.backends.mkl.is_available() else "unknown"
    try:
        import jax

        jax_version = f", JAX {jax.__version__} on {jax.default_backend()}"
    except ImportError:
        jax_version = ""
    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable)",
        "numpy BLAS": (
            f"{numpy_blas.get('internal_api', '?')} {numpy_blas.get('version', '?')}, kernel "
            f"{numpy_blas.get('architecture', '?')}, {numpy_blas.get('num_threads', '?')} threads"
        ),
        "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE": (
            f"{os.environ.get('OPENBLAS_CORETYPE', 'unset')} / {os.environ.get('OPENBLAS_L2_SIZE', 'unset')}"
        ),
        "PyTorch": (
            f"{torch.__version__}, BLAS {torch_blas} + oneDNN, CPU capability "
            f"{torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads"
        ),
        "versions": (
            f"Python {platform.python_version()}, numpy {np.__version__}, scikit-learn {sklearn.__version__}"
            f"{jax_version}"
        ),
    }


# ---------------------------------------------------------------------- the floor
def flops_per_epoch(m: int, sizes: tuple[int, ...] = LAYER_SIZES) -> int:
    """2 n_in n_out per sample per layer for Z, the same for dW, and for dA_prev except at layer 1."""
    per_sample = 0
    for l in range(1, len(sizes)):
        products = 3 if l > 1 else 2
        per_sample += products * 2 * sizes[l - 1] * sizes[l]
    return m * per_sample


class GemmFloor:
    """One training step's matrix products at one batch size, each timed alone in numpy in two
    layouts, the faster counted: the notes' (``Z_l = W_l A_{l-1}``, ``dW_l = dZ_l A_{l-1}^T``,
    ``dA_{l-1} = W_l^T dZ_l`` above layer 1, ``A_0`` the gathered rows transposed) and the compiled
    step's (a sample per row, ``W_l`` stored transposed: ``Z_l^T = A_{l-1}^T W_l^T``,
    ``dW_l^T = A_{l-1} dZ_l^T``, ``dA_{l-1}^T = dZ_l^T W_l``). Called between the tools' epochs, it
    returns their sum times the steps per epoch: the floor under the same load."""

    def __init__(
        self, batch_size: int, rows: int, dtype=np.float32, sizes: tuple[int, ...] = LAYER_SIZES
    ) -> None:
        rng = np.random.default_rng(0)
        self.steps = rows / batch_size
        self.products = []  # per product, its (a, b, out) in each layout
        X = rng.random((batch_size, sizes[0]), dtype=dtype)  # the gathered rows
        for l in range(1, len(sizes)):
            n_in, n_out = sizes[l - 1], sizes[l]
            W, Wt = rng.random((n_out, n_in), dtype=dtype), rng.random((n_in, n_out), dtype=dtype)
            dZ, dZt = rng.random((n_out, batch_size), dtype), rng.random((batch_size, n_out), dtype)
            A = X.T if l == 1 else rng.random((n_in, batch_size), dtype=dtype)
            At = X if l == 1 else rng.random((batch_size, n_in), dtype=dtype)
            self.products += [
                [(W, A, np.empty_like(dZ)), (At, Wt, np.empty_like(dZt))],
                [(dZ, A.T, np.empty_like(W)), (At.T, dZt, np.empty_like(Wt))],
            ]
            if l > 1:
                self.products.append(
                    [(W.T, dZ, np.empty((n_in, batch_size), dtype)), (dZt, Wt.T, np.empty_like(At))]
                )

    def __call__(self, repeats: int = 200) -> float:
        """Seconds per epoch of the products alone: the median time of each (in its faster layout),
        summed, times the steps."""
        total = 0.0
        for layouts in self.products:
            medians = []
            for a, b, out in layouts:
                for _ in range(10):
                    np.matmul(a, b, out=out)
                seconds = []
                for _ in range(repeats):
                    started = time.perf_counter()
                    np.matmul(a, b, out=out)
                    seconds.append(time.perf_counter() - started)
                medians.append(statistics.median(seconds))
            total += min(medians)
        return total * self.steps


# ---------------------------------------------------------------------- the tools
class Tool:
    """One library's model: ``epoch()`` trains one pass over the training rows.

    ``epoch()`` returns the seconds the epoch took when the library measures them itself
    (mlpkit's ``History.seconds``), else None and the call is timed as a whole.
    """

    name = ""

    def __init__(self, X: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> None:
        self.X, self.y, self.batch_size, self.seed = X, y, batch_size, seed

    def epoch(self) -> float | None:
        raise NotImplementedError

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class MlpkitEngine(Tool):
    """``DNN`` + ``Trainer`` on the columns-are-samples view ``X.T`` (no copy)."""

    name = "mlpkit"
    dtype = np.float32

    def __init__(self, X, y, batch_size, seed):
        from mlpkit import DNN, Trainer

        super().__init__(X.astype(self.dtype, copy=False), y, batch_size, seed)
        self.net = DNN(LAYER_SIZES, "relu", "softmax", seed=seed, dtype=np.dtype(self.dtype).name)
        self.trainer = Trainer(
            self.net, "adam", LEARNING_RATE, batch_size=batch_size, seed=seed, progress=False
        )
        self.Y = np.eye(LAYER_SIZES[-1], dtype=self.dtype)[y]  # one-hot rows

    def epoch(self):
        # History.seconds: the epoch's mini-batches, without fit's one-time check of the inputs
        return self.trainer.fit(self.X.T, self.Y.T, epochs=1).seconds[-1]

    def predict_proba(self, X):
        return self.net.predict_proba(X.T.astype(self.dtype, copy=False)).T


class MlpkitFloat64(MlpkitEngine):
    """The engine in float64, on the same pixels as float64 rows."""

    name = "mlpkit-float64"
    dtype = np.float64


class MlpkitEstimator(Tool):
    """mlpkit's scikit-learn-compatible ``MLPClassifier``, one ``partial_fit`` per epoch."""

    name = "mlpkit.MLPClassifier"

    def __init__(self, X, y, batch_size, seed):
        super().__init__(X, y, batch_size, seed)
        self.model = self.estimator_class()(
            LAYER_SIZES[1:-1],
            alpha=0.0,
            batch_size=batch_size,
            learning_rate_init=LEARNING_RATE,
            random_state=seed,
        )
        self.classes = np.arange(LAYER_SIZES[-1])

    @staticmethod
    def estimator_class():
        from mlpkit import MLPClassifier

        return MLPClassifier

    def epoch(self):
        self.model.partial_fit(self.X, self.y, classes=self.classes)

    def predict_proba(self, X):
        return self.model.predict_proba(X)


class ScikitLearn(MlpkitEstimator):
    """scikit-learn's ``MLPClassifier`` (adam, no L2), one ``partial_fit`` per epoch, float32 input."""

    name = "scikit-learn"

    @staticmethod
    def estimator_class():
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier


class PyTorch(Tool):
    """``nn.Sequential`` of Linear/ReLU, cross-entropy on logits, ``torch.optim.Adam``."""

    name = "pytorch"

    def __init__(self, X, y, batch_size, seed):
        import torch

        super().__init__(X, y, batch_size, seed)
        torch.set_num_threads(blas_threads())
        torch.manual_seed(seed)
        layers = []
        for n_in, n_out in zip(LAYER_SIZES[:-2], LAYER_SIZES[1:-1], strict=True):
            layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
        self.model = torch.nn.Sequential(*layers, torch.nn.Linear(LAYER_SIZES[-2], LAYER_SIZES[-1]))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LEARNING_RATE)
        self.loss = torch.nn.CrossEntropyLoss()
        self.rows, self.labels = torch.from_numpy(X), torch.from_numpy(y)
        self.generator = torch.Generator().manual_seed(seed)

    def epoch(self):
        import torch

        order = torch.randperm(self.rows.shape[0], generator=self.generator)
        for start in range(0, self.rows.shape[0], self.batch_size):
            index = order[start : start + self.batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            self.loss(self.model(self.rows[index]), self.labels[index]).backward()
            self.optimizer.step()

    def predict_proba(self, X):
        import torch

        with torch.inference_mode():
            return torch.softmax(self.model(torch.from_numpy(X)), dim=1).numpy()


class JaxScan(Tool):
    """JAX with optax: the train step (``jax.grad`` of the mean softmax cross-entropy, ``optax.adam``)
    jitted inside a ``lax.scan`` over the epoch's mini-batches, the epoch one compiled call (the
    last, smaller batch one more call); compiled ahead of time, outside the timed epochs."""

    name = "jax-scan"

    def __init__(self, X, y, batch_size, seed):
        import jax
        import jax.numpy as jnp
        import optax

        super().__init__(X, y, batch_size, seed)
        key = jax.random.PRNGKey(seed)
        params = []
        for n_in, n_out in zip(LAYER_SIZES[:-1], LAYER_SIZES[1:], strict=True):
            key, sub = jax.random.split(key)
            params.append(
                (jax.random.normal(sub, (n_in, n_out), jnp.float32) * np.sqrt(2 / n_in), jnp.zeros(n_out))
            )
        optimizer = optax.adam(LEARNING_RATE)
        self.rows, self.labels = jax.device_put(X), jax.device_put(y.astype(np.int32))
        full, rest = divmod(X.shape[0], batch_size)

        def forward(params, rows):
            A = rows
            for W, b in params[:-1]:
                A = jax.nn.relu(A @ W + b)
            W, b = params[-1]
            return A @ W + b

        def loss(params, rows, labels):
            return optax.softmax_cross_entropy_with_integer_labels(forward(params, rows), labels).mean()

        def step(carry, index, rows, labels):
            params, state = carry
            grads = jax.grad(loss)(params, rows[index], labels[index])
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), None

        def epoch(params, state, key, rows, labels):
            key, sub = jax.random.split(key)
            order = jax.random.permutation(sub, rows.shape[0])
            batches = order[: full * batch_size].reshape(full, batch_size)
            carry, _ = jax.lax.scan(lambda c, i: step(c, i, rows, labels), (params, state), batches)
            if rest:
                carry, _ = step(carry, order[full * batch_size :], rows, labels)
            return *carry, key

        self.state = (params, optimizer.init(params), key)
        self._epoch = jax.jit(epoch).lower(*self.state, self.rows, self.labels).compile()
        self._predict = jax.jit(lambda params, rows: jax.nn.softmax(forward(params, rows)))

    def epoch(self):
        import jax

        self.state = jax.block_until_ready(self._epoch(*self.state, self.rows, self.labels))

    def predict_proba(self, X):
        return np.asarray(self._predict(self.state[0], X))


TOOL_CLASSES: dict[str, type[Tool]] = {
    cls.name: cls for cls in (MlpkitEngine, MlpkitFloat64, MlpkitEstimator, PyTorch, JaxScan, ScikitLearn)
}


# ---------------------------------------------------------------------- measuring
@dataclass
class Run:
    """Seconds per epoch and test accuracy of one tool at one batch size."""

    seconds: list[float] = field(default_factory=list)
    accuracy: float = float("nan")

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def timed(action: Callable[[], float | None]) -> float:
    """Seconds ``action`` reports, or else the seconds its call took."""
    started = time.perf_counter()
    reported = action()
    elapsed = time.perf_counter() - started
    return elapsed if reported is None else reported


def compare(data, tool_names, batch_size: int, epochs: int, seed: int = 0) -> dict:
    """Train every tool ``epochs`` epochs, alternating epoch by epoch (rotating the order); the
    GEMM floor is measured after every round of epochs. Returns the tools, their runs and the
    median floor."""
    X, y, X_test, y_test = data
    tools = [TOOL_CLASSES[name](X, y, batch_size, seed) for name in tool_names]
    runs = {tool.name: Run() for tool in tools}
    gemm, floors = GemmFloor(batch_size, X.shape[0]), []
    for epoch in range(epochs):
        for tool in tools[epoch % len(tools) :] + tools[: epoch % len(tools)]:
            runs[tool.name].seconds.append(timed(tool.epoch))
            print(f"  batch {batch_size} epoch {epoch + 1} {tool.name}: {runs[tool.name].seconds[-1]:.3f} s")
        floors.append(gemm())
    for tool in tools:
        runs[tool.name].accuracy = float(np.mean(tool.predict_proba(X_test).argmax(axis=1) == y_test))
    return {"tools": tools, "runs": runs, "floor": statistics.median(floors), "floors": floors}


def throughput(tool: Tool, X: np.ndarray, repeats: int = 7) -> float:
    """Median rows per second of ``predict_proba`` on ``X``."""
    seconds = []
    for _ in range(repeats + 1):  # the first call warms up
        started = time.perf_counter()
        tool.predict_proba(X)
        seconds.append(time.perf_counter() - started)
    return X.shape[0] / statistics.median(seconds[1:])


def peak_rss_bytes() -> int:
    """This process's peak resident set (VmHWM) since start or the last reset."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current resident set (Linux ``clear_refs`` 5); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def memory_probe(tool_name: str, batch_size: int, epochs: int) -> dict:
    """In a fresh process: load the data, reset the peak, train; the peak resident set while training."""
    data = load_fashion_mnist()
    tool = TOOL_CLASSES[tool_name](data[0], data[1], batch_size, seed=0)
    reset = reset_peak_rss()
    before = peak_rss_bytes()
    for _ in range(epochs):
        tool.epoch()
    return {"peak": peak_rss_bytes(), "before": before, "reset": reset}


def memory_of(tool_name: str, batch_size: int) -> dict:
    command = [sys.executable, __file__, "--memory-probe", tool_name, "--batch-sizes", str(batch_size)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


# ---------------------------------------------------------------------- the report
def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.0f} MiB"


def speed_table(results: dict[int, dict], floor: dict[int, float]) -> list[str]:
    lines = [
        "| batch | tool | s/epoch (median) | min-max | ratio to mlpkit | x GEMM floor | test accuracy |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for batch_size, result in results.items():
        runs = result["runs"]
        reference = runs["mlpkit"].median
        for name, run in runs.items():
            spread = f"{min(run.seconds):.2f}-{max(run.seconds):.2f}"
            lines.append(
                f"| {batch_size} | {name} | {run.median:.3f} | {spread} | {run.median / reference:.2f} | "
                f"{run.median / floor[batch_size]:.2f} | {run.accuracy:.4f} |"
            )
    return lines


SUMMARY_COLUMNS = {
    "mlpkit": "mlpkit",
    "mlpkit-float64": "mlpkit float64",
    "pytorch": "PyTorch",
    "jax-scan": "JAX-scan",
}


def summary_table(results: dict[int, dict], floor: dict[int, float]) -> list[str]:
    """Seconds per epoch side by side, as in the README."""
    names = [name for name in SUMMARY_COLUMNS if name in next(iter(results.values()))["runs"]]
    lines = [
        "| batch | " + " | ".join(SUMMARY_COLUMNS[name] for name in names) + " | GEMM floor |",
        "|---:|" + "---:|" * (len(names) + 1),
    ]
    for batch_size, result in results.items():
        cells = [f"{result['runs'][name].median:.3f}" for name in names]
        lines.append(f"| {batch_size} | " + " | ".join(cells) + f" | {floor[batch_size]:.3f} |")
    return lines


def goals(results: dict[int, dict], floor: dict[int, float], memory: dict, memory_limit: int) -> list[str]:
    checks = []
    for batch_size, result in results.items():
        runs = result["runs"]
        mlpkit = runs["mlpkit"].median
        checks.append((f"batch {batch_size}: mlpkit / GEMM floor <= 1.3", mlpkit / floor[batch_size], 1.3))
        for name, label, limit in (("jax-scan", "JAX-scan", 0.85), ("pytorch", "PyTorch", 0.45)):
            if name in runs:
                checks.append(
                    (f"batch {batch_size}: mlpkit / {label} <= {limit}", mlpkit / runs[name].median, limit)
                )
        if "mlpkit-float64" in runs:
            checks.append(
                (
                    f"batch {batch_size}: mlpkit float64 / float32 (no set goal)",
                    runs["mlpkit-float64"].median / mlpkit,
                    None,
                )
            )
    lines = ["| goal | measured | met |", "|---|---:|---|"]
    for label, value, limit in checks:
        met = "-" if limit is None else ("yes" if value <= limit else "no")
        lines.append(f"| {label} | {value:.3f} | {met} |")
    if "mlpkit" in memory:
        peak = memory["mlpkit"]["peak"]
        met = "yes" if peak <= memory_limit else "no"
        lines.append(
            f"| mlpkit's peak memory while training <= float32 data + 150 MB ({mib(memory_limit)}) | "
            f"{mib(peak)} | {met} |"
        )
    return lines


def memory_table(memory: dict, data_bytes: int) -> list[str]:
    lines = [
        "| tool | peak RSS while training | RSS before training | added by training | peak - float32 data |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, probe in memory.items():
        peak, before = probe["peak"], probe["before"]
        lines.append(
            f"| {name} | {mib(peak)} | {mib(before)} | {mib(peak - before)} | {mib(peak - data_bytes)} |"
        )
    return lines


def inference_table(rates: dict[str, float]) -> list[str]:
    lines = ["| tool | rows/s | ratio to PyTorch |", "|---|---:|---:|"]
    for name, rate in rates.items():
        lines.append(f"| {name} | {rate:,.0f} | {rate / rates['pytorch']:.2f} |")
    return lines


def report(info, results, floor, memory, data_bytes, rates, epochs, command) -> str:
    memory_limit = data_bytes + MEMORY_MARGIN
    flops = flops_per_epoch(60000)
    sections = [
        "# Benchmarks: training speed",
        "",
        f"Generated by `{command}` (run by hand, a few minutes; it rewrites this file). 784-256-128-10,",
        "ReLU, softmax cross-entropy, Adam 1e-3, float32 (and mlpkit in float64 beside it),",
        "Fashion-MNIST (60,000 training rows, 10,000 test rows),",
        f"{epochs} epochs per tool and batch size. The tools alternate epoch by epoch in one process;",
        "each row is the median over the epochs (min-max beside it). mlpkit is the engine (`DNN` +",
        "`Trainer`, timed by its own per-epoch clock `History.seconds`, which leaves out `fit`'s",
        "one-time check of the inputs); `mlpkit.MLPClassifier` and scikit-learn are timed per",
        "`partial_fit` call (one epoch, with the call's input validation); PyTorch per epoch loop",
        "(randperm, index, forward, backward, step) with as many threads as numpy's BLAS; JAX-scan",
        "per call of its compiled epoch (permutation, then `lax.scan` of the jitted step with",
        "`optax.adam`; compiled before the first timed epoch). Same architecture, optimizer and batch",
        "size everywhere. Ratios below 1 mean faster than mlpkit. On a shared machine the same",
        "command varies from run to run (other work on the two cores slows the two-threaded matrix",
        "products most); the min-max columns show the spread within this run, and the ratios, taken",
        "within one run, are what to compare.",
        "",
        "## Machine",
        "",
        *[f"- {key}: {value}" for key, value in info.items()],
        "",
        "## Seconds per epoch",
        "",
        *summary_table(results, floor),
        "",
        f"GEMM floor: one step's matrix products ({flops / 1e9:.1f} GFLOP per epoch: `Z_l`, `dW_l`, and",
        "`dA_{l-1}` above layer 1), each timed alone in numpy in the notes' layout and in the",
        "compiled step's (a sample per row, `W_l` transposed), the faster counted (median of",
        "200 calls), summed and multiplied by the steps per epoch; measured after every round of",
        "epochs, so that it sees the same machine load as the tools (the median per batch size):",
        ", ".join(
            f"batch {batch_size}: {floor[batch_size]:.3f} s ({flops / floor[batch_size] / 1e9:.0f} GFLOP/s)"
            for batch_size in floor
        )
        + ".",
        "",
        *speed_table(results, floor),
        "",
        "## Goals",
        "",
        *goals(results, floor, memory, memory_limit),
        "",
        "## Peak memory",
        "",
        "Each tool trains one epoch at batch 128 in a fresh process that first loads Fashion-MNIST",
        f"as float32 ({mib(data_bytes)} of training and test pixels); the peak resident set (VmHWM) is reset",
        "after loading (Linux `clear_refs`), so the peak below is the whole process while it trains:",
        "interpreter, libraries (scikit-learn and SciPy for the estimators, PyTorch's own), data and",
        "everything training adds.",
        "",
        *memory_table(memory, data_bytes),
        "",
        "## Inference",
        "",
        "`predict_proba` on the 10,000 test rows (rows as samples), median of 7 runs, models from batch 128.",
        "",
        *inference_table(rates),
        "",
        *ENGINE_NOTES,
    ]
    return "\n".join(sections)


ENGINE_NOTES = [
    "## What the training step does, and what was tried",
    "",
    "For a network of ReLU hidden layers with a softmax + cross-entropy output trained by Adam on",
    "dense rows (this benchmark's case), each mini-batch is one compiled call",
    "(`mlpkit.fast.fused`, `src/mlpkit/fast/_fused_step.h`): it gathers the batch's rows, runs",
    "`Z_l = W_l A_{l-1}`, `dW_l = dZ_l A_{l-1}^T` and `dA_{l-1} = W_l^T dZ_l` with the `cblas_sgemm` /",
    "`cblas_dgemm` of numpy's own bundled OpenBLAS (found beside numpy and handed over as a function",
    "pointer, so the same kernel and threads as `np.matmul`, and no new dependency), runs the",
    "element-wise kernels below between the products, and takes the Adam step, with no Python",
    "between the products. tests/test_fused_step.py holds its epochs equal to the numpy reference",
    "(`DNN.forward`, `DNN.compute_gradients`, `Adam.step`): float32 and float64, 2 to 4 layers, L2,",
    "sample weights, batches whose weights are all zero, a loss that overflows. Any other setup",
    "(other activations or outputs, dropout, other optimizers, learned inputs, sparse or",
    "feature-major data, MPI, a numpy without its bundled 64-bit-integer OpenBLAS,",
    "`MLPKIT_NUMPY_ONLY=1`) trains through `mlpkit.fast.step.FastStep` and the optimizer's `step`,",
    "the same formulas as `DNN.forward` and `DNN.compute_gradients` (tests/test_fast_path.py):",
    "",
    "- one gather per mini-batch (`np.take(..., out=buffer, mode='clip')`) along the data's contiguous",
    "  axis, into a buffer reused by every batch of that size; likewise every `Z_l`, `dA_l`, `dZ_L`;",
    "  the compiled step's gather fetches each row into the second-level cache four rows before it",
    "  copies it (the rows lie at random, so the hardware prefetcher cannot guess them): a batch of",
    "  200 random Fashion-MNIST rows alone takes 41 instead of 75 microseconds, a step at batch 200",
    "  on 784-100-10 4% less time (prefetching into the first-level cache, as tried before, gained",
    "  nothing);",
    "- `A_l = g(Z_l)` in place over `Z_l` (every built-in `g'` reads `A_l` alone), `dZ_l` in place over",
    "  `dA_l`; the softmax and `dZ_L = A_L - Y` on the small output arrays only;",
    "- `1/m` applied once to `dZ_L` (10 x m) instead of to every `dW_l` and `db_l`;",
    "- gradients written by the products straight into the flat gradient vector (`out=` views), so the",
    "  optimizer updates all weights and biases with one array operation per formula step;",
    "- the element-wise work between the products as compiled loops (`mlpkit.fast.kernels`:",
    "  `src/mlpkit/fast/_fused_kernels.h`, built by `pip install`, loaded with ctypes, an AVX2 clone on",
    "  x86-64; numpy stays the reference and tests/test_fused.py and tests/test_fast_path.py hold the",
    "  two equal), each one pass over memory where numpy makes several:",
    "  - Adam, with the L2 term `dW += (lambda/m) W` and `||W||^2` for the cost in the same pass",
    "    (numpy: 12 passes plus 3 for L2);",
    "  - `A_l = max(Z_l + b_l, 0)` (numpy: 2 passes) and `dZ_l = dA_l * (A_l > 0)` with `db_l`",
    "    (numpy: 3 passes and a temporary mask);",
    "  - the softmax + cross-entropy output layer: `A_L`, `J`, `dZ_L`, `db_L` and the number of right",
    "    predictions in one call (numpy: about 20 calls, 80-140 microseconds per batch), with an exp",
    "    the compiler vectorizes (within 4 units in the last place of numpy's float32 softmax);",
    "  `MLPKIT_NUMPY_ONLY=1` turns them off;",
    "- one set of threads for the products and the step's own loops (`src/mlpkit/fast/_pool.h`):",
    "  OpenBLAS keeps its worker threads spinning between products, so any thread of ours fought",
    "  them for the cores (the attempts listed below). From the first compiled step on, numpy's",
    "  OpenBLAS runs its parallel jobs on mlpkit's pool instead (its documented threads callback,",
    "  OpenBLAS 0.3.27 and later; the same jobs, so the products give the same bits), and the",
    "  step's gather and Adam step split over the same workers, as many parts as BLAS has threads",
    "  (threadpoolctl's limits apply). At batch 200 on 784-100-10, float32: the gather 79 -> 41 and",
    "  Adam 95 -> 40 microseconds per step, an epoch 6-12% faster (processes alternating); in",
    "  this file's runs, batch 32 went from 0.78 to 0.62 s per epoch, batch 128 from 0.45 to 0.43.",
    "",
    "What is left: the products themselves (about 80% of a step at batch 128 and above); then the",
    "Adam step, which reads and writes four parameter-sized arrays every step (3.8 MB in float32",
    "for this network, twice that in float64) and is what keeps batch 32 furthest from the floor;",
    "the gather; and Python's per-step bookkeeping (callbacks, progress, the interrupt check, about",
    "10 microseconds). Measured and dropped, because they were not faster here:",
    "",
    "- before the shared pool: the Adam step split between the two cores by a worker thread of the",
    "  compiled step (no gain in the fastest steps, slower on average), the next mini-batch",
    "  gathered by a worker thread while the optimizer steps (1-8% slower per epoch, although 35%",
    "  faster without matrix products in between), each batch split over two threads with one BLAS",
    "  thread each (5-30% slower): each time OpenBLAS's spinning threads held the core;",
    "- with the pool, the first layer's product taken as `Z_1^T = X W_1^T` (a third less time",
    "  alone while the machine was loaded, 12-16% less on a quiet one) and transposed into `Z_1`",
    "  with the bias and ReLU: per epoch within 2% either way, as the Adam step after it slowed from",
    "  40 to 70 microseconds (its arrays no longer in cache);",
    "- with the pool, the next batch's rows prefetched into each core's cache during its share of",
    "  the Adam step, and the element-wise passes split between the threads: no change per epoch",
    "  beyond the machine's noise;",
    "- an AVX-512 clone of the Adam loop: within 7% of the AVX2 one (the loop waits on memory);",
    "- storing each `W_l` column by column (`W_l^T` row-major, scikit-learn's orientation): 4% faster",
    "  at batch 200 on 784-100-10, 1% slower at batch 512 on 784-256-128-10;",
    "- the compiled step with its hidden layers stored a sample per row as well as each `W_l`",
    "  transposed (`Z_l^T = A_{l-1}^T W_l^T`, the layout whose products run fastest alone, 5-30%, and",
    "  which the GEMM floor counts where faster): within a step 5% faster at batch 128, no faster at",
    "  batch 32 or at batch 200 on 784-100-10, for a transposed copy of `theta` and Adam's moments",
    "  (four more parameter-sized arrays) copied in and out at every epoch and every `partial_fit`",
    "  call (1.5 ms more per call of 32 rows on 784-256-128-10);",
    "- Adam with approximate reciprocals and square roots (`-mrecip`): slower, as the step waits on",
    "  memory;",
    "- Adam's passes split over two Python threads (numpy releases the GIL in its loops): slower,",
    "  the hand-offs cost more than the second core gave back;",
    "- Adam in cache-sized chunks: no measurable gain over whole-vector passes, for 2-16 times the calls;",
    "- `db_l` as a matrix-vector product with a ones vector instead of a row sum: faster alone, no",
    "  measurable change per epoch;",
    "- a numba Adam, per the issue's own measurement: slower single-threaded (no vectorized square",
    "  root), and its parallel loops fought OpenBLAS's threads for the two cores.",
    "",
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per tool and batch size (default 3)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    parser.add_argument(
        "--output", type=Path, default=DOC, help="the Markdown report (default docs/benchmarks.md)"
    )
    parser.add_argument(
        "--cpus", type=int, help="run every tool on the first N cores only (default: all usable cores)"
    )
    parser.add_argument("--pinned", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory-probe", choices=TOOLS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_probe:
        print(json.dumps(memory_probe(args.memory_probe, args.batch_sizes[0], epochs=1)))
        return
    import torch

    torch.set_num_threads(blas_threads())
    data = load_fashion_mnist()
    data_bytes = data[0].nbytes + data[2].nbytes
    results = {
        batch_size: compare(data, args.tools, batch_size, args.epochs) for batch_size in args.batch_sizes
    }
    floor = {batch_size: result["floor"] for batch_size, result in results.items()}
    inference_tools = results.get(128, next(iter(results.values())))["tools"]
    rates = {tool.name: throughput(tool, data[2]) for tool in inference_tools}
    memory = {name: memory_of(name, 128) for name in args.tools}
    options = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--pinned"]
    if "--output" in options:  # where the report went is not part of how it was measured
        del options[options.index("--output") : options.index("--output") + 2]
    command = COMMAND + (" " + " ".join(options)).rstrip()
    text = report(machine(), results, floor, memory, data_bytes, rates, args.epochs, command)
    args.output.write_text(text)
    print(text)


def restart_if_needed(argv: list[str]) -> None:
    """Start this script again without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE when either is set
    (numpy's OpenBLAS reads them once, at import, and users do not set them), and with ``--cpus N``
    on the first N cores only, so that every library sizes its thread pool to them at start."""
    restart = any(name in os.environ for name in PINNED_BLAS_VARIABLES)
    if "--cpus" in argv and "--pinned" not in argv:
        cpus = sorted(os.sched_getaffinity(0))[: int(argv[argv.index("--cpus") + 1])]
        os.sched_setaffinity(0, cpus)
        argv, restart = [*argv, "--pinned"], True
    if restart:
        environment = {k: v for k, v in os.environ.items() if k not in PINNED_BLAS_VARIABLES}
        os.execve(sys.executable, [sys.executable, __file__, *argv], environment)


if __name__ == "__main__":
    restart_if_needed(sys.argv[1:])
    main()
