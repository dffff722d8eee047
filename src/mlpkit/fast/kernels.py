"""The optional compiled path: fused loops for a training step's element-wise work, via ctypes.

Each kernel does in one pass over memory what numpy does in several: the Adam step (with an L2
term ``dW += (lambda/m) W`` and ``||W||^2`` folded in), ``A_l = relu(Z_l + b_l)``,
``dZ_l = dA_l * relu'(Z_l)`` with ``db_l``, and the softmax + cross-entropy output layer
(``A_L``, ``J``, ``dZ_L = A_L - Y``, ``db_L`` and the hits). The numpy code in
:mod:`mlpkit.optimizers`, :mod:`mlpkit.activations` and :mod:`mlpkit.losses` stays the reference
(tests hold the two equal); the kernels are used only when the package was built with them, the
arrays are contiguous and of one float dtype, and ``MLPKIT_NUMPY_ONLY`` is not set. The callers
are :mod:`mlpkit.fast.step` (the layers) and :mod:`mlpkit.fast.adam` (the optimizer step).
Measurements are in docs/benchmarks.md.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path

import numpy as np

from mlpkit.fast import blas

_SCALARS = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double}
_POINTER, _SIZE = ctypes.c_void_p, ctypes.c_ssize_t
# train_step(plan, start, m, c1, c2, step_size, eps_hat, l2) -> 1 if it ran, 0 if the weights were all 0
_TRAIN_STEP = ([_POINTER, _SIZE, _SIZE] + [ctypes.c_double] * 5, ctypes.c_int)


def _signatures(real: type) -> dict[str, tuple[list, type | None]]:
    """Argument and result types of each kernel for one float type (see _fused_kernels.h)."""
    P, N = _POINTER, _SIZE
    return {
        "adam_step": ([P, P, P, P, N, real, real, real, real, real, N], ctypes.c_double),
        "bias_relu": ([P, P, N, N], None),
        "relu_backward": ([P, P, P, N, N], None),
        "softmax_cross_entropy": ([P, P, N, N, P, P, P, real, N, N, P, P], ctypes.c_double),
    }


@cache
def _extension() -> ctypes.CDLL | None:
    """The compiled ``_fused`` extension next to this file, or None when it was not built, or was
    built before the kernels of :func:`_signatures`, or ``MLPKIT_NUMPY_ONLY`` is set."""
    if os.environ.get("MLPKIT_NUMPY_ONLY"):
        return None
    for candidate in sorted(Path(__file__).parent.glob("_fused*.so")):
        try:
            library = ctypes.CDLL(str(candidate))
            for dtype in _SCALARS:
                for name in _signatures(ctypes.c_double):
                    getattr(library, f"{name}_{dtype.name}")
            return library
        except (OSError, AttributeError):  # not loadable, or an older build without every kernel
            continue
    return None


@cache
def _library() -> dict[tuple[str, np.dtype], ctypes._CFuncPtr] | None:
    """The kernels of the compiled extension by (name, dtype), or None when it was not built."""
    library = _extension()
    if library is None:
        return None
    kernels = {}
    for dtype, real in _SCALARS.items():
        for name, (argtypes, restype) in _signatures(real).items():
            function = getattr(library, f"{name}_{dtype.name}")
            function.argtypes, function.restype = argtypes, restype
            kernels[name, dtype] = function
        function = getattr(library, f"train_step_{dtype.name}", None)  # mlpkit.fast.fused: newer builds
        if function is not None:
            function.argtypes, function.restype = _TRAIN_STEP
            kernels["train_step", dtype] = function
    return kernels


@cache
def install_pool() -> bool:
    """Give numpy's OpenBLAS the compiled step's thread pool (``_pool.h``), once per process: its
    parallel products and the step's own parallel loops then share one set of threads. False when
    the build, or numpy's OpenBLAS, lacks what it takes; the step then runs its loops on one thread."""
    library, addresses = _extension(), blas.thread_addresses()
    install = getattr(library, "pool_install", None) if library is not None else None
    if install is None or addresses is None:
        return False
    install.argtypes, install.restype = [_POINTER, _POINTER], ctypes.c_int
    return bool(install(*addresses))


def available() -> bool:
    """Whether the compiled kernels are loaded (False: numpy only)."""
    return _library() is not None


def _kernel(name: str, dtype: np.dtype) -> ctypes._CFuncPtr:
    return _library()[name, dtype]


def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


def _suitable(dtype: np.dtype, *arrays: np.ndarray, writeable: tuple[np.ndarray, ...] = ()) -> bool:
    """Whether the kernels can take these arrays: built, one float dtype, C-contiguous, writable outputs."""
    if _library() is None or dtype not in _SCALARS:
        return False
    if any(a.dtype != dtype or not a.flags.c_contiguous for a in arrays):
        return False
    return all(a.flags.writeable for a in writeable)


def bind_adam(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray) -> Callable[..., float] | None:
    """The Adam kernel bound to a parameter, its gradient and moments (one dtype, one shape, C order),
    or None when it cannot take them.

    The callable takes ``(c1, c2, step_size, eps_hat, l2, n_l2)``: ``c1 = 1 - beta_1`` and
    ``c2 = 1 - beta_2`` formed in double (in float32, 1 - 0.999 keeps about 3 correct digits), and
    an L2 coefficient for the first ``n_l2`` entries; it returns their sum of squares before the step.
    """
    if not _suitable(p.dtype, p, g, m, v, writeable=(p, g, m, v)):
        return None
    if not g.shape == m.shape == v.shape == p.shape:
        return None
    return partial(_kernel("adam_step", p.dtype), *map(_address, (p, g, m, v)), p.size)


class StepKernels:
    """The layer kernels of a training step, bound once to a batch's buffers.

    Each ``bind_*`` method checks its arrays (dtype, shape, C order) and returns a callable on
    their memory, so that a step pays for a ctypes call and nothing else; None when the kernels
    cannot take the arrays. The caller keeps the arrays alive while it uses the callable.
    """

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = np.dtype(dtype)

    @classmethod
    def for_dtype(cls, dtype: np.dtype) -> StepKernels | None:
        """The kernels for ``dtype``, or None when they are not built or the dtype is not float32/64."""
        return cls(dtype) if _suitable(np.dtype(dtype)) else None

    def bind_bias_relu(self, Z: np.ndarray, b: np.ndarray) -> Callable[[], None] | None:
        """``Z = max(Z + b, 0)`` in place, ``Z`` (n, m) and ``b`` (n, 1)."""
        if not _suitable(self.dtype, Z, b, writeable=(Z,)) or b.shape != (Z.shape[0], 1):
            return None
        return partial(_kernel("bias_relu", self.dtype), _address(Z), _address(b), *Z.shape)

    def bind_relu_backward(self, dA: np.ndarray, A: np.ndarray, db: np.ndarray) -> Callable[[], None] | None:
        """``dA *= (A > 0)`` in place and ``db`` = its row sums, ``dA`` and ``A`` (n, m), ``db`` (n, 1)."""
        if not _suitable(self.dtype, dA, A, db, writeable=(dA, db)):
            return None
        if A.shape != dA.shape or db.shape != (dA.shape[0], 1):
            return None
        return partial(
            _kernel("relu_backward", self.dtype), _address(dA), _address(A), _address(db), *dA.shape
        )

    def bind_softmax_cross_entropy(
        self, Z: np.ndarray, Y_memory: np.ndarray, dZ: np.ndarray, db: np.ndarray
    ) -> SoftmaxCrossEntropy | None:
        """The softmax + cross-entropy output layer on ``Z`` (n, m), ``dZ`` (n, m), ``db`` (n, 1);
        ``Y_memory`` is the buffer the batch's targets are gathered into."""
        if not _suitable(self.dtype, Z, Y_memory, dZ, db, writeable=(Z, dZ, db)):
            return None
        n, m = Z.shape
        if dZ.shape != (n, m) or db.shape != (n, 1) or Y_memory.size != n * m:
            return None
        return SoftmaxCrossEntropy(Z, Y_memory, dZ, db)


class SoftmaxCrossEntropy:
    """The output layer's kernel bound to its buffers: ``A_L = softmax(Z_L)`` over ``Z``, then
    ``J``, ``dZ_L = c_j (A_L - Y)``, ``db_L`` and the number of columns predicted right.

    ``c_j`` is ``1/m``, or the column's sample weight over their sum, so that ``dZ_L`` already
    carries the mean of ``J`` (see _fused_kernels.h).
    """

    def __init__(self, Z: np.ndarray, Y_memory: np.ndarray, dZ: np.ndarray, db: np.ndarray) -> None:
        self.dtype, (self.n, self.m) = Z.dtype, Z.shape
        self.Y_memory = Y_memory
        self.work = np.empty(4 * self.m, dtype=self.dtype)  # column maxima, sums, largest a and its unit
        self.correct = ctypes.c_ssize_t()
        self.correct_address = ctypes.byref(self.correct)
        self.kernel = _kernel("softmax_cross_entropy", self.dtype)
        self.addresses = (_address(Z), _address(Y_memory), _address(dZ), _address(db), _address(self.work))
        itemsize = self.dtype.itemsize
        # Y (n, m) as a view of the buffer: its columns (as gathered from column data), or the
        # transpose of its gathered rows; byte strides -> element strides
        self.y_strides = {
            (self.m * itemsize, itemsize): (self.m, 1),
            (itemsize, self.n * itemsize): (1, self.n),
        }

    def __call__(self, Y: np.ndarray, column_scale: np.ndarray | None = None) -> tuple[float, int]:
        """(J, hits) for the targets ``Y``, a view of the bound buffer with shape (n, m)."""
        n, m = self.n, self.m
        strides = self.y_strides.get(Y.strides)
        if Y.base is not self.Y_memory or Y.shape != (n, m) or Y.dtype != self.dtype or strides is None:
            raise ValueError("Y must be the gathered targets: an (n, m) view of the bound buffer")
        scales = None
        if column_scale is not None:
            if (
                column_scale.dtype != self.dtype
                or column_scale.shape != (m,)
                or not column_scale.flags.c_contiguous
            ):
                raise ValueError(f"column_scale must be {m} contiguous {self.dtype} values")
            scales = _address(column_scale)
        Z, Y_address, dZ, db, work = self.addresses
        loss = self.kernel(Z, Y_address, *strides, dZ, db, scales, 1.0 / m, n, m, work, self.correct_address)
        return loss, self.correct.value
