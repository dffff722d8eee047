"""Divergence: a NaN or infinite loss (or weights) stops training with the epoch, the batch and advice.

The weights kept are those of the start of the diverging epoch, checked bit for bit against
the same run stopped one epoch earlier; no NaN model or checkpoint is ever written.
"""

import re

import numpy as np
import pytest
from sklearn.datasets import load_iris

from mlpkit import DNN, MLPClassifier, MLPRegressor, Trainer
from mlpkit.cli import main
from mlpkit.io import load_checkpoint, save, save_checkpoint
from mlpkit.model import Model
from mlpkit.training import Callback, TrainingDiverged

DIVERGED = re.compile(
    r"Training diverged: the (loss became (nan|inf)|weights became NaN or infinite) at epoch (\d+), "
    r"batch (\d+); the weights from the start of that epoch were kept\. Try a smaller learning rate "
    r"\(it was ([0-9.e+]+)\)\."
)


def regression_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 64))
    return X, X.sum(axis=0, keepdims=True) * 3  # large targets: plain gradient descent at 0.8 blows up


class BatchCounter(Callback):
    """Counts the mini-batches that finished (with a finite loss) in each epoch."""

    def __init__(self) -> None:
        self.per_epoch: dict[int, int] = {}

    def on_batch_end(self, trainer, batch: int, loss: float) -> None:
        assert np.isfinite(loss)
        self.per_epoch[trainer.epoch] = self.per_epoch.get(trainer.epoch, 0) + 1


def diverging_trainer(callbacks=()) -> Trainer:
    net = DNN([3, 8, 1], "relu", "identity", seed=0)
    return Trainer(net, "sgd", 0.8, batch_size=16, seed=0, callbacks=callbacks)


def test_a_non_finite_loss_names_epoch_and_batch_and_keeps_the_epochs_starting_weights():
    X, Y = regression_problem()
    counter = BatchCounter()
    trainer = diverging_trainer([counter])
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(TrainingDiverged) as caught:
        trainer.fit(X, Y, 50)
    match = DIVERGED.fullmatch(str(caught.value))
    assert match, str(caught.value)
    epoch, batch = int(match.group(3)), int(match.group(4))
    assert epoch >= 2 and trainer.epoch == epoch - 1  # completed epochs: all before the diverging one
    assert counter.per_epoch.get(epoch - 1, 0) == batch - 1  # the batches before it ran, finite
    assert float(match.group(5)) == 0.8
    earlier = diverging_trainer()
    earlier.fit(X, Y, epoch - 1)  # the same run, stopped before the diverging epoch
    np.testing.assert_array_equal(trainer.net.theta, earlier.net.theta)
    assert trainer.history.loss == earlier.history.loss


def test_weights_that_overflow_on_the_last_step_are_caught_at_the_end_of_the_epoch():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2, 20))
    net = DNN([2, 3, 1], "relu", "sigmoid", seed=0)
    initial = net.theta.copy()
    trainer = Trainer(net, "sgd", 1e39, batch_size=20)  # one full batch; the step overflows float32
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(TrainingDiverged) as caught:
        trainer.fit(X, (X[:1] > 0).astype(float), 1)
    match = DIVERGED.fullmatch(str(caught.value))
    assert match and match.group(1) == "weights became NaN or infinite", str(caught.value)
    assert (match.group(3), match.group(4)) == ("1", "1")
    np.testing.assert_array_equal(net.theta, initial)


@pytest.mark.parametrize("make", [MLPRegressor, MLPClassifier])
def test_the_estimators_raise_value_error_and_keep_finite_weights(make):
    X, y = load_iris(return_X_y=True)
    estimator = make(
        hidden_layer_sizes=(4,),
        solver="sgd",
        learning_rate_init=1e39,  # the step overflows float32 weights
        max_iter=1,
        batch_size=150,
        dtype="float32",
    )
    with (
        np.errstate(all="ignore"),
        pytest.raises(ValueError, match=r"Training diverged: .* at epoch 1, batch 1;"),
    ):
        estimator.fit(X, y)
    assert all(np.isfinite(W).all() for W in estimator.coefs_)


def test_a_nan_model_or_checkpoint_is_never_written(tmp_path):
    net = DNN([2, 3, 2], "relu", "softmax", seed=0)
    existing = tmp_path / "model.npz"
    save(Model(net), existing)
    before = existing.read_bytes()
    net.params["b2"][1, 0] = np.nan
    with pytest.raises(ValueError, match=r"cannot write .*model.npz: b2 holds NaN or infinity"):
        save(Model(net), existing)
    assert existing.read_bytes() == before
    with pytest.raises(ValueError, match=r"cannot write .*c.npz: theta holds NaN or infinity"):
        save_checkpoint(tmp_path / "c.npz", Trainer(net))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.npz"]


# ---------------------------------------------------------------------- the command
@pytest.fixture
def big_targets(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    np.savez(tmp_path / "big.npz", X=X, y=X @ [1e3, 2e3, 3e3])
    return tmp_path / "big.npz"


DIVERGING = [
    "--target-scaling",
    "none",
    "--optimizer",
    "sgd",
    "--lr",
    "1000",
    "--epochs",
    "5",
    "--batch-size",
    "128",
    "--quiet",
]


def run(argv, capsys) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_command_exits_1_and_leaves_an_existing_model_file_unchanged(big_targets, tmp_path, capsys):
    out = tmp_path / "model.npz"
    assert run(["train", "--data", big_targets, "--epochs", "1", "--quiet", "--out", out], capsys)[0] == 0
    before = out.read_bytes()
    code, stdout, stderr = run(["train", "--data", big_targets, *DIVERGING, "--out", out], capsys)
    assert code == 1 and stdout == "" and stderr.count("\n") == 1
    assert DIVERGED.search(stderr) and stderr.rstrip().endswith("No model was written.")
    assert out.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["big.npz", "model.npz"]


def test_the_command_keeps_only_finite_checkpoints(big_targets, tmp_path, capsys):
    folder = tmp_path / "checkpoints"
    argv = ["train", "--data", big_targets, *DIVERGING, "--lr", "0.05", "--out", tmp_path / "m.npz"]
    code, _, stderr = run([*argv, "--checkpoint-dir", folder], capsys)
    match = DIVERGED.search(stderr)
    assert code == 1 and match, stderr
    epoch = int(match.group(3))
    kept = sorted(folder.iterdir())
    assert [path.name for path in kept][-1] == f"epoch-{epoch - 1:04d}.npz"  # the last finite epoch
    for path in kept:
        assert np.isfinite(load_checkpoint(path).arrays["theta"]).all()
    assert not (tmp_path / "m.npz").exists()


def test_one_epoch_whose_last_step_overflows_writes_no_model(tmp_path, capsys):
    out = tmp_path / "m.npz"
    argv = ["train", "--data", "iris", "--hidden", "3", "--epochs", "1", "--optimizer", "sgd"]
    code, _, stderr = run([*argv, "--lr", "1e39", "--batch-size", "200", "--quiet", "--out", out], capsys)
    assert code == 1 and "the weights became NaN or infinite at epoch 1, batch 1" in stderr
    assert not out.exists()
