"""Atomic file writes: a temporary file in the target's folder, fsync, then rename over the target.

Readers see the old file or the complete new one, never a partial one; a failed write leaves
no temporary file behind and names the file it could not write.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def check_writable(path: str | os.PathLike) -> Path:
    """Raise ValueError unless ``path`` can be created or replaced (its folder exists and is writable)."""
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise ValueError(f"cannot write {path}: it is a folder")
    if not folder.is_dir():
        raise ValueError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"cannot write {path}: folder {folder} is not writable")
    return path


def atomic_write(path: str | os.PathLike, writer: Callable[[IO], None], *, text: bool = False) -> Path:
    """Write ``path`` through ``writer(file)`` into a temporary file in the same folder, then rename.

    Readers see the old file or the complete new one, never a partial one; on any error the
    temporary file is removed and the old file (if any) is left untouched.
    """
    path = check_writable(path)
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise _naming(error, path) from error
    try:
        mode, options = ("w", {"encoding": "utf-8", "newline": ""}) if text else ("wb", {})
        with os.fdopen(descriptor, mode, **options) as handle:
            writer(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, _default_file_mode())
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise _naming(error, path) from error
        raise
    _fsync_folder(path.parent)
    return path


def _naming(error: OSError, path: Path) -> OSError:
    """The same kind of OSError (same errno), its message naming the file that could not be written."""
    message = f"cannot write {path}: {error.strerror or error}; any previous file there is unchanged"
    return OSError(error.errno, message) if error.errno is not None else OSError(message)


def _default_file_mode() -> int:
    """The mode a newly created file gets under the current umask (mkstemp's own is 0o600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_folder(folder: Path) -> None:
    """Flush the folder's entry for the renamed file; best effort (not every system allows it)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
