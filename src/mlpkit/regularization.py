"""The L2 penalty of the cost: ``(lambda/2m) sum_l ||W_l||^2``, whose gradient is ``(lambda/m) W_l``.

Biases are not penalized. ``m`` is the number of samples the cost averages over (or their
total weight). The optimizers add the gradient inside their step (``step(..., l2=l2_scale(...))``
returns ``sum_l ||W_l||^2``); a full-batch solver adds it to its gradient itself.
"""

from __future__ import annotations


def l2_scale(l2: float, m: float) -> float:
    """``lambda/m``: the penalty's gradient with respect to ``W_l`` is ``(lambda/m) W_l``."""
    return l2 / m


def l2_cost(l2: float, m: float, squares: float) -> float:
    """``(lambda/2m) sum_l ||W_l||^2``, the penalty added to J, from ``squares = sum_l ||W_l||^2``."""
    return 0.5 * l2_scale(l2, m) * squares
