"""Opening ``.npy`` files memory-mapped (never pickled) and finding the files of a shard folder."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

SHARD_NAME = re.compile(r"X(?P<part>.*)\.npy")
NUMERIC_KINDS = "biuf"
LABEL_KINDS = "biufU"


def open_npy(path: str | os.PathLike, role: str, kinds: str = NUMERIC_KINDS) -> np.memmap:
    """``np.load(path, mmap_mode="r")`` with a ValueError naming the file when it cannot serve as ``role``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{role} file {path} does not exist")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"{role} file {path} is not a readable .npy array: {error}") from None
    if not isinstance(array, np.ndarray):
        array.close()
        raise ValueError(
            f"{role} file {path} is an .npz archive; memory mapping needs one .npy file per array"
        )
    if array.dtype.kind not in kinds:
        raise ValueError(f"{role} file {path} holds {array.dtype} values; expected numbers")
    if array.ndim == 0 or array.shape[0] == 0:
        raise ValueError(f"{role} file {path} has no rows (shape {array.shape})")
    return array


def _natural_key(text: str) -> list:
    return [int(piece) if piece.isdigit() else piece for piece in re.split(r"(\d+)", text)]


def shard_paths(folder: str | os.PathLike) -> list[tuple[Path, Path]]:
    """The ``(X_<part>.npy, y_<part>.npy)`` pairs of a shard folder, in natural order of the parts."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"shard folder {folder} does not exist")
    parts = sorted(
        (match["part"] for path in folder.iterdir() if (match := SHARD_NAME.fullmatch(path.name))),
        key=_natural_key,
    )
    if not parts:
        raise ValueError(f"shard folder {folder} holds no X_<part>.npy files (each with a y_<part>.npy)")
    pairs = [(folder / f"X{part}.npy", folder / f"y{part}.npy") for part in parts]
    for features, labels in pairs:
        if not labels.is_file():
            raise ValueError(f"shard {features} has no labels file {labels.name} beside it")
    return pairs


def check_parts(parts: Sequence[np.ndarray], paths: Sequence[Path], role: str) -> None:
    first = parts[0]
    for array, path in zip(parts, paths, strict=True):
        if array.shape[1:] != first.shape[1:] or array.dtype != first.dtype:
            raise ValueError(
                f"{role} shard {path} has rows of shape {array.shape[1:]} and dtype {array.dtype}, but "
                f"{paths[0]} has {first.shape[1:]} and {first.dtype}; every shard must match"
            )
