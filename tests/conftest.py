"""Shared fixtures: random column batches with targets for each output pair."""

import numpy as np
import pytest

from mlpkit.training import Callback


def make_targets(output: str, n_out: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Targets of shape (n_out, m): one-hot (softmax), 0/1 (sigmoid) or real values (identity)."""
    if output == "softmax":
        return np.eye(n_out)[:, rng.integers(0, n_out, m)]
    if output == "sigmoid":
        return (rng.random((n_out, m)) < 0.5).astype(np.float64)
    return rng.standard_normal((n_out, m))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def refuse(capsys, argv: list, *fragments: str) -> str:
    """Run the command ``argv``: exit code 2, one error line holding every fragment, no traceback,
    no epoch run (refused before training); returns that line."""
    from mlpkit.cli import main

    assert main([str(arg) for arg in argv]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "epoch" not in captured.out  # refused before the first epoch
    return lines[0]


class InterruptAt(Callback):
    """Requests an interrupt after the given (1-based) mini-batch of the run."""

    def __init__(self, batch: int) -> None:
        self.batch, self.seen = batch, 0

    def on_batch_end(self, trainer, batch, loss) -> None:
        self.seen += 1
        if self.seen == self.batch:
            trainer.request_interrupt()
