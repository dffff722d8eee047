"""The docs stay true: the guide's quoted code and named tests exist; the quickstart's examples run."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "guide.md"
QUICKSTART = ROOT / "docs" / "quickstart.md"
CODE_REFERENCE = re.compile(r"`(src/mlpkit/[\w/]+\.py)`, `([\w.]+)`[^`]*?:\n\n```python\n(.*?)```", re.DOTALL)
TEST_REFERENCE = re.compile(r"`(tests/test_\w+\.py)::(test_\w+)`")


def _function_source(path: Path, qualified_name: str) -> str:
    """The source text of ``function`` or ``Class.method`` in the file."""
    source = path.read_text(encoding="utf-8")
    scope: list[ast.stmt] = ast.parse(source).body
    node = None
    for part in qualified_name.split("."):
        node = next((n for n in scope if getattr(n, "name", None) == part), None)
        assert node is not None, f"{path.relative_to(ROOT)} has no {qualified_name}"
        scope = getattr(node, "body", [])
    return ast.get_source_segment(source, node)


def _code_references() -> list[tuple[str, str, str]]:
    return CODE_REFERENCE.findall(GUIDE.read_text(encoding="utf-8"))


def test_the_guide_quotes_code():
    assert len(_code_references()) >= 9
    assert len(set(TEST_REFERENCE.findall(GUIDE.read_text(encoding="utf-8")))) >= 15


@pytest.mark.parametrize("file, function, excerpt", _code_references(), ids=lambda value: str(value)[:40])
def test_quoted_code_is_in_the_named_function(file, function, excerpt):
    body = {line.strip() for line in _function_source(ROOT / file, function).splitlines()}
    for line in excerpt.splitlines():
        if line.strip():
            assert line.strip() in body, (
                f"docs/guide.md quotes {line.strip()!r}, no longer in {file} {function}"
            )


def test_every_named_test_exists():
    for file, name in set(TEST_REFERENCE.findall(GUIDE.read_text(encoding="utf-8"))):
        path = ROOT / file
        assert path.exists(), f"docs/guide.md names {file}, which does not exist"
        assert re.search(rf"^def {name}\(", path.read_text(encoding="utf-8"), re.MULTILINE), (
            f"docs/guide.md names {file}::{name}, which does not exist"
        )


def _blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL)


def test_quickstart_python_examples_run(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn", reason="the quickstart's examples use scikit-learn's digits")
    pytest.importorskip("matplotlib", reason="the quickstart draws pictures (plot extra)")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in _blocks(QUICKSTART, "python"):
        exec(compile(block, str(QUICKSTART), "exec"), namespace)
    printed = capsys.readouterr().out
    assert "[[0 1 1 0]]" in printed  # the XOR network learned XOR
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "confusion.png",
        "curves.png",
        "digits-sklearn.npz",
        "digits.npz",
        "saliency.png",
        "weights.png",
    ]


def test_quickstart_command_lines_use_real_options():
    from mlpkit.cli import build_parser

    parser = build_parser()
    commands = [
        line.split("#")[0]
        for block in _blocks(QUICKSTART, "bash")
        for line in block.splitlines()
        if line.startswith("mlpkit ")
    ]
    assert len(commands) >= 10
    for command in commands:
        parser.parse_args(shlex.split(command)[1:])  # argparse exits on an unknown option


MODEL_FORMAT = ROOT / "docs" / "model-format.md"


def _table_keys(text: str, heading: str) -> set[str]:
    """The first-column names of the table under a ``## heading``."""
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    first_cells = re.findall(r"^\| ([^|]+) \|", section, re.MULTILINE)
    return {name for cell in first_cells for name in re.findall(r"`([\w.<>]+)`", cell)}


def test_model_format_doc_lists_what_save_writes(tmp_path, monkeypatch):
    import json
    import zipfile

    import numpy as np

    import mlpkit

    net = mlpkit.DNN([3, 4, 2], "relu", "softmax", seed=0)
    scaler = mlpkit.AffineScaler("standard").fit(np.arange(12.0).reshape(4, 3))
    mlpkit.save(mlpkit.Model(net, scaler, task="multiclass", labels=["a", "b"]), tmp_path / "model.npz")
    with zipfile.ZipFile(tmp_path / "model.npz") as archive:
        entries = {info.filename for info in archive.infolist()}
        meta = json.loads(archive.read("mlpkit.json"))
    text = MODEL_FORMAT.read_text(encoding="utf-8")
    assert _table_keys(text, "The JSON entry") == set(meta)
    documented = _table_keys(text, "Entries")
    assert entries == {
        "mlpkit.json",
        "W1.npy",
        "W2.npy",
        "b1.npy",
        "b2.npy",
        "scaler_offset.npy",
        "scaler_scale.npy",
    }
    assert {"mlpkit.json", "W1.npy", "b1.npy", "scaler_offset.npy", "scaler_scale.npy"} <= documented

    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_blocks(MODEL_FORMAT, "python")[0], str(MODEL_FORMAT), "exec"), namespace)
    np.testing.assert_array_equal(namespace["W1"], net.params["W1"])
    assert namespace["meta"]["architecture"] == net.config()


def test_the_index_links_every_doc():
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([\w-]+\.md)\)", index))
    written = {path.name for path in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert written <= linked, f"docs/index.md does not link {sorted(written - linked)}"
