"""The optimizer step of the trainer: Adam's L2 term and update as one compiled pass where it can.

:class:`OptimizerStep` takes ``optimizer.step(grads, l2, l2_slices)``. For a plain
:class:`~mlpkit.optimizers.Adam` or :class:`~mlpkit.optimizers.AdamW` whose arrays the compiled
kernel can take (built, one float dtype, C order, an L2 slice over leading entries), the Adam
update of each parameter, with the L2 gradient ``g += lambda w`` and ``||w||^2`` folded in, is one
pass over memory (:func:`mlpkit.fast.kernels.bind_adam`); everything around it (checking the
arguments, counting ``t``, Adam's bias-corrected scalars, AdamW's decay) is the numpy optimizer's
own code. Any other optimizer, or ``MLPKIT_NUMPY_ONLY``, runs ``optimizer.step`` itself. Tests
hold the two equal (tests/test_fused.py).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping

import numpy as np

from mlpkit.fast import kernels
from mlpkit.optimizers import Adam, AdamW, Optimizer

SERVED = (Adam, AdamW)  # exactly these classes: a subclass may change the update
Kernels = list[tuple[Callable[..., float], int]]  # per parameter: the bound kernel, its L2 entries


def leading_count(p: np.ndarray, part: slice | None) -> int | None:
    """How many leading entries of the flat ``p`` the slice ``part`` covers (0 for None), or None
    when it is not a leading run (the kernel penalizes entries ``[0, n)`` only)."""
    if part is None:
        return 0
    if (
        p.ndim != 1
        or not isinstance(part, slice)
        or part.start not in (None, 0)
        or part.step not in (None, 1)
    ):
        return None
    return len(range(*part.indices(p.size)))


class OptimizerStep:
    """``optimizer.step`` for the trainer, with a plain Adam's or AdamW's update compiled.

    Kernels are bound to the arrays of the last call (parameters, gradients, moments) and bound
    again when the optimizer or a gradient array changes; pickling drops them.
    """

    def __init__(self) -> None:
        self._key: list | None = None  # the optimizer, its p, g, m, v and L2 slices the kernels are bound to
        self._kernels: Kernels | None = None

    def __getstate__(self) -> dict:
        """Nothing to keep: bound kernels hold memory addresses, bound again after unpickling."""
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def __call__(
        self,
        optimizer: Optimizer,
        grads: Mapping[str, np.ndarray],
        l2: float = 0.0,
        l2_slices: Mapping[str, slice] | None = None,
    ) -> float:
        """One step, as ``optimizer.step(grads, l2, l2_slices)``: returns the penalized ``||w||^2``."""
        bound = self._bind(optimizer, grads, l2, l2_slices)
        if bound is None:
            return optimizer.step(grads, l2, l2_slices)
        steps = optimizer._begin_step(grads, l2, l2_slices)  # the reference's checks and t += 1
        step_size, eps_hat = optimizer._bias_corrected()
        # 1 - beta in double: in float32, 1 - 0.999 keeps only about 3 correct digits
        c1, c2 = 1.0 - optimizer.beta_1, 1.0 - optimizer.beta_2
        squares, decoupled = 0.0, isinstance(optimizer, AdamW)
        for (name, p, g, part), (kernel, n_l2) in zip(steps, bound, strict=True):
            if decoupled:  # AdamW: its L2 gradient reads the weights before the decay
                squares += optimizer._add_penalty(name, p, g, l2, part)
                optimizer._decay(name, p)
                squares += kernel(c1, c2, step_size, eps_hat, 0.0, 0)
            else:  # g += l2 w over the first n_l2 entries, m, v and p in one pass
                squares += kernel(c1, c2, step_size, eps_hat, l2, n_l2)
        return squares

    def _bind(
        self,
        optimizer: Optimizer,
        grads: Mapping[str, np.ndarray],
        l2: float,
        l2_slices: Mapping[str, slice] | None,
    ) -> Kernels | None:
        """One bound kernel per parameter, or None when the numpy optimizer takes this step."""
        if type(optimizer) not in SERVED or not kernels.available():
            return None
        key: list = [optimizer]  # then p, g, m, v and the L2 slice of each parameter
        m, v = optimizer.state["m"], optimizer.state["v"]
        for name, p in optimizer.params.items():
            part = l2_slices.get(name) if l2 and l2_slices else None
            key += (p, grads.get("d" + name), m[name], v[name], part)
        bound_to = self._key
        if bound_to is None or len(key) != len(bound_to) or not all(map(operator.is_, key, bound_to)):
            self._key, self._kernels = key, _bind_kernels(optimizer, key[1:])
        return self._kernels


def _bind_kernels(optimizer: Adam, arrays: list) -> Kernels | None:
    """The Adam kernel bound to each parameter's ``p, g, m, v`` (``arrays`` holds them and the L2
    slice, five per parameter) with the number of leading entries its L2 term covers; None if the
    kernel cannot take one of them."""
    bound = []
    for index in range(0, len(arrays), 5):
        p, g, m, v, part = arrays[index : index + 5]
        # AdamW adds its L2 gradient before its decay, in numpy: the kernel then has none to add
        n_l2 = 0 if isinstance(optimizer, AdamW) else leading_count(p, part)
        kernel = None if g is None or n_l2 is None else kernels.bind_adam(p, g, m, v)
        if kernel is None:
            return None
        bound.append((kernel, n_l2))
    return bound
