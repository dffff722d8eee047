"""What training reports as it goes: the History, the Callback hooks, the progress bar."""

from __future__ import annotations

import math
import numbers
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from mlpkit.training.trainer import Trainer


@dataclass
class History:
    """Per-epoch training record: loss and accuracy on train and validation, seconds, learning rate."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.loss)

    def record(self, logs: dict[str, float]) -> None:
        """Append one epoch's logs (NaN where there was no validation)."""
        self.loss.append(logs["loss"])
        self.accuracy.append(logs["accuracy"])
        self.val_loss.append(logs.get("val_loss", math.nan))
        self.val_accuracy.append(logs.get("val_accuracy", math.nan))
        self.seconds.append(logs["seconds"])
        self.learning_rate.append(logs["learning_rate"])

    def to_dict(self) -> dict[str, list[float]]:
        """Plain lists (JSON-serializable; NaN stays NaN)."""
        return {name: list(getattr(self, name)) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict) -> History:
        """Rebuild from :meth:`to_dict` output."""
        return cls(**{name: [float(v) for v in data.get(name, [])] for name in cls.__dataclass_fields__})


class Callback:
    """Hooks called by :class:`Trainer`; set ``trainer.stop_training = True`` to stop after the epoch."""

    def on_train_begin(self, trainer: Trainer) -> None:
        """Called once before the first epoch of a ``fit`` call."""

    def on_batch_end(self, trainer: Trainer, batch: int, loss: float) -> None:
        """Called after each mini-batch update."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Called after each epoch with that epoch's metrics."""

    def on_train_end(self, trainer: Trainer) -> None:
        """Called once after the last epoch."""


class PrintCost(Callback):
    """The notes' training printout: ``Cost after iteration i: J`` every ``every`` epochs and after the last.

    ``i`` counts from 0 and ``J`` is that epoch's training cost, as the notes compute it before
    the step. With one full batch an epoch is one iteration of gradient descent; with
    mini-batches, ``unit="epoch"`` prints ``Cost after epoch i: J``. ``stream`` defaults to stdout.
    """

    def __init__(self, every: int, unit: str = "iteration", stream: TextIO | None = None) -> None:
        if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
            raise ValueError(f"print_every must be an integer >= 1, got {every!r}")
        self.every, self.unit, self.stream = int(every), unit, stream
        self._printed: int | None = None

    def _print(self, epoch: int, cost: float) -> None:
        print(f"Cost after {self.unit} {epoch}: {cost}", file=self.stream or sys.stdout)
        self._printed = epoch

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Print every ``every``-th epoch's cost, from epoch 0."""
        if epoch % self.every == 0:
            self._print(epoch, logs["loss"])

    def on_train_end(self, trainer: Trainer) -> None:
        """Print the last epoch's cost too, as the notes do, unless it was just printed."""
        last = trainer.epoch - 1
        if trainer.history.loss and self._printed != last:
            self._print(last, trainer.history.loss[-1])


class ProgressBar:
    """A tqdm bar over one epoch's samples, on stderr; shown when asked, or when stderr is a terminal."""

    def __init__(self, show: bool | None, total: int, done: int, epoch: int) -> None:
        self.bar = None
        if show if show is not None else sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total, initial=done, desc=f"epoch {epoch}", unit="sample", leave=False, file=sys.stderr
            )

    def update(self, size: int, total_loss: float) -> None:
        """Advance by one mini-batch of ``size`` samples and show the running mean loss."""
        if self.bar is not None:
            self.bar.update(size)
            self.bar.set_postfix(loss=f"{total_loss / (self.bar.n or 1):.4f}", refresh=False)

    def close(self) -> None:
        """Remove the bar (it is not left on the terminal)."""
        if self.bar is not None:
            self.bar.close()
