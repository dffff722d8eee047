"""The matrix product numpy itself calls, as a C function pointer for the compiled training step.

numpy's wheels bundle OpenBLAS with 64-bit integers (``scipy_openblas64``, its symbols prefixed
``scipy_`` and suffixed ``64_``). Loading that same file again with ctypes returns the library
numpy has already loaded (one set of BLAS threads, one kernel choice), and its ``cblas_sgemm`` and
``cblas_dgemm`` addresses go to :mod:`mlpkit.fast.fused`, with the two functions through which the
compiled step's thread pool serves OpenBLAS's parallel jobs (``_pool.h``). Any other numpy build
(MKL, Accelerate, a 32-bit-integer OpenBLAS, a system BLAS) finds nothing here, and training keeps
the numpy step.
"""

from __future__ import annotations

import ctypes
import os
from functools import cache
from pathlib import Path

import numpy as np

# where numpy's wheels keep their bundled libraries: Linux and Windows beside the package, macOS inside
_LIBRARY_FOLDERS = ("../numpy.libs", ".dylibs", "../numpy/.libs")
_LIBRARY_PATTERNS = ("*scipy_openblas64*.so*", "*scipy_openblas64*.dylib", "*scipy_openblas64*.dll")
_SYMBOLS = {np.dtype(np.float32): "scipy_cblas_sgemm64_", np.dtype(np.float64): "scipy_cblas_dgemm64_"}
# openblas_set_threads_callback_function (OpenBLAS 0.3.27 and later), openblas_get_num_threads
_THREAD_SYMBOLS = ("scipy_openblas_set_threads_callback_function64_", "scipy_openblas_get_num_threads64_")


def _candidates() -> list[Path]:
    """The bundled OpenBLAS files of this numpy, if any."""
    root = Path(np.__file__).resolve().parent
    found = []
    for folder in _LIBRARY_FOLDERS:
        for pattern in _LIBRARY_PATTERNS:
            found += sorted((root / folder).glob(pattern))
    return found


@cache
def _bundled() -> ctypes.CDLL | None:
    """numpy's bundled ILP64 OpenBLAS, or None when there is none or ``MLPKIT_NUMPY_ONLY`` is set."""
    if os.environ.get("MLPKIT_NUMPY_ONLY"):
        return None
    for candidate in _candidates():
        try:
            library = ctypes.CDLL(str(candidate))
            for symbol in _SYMBOLS.values():
                getattr(library, symbol)
            return library
        except (OSError, AttributeError):
            continue
    return None


def _address(library: ctypes.CDLL, symbol: str) -> int:
    return ctypes.cast(getattr(library, symbol), ctypes.c_void_p).value


@cache
def gemm_addresses() -> dict[np.dtype, int] | None:
    """The addresses of numpy's ``cblas_sgemm`` and ``cblas_dgemm`` (64-bit integers) by dtype, or
    None when this numpy has no bundled ILP64 OpenBLAS or ``MLPKIT_NUMPY_ONLY`` is set."""
    library = _bundled()
    if library is None:
        return None
    return {dtype: _address(library, symbol) for dtype, symbol in _SYMBOLS.items()}


@cache
def thread_addresses() -> tuple[int, int] | None:
    """The addresses of ``openblas_set_threads_callback_function`` and ``openblas_get_num_threads`` of
    numpy's OpenBLAS, or None when it has no such callback (before 0.3.27) or no bundled OpenBLAS."""
    library = _bundled()
    try:
        return tuple(_address(library, symbol) for symbol in _THREAD_SYMBOLS) if library else None
    except AttributeError:
        return None
