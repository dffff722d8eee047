"""The trainer's data checks and its validation split, in the engine's layout (columns are samples)."""

from __future__ import annotations

import numpy as np

from mlpkit.datasets.source import Columns, is_mapped
from mlpkit.datasets.source import check_columns as check_source_columns
from mlpkit.network import DNN, check_finite


def check_columns(net: DNN, X: Columns, Y: Columns, x_name: str, y_name: str) -> tuple[Columns, Columns]:
    """``X`` ``(n_x, m)`` and ``Y`` ``(n_L, m)`` checked and cast, or ValueError naming the problem.

    Memory-mapped data (see :mod:`mlpkit.datasets.mapped`) was checked in chunks when opened;
    here only its shape is, so it is never loaded or cast whole.
    """
    if is_mapped(X):
        check_source_columns(X, net.layer_sizes[0], None, x_name)
    else:
        X = net.check_X(X, x_name)
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

    def split(self, X, Y, fraction: float, sample_weight, rng: np.random.Generator):
        """``(X_train, Y_train, (X_val, Y_val), weight_train)``: ``fraction`` of the columns held out."""
        m = X.shape[1]
        n_val = max(1, int(round(fraction * m)))
        if n_val >= m:
            raise ValueError(f"validation_fraction={fraction} leaves no training samples out of {m}")
        order = self._order(m, fraction, rng)
        val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
        weight = sample_weight[train] if sample_weight is not None else None
        return X[:, train], Y[:, train], (X[:, val], Y[:, val]), weight

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
