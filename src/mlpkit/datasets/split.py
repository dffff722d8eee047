"""Held-out rows chosen by content: each row's stable hash decides whether it is a test row.

A row's key is a hash of its values and its label, started from the seed (a SplitMix64 chain
over the row's 64-bit words: an array row's bytes as stored, a table's cells column by column),
so it does not depend on where the row sits in the file: ``evaluate`` on the same rows in another order (or
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

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MISSING_WORD = np.uint64(0xA0761D6478BD642F)  # a missing category
BLOCK_ROWS = 8192  # rows hashed at a time: a padded copy of this many rows at most


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer on every word (uint64 arithmetic wraps): each input bit moves every output
    bit, so a chain of ``mix(key ^ word)`` over a row's words is a hash of the row."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _start(seed: int | None, m: int) -> np.ndarray:
    """The chain's first word, from the seed (None: fresh entropy, a split that cannot be drawn again)."""
    seed_word = int.from_bytes(os.urandom(8), "little") if seed is None else int(seed) % (1 << 64)
    return _mix(np.full(m, np.uint64(seed_word) ^ GOLDEN, dtype=np.uint64))


def _value_words(values: np.ndarray) -> np.ndarray:
    """One 64-bit word per entry of a 1-D array: a number's float64 bits, a text's hash (NaN canonical)."""
    values = np.asarray(values)
    if values.dtype.kind in "biuf":
        numbers = values.astype(np.float64)
        numbers[np.isnan(numbers)] = np.nan  # one NaN bit pattern
        return (numbers + 0.0).view(np.uint64)  # + 0.0: -0.0 and 0.0 alike
    uniques, inverse = np.unique(values.astype(str), return_inverse=True)
    digests = [hashlib.blake2b(text.encode(), digest_size=8).digest() for text in uniques]
    words = np.frombuffer(b"".join(digests), dtype="<u8").astype(np.uint64)
    return words[inverse.reshape(-1)]


def _column_words(table: ColumnTable):
    """Each column's words, in name order (so the columns' order in the file is moot)."""
    for name in sorted(table.names):
        column = table.columns[name]
        if column.is_numeric:
            yield _value_words(column.values)
        else:
            coded = np.append(_value_words(np.array(column.categories, dtype=str)), MISSING_WORD)
            yield coded[column.values]  # code -1 (missing) takes the last word


def row_keys(X: np.ndarray | ColumnTable, y: np.ndarray, seed: int | None) -> np.ndarray:
    """A ``uint64`` key per row from its values and label alone (the same rows give the same keys in any
    order); ``seed`` starts the hash, so another seed draws other test rows. Vectorized: one pass of a
    few numpy operations per column."""
    m = len(y)
    key = _start(seed, m)
    if isinstance(X, ColumnTable):
        for words in _column_words(X):
            key = _mix(key ^ words)
    else:
        key = _array_keys(np.asarray(X).reshape(m, -1), key)
    labels = np.asarray(y).reshape(m, -1)
    for k in range(labels.shape[1]):
        key = _mix(key ^ _value_words(labels[:, k]))
    return _mix(key ^ _mix(_occurrences(key) ^ GOLDEN))


def _occurrences(key: np.ndarray) -> np.ndarray:
    """Which copy of its row each row is (0 for the first of equal keys, 1 for the next, ...). Mixed
    into the key, it spreads repeated rows over train and test as other rows are, instead of
    holding out every copy of a row or none (a table of a few distinct rows would otherwise test
    on rows training never saw); equal rows are interchangeable, so the split stays order-free."""
    order = np.argsort(key, kind="stable")
    sorted_keys = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])  # each run of equal keys
    run_start = np.repeat(starts, np.diff(np.r_[starts, key.shape[0]]))
    copies = np.empty(key.shape[0], dtype=np.uint64)
    copies[order] = (np.arange(key.shape[0]) - run_start).astype(np.uint64)
    return copies


def _array_keys(rows: np.ndarray, key: np.ndarray) -> np.ndarray:
    """The chain over each row's bytes as stored, 8 at a time (zero-padded), a block of rows at a time."""
    out = np.empty_like(key)
    for start in range(0, rows.shape[0], BLOCK_ROWS):
        raw = np.ascontiguousarray(rows[start : start + BLOCK_ROWS]).view(np.uint8)
        raw = raw.reshape(raw.shape[0], -1)
        block = np.zeros((raw.shape[0], -(-raw.shape[1] // 8) * 8), dtype=np.uint8)
        block[:, : raw.shape[1]] = raw
        words = block.view("<u8")
        chain = key[start : start + BLOCK_ROWS]
        for j in range(words.shape[1]):
            chain = _mix(chain ^ words[:, j])
        out[start : start + BLOCK_ROWS] = chain
    return out


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
        order = group[np.lexsort((group, keys[group]))]  # by key (equal only by chance)
        test_parts.append(order[:n_test])
    test = np.sort(np.concatenate(test_parts))
    if test.shape[0] == 0:
        why = _why_none(groups, test_fraction, m)
        raise ValueError(f"test_fraction={test_fraction:g} holds out no rows out of {m}{why}")
    return np.setdiff1d(np.arange(m), test, assume_unique=True), test


def _why_none(groups: list[np.ndarray], test_fraction: float, m: int) -> str:
    """Why a stratified split of ``m`` rows held nothing out, when the fraction alone would hold rows
    out: every class too small to give a row to the test split."""
    if len(groups) < 2 or round(test_fraction * m) < 1:
        return ""
    largest = max(group.shape[0] for group in groups)
    return (
        f": the target's {len(groups)} classes have at most {largest} row(s) each, too few to hold one "
        "out (a target with a different value in almost every row names the rows; there is no class to learn)"
    )


def keys_digest(keys: np.ndarray) -> str:
    """A short digest of a set of row keys (order-free): what identifies the test rows."""
    return hashlib.sha256(np.sort(keys).astype("<u8").tobytes()).hexdigest()[:32]


def _class_groups(classes: np.ndarray, m: int) -> list[np.ndarray]:
    _, inverse = np.unique(classes, return_inverse=True, axis=0 if classes.ndim > 1 else None)
    inverse = inverse.reshape(-1)
    return [np.flatnonzero(inverse == k) for k in range(inverse.max() + 1)]
