"""Sparse input: a scipy sparse ``A0`` in the engine, recognized by duck typing (scipy is never imported).

Only the first layer ever sees ``A0``, and only two products read it: ``Z_1 = W_1 A_0`` and
``dW_1 = (1/m) dZ_1 A_0^T``. :func:`matmul` lets the sparse factor compute them, dense times
sparse as ``(B^T A^T)^T``, so a sparse ``A0`` is never densified; ``dA0 = W_1^T dZ_1`` does not
read ``A0`` at all. In the engine's layout a sparse ``X`` is kept as CSC, so that a sample (a
column) is a cheap slice and ``X.T``, the rows, is CSR.
"""

from __future__ import annotations

import numpy as np


def is_sparse(data: object) -> bool:
    """True for a scipy sparse matrix or array (any format)."""
    return not isinstance(data, np.ndarray) and hasattr(data, "tocsr") and hasattr(data, "nnz")


def matmul(A, B, out: np.ndarray | None = None) -> np.ndarray:
    """``A @ B`` as an array (written into ``out`` when given); ``A`` or ``B`` may be sparse.

    Two arrays go to ``np.matmul`` as they are; with a sparse factor, the sparse matrix computes
    the product (``A B = (B^T A^T)^T`` when ``B`` is the sparse one).
    """
    if (isinstance(A, np.ndarray) and isinstance(B, np.ndarray)) or not (is_sparse(A) or is_sparse(B)):
        return np.matmul(A, B, out=out)
    product = np.asarray(A @ B if is_sparse(A) else (B.T @ A.T).T)
    if out is None:
        return product
    out[...] = product
    return out


def first_nonfinite(array) -> tuple[int, int] | None:
    """``(row, column)`` of the first NaN or infinite entry of a 2-D array or sparse matrix, or None.

    First in row-major order for an array; for a sparse matrix, among its stored entries (the
    implicit zeros are finite) in the order it stores them, row by row for CSR.
    """
    if is_sparse(array):
        entries = array.tocoo()
        bad = np.flatnonzero(~np.isfinite(entries.data))
        return (int(entries.row[bad[0]]), int(entries.col[bad[0]])) if bad.size else None
    bad = np.argwhere(~np.isfinite(array))
    return (int(bad[0, 0]), int(bad[0, 1])) if bad.size else None
