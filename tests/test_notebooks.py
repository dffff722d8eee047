"""The learners' notebooks in docs/notebooks run from top to bottom, so they never go stale.

Each notebook checks its own numbers (hand calculations, the course's published values, finite
differences) with asserts in its cells; a failing assert fails the notebook, and the test. The
notebooks run from a temporary copy with the same mlpkit as this test run: the stored ones keep
no outputs and are never written to.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import mlpkit

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "docs" / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds; a notebook takes seconds, but the test machine may be busy


def test_there_are_the_three_notebooks_and_they_are_stored_without_outputs():
    assert [path.name for path in NOTEBOOKS] == [
        "01-logistic-regression.ipynb",
        "02-planar-one-hidden-layer.ipynb",
        "03-fashion-mnist-deep-network.ipynb",
    ]
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = [cell for cell in cells if cell["cell_type"] == "code"]
        assert code and all(not cell["outputs"] and cell["execution_count"] is None for cell in code), path


def _execute(path: Path, folder: Path, monkeypatch):
    """Run a copy of the notebook in ``folder`` with a fresh kernel; returns the executed notebook."""
    nbformat = pytest.importorskip("nbformat", reason="running the notebooks needs nbformat (test extra)")
    nbclient = pytest.importorskip("nbclient", reason="running the notebooks needs nbclient (test extra)")
    pytest.importorskip("ipykernel", reason="running the notebooks needs ipykernel (test extra)")
    pytest.importorskip("matplotlib", reason="the notebooks draw pictures (plot extra)")
    source = str(Path(mlpkit.__file__).resolve().parents[1])  # the mlpkit under test, for the kernel
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")])))
    copy = folder / path.name
    copy.write_bytes(path.read_bytes())
    notebook = nbformat.read(copy, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    return notebook


def _text(notebook) -> str:
    """Everything the notebook printed or showed as text or HTML."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.extend(str(output.get("data", {}).get(kind, "")) for kind in ("text/plain", "text/html"))
    return "\n".join(parts)


def _images(notebook) -> int:
    """How many pictures the notebook showed."""
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    return sum("image/png" in output.get("data", {}) for output in outputs)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_notebook_runs_and_shows_what_it_teaches(path, tmp_path, monkeypatch):
    if path.stem.startswith("03"):
        from mlpkit.datasets.idx import IDX_DATASETS, find_files

        if find_files(IDX_DATASETS["fashion-mnist"]) is None:
            pytest.skip("Fashion-MNIST is not on this machine, and tests never download")
    stored = path.read_bytes()
    notebook = _execute(path, tmp_path, monkeypatch)
    text = _text(notebook)
    assert path.read_bytes() == stored  # the stored notebook is left alone
    expected = {
        "01": ["cost = 5.801545319394553", "Cost after iteration 0:", "Cost after iteration 999:", "passed"],
        "02": ["Cost after iteration 9999:", "accuracy on the flower", "has no loss of its own"],
        "03": ["Forward propagation, layer 1 to 3", "Cost after epoch 4:", "test accuracy on 1000 images"],
    }[path.stem[:2]]
    for line in expected:
        assert line in text, f"{path.name} no longer shows {line!r}"
    assert "<table><caption>" in text  # a DNN or a Model shown as its HTML table
    assert _images(notebook) == {"01": 0, "02": 1, "03": 4}[path.stem[:2]]
