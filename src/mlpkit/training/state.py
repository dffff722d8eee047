"""The trainer's state: where an epoch stands, and the arrays and metadata of an exact resume.

:func:`state_dict` and :func:`load_state_dict` are the one description of what a resume needs;
checkpoint files store exactly what they return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlpkit.schedules import ReduceOnPlateau
from mlpkit.training.callbacks import History
from mlpkit.training.data import ValidationSplit, generator_at

if TYPE_CHECKING:
    from mlpkit.training.trainer import Trainer


@dataclass
class EpochProgress:
    """Where the current epoch stands: its batch order, the samples done, running sums, starting weights."""

    rng_state: dict  # the generator's state before the epoch drew its batch order
    order: np.ndarray | None  # the columns in batch order (rebuilt from rng_state after a resume)
    samples_done: int
    total_loss: float
    correct: float
    start_theta: np.ndarray  # the weights divergence falls back to
    rows: int  # m, the number of training columns
    start_phi: np.ndarray | None = None  # with learned inputs, the embeddings divergence falls back to

    def to_meta(self) -> dict:
        """The JSON part of an interrupted epoch's position (``start_theta``, ``start_phi`` are arrays)."""
        return {
            "rng": self.rng_state,
            "rows": self.rows,
            "samples_done": self.samples_done,
            "total_loss": self.total_loss,
            "correct": self.correct,
        }


def state_dict(trainer: Trainer) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays (parameters, optimizer state, best weights) and JSON metadata for an exact resume.

    With learned inputs the embeddings come too: ``phi``, ``best_phi``, ``epoch_start_phi`` and the
    optimizer's state for ``phi`` (``optimizer.m.phi`` ...).
    """
    arrays: dict[str, np.ndarray] = {name: vector.copy() for name, vector in trainer.parameters.items()}
    meta: dict = {
        "epoch": trainer.epoch,
        "rng": trainer.rng.bit_generator.state,
        "history": trainer.history.to_dict(),
        "best_loss": trainer.best_loss,
        "epochs_without_improvement": trainer.epochs_without_improvement,
        "optimizer": {},
    }
    for name, value in trainer.optimizer.state_dict().items():
        if isinstance(value, np.ndarray):
            arrays[f"optimizer.{name}"] = value.copy()
        else:
            meta["optimizer"][name] = value
    if isinstance(trainer.schedule, ReduceOnPlateau):
        schedule = trainer.schedule
        meta["plateau"] = {"scale": schedule.scale, "best": schedule.best, "wait": schedule.wait}
    if trainer.best_theta is not None:
        arrays["best_theta"] = trainer.best_theta.copy()
    if trainer.best_phi is not None:
        arrays["best_phi"] = trainer.best_phi.copy()
    if trainer.validation_split.state is not None:
        meta["validation_split"] = dict(trainer.validation_split.state)
    progress = trainer.epoch_progress
    if progress is not None:  # interrupted inside an epoch: where it stands
        meta["epoch_progress"] = progress.to_meta()
        arrays["epoch_start_theta"] = progress.start_theta.copy()
        if progress.start_phi is not None:
            arrays["epoch_start_phi"] = progress.start_phi.copy()
    return arrays, meta


def load_state_dict(trainer: Trainer, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Restore what :func:`state_dict` produced into ``trainer``."""
    theta = np.asarray(arrays["theta"])
    net = trainer.net
    if theta.shape != net.theta.shape:
        raise ValueError(f"checkpoint has {theta.size} parameters, the network has {net.theta.size}")
    net.theta[...] = theta
    _load_phi(trainer, arrays)
    optimizer_state = dict(meta["optimizer"])
    optimizer_state.update(
        {k[len("optimizer.") :]: v for k, v in arrays.items() if k.startswith("optimizer.")}
    )
    trainer.optimizer.load_state_dict(optimizer_state)
    trainer.epoch = int(meta["epoch"])
    trainer.rng.bit_generator.state = meta["rng"]
    trainer.history = History.from_dict(meta["history"])
    trainer.best_loss = float(meta["best_loss"])
    trainer.epochs_without_improvement = int(meta["epochs_without_improvement"])
    if "plateau" in meta and isinstance(trainer.schedule, ReduceOnPlateau):
        plateau = meta["plateau"]
        trainer.schedule.scale, trainer.schedule.best = float(plateau["scale"]), float(plateau["best"])
        trainer.schedule.wait = int(plateau["wait"])
    trainer.best_theta = np.asarray(arrays["best_theta"]).copy() if "best_theta" in arrays else None
    trainer.best_phi = _phi_like(trainer, arrays, "best_phi")
    trainer.validation_split = ValidationSplit(meta.get("validation_split"))
    progress = _progress_from_state(net.theta, arrays, meta.get("epoch_progress"))
    if progress is not None and trainer.inputs is not None:
        if "epoch_start_phi" not in arrays:
            raise ValueError("an interrupted epoch with embeddings needs its array 'epoch_start_phi'")
        progress.start_phi = _phi_like(trainer, arrays, "epoch_start_phi")
    trainer.epoch_progress = progress


def _load_phi(trainer: Trainer, arrays: dict[str, np.ndarray]) -> None:
    """The embeddings ``phi`` into the trainer's inputs; ValueError when the two sides disagree."""
    if trainer.inputs is None:
        if "phi" in arrays:
            raise ValueError("the state holds embeddings (phi), but the trainer has no inputs for them")
        return
    if "phi" not in arrays:
        raise ValueError("the trainer learns embeddings, but the state holds none (no array 'phi')")
    trainer.inputs.phi = _phi_like(trainer, arrays, "phi")


def _phi_like(trainer: Trainer, arrays: dict[str, np.ndarray], name: str) -> np.ndarray | None:
    """A copy of ``arrays[name]``, checked to be ``phi``-sized (None when absent or without inputs)."""
    if name not in arrays or trainer.inputs is None:
        return None
    phi = trainer.inputs.phi
    value = np.asarray(arrays[name], dtype=phi.dtype)
    if value.shape != phi.shape:
        raise ValueError(f"{name} has {value.size} entries, the embeddings have {phi.size}")
    return value.copy()


def _progress_from_state(theta: np.ndarray, arrays: dict[str, np.ndarray], progress: dict | None):
    if progress is None:
        return None
    start_theta = np.asarray(arrays["epoch_start_theta"], dtype=theta.dtype)
    if start_theta.shape != theta.shape:
        raise ValueError(f"epoch_start_theta has {start_theta.size} parameters, the network has {theta.size}")
    rows, done = int(progress["rows"]), int(progress["samples_done"])
    if not 0 < done < rows:
        raise ValueError(f"epoch_progress.samples_done must be in (0, {rows}), got {done}")
    generator_at(progress["rng"])  # a malformed generator state fails here, not mid-epoch
    total_loss, correct = float(progress["total_loss"]), float(progress["correct"])
    return EpochProgress(progress["rng"], None, done, total_loss, correct, start_theta.copy(), rows)
