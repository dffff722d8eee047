"""The matrix product numpy itself calls, as a C function pointer for the compiled training step.

numpy's wheels bundle OpenBLAS with 64-bit integers (``scipy_openblas64``, its symbols prefixed
``scipy_`` and suffixed ``64_``). Loading that same file again with ctypes returns the library
numpy has already loaded (one set of BLAS threads, one kernel choice), and its ``cblas_sgemm`` and
``cblas_dgemm`` addresses go to :mod:`mlpkit.fast.fused`. Any other numpy build (MKL, Accelerate,
a 32-bit-integer OpenBLAS, a system BLAS) finds nothing here, and training keeps the numpy step.
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


def _candidates() -> list[Path]:
    """The bundled OpenBLAS files of this numpy, if any."""
    root = Path(np.__file__).resolve().parent
    found = []
    for folder in _LIBRARY_FOLDERS:
        for pattern in _LIBRARY_PATTERNS:
            found += sorted((root / folder).glob(pattern))
    return found


@cache
def gemm_addresses() -> dict[np.dtype, int] | None:
    """The addresses of numpy's ``cblas_sgemm`` and ``cblas_dgemm`` (64-bit integers) by dtype, or
    None when this numpy has no bundled ILP64 OpenBLAS or ``MLPKIT_NUMPY_ONLY`` is set."""
    if os.environ.get("MLPKIT_NUMPY_ONLY"):
        return None
    for candidate in _candidates():
        try:
            library = ctypes.CDLL(str(candidate))
            return {
                dtype: ctypes.cast(getattr(library, symbol), ctypes.c_void_p).value
                for dtype, symbol in _SYMBOLS.items()
            }
        except (OSError, AttributeError):
            continue
    return None
