"""Learned inputs: embeddings ``E_c[:, codes]`` stacked into ``A0``, and ``dA0`` carried on to ``dE_c``.

The notes leave ``A0 = X`` constant, but "there are times where we might want to learn the
input as well": a categorical column ``c`` with ``n_c`` values (its codes, ``0 .. n_c - 1``) gets a
matrix ``E_c`` of shape ``(d_c, n_c)``, one learned vector of ``d_c`` numbers per value. A sample
whose code is ``k`` enters the network as the column ``E_c[:, k]``, and backpropagation, which
already gives the input gradient ``dA0 = W_1^T dZ_1`` (per example), goes one step further:

    A0 = [X_dense ; E_1[:, codes_1] ; ... ; E_C[:, codes_C]]        (n_dense + sum_c d_c, m)
    dE_c[:, k] = (1/m) sum over the samples i with codes_c[i] = k of dA0[rows of c, i]

``dE_c`` is the gradient of the mean cost ``J``, like ``dW_l``: a value that occurs twice in the
batch adds two columns of ``dA0``, a value absent from the batch gets zeros. With sample weights,
``dZ_L`` (and so ``dA0``) already carries each sample's share of the weighted mean, exactly as
for ``dW_l``.

Shapes (columns are samples): ``X_dense`` ``(n_dense, m)``, ``codes`` ``(C, m)`` integers (row ``c``
holds column ``c``'s codes), ``E_c`` ``(d_c, n_c)``. All ``E_c`` live in one flat vector ``phi``
(``E_1`` row-major, then ``E_2``, ...) as ``W_l`` and ``b_l`` live in the network's ``theta``, so an
optimizer steps ``{"theta": net.theta, "phi": inputs.phi}`` the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlpkit.network import DTYPES

INITIALIZERS = ("normal", "uniform")


def embedding_forward(E: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``E_c[:, codes_c]``: the looked-up vector of each sample, ``(d_c, m)``."""
    return np.take(E, codes, axis=1)  # column k of E_c for each code k  (d_c, m)


def embedding_backward(
    dA: np.ndarray,
    codes: np.ndarray,
    n_c: int,
    *,
    scale: float | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``dE_c[:, k] = scale * sum(dA[:, i] for the samples i with codes[i] = k)``, shape ``(d_c, n_c)``.

    ``dA`` ``(d_c, m)`` holds column ``c``'s rows of ``dA0``; ``scale`` is ``1/m`` by default (the
    mean cost), 1.0 when ``dA`` already carries it. The sums run in float64 in sample order (the
    same numbers in any run), then are written into ``out`` (a new array by default). A vocabulary
    larger than the batch is summed over the values the batch holds only, then scattered.
    """
    d_c, m = dA.shape
    dE = np.zeros((d_c, n_c), dtype=dA.dtype) if out is None else out
    values, k = (None, codes) if n_c <= m else np.unique(codes, return_inverse=True)
    n_k = n_c if values is None else values.size  # the columns summed: every value, or those present
    # every (row j, value k) pair as one index j * n_k + k, so that one bincount sums them all
    index = (np.arange(d_c)[:, None] * n_k + k.reshape(-1)).reshape(-1)  # (d_c * m,)
    sums = np.bincount(index, weights=dA.reshape(-1), minlength=d_c * n_k).reshape(d_c, n_k)  # float64
    sums *= 1.0 / max(m, 1) if scale is None else scale  # dE_c = (1/m) sum dA0[rows of c, i]
    if values is None:
        dE[...] = sums  # (d_c, n_c)
    else:
        dE.fill(0.0)  # the values absent from the batch
        dE[:, values] = sums  # (d_c, number of values present)
    return dE


def embedding_views(
    flat: np.ndarray, vocabulary_sizes: Sequence[int], dimensions: Sequence[int], prefix: str = ""
) -> dict[str, np.ndarray]:
    """Views ``E_c`` ``(d_c, n_c)`` (keys ``prefix + "E1"``, ...) into a flat ``phi``-sized vector."""
    views: dict[str, np.ndarray] = {}
    offset = 0
    for c, (n_c, d_c) in enumerate(zip(vocabulary_sizes, dimensions, strict=True), start=1):
        views[f"{prefix}E{c}"] = flat[offset : offset + d_c * n_c].reshape(d_c, n_c)
        offset += d_c * n_c
    return views


def _check_sizes(name: str, values: Sequence[int]) -> tuple[int, ...]:
    try:
        sizes = tuple(values)
    except TypeError:
        raise ValueError(f"{name} must be a list of integers >= 1, got {values!r}") from None
    for index, size in enumerate(sizes):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"{name}[{index}] must be an integer >= 1, got {size!r} in {list(sizes)}")
    return tuple(int(size) for size in sizes)


class EmbeddingInput:
    """The input layer ``A0`` of a network with ``n_dense`` dense rows and learned embeddings.

    ``vocabulary_sizes[c]`` is ``n_c`` and ``dimensions[c]`` is ``d_c`` for each embedded column
    ``c``; the network's ``n_x`` must be :attr:`n_x` ``= n_dense + sum_c d_c``. ``initialize``
    draws every entry of ``E_c`` from ``N(0, 1/d_c)`` (``"normal"``) or from the uniform law of
    the same variance, ``U(-sqrt(3/d_c), sqrt(3/d_c))`` (``"uniform"``), so that a looked-up vector
    has an expected squared length of 1, like one standardized dense feature; every value,
    including those a training set never holds, gets its draw.
    """

    def __init__(
        self,
        n_dense: int,
        vocabulary_sizes: Sequence[int],
        dimensions: Sequence[int],
        *,
        seed: int | np.random.Generator | None = None,
        dtype: str = "float32",
        initializer: str = "normal",
    ) -> None:
        if isinstance(n_dense, bool) or not isinstance(n_dense, (int, np.integer)) or n_dense < 0:
            raise ValueError(f"n_dense must be an integer >= 0, got {n_dense!r}")
        self.n_dense = int(n_dense)
        self.vocabulary_sizes = _check_sizes("vocabulary_sizes", vocabulary_sizes)
        self.dimensions = _check_sizes("dimensions", dimensions)
        if len(self.vocabulary_sizes) != len(self.dimensions):
            raise ValueError(
                f"vocabulary_sizes lists {len(self.vocabulary_sizes)} columns but dimensions lists "
                f"{len(self.dimensions)}; give one n_c and one d_c per embedded column"
            )
        if np.dtype(dtype).name not in DTYPES:
            raise ValueError(f"Unknown dtype {dtype!r}; expected one of {list(DTYPES)}")
        self.dtype = np.dtype(dtype)
        n_phi = sum(n_c * d_c for n_c, d_c in zip(self.vocabulary_sizes, self.dimensions, strict=True))
        self._phi = np.zeros(n_phi, dtype=self.dtype)  # E_1, then E_2, ... each row-major
        self._make_views()
        self.initialize(seed, initializer)

    def _make_views(self) -> None:
        self.tables = list(self.views(self._phi).values())  # E_c (d_c, n_c), views into phi
        starts = np.cumsum((self.n_dense, *self.dimensions))
        ends = starts[1:].tolist()  # each column's rows of A0 end here
        self.rows = [slice(end - d_c, end) for end, d_c in zip(ends, self.dimensions, strict=True)]

    @property
    def phi(self) -> np.ndarray:
        """Every ``E_c`` in one flat vector (``E_1`` row-major, then ``E_2``, ...)."""
        return self._phi

    @phi.setter
    def phi(self, value: np.ndarray) -> None:
        """``inputs.phi = vector`` writes into ``phi``, so the ``E_c`` views and optimizers keep seeing it."""
        array = np.asarray(value)
        if array.shape != self._phi.shape or not np.can_cast(array.dtype, self.dtype, "same_kind"):
            raise ValueError(
                f"phi must be {self._phi.size} real numbers, shape {self._phi.shape}; "
                f"got shape {array.shape}, dtype {array.dtype}"
            )
        self._phi[...] = array

    @property
    def n_columns(self) -> int:
        """``C``, the number of embedded columns (rows of ``codes``)."""
        return len(self.dimensions)

    @property
    def n_x(self) -> int:
        """Rows of ``A0``: ``n_dense + sum_c d_c``, the network's ``n_x``."""
        return self.n_dense + sum(self.dimensions)

    @property
    def n_parameters(self) -> int:
        """Entries of ``phi``: ``sum_c d_c n_c``."""
        return self._phi.size

    def views(self, flat: np.ndarray, prefix: str = "") -> dict[str, np.ndarray]:
        """Named ``E_c`` views (keys ``prefix + "E1"``, ...) into a flat ``phi``-sized vector."""
        return embedding_views(flat, self.vocabulary_sizes, self.dimensions, prefix)

    def initialize(self, seed: int | np.random.Generator | None = None, initializer: str = "normal") -> None:
        """Draw every ``E_c`` from ``N(0, 1/d_c)`` or ``U(-sqrt(3/d_c), sqrt(3/d_c))`` (same variance)."""
        if initializer not in INITIALIZERS:
            raise ValueError(f"Unknown initializer {initializer!r}; expected one of {list(INITIALIZERS)}")
        rng = np.random.default_rng(seed)
        for E, d_c in zip(self.tables, self.dimensions, strict=True):
            if initializer == "normal":
                E[...] = rng.normal(0.0, np.sqrt(1.0 / d_c), E.shape)
            else:
                limit = np.sqrt(3.0 / d_c)
                E[...] = rng.uniform(-limit, limit, E.shape)

    def config(self) -> dict:
        """The constructor arguments that rebuild these embeddings (JSON-serializable)."""
        return {
            "n_dense": self.n_dense,
            "vocabulary_sizes": list(self.vocabulary_sizes),
            "dimensions": list(self.dimensions),
            "dtype": self.dtype.name,
        }

    def __getstate__(self) -> dict:
        """Pickle ``phi`` alone: the ``E_c`` views are made again from it."""
        return {name: value for name, value in self.__dict__.items() if name not in ("tables", "rows")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._make_views()

    def __repr__(self) -> str:
        columns = ", ".join(
            f"{n_c}x{d_c}" for n_c, d_c in zip(self.vocabulary_sizes, self.dimensions, strict=True)
        )
        return f"EmbeddingInput(n_dense={self.n_dense}, embeddings=[{columns}], dtype={self.dtype.name})"

    # ------------------------------------------------------------------ checks
    def check_codes(self, codes: np.ndarray, m: int | None = None, name: str = "codes") -> np.ndarray:
        """``codes`` as an int64 ``(C, m)`` array, each row ``c`` in ``[0, n_c)``, or ValueError."""
        array = np.asarray(codes)
        C = self.n_columns
        if array.ndim != 2 or array.shape[0] != C or (m is not None and array.shape[1] != m):
            expected = f"({C}, {'m' if m is None else m})"
            raise ValueError(
                f"{name} must have shape (C, m) = {expected}, one row per embedded column, "
                f"columns are samples; got shape {array.shape}"
            )
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must hold integer codes, got dtype {array.dtype}")
        array = array.astype(np.int64, copy=False)
        for c, n_c in enumerate(self.vocabulary_sizes):
            bad = np.flatnonzero((array[c] < 0) | (array[c] >= n_c))
            if bad.size:
                i = int(bad[0])
                raise ValueError(
                    f"{name} row {c} (embedded column {c}) holds code {array[c, i]} at sample {i}; "
                    f"codes of that column must be in [0, {n_c})"
                )
        return array

    # ------------------------------------------------------------------ forward and backward
    def forward(self, X_dense: np.ndarray, codes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``A0 = [X_dense ; E_1[:, codes_1] ; ... ; E_C[:, codes_C]]``, shape ``(n_x, m)``.

        ``X_dense`` is ``(n_dense, m)``, ``codes`` ``(C, m)`` (see :meth:`check_codes`); ``out``, an
        ``(n_x, m)`` array of the dtype in any memory order, receives ``A0``.
        """
        m = codes.shape[1]
        A0 = np.empty((self.n_x, m), dtype=self.dtype) if out is None else out
        A0[: self.n_dense] = X_dense  # the dense rows  (n_dense, m)
        for c, (E, rows) in enumerate(zip(self.tables, self.rows, strict=True)):
            A0[rows] = embedding_forward(E, codes[c])  # E_c[:, codes_c]  (d_c, m)
        return A0

    def backward(
        self,
        dA0: np.ndarray,
        codes: np.ndarray,
        *,
        scale: float | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``dphi``, flat like ``phi``: each ``dE_c[:, k] = (1/m) sum_{i: codes_c[i]=k} dA0[rows of c, i]``.

        ``dA0`` is ``W_1^T dZ_1``, per example, ``(n_x, m)``, or only its embedded rows
        ``(n_x - n_dense, m)``; ``scale`` replaces ``1/m`` when ``dA0`` already carries the mean.
        ``out``, a ``phi``-sized vector, receives the gradient.
        """
        embedded = self.n_x - self.n_dense
        if dA0.shape[0] not in (self.n_x, embedded):
            raise ValueError(
                f"dA0 has {dA0.shape[0]} rows; expected n_x = {self.n_x} or the {embedded} embedded rows"
            )
        offset = dA0.shape[0] - embedded  # n_dense when the dense rows came too, else 0
        dphi = np.empty_like(self._phi) if out is None else out
        gradients = self.views(dphi)
        for c, (dE, rows) in enumerate(zip(gradients.values(), self.rows, strict=True)):
            dA_c = dA0[rows.start - self.n_dense + offset : rows.stop - self.n_dense + offset]
            # dE_c[:, k] = (1/m) sum_{i: codes_c[i] = k} dA0[rows of c, i]  (d_c, n_c)
            embedding_backward(dA_c, codes[c], self.vocabulary_sizes[c], scale=scale, out=dE)
        return dphi
