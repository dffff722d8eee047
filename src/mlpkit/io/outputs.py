"""The one guard of every command that writes: each output is a regular file that is neither an input
nor another output of the same command.

Paths are compared by their resolved form and, when both exist, by device and inode, so a
link, a relative path or a hard link to an input is caught too. An output named ``-`` is a
stream (standard output) where the command allows it; anything else that is not a regular
file (``/dev/null``, ``/dev/stdout``, a FIFO) is refused by :func:`~mlpkit.io.atomic.check_writable`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from mlpkit.io.atomic import check_writable

STREAM = "-"  # an output named "-" is standard output, where the command allows a stream


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` are one file: the same resolved path, or the same device and inode."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def check_outputs(
    outputs: Mapping[str, str | os.PathLike | None],
    inputs: Mapping[str, str | os.PathLike | None] = {},  # noqa: B006 (read only)
    *,
    streams: Iterable[str] = (),
) -> dict[str, Path | None]:
    """Each output (keyed by the option naming it) checked before anything is read or computed.

    Returns the path to write for each output (a link's target), None for an absent one and for
    ``-`` where its option is in ``streams``. Raises ValueError naming the option when an output
    cannot be written as a regular file, is one of the ``inputs`` (keyed by their options; those
    that are not files, such as dataset names, are skipped) or is another output.
    """
    streams = set(streams)
    checked: dict[str, Path | None] = {}
    for option, path in outputs.items():
        if path is None or (str(path) == STREAM and option in streams):
            checked[option] = None
            continue
        for input_option, source in inputs.items():
            if source is not None and os.path.exists(source) and same_file(path, source):
                raise ValueError(
                    f"{option} {path} is the same file as {input_option} {source}: an output never "
                    "replaces an input; choose another path"
                )
        for other_option, other in outputs.items():
            if other_option != option and checked.get(other_option) and same_file(path, other):
                raise ValueError(
                    f"{option} {path} is the same file as {other_option} {other}: two outputs of one "
                    "command cannot share a file; choose another path"
                )
        try:
            checked[option] = check_writable(path)
        except ValueError as error:
            hint = (
                f" (or {STREAM} for standard output)" if option in streams and "regular" in str(error) else ""
            )
            raise ValueError(f"{option}: {error}{hint}") from None
    return checked
