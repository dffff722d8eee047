"""scikit-learn's learning-rate schedule and stopping rule for sgd and adam, as two small objects.

The rule (scikit-learn's ``_update_no_improvement_count`` and ``trigger_stopping``): with early
stopping, an epoch improves when its validation *score* beats the best score by ``tol``;
otherwise when its training loss beats the best loss by ``tol``. After more than
``n_iter_no_change`` epochs in a row without improvement, an adaptive learning rate is divided
by 5 and counting starts again, or, when the rate is not adaptive or already at most 1e-6,
training stops. This differs from :class:`mlpkit.Trainer`'s early stopping (validation *loss*,
``patience``) on purpose: the estimators stop where scikit-learn's do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MINIMUM_ADAPTIVE_RATE = 1e-6
ADAPTIVE_DIVISOR = 5.0
CONTINUE, REDUCED, STOP = "continue", "reduced", "stop"


@dataclass
class SklearnLearningRate:
    """scikit-learn's sgd schedules: constant, invscaling on samples seen, adaptive (divide by 5)."""

    kind: str = "constant"
    power_t: float = 0.5
    samples_seen: int = 0
    scale: float = 1.0

    def __call__(self, initial: float, epoch: int) -> float:
        if self.kind == "invscaling":
            return initial / (self.samples_seen + 1) ** self.power_t
        return initial * self.scale

    def reduce(self, initial: float) -> bool:
        """On a plateau: divide an adaptive rate by 5 and return True, or return False to stop."""
        if self.kind != "adaptive" or initial * self.scale <= MINIMUM_ADAPTIVE_RATE:
            return False
        self.scale /= ADAPTIVE_DIVISOR
        return True


class NoImprovement:
    """scikit-learn's count of epochs without improvement, with the best values and weights seen.

    ``validation`` (early stopping) watches the validation score, else the training loss. The
    state lasts across warm-start fits, as scikit-learn's does; the estimators show it as
    ``best_loss_``, ``best_validation_score_``, ``validation_scores_`` and
    ``validation_loss_curve_`` (None where the other quantity is watched).
    """

    def __init__(self, validation: bool) -> None:
        self.validation = validation
        self.count = 0
        self.best_theta: np.ndarray | None = None  # the weights of the best validation score
        self.best_loss: float | None = None if validation else math.inf
        self.best_score: float | None = -math.inf if validation else None
        self.scores: list[float] | None = [] if validation else None
        self.validation_losses: list[float] | None = [] if validation else None

    @property
    def watched(self) -> str:
        """What the rule watches, in the words of its messages."""
        return "Validation score" if self.validation else "Training loss"

    def end_epoch(
        self, loss: float, theta: np.ndarray, tol: float, validation: tuple[float, float] | None = None
    ) -> None:
        """Count one epoch from its training ``loss`` or, with early stopping, ``validation`` =
        ``(validation loss, validation score)``; ``theta`` is kept when the score is the best."""
        if self.validation:
            validation_loss, score = validation
            self.validation_losses.append(validation_loss)
            self.scores.append(score)
            worse = score < self.best_score + tol
            if score > self.best_score:
                self.best_score = score
                self.best_theta = theta.copy()
        else:
            worse = loss > self.best_loss - tol
            self.best_loss = min(self.best_loss, loss)
        self.count = self.count + 1 if worse else 0

    def decide(self, n_iter_no_change: float, schedule: SklearnLearningRate, initial_rate: float) -> str:
        """After more than ``n_iter_no_change`` epochs without improvement: REDUCED when the
        schedule divided its adaptive rate (counting starts again), else STOP; CONTINUE before."""
        if self.count <= n_iter_no_change:
            return CONTINUE
        if schedule.reduce(initial_rate):
            self.count = 0
            return REDUCED
        return STOP
