"""Checkpoint folders: a checkpoint per epoch (or per interrupt), resuming from the newest one.

A folder holds ``epoch-0003.npz``, written at the end of epoch 3, and after an interrupt
``epoch-0004-batch-000017.npz``, 17 batches into epoch 4. Each file is written atomically by
:func:`~mlpkit.io.save_checkpoint` (a killed run leaves at most a hidden temporary
file, removed on resume), and only the two newest are kept. Every checkpoint records the
run's settings and a digest of its training data, so resuming with other ones is refused.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlpkit.datasets.source import is_mapped
from mlpkit.io import Checkpoint, load_checkpoint, save_checkpoint
from mlpkit.training.callbacks import Callback
from mlpkit.training.trainer import Trainer

CHECKPOINT_FILE = re.compile(r"epoch-(\d{4,})(?:-batch-(\d{6,}))?\.npz")
TEMPORARY_FILES = ".epoch-*.npz.*.tmp"  # what atomic_write leaves when the process is killed
KEEP = 2
SETTINGS_KEY = "run_settings"


def data_digest(X: np.ndarray, Y: np.ndarray, codes: np.ndarray | None = None) -> str | None:
    """SHA-256 of the training arrays (and the codes, with learned inputs), or None for memory-mapped
    data (too large to read again)."""
    if is_mapped(X) or is_mapped(Y):
        return None
    digest = hashlib.sha256()
    for array in (X, Y) if codes is None else (X, Y, np.asarray(codes, dtype=np.int64)):
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(np.ascontiguousarray(array.T).data)  # rows: no copy for a transposed view
    return digest.hexdigest()


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
