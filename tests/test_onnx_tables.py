"""ONNX export of models trained on tables: the column schema in the graph, raw columns in."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mlpkit import DNN
from mlpkit.export import export_onnx
from mlpkit.features import FeatureSchema
from mlpkit.io import save
from mlpkit.model import Model


def training_frame(m: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 12, m)
    age[rng.random(m) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "age": age,
            "income": rng.lognormal(10, 1, m),
            "home": rng.choice(["own", "rent", "other", None], m),
            "member": rng.choice([True, False], m),
        }
    )


def table_model(frame: pd.DataFrame) -> Model:
    schema = FeatureSchema.fit(frame, encoding="onehot")
    net = DNN([schema.dense_width, 6, 3], "tanh", "softmax", seed=2)
    return Model(net, task="multiclass", labels=["a", "b", "c"], features=schema)


def test_a_schema_it_cannot_export_is_refused(tmp_path):
    model = table_model(training_frame())
    with pytest.raises(ValueError, match="the model takes a table"):
        export_onnx(model, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []
    save(model, tmp_path / "model.npz")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlpkit.cli",
            "export",
            str(tmp_path / "model.npz"),
            "--onnx",
            str(tmp_path / "m.onnx"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "table" in done.stderr and not (tmp_path / "m.onnx").exists()
