"""The trainer's data checks and its validation split, in the engine's layout (columns are samples)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from mlpkit.datasets.source import Columns, is_mapped
from mlpkit.datasets.source import check_columns as check_source_columns
from mlpkit.embeddings import EmbeddingInput
from mlpkit.network import DNN, check_finite

if TYPE_CHECKING:
    from mlpkit.training.trainer import Trainer


class TrainingData(NamedTuple):
    """A fit's checked training columns, with their codes and weights, and the validation columns."""

    X: Columns  # (n_x, m), or the dense rows (n_dense, m) with learned inputs
    Y: Columns  # (n_L, m)
    codes: np.ndarray | None = None  # (C, m) int64, with learned inputs
    sample_weight: np.ndarray | None = None  # (m,) float64
    validation: tuple | None = None  # (X, Y), or (X, Y, codes) with learned inputs


def training_data(
    trainer: Trainer, X, Y, codes=None, sample_weight=None, validation_data: tuple | None = None
) -> TrainingData:
    """The checked columns a ``fit`` trains on: its validation share held out or its validation data
    checked; the ranks agree on the setup (under MPI) before the split draws from the generator."""
    net, inputs, fraction = trainer.net, trainer.inputs, trainer.config.validation_fraction
    X, Y = check_columns(net, X, Y, "X", "Y", inputs)
    codes = check_codes(inputs, codes, X.shape[1], "codes")
    if sample_weight is not None:
        sample_weight = check_sample_weight(sample_weight, X.shape[1])
    trainer._parallel.synchronize(trainer, X.shape[1])
    data = TrainingData(X, Y, codes, sample_weight)
    if validation_data is None and fraction:
        return trainer.validation_split.split(data, fraction, trainer.rng)
    if validation_data is not None:
        X_val, Y_val, *codes_val = validation_data
        X_val, Y_val = check_columns(net, X_val, Y_val, "validation X", "validation Y", inputs)
        codes_val = codes_val[0] if codes_val else None
        codes_val = check_codes(inputs, codes_val, X_val.shape[1], "validation codes")
        validation = (X_val, Y_val) if inputs is None else (X_val, Y_val, codes_val)
        return data._replace(validation=validation)
    return data


def check_codes(inputs: EmbeddingInput | None, codes, m: int, name: str) -> np.ndarray | None:
    """The codes ``(C, m)`` as int64 when the trainer learns embeddings (None without), or ValueError."""
    if inputs is None:
        if codes is not None:
            raise ValueError(
                f"{name} were given, but the trainer has no embeddings to look them up in: build it "
                "with Trainer(net, ..., inputs=EmbeddingInput(...))"
            )
        return None
    if codes is None:
        shape = f"(C, m) = ({inputs.n_columns}, {m})"
        raise ValueError(f"the trainer learns embeddings: {name} {shape} are needed to build A0")
    return inputs.check_codes(codes, m, name)


def _check_dense(inputs: EmbeddingInput, X, name: str) -> np.ndarray:
    """``X`` as the dense rows of ``A0``, ``(n_dense, m)`` in the network's dtype, or ValueError."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] != inputs.n_dense:
        raise ValueError(
            f"{name} must hold the dense rows of A0, shape (n_dense, m) = ({inputs.n_dense}, m), "
            f"columns are samples (the embeddings add the other rows); got shape {X.shape}"
        )
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {X.dtype}")
    return X.astype(inputs.dtype, copy=False)


def check_columns(
    net: DNN, X: Columns, Y: Columns, x_name: str, y_name: str, inputs: EmbeddingInput | None = None
) -> tuple[Columns, Columns]:
    """``X`` ``(n_x, m)`` and ``Y`` ``(n_L, m)`` checked and cast, or ValueError naming the problem.

    With learned ``inputs``, ``X`` holds the dense rows of ``A0`` only, ``(n_dense, m)``.
    Memory-mapped data (see :mod:`mlpkit.datasets.mapped`) was checked in chunks when opened;
    here only its shape is, so it is never loaded or cast whole.
    """
    if is_mapped(X):
        check_source_columns(X, net.layer_sizes[0] if inputs is None else inputs.n_dense, None, x_name)
    else:
        X = net.check_X(X, x_name) if inputs is None else _check_dense(inputs, X, x_name)
        check_finite(X.T, f"{x_name} (as rows x features)")
    if X.shape[1] < 1:
        raise ValueError(f"{x_name} has no samples (m = 0); training needs at least one column")
    if is_mapped(Y):
        check_source_columns(Y, net.layer_sizes[-1], X.shape[1], y_name)
    else:
        Y = _check_targets(net, X, Y, y_name)
        check_finite(Y.T, f"{y_name} (as rows x outputs)")
    return X, Y


def _check_targets(net: DNN, X: np.ndarray, Y: np.ndarray, name: str) -> np.ndarray:
    Y = np.asarray(Y)
    n_L = net.layer_sizes[-1]
    if Y.ndim == 1 and n_L == 1:
        Y = Y.reshape(1, -1)
    if Y.ndim != 2 or Y.shape[0] != n_L or Y.shape[1] != X.shape[1]:
        raise ValueError(f"{name} must have shape (n_L, m) = ({n_L}, {X.shape[1]}) to match X, got {Y.shape}")
    if not np.issubdtype(Y.dtype, np.number):
        raise ValueError(f"{name} must hold numbers (one-hot or 0/1 labels), got dtype {Y.dtype}")
    return Y.astype(net.dtype, copy=False)


def check_sample_weight(sample_weight: np.ndarray, m: int) -> np.ndarray:
    """One finite weight >= 0 per sample, not all zero, as float64; or ValueError."""
    weight = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if weight.shape[0] != m:
        raise ValueError(f"sample_weight has {weight.shape[0]} entries, expected one per sample ({m})")
    if not np.isfinite(weight).all() or (weight < 0).any() or weight.sum() <= 0:
        raise ValueError("sample_weight must be finite, >= 0, and not all zero")
    return weight


class ValidationSplit:
    """Holds out a seeded share of the columns for validation, the same columns on every later fit.

    The permutation is drawn once from the trainer's generator; a later ``fit`` on as many
    columns with the same fraction (warm start, or a resume from ``state_dict``) draws it again
    from the kept generator state, so it never trains on what it validated on.
    """

    def __init__(self, state: dict | None = None) -> None:
        self.state = state  # rows, fraction and the generator state the permutation came from

    def split(self, data: TrainingData, fraction: float, rng: np.random.Generator) -> TrainingData:
        """The training columns of ``data`` with ``fraction`` of them held out as its ``validation``."""
        X, Y, codes, sample_weight, _ = data
        m = X.shape[1]
        n_val = max(1, int(round(fraction * m)))
        if n_val >= m:
            raise ValueError(f"validation_fraction={fraction} leaves no training samples out of {m}")
        order = self._order(m, fraction, rng)
        val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
        weight = sample_weight[train] if sample_weight is not None else None
        if codes is None:
            return TrainingData(X[:, train], Y[:, train], None, weight, (X[:, val], Y[:, val]))
        validation = (X[:, val], Y[:, val], codes[:, val])
        return TrainingData(X[:, train], Y[:, train], codes[:, train], weight, validation)

    def _order(self, m: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
        state = self.state
        if state is not None and state["rows"] == m and state["fraction"] == fraction:
            return generator_at(state["rng"]).permutation(m)
        self.state = {"rows": m, "fraction": fraction, "rng": rng.bit_generator.state}
        return rng.permutation(m)


def generator_at(state: dict) -> np.random.Generator:
    """A new generator in the given ``bit_generator.state`` (drawing from it leaves the original alone)."""
    generator = np.random.default_rng()
    generator.bit_generator.state = state
    return generator
