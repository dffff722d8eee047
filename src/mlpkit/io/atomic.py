"""Atomic file writes: a temporary file in the target's folder, fsync, then rename over the target.

Readers see the old file or the complete new one, never a partial one; a failed write leaves
no temporary file behind and names the file it could not write. Only regular files are
replaced: a device (``/dev/null``), a FIFO, a socket or a folder at the path is refused, since
a rename would put a regular file in its place. A symbolic link is followed: its target is
replaced, the link stays. A temporary file carries the writing process's id, so that a later
write to the same path removes what a killed process left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

TEMPORARY_TAG = "mlpkit"  # temporary files are named .<name>.mlpkit-<pid>-<random>.tmp


def check_writable(path: str | os.PathLike) -> Path:
    """The path to write (a link's target), or ValueError unless a regular file can be created or replaced
    there (its folder exists and is writable; nothing but a regular file is at the path)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"cannot write {path}: it is a folder")
    with contextlib.suppress(OSError):
        mode = os.stat(path).st_mode  # follows links: /dev/stdout is whatever descriptor 1 is
        if not stat.S_ISREG(mode):
            raise ValueError(
                f"cannot write {path}: it is {special_kind(mode)}, not a regular file, and would be "
                "replaced by one; choose a regular file"
            )
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"cannot write {path}: folder {folder} is not writable")
    return path


def special_kind(mode: int) -> str:
    """What a non-regular file is, in words: ``a character device``, ``a FIFO (named pipe)``..."""
    kinds = (
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    )
    return next((words for test, words in kinds if test(mode)), "a special file")


def atomic_write(path: str | os.PathLike, writer: Callable[[IO], None], *, text: bool = False) -> Path:
    """Write ``path`` through ``writer(file)`` into a temporary file in the same folder, then rename.

    Readers see the old file or the complete new one, never a partial one; on any error the
    temporary file is removed and the old file (if any) is left untouched.
    """
    path = check_writable(path)
    remove_stale_temporaries(path)
    try:
        descriptor, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.{TEMPORARY_TAG}-{os.getpid()}-", suffix=".tmp"
        )
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


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete the temporary files of writes to ``path`` whose process is gone (killed mid-write)."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.{TEMPORARY_TAG}-(\d+)-[^/]*\.tmp")
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            match = pattern.fullmatch(entry.name)
            if match and not _process_alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or a pid we cannot ask about: leave its file alone
    return True


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
