"""Model files and checkpoints: the :class:`Model`, safe ``save``/``load``, atomic writes.

A file is a zip archive readable by ``numpy.load(path, allow_pickle=False)``: one ``.npy``
member per array under a plain name (``W1``, ``b1``, ...) plus a JSON member
``mlpkit.json`` holding the format name and version, the architecture and everything else.
Loading treats the file as untrusted: nothing is unpickled or executed, every size is
bounded from the zip directory before anything is read, every array's dtype and shape is
checked against the JSON architecture, and names map only through the allowlists.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import numpy as np

from mlpkit.activations import ACTIVATIONS
from mlpkit.losses import OUTPUT_LAYERS
from mlpkit.model import Model
from mlpkit.network import DNN, DTYPES
from mlpkit.preprocessing import SCALING_METHODS, AffineScaler

MODEL_FORMAT = "mlpkit-model"
CHECKPOINT_FORMAT = "mlpkit-checkpoint"
FORMAT_VERSION = 1
META_ENTRY = "mlpkit.json"

MAX_FILE_BYTES = 4 << 30
MAX_MEMBERS = 4096
MAX_JSON_BYTES = 16 << 20
MAX_CENTRAL_DIRECTORY_BYTES = 1 << 20  # ample for MAX_MEMBERS entries with names up to 128 bytes
MAX_LAYERS = 1024
MAX_UNITS = 1 << 20
MAX_PARAMETERS = 1 << 28
MAX_NPY_HEADER_BYTES = 1 << 16
# A zip bomb expands far beyond its size; model weights barely compress. Above a floor,
# refuse archives whose declared content is more than this many times the file's size.
EXPANSION_FLOOR_BYTES = 64 << 20
MAX_EXPANSION = 200
JSON_EXPANSION_FLOOR_BYTES = 1 << 20  # above it, the JSON entry itself must not expand beyond MAX_EXPANSION
MEMBER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,127}\.npy")
UNSUPPORTED_ZIP_FLAGS = 0x01 | 0x20 | 0x40  # encrypted, patched data, strong encryption
CHECKPOINT_PARAMETERS = ("theta", "best_theta", "epoch_start_theta")
OPTIMIZER_ARRAY = re.compile(r"optimizer\.[a-z_]{1,32}\.theta")

LABEL_TYPES = (str, int, float, bool)


# ---------------------------------------------------------------------- atomic writes
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
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


# ---------------------------------------------------------------------- writing archives
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


def _as_model(obj: Any) -> Model:
    if isinstance(obj, Model):
        return obj
    if hasattr(obj, "to_model"):
        model = obj.to_model()
        if isinstance(model, Model):
            return model
    raise ValueError(f"save needs an mlpkit.Model or an object with to_model(), got {type(obj).__name__}")


def save(obj: Any, path: str | os.PathLike) -> Path:
    """Write a :class:`Model` (or anything with ``to_model()``) to ``path`` as one ``.npz``, atomically."""
    model = _as_model(obj)
    meta = {
        "format": MODEL_FORMAT,
        "format_version": FORMAT_VERSION,
        "mlpkit_version": _mlpkit_version(),
        "architecture": model.net.config(),
        "task": model.task,
        "labels": list(model.labels),
        "label_names": list(model.label_names),
        "preprocessing": None,
        "config": model.config,
        "history": model.history,
        "metrics": model.metrics,
    }
    arrays = {name: array for name, array in model.net.params.items()}
    if model.scaler is not None:
        meta["preprocessing"] = {
            "type": "affine",
            "method": model.scaler.method,
            "n_features": model.n_features,
        }
        arrays["scaler_offset"] = model.scaler.offset_
        arrays["scaler_scale"] = model.scaler.scale_
    _check_finite_arrays(arrays, arrays, path)
    return atomic_write(path, lambda handle: _write_archive(handle, meta, arrays, strict_json=True))


def _check_finite_arrays(arrays: dict[str, np.ndarray], names: Iterable[str], path) -> None:
    """Refuse to write NaN or infinite parameters: such a file could only predict NaN."""
    for name in names:
        if name in arrays and not np.isfinite(arrays[name]).all():
            raise ValueError(
                f"cannot write {path}: {name} holds NaN or infinity (did training diverge?); "
                "nothing was written"
            )


# ---------------------------------------------------------------------- reading archives
class _Archive:
    """An opened, size-checked archive: its JSON entry and its ``.npy`` members by name."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self.file_size = self._check_file(path)
        self._check_central_directory()
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, NotImplementedError) as error:
            raise self.error(
                f"not a zip archive, so not an mlpkit {kind} file (truncated or corrupted?): {error}"
            ) from None
        self.members = self._index_members()
        self.meta = self._read_meta()

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
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
            raise self.error(f"{META_ENTRY} cannot be read (corrupted?): {error}") from None
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise self.error(f"{META_ENTRY} is not valid JSON: {error}") from None
        if not isinstance(meta, dict):
            raise self.error(f"{META_ENTRY} must hold a JSON object, got {type(meta).__name__}")
        self._check_format(meta)
        return meta

    def _check_format(self, meta: dict) -> None:
        expected = MODEL_FORMAT if self.kind == "model" else CHECKPOINT_FORMAT
        if meta.get("format") != expected:
            raise self.error(
                f"format is {meta.get('format')!r}, expected {expected!r}: not an mlpkit {self.kind} file"
            )
        version = meta.get("format_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise self.error(f"format_version must be an integer >= 1, got {version!r}")
        if version > FORMAT_VERSION:
            raise self.error(
                f"format version {version} is newer than this mlpkit reads ({FORMAT_VERSION}); upgrade mlpkit"
            )

    def array_names(self) -> set[str]:
        return {name[: -len(".npy")] for name in self.members if name != META_ENTRY}

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
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
            raise self.error(f"array {name!r} cannot be read (corrupted?): {error}") from None
        if finite and not np.isfinite(array).all():
            raise self.error(f"array {name!r} holds NaN or infinity")
        return array

    def _read_npy(self, member: IO[bytes], name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        try:
            version = np.lib.format.read_magic(member)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if read_header is None:
                raise ValueError(f"unsupported .npy version {version}")
            stored_shape, fortran_order, stored_dtype = read_header(member)
        except (ValueError, SyntaxError, TypeError, EOFError, RecursionError) as error:
            raise self.error(f"array {name!r} has no valid .npy header: {error}") from None

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

    def close(self) -> None:
        self.zip.close()


def _open_archive(path: str | os.PathLike, kind: str) -> _Archive:
    return _Archive(Path(path), kind)


# ---------------------------------------------------------------------- checking the JSON
def _architecture(archive: _Archive) -> dict:
    """The validated architecture entry; names only through the activation/output allowlists."""
    architecture = archive.meta.get("architecture")
    if not isinstance(architecture, dict):
        raise archive.error("architecture entry is missing or not an object")
    sizes = architecture.get("layer_sizes")
    if not isinstance(sizes, list) or not 2 <= len(sizes) <= MAX_LAYERS:
        raise archive.error(
            f"architecture.layer_sizes must be a list of 2 to {MAX_LAYERS} sizes, got {sizes!r:.80}"
        )
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_UNITS:
            raise archive.error(
                f"architecture.layer_sizes holds {size!r:.40}; each size must be in [1, {MAX_UNITS}]"
            )
    n_parameters = sum(sizes[l] * (sizes[l - 1] + 1) for l in range(1, len(sizes)))
    if n_parameters > MAX_PARAMETERS:
        raise archive.error(f"architecture has {n_parameters} parameters, above the {MAX_PARAMETERS} limit")
    hidden = architecture.get("hidden_activation")
    if not isinstance(hidden, list) or len(hidden) != len(sizes) - 2:
        raise archive.error(
            f"architecture.hidden_activation must list one name per hidden layer, got {hidden!r:.80}"
        )
    _check_names(archive, "architecture.hidden_activation", hidden, ACTIVATIONS)
    _check_names(
        archive, "architecture.output_activation", [architecture.get("output_activation")], OUTPUT_LAYERS
    )
    if architecture.get("dtype") not in DTYPES:
        raise archive.error(
            f"architecture.dtype is {architecture.get('dtype')!r:.40}; expected one of {list(DTYPES)}"
        )
    return architecture


def _check_names(archive: _Archive, where: str, names: list, allowed: dict) -> None:
    for name in names:
        if not isinstance(name, str) or name not in allowed:
            raise archive.error(f"{where} holds {name!r:.40}; expected one of {sorted(allowed)}")


def network_from_architecture(architecture: dict) -> DNN:
    """An untrained :class:`DNN` of the checked architecture a file describes."""
    return DNN(
        architecture["layer_sizes"],
        architecture["hidden_activation"],
        architecture["output_activation"],
        dtype=architecture["dtype"],
        seed=0,
    )


def _build_network(archive: _Archive, architecture: dict) -> DNN:
    net = network_from_architecture(architecture)
    for name, view in net.params.items():
        view[...] = archive.read_array(name, view.shape, net.dtype)
    return net


def _scaler(archive: _Archive, n_features: int) -> AffineScaler | None:
    preprocessing = archive.meta.get("preprocessing")
    if preprocessing is None:
        return None
    if not isinstance(preprocessing, dict) or preprocessing.get("type") != "affine":
        raise archive.error(f"preprocessing must be null or an affine entry, got {preprocessing!r:.80}")
    method = preprocessing.get("method")
    if method not in SCALING_METHODS:
        raise archive.error(
            f"preprocessing.method is {method!r:.40}; expected one of {list(SCALING_METHODS)}"
        )
    float64 = np.dtype(np.float64)
    offset = archive.read_array("scaler_offset", (n_features,), float64)
    scale = archive.read_array("scaler_scale", (n_features,), float64)
    try:
        return AffineScaler.from_arrays(offset, scale, method)
    except ValueError as error:
        raise archive.error(f"preprocessing: {error}") from None


def _labels(archive: _Archive) -> tuple[list, list[str]]:
    labels, names = archive.meta.get("labels", []), archive.meta.get("label_names", [])
    if not isinstance(labels, list) or not all(isinstance(v, LABEL_TYPES) for v in labels):
        raise archive.error("labels must be a list of strings or numbers")
    if not isinstance(names, list) or not all(isinstance(v, str) for v in names):
        raise archive.error("label_names must be a list of strings")
    return labels, names


def _json_object(archive: _Archive, key: str) -> dict:
    value = archive.meta.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise archive.error(f"{key} must be a JSON object, got {type(value).__name__}")
    return value


def _history(archive: _Archive) -> dict[str, list[float]]:
    history = _json_object(archive, "history")
    restored = {}
    for name, values in history.items():
        if not isinstance(values, list) or not all(v is None or isinstance(v, (int, float)) for v in values):
            raise archive.error(f"history.{name} must be a list of numbers")
        restored[name] = [math.nan if v is None else float(v) for v in values]
    return restored


def load(path: str | os.PathLike) -> Model:
    """Read a model file written by :func:`save`; a bad, foreign or newer file raises ValueError naming it."""
    archive = _open_archive(path, "model")
    try:
        architecture = _architecture(archive)
        expected = {f"W{l}" for l in range(1, len(architecture["layer_sizes"]))}
        expected |= {name.replace("W", "b") for name in expected}
        if archive.meta.get("preprocessing") is not None:
            expected |= {"scaler_offset", "scaler_scale"}
        unexpected = archive.array_names() - expected
        if unexpected:
            raise archive.error(f"unexpected arrays {sorted(unexpected)}")
        net = _build_network(archive, architecture)
        scaler = _scaler(archive, net.layer_sizes[0])
        labels, names = _labels(archive)
        task = archive.meta.get("task")
        try:
            return Model(
                net,
                scaler,
                names or None,
                task,
                _json_object(archive, "config"),
                _history(archive),
                _json_object(archive, "metrics"),
                labels=labels or None,
            )
        except (ValueError, TypeError) as error:
            raise archive.error(str(error)) from None
    finally:
        archive.close()


def read_info(path: str | os.PathLike) -> dict:
    """The JSON entry of a model file (validated by a full :func:`load`) plus its size in bytes."""
    load(path)
    archive = _open_archive(path, "model")
    try:
        return {**archive.meta, "file_bytes": archive.file_size}
    finally:
        archive.close()


# ---------------------------------------------------------------------- checkpoints
@dataclass
class Checkpoint:
    """A training snapshot: :meth:`Trainer.state_dict` arrays and metadata, the architecture and a config."""

    arrays: dict[str, np.ndarray]
    trainer_meta: dict
    architecture: dict
    config: dict = field(default_factory=dict)
    path: str = ""  # the file it was read from, named in errors

    def network(self) -> DNN:
        """A :class:`DNN` with the checkpoint's architecture and parameters ``theta``."""
        net = network_from_architecture(self.architecture)
        net.theta[...] = self.arrays["theta"]
        return net

    def restore(self, trainer) -> None:
        """Load the snapshot into ``trainer`` (its network must have the same architecture)."""
        where = f"{self.path}: " if self.path else ""
        if trainer.net.config() != self.architecture:
            raise ValueError(
                f"{where}the checkpoint's architecture {self.architecture} differs "
                f"from the trainer's {trainer.net.config()}"
            )
        try:
            trainer.load_state_dict(self.arrays, self.trainer_meta)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{where}cannot restore this checkpoint: {error!r}") from None


def save_checkpoint(path: str | os.PathLike, trainer, config: dict | None = None) -> Path:
    """Write ``trainer.state_dict()`` (and a JSON-serializable ``config``) to ``path`` atomically.

    Parameters that are NaN or infinite are refused (the trainer never pauses on such weights).
    """
    arrays, trainer_meta = trainer.state_dict()
    _check_finite_arrays(arrays, CHECKPOINT_PARAMETERS, path)
    meta = {
        "format": CHECKPOINT_FORMAT,
        "format_version": FORMAT_VERSION,
        "mlpkit_version": _mlpkit_version(),
        "architecture": trainer.net.config(),
        "trainer": trainer_meta,
        "config": dict(config or {}),
    }
    return atomic_write(path, lambda handle: _write_archive(handle, meta, arrays, strict_json=False))


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`, with the same checks as :func:`load`."""
    archive = _open_archive(path, "checkpoint")
    try:
        architecture = _architecture(archive)
        sizes = architecture["layer_sizes"]
        n_parameters = sum(sizes[l] * (sizes[l - 1] + 1) for l in range(1, len(sizes)))
        dtype = np.dtype(architecture["dtype"])
        names = archive.array_names()
        unexpected = {n for n in names if n not in CHECKPOINT_PARAMETERS and not OPTIMIZER_ARRAY.fullmatch(n)}
        if unexpected:
            raise archive.error(f"unexpected arrays {sorted(unexpected)}")
        if "theta" not in names:
            raise archive.error("array 'theta' is missing")
        arrays = {
            name: archive.read_array(name, (n_parameters,), dtype, finite=name in CHECKPOINT_PARAMETERS)
            for name in sorted(names)
        }
        trainer_meta = _trainer_meta(archive)
        if ("epoch_progress" in trainer_meta) != ("epoch_start_theta" in arrays):
            raise archive.error("trainer.epoch_progress and array 'epoch_start_theta' must come together")
        config = _json_object(archive, "config")
        return Checkpoint(arrays, trainer_meta, architecture, config, str(archive.path))
    finally:
        archive.close()


def _trainer_meta(archive: _Archive) -> dict:
    """The checkpoint's ``trainer`` entry, every field checked against :data:`TRAINER_SCHEMA`."""
    meta = archive.meta.get("trainer")
    if not isinstance(meta, dict):
        raise archive.error("trainer entry is missing or not an object")
    _check_schema(archive, "trainer", meta, TRAINER_SCHEMA)
    for key, schema in OPTIONAL_TRAINER_SCHEMA.items():
        if key in meta:
            _check_schema(archive, f"trainer.{key}", meta[key], schema)
    return meta


def _check_schema(archive: _Archive, where: str, value: Any, schema: str | dict) -> None:
    if isinstance(schema, str):
        accepts, expected = FIELD_CHECKS[schema]
        if not accepts(value):
            raise archive.error(f"{where} must be {expected}, got {value!r:.60}")
        return
    if not isinstance(value, dict):
        raise archive.error(f"{where} must be a JSON object, got {value!r:.60}")
    for key, item_schema in schema.items():
        items = value.items() if key == "*" else [(key, value.get(key))]
        for name, item in items:
            _check_schema(archive, f"{where}.{name}", item, item_schema)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_generator_state(value: Any) -> bool:
    """Whether numpy's PCG64 accepts ``value`` as its state (no other generator is ever stored)."""
    try:
        np.random.PCG64(0).state = value
    except (TypeError, ValueError, KeyError, OverflowError, AttributeError):
        return False
    return True


FIELD_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "count": (_is_count, "an integer >= 0"),
    "number": (_is_number, "a number"),
    "rate": (lambda v: _is_number(v) and math.isfinite(v) and v > 0, "a finite number > 0"),
    "fraction": (lambda v: _is_number(v) and 0 < v < 1, "a number in (0, 1)"),
    "numbers": (lambda v: isinstance(v, list) and all(map(_is_number, v)), "a list of numbers"),
    "generator": (_is_generator_state, "a PCG64 generator state"),
}
TRAINER_SCHEMA = {
    "epoch": "count",
    "epochs_without_improvement": "count",
    "best_loss": "number",
    "rng": "generator",
    "history": {"*": "numbers"},
    "optimizer": {"t": "count", "learning_rate": "rate"},
}
OPTIONAL_TRAINER_SCHEMA = {
    "plateau": {"scale": "number", "best": "number", "wait": "count"},
    "validation_split": {"rows": "count", "fraction": "fraction", "rng": "generator"},
    "epoch_progress": {
        "rows": "count",
        "samples_done": "count",
        "total_loss": "number",
        "correct": "number",
        "rng": "generator",
    },
}
