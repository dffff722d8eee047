"""mlpkit.train with a checkpoint folder: the library does what ``--checkpoint-dir``/``--resume`` do.

The oracle is the same run left uninterrupted: a resumed run ends with exactly its weights and
losses, bit for bit. Copies of a trainer (pickle, deepcopy, joblib) go on training as the
original does.
"""

import copy
import pickle

import joblib
import numpy as np
import pytest

import mlpkit
from conftest import InterruptAt
from mlpkit import DNN, Trainer
from mlpkit.training import TrainingInterrupted
from mlpkit.training.run import CheckpointError

SETTINGS = dict(epochs=6, optimizer="adam", learning_rate=0.05, batch_size=8, dropout=0.2, seed=5)
FIT = dict(validation_fraction=0.25, early_stopping=True, patience=3)


def problem():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3, 70))
    return X, np.eye(2)[:, (X[0] * X[1] > 0).astype(int)]


def new_net() -> DNN:
    return DNN([3, 6, 2], "tanh", "softmax", seed=0)


@pytest.fixture
def straight():
    X, Y = problem()
    net = new_net()
    history = mlpkit.train(net, X, Y, **SETTINGS, **FIT)
    return net, history


@pytest.mark.parametrize("stop", [1, 7, 15, 22])
def test_interrupted_and_resumed_run_equals_the_straight_run(tmp_path, straight, stop):
    X, Y = problem()
    with pytest.raises(TrainingInterrupted) as interrupted:
        mlpkit.train(
            new_net(), X, Y, checkpoint_dir=tmp_path, callbacks=[InterruptAt(stop)], **SETTINGS, **FIT
        )
    assert interrupted.value.checkpoint.startswith(str(tmp_path))
    net = DNN([3, 6, 2], "tanh", "softmax", seed=9)  # every weight must come from the checkpoint
    history = mlpkit.train(net, X, Y, checkpoint_dir=tmp_path, resume=True, **SETTINGS, **FIT)
    np.testing.assert_array_equal(net.theta, straight[0].theta)
    assert history.loss == straight[1].loss and history.val_loss == straight[1].val_loss


def test_a_finished_run_resumes_to_the_same_weights_and_more_epochs_go_on(tmp_path, straight):
    X, Y = problem()
    mlpkit.train(new_net(), X, Y, checkpoint_dir=tmp_path, **{**SETTINGS, "epochs": 3})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0002.npz", "epoch-0003.npz"]  # two kept
    net = new_net()
    history = mlpkit.train(net, X, Y, checkpoint_dir=tmp_path, resume=True, **SETTINGS)
    alone = new_net()
    mlpkit.train(alone, X, Y, **SETTINGS)
    np.testing.assert_array_equal(net.theta, alone.theta)
    assert history.epochs == 6


def test_a_folder_is_refused_for_another_run_or_other_settings(tmp_path):
    X, Y = problem()
    mlpkit.train(new_net(), X, Y, checkpoint_dir=tmp_path, **{**SETTINGS, "epochs": 1})
    with pytest.raises(CheckpointError, match=r"already holds checkpoints \(newest epoch-0001.npz\)"):
        mlpkit.train(new_net(), X, Y, checkpoint_dir=tmp_path, **SETTINGS)
    with pytest.raises(CheckpointError, match=r"other settings \(--batch-size 8 there, 4 now\)"):
        mlpkit.train(new_net(), X, Y, checkpoint_dir=tmp_path, resume=True, **{**SETTINGS, "batch_size": 4})
    with pytest.raises(CheckpointError, match="the training data differ"):
        mlpkit.train(new_net(), X[:, ::-1], Y, checkpoint_dir=tmp_path, resume=True, **SETTINGS)
    with pytest.raises(CheckpointError, match="resume needs a checkpoint folder"):
        mlpkit.train(new_net(), X, Y, resume=True, **SETTINGS)
    (tmp_path / "file").write_text("")
    with pytest.raises(CheckpointError, match="is a file, not a folder"):
        mlpkit.train(new_net(), X, Y, checkpoint_dir=tmp_path / "file", **SETTINGS)


@pytest.mark.parametrize(
    "round_trip",
    [
        lambda obj, path: pickle.loads(pickle.dumps(obj)),
        lambda obj, path: copy.deepcopy(obj),
        lambda obj, path: (joblib.dump(obj, path / "t.joblib"), joblib.load(path / "t.joblib"))[1],
    ],
    ids=["pickle", "deepcopy", "joblib"],
)
def test_a_copied_trainer_keeps_training_as_the_original(tmp_path, round_trip):
    X, Y = problem()
    original = Trainer(new_net(), "adam", 0.05, batch_size=8, seed=5)
    original.fit(X, Y, 2)
    copied = round_trip(original, tmp_path)
    assert copied.optimizer.params["theta"] is copied.net.theta
    original.fit(X, Y, 2)
    copied.fit(X, Y, 2)
    np.testing.assert_array_equal(copied.net.theta, original.net.theta)
    assert copied.optimizer.t == original.optimizer.t == 2 * 9 + 2 * 9


def test_state_dict_writes_exactly_the_fields_the_checkpoint_reader_checks(tmp_path):
    # the reader's schema (io.checkpoint_file) and the trainer's state_dict must never drift apart
    from mlpkit.io.checkpoint_file import OPTIONAL_TRAINER_SCHEMA, TRAINER_SCHEMA
    from mlpkit.schedules import ReduceOnPlateau

    X, Y = problem()
    trainer = Trainer(new_net(), "adam", 0.05, batch_size=8, seed=5, schedule=ReduceOnPlateau())
    trainer.callbacks = [InterruptAt(12)]
    with pytest.raises(TrainingInterrupted):
        trainer.fit(X, Y, 3, validation_fraction=0.25)
    arrays, meta = trainer.state_dict()
    assert set(meta) == set(TRAINER_SCHEMA) | set(OPTIONAL_TRAINER_SCHEMA)
    for key, schema in {**TRAINER_SCHEMA, **OPTIONAL_TRAINER_SCHEMA}.items():
        if isinstance(schema, dict) and "*" not in schema:
            assert set(meta[key]) >= set(schema), key
    assert set(meta["optimizer"]) == set(TRAINER_SCHEMA["optimizer"])
    assert set(meta["epoch_progress"]) == set(OPTIONAL_TRAINER_SCHEMA["epoch_progress"])
    assert set(arrays) == {"theta", "epoch_start_theta", "optimizer.m.theta", "optimizer.v.theta"}
