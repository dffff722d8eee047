"""The network's parameters: the flat vector ``theta``, its named ``W_l``/``b_l`` views, and their checks.

Every ``W_l`` ``(n_l, n_{l-1})`` (row-major), then every ``b_l`` ``(n_l, 1)``, lie in one flat vector,
so an optimizer updates the whole network in one array operation; :class:`Parameters` is the notes'
``params`` dictionary over it. The checks of a network's construction (dtype, layer sizes) and of
its inputs (finite entries) live here too, beside the container they guard.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence

import numpy as np

from mlpkit.initializers import Initializer, default_initializer, get_initializer
from mlpkit.sparse import first_nonfinite, is_sparse

DTYPES = ("float32", "float64")


def check_dtype(dtype: str | np.dtype | type) -> np.dtype:
    """The numpy dtype named by ``dtype``, one of :data:`DTYPES`, or ValueError listing them."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.name not in DTYPES:
        raise ValueError(f"Unknown dtype {dtype!r}; expected one of {list(DTYPES)}")
    return resolved


def check_finite(array: np.ndarray, name: str) -> None:
    """Raise ValueError naming the first non-finite entry (row, column) of a 2-D array (or sparse matrix)."""
    if np.isfinite(array.sum()):  # a NaN or infinite entry makes the sum NaN or infinite
        return
    if (position := first_nonfinite(array)) is not None:  # None: the sum overflowed, entries are finite
        row, column = position
        raise ValueError(
            f"{name} contains NaN or infinity at row {row}, column {column}; clean or impute it first"
        )


def check_layer_sizes(layer_sizes: Sequence[int]) -> tuple[int, ...]:
    """``[n_x, n_1, ..., n_L]`` as a tuple of integers >= 1 (at least two), or ValueError naming the entry."""
    try:
        sizes = tuple(layer_sizes)
    except TypeError:
        raise ValueError(
            f"layer_sizes must be a list of positive integers [n_x, n_1, ..., n_L], got {layer_sizes!r}"
        ) from None
    if len(sizes) < 2:
        raise ValueError(
            f"layer_sizes must hold at least [n_x, n_L] (input and output sizes), got {list(sizes)}"
        )
    for index, size in enumerate(sizes):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"layer_sizes[{index}] must be an integer >= 1, got {size!r} in {list(sizes)}")
    return tuple(int(size) for size in sizes)


def count_weights(layer_sizes: Sequence[int]) -> int:
    """Entries in every ``W_l`` together: ``sum_l n_l n_{l-1}``."""
    return sum(layer_sizes[l] * layer_sizes[l - 1] for l in range(1, len(layer_sizes)))


def named_views(flat: np.ndarray, layer_sizes: Sequence[int], prefix: str = "") -> dict[str, np.ndarray]:
    """Views ``W_l`` ``(n_l, n_{l-1})``, then ``b_l`` ``(n_l, 1)``, into a flat parameter-sized vector."""
    views: dict[str, np.ndarray] = {}
    offset, L = 0, len(layer_sizes) - 1
    for l in range(1, L + 1):
        n_l, n_prev = layer_sizes[l], layer_sizes[l - 1]
        views[f"{prefix}W{l}"] = flat[offset : offset + n_l * n_prev].reshape(n_l, n_prev)
        offset += n_l * n_prev
    for l in range(1, L + 1):
        views[f"{prefix}b{l}"] = flat[offset : offset + layer_sizes[l]].reshape(layer_sizes[l], 1)
        offset += layer_sizes[l]
    return views


class Parameters(MutableMapping):
    """``params``: the named ``W_l``/``b_l`` views into ``theta``; assigning a name writes into ``theta``.

    ``params["W1"] = W`` copies ``W`` into its view (same shape, real numbers), so the network
    and an optimizer stepping ``theta`` keep working on the same numbers; the names are fixed.
    """

    def __init__(self, theta: np.ndarray, layer_sizes: Sequence[int]) -> None:
        self._theta, self._layer_sizes = theta, tuple(layer_sizes)
        self._views = named_views(theta, self._layer_sizes)

    def assign_theta(self, value: np.ndarray) -> None:
        """Copy a whole flat vector into ``theta`` (same size, real numbers), or raise ValueError."""
        array, theta = np.asarray(value), self._theta
        if array.shape != theta.shape or not np.can_cast(array.dtype, theta.dtype, "same_kind"):
            raise ValueError(
                f"theta must be {theta.size} real numbers, shape {theta.shape}; "
                f"got shape {array.shape}, dtype {array.dtype}"
            )
        theta[...] = array

    def __getitem__(self, name: str) -> np.ndarray:
        return self._views[name]

    def __setitem__(self, name: str, value: np.ndarray) -> None:
        view = self._views.get(name) if isinstance(name, str) else None
        if view is None:
            raise ValueError(f"Unknown parameter {name!r}; expected one of {list(self._views)}")
        array = np.asarray(value)
        if array.shape != view.shape:
            l = int(name[1:])
            symbols = f"(n_{l}, n_{l - 1})" if name[0] == "W" else f"(n_{l}, 1)"
            raise ValueError(
                f"params[{name!r}] must have shape {symbols} = {view.shape}, got shape {array.shape}"
            )
        if not np.can_cast(array.dtype, view.dtype, casting="same_kind"):
            raise ValueError(
                f"params[{name!r}] must hold real numbers (the network is {view.dtype.name}), "
                f"got dtype {array.dtype}"
            )
        view[...] = array

    def __delitem__(self, name: str) -> None:
        raise TypeError(f"params keeps every W_l and b_l: {name!r} cannot be deleted (assign zeros instead)")

    def __iter__(self) -> Iterator[str]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)

    def __reduce__(self) -> tuple:
        """Pickle the flat vector once; the views are made again from it."""
        return Parameters, (self._theta, self._layer_sizes)

    def __repr__(self) -> str:
        return f"Parameters({self._views!r})"


def check_columns(X: np.ndarray, n_x: int, dtype: np.dtype, name: str = "X") -> np.ndarray:
    """``X`` as an ``(n_x, m)`` array of ``dtype`` (sparse: CSC), or ValueError naming what is wrong."""
    X = X.tocsc() if is_sparse(X) else np.asarray(X)  # CSC: each sample, a column, is a slice
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D with shape (n_x, m) = ({n_x}, m), columns are samples; got shape {X.shape}"
        )
    if X.shape[0] != n_x:
        raise ValueError(
            f"{name} has {X.shape[0]} rows but the network expects n_x = {n_x} "
            f"(shape (n_x, m), columns are samples); got shape {X.shape}"
        )
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {X.dtype}")
    return X.astype(dtype, copy=False)


def initialize_parameters(
    params: Parameters,
    layer_sizes: Sequence[int],
    activations: Sequence[str],
    seed: int | np.random.Generator | None = None,
    initializer: str | Initializer | None = None,
) -> None:
    """Draw every ``W_l`` (He before ReLU, else Glorot; ``activations[l - 1]`` is ``g_l``); ``b_l = 0``."""
    rng = np.random.default_rng(seed)
    for l in range(1, len(layer_sizes)):
        draw = get_initializer(initializer or default_initializer(activations[l - 1]))
        W = draw(rng, layer_sizes[l - 1], layer_sizes[l])
        expected = (layer_sizes[l], layer_sizes[l - 1])
        if np.shape(W) != expected:
            raise ValueError(f"initializer returned shape {np.shape(W)} for W{l}, expected {expected}")
        params[f"W{l}"][...] = W
        params[f"b{l}"][...] = 0.0
