"""Downloads into the user cache: streamed, SHA-256 verified, atomic, with a tqdm progress bar.

A download goes to a temporary file beside its destination and is renamed into place only
once it is complete and its checksum matches, so a failed or bad transfer leaves nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

CHUNK_BYTES = 1 << 16
TIMEOUT_SECONDS = 30.0


class DownloadError(OSError):
    """A file could not be fetched or failed verification; nothing was written."""


def user_cache_dir() -> Path:
    """mlpkit's cache folder: ``$XDG_CACHE_HOME/mlpkit``, else ``~/.cache/mlpkit``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mlpkit"


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(
    url: str,
    destination: str | os.PathLike,
    sha256: str,
    *,
    progress: bool | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> Path:
    """Fetch ``url`` into ``destination`` if its SHA-256 is ``sha256``; else raise DownloadError.

    ``progress`` shows a tqdm bar on stderr (default: only when stderr is a terminal).
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".part"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            digest = _stream(url, handle, destination.name, progress, timeout)
            handle.flush()
            os.fsync(handle.fileno())
        if digest != sha256.lower():
            raise DownloadError(
                f"{url}: checksum mismatch (SHA-256 {digest}, expected {sha256}); file discarded"
            )
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return destination


def _stream(url: str, handle, label: str, progress: bool | None, timeout: float) -> str:
    """Copy the response body into ``handle``; returns its SHA-256; checks the announced length."""
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            announced = _content_length(response)
            with _progress_bar(announced, label, progress) as bar:
                while chunk := response.read(CHUNK_BYTES):
                    digest.update(chunk)
                    handle.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url}: the server answered {error.code} {error.reason}") from None
    except http.client.IncompleteRead as error:
        raise DownloadError(
            f"{url}: transfer cut short after {received + len(error.partial)} bytes; file discarded"
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"{url}: {reason}") from None
    if announced is not None and received != announced:
        raise DownloadError(f"{url}: transfer cut short: {received} of {announced} bytes; file discarded")
    return digest.hexdigest()


def _content_length(response) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _progress_bar(total: int | None, label: str, progress: bool | None):
    from tqdm.auto import tqdm

    show = progress if progress is not None else sys.stderr.isatty()
    return tqdm(
        total=total,
        desc=f"downloading {label}",
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not show,
        leave=False,
        file=sys.stderr,
    )
