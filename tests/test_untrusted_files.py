"""Untrusted model and checkpoint files: refused with a ValueError naming the file, never executed.

Beyond the hand-made bad files of test_serialization: live pickle payloads (that would run if
unpickled), names outside the allowlists, wrong dtypes and shapes, checkpoint metadata, zip
bombs under a memory bound (tracemalloc), an oversized sparse file, hypothesis-generated files
and a seeded fuzzer mutating valid files a few hundred times.
"""

import io
import json
import os
import pickle
import random
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlpkit import DNN, Trainer
from mlpkit.io import load, load_checkpoint, save, save_checkpoint
from mlpkit.io.archive import MAX_CENTRAL_DIRECTORY_BYTES, MAX_FILE_BYTES, MAX_MEMBERS
from mlpkit.model import Model
from mlpkit.preprocessing import AffineScaler

ROWS = np.random.default_rng(3).normal(size=(16, 4))
MEMORY_BOUND = 16 << 20  # bytes of Python and numpy allocations allowed while refusing a bomb
FILES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def make_model() -> Model:
    rng = np.random.default_rng(0)
    net = DNN([4, 6, 3], "tanh", "softmax", seed=0)
    scaler = AffineScaler().fit(rng.normal(size=(20, 4)))
    return Model(net, scaler, task="multiclass", labels=["a", "b", "c"], config={"optimizer": "adam"})


def make_trainer() -> Trainer:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4, 40))
    trainer = Trainer(DNN([4, 6, 3], "tanh", "softmax", seed=0), "adam", 0.01, batch_size=8, seed=2)
    trainer.fit(X, np.eye(3)[:, rng.integers(0, 3, 40)], 2, validation_fraction=0.2)
    return trainer


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("valid")
    save(make_model(), folder / "model.npz")
    save_checkpoint(folder / "checkpoint.npz", make_trainer(), {"note": "test"})
    return {kind: (folder / f"{kind}.npz").read_bytes() for kind in ("model", "checkpoint")}


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def archive_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def with_meta(entries: dict[str, bytes], change) -> dict[str, bytes]:
    meta = json.loads(entries["mlpkit.json"])
    change(meta)
    return {**entries, "mlpkit.json": json.dumps(meta).encode()}


def assert_refused(path: Path, reader=load, match: str | None = None) -> ValueError:
    """``reader(path)`` raises a ValueError whose message starts with the file's name."""
    with pytest.raises(ValueError, match=match) as caught:
        reader(path)
    assert str(caught.value).startswith(str(path)), caught.value
    return caught.value


def outcome_is_safe(path: Path, kind: str) -> str:
    """Load ``path``: either a ValueError naming it, or a model (or checkpoint) predicting finite values."""
    try:
        if kind == "model":
            probabilities = load(path).predict_proba(ROWS)
        else:
            checkpoint = load_checkpoint(path)
            checkpoint.restore(Trainer(DNN([4, 6, 3], "tanh", "softmax", seed=0), "adam"))
            probabilities = checkpoint.network().predict_proba(ROWS.T)
    except ValueError as error:
        assert str(error).startswith(str(path)), error
        return "refused"
    assert np.isfinite(probabilities).all()
    return "loaded"


# ---------------------------------------------------------------------- nothing from the file runs
class Payload:
    """Unpickling this creates the marker file: proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize(
    ("kind", "member", "reader"),
    [
        ("model", "W1.npy", load),
        ("model", "scaler_scale.npy", load),
        ("checkpoint", "theta.npy", load_checkpoint),
    ],
)
def test_a_live_pickle_payload_is_refused_and_never_runs(kind, member, reader, valid, tmp_path):
    marker = tmp_path / "pwned"
    payload = np.array([Payload(marker)], dtype=object)
    path = tmp_path / f"{kind}.npz"
    path.write_bytes(archive_bytes({**members(valid[kind]), member: npy(payload)}))
    assert_refused(path, reader, "dtype object; only float32 and float64")
    assert not marker.exists()
    with np.load(path, allow_pickle=True) as unsafe:  # the payload is live: a pickle-reading loader runs it
        unsafe[member.removesuffix(".npy")]
    assert marker.exists()


def test_a_pickle_in_place_of_the_json_entry_is_not_json(valid, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.npz"
    path.write_bytes(archive_bytes({**members(valid["model"]), "mlpkit.json": pickle.dumps(Payload(marker))}))
    assert_refused(path, match="mlpkit.json is not valid JSON")
    assert not marker.exists()


NAMES = [
    "__import__('os').system('true')",
    "builtins.eval",
    "mlpkit.activations.relu",
    "ReLU",
    "relu ",
    "",
    ["relu"],
    {"name": "relu"},
    None,
    7,
]


@pytest.mark.parametrize("name", NAMES, ids=repr)
@pytest.mark.parametrize("field", ["hidden_activation", "output_activation", "dtype"])
def test_names_map_only_through_the_allowlists(field, name, valid, tmp_path):
    def change(meta):
        meta["architecture"][field] = [name] if field == "hidden_activation" else name

    path = tmp_path / "model.npz"
    path.write_bytes(archive_bytes(with_meta(members(valid["model"]), change)))
    error = assert_refused(path)
    assert "expected one of" in str(error)


def test_a_stored_optimizer_name_is_inert_data(valid, tmp_path):
    evil = "__import__('os').system('touch pwned')"
    path = tmp_path / "model.npz"
    path.write_bytes(
        archive_bytes(with_meta(members(valid["model"]), lambda m: m["config"].update(optimizer=evil)))
    )
    model = load(path)
    assert model.config["optimizer"] == evil
    np.testing.assert_array_equal(model.predict_proba(ROWS), make_model().predict_proba(ROWS))
    assert not (Path.cwd() / "pwned").exists()


def test_checkpoint_optimizer_state_names_are_allowlisted(valid, tmp_path):
    entries = members(valid["checkpoint"])
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(archive_bytes({**entries, "optimizer.os.system.theta.npy": entries["theta.npy"]}))
    assert_refused(path, load_checkpoint, r"unexpected arrays \['optimizer.os.system.theta'\]")


# ---------------------------------------------------------------------- dtypes, shapes, sizes
@pytest.mark.parametrize(
    "dtype",
    ["float16", "complex64", "int64", "uint8", "bool", "<U3", "S4", "datetime64[s]", [("a", "<f4")], "V4"],
    ids=str,
)
def test_wrong_dtypes_are_refused(dtype, valid, tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(archive_bytes({**members(valid["model"]), "W1.npy": npy(np.zeros((6, 4), dtype=dtype))}))
    assert_refused(path, match=r"array 'W1' has dtype .*; only float32 and float64 are allowed")


SHAPES = {
    "b1 as a vector": (
        {"b1.npy": np.zeros(6, np.float32)},
        r"array 'b1' has shape \(6,\), expected \(6, 1\)",
    ),
    "W2 transposed": (
        {"W2.npy": np.zeros((6, 3), np.float32)},
        r"array 'W2' has shape \(6, 3\), expected \(3, 6\)",
    ),
    "scaler too short": (
        {"scaler_offset.npy": np.zeros(3)},
        r"array 'scaler_offset' has shape \(3,\), expected \(4,\)",
    ),
    "scaler zero scale": ({"scaler_scale.npy": np.zeros(4)}, "scale must be nonzero"),
    "NaN weight": ({"W1.npy": np.full((6, 4), np.nan, np.float32)}, "array 'W1' holds NaN or infinity"),
    "infinite bias": ({"b2.npy": np.full((3, 1), np.inf, np.float32)}, "array 'b2' holds NaN or infinity"),
}


@pytest.mark.parametrize("case", sorted(SHAPES))
def test_inconsistent_shapes_and_values_are_refused(case, valid, tmp_path):
    arrays, message = SHAPES[case]
    path = tmp_path / "model.npz"
    changed = {name: npy(array) for name, array in arrays.items()}
    path.write_bytes(archive_bytes({**members(valid["model"]), **changed}))
    assert_refused(path, match=message)


ARCHITECTURES = {
    "more units than allowed": ([4, 1 << 21, 3], r"each size must be in \[1, 1048576\]"),
    "a zero-width layer": ([4, 0, 3], r"each size must be in \[1, "),
    "more layers than allowed": ([4] * 1100, "must be a list of 2 to 1024 sizes"),
    "a float size": ([4, 6.0, 3], "holds 6.0"),
    "a boolean size": ([4, True, 3], "holds True"),
    "one size only": ([4], "must be a list of 2 to 1024 sizes"),
    "sizes that disagree with the arrays": ([4, 5, 3], r"array 'W1' has shape \(6, 4\), expected \(5, 4\)"),
}


@pytest.mark.parametrize("case", sorted(ARCHITECTURES))
def test_architectures_out_of_bounds_or_disagreeing_with_the_arrays(case, valid, tmp_path):
    sizes, message = ARCHITECTURES[case]

    def change(meta):
        meta["architecture"]["layer_sizes"] = sizes
        meta["architecture"]["hidden_activation"] = ["tanh"] * max(len(sizes) - 2, 0)

    path = tmp_path / "model.npz"
    path.write_bytes(archive_bytes(with_meta(members(valid["model"]), change)))
    assert_refused(path, match=message)


def test_labels_and_task_that_do_not_fit_the_output(valid, tmp_path):
    path = tmp_path / "model.npz"
    for change, message in [
        (lambda m: m.update(labels=["a", "b"], label_names=["a", "b"]), "needs 3 labels, got 2"),
        (lambda m: m.update(labels=[{"x": 1}, "b", "c"]), "labels must be a list of strings or numbers"),
        (lambda m: m.update(task="regression"), "task 'regression' does not fit a softmax output"),
        (lambda m: m.update(history={"loss": ["0.5"]}), "history.loss must be a list of numbers"),
        (lambda m: m.update(format_version=True), "format_version must be an integer >= 1"),
    ]:
        path.write_bytes(archive_bytes(with_meta(members(valid["model"]), change)))
        assert_refused(path, match=message)


def test_a_path_that_is_a_folder_or_an_oversized_sparse_file(tmp_path):
    assert_refused(tmp_path, match="not a file, so not an mlpkit model file")
    huge = tmp_path / "huge.npz"
    with open(huge, "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk space used, nothing read
    try:
        tracemalloc.start()
        assert_refused(
            huge, match=f"file is {MAX_FILE_BYTES + 1} bytes, above the {MAX_FILE_BYTES}-byte limit"
        )
        assert tracemalloc.get_traced_memory()[1] < MEMORY_BOUND
    finally:
        tracemalloc.stop()
        huge.unlink()


# ---------------------------------------------------------------------- checkpoint metadata
def change_trainer(change):
    def apply(meta):
        change(meta["trainer"])

    return apply


CHECKPOINT_META = {
    "negative epoch": (lambda t: t.update(epoch=-1), "trainer.epoch must be an integer >= 0, got -1"),
    "text epoch": (lambda t: t.update(epoch="3"), "trainer.epoch must be an integer >= 0, got '3'"),
    "foreign generator": (
        lambda t: t["rng"].update(bit_generator="MT19937"),
        "trainer.rng must be a PCG64 generator state",
    ),
    "generator state text": (
        lambda t: t["rng"].update(state="0"),
        "trainer.rng must be a PCG64 generator state",
    ),
    "history of text": (
        lambda t: t["history"].update(loss=["low"]),
        "trainer.history.loss must be a list of numbers",
    ),
    "learning rate 0": (
        lambda t: t["optimizer"].update(learning_rate=0),
        "trainer.optimizer.learning_rate must be a finite number > 0",
    ),
    "no optimizer": (lambda t: t.pop("optimizer"), "trainer.optimizer must be a JSON object, got None"),
    "split fraction 1": (
        lambda t: t["validation_split"].update(fraction=1.0),
        r"trainer.validation_split.fraction must be a number in \(0, 1\)",
    ),
    "progress without weights": (
        lambda t: t.update(
            epoch_progress={"rows": 9, "samples_done": 4, "total_loss": 1.0, "correct": 2.0, "rng": t["rng"]}
        ),
        "trainer.epoch_progress and array 'epoch_start_theta' must come together",
    ),
}


@pytest.mark.parametrize("case", sorted(CHECKPOINT_META))
def test_malformed_checkpoint_metadata_is_refused_on_loading(case, valid, tmp_path):
    change, message = CHECKPOINT_META[case]
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(archive_bytes(with_meta(members(valid["checkpoint"]), change_trainer(change))))
    assert_refused(path, load_checkpoint, message)


def test_an_impossible_epoch_position_is_refused_on_restoring(valid, tmp_path):
    entries = members(valid["checkpoint"])

    def past_the_end(trainer):
        trainer["epoch_progress"] = {
            "rows": 9,
            "samples_done": 9,
            "total_loss": 1.0,
            "correct": 2.0,
            "rng": trainer["rng"],
        }

    entries = with_meta(
        {**entries, "epoch_start_theta.npy": entries["theta.npy"]}, change_trainer(past_the_end)
    )
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(archive_bytes(entries))
    checkpoint = load_checkpoint(path)
    trainer = Trainer(DNN([4, 6, 3], "tanh", "softmax", seed=0), "adam")
    assert_refused(path, lambda p: checkpoint.restore(trainer), r"samples_done must be in \(0, 9\), got 9")


def test_a_nan_checkpoint_parameter_is_refused(valid, tmp_path):
    entries = members(valid["checkpoint"])
    theta = np.load(io.BytesIO(entries["theta.npy"]))
    theta[5] = np.nan
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(archive_bytes({**entries, "theta.npy": npy(theta)}))
    assert_refused(path, load_checkpoint, "array 'theta' holds NaN or infinity")


# ---------------------------------------------------------------------- zip bombs, in bounded memory
def refused_within_memory(path: Path, match: str, reader=load) -> None:
    tracemalloc.start()
    try:
        assert_refused(path, reader, match)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"{peak} bytes allocated while refusing {path.name}"


def deflated_zeros(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    parts = [compressor.compress(chunk) for _ in range(size // len(chunk))]
    return b"".join(parts) + compressor.flush()


def raw_zip(entries: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip written by hand: (name, deflated data, declared size, crc) each; sizes are not checked."""
    body, directory, offset = [], [], 0
    for name, data, size, crc in entries:
        encoded = name.encode()
        local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), size, len(encoded), 0)
        central = struct.pack(
            "<4s6H3I5H2I",
            b"PK\x01\x02",
            20,
            20,
            0,
            8,
            0,
            0,
            crc,
            len(data),
            size,
            len(encoded),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        body += [local, encoded, data]
        directory += [central, encoded]
        offset += len(local) + len(encoded) + len(data)
    listing = b"".join(directory)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(listing), offset, 0)
    return b"".join(body) + listing + end


def test_a_member_declaring_a_huge_size_is_refused_from_the_directory(valid, tmp_path):
    entries = members(valid["model"])
    listed = [
        (name, zlib.compress(data)[2:-4], len(data), zlib.crc32(data)) for name, data in entries.items()
    ]
    bomb = deflated_zeros(256 << 20)  # 256 MiB of zeros in about 250 KiB
    listed[[name for name, *_ in listed].index("W1.npy")] = ("W1.npy", bomb, 256 << 20, 0)
    path = tmp_path / "bomb.npz"
    path.write_bytes(raw_zip(listed))
    assert path.stat().st_size < 1 << 20
    refused_within_memory(path, "a zip bomb")


@pytest.mark.parametrize("member", ["W1.npy", "mlpkit.json"])
def test_a_member_hiding_its_size_stops_at_the_declared_size(member, valid, tmp_path):
    entries = members(valid["model"])
    listed = [
        (name, zlib.compress(data)[2:-4], len(data), zlib.crc32(data)) for name, data in entries.items()
    ]
    index = [name for name, *_ in listed].index(member)
    declared = listed[index][2]  # the true size is declared, but the data expand to 128 MiB
    listed[index] = (member, deflated_zeros(128 << 20), declared, listed[index][3])
    path = tmp_path / "liar.npz"
    path.write_bytes(raw_zip(listed))
    refused_within_memory(path, "corrupted|not valid JSON|valid .npy header|only float32")


def test_a_json_entry_that_expands_too_far_is_refused(valid, tmp_path):
    entries = members(valid["model"])
    meta = json.loads(entries["mlpkit.json"])
    meta["history"] = {"loss": [0] * (3 << 20)}  # 6 MiB of "0, " that deflate to a few KiB
    entries["mlpkit.json"] = json.dumps(meta, separators=(",", ":")).encode()
    path = tmp_path / "json-bomb.npz"
    path.write_bytes(archive_bytes(entries))
    assert path.stat().st_size < 64 << 10
    refused_within_memory(path, "mlpkit.json declares .* bytes from .* compressed \\(a zip bomb\\?\\)")


@pytest.mark.parametrize(
    ("count", "message"),
    [
        (60_000, f"zip directory declares .* bytes, above the {MAX_CENTRAL_DIRECTORY_BYTES}-byte limit"),
        (MAX_MEMBERS + 50, f"archive has {MAX_MEMBERS + 50} entries, more than the {MAX_MEMBERS} allowed"),
    ],
)
def test_an_archive_with_too_many_entries_is_refused(count, message, tmp_path):
    data = zlib.compress(b"x")[2:-4]
    entries = [(f"a{index:05d}.npy", data, 1, zlib.crc32(b"x")) for index in range(count)]
    path = tmp_path / "many.npz"
    path.write_bytes(raw_zip(entries))
    refused_within_memory(path, message)


# ---------------------------------------------------------------------- generated files
@FILES
@given(data=st.binary(max_size=4096))
def test_random_bytes_are_refused(data, tmp_path):
    path = tmp_path / "random.npz"
    path.write_bytes(data)
    assert_refused(path)


@FILES
@given(cut=st.integers(min_value=0, max_value=10**6), kind=st.sampled_from(["model", "checkpoint"]))
def test_every_truncation_is_refused(cut, kind, valid, tmp_path):
    data = valid[kind]
    path = tmp_path / f"{kind}.npz"
    path.write_bytes(data[: cut % len(data)])
    assert_refused(path, load if kind == "model" else load_checkpoint)


ARRAY_DTYPES = st.sampled_from(
    ["float32", "float64", ">f4", "float16", "int32", "bool", "complex64", "<U2", "O"]
)


@FILES
@given(
    name=st.sampled_from(["W1", "b1", "W2", "b2", "scaler_offset", "scaler_scale"]),
    dtype=ARRAY_DTYPES,
    shape=st.lists(st.integers(0, 7), max_size=3).map(tuple),
    fortran=st.booleans(),
)
def test_generated_arrays_load_only_when_exactly_right(name, dtype, shape, fortran, valid, tmp_path):
    entries = members(valid["model"])
    expected = np.load(io.BytesIO(entries[f"{name}.npy"]))
    values = np.ones(shape, dtype=dtype) if dtype != "O" else np.full(shape, None, dtype=object)
    entries[f"{name}.npy"] = npy(np.asfortranarray(values) if fortran else values)
    path = tmp_path / "model.npz"
    path.write_bytes(archive_bytes(entries))
    native = np.dtype(dtype).newbyteorder("=") if np.dtype(dtype).kind == "f" else np.dtype(dtype)
    if shape == expected.shape and native == expected.dtype:
        assert outcome_is_safe(path, "model") == "loaded"
    else:
        assert_refused(path)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@FILES
@given(
    key=st.sampled_from(
        [
            "format",
            "format_version",
            "architecture",
            "task",
            "labels",
            "label_names",
            "preprocessing",
            "features",
        ]
    ),
    value=JSON_VALUES,
)
def test_generated_json_entries_are_refused_or_harmless(key, value, valid, tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(
        archive_bytes(with_meta(members(valid["model"]), lambda meta: meta.update({key: value})))
    )
    outcome_is_safe(path, "model")


@FILES
@given(
    key=st.sampled_from(
        sorted(["epoch", "rng", "history", "best_loss", "optimizer", "epochs_without_improvement"])
    ),
    value=JSON_VALUES,
)
def test_generated_checkpoint_metadata_is_refused_or_harmless(key, value, valid, tmp_path):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(
        archive_bytes(
            with_meta(members(valid["checkpoint"]), change_trainer(lambda t: t.update({key: value})))
        )
    )
    outcome_is_safe(path, "checkpoint")


# ---------------------------------------------------------------------- a fuzzer
def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random corruption: flipped bits, overwritten, inserted or deleted bytes, a cut or a copy."""
    data = bytearray(data)
    at = rng.randrange(len(data))
    kind = rng.randrange(6)
    if kind == 0:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        data[at : at + 4] = rng.randbytes(4)
    elif kind == 2:
        data[at:at] = rng.randbytes(rng.randint(1, 16))
    elif kind == 3:
        del data[at : at + rng.randint(1, 16)]
    elif kind == 4:
        data = data[:at]
    else:
        start = rng.randrange(len(data))
        data[at:at] = data[start : start + rng.randint(1, 64)]
    return bytes(data)


@pytest.mark.parametrize("kind", ["model", "checkpoint"])
def test_fuzzed_files_are_refused_cleanly_or_still_predict_finite_values(kind, valid, tmp_path):
    rng = random.Random(f"mlpkit-fuzz-{kind}")
    outcomes = {"refused": 0, "loaded": 0}
    path = tmp_path / f"{kind}.npz"
    for _ in range(300):
        path.write_bytes(mutate(valid[kind], rng))
        outcomes[outcome_is_safe(path, kind)] += 1
    assert outcomes["refused"] >= 200  # most corruptions are caught (CRC-32, structure, names)
    assert sum(outcomes.values()) == 300
    assert os.listdir(tmp_path) == [path.name]
