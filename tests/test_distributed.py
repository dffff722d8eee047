"""Data-parallel training over MPI: K ranks under mpiexec give the single-process model.

The module doubles as the MPI worker: ``mpiexec -n K python tests/test_distributed.py OUT.npz``
trains every configuration below with an :class:`MPICommunicator` and rank 0 writes the
results; the tests train the same configurations in one process and compare.
"""

import shutil
import signal
import subprocess
import sys
import sysconfig
import warnings
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


def probe_rows(n_x: int) -> np.ndarray:
    return np.random.default_rng(99).standard_normal((40, n_x))


def probe(net: DNN) -> np.ndarray:
    return net.predict_proba(probe_rows(net.layer_sizes[0]).T)


# ---------------------------------------------------------------------- MPI worker
def _dropout_resume(communicator, checkpoint: str) -> tuple[np.ndarray, np.ndarray]:
    """Four epochs straight, and two + checkpoint + resume + two, under MPI with dropout.

    Rank 0 alone writes and reads the checkpoint file; ``fit`` hands its state to the others.
    """
    from mlpkit.io import load_checkpoint, save_checkpoint

    X, Y, _ = make_data("softmax", 5, 3)

    def trainer():
        net = DNN([5, 9, 3], "relu", "softmax", seed=1, dtype="float64")
        return Trainer(net, "adam", 0.02, batch_size=BATCH, dropout=0.3, seed=8, communicator=communicator)

    straight = trainer()
    straight.fit(X, Y, 4)
    first = trainer()
    first.fit(X, Y, 2)
    resumed = trainer()
    if communicator.is_root:
        save_checkpoint(checkpoint, first)
        load_checkpoint(checkpoint).restore(resumed)
    resumed.fit(X, Y, 2)
    return straight.net.theta.copy(), resumed.net.theta.copy()


def _interrupt_resume(communicator, checkpoint: str) -> tuple[int, np.ndarray, np.ndarray, list, list]:
    """An interrupt asked on the last rank only, mid-epoch: every rank stops after the same batch;
    rank 0 saves and reloads a checkpoint and the run ends as the uninterrupted one."""
    from mlpkit.io import load_checkpoint, save_checkpoint
    from mlpkit.training import Callback, TrainingInterrupted

    X, Y, _ = make_data("softmax", 5, 3)

    class InterruptOnTheLastRank(Callback):
        def on_batch_end(self, trainer, batch, loss):
            if (trainer.epoch, batch) == (1, 1) and communicator.rank == communicator.size - 1:
                trainer.request_interrupt()

    def trainer(callbacks=()):
        net = DNN([5, 9, 3], "tanh", "softmax", seed=1, dtype="float64")
        return Trainer(
            net, "adam", 0.02, batch_size=BATCH, seed=8, communicator=communicator, callbacks=callbacks
        )

    straight = trainer()
    straight.fit(X, Y, 3)
    first = trainer([InterruptOnTheLastRank()])
    try:
        first.fit(X, Y, 3)
    except TrainingInterrupted:
        pass
    stopped_at = first.state_dict()[1]["epoch_progress"]["samples_done"]
    communicator.settle_epoch_progress(first)
    resumed = trainer()
    if communicator.is_root:
        save_checkpoint(checkpoint, first)
        load_checkpoint(checkpoint).restore(resumed)
    resumed.fit(X, Y, 2)
    return stopped_at, straight.net.theta, resumed.net.theta, straight.history.loss, resumed.history.loss


def embedding_training(communicator=None, checkpoint: str | None = None):
    """A network on dense rows and two learned embeddings, weighted, with a validation split.

    With a ``checkpoint`` path, an interrupt is asked on the last rank alone in epoch 2; rank 0
    then saves and restores the checkpoint, and a new trainer finishes the run.
    """
    from mlpkit.embeddings import EmbeddingInput
    from mlpkit.io import load_checkpoint, save_checkpoint
    from mlpkit.training import Callback, TrainingInterrupted

    X, Y, weights = make_data("softmax", 3, 3)
    codes = np.stack([np.arange(M) % 7, (np.arange(M) * 5) % 4])

    class InterruptOnOneRank(Callback):
        def on_batch_end(self, trainer, batch, loss):
            if (trainer.epoch, batch) == (1, 1) and communicator.rank == communicator.size - 1:
                trainer.request_interrupt()

    def trainer(callbacks=()):
        inputs = EmbeddingInput(3, (7, 4), (3, 2), seed=3, dtype="float64")
        net = DNN([inputs.n_x, 6, 3], "tanh", "softmax", seed=4, dtype="float64")
        return Trainer(
            net,
            "adam",
            0.05,
            batch_size=BATCH,
            seed=6,
            communicator=communicator,
            inputs=inputs,
            callbacks=callbacks,
        )

    fit = dict(codes=codes, sample_weight=weights, validation_fraction=0.2)
    if checkpoint is None:
        straight = trainer()
        straight.fit(X, Y, EPOCHS, **fit)
        return straight
    first = trainer([InterruptOnOneRank()])
    try:
        first.fit(X, Y, EPOCHS, **fit)
    except TrainingInterrupted:
        pass
    communicator.settle_epoch_progress(first)
    resumed = trainer()
    if communicator.is_root:
        save_checkpoint(checkpoint, first)
        load_checkpoint(checkpoint).restore(resumed)
    resumed.fit(X, Y, EPOCHS - 1, **fit)
    return resumed


def _stop_votes(communicator) -> tuple[bool, bool]:
    """A stop asked on the last rank only, then on none: what every rank hears."""
    gradient = np.zeros(3)
    heard = communicator.average(gradient, 0.0, 1.0, 1, stop=communicator.rank == communicator.size - 1)[2]
    quiet = communicator.average(gradient, 0.0, 1.0, 1, stop=False)[2]
    return heard, quiet


def _mismatch_error(communicator) -> str:
    """Ranks holding different numbers of samples must all raise, not hang."""
    m = 20 + communicator.rank
    net = DNN([2, 1], seed=0, dtype="float64")
    try:
        Trainer(net, communicator=communicator).fit(np.zeros((2, m)), np.zeros((1, m)), 1)
    except ValueError as error:
        return str(error)
    return ""


def estimator_proba(distributed: bool) -> np.ndarray:
    """MLPClassifier with early stopping (its own validation split) in float64."""
    from mlpkit import MLPClassifier

    X, Y, _ = make_data("softmax", 5, 3)
    model = MLPClassifier(
        (7,),
        max_iter=4,
        batch_size=BATCH,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=50,
        random_state=0,
        dtype="float64",
        distributed=distributed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after 4 epochs
        model.fit(X.T, Y.argmax(axis=0))
    return model.predict_proba(probe_rows(5))


def mapped_training(folder: str, communicator=None) -> tuple[DNN, list[np.ndarray]]:
    """Train on memory-mapped shards; returns the network and the feature rows each gather read."""
    from mlpkit.datasets import MappedRows, load_mapped
    from mlpkit.training.pipeline import TrainConfig, build_model, make_trainer

    reads: list[np.ndarray] = []
    gather = MappedRows._gather

    def recording_gather(self, rows):
        if len(self.parts[0].shape) == 2:  # feature rows, not labels
            reads.append(rows.copy())
        return gather(self, rows)

    split = load_mapped(folder, test_fraction=0.2, seed=1)
    config = TrainConfig(hidden=(6,), batch_size=BATCH, epochs=EPOCHS, dtype="float64", seed=2)
    model, X, Y = build_model(split, config)
    trainer = make_trainer(model, config, progress=False)
    trainer.communicator = communicator
    MappedRows._gather = recording_gather
    try:
        trainer.fit(X, Y, EPOCHS)
    finally:
        MappedRows._gather = gather
    return model.net, reads


def mpi_worker(out: str, folder: str) -> None:
    from mlpkit.training.distributed import MPICommunicator

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
    straight, resumed = _dropout_resume(communicator, out + ".checkpoint.npz")
    dropout_thetas = communicator.comm.gather(straight, root=0)
    votes = communicator.comm.gather(_stop_votes(communicator), root=0)
    stopped_at, straight_theta, resumed_theta, straight_loss, resumed_loss = _interrupt_resume(
        communicator, out + ".interrupted.npz"
    )
    stops = communicator.comm.gather(stopped_at, root=0)
    message = _mismatch_error(communicator)
    messages = communicator.comm.gather(message, root=0)
    results["estimator.proba"] = estimator_proba(distributed=True)
    embedded = embedding_training(communicator)
    embedded_resumed = embedding_training(communicator, out + ".embeddings.npz")
    vectors = communicator.comm.gather(np.concatenate([embedded.net.theta, embedded.inputs.phi]), root=0)
    if communicator.is_root:
        results["embedding.theta"], results["embedding.phi"] = embedded.net.theta, embedded.inputs.phi
        results["embedding.loss"] = np.array(embedded.history.loss)
        results["embedding.val_loss"] = np.array(embedded.history.val_loss)
        results["embedding.rank_spread"] = np.array(max(np.abs(v - vectors[0]).max() for v in vectors))
        results["embedding.resume_gap"] = np.array(
            max(
                np.abs(embedded_resumed.inputs.phi - embedded.inputs.phi).max(),
                np.abs(embedded_resumed.net.theta - embedded.net.theta).max(),
            )
        )
    net, reads = mapped_training(folder, communicator)
    all_reads = communicator.comm.gather(np.concatenate(reads), root=0)
    if communicator.is_root:
        results["mapped.proba"] = probe(net)
        results["mapped.reads"] = np.concatenate(all_reads)
        results["mapped.reads_per_rank"] = np.array([r.shape[0] for r in all_reads])
        results["dropout.resume_gap"] = np.array(np.abs(straight - resumed).max())
        results["dropout.rank_spread"] = np.array(
            max(np.abs(t - dropout_thetas[0]).max() for t in dropout_thetas)
        )
        results["mismatch.messages"] = np.array(messages)
        results["stop.votes"] = np.array(votes)
        results["interrupt.stops"] = np.array(stops)
        results["interrupt.theta_gap"] = np.array(np.abs(straight_theta - resumed_theta).max())
        results["interrupt.losses"] = np.array([straight_loss, resumed_loss])
        results["allreduce_seconds"] = np.array(communicator.allreduce_seconds)
        np.savez(out, **results)


# ---------------------------------------------------------------------- tests
def mpiexec() -> str:
    """mpiexec from the environment's scripts folder (pip's mpich) or the PATH."""
    local = Path(sysconfig.get_path("scripts")) / "mpiexec"
    found = str(local) if local.exists() else shutil.which("mpiexec")
    assert found, 'mpiexec not found: install the test extra, pip install -e ".[test]" (mpi4py and mpich)'
    return found


def write_shards(folder: Path) -> Path:
    """Three uneven shards of a 3-class problem (the last global batches leave some ranks empty)."""
    X, Y, _ = make_data("softmax", 5, 3)
    folder.mkdir()
    for part, (start, stop) in enumerate([(0, 20), (20, 51), (51, M)]):
        np.save(folder / f"X_{part}.npy", X.T[start:stop])
        np.save(folder / f"y_{part}.npy", Y.argmax(axis=0)[start:stop])
    return folder


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_shards(tmp_path_factory.mktemp("mapped") / "shards")


def run_ranks(n_ranks: int, out: Path, folder: Path) -> dict[str, np.ndarray]:
    command = [mpiexec(), "-n", str(n_ranks), sys.executable, __file__, str(out), str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as results:
        return dict(results)


@pytest.fixture(scope="module")
def single_process():
    return {name: train_config(name) for name in CONFIGS}


@pytest.mark.parametrize("n_ranks", [2, 3])
def test_k_ranks_give_the_single_process_model(tmp_path, single_process, shards, n_ranks):
    results = run_ranks(n_ranks, tmp_path / "results.npz", shards)
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
    written = [
        "results.npz",
        "results.npz.checkpoint.npz",
        "results.npz.embeddings.npz",
        "results.npz.interrupted.npz",
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == written
    np.testing.assert_array_equal(results["stop.votes"], [[True, False]] * n_ranks)
    # asked on the last rank after batch 2 of epoch 2, voted with batch 3: all ranks stop after 48 rows
    np.testing.assert_array_equal(results["interrupt.stops"], [3 * BATCH] * n_ranks)
    assert float(results["interrupt.theta_gap"]) == 0.0
    straight_loss, resumed_loss = results["interrupt.losses"]
    np.testing.assert_allclose(resumed_loss, straight_loss, rtol=1e-12)  # the epoch's sums survive the stop
    for message in results["mismatch.messages"]:
        assert "every rank must train the same network on the same data" in message
        assert "rank 1: m=21" in message
    assert float(results["allreduce_seconds"]) > 0.0
    np.testing.assert_allclose(results["estimator.proba"], estimator_proba(distributed=False), atol=1e-8)
    alone = embedding_training()  # the gradients of theta and phi, reduced in one buffer
    np.testing.assert_allclose(results["embedding.theta"], alone.net.theta, rtol=0, atol=1e-10)
    np.testing.assert_allclose(results["embedding.phi"], alone.inputs.phi, rtol=0, atol=1e-10)
    np.testing.assert_allclose(results["embedding.loss"], alone.history.loss, rtol=1e-10)
    np.testing.assert_allclose(results["embedding.val_loss"], alone.history.val_loss, rtol=1e-10)
    assert float(results["embedding.rank_spread"]) == 0.0
    assert float(results["embedding.resume_gap"]) == 0.0

    net, reads = mapped_training(str(shards))
    np.testing.assert_allclose(results["mapped.proba"], probe(net), rtol=0, atol=1e-8)
    # ranks read disjoint shards of every batch: together, each training row once per epoch
    np.testing.assert_array_equal(np.sort(results["mapped.reads"]), np.sort(np.concatenate(reads)))
    per_rank = results["mapped.reads_per_rank"]
    assert per_rank.shape == (n_ranks,) and per_rank.max() - per_rank.min() <= EPOCHS * (M // BATCH + 1)


def test_the_single_process_path_needs_no_mpi(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    net, trainer = train_config("softmax_adam")
    assert trainer.communicator is None and len(trainer.history.loss) == EPOCHS
    from mlpkit.training.distributed import MPICommunicator

    with pytest.raises(ImportError, match=r'pip install "mlpkit\[mpi\]"'):
        MPICommunicator()


if __name__ == "__main__":
    mpi_worker(sys.argv[1], sys.argv[2])


def test_cli_train_under_mpiexec_prints_once_and_writes_the_single_process_model(tmp_path, shards):
    from mlpkit.io import load

    flags = ["train", "--data", str(shards), "--hidden", "6", "--epochs", "3", "--batch-size", str(BATCH)]
    flags += ["--dtype", "float64", "--json"]
    single = subprocess.run(
        [sys.executable, "-m", "mlpkit.cli", *flags, "--out", str(tmp_path / "one.npz")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert single.returncode == 0, single.stderr
    command = [mpiexec(), "-n", "2", sys.executable, "-m", "mlpkit.cli", *flags, "--distributed"]
    done = subprocess.run(
        command + ["--out", str(tmp_path / "two.npz")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum(line.startswith("test accuracy") for line in lines) == 1  # rank 0 alone prints
    assert sum(line.startswith("epoch 3/3") for line in lines) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["one.npz", "two.npz"]
    rows = probe_rows(5)
    np.testing.assert_allclose(
        load(tmp_path / "two.npz").predict_proba(rows),
        load(tmp_path / "one.npz").predict_proba(rows),
        atol=1e-8,
    )


def test_ctrl_c_under_mpiexec_stops_every_rank_and_the_resume_ends_as_the_uninterrupted_run(tmp_path):
    from mlpkit.io import load

    rng = np.random.default_rng(0)
    X = rng.standard_normal((16000, 20))
    np.savez(tmp_path / "blobs.npz", X=X, y=(X[:, :3] @ [1.0, -1.0, 0.5] > 0).astype(int) + (X[:, 3] > 1))
    launch = [mpiexec(), "-n", "2", sys.executable, "-m", "mlpkit.cli", "train", "--distributed"]
    launch += ["--data", str(tmp_path / "blobs.npz"), "--hidden", "32", "--epochs", "4", "--batch-size", "16"]
    launch += ["--dtype", "float64", "--quiet"]
    reference = subprocess.run(
        [*launch, "--out", str(tmp_path / "ref.npz")], capture_output=True, timeout=120
    )
    assert reference.returncode == 0, reference.stderr

    folder, out = tmp_path / "checkpoints", tmp_path / "model.npz"
    interrupted = [*launch[:-1], "--checkpoint-dir", str(folder), "--out", str(out)]  # with epoch lines
    process = subprocess.Popen(interrupted, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not (line := process.stdout.readline()).startswith("epoch 1/4"):
        assert line, process.stderr.read()
    process.send_signal(signal.SIGINT)  # mpiexec forwards it to every rank
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    (message,) = [line for line in stderr.splitlines() if line.startswith("mlpkit train:")]  # rank 0 only
    assert "Training interrupted at epoch" in message and "to resume: mpiexec -n 2 mlpkit train" in message
    assert not out.exists() and any("-batch-" in path.name for path in folder.iterdir())

    resumed = subprocess.run([*interrupted, "--resume"], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count("resume    from") == 1
    rows = X[:200]
    np.testing.assert_array_equal(
        load(out).predict_proba(rows), load(tmp_path / "ref.npz").predict_proba(rows)
    )
