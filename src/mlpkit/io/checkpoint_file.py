"""Checkpoint files: :class:`Checkpoint`, ``save_checkpoint``, ``load_checkpoint`` and the checkpoint schema.

A checkpoint holds the trainer's flat parameter vectors (``theta``, and ``best_theta`` and
``epoch_start_theta`` when the trainer has them), the optimizer's state vectors and a JSON
entry with the architecture, a config and the trainer's metadata, every field of which is
checked against :data:`TRAINER_SCHEMA` before anything is restored.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlpkit.io.archive import _Archive, _open_archive, _save_archive
from mlpkit.io.model_file import _architecture, _parameter_count, network_from_architecture
from mlpkit.network import DNN

CHECKPOINT_PARAMETERS = ("theta", "best_theta", "epoch_start_theta")
OPTIMIZER_ARRAY = re.compile(r"optimizer\.[a-z_]{1,32}\.theta")


@dataclass
class Checkpoint:
    """A training snapshot: :meth:`Trainer.state_dict` arrays and metadata, the architecture and a config."""

    arrays: dict[str, np.ndarray]
    trainer_meta: dict
    architecture: dict
    config: dict = field(default_factory=dict)
    path: str = ""  # the file it was read from, named in errors

    def network(self) -> DNN:
        """A :class:`DNN` with the checkpoint's architecture and parameters ``theta``."""
        net = network_from_architecture(self.architecture)
        net.theta[...] = self.arrays["theta"]
        return net

    def restore(self, trainer: Any) -> None:
        """Load the snapshot into ``trainer`` (its network must have the same architecture)."""
        where = f"{self.path}: " if self.path else ""
        if trainer.net.config() != self.architecture:
            raise ValueError(
                f"{where}the checkpoint's architecture {self.architecture} differs "
                f"from the trainer's {trainer.net.config()}"
            )
        try:
            trainer.load_state_dict(self.arrays, self.trainer_meta)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{where}cannot restore this checkpoint: {error!r}") from None


def save_checkpoint(path: str | os.PathLike, trainer: Any, config: dict | None = None) -> Path:
    """Write ``trainer.state_dict()`` (and a JSON-serializable ``config``) to ``path`` atomically.

    Parameters that are NaN or infinite are refused (the trainer never pauses on such weights).
    """
    arrays, trainer_meta = trainer.state_dict()
    meta = {"architecture": trainer.net.config(), "trainer": trainer_meta, "config": dict(config or {})}
    return _save_archive(path, "checkpoint", meta, arrays, finite=CHECKPOINT_PARAMETERS, strict_json=False)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`, with the same checks as :func:`load`."""
    archive = _open_archive(path, "checkpoint")
    try:
        architecture = _architecture(archive)
        arrays = _read_arrays(archive, architecture)
        trainer_meta = _trainer_meta(archive)
        if ("epoch_progress" in trainer_meta) != ("epoch_start_theta" in arrays):
            raise archive.error("trainer.epoch_progress and array 'epoch_start_theta' must come together")
        config = archive.json_object("config")
        return Checkpoint(arrays, trainer_meta, architecture, config, str(archive.path))
    finally:
        archive.close()


def _read_arrays(archive: _Archive, architecture: dict) -> dict[str, np.ndarray]:
    """Every array, each a flat vector of the architecture's parameter count and dtype."""
    shape = (_parameter_count(architecture["layer_sizes"]),)
    dtype = np.dtype(architecture["dtype"])
    names = archive.array_names()
    unexpected = {n for n in names if n not in CHECKPOINT_PARAMETERS and not OPTIMIZER_ARRAY.fullmatch(n)}
    if unexpected:
        raise archive.error(f"unexpected arrays {sorted(unexpected)}")
    if "theta" not in names:
        raise archive.error("array 'theta' is missing")
    return {
        name: archive.read_array(name, shape, dtype, finite=name in CHECKPOINT_PARAMETERS)
        for name in sorted(names)
    }


# ---------------------------------------------------------------------- the trainer's metadata
def _trainer_meta(archive: _Archive) -> dict:
    """The checkpoint's ``trainer`` entry, every field checked against :data:`TRAINER_SCHEMA`."""
    meta = archive.meta.get("trainer")
    if not isinstance(meta, dict):
        raise archive.error("trainer entry is missing or not an object")
    _check_schema(archive, "trainer", meta, TRAINER_SCHEMA)
    for key, schema in OPTIONAL_TRAINER_SCHEMA.items():
        if key in meta:
            _check_schema(archive, f"trainer.{key}", meta[key], schema)
    return meta


def _check_schema(archive: _Archive, where: str, value: Any, schema: str | dict) -> None:
    if isinstance(schema, str):
        accepts, expected = FIELD_CHECKS[schema]
        if not accepts(value):
            raise archive.error(f"{where} must be {expected}, got {value!r:.60}")
        return
    if not isinstance(value, dict):
        raise archive.error(f"{where} must be a JSON object, got {value!r:.60}")
    for key, item_schema in schema.items():
        items = value.items() if key == "*" else [(key, value.get(key))]
        for name, item in items:
            _check_schema(archive, f"{where}.{name}", item, item_schema)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_generator_state(value: Any) -> bool:
    """Whether numpy's PCG64 accepts ``value`` as its state (no other generator is ever stored)."""
    try:
        np.random.PCG64(0).state = value
    except (TypeError, ValueError, KeyError, OverflowError, AttributeError):
        return False
    return True


FIELD_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "count": (_is_count, "an integer >= 0"),
    "number": (_is_number, "a number"),
    "rate": (lambda v: _is_number(v) and math.isfinite(v) and v > 0, "a finite number > 0"),
    "fraction": (lambda v: _is_number(v) and 0 < v < 1, "a number in (0, 1)"),
    "numbers": (lambda v: isinstance(v, list) and all(map(_is_number, v)), "a list of numbers"),
    "generator": (_is_generator_state, "a PCG64 generator state"),
}
TRAINER_SCHEMA = {
    "epoch": "count",
    "epochs_without_improvement": "count",
    "best_loss": "number",
    "rng": "generator",
    "history": {"*": "numbers"},
    "optimizer": {"t": "count", "learning_rate": "rate"},
}
OPTIONAL_TRAINER_SCHEMA = {
    "plateau": {"scale": "number", "best": "number", "wait": "count"},
    "validation_split": {"rows": "count", "fraction": "fraction", "rng": "generator"},
    "epoch_progress": {
        "rows": "count",
        "samples_done": "count",
        "total_loss": "number",
        "correct": "number",
        "rng": "generator",
    },
}
