"""Embeddings in the trainer's state and checkpoint files: an exact resume, and files checked as untrusted.

The oracle of a resume is the same run left uninterrupted: a resumed run with learned
embeddings ends with exactly its weights, embeddings and losses, bit for bit.
"""

import io
import json
import zipfile

import numpy as np
import pytest

import mlpkit
from conftest import InterruptAt
from mlpkit import DNN, Trainer
from mlpkit.embeddings import EmbeddingInput
from mlpkit.io import load_checkpoint, save_checkpoint
from mlpkit.training import TrainingInterrupted
from mlpkit.training.run import CheckpointError

SETTINGS = dict(epochs=6, optimizer="adam", learning_rate=0.05, batch_size=8, dropout=0.2, seed=5)
FIT = dict(validation_fraction=0.25, early_stopping=True, patience=3)


def problem():
    """Two dense rows and two categorical columns; the class depends on both."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2, 70))
    codes = np.stack([rng.integers(0, 6, 70), rng.integers(0, 3, 70)])
    label = ((X[0] > 0) ^ (codes[0] % 2 == 1)).astype(int)
    return X, np.eye(2)[:, label], codes


def new_inputs(seed=0) -> EmbeddingInput:
    return EmbeddingInput(2, (6, 3), (3, 2), seed=seed)


def new_net(seed=0) -> DNN:
    return DNN([7, 6, 2], "tanh", "softmax", seed=seed)


@pytest.fixture
def straight():
    X, Y, codes = problem()
    net, inputs = new_net(), new_inputs()
    history = mlpkit.train(net, X, Y, inputs=inputs, codes=codes, **SETTINGS, **FIT)
    return net, inputs, history


@pytest.mark.parametrize("stop", [1, 7, 15, 22])
def test_an_interrupted_and_resumed_run_with_embeddings_equals_the_straight_run(tmp_path, straight, stop):
    X, Y, codes = problem()
    with pytest.raises(TrainingInterrupted):
        mlpkit.train(
            new_net(),
            X,
            Y,
            inputs=new_inputs(),
            codes=codes,
            checkpoint_dir=tmp_path,
            callbacks=[InterruptAt(stop)],
            **SETTINGS,
            **FIT,
        )
    net, inputs = new_net(seed=9), new_inputs(seed=9)  # every number must come from the checkpoint
    history = mlpkit.train(
        net, X, Y, inputs=inputs, codes=codes, checkpoint_dir=tmp_path, resume=True, **SETTINGS, **FIT
    )
    np.testing.assert_array_equal(net.theta, straight[0].theta)
    np.testing.assert_array_equal(inputs.phi, straight[1].phi)
    assert history.loss == straight[2].loss and history.val_loss == straight[2].val_loss


def test_a_resume_with_other_codes_or_other_embeddings_is_refused(tmp_path):
    X, Y, codes = problem()
    mlpkit.train(new_net(), X, Y, inputs=new_inputs(), codes=codes, checkpoint_dir=tmp_path, **SETTINGS)
    again = dict(checkpoint_dir=tmp_path, resume=True, **SETTINGS)
    with pytest.raises(CheckpointError, match=r"other settings \(the training data differ\)"):
        mlpkit.train(new_net(), X, Y, inputs=new_inputs(), codes=codes[:, ::-1], **again)
    other = EmbeddingInput(2, (6, 3), (2, 3))
    with pytest.raises(CheckpointError, match=r"the checkpoint's embeddings .* differ from the trainer's"):
        mlpkit.train(new_net(), X, Y, inputs=other, codes=codes, **again)
    checkpoint = load_checkpoint(sorted(tmp_path.iterdir())[-1])
    with pytest.raises(ValueError, match="the checkpoint's embeddings .* differ from the trainer's None"):
        checkpoint.restore(Trainer(new_net()))
    alone = tmp_path / "alone.npz"
    save_checkpoint(alone, Trainer(new_net()))
    with pytest.raises(ValueError, match="the checkpoint's embeddings None differ from the trainer's"):
        load_checkpoint(alone).restore(Trainer(new_net(), inputs=new_inputs()))


def interrupted_trainer() -> Trainer:
    X, Y, codes = problem()
    trainer = Trainer(new_net(), "adam", 0.05, batch_size=8, seed=5, inputs=new_inputs())
    trainer.callbacks = [InterruptAt(12)]
    with pytest.raises(TrainingInterrupted):
        trainer.fit(X, Y, 3, codes=codes, validation_fraction=0.25, early_stopping=True)
    return trainer


def test_the_state_and_the_file_carry_phi_and_its_optimizer_state(tmp_path):
    trainer = interrupted_trainer()
    arrays, _ = trainer.state_dict()
    assert set(arrays) == {
        "theta",
        "phi",
        "best_theta",
        "best_phi",
        "epoch_start_theta",
        "epoch_start_phi",
        "optimizer.m.theta",
        "optimizer.v.theta",
        "optimizer.m.phi",
        "optimizer.v.phi",
    }
    path = save_checkpoint(tmp_path / "c.npz", trainer)
    checkpoint = load_checkpoint(path)
    assert checkpoint.inputs == trainer.inputs.config()
    for name, array in arrays.items():
        np.testing.assert_array_equal(checkpoint.arrays[name], array, err_msg=name)
    np.testing.assert_array_equal(checkpoint.embeddings().phi, trainer.inputs.phi)
    restored = Trainer(new_net(seed=3), "adam", 0.05, batch_size=8, seed=5, inputs=new_inputs(seed=3))
    checkpoint.restore(restored)
    np.testing.assert_array_equal(restored.inputs.phi, trainer.inputs.phi)
    np.testing.assert_array_equal(restored.best_phi, trainer.best_phi)
    np.testing.assert_array_equal(restored.epoch_progress.start_phi, trainer.epoch_progress.start_phi)
    np.testing.assert_array_equal(restored.optimizer.state["v"]["phi"], trainer.optimizer.state["v"]["phi"])


# ---------------------------------------------------------------------- untrusted files
def entries_of(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write(path, entries: dict[str, bytes], change_meta=None):
    if change_meta is not None:
        meta = json.loads(entries["mlpkit.json"])
        change_meta(meta)
        entries = {**entries, "mlpkit.json": json.dumps(meta).encode()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def valid_file(tmp_path_factory):
    return entries_of(save_checkpoint(tmp_path_factory.mktemp("valid") / "c.npz", interrupted_trainer()))


PHI = 6 * 3 + 3 * 2
BROKEN = {
    "phi too short": (
        lambda e: {**e, "phi.npy": npy(np.zeros(PHI - 1, np.float32))},
        None,
        rf"array 'phi' has shape \({PHI - 1},\), expected \({PHI},\)",
    ),
    "phi missing": (lambda e: {k: v for k, v in e.items() if k != "phi.npy"}, None, "array 'phi' is missing"),
    "no inputs entry": (lambda e: e, lambda m: m.pop("inputs"), r"unexpected arrays \['best_phi', 'epoch_st"),
    "optimizer state of an unknown vector": (
        lambda e: {**e, "optimizer.m.psi.npy": e["phi.npy"]},
        None,
        r"unexpected arrays \['optimizer.m.psi'\]",
    ),
    "sizes that do not add up to n_x": (
        lambda e: e,
        lambda m: m["inputs"].update(n_dense=3),
        r"inputs.n_dense \+ sum\(inputs.dimensions\) must be the network's n_x = 7",
    ),
    "a huge vocabulary": (
        lambda e: e,
        lambda m: m["inputs"].update(vocabulary_sizes=[1 << 27, 3]),
        "the embeddings hold 402653190 numbers, above the 268435456 limit",
    ),
    "a vocabulary size of 0": (
        lambda e: e,
        lambda m: m["inputs"].update(vocabulary_sizes=[0, 3]),
        r"inputs.vocabulary_sizes must be a list of integers in \[1, 268435456\]",
    ),
    "columns that disagree": (
        lambda e: e,
        lambda m: m["inputs"].update(dimensions=[5]),
        "inputs.vocabulary_sizes and inputs.dimensions must list as many columns",
    ),
    "another dtype": (
        lambda e: e,
        lambda m: m["inputs"].update(dtype="float64"),
        "inputs.dtype must be the architecture's float32",
    ),
    "an unknown field": (
        lambda e: e,
        lambda m: m["inputs"].update(code="print(1)"),
        "inputs must hold exactly",
    ),
    "an epoch position without its starting embeddings": (
        lambda e: {k: v for k, v in e.items() if k != "epoch_start_phi.npy"},
        None,
        "trainer.epoch_progress and array 'epoch_start_phi' must come together",
    ),
    "NaN embeddings": (
        lambda e: {**e, "best_phi.npy": npy(np.full(PHI, np.nan, np.float32))},
        None,
        "array 'best_phi' holds NaN or infinity",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_checkpoint_with_broken_embeddings_is_refused_naming_the_file(case, valid_file, tmp_path):
    change_entries, change_meta, message = BROKEN[case]
    path = write(tmp_path / "c.npz", change_entries(dict(valid_file)), change_meta)
    with pytest.raises(ValueError, match=message) as caught:
        load_checkpoint(path)
    assert str(caught.value).startswith(str(path))


def test_nan_embeddings_are_never_written(tmp_path):
    trainer = interrupted_trainer()
    trainer.inputs.phi[0] = np.nan
    with pytest.raises(ValueError, match="phi holds NaN or infinity"):
        save_checkpoint(tmp_path / "c.npz", trainer)
    assert not list(tmp_path.iterdir())
