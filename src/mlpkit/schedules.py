"""Learning-rate schedules: constant, step, inverse scaling, cosine, and reduce-on-plateau.

A schedule maps the epoch number (0-based) to a learning rate; ``ReduceOnPlateau`` also
watches a monitored loss and divides the rate when it stops improving.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Constant:
    """``alpha_t = alpha_0``."""

    def __call__(self, initial: float, epoch: int) -> float:
        return initial


@dataclass
class StepDecay:
    """``alpha_t = alpha_0 * factor ** floor(t / step_size)``."""

    step_size: int = 10
    factor: float = 0.1

    def __post_init__(self) -> None:
        if self.step_size < 1:
            raise ValueError(f"step_size must be >= 1, got {self.step_size!r}")
        if not 0 < self.factor <= 1:
            raise ValueError(f"factor must be in (0, 1], got {self.factor!r}")

    def __call__(self, initial: float, epoch: int) -> float:
        return initial * self.factor ** (epoch // self.step_size)


@dataclass
class InverseScaling:
    """``alpha_t = alpha_0 / (t + 1) ** power_t`` (scikit-learn's 'invscaling')."""

    power_t: float = 0.5

    def __call__(self, initial: float, epoch: int) -> float:
        return initial / (epoch + 1) ** self.power_t


@dataclass
class Cosine:
    """``alpha_t = min + (alpha_0 - min) (1 + cos(pi t / T)) / 2`` over ``T`` epochs."""

    total_epochs: int
    minimum: float = 0.0

    def __post_init__(self) -> None:
        if self.total_epochs < 1:
            raise ValueError(f"total_epochs must be >= 1, got {self.total_epochs!r}")

    def __call__(self, initial: float, epoch: int) -> float:
        progress = min(epoch, self.total_epochs) / self.total_epochs
        return self.minimum + (initial - self.minimum) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class ReduceOnPlateau:
    """Divide the rate by ``1 / factor`` after ``patience`` epochs without improvement > ``tol``."""

    factor: float = 0.2
    patience: int = 2
    tol: float = 1e-4
    minimum: float = 1e-6
    scale: float = 1.0
    best: float = math.inf
    wait: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {self.factor!r}")
        if self.patience < 0:
            raise ValueError(f"patience must be >= 0, got {self.patience!r}")

    def __call__(self, initial: float, epoch: int) -> float:
        return max(initial * self.scale, self.minimum)

    def observe(self, loss: float) -> None:
        """Record the epoch's monitored loss; shrink the rate after a plateau."""
        if loss < self.best - self.tol:
            self.best, self.wait = loss, 0
            return
        self.wait += 1
        if self.wait > self.patience:
            self.scale *= self.factor
            self.wait = 0


SCHEDULES = {
    "constant": Constant,
    "step": StepDecay,
    "invscaling": InverseScaling,
    "cosine": Cosine,
    "plateau": ReduceOnPlateau,
}


def make_schedule(name: str, **options):
    """Build a schedule by name; unknown names list the valid ones."""
    try:
        cls = SCHEDULES[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown schedule {name!r}; expected one of {sorted(SCHEDULES)}") from None
    return cls(**options)
