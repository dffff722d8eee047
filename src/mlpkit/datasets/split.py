"""Held-out rows chosen by content: each row's stable hash decides whether it is a test row.

A row's key is a keyed BLAKE2b hash (key: the seed) of its values and its label, so it does not
depend on where the row sits in the file: ``evaluate`` on the same rows in another order (or
with the columns of a table in another order) draws the same test rows. Within each class
(stratified, as before) the rows with the smallest keys are held out, ``round(test_fraction *
count)`` of them and never all; a digest of the test rows' keys, stored with the model, tells
``evaluate`` when the file no longer holds the rows it was trained on.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from mlpkit.columns import ColumnTable

KEY_BYTES = 8


def _hasher(seed: int | None):
    key = os.urandom(16) if seed is None else int(seed).to_bytes(16, "little", signed=False)
    return lambda data: hashlib.blake2b(data, digest_size=KEY_BYTES, key=key).digest()


def _value_words(values: np.ndarray) -> np.ndarray:
    """One 64-bit word per entry of a 1-D array: a number's float64 bits, a text's hash (NaN canonical)."""
    values = np.asarray(values)
    if values.dtype.kind in "biuf":
        numbers = values.astype(np.float64)
        numbers[np.isnan(numbers)] = np.nan  # one NaN bit pattern
        return (numbers + 0.0).view(np.uint64)  # + 0.0: -0.0 and 0.0 alike
    uniques, inverse = np.unique(values.astype(str), return_inverse=True)
    words = np.array([hashlib.blake2b(text.encode(), digest_size=8).digest() for text in uniques], "V8")
    return words.view(np.uint64)[inverse.reshape(-1)] if len(uniques) else np.zeros(0, np.uint64)


def _table_words(table: ColumnTable) -> np.ndarray:
    """``(m, C)`` words of a table's cells, columns in name order (so their order in the file is moot)."""
    words = []
    for name in sorted(table.names):
        column = table.columns[name]
        if column.is_numeric:
            words.append(_value_words(column.values))
        else:
            texts = np.array([*column.categories, ""], dtype=object)  # code -1 (missing) takes the last
            missing_word = np.uint64(0x9E3779B97F4A7C15)
            coded = _value_words(texts.astype(str)) if len(texts) > 1 else np.zeros(1, np.uint64)
            coded[-1] = missing_word
            words.append(coded[column.values])
    return np.stack(words, axis=1) if words else np.zeros((table.n_rows, 0), np.uint64)


def row_keys(X: np.ndarray | ColumnTable, y: np.ndarray, seed: int | None) -> np.ndarray:
    """A ``uint64`` key per row from its content and label alone (the same rows give the same keys in any
    order); ``seed`` keys the hash, so another seed draws other test rows."""
    digest = _hasher(seed)
    cells = _table_words(X) if isinstance(X, ColumnTable) else np.ascontiguousarray(X)
    cells = cells.reshape(cells.shape[0], -1)
    labels = np.asarray(y).reshape(len(y), -1)
    label_words = np.stack([_value_words(labels[:, k]) for k in range(labels.shape[1])], axis=1)
    keys = np.empty(cells.shape[0], dtype=np.uint64)
    for row in range(cells.shape[0]):  # about 1 µs a row plus the hash of its bytes
        keys[row] = int.from_bytes(digest(cells[row].tobytes() + label_words[row].tobytes()), "little")
    return keys


def content_split(
    keys: np.ndarray, test_fraction: float, stratify: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices (sorted): in each class (or overall) the ``round(test_fraction * count)``
    rows with the smallest keys are held out, keeping at least one training row per class."""
    m = keys.shape[0]
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if m < 2:
        raise ValueError(f"cannot split {m} row(s) into train and test; need at least 2")
    groups = [np.arange(m)] if stratify is None else _class_groups(np.asarray(stratify), m)
    test_parts = []
    for group in groups:
        n_test = min(int(round(test_fraction * group.shape[0])), group.shape[0] - 1)
        order = group[np.lexsort((group, keys[group]))]  # by key; equal keys are equal rows
        test_parts.append(order[:n_test])
    test = np.sort(np.concatenate(test_parts))
    if test.shape[0] == 0:
        raise ValueError(f"test_fraction={test_fraction:g} holds out no rows out of {m}")
    return np.setdiff1d(np.arange(m), test, assume_unique=True), test


def keys_digest(keys: np.ndarray) -> str:
    """A short digest of a set of row keys (order-free): what identifies the test rows."""
    return hashlib.sha256(np.sort(keys).astype("<u8").tobytes()).hexdigest()[:32]


def _class_groups(classes: np.ndarray, m: int) -> list[np.ndarray]:
    _, inverse = np.unique(classes, return_inverse=True, axis=0 if classes.ndim > 1 else None)
    inverse = inverse.reshape(-1)
    return [np.flatnonzero(inverse == k) for k in range(inverse.max() + 1)]
