"""Checkpoint folders: a checkpoint per epoch (or per interrupt), resuming from the newest one.

A folder holds ``epoch-0003.npz``, written at the end of epoch 3, and after an interrupt
``epoch-0004-batch-000017.npz``, 17 batches into epoch 4. Each file is written atomically by
:func:`~mlpkit.io.save_checkpoint` (a killed run leaves at most a hidden temporary
file, removed on resume), and only the two newest are kept. Every checkpoint records the
run's settings and a digest of its training data (memory-mapped files included), so resuming
with other ones is refused. A run holds a lock on the folder (an ``flock`` the system releases
when the process ends, even when it is killed), so a second run on the same folder is refused
instead of replacing the first one's checkpoints.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlpkit.datasets.source import is_mapped

try:
    import fcntl
except ImportError:  # no flock on this system: folders are not locked
    fcntl = None
from mlpkit.io import Checkpoint, load_checkpoint, save_checkpoint
from mlpkit.training.callbacks import Callback
from mlpkit.training.trainer import Trainer

CHECKPOINT_FILE = re.compile(r"epoch-(\d{4,})(?:-batch-(\d{6,}))?\.npz")
TEMPORARY_FILES = ".epoch-*.npz.*.tmp"  # what atomic_write leaves when the process is killed
KEEP = 2
SETTINGS_KEY = "run_settings"
READ_BYTES = 8 << 20


def data_digest(X: np.ndarray, Y: np.ndarray, codes: np.ndarray | None = None) -> str:
    """SHA-256 of the training arrays (and the codes, with learned inputs); of memory-mapped data, the
    bytes of its files (read once, a chunk at a time) and the rows taken from them."""
    digest = hashlib.sha256()
    for array in (X, Y) if codes is None else (X, Y, np.asarray(codes, dtype=np.int64)):
        digest.update(str((array.shape, array.dtype.str)).encode())
        if is_mapped(array):
            _digest_mapped(digest, array.T)
        else:
            digest.update(np.ascontiguousarray(array.T).data)  # rows: no copy for a transposed view
    return digest.hexdigest()


def _digest_mapped(digest, rows) -> None:
    """Feed the mapped files' bytes and the positions of the rows used into ``digest``."""
    for path in rows.paths:
        with open(path, "rb") as handle:
            while block := handle.read(READ_BYTES):
                digest.update(block)
    if rows.index is not None:
        digest.update(np.ascontiguousarray(rows.index, dtype=np.int64).data)


class FolderLock:
    """An exclusive ``flock`` on the folder itself: no file is added, and the system releases it when the
    process ends, however it ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.descriptor: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise ValueError naming the folder another run holds."""
        if fcntl is None or self.descriptor is not None:
            return
        descriptor = os.open(self.folder, os.O_RDONLY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise ValueError(
                f"{self.folder} is in use by another training run; wait for it to end, or choose another "
                "folder"
            ) from None
        except OSError:  # a file system without locks: the run goes on unlocked
            os.close(descriptor)
            return
        self.descriptor = descriptor

    def release(self) -> None:
        """Let the lock go (closing the descriptor releases the flock)."""
        if self.descriptor is not None:
            with contextlib.suppress(OSError):
                os.close(self.descriptor)
            self.descriptor = None


@dataclass(frozen=True)
class _Entry:
    """A checkpoint file and where it stands: completed epochs, then samples into the next one."""

    path: Path
    epochs_done: int
    batches_done: int

    @property
    def order(self) -> tuple[int, int]:
        return self.epochs_done, self.batches_done


def _entry(path: Path) -> _Entry | None:
    match = CHECKPOINT_FILE.fullmatch(path.name)
    if match is None or not path.is_file():
        return None
    epoch, batch = int(match.group(1)), match.group(2)
    if batch is None:
        return _Entry(path, epoch, 0)
    return _Entry(path, epoch - 1, int(batch))


class CheckpointFolder:
    """A run's checkpoint folder: writes the trainer's state, finds the newest readable checkpoint.

    ``settings`` (JSON values) describe the run; a resume whose settings differ, except in
    ``epochs``, is refused with the differences named as ``--option`` values.
    """

    def __init__(self, folder: str | Path, settings: dict) -> None:
        self.folder = Path(folder)
        self.settings = dict(settings)
        self.lock = FolderLock(self.folder)

    def create(self) -> None:
        """Create the folder (and its parents), or raise ValueError saying why it cannot be."""
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(f"{self.folder} is a file, not a folder")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"cannot create folder {self.folder}: {error.strerror or error}") from None

    def entries(self) -> list[_Entry]:
        """The checkpoint files, oldest first."""
        found = (_entry(path) for path in self.folder.iterdir()) if self.folder.is_dir() else ()
        return sorted((entry for entry in found if entry is not None), key=lambda entry: entry.order)

    def remove_temporaries(self) -> list[Path]:
        """Delete the partial files a killed write left behind; returns them."""
        stale = sorted(self.folder.glob(TEMPORARY_FILES)) if self.folder.is_dir() else []
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    def newest(self) -> tuple[Checkpoint | None, list[str]]:
        """The newest checkpoint that loads, and one line per newer file that did not."""
        skipped = []
        for entry in reversed(self.entries()):
            try:
                return load_checkpoint(entry.path), skipped
            except ValueError as error:
                skipped.append(f"skipped {entry.path}: {error}")
        return None, skipped

    def check_settings(self, checkpoint: Checkpoint, epochs: int) -> None:
        """Raise ValueError naming each setting in which this run differs from the checkpoint's."""
        stored = checkpoint.config.get(SETTINGS_KEY)
        if not isinstance(stored, dict):
            raise ValueError(f"{checkpoint.path}: holds no run settings, so it cannot be resumed here")
        differences = [
            _difference(key, stored.get(key), value)
            for key, value in self.settings.items()
            if key != "epochs" and stored.get(key) != value
        ]
        if differences:
            raise ValueError(
                f"{checkpoint.path} was written by a run with other settings ({'; '.join(differences)}); "
                "resume with the same arguments (only --epochs may change) or use another folder"
            )
        done = int(checkpoint.trainer_meta["epoch"])
        if done > epochs:
            raise ValueError(
                f"{checkpoint.path} has already trained {done} epochs, more than --epochs {epochs}"
            )

    def write(self, trainer: Trainer) -> Path:
        """Save the trainer's state as the next checkpoint, then delete all but the newest two."""
        path = self.folder / _file_name(trainer)
        save_checkpoint(path, trainer, {SETTINGS_KEY: self.settings})
        for entry in self.entries()[:-KEEP]:
            if entry.path != path:
                entry.path.unlink(missing_ok=True)
        return path


def _file_name(trainer: Trainer) -> str:
    if trainer.samples_done == 0:
        return f"epoch-{trainer.epoch:04d}.npz"
    batches = -(-trainer.samples_done // trainer.batch_size)
    return f"epoch-{trainer.epoch + 1:04d}-batch-{batches:06d}.npz"


def _difference(key: str, stored: object, value: object) -> str:
    if key == "data_digest":
        return "the training data differ"
    return f"--{key.replace('_', '-')} {_shown(stored)} there, {_shown(value)} now"


def _shown(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value) or '""'
    return repr(value) if isinstance(value, str) else str(value)


class EpochCheckpoints(Callback):
    """Writes a checkpoint into a :class:`CheckpointFolder` at the end of every epoch."""

    def __init__(self, folder: CheckpointFolder) -> None:
        self.folder = folder

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        self.folder.write(trainer)
