"""What the command writes: never over an input or another output, only regular files, locks and leftovers."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

import mlpkit
from mlpkit.cli import main
from mlpkit.io import atomic_write, check_outputs
from mlpkit.training.checkpoints import FolderLock


def run_cli(*args, **options) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlpkit.cli", *map(str, args)], capture_output=True, timeout=300, **options
    )


def one_line_error(capsys, code: int, argv: list, *fragments: str) -> str:
    assert main([str(arg) for arg in argv]) == code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Iris as a CSV and an NPZ, a model trained on the CSV, and a CSV of rows to predict."""
    folder = tmp_path_factory.mktemp("outputs")
    iris = load_iris()
    with open(folder / "iris.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "c", "d", "species"])
        for row, label in zip(iris.data, iris.target, strict=True):
            writer.writerow([*row, iris.target_names[label]])
    np.savez(folder / "iris.npz", X=iris.data, y=iris.target)
    argv = ["train", "--data", folder / "iris.csv", "--epochs", "2", "--quiet", "--out", folder / "m.npz"]
    assert main([str(arg) for arg in argv]) == 0
    with open(folder / "rows.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "c", "d"])
        writer.writerows(iris.data[:5].tolist())
    return folder


SAME_FILE_CASES = {
    "train data.csv": (["train", "--data", "{d}/iris.csv", "--out", "{d}/iris.csv"], "iris.csv", "--data"),
    "train data.npz": (["train", "--data", "{d}/iris.npz", "--out", "{d}/./iris.npz"], "iris.npz", "--data"),
    "predict over model": (
        ["predict", "{d}/m.npz", "{d}/rows.csv", "--output", "{d}/m.npz"],
        "m.npz",
        "MODEL",
    ),
    "predict over input": (
        ["predict", "{d}/m.npz", "{d}/rows.csv", "-o", "{d}/rows.csv"],
        "rows.csv",
        "INPUT",
    ),
    "export over model": (["export", "{d}/m.npz", "--onnx", "{d}/m.npz"], "m.npz", "MODEL"),
    "plot over model": (["plot", "{d}/m.npz", "--kind", "curves", "--out", "{d}/m.npz"], "m.npz", "MODEL"),
}


@pytest.mark.parametrize("case", SAME_FILE_CASES, ids=list(SAME_FILE_CASES))
def test_an_output_that_is_an_input_is_refused_and_the_input_is_unchanged(case, files, capsys):
    argv, victim, option = SAME_FILE_CASES[case]
    before = (files / victim).read_bytes()
    one_line_error(capsys, 2, [a.format(d=files) for a in argv], "is the same file as", option)
    assert (files / victim).read_bytes() == before


def test_links_to_an_input_are_the_input(files, tmp_path, capsys):
    before = (files / "m.npz").read_bytes()
    (tmp_path / "soft.npz").symlink_to(files / "m.npz")
    os.link(files / "m.npz", tmp_path / "hard.npz")
    for out in ("soft.npz", "hard.npz"):
        argv = ["predict", files / "m.npz", files / "rows.csv", "--out", tmp_path / out]
        one_line_error(capsys, 2, argv, "is the same file as MODEL")
    assert (files / "m.npz").read_bytes() == before


def test_two_outputs_of_one_command_cannot_share_a_file(files, tmp_path, capsys):
    argv = ["train", "--data", files / "iris.csv", "--out", tmp_path / "a.png", "--plot", tmp_path / "a.png"]
    one_line_error(capsys, 2, argv, "--plot", "is the same file as --out")
    assert not (tmp_path / "a.png").exists()


def test_special_files_are_refused_and_left_alone(files, tmp_path, capsys):
    argv = ["train", "--data", files / "iris.csv", "--epochs", "1", "--out", os.devnull]
    one_line_error(capsys, 2, argv, "--out", "character device", "not a regular file")
    assert Path(os.devnull).is_char_device()
    os.mkfifo(tmp_path / "fifo")  # nobody reads it: opening it for writing would block
    argv = ["predict", files / "m.npz", files / "rows.csv", "--out", tmp_path / "fifo"]
    one_line_error(capsys, 2, argv, "--out", "FIFO", "or - for standard output")
    assert (tmp_path / "fifo").is_fifo()


def test_dev_stdout_on_a_pipe_is_refused_and_dash_streams(files, tmp_path):
    done = run_cli("predict", files / "m.npz", files / "rows.csv", "--out", "/dev/stdout")
    assert done.returncode == 2 and b"FIFO" in done.stderr and done.stdout == b""
    streamed = run_cli("predict", files / "m.npz", files / "rows.csv", "--out", "-")
    written = run_cli("predict", files / "m.npz", files / "rows.csv", "--out", tmp_path / "p.csv")
    assert streamed.returncode == written.returncode == 0
    assert streamed.stdout == (tmp_path / "p.csv").read_bytes() and streamed.stdout.count(b"\n") == 6


def test_a_link_as_output_replaces_its_target_and_stays_a_link(tmp_path):
    (tmp_path / "target.txt").write_text("old")
    (tmp_path / "link.txt").symlink_to(tmp_path / "target.txt")
    check_outputs({"--out": tmp_path / "link.txt"})
    atomic_write(tmp_path / "link.txt", lambda handle: handle.write(b"new"))
    assert (tmp_path / "link.txt").is_symlink() and (tmp_path / "target.txt").read_text() == "new"


def test_a_second_run_on_a_locked_checkpoint_folder_is_refused(files, tmp_path, capsys):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    holder = FolderLock(folder)  # what a first run holds while it trains
    holder.acquire()
    try:
        argv = ["train", "--data", files / "iris.csv", "--epochs", "1", "--checkpoint-dir", folder]
        one_line_error(
            capsys, 2, [*argv, "--out", tmp_path / "b.npz"], "--checkpoint-dir", "in use by another"
        )
        assert list(folder.iterdir()) == [] and not (tmp_path / "b.npz").exists()
    finally:
        holder.release()
    assert main([str(a) for a in [*argv, "--quiet", "--out", tmp_path / "b.npz"]]) == 0
    assert sorted(path.name for path in folder.iterdir()) == ["epoch-0001.npz"]


def test_a_lock_held_by_another_process_ends_with_that_process(files, tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    code = "import fcntl, os, sys, time; d = os.open(sys.argv[1], os.O_RDONLY); "
    code += "fcntl.flock(d, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ValueError, match="in use by another training run"):
            FolderLock(folder).acquire()
    finally:
        holder.kill()
        holder.wait()
    lock = FolderLock(folder)
    lock.acquire()  # the killed process's lock went with it
    lock.release()


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_killed_writes_temporary_file_is_removed_by_the_next_write(tmp_path):
    stale = tmp_path / f".m.npz.mlpkit-{dead_pid()}-x1y2.tmp"
    live = tmp_path / f".m.npz.mlpkit-{os.getppid()}-z3.tmp"  # a writer still running: left alone
    other = tmp_path / f".n.npz.mlpkit-{dead_pid()}-q4.tmp"  # another file's: not this write's business
    for path in (stale, live, other):
        path.write_bytes(b"partial")
    atomic_write(tmp_path / "m.npz", lambda handle: handle.write(b"whole"))
    assert (tmp_path / "m.npz").read_bytes() == b"whole"
    assert not stale.exists() and live.exists() and other.exists()


def test_a_write_killed_midway_leaves_a_file_the_next_write_removes(tmp_path):
    code = (
        "import sys, time; from mlpkit.io import atomic_write\n"
        "def slow(handle):\n"
        "    handle.write(b'x'); handle.flush(); print('writing', flush=True); time.sleep(60)\n"
        "atomic_write(sys.argv[1], slow)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(mlpkit.__file__).parents[1])}
    writer = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "m.npz")], stdout=subprocess.PIPE, env=env
    )
    assert writer.stdout.readline().strip() == b"writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert len(list(tmp_path.glob(".m.npz.*.tmp"))) == 1
    atomic_write(tmp_path / "m.npz", lambda handle: handle.write(b"whole"))
    assert [path.name for path in tmp_path.iterdir()] == ["m.npz"]


def test_a_closed_pipe_ends_quietly(files):
    process = subprocess.Popen(
        [sys.executable, "-m", "mlpkit.cli", "info", str(files / "m.npz")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout.readline().startswith(b"model")
    process.stdout.close()  # as `| head -1` does
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    stderr = process.stderr.read()
    assert process.returncode in (0, 141) and stderr == b"", stderr


def test_ctrl_c_while_the_model_file_is_read_is_one_line(files, capsys, monkeypatch):
    import zipfile

    read = zipfile.ZipExtFile.read

    def interrupted(self, *args):
        monkeypatch.setattr(zipfile.ZipExtFile, "read", read)
        raise KeyboardInterrupt

    monkeypatch.setattr(zipfile.ZipExtFile, "read", interrupted)
    one_line_error(capsys, 130, ["info", files / "m.npz"], "interrupted")
