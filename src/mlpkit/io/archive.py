"""The container of model and checkpoint files: a zip of ``.npy`` arrays plus one JSON entry.

A file is a zip archive readable by ``numpy.load(path, allow_pickle=False)``: one ``.npy``
member per array under a plain name (``W1``, ``b1``, ``theta``, ...) plus a JSON member
``mlpkit.json`` holding the format name and version and everything else. The writer refuses
NaN or infinite parameters and writes atomically. The reader treats the file as untrusted:
nothing is unpickled or executed, every size is bounded from the zip directory before
anything is read, and each array's dtype and shape is checked before its data is read.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import numpy as np

from mlpkit.io.atomic import atomic_write

FORMATS = {"model": "mlpkit-model", "checkpoint": "mlpkit-checkpoint"}  # kind -> the JSON "format"
FORMAT_VERSION = 1  # what a file is written as unless it holds something newer
NEWEST_FORMAT_VERSION = 4  # the newest this mlpkit reads: 2 adds a model's feature schema, 3 its
# embeddings, 4 a regression target's scaling
META_ENTRY = "mlpkit.json"

MAX_FILE_BYTES = 4 << 30
MAX_MEMBERS = 4096
MAX_JSON_BYTES = 16 << 20
MAX_CENTRAL_DIRECTORY_BYTES = 1 << 20  # ample for MAX_MEMBERS entries with names up to 128 bytes
MAX_NPY_HEADER_BYTES = 1 << 16
MAX_JSON_DEPTH = 32  # what mlpkit writes nests a few levels; deeper input would only exhaust the stack
# A zip bomb expands far beyond its size; model weights barely compress. Above a floor,
# refuse archives whose declared content is more than this many times the file's size.
EXPANSION_FLOOR_BYTES = 64 << 20
MAX_EXPANSION = 200
JSON_EXPANSION_FLOOR_BYTES = 1 << 20  # above it, the JSON entry itself must not expand beyond MAX_EXPANSION
MEMBER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,127}\.npy")
UNSUPPORTED_ZIP_FLAGS = 0x01 | 0x20 | 0x40  # encrypted, patched data, strong encryption
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError)


# ---------------------------------------------------------------------- writing
def _save_archive(
    path: str | os.PathLike,
    kind: str,
    meta: dict,
    arrays: dict[str, np.ndarray],
    *,
    finite: Iterable[str],
    strict_json: bool,
    version: int = FORMAT_VERSION,
) -> Path:
    """Write a ``kind`` file atomically: the header (``version``) and ``meta`` as JSON, then ``arrays``.

    The arrays named in ``finite`` must hold no NaN or infinity; otherwise nothing is written.
    """
    _check_finite_arrays(arrays, finite, path)
    header = {"format": FORMATS[kind], "format_version": version, "mlpkit_version": _mlpkit_version()}
    meta = {**header, **meta}
    return atomic_write(path, lambda handle: _write_archive(handle, meta, arrays, strict_json=strict_json))


def _write_archive(
    handle: IO[bytes], meta: dict, arrays: dict[str, np.ndarray], *, strict_json: bool
) -> None:
    text = json.dumps(
        _finite_or_null(meta) if strict_json else meta,
        default=_json_default,
        allow_nan=not strict_json,
        indent=1,
    )
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(META_ENTRY, text.encode("utf-8"))
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)


def _check_finite_arrays(
    arrays: dict[str, np.ndarray], names: Iterable[str], path: str | os.PathLike
) -> None:
    """Refuse to write NaN or infinite parameters: such a file could only predict NaN."""
    for name in names:
        if name in arrays and not np.isfinite(arrays[name]).all():
            raise ValueError(
                f"cannot write {path}: {name} holds NaN or infinity (did training diverge?); "
                "nothing was written"
            )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store a {type(value).__name__} in the model file's JSON entry")


def _finite_or_null(value: Any) -> Any:
    """Replace NaN and infinities with None (strict JSON has no such numbers)."""
    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(item) for item in value]
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        return None
    return value


def _mlpkit_version() -> str:
    try:
        return metadata.version("mlpkit")
    except metadata.PackageNotFoundError:
        return "unknown"


# ---------------------------------------------------------------------- reading
class _Archive:
    """An opened, size-checked archive: its JSON entry and its ``.npy`` members by name."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self.file_size = self._check_file(path)
        self._check_central_directory()
        try:
            self.zip = zipfile.ZipFile(path)
        except (ValueError, *READ_ERRORS) as error:
            raise self.error(
                f"not a zip archive, so not an mlpkit {kind} file (truncated or corrupted?): {error}"
            ) from None
        try:
            self.members = self._index_members()
            self.meta = self._read_meta()
        except BaseException:  # a refusal or Ctrl-C: the file is closed, not left to the collector
            self.zip.close()
            raise

    def error(self, message: str) -> ValueError:
        return ValueError(f"{self.path}: {message}")

    def _check_file(self, path: Path) -> int:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such {self.kind} file")
        if not path.is_file():
            raise self.error(f"not a file, so not an mlpkit {self.kind} file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise self.error(
                f"file is {size} bytes, above the {MAX_FILE_BYTES}-byte limit for {self.kind} files"
            )
        return size

    def _check_central_directory(self) -> None:
        """Bound the entry list before :class:`zipfile.ZipFile` builds one object per entry."""
        try:
            with open(self.path, "rb") as handle:
                end_record = zipfile._EndRecData(handle)  # the end record ZipFile itself will trust
        except (OSError, struct.error, zipfile.BadZipFile, ValueError):
            end_record = None
        if end_record is None:
            return  # no end record: ZipFile reports the file as not a zip archive
        size = end_record[zipfile._ECD_SIZE]
        if size > MAX_CENTRAL_DIRECTORY_BYTES:
            raise self.error(
                f"its zip directory declares {size} bytes, above the {MAX_CENTRAL_DIRECTORY_BYTES}-byte "
                f"limit (at most {MAX_MEMBERS} entries): not an mlpkit {self.kind} file"
            )

    def _index_members(self) -> dict[str, zipfile.ZipInfo]:
        infos = self.zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise self.error(f"archive has {len(infos)} entries, more than the {MAX_MEMBERS} allowed")
        members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            if name != META_ENTRY and not MEMBER_NAME.fullmatch(name):
                raise self.error(f"unexpected entry {name[:80]!r} (not an mlpkit {self.kind} file?)")
            if name in members:
                raise self.error(f"entry {name!r} appears twice")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or (
                info.flag_bits & UNSUPPORTED_ZIP_FLAGS
            ):
                raise self.error(
                    f"entry {name!r} is encrypted or uses compression method {info.compress_type}; "
                    "mlpkit files are stored or deflated, unencrypted"
                )
            members[name] = info
        declared = sum(info.file_size for info in infos)
        if declared > max(EXPANSION_FLOOR_BYTES, MAX_EXPANSION * self.file_size):
            raise self.error(
                f"entries declare {declared} bytes uncompressed from a {self.file_size}-byte file "
                "(a zip bomb?); refused"
            )
        return members

    def _read_meta(self) -> dict:
        info = self.members.get(META_ENTRY)
        if info is None:
            raise self.error(f"no {META_ENTRY} entry: not an mlpkit {self.kind} file")
        if info.file_size > MAX_JSON_BYTES:
            raise self.error(
                f"{META_ENTRY} declares {info.file_size} bytes, above the {MAX_JSON_BYTES} limit"
            )
        if info.file_size > max(JSON_EXPANSION_FLOOR_BYTES, MAX_EXPANSION * info.compress_size):
            raise self.error(
                f"{META_ENTRY} declares {info.file_size} bytes from {info.compress_size} compressed "
                "(a zip bomb?); refused"
            )
        try:
            with self.zip.open(info) as member:  # read(size) bounds what is inflated, read() would not
                meta = json.loads(member.read(info.file_size).decode("utf-8"))
        except READ_ERRORS as error:
            raise self.error(f"{META_ENTRY} cannot be read (corrupted?): {error}") from None
        except (UnicodeDecodeError, ValueError, RecursionError) as error:  # a 5000-digit number too
            raise self.error(f"{META_ENTRY} is not valid JSON: {error}") from None
        if not isinstance(meta, dict):
            raise self.error(f"{META_ENTRY} must hold a JSON object, got {type(meta).__name__}")
        if json_depth(meta) > MAX_JSON_DEPTH:
            raise self.error(f"{META_ENTRY} nests deeper than {MAX_JSON_DEPTH} levels; not an mlpkit file")
        self._check_format(meta)
        return meta

    def _check_format(self, meta: dict) -> None:
        expected = FORMATS[self.kind]
        if meta.get("format") != expected:
            raise self.error(
                f"format is {meta.get('format')!r}, expected {expected!r}: not an mlpkit {self.kind} file"
            )
        version = meta.get("format_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise self.error(f"format_version must be an integer >= 1, got {version!r}")
        if version > NEWEST_FORMAT_VERSION:
            raise self.error(
                f"format version {version} is newer than this mlpkit reads ({NEWEST_FORMAT_VERSION}); "
                "upgrade mlpkit"
            )

    def json_object(self, key: str) -> dict:
        """The JSON entry's ``key`` as an object: ``{}`` when absent or null, an error when not an object."""
        value = self.meta.get(key, {})
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(f"{key} must be a JSON object, got {type(value).__name__}")
        return value

    def array_names(self) -> set[str]:
        return {name[: -len(".npy")] for name in self.members if name != META_ENTRY}

    def check_declared_size(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        """Refuse a missing array, or one whose entry's declared size cannot be a ``.npy`` of ``shape``
        (in float32 or float64), from the zip directory alone: before anything is allocated for it."""
        info = self.members.get(f"{name}.npy")
        if info is None:
            raise self.error(f"array {name!r} is missing")
        count = math.prod(shape)
        smallest, largest = count * 4, count * 8 + MAX_NPY_HEADER_BYTES
        if not smallest <= info.file_size <= largest:
            raise self.error(
                f"array {name!r} declares {info.file_size} bytes, but shape {tuple(shape)} needs about "
                f"{count * dtype.itemsize}"
            )

    def read_array(
        self, name: str, shape: tuple[int, ...], dtype: np.dtype, *, finite: bool = True
    ) -> np.ndarray:
        """One float array, checked against the expected shape and dtype before its data is read.

        Reading to the member's end makes zipfile verify its CRC-32, so a flipped bit is caught;
        with ``finite``, NaN or infinite values are refused too.
        """
        info = self.members.get(f"{name}.npy")
        if info is None:
            raise self.error(f"array {name!r} is missing")
        expected_bytes = math.prod(shape) * dtype.itemsize
        if info.file_size > expected_bytes + MAX_NPY_HEADER_BYTES:
            raise self.error(
                f"array {name!r} declares {info.file_size} bytes, expected about {expected_bytes}"
            )
        try:
            with self.zip.open(info) as member:
                array = self._read_npy(member, name, shape, dtype)
                if member.read(1):
                    raise self.error(f"array {name!r} holds more bytes than its .npy header declares")
        except READ_ERRORS as error:
            raise self.error(f"array {name!r} cannot be read (corrupted?): {error}") from None
        if finite and not np.isfinite(array).all():
            raise self.error(f"array {name!r} holds NaN or infinity")
        return array

    def _read_npy(self, member: IO[bytes], name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        stored_shape, fortran_order, stored_dtype = self._read_npy_header(member, name)
        if stored_dtype.kind != "f" or stored_dtype.itemsize not in (4, 8) or stored_dtype.hasobject:
            raise self.error(f"array {name!r} has dtype {stored_dtype}; only float32 and float64 are allowed")
        if stored_dtype.newbyteorder("=") != dtype:
            raise self.error(
                f"array {name!r} has dtype {stored_dtype}, but the architecture says {dtype.name}"
            )
        if tuple(stored_shape) != tuple(shape):
            raise self.error(f"array {name!r} has shape {tuple(stored_shape)}, expected {tuple(shape)}")
        n_bytes = math.prod(shape) * stored_dtype.itemsize
        data = member.read(n_bytes)
        if len(data) != n_bytes:
            raise self.error(f"array {name!r} is truncated: {len(data)} of {n_bytes} bytes")
        order = "F" if fortran_order else "C"
        return np.frombuffer(data, dtype=stored_dtype).reshape(shape, order=order).astype(dtype, order="C")

    def _read_npy_header(self, member: IO[bytes], name: str) -> tuple[tuple, bool, np.dtype]:
        """The ``.npy`` header's (shape, fortran_order, dtype), parsed without evaluating anything."""
        try:
            version = np.lib.format.read_magic(member)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if read_header is None:
                raise ValueError(f"unsupported .npy version {version}")
            return read_header(member)
        except (ValueError, SyntaxError, TypeError, EOFError, RecursionError) as error:
            raise self.error(f"array {name!r} has no valid .npy header: {error}") from None

    def close(self) -> None:
        self.zip.close()


def json_depth(value: Any) -> int:
    """How deeply ``value``'s lists and objects nest (0 for a number or string), without recursion."""
    depth, level = 0, [(value, 1)]
    while level:
        item, at = level.pop()
        if isinstance(item, (dict, list)):
            depth = max(depth, at)
            children = item.values() if isinstance(item, dict) else item
            level.extend((child, at + 1) for child in children)
    return depth


def _open_archive(path: str | os.PathLike, kind: str) -> _Archive:
    return _Archive(Path(path), kind)
