"""Checkpoints and resume: bit-identical models after SIGKILL or Ctrl-C, refused resumes, full disks.

The oracle throughout is the same run left uninterrupted: a resumed run must end with exactly
its weights (``assert_array_equal``, bit for bit), its predictions and its per-epoch losses.
"""

import errno
import os
import random
import selectors
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from mlpkit import DNN, Trainer
from mlpkit.cli import main
from mlpkit.io import archive as archive_module
from mlpkit.io import load, load_checkpoint, save_checkpoint
from mlpkit.training import Callback, TrainingInterrupted
from mlpkit.training.checkpoints import CheckpointFolder

CLI = [sys.executable, "-m", "mlpkit.cli"]


def make_blobs(path: Path, rows: int, seed: int = 0) -> Path:
    """Three classes in 12 features: a nonlinear rule, so training keeps changing the weights."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 12))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 1)
    np.savez(path, X=X, y=y)
    return path


def assert_same_model(path: Path, reference: Path, rows: np.ndarray) -> None:
    """Same weights, predictions and loss history, bit for bit."""
    model, expected = load(path), load(reference)
    np.testing.assert_array_equal(model.net.theta, expected.net.theta)
    np.testing.assert_array_equal(model.predict_proba(rows), expected.predict_proba(rows))
    assert model.history["loss"] == expected.history["loss"]
    assert model.history["val_loss"] == expected.history["val_loss"]


# ---------------------------------------------------------------------- the trainer itself
class InterruptAt(Callback):
    """Requests an interrupt after the given (1-based) mini-batch, counted over the whole run."""

    def __init__(self, batch: int) -> None:
        self.batch, self.seen = batch, 0

    def on_batch_end(self, trainer: Trainer, batch: int, loss: float) -> None:
        self.seen += 1
        if self.seen == self.batch:
            trainer.request_interrupt()


def small_problem():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3, 70))
    return X, np.eye(2)[:, (X[0] * X[1] > 0).astype(int)]


def new_trainer(net_seed: int = 0, trainer_seed: int = 5) -> Trainer:
    net = DNN([3, 6, 2], "tanh", "softmax", seed=net_seed, dtype="float32")
    return Trainer(net, "adam", 0.05, batch_size=8, dropout=0.2, seed=trainer_seed)


FIT = {"validation_fraction": 0.25, "early_stopping": True, "patience": 2}


def test_an_interrupt_after_any_batch_resumes_to_the_same_weights_through_a_file(tmp_path):
    X, Y = small_problem()
    straight = new_trainer()
    straight.fit(X, Y, 12, **FIT)
    assert straight.epoch < 12, "early stopping must end the run early for this test to cover it"
    total_batches = straight.epoch * 7  # 52 training columns (18 held out) in batches of 8
    for stop in range(1, total_batches + 1):
        interrupted = new_trainer()
        interrupted.callbacks = [InterruptAt(stop)]
        try:
            interrupted.fit(X, Y, 12, **FIT)
        except TrainingInterrupted:
            pass
        save_checkpoint(tmp_path / "c.npz", interrupted)
        resumed = new_trainer(net_seed=9, trainer_seed=0)  # every bit of state must come from the file
        load_checkpoint(tmp_path / "c.npz").restore(resumed)
        left = resumed.epochs_left(12, early_stopping=True, patience=2)
        if left:
            resumed.fit(X, Y, left, **FIT)
        else:
            resumed.restore_best_weights()
        np.testing.assert_array_equal(resumed.net.theta, straight.net.theta, err_msg=f"stop {stop}")
        assert resumed.history.loss == straight.history.loss
        assert resumed.history.val_loss == straight.history.val_loss
        assert resumed.epochs_without_improvement == straight.epochs_without_improvement
        np.testing.assert_array_equal(resumed.best_theta, straight.best_theta)


def test_a_second_fit_validates_on_the_same_held_out_columns(monkeypatch):
    X, Y = small_problem()
    X[2] = np.arange(X.shape[1])  # row 2 numbers the columns, so the held-out ones can be named
    trainer = new_trainer()
    evaluated = []
    evaluate = trainer.evaluate
    monkeypatch.setattr(
        trainer, "evaluate", lambda Xv, Yv: evaluated.append(Xv[2].tolist()) or evaluate(Xv, Yv)
    )
    trainer.fit(X, Y, 1, validation_fraction=0.25)
    trainer.fit(X, Y, 1, validation_fraction=0.25)
    assert len(evaluated) == 2 and len(evaluated[0]) == 18
    assert evaluated[1] == evaluated[0]


# ---------------------------------------------------------------------- the command, killed and resumed
TRAIN = [
    "train", "--hidden", "16", "--batch-size", "1", "--epochs", "8", "--dropout", "0.1",
    "--validation-fraction", "0.2", "--early-stopping", "--seed", "3",
]  # fmt: skip


@dataclass
class Reference:
    """The uninterrupted run: its model file, data, test rows and how long its training took."""

    data: Path
    model: Path
    rows: np.ndarray
    train_seconds: float


def start(argv: list) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, *map(str, argv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_line(process: subprocess.Popen, prefix: str, limit: float = 120.0) -> str:
    """Read the process's output until a line starts with ``prefix``; fails after ``limit`` seconds."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if selector.select(timeout=1.0):
            line = process.stdout.readline()
            if line.startswith(prefix):
                return line
            assert line, f"output ended before a line starting with {prefix!r}: {process.stderr.read()}"
    raise AssertionError(f"no line starting with {prefix!r} within {limit} s")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Reference:
    folder = tmp_path_factory.mktemp("reference")
    data = make_blobs(folder / "blobs.npz", 2500)
    result = subprocess.run(
        [*CLI, *TRAIN, "--data", str(data), "--out", str(folder / "ref.npz"), "--quiet", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    seconds = float(result.stdout.splitlines()[-1].split('"train_seconds": ')[1].split(",")[0])
    return Reference(data, folder / "ref.npz", np.load(data)["X"][:300], seconds)


def test_sigkill_at_random_moments_then_resume_ends_with_the_identical_model(reference, tmp_path):
    moments = random.Random(20240611)
    for trial in range(4):
        folder, out = tmp_path / f"checkpoints{trial}", tmp_path / f"model{trial}.npz"
        argv = [*TRAIN, "--data", reference.data, "--out", out, "--checkpoint-dir", folder]
        victim = start(argv)
        wait_for_line(victim, "training")  # printed just before the first epoch starts
        started = time.monotonic()
        epoch = moments.randint(2, 7) if trial else 0  # trial 0: inside epoch 1, before any checkpoint
        if epoch:
            wait_for_line(victim, f"epoch {epoch}/8")  # checkpoint epoch-{epoch - 1} is complete
        epoch_seconds = (time.monotonic() - started) / epoch if epoch else reference.train_seconds / 8
        time.sleep(moments.random() * epoch_seconds)  # a seeded moment within the next epoch
        victim.kill()  # SIGKILL: no handler, no cleanup, possibly in the middle of a write
        victim.communicate(timeout=60)
        if out.exists():  # the run finished first: its file is complete (written atomically)
            load(out)
        resumed = subprocess.run(
            [*CLI, *map(str, argv), "--resume"], capture_output=True, text=True, timeout=300
        )
        assert resumed.returncode == 0, resumed.stderr
        if epoch:
            assert f"resume    from {folder}{os.sep}epoch-" in resumed.stdout
        assert_same_model(out, reference.model, reference.rows)
        assert list(folder.glob(".*.tmp")) == []


def test_ctrl_c_finishes_the_batch_writes_a_checkpoint_and_exits_130(reference, tmp_path):
    folder, out = tmp_path / "checkpoints", tmp_path / "model.npz"
    process = start([*TRAIN, "--data", reference.data, "--out", out, "--checkpoint-dir", folder])
    wait_for_line(process, "epoch 2/8")
    time.sleep(reference.train_seconds / 16)  # about half an epoch on: mostly lands inside epoch 3
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith("mlpkit train: Training interrupted ")  # at epoch E, after batch B
    checkpoint = Path(lines[0].split("checkpoint written to ")[1].split(";")[0])
    assert checkpoint.parent == folder and checkpoint.is_file()
    assert load_checkpoint(checkpoint).trainer_meta["epoch"] >= 2
    assert not out.exists()
    command = shlex.split(lines[0].split("to resume: ")[1])
    assert command[0] == "mlpkit" and command[-1] == "--resume"
    resumed = subprocess.run([*CLI, *command[1:]], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resume    from {checkpoint}" in resumed.stdout
    assert_same_model(out, reference.model, reference.rows)


def test_ctrl_c_without_a_checkpoint_folder_says_nothing_was_saved(reference, tmp_path):
    out = tmp_path / "model.npz"
    process = start([*TRAIN, "--data", reference.data, "--out", out])
    wait_for_line(process, "epoch 1/8")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert stderr.count("\n") == 1 and "nothing was saved (no --checkpoint-dir)" in stderr
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- in-process runs
SMALL = [
    "train",
    "--hidden",
    "6",
    "--batch-size",
    "8",
    "--dropout",
    "0.2",
    "--validation-fraction",
    "0.2",
    "--quiet",
]


@pytest.fixture
def small_data(tmp_path) -> Path:
    return make_blobs(tmp_path / "small.npz", 200, seed=4)


def run(argv: list, capsys) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> content), to show that nothing changed."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_resume_with_more_epochs_equals_the_longer_run_and_keeps_two_checkpoints(
    small_data, tmp_path, capsys
):
    base = [*SMALL, "--data", small_data]
    assert run([*base, "--epochs", "5", "--out", tmp_path / "straight.npz"], capsys)[0] == 0
    argv = [*base, "--checkpoint-dir", tmp_path / "ck", "--out", tmp_path / "m.npz"]
    assert run([*argv, "--epochs", "3"], capsys)[0] == 0
    assert sorted(folder_bytes(tmp_path / "ck")) == ["epoch-0002.npz", "epoch-0003.npz"]
    assert run([*argv, "--epochs", "5", "--resume"], capsys)[0] == 0
    assert sorted(folder_bytes(tmp_path / "ck")) == ["epoch-0004.npz", "epoch-0005.npz"]
    rows = np.load(small_data)["X"]
    assert_same_model(tmp_path / "m.npz", tmp_path / "straight.npz", rows)


def test_a_damaged_newest_checkpoint_and_stale_temporaries_fall_back_to_the_one_before(
    small_data, tmp_path, capsys
):
    base = [*[flag for flag in SMALL if flag != "--quiet"], "--data", small_data, "--epochs", "3"]
    assert run([*base, "--out", tmp_path / "straight.npz"], capsys)[0] == 0
    argv = [*base, "--checkpoint-dir", tmp_path / "ck", "--out", tmp_path / "m.npz"]
    assert run(argv, capsys)[0] == 0
    newest = tmp_path / "ck" / "epoch-0003.npz"
    newest.write_bytes(newest.read_bytes()[:100])  # cut short, as by a failing disk
    stale = tmp_path / "ck" / ".epoch-0004.npz.x1y2.tmp"
    stale.write_bytes(b"half a checkpoint")
    (tmp_path / "m.npz").unlink()
    code, out, err = run([*argv, "--resume"], capsys)
    assert code == 0
    assert err.startswith(f"mlpkit train: warning: skipped {newest}: {newest}: not a zip archive")
    assert "epoch-0002.npz: 2 of 3 epochs done" in out
    assert not stale.exists()
    assert_same_model(tmp_path / "m.npz", tmp_path / "straight.npz", np.load(small_data)["X"])


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (["--lr", "0.01"], ["--lr 0.001 there, 0.01 now", "only --epochs may change"]),
        (["--hidden", "7"], ["--hidden 6 there, 7 now"]),
        (["--batch-size", "4", "--seed", "1"], ["--batch-size 8 there, 4 now", "--seed 0 there, 1 now"]),
        (["--early-stopping"], ["--early-stopping False there, True now"]),
        (["--epochs", "1"], ["has already trained 2 epochs, more than --epochs 1"]),
    ],
)
def test_resume_with_other_arguments_is_refused_and_changes_nothing(
    change, fragments, small_data, tmp_path, capsys
):
    argv = [*SMALL, "--data", small_data, "--checkpoint-dir", tmp_path / "ck", "--out", tmp_path / "m.npz"]
    assert run([*argv, "--epochs", "2"], capsys)[0] == 0
    (tmp_path / "m.npz").unlink()
    before = folder_bytes(tmp_path / "ck")
    code, out, err = run([*argv, "--epochs", "2", *change, "--resume"], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("mlpkit train: error: --resume: ")
    for fragment in fragments:
        assert fragment in err
    assert folder_bytes(tmp_path / "ck") == before
    assert not (tmp_path / "m.npz").exists()


def test_resume_on_changed_data_is_refused(small_data, tmp_path, capsys):
    argv = [*SMALL, "--data", small_data, "--epochs", "2", "--checkpoint-dir", tmp_path / "ck"]
    assert run([*argv, "--out", tmp_path / "m.npz"], capsys)[0] == 0
    make_blobs(small_data, 200, seed=5)  # same file name and shape, other rows
    code, _, err = run([*argv, "--out", tmp_path / "m2.npz", "--resume"], capsys)
    assert code == 2 and "the training data differ" in err
    assert not (tmp_path / "m2.npz").exists()


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--resume"], "--resume needs --checkpoint-dir DIR"),
        (["--checkpoint-dir", "{file}"], "is a file, not a folder"),
        (["--checkpoint-dir", "{file}/checkpoints"], "cannot create folder"),
        (["--checkpoint-dir", "{used}"], "already holds checkpoints (newest epoch-0002.npz); add --resume"),
    ],
)
def test_bad_checkpoint_folders_exit_2_before_training(flags, fragment, small_data, tmp_path, capsys):
    used = tmp_path / "used"
    assert (
        run(
            [
                *SMALL,
                "--data",
                small_data,
                "--epochs",
                "2",
                "--checkpoint-dir",
                used,
                "--out",
                tmp_path / "first.npz",
            ],
            capsys,
        )[0]
        == 0
    )
    (tmp_path / "file").write_text("a regular file, not a folder")
    flags = [flag.format(file=tmp_path / "file", used=used) for flag in flags]
    before = folder_bytes(tmp_path)
    code, out, err = run([*SMALL, "--data", small_data, "--out", tmp_path / "m.npz", *flags], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and fragment in err
    assert folder_bytes(tmp_path) == before


# ---------------------------------------------------------------------- full disks
class FullDisk:
    """A file that takes ``room`` bytes, then fails every write as a full disk (ENOSPC) does."""

    def __init__(self, handle, room: int, code: int = errno.ENOSPC) -> None:
        self.handle, self.room, self.code = handle, room, code

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(self.code, os.strerror(self.code))
        self.room -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)


def fail_writes(monkeypatch, after: int, code: int = errno.ENOSPC) -> None:
    """Let ``after`` archive writes succeed, then make each later one fail part way through."""
    write_archive = archive_module._write_archive
    calls = []

    def failing(handle, *args, **kwargs):
        calls.append(1)
        if len(calls) > after:
            handle = FullDisk(handle, room=200, code=code)
        return write_archive(handle, *args, **kwargs)

    monkeypatch.setattr(archive_module, "_write_archive", failing)


@pytest.mark.parametrize(("code", "exit_code"), [(errno.ENOSPC, 1), (errno.EACCES, 2)])
def test_a_failing_checkpoint_write_keeps_the_previous_checkpoint(
    code, exit_code, small_data, tmp_path, capsys, monkeypatch
):
    base = [*SMALL, "--data", small_data, "--epochs", "4"]
    assert run([*base, "--out", tmp_path / "straight.npz"], capsys)[0] == 0
    argv = [*base, "--checkpoint-dir", tmp_path / "ck", "--out", tmp_path / "m.npz"]
    with monkeypatch.context() as patch:
        fail_writes(patch, after=2, code=code)
        code_seen, out, err = run(argv, capsys)
    assert code_seen == exit_code and err.count("\n") == 1
    assert f"cannot write {tmp_path / 'ck' / 'epoch-0003.npz'}: {os.strerror(code)}" in err
    assert sorted(folder_bytes(tmp_path / "ck")) == ["epoch-0001.npz", "epoch-0002.npz"]  # no temporaries
    assert not (tmp_path / "m.npz").exists()
    assert run([*argv, "--resume"], capsys)[0] == 0  # the kept checkpoint is whole: resume from it
    assert_same_model(tmp_path / "m.npz", tmp_path / "straight.npz", np.load(small_data)["X"])


def test_a_full_disk_at_the_end_leaves_the_previous_model_file_unchanged(
    small_data, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "m.npz"
    argv = [*SMALL, "--data", small_data, "--epochs", "2", "--out", out]
    assert run(argv, capsys)[0] == 0
    before = out.read_bytes()
    with monkeypatch.context() as patch:
        fail_writes(patch, after=0)
        code, _, err = run([*argv, "--lr", "0.01"], capsys)
    assert code == 1 and f"cannot write {out}: No space left on device" in err
    assert out.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["m.npz", "small.npz"]


def test_the_checkpoint_folder_orders_epochs_and_interrupted_epochs(tmp_path):
    for name in [
        "epoch-0003.npz",
        "epoch-0010.npz",
        "epoch-0004-batch-000017.npz",
        "epoch-0004.npz",
        "notes.txt",
    ]:
        (tmp_path / name).write_bytes(b"")
    names = [entry.path.name for entry in CheckpointFolder(tmp_path, {}).entries()]
    assert names == ["epoch-0003.npz", "epoch-0004-batch-000017.npz", "epoch-0004.npz", "epoch-0010.npz"]
