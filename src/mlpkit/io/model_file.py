"""Model files: ``save``, ``load`` and ``read_info``, and the checks of the architecture they describe.

A model file holds one ``.npy`` member per parameter (``W1``, ``b1``, ...), the scaler's
``scaler_offset`` and ``scaler_scale`` when the model scales its inputs, and a JSON entry with
the architecture, task, labels, preprocessing, feature schema (a model trained on a table;
format version 2), its embeddings' sizes (``E1``, ``E2``, ... are arrays; format version 3),
a regression target's scaling (``target_offset`` and ``target_scale``; format version 4),
training config, history and metrics. Names read from a file map to code only through the
activation and output-layer allowlists.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from mlpkit.activations import ACTIVATIONS
from mlpkit.embeddings import EmbeddingInput
from mlpkit.features import FeatureSchema
from mlpkit.io.archive import _Archive, _open_archive, _save_archive
from mlpkit.io.bounds import MAX_LAYERS, MAX_PARAMETERS, MAX_UNITS, parameter_count
from mlpkit.losses import OUTPUT_LAYERS
from mlpkit.model import Model
from mlpkit.network import DNN, DTYPES
from mlpkit.preprocessing import SCALING_METHODS, AffineScaler

LABEL_TYPES = (str, int, float, bool)
SCALER_ARRAYS = ("scaler_offset", "scaler_scale")
FEATURES_VERSION = 2  # the format version of a file that holds a feature schema
EMBEDDINGS_VERSION = 3  # ... and of one whose schema embeds columns (E1, E2, ... and "embeddings")
TARGET_VERSION = 4  # ... and of one that scales its regression target
EMBEDDING_KEYS = ("n_dense", "vocabulary_sizes", "dimensions", "dtype")
TARGET_ARRAYS = ("target_offset", "target_scale")


# ---------------------------------------------------------------------- writing
def save(obj: Any, path: str | os.PathLike) -> Path:
    """Write a :class:`Model` (or anything with ``to_model()``) to ``path`` as one ``.npz``, atomically."""
    model = _as_model(obj)
    meta = {
        "architecture": model.net.config(),
        "task": model.task,
        "labels": list(model.labels),
        "label_names": list(model.label_names),
        "preprocessing": None,
        "features": None,
        "embeddings": None,
        "target_scaling": None,
        "config": model.config,
        "history": model.history,
        "metrics": model.metrics,
    }
    arrays = dict(model.net.params)
    if model.scaler is not None:
        meta["preprocessing"] = {
            "type": "affine",
            "method": model.scaler.method,
            "n_features": model.n_features,
        }
        arrays["scaler_offset"] = model.scaler.offset_
        arrays["scaler_scale"] = model.scaler.scale_
    version = 1
    if model.features is not None:
        meta["features"] = model.features.to_dict()
        version = FEATURES_VERSION
    if model.inputs is not None:
        meta["embeddings"] = model.inputs.config()
        arrays.update(model.inputs.views(model.inputs.phi))  # E1 (d_1, n_1), E2, ...
        version = EMBEDDINGS_VERSION
    if model.target_scaler is not None:
        meta["target_scaling"] = {"type": "affine", "method": model.target_scaler.method}
        arrays["target_offset"] = model.target_scaler.offset_
        arrays["target_scale"] = model.target_scaler.scale_
        version = TARGET_VERSION
    return _save_archive(path, "model", meta, arrays, finite=arrays, strict_json=True, version=version)


def _as_model(obj: Any) -> Model:
    if isinstance(obj, Model):
        return obj
    if hasattr(obj, "to_model"):
        model = obj.to_model()
        if isinstance(model, Model):
            return model
    raise ValueError(f"save needs an mlpkit.Model or an object with to_model(), got {type(obj).__name__}")


# ---------------------------------------------------------------------- reading
def load(path: str | os.PathLike) -> Model:
    """Read a model file written by :func:`save`; a bad, foreign or newer file raises ValueError naming it."""
    archive = _open_archive(path, "model")
    try:
        architecture = _architecture(archive)
        features = _features(archive)
        embeddings = _embedding_sizes(archive, architecture, features)
        _check_array_names(archive, architecture, embeddings)
        net = _build_network(archive, architecture)
        scaler = _scaler(archive, net.layer_sizes[0])
        target_scaler = _target_scaler(archive, net.layer_sizes[-1])
        inputs = _embeddings(archive, embeddings)
        labels, names = _labels(archive)
        try:
            return Model(
                net,
                scaler,
                names or None,
                archive.meta.get("task"),
                _config(archive),
                _history(archive),
                archive.json_object("metrics"),
                labels=labels or None,
                features=features,
                inputs=inputs,
                target_scaler=target_scaler,
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


def network_from_architecture(architecture: dict) -> DNN:
    """An untrained :class:`DNN` of the checked architecture a file describes."""
    return DNN(
        architecture["layer_sizes"],
        architecture["hidden_activation"],
        architecture["output_activation"],
        dtype=architecture["dtype"],
        seed=0,
    )


_parameter_count = parameter_count


# ---------------------------------------------------------------------- checking the JSON
def _architecture(archive: _Archive) -> dict:
    """The validated architecture entry; names only through the activation/output allowlists."""
    architecture = archive.meta.get("architecture")
    if not isinstance(architecture, dict):
        raise archive.error("architecture entry is missing or not an object")
    sizes = architecture.get("layer_sizes")
    _check_layer_sizes(archive, sizes)
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


def _check_layer_sizes(archive: _Archive, sizes: Any) -> None:
    if not isinstance(sizes, list) or not 2 <= len(sizes) <= MAX_LAYERS:
        raise archive.error(
            f"architecture.layer_sizes must be a list of 2 to {MAX_LAYERS} sizes, got {sizes!r:.80}"
        )
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_UNITS:
            raise archive.error(
                f"architecture.layer_sizes holds {size!r:.40}; each size must be in [1, {MAX_UNITS}]"
            )
    n_parameters = _parameter_count(sizes)
    if n_parameters > MAX_PARAMETERS:
        raise archive.error(f"architecture has {n_parameters} parameters, above the {MAX_PARAMETERS} limit")


def _check_names(archive: _Archive, where: str, names: list, allowed: dict) -> None:
    for name in names:
        if not isinstance(name, str) or name not in allowed:
            raise archive.error(f"{where} holds {name!r:.40}; expected one of {sorted(allowed)}")


def _check_array_names(archive: _Archive, architecture: dict, embeddings: dict | None) -> None:
    """Refuse arrays the architecture, preprocessing and embeddings do not call for, and missing or
    wrongly sized ones, from the zip directory alone: before the network is allocated."""
    sizes, dtype = architecture["layer_sizes"], np.dtype(architecture["dtype"])
    expected = {}
    for l in range(1, len(sizes)):
        expected[f"W{l}"] = ((sizes[l], sizes[l - 1]), dtype)  # W_l: (n_l, n_{l-1})
        expected[f"b{l}"] = ((sizes[l], 1), dtype)  # b_l: (n_l, 1)
    if archive.meta.get("preprocessing") is not None:
        expected.update({name: ((sizes[0],), np.dtype(np.float64)) for name in SCALER_ARRAYS})
    if archive.meta.get("target_scaling") is not None:
        expected.update({name: ((sizes[-1],), np.dtype(np.float64)) for name in TARGET_ARRAYS})
    if embeddings is not None:
        pairs = zip(embeddings["dimensions"], embeddings["vocabulary_sizes"], strict=True)
        expected.update({f"E{c}": ((d_c, n_c), dtype) for c, (d_c, n_c) in enumerate(pairs, start=1)})
    unexpected = archive.array_names() - set(expected)
    if unexpected:
        raise archive.error(f"unexpected arrays {sorted(unexpected)}")
    for name, (shape, array_dtype) in expected.items():
        archive.check_declared_size(name, shape, array_dtype)


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
    return _affine(archive, SCALER_ARRAYS, n_features, method, "preprocessing")


def _target_scaler(archive: _Archive, n_outputs: int) -> AffineScaler | None:
    """The regression target's scaling (``y = A_L * scale + offset``), or None when the file has none."""
    entry = archive.meta.get("target_scaling")
    if entry is None:
        return None
    if entry != {"type": "affine", "method": "standard"}:
        raise archive.error(
            f'target_scaling must be null or {{"type": "affine", "method": "standard"}}, got {entry!r:.80}'
        )
    return _affine(archive, TARGET_ARRAYS, n_outputs, "standard", "target_scaling")


def _affine(archive: _Archive, names: tuple[str, str], size: int, method: str, entry: str) -> AffineScaler:
    """The :class:`AffineScaler` whose float64 offset and scale ``(size,)`` are the arrays ``names``."""
    float64 = np.dtype(np.float64)
    offset, scale = (archive.read_array(name, (size,), float64) for name in names)
    try:
        return AffineScaler.from_arrays(offset, scale, method)
    except ValueError as error:
        raise archive.error(f"{entry}: {error}") from None


def _features(archive: _Archive) -> FeatureSchema | None:
    """The feature schema (checked entry by entry), or None for a model of numeric rows."""
    data = archive.meta.get("features")
    if data is None:
        return None
    try:
        return FeatureSchema.from_dict(data)
    except ValueError as error:
        raise archive.error(str(error)) from None


def _embedding_sizes(archive: _Archive, architecture: dict, features: FeatureSchema | None) -> dict | None:
    """The ``embeddings`` entry, checked against the schema's embedded columns, the network's ``n_x`` and
    dtype, and the parameter limit, before anything is allocated (None when the schema embeds nothing)."""
    entry = archive.meta.get("embeddings")
    embedded = features.embedded if features is not None else []
    if entry is None:
        if embedded:
            names = [name for name, _, _ in embedded]
            raise archive.error(f"the feature schema embeds column(s) {names} but the file has no embeddings")
        return None
    if not isinstance(entry, dict) or set(entry) != set(EMBEDDING_KEYS):
        raise archive.error(f"embeddings must be null or an object with keys {list(EMBEDDING_KEYS)}")
    if not embedded:
        raise archive.error("the file has embeddings but its feature schema embeds no column")
    expected = {
        "n_dense": features.dense_width if features is not None else None,
        "vocabulary_sizes": [n_c for _, n_c, _ in embedded],
        "dimensions": [d_c for _, _, d_c in embedded],
        "dtype": architecture["dtype"],
    }
    for key in EMBEDDING_KEYS:
        if json.dumps(entry[key]) != json.dumps(expected[key]):  # exact: true is not 1
            raise archive.error(
                f"embeddings.{key} is {entry[key]!r:.80}; the feature schema and architecture "
                f"call for {expected[key]!r:.80}"
            )
    n_x = expected["n_dense"] + sum(expected["dimensions"])
    if n_x != architecture["layer_sizes"][0]:
        raise archive.error(
            f"the feature schema and its embeddings make {n_x} inputs "
            f"but the network takes {architecture['layer_sizes'][0]}"
        )
    n_phi = sum(n_c * d_c for _, n_c, d_c in embedded)
    if n_phi > MAX_PARAMETERS:
        raise archive.error(f"embeddings hold {n_phi} parameters, above the {MAX_PARAMETERS} limit")
    return entry


def _embeddings(archive: _Archive, entry: dict | None) -> EmbeddingInput | None:
    """The :class:`EmbeddingInput` the checked entry describes, its ``E_c`` read from ``E1``, ``E2``, ..."""
    if entry is None:
        return None
    sizes = (entry["n_dense"], entry["vocabulary_sizes"], entry["dimensions"])
    inputs = EmbeddingInput(*sizes, dtype=entry["dtype"])  # sizes checked, bounded and equal to the schema's
    for name, view in inputs.views(inputs.phi).items():
        view[...] = archive.read_array(name, view.shape, inputs.dtype)
    return inputs


def _config(archive: _Archive) -> dict:
    """The stored training config, with the entries commands act on checked: a wrong type is refused
    here, naming the file and the entry, rather than failing later in a command."""
    config = archive.json_object("config")
    for key, (accepts, expected) in CONFIG_ENTRIES.items():
        value = config.get(key)
        if value is not None and not accepts(value):
            raise archive.error(f"config.{key} is {value!r:.60}; expected {expected} or null")
    return config


def _is_text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


CONFIG_ENTRIES = {  # entry -> (accepts, what it must be): what evaluate, predict and plot read
    "data": (lambda v: isinstance(v, str), "a dataset name or path"),
    "target": (lambda v: isinstance(v, str), "a column name"),
    "target_name": (lambda v: isinstance(v, str), "a column name"),
    "test_rows": (lambda v: isinstance(v, str), "a digest"),
    "seed": (_is_count, "an integer >= 0"),
    "test_fraction": (
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1,
        "a number in (0, 1)",
    ),
    "categorical": (_is_text_list, "a list of column names"),
    "feature_names": (_is_text_list, "a list of column names"),
    "image_shape": (
        lambda v: isinstance(v, list) and len(v) in (2, 3) and all(_is_count(n) and n >= 1 for n in v),
        "a list of 2 or 3 sizes",
    ),
}


def _labels(archive: _Archive) -> tuple[list, list[str]]:
    labels, names = archive.meta.get("labels", []), archive.meta.get("label_names", [])
    if not isinstance(labels, list) or not all(isinstance(v, LABEL_TYPES) for v in labels):
        raise archive.error("labels must be a list of strings or numbers")
    if not isinstance(names, list) or not all(isinstance(v, str) for v in names):
        raise archive.error("label_names must be a list of strings")
    return labels, names


def _history(archive: _Archive) -> dict[str, list[float]]:
    history = archive.json_object("history")
    restored = {}
    for name, values in history.items():
        if not isinstance(values, list) or not all(v is None or isinstance(v, (int, float)) for v in values):
            raise archive.error(f"history.{name} must be a list of numbers")
        restored[name] = [math.nan if v is None else float(v) for v in values]
    return restored
