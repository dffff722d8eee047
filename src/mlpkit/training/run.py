"""One call that trains a network: :func:`train`, with checkpoints, resume and Ctrl-C handling."""

from __future__ import annotations

import numpy as np

from mlpkit.network import DNN
from mlpkit.optimizers import Optimizer
from mlpkit.training.callbacks import History
from mlpkit.training.loop import Trainer

TRAINER_OPTIONS = ("progress", "callbacks", "communicator")
FIT_OPTIONS = ("validation_data", "sample_weight")


def train(
    net: DNN,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    epochs: int = 10,
    optimizer: str | Optimizer = "adam",
    learning_rate: float = 1e-3,
    batch_size: int = 128,
    seed: int | None = 0,
    **options,
) -> History:
    """Train ``net`` on column data with a fresh :class:`Trainer`; a one-call convenience.

    ``options`` are settings of :class:`~mlpkit.training.config.TrainConfig` (``l2``,
    ``dropout``, ``schedule``, ``validation_fraction``, ``early_stopping``, ``patience``...),
    the trainer's ``progress``, ``callbacks`` and ``communicator``, or the data's
    ``validation_data`` and ``sample_weight``.
    """
    trainer_options = {k: options.pop(k) for k in TRAINER_OPTIONS if k in options}
    fit_options = {k: options.pop(k) for k in FIT_OPTIONS if k in options}
    trainer = Trainer(
        net,
        optimizer,
        learning_rate,
        batch_size=batch_size,
        seed=seed,
        epochs=epochs,
        **options,
        **trainer_options,
    )
    return trainer.fit(X, Y, **fit_options)
