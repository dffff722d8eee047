"""Sizes bounded before allocation, files read as untrusted, and what a model file may say about itself."""

import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest

from conftest import refuse
from mlpkit import DNN
from mlpkit.cli import main
from mlpkit.io import load, save
from mlpkit.io.bounds import MAX_PARAMETERS, parameter_count
from mlpkit.model import Model

MEMORY_BOUND = 16 << 20  # bytes of Python and numpy allocations allowed while refusing


def within_memory(call) -> None:
    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, peak


def model_archive(path, layer_sizes, arrays: dict[str, bytes], dtype="float64") -> None:
    meta = {
        "format": "mlpkit-model",
        "format_version": 1,
        "architecture": {
            "layer_sizes": layer_sizes,
            "hidden_activation": ["relu"] * (len(layer_sizes) - 2),
            "output_activation": "sigmoid",
            "dtype": dtype,
        },
        "task": "binary",
        "labels": [0, 1],
        "label_names": ["0", "1"],
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mlpkit.json", json.dumps(meta))
        for name, data in arrays.items():
            archive.writestr(f"{name}.npy", data)


@pytest.mark.parametrize("sizes", [[8192, 8191, 1], [16383, 16383, 1]])
def test_a_small_file_declaring_a_large_network_allocates_nothing(sizes, tmp_path):
    assert parameter_count(sizes) <= MAX_PARAMETERS  # within bounds: only the arrays can refuse it
    model_archive(tmp_path / "missing.npz", sizes, {})
    tiny = io.BytesIO()
    np.lib.format.write_array(tiny, np.zeros((2, 2)))
    model_archive(tmp_path / "tiny.npz", sizes, {name: tiny.getvalue() for name in ("W1", "b1", "W2", "b2")})
    for name, message in (("missing.npz", "array 'W1' is missing"), ("tiny.npz", "'W1' declares")):
        with pytest.raises(ValueError, match=message):
            within_memory(lambda name=name: load(tmp_path / name))


def npz_with_header(path, shape, dtype="<f8") -> None:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("X.npy", header.getvalue() + bytes(64))
        archive.writestr("y.npy", header.getvalue() + bytes(64))


def test_an_npz_header_declaring_ten_trillion_numbers_is_refused_unread(tmp_path, capsys):
    npz_with_header(tmp_path / "huge.npz", (10**13,))
    line = refuse(capsys, ["train", "--data", tmp_path / "huge.npz", "--out", tmp_path / "m.npz"], "huge.npz")
    assert "array 'X'" in line and "(10000000000000,)" in line
    from mlpkit.datasets import load_dataset

    with pytest.raises(ValueError, match="truncated or corrupted"):
        within_memory(lambda: load_dataset(tmp_path / "huge.npz"))


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["train", "--data", "iris", "--hidden", "1000000000000"], ["--hidden", "1000000000000 units"]),
        (["train", "--data", "iris", "--hidden", "100000,100000"], ["--hidden", "4-100000-100000-n_L"]),
        (["explain", "--layers", "100000000,100000000"], ["--layers", "100000000 units"]),
        (["explain", "--layers", "100000,100000"], ["--layers", "10,000,100,000 parameters"]),
        (["gradcheck", "--layers", "20000,20000,2"], ["--layers", "parameters, more than"]),
        (["explain", "--batch", "100000000000", "--run"], ["--batch", "more than this machine's"]),
    ],
)
def test_sizes_from_options_are_bounded_before_allocation(argv, fragments, capsys):
    refuse(capsys, argv, *fragments)


@pytest.mark.parametrize("command", ["explain", "gradcheck"])
def test_a_negative_seed_names_its_option(command, capsys):
    with pytest.raises(SystemExit) as stopped:
        main([command, "--seed", "-1"])
    assert stopped.value.code == 2
    assert "argument --seed: must be an integer >= 0, got '-1'" in capsys.readouterr().err


def write_model_with_config(path, change) -> None:
    """A valid model file whose stored JSON entry is changed by ``change(meta)``."""
    net = DNN([4, 3, 2], "tanh", "softmax", seed=0)
    save(Model(net, None, ["a", "b"], "multiclass", {"data": "iris", "seed": 0}), path)
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    meta = json.loads(entries["mlpkit.json"])
    text = change(meta)
    entries["mlpkit.json"] = (text if isinstance(text, str) else json.dumps(meta)).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


STORED_CONFIGS = {
    "seed text": (lambda meta: meta["config"].update(seed="zero"), "config.seed is 'zero'"),
    "seed negative": (lambda meta: meta["config"].update(seed=-3), "config.seed is -3"),
    "test_fraction": (lambda meta: meta["config"].update(test_fraction=[0.2]), "config.test_fraction"),
    "data": (lambda meta: meta["config"].update(data={"path": "x"}), "config.data is"),
    "feature_names": (lambda meta: meta["config"].update(feature_names="abc"), "config.feature_names"),
    "nested 40": (
        lambda meta: meta["config"].update(deep=json.loads("[" * 40 + "]" * 40)),
        "nests deeper than",
    ),
    "nested 950": (
        lambda meta: json.dumps(meta).replace('"seed": 0', '"seed": ' + "[" * 950 + "]" * 950),
        "JSON",
    ),
    "5000 digits": (
        lambda meta: json.dumps(meta).replace('"seed": 0', '"seed": ' + "7" * 5000),
        "not valid JSON",
    ),
}


@pytest.mark.parametrize("case", STORED_CONFIGS, ids=list(STORED_CONFIGS))
def test_a_stored_config_of_the_wrong_shape_is_refused_naming_the_file(case, tmp_path, capsys):
    change, message = STORED_CONFIGS[case]
    write_model_with_config(tmp_path / "m.npz", change)
    for command in ("info", "evaluate"):
        line = refuse(capsys, [command, tmp_path / "m.npz"], str(tmp_path / "m.npz"), message)
        assert line.startswith(f"mlpkit {command}: error: ")


def test_names_from_a_file_reach_the_terminal_escaped(tmp_path, capsys):
    net = DNN([4, 3, 2], "tanh", "softmax", seed=0)
    hostile = "\x1b[2J\x1b]0;owned\x07red"
    labels = [hostile, "b\u202eevil"]
    model = Model(net, None, labels, "multiclass", {"data": str(tmp_path / "t.csv")})
    save(model, tmp_path / "m.npz")
    rows = "a,b,c,d,y\n" + "".join(f"{i},{i % 3},{i % 5},{i % 7},{labels[i % 2]}\n" for i in range(8))
    (tmp_path / "t.csv").write_text(rows)
    assert main(["info", str(tmp_path / "m.npz")]) == 0
    assert main(["evaluate", str(tmp_path / "m.npz"), "--data", str(tmp_path / "t.csv")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "\\x1b[2J\\x1b]0;owned\\x07red" in out and "b\\u202eevil" in out
