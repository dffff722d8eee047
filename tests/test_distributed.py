"""Data-parallel training over MPI: K ranks under mpiexec give the single-process model.

The module doubles as the MPI worker: ``mpiexec -n K python tests/test_distributed.py OUT.npz``
trains every configuration below with an :class:`MPICommunicator` and rank 0 writes the
results; the tests train the same configurations in one process and compare.
"""

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from mlpkit import DNN, Trainer

M = 65  # 65 = 4 * 16 + 1: the last global batch has one row, so some ranks get empty shards
BATCH = 16
EPOCHS = 4

# name -> (layer sizes, hidden, output, optimizer, trainer options, fit options)
CONFIGS = {
    "softmax_adam": ([5, 7, 3], "tanh", "softmax", "adam", {}, {}),
    "sigmoid_weighted_l2": ([5, 6, 1], "relu", "sigmoid", "momentum", {"l2": 0.3}, {"weighted": True}),
    "multilabel_validation": ([5, 4, 4, 2], "leaky_relu", "sigmoid", "rmsprop", {}, {"validation": 0.2}),
    "regression_sgd": ([5, 8, 2], "sigmoid", "identity", "sgd", {"shuffle": False}, {}),
}


def make_data(output: str, n_x: int, n_L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2024)
    X = rng.standard_normal((n_x, M))
    if output == "softmax":
        Y = np.eye(n_L)[:, rng.integers(0, n_L, M)]
    elif output == "sigmoid":
        Y = (rng.random((n_L, M)) < 0.5).astype(np.float64)
    else:
        Y = rng.standard_normal((n_L, M))
    weights = rng.uniform(0.2, 2.0, M)
    return X, Y, weights


def train_config(name: str, communicator=None) -> tuple[DNN, Trainer]:
    sizes, hidden, output, optimizer, options, fit_options = CONFIGS[name]
    X, Y, weights = make_data(output, sizes[0], sizes[-1])
    net = DNN(sizes, hidden, output, seed=11, dtype="float64")
    trainer = Trainer(net, optimizer, 0.05, batch_size=BATCH, seed=5, communicator=communicator, **options)
    trainer.fit(
        X,
        Y,
        EPOCHS,
        sample_weight=weights if fit_options.get("weighted") else None,
        validation_fraction=fit_options.get("validation", 0.0),
    )
    return net, trainer


def probe(net: DNN) -> np.ndarray:
    return net.predict_proba(np.random.default_rng(99).standard_normal((net.layer_sizes[0], 40)))


# ---------------------------------------------------------------------- MPI worker
def _dropout_resume(communicator) -> tuple[np.ndarray, np.ndarray]:
    """Four epochs straight, and two + resume from the state dict + two: both under MPI with dropout."""
    X, Y, _ = make_data("softmax", 5, 3)

    def trainer():
        net = DNN([5, 9, 3], "relu", "softmax", seed=1, dtype="float64")
        return Trainer(net, "adam", 0.02, batch_size=BATCH, dropout=0.3, seed=8, communicator=communicator)

    straight = trainer()
    straight.fit(X, Y, 4)
    first = trainer()
    first.fit(X, Y, 2)
    resumed = trainer()
    resumed.load_state_dict(*first.state_dict())
    resumed.fit(X, Y, 2)
    return straight.net.theta.copy(), resumed.net.theta.copy()


def _mismatch_error(communicator) -> str:
    """Ranks holding different numbers of samples must all raise, not hang."""
    m = 20 + communicator.rank
    net = DNN([2, 1], seed=0, dtype="float64")
    try:
        Trainer(net, communicator=communicator).fit(np.zeros((2, m)), np.zeros((1, m)), 1)
    except ValueError as error:
        return str(error)
    return ""


def mpi_worker(out: str) -> None:
    from mlpkit.distributed import MPICommunicator

    communicator = MPICommunicator()
    results: dict[str, np.ndarray] = {"size": np.array(communicator.size)}
    for name in CONFIGS:
        net, trainer = train_config(name, communicator)
        thetas = communicator.comm.gather(net.theta, root=0)
        if communicator.is_root:
            results[f"{name}.proba"] = probe(net)
            results[f"{name}.loss"] = np.array(trainer.history.loss)
            results[f"{name}.accuracy"] = np.array(trainer.history.accuracy)
            results[f"{name}.val_loss"] = np.array(trainer.history.val_loss)
            results[f"{name}.rank_spread"] = np.array(max(np.abs(t - thetas[0]).max() for t in thetas))
    straight, resumed = _dropout_resume(communicator)
    dropout_thetas = communicator.comm.gather(straight, root=0)
    message = _mismatch_error(communicator)
    messages = communicator.comm.gather(message, root=0)
    if communicator.is_root:
        results["dropout.resume_gap"] = np.array(np.abs(straight - resumed).max())
        results["dropout.rank_spread"] = np.array(
            max(np.abs(t - dropout_thetas[0]).max() for t in dropout_thetas)
        )
        results["mismatch.messages"] = np.array(messages)
        results["allreduce_seconds"] = np.array(communicator.allreduce_seconds)
        np.savez(out, **results)


# ---------------------------------------------------------------------- tests
def mpiexec() -> str:
    """mpiexec from the environment's scripts folder (pip's mpich) or the PATH."""
    local = Path(sysconfig.get_path("scripts")) / "mpiexec"
    found = str(local) if local.exists() else shutil.which("mpiexec")
    assert found, 'mpiexec not found: install the test extra, pip install -e ".[test]" (mpi4py and mpich)'
    return found


def run_ranks(n_ranks: int, out: Path) -> dict[str, np.ndarray]:
    command = [mpiexec(), "-n", str(n_ranks), sys.executable, __file__, str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as results:
        return dict(results)


@pytest.fixture(scope="module")
def single_process():
    return {name: train_config(name) for name in CONFIGS}


@pytest.mark.parametrize("n_ranks", [2, 3])
def test_k_ranks_give_the_single_process_model(tmp_path, single_process, n_ranks):
    results = run_ranks(n_ranks, tmp_path / "results.npz")
    assert int(results["size"]) == n_ranks
    for name, (net, trainer) in single_process.items():
        np.testing.assert_allclose(results[f"{name}.proba"], probe(net), rtol=0, atol=1e-8, err_msg=name)
        history = trainer.history
        np.testing.assert_allclose(results[f"{name}.loss"], history.loss, rtol=1e-10, err_msg=name)
        np.testing.assert_allclose(results[f"{name}.accuracy"], history.accuracy, rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(results[f"{name}.val_loss"], history.val_loss, rtol=1e-10, err_msg=name)
        assert float(results[f"{name}.rank_spread"]) == 0.0, f"{name}: ranks hold different weights"
    assert float(results["dropout.rank_spread"]) == 0.0
    assert float(results["dropout.resume_gap"]) == 0.0
    for message in results["mismatch.messages"]:
        assert "every rank must train the same network on the same data" in message
        assert "rank 1: m=21" in message
    assert float(results["allreduce_seconds"]) > 0.0


def test_the_single_process_path_needs_no_mpi(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    net, trainer = train_config("softmax_adam")
    assert trainer.communicator is None and len(trainer.history.loss) == EPOCHS
    from mlpkit.distributed import MPICommunicator

    with pytest.raises(ImportError, match=r'pip install "mlpkit\[mpi\]"'):
        MPICommunicator()


if __name__ == "__main__":
    mpi_worker(sys.argv[1])
