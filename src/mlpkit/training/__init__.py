"""Training: the one configuration, the epoch/batch loop, state and resume, callbacks, checkpoints, MPI."""

from mlpkit.training.callbacks import Callback, History, PrintCost
from mlpkit.training.config import ConfigError, TrainConfig
from mlpkit.training.loop import TrainingDiverged, TrainingInterrupted
from mlpkit.training.run import train
from mlpkit.training.trainer import Trainer

__all__ = [
    "Callback",
    "ConfigError",
    "History",
    "PrintCost",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "TrainingInterrupted",
    "train",
]
