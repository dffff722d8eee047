"""Model files: round trips, a hand-written forward pass as oracle, atomic writes, checkpoints, bad files."""

import io
import json
import os
import struct
import zipfile

import numpy as np
import pytest

import mlpkit
from mlpkit.io import atomic_write, load, load_checkpoint, read_info, save, save_checkpoint
from mlpkit.io.archive import FORMAT_VERSION, NEWEST_FORMAT_VERSION
from mlpkit.model import Model
from mlpkit.network import DNN
from mlpkit.preprocessing import AffineScaler


def hand_forward(model: Model, rows: np.ndarray) -> np.ndarray:
    """The notes' forward pass written out in numpy: Z = W A + b, A = g(Z); returns A_L as rows."""
    A = rows.T.astype(np.float64)
    if model.scaler is not None:
        A = (A - model.scaler.offset_[:, None]) / model.scaler.scale_[:, None]
    net = model.net
    for l in range(1, net.L + 1):
        Z = net.params[f"W{l}"].astype(np.float64) @ A + net.params[f"b{l}"]
        if l < net.L:
            A = np.maximum(Z, 0.0) if net.hidden_activations[l - 1] == "relu" else np.tanh(Z)
        elif net.output_activation == "softmax":
            E = np.exp(Z - Z.max(axis=0))
            A = E / E.sum(axis=0)
        elif net.output_activation == "sigmoid":
            A = 1.0 / (1.0 + np.exp(-Z))
        else:
            A = Z
    return A.T


def make_model(task="multiclass", dtype="float32", scaled=True, seed=0, n_x=4) -> Model:
    rng = np.random.default_rng(seed)
    shapes = {
        "binary": (1, "sigmoid", [False, True]),
        "multiclass": (3, "softmax", ["cat", "dog", "eel"]),
        "multilabel": (2, "sigmoid", None),
        "regression": (2, "identity", None),
    }
    n_out, output, labels = shapes[task]
    net = DNN([n_x, 6, 5, n_out], ["relu", "tanh"], output, seed=seed, dtype=dtype)
    net.theta[...] = rng.normal(0, 0.7, net.theta.shape)
    scaler = AffineScaler().fit(rng.normal(2.0, 3.0, (30, n_x))) if scaled else None
    config = {"data": "iris", "seed": 3, "hidden": [6, 5]}
    history = {"loss": [0.9, 0.5], "val_loss": [float("nan"), 0.6]}
    return Model(net, scaler, None, task, config, history, {"test_accuracy": 0.75}, labels=labels)


@pytest.fixture
def raw_rows():
    return np.random.default_rng(7).normal(2.0, 3.0, (25, 4))


# ---------------------------------------------------------------------- the model
@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel", "regression"])
def test_outputs_match_the_hand_written_forward_pass(task, raw_rows):
    model = make_model(task, dtype="float64")
    np.testing.assert_allclose(model.outputs(raw_rows), hand_forward(model, raw_rows), rtol=1e-10, atol=1e-12)


def test_binary_probabilities_are_one_minus_p_and_p(raw_rows):
    model = make_model("binary", dtype="float64")
    p = hand_forward(model, raw_rows)[:, 0]
    np.testing.assert_allclose(model.predict_proba(raw_rows), np.column_stack([1 - p, p]), rtol=1e-10)
    np.testing.assert_array_equal(model.predict(raw_rows), p > 0.5)  # labels [False, True]


def test_multiclass_predict_returns_original_labels(raw_rows):
    model = make_model("multiclass", dtype="float64")
    expected = np.array(["cat", "dog", "eel"])[hand_forward(model, raw_rows).argmax(axis=1)]
    np.testing.assert_array_equal(model.predict(raw_rows), expected)


def test_multilabel_and_regression_predictions(raw_rows):
    multilabel = make_model("multilabel", dtype="float64")
    np.testing.assert_array_equal(multilabel.predict(raw_rows), hand_forward(multilabel, raw_rows) > 0.5)
    regression = make_model("regression", dtype="float64")
    np.testing.assert_allclose(regression.predict(raw_rows), hand_forward(regression, raw_rows), rtol=1e-10)
    with pytest.raises(ValueError, match="no class probabilities"):
        regression.predict_proba(raw_rows)


def test_model_checks_its_parts():
    softmax_net = DNN([2, 3], output_activation="softmax", seed=0)
    with pytest.raises(ValueError, match="task 'regression' does not fit a softmax output"):
        Model(softmax_net, task="regression")
    with pytest.raises(ValueError, match="needs 3 labels, got 2"):
        Model(softmax_net, task="multiclass", labels=["a", "b"])
    with pytest.raises(ValueError, match="fitted on 5 features but the network takes 2"):
        Model(softmax_net, AffineScaler().fit(np.ones((3, 5))), task="multiclass")
    with pytest.raises(ValueError, match="Unknown task 'ranking'; expected one of"):
        Model(softmax_net, task="ranking")
    with pytest.raises(ValueError, match="3 features .* 2 are expected"):
        Model(softmax_net, task="multiclass").predict(np.ones((1, 3)))


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel", "regression"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_gives_identical_predictions(task, dtype, tmp_path, raw_rows):
    model = make_model(task, dtype=dtype, scaled=task != "regression")
    loaded = load(save(model, tmp_path / "model.npz"))
    np.testing.assert_array_equal(loaded.outputs(raw_rows), model.outputs(raw_rows))
    np.testing.assert_array_equal(loaded.predict(raw_rows), model.predict(raw_rows))
    assert loaded.net.dtype == np.dtype(dtype)
    assert loaded.task == task and loaded.labels == model.labels
    assert loaded.config == model.config and loaded.metrics == model.metrics
    assert loaded.history["loss"] == [0.9, 0.5] and np.isnan(loaded.history["val_loss"][0])


def test_label_types_survive(tmp_path):
    net = DNN([2, 3], output_activation="softmax", seed=0)
    model = Model(net, task="multiclass", labels=[3, 7, 11])
    loaded = load(save(model, tmp_path / "m.npz"))
    assert loaded.labels == [3, 7, 11]
    assert loaded.predict(np.zeros((2, 2))).dtype.kind == "i"


def test_file_is_a_plain_npz_with_a_json_entry(tmp_path):
    model = make_model()
    path = save(model, tmp_path / "model.npz")
    with np.load(path, allow_pickle=False) as archive:
        for l in (1, 2, 3):
            np.testing.assert_array_equal(archive[f"W{l}"], model.net.params[f"W{l}"])
            np.testing.assert_array_equal(archive[f"b{l}"], model.net.params[f"b{l}"])
        np.testing.assert_array_equal(archive["scaler_scale"], model.scaler.scale_)
        meta = json.loads(archive["mlpkit.json"])
    assert meta["format"] == "mlpkit-model" and meta["format_version"] == FORMAT_VERSION
    assert meta["architecture"]["layer_sizes"] == [4, 6, 5, 3]
    assert meta["history"]["val_loss"][0] is None  # strict JSON: NaN is written as null
    assert read_info(path)["file_bytes"] == os.path.getsize(path)


def test_save_accepts_objects_with_to_model(tmp_path, raw_rows):
    model = make_model()

    class Estimator:
        def to_model(self):
            return model

    loaded = mlpkit.load(mlpkit.save(Estimator(), tmp_path / "e.npz"))
    np.testing.assert_array_equal(loaded.predict(raw_rows), model.predict(raw_rows))
    with pytest.raises(ValueError, match="needs an mlpkit.Model or an object with to_model"):
        save(object(), tmp_path / "x.npz")


# ---------------------------------------------------------------------- atomic writes
def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def broken(handle):
        handle.write(b"partial")
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_atomic_write_replaces_and_checks_the_folder(tmp_path):
    target = atomic_write(tmp_path / "a.csv", lambda handle: handle.write("x,y\n"), text=True)
    assert target.read_text() == "x,y\n"
    with pytest.raises(ValueError, match="folder .*missing.* does not exist"):
        atomic_write(tmp_path / "missing" / "a.csv", lambda handle: None)
    with pytest.raises(ValueError, match="it is a folder"):
        atomic_write(tmp_path, lambda handle: None)


# ---------------------------------------------------------------------- checkpoints
def test_checkpoint_resume_equals_an_uninterrupted_run(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 64))
    Y = np.eye(2)[:, (X[0] > 0).astype(int)]

    def trainer(seed_net):
        net = DNN([3, 5, 2], "tanh", "softmax", seed=seed_net, dtype="float64")
        return mlpkit.Trainer(net, "adam", 0.01, batch_size=16, dropout=0.2, seed=1)

    straight = trainer(0)
    straight.fit(X, Y, 3)
    first = trainer(0)
    first.fit(X, Y, 2)
    save_checkpoint(tmp_path / "ckpt.npz", first, {"note": "epoch 2"})
    checkpoint = load_checkpoint(tmp_path / "ckpt.npz")
    resumed = trainer(99)  # different initial weights: all must come from the checkpoint
    checkpoint.restore(resumed)
    resumed.fit(X, Y, 1)
    np.testing.assert_array_equal(resumed.net.theta, straight.net.theta)
    assert resumed.history.loss == straight.history.loss
    assert checkpoint.config == {"note": "epoch 2"}
    np.testing.assert_array_equal(checkpoint.network().theta, first.net.theta)


def test_checkpoint_refuses_another_architecture(tmp_path):
    net = DNN([3, 4, 2], "relu", "softmax", seed=0)
    save_checkpoint(tmp_path / "c.npz", mlpkit.Trainer(net))
    other = mlpkit.Trainer(DNN([3, 5, 2], "relu", "softmax", seed=0))
    with pytest.raises(ValueError, match="architecture .* differs"):
        load_checkpoint(tmp_path / "c.npz").restore(other)
    with pytest.raises(ValueError, match="format is 'mlpkit-checkpoint', expected 'mlpkit-model'"):
        load(tmp_path / "c.npz")


# ---------------------------------------------------------------------- bad files
def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write_members(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _with_meta(members, change) -> dict[str, bytes]:
    meta = json.loads(members["mlpkit.json"])
    change(meta)
    return {**members, "mlpkit.json": json.dumps(meta).encode()}


def _member_data_offset(path, name) -> tuple[int, int]:
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        header = handle.read(30)
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_length + extra_length, info.compress_size


@pytest.fixture
def good_file(tmp_path):
    return save(make_model(), tmp_path / "good.npz")


def _bad_members_cases():
    def set_version(meta):
        meta["format_version"] = NEWEST_FORMAT_VERSION + 1

    def evil_activation(meta):
        meta["architecture"]["hidden_activation"] = ["os.system", "relu"]

    def huge_layers(meta):
        meta["architecture"]["layer_sizes"] = [4, 100000, 100000, 3]

    def bad_method(meta):
        meta["preprocessing"]["method"] = "eval"

    return {
        "newer version": (
            lambda m: _with_meta(m, set_version),
            f"format version {NEWEST_FORMAT_VERSION + 1} is newer than this mlpkit reads",
        ),
        "unknown activation": (lambda m: _with_meta(m, evil_activation), r"'os.system'; expected one of \["),
        "too many parameters": (lambda m: _with_meta(m, huge_layers), "parameters, above the"),
        "unknown scaling": (lambda m: _with_meta(m, bad_method), r"preprocessing.method is 'eval'"),
        "wrong dtype": (
            lambda m: {**m, "W1.npy": _npy(np.zeros((6, 4), np.int32))},
            "only float32 and float64",
        ),
        "float64 in a float32 model": (
            lambda m: {**m, "W1.npy": _npy(np.zeros((6, 4)))},
            "architecture says float32",
        ),
        "wrong shape": (
            lambda m: {**m, "W1.npy": _npy(np.zeros((4, 6), np.float32))},
            r"shape \(4, 6\), expected \(6, 4\)",
        ),
        "object array": (lambda m: {**m, "W1.npy": _npy(np.array([{}, {}], dtype=object))}, "dtype object"),
        "missing array": (lambda m: {k: v for k, v in m.items() if k != "b2.npy"}, "array 'b2' is missing"),
        "extra array": (
            lambda m: {**m, "payload.npy": _npy(np.zeros(3))},
            r"unexpected arrays \['payload'\]",
        ),
        "pickle member": (lambda m: {**m, "data.pkl": b"\x80\x04."}, "unexpected entry 'data.pkl'"),
        "not json": (lambda m: {**m, "mlpkit.json": b"{not json"}, "not valid JSON"),
        "no json": (lambda m: {k: v for k, v in m.items() if k != "mlpkit.json"}, "no mlpkit.json entry"),
        "bad header": (
            lambda m: {**m, "W1.npy": b"\x93NUMPY\x01\x00garbage" + bytes(96)},
            "no valid .npy header",
        ),
        "truncated array": (lambda m: {**m, "W1.npy": _npy(np.zeros((6, 4), np.float32))[:-8]}, "truncated"),
    }


@pytest.mark.parametrize("case", sorted(_bad_members_cases()))
def test_bad_contents_give_a_value_error_naming_the_file(case, good_file, tmp_path):
    change, message = _bad_members_cases()[case]
    bad = tmp_path / "bad.npz"
    _write_members(bad, change(_members(good_file)))
    with pytest.raises(ValueError, match=message) as caught:
        load(bad)
    assert str(caught.value).startswith(str(bad))


def test_truncated_random_and_foreign_files(good_file, tmp_path):
    data = good_file.read_bytes()
    (tmp_path / "half.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "random.npz").write_bytes(np.random.default_rng(0).bytes(2000))
    np.savez(tmp_path / "foreign.npz", X=np.zeros((3, 2)), y=np.zeros(3))
    for name, message in [
        ("half", "not a zip archive"),
        ("random", "not a zip archive"),
        ("foreign", "no mlpkit.json"),
    ]:
        with pytest.raises(ValueError, match=message):
            load(tmp_path / f"{name}.npz")
    with pytest.raises(FileNotFoundError, match="no such model file"):
        load(tmp_path / "absent.npz")


def test_flipped_bit_in_the_weights_is_detected(good_file, tmp_path):
    offset, size = _member_data_offset(good_file, "W1.npy")
    data = bytearray(good_file.read_bytes())
    data[offset + size // 2] ^= 0x10
    flipped = tmp_path / "flipped.npz"
    flipped.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted|valid .npy header|truncated") as caught:
        load(flipped)
    assert str(flipped) in str(caught.value)


def test_zip_bombs_are_refused_from_the_directory(good_file, tmp_path):
    members = _members(good_file)
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            if name != "W1.npy":
                archive.writestr(name, data)
        with archive.open("W1.npy", "w", force_zip64=True) as member:
            zeros = bytes(1 << 20)
            for _ in range(80):  # 80 MiB of zeros compress to about 80 KiB
                member.write(zeros)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(ValueError, match="zip bomb"):
        load(bomb)
    members["W1.npy"] = bytes(1 << 20)  # 1 MiB for a 6x4 array: refused by its declared size alone
    _write_members(bomb, members)
    with pytest.raises(ValueError, match="array 'W1' declares 1048576 bytes"):
        load(bomb)
