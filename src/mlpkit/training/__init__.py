"""Training: the one configuration, the epoch/batch loop, state and resume, callbacks, checkpoints, MPI."""

from mlpkit.training.config import TrainConfig
from mlpkit.training.trainer import (
    Callback,
    History,
    Trainer,
    TrainingDiverged,
    TrainingInterrupted,
    train,
)

__all__ = [
    "Callback",
    "History",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "TrainingInterrupted",
    "train",
]
