"""Checkpoint files: :class:`Checkpoint`, ``save_checkpoint``, ``load_checkpoint`` and the checkpoint schema.

A checkpoint holds the trainer's flat parameter vectors (``theta``, and ``best_theta`` and
``epoch_start_theta`` when the trainer has them), the optimizer's state vectors and a JSON
entry with the architecture, a config and the trainer's metadata, every field of which is
checked against :data:`TRAINER_SCHEMA` before anything is restored. A trainer that learns
embeddings adds their sizes (the JSON ``inputs`` entry, checked against the architecture and
bounded like it) and the embedding vectors ``phi``, ``best_phi``, ``epoch_start_phi`` and the
optimizer's state for ``phi``, each read with exactly the size those sizes give.
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

from mlpkit.embeddings import EmbeddingInput
from mlpkit.io.archive import _Archive, _open_archive, _save_archive
from mlpkit.io.model_file import MAX_PARAMETERS, _architecture, _parameter_count, network_from_architecture
from mlpkit.network import DNN

CHECKPOINT_PARAMETERS = ("theta", "best_theta", "epoch_start_theta")
EMBEDDING_PARAMETERS = ("phi", "best_phi", "epoch_start_phi")
OPTIMIZER_ARRAY = re.compile(r"optimizer\.[a-z_]{1,32}\.(theta|phi)")


@dataclass
class Checkpoint:
    """A training snapshot: :meth:`Trainer.state_dict` arrays and metadata, the architecture and a config."""

    arrays: dict[str, np.ndarray]
    trainer_meta: dict
    architecture: dict
    config: dict = field(default_factory=dict)
    path: str = ""  # the file it was read from, named in errors
    inputs: dict | None = None  # the embeddings' sizes (EmbeddingInput.config()) when they are learned

    def network(self) -> DNN:
        """A :class:`DNN` with the checkpoint's architecture and parameters ``theta``."""
        net = network_from_architecture(self.architecture)
        net.theta[...] = self.arrays["theta"]
        return net

    def embeddings(self) -> EmbeddingInput | None:
        """The :class:`EmbeddingInput` with the checkpoint's sizes and vectors ``phi`` (None without)."""
        if self.inputs is None:
            return None
        inputs = EmbeddingInput(**self.inputs, seed=0)
        inputs.phi = self.arrays["phi"]
        return inputs

    def restore(self, trainer: Any) -> None:
        """Load the snapshot into ``trainer`` (its network must have the same architecture)."""
        where = f"{self.path}: " if self.path else ""
        if trainer.net.config() != self.architecture:
            raise ValueError(
                f"{where}the checkpoint's architecture {self.architecture} differs "
                f"from the trainer's {trainer.net.config()}"
            )
        inputs = trainer.inputs.config() if getattr(trainer, "inputs", None) is not None else None
        if inputs != self.inputs:
            raise ValueError(
                f"{where}the checkpoint's embeddings {self.inputs} differ from the trainer's {inputs}"
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
    if getattr(trainer, "inputs", None) is not None:
        meta["inputs"] = trainer.inputs.config()
    finite = CHECKPOINT_PARAMETERS + EMBEDDING_PARAMETERS
    return _save_archive(path, "checkpoint", meta, arrays, finite=finite, strict_json=False)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`, with the same checks as :func:`load`."""
    archive = _open_archive(path, "checkpoint")
    try:
        architecture = _architecture(archive)
        inputs = _inputs(archive, architecture)
        arrays = _read_arrays(archive, architecture, inputs)
        trainer_meta = _trainer_meta(archive)
        starts = ("epoch_start_theta", "epoch_start_phi") if inputs is not None else ("epoch_start_theta",)
        for name in starts:
            if ("epoch_progress" in trainer_meta) != (name in arrays):
                raise archive.error(f"trainer.epoch_progress and array {name!r} must come together")
        config = archive.json_object("config")
        return Checkpoint(arrays, trainer_meta, architecture, config, str(archive.path), inputs)
    finally:
        archive.close()


def _read_arrays(archive: _Archive, architecture: dict, inputs: dict | None) -> dict[str, np.ndarray]:
    """Every array, each a flat vector of the architecture's parameter count (``theta``'s) or of
    the embeddings' (``phi``'s), in the architecture's dtype."""
    sizes = {"theta": _parameter_count(architecture["layer_sizes"])}
    expected = set(CHECKPOINT_PARAMETERS)
    if inputs is not None:
        sizes["phi"] = _embedding_count(inputs)
        expected |= set(EMBEDDING_PARAMETERS)
    dtype = np.dtype(architecture["dtype"])
    names = archive.array_names()
    optimizer = {n: OPTIMIZER_ARRAY.fullmatch(n) for n in names - expected}
    unexpected = {n for n, match in optimizer.items() if match is None or match.group(1) not in sizes}
    if unexpected:
        raise archive.error(f"unexpected arrays {sorted(unexpected)}")
    for required in sizes:
        if required not in names:
            raise archive.error(f"array {required!r} is missing")
    arrays = {}
    for name in sorted(names):
        vector = optimizer[name].group(1) if name in optimizer else name.rpartition("_")[2]
        finite = name not in optimizer
        arrays[name] = archive.read_array(name, (sizes[vector],), dtype, finite=finite)
    return arrays


def _embedding_count(inputs: dict) -> int:
    """Entries of ``phi``: ``sum_c d_c n_c``."""
    return sum(n_c * d_c for n_c, d_c in zip(inputs["vocabulary_sizes"], inputs["dimensions"], strict=True))


def _inputs(archive: _Archive, architecture: dict) -> dict | None:
    """The checked ``inputs`` entry (the embeddings' sizes), or None when the trainer learned none."""
    inputs = archive.meta.get("inputs")
    if inputs is None:
        return None
    _check_schema(archive, "inputs", inputs, INPUTS_SCHEMA)
    if set(inputs) != set(INPUTS_SCHEMA):
        raise archive.error(f"inputs must hold exactly {sorted(INPUTS_SCHEMA)}, got {sorted(inputs)}")
    vocabulary, dimensions = inputs["vocabulary_sizes"], inputs["dimensions"]
    if len(vocabulary) != len(dimensions):
        raise archive.error("inputs.vocabulary_sizes and inputs.dimensions must list as many columns")
    if inputs["dtype"] != architecture["dtype"]:
        raise archive.error(f"inputs.dtype must be the architecture's {architecture['dtype']}")
    n_x = architecture["layer_sizes"][0]
    if inputs["n_dense"] + sum(dimensions) != n_x:
        raise archive.error(f"inputs.n_dense + sum(inputs.dimensions) must be the network's n_x = {n_x}")
    n_phi = _embedding_count(inputs)
    if n_phi > MAX_PARAMETERS:
        raise archive.error(f"the embeddings hold {n_phi} numbers, above the {MAX_PARAMETERS} limit")
    return inputs


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
    "sizes": (
        lambda v: isinstance(v, list) and all(_is_count(n) and 1 <= n <= MAX_PARAMETERS for n in v),
        f"a list of integers in [1, {MAX_PARAMETERS}]",
    ),
    "dtype": (lambda v: v in ("float32", "float64"), "'float32' or 'float64'"),
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
INPUTS_SCHEMA = {"n_dense": "count", "vocabulary_sizes": "sizes", "dimensions": "sizes", "dtype": "dtype"}
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
