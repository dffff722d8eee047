"""Optimizers: SGD, Momentum, Nesterov, RMSprop, Adam and AdamW, updating parameters in place.

An optimizer is built on a mapping of named parameter arrays (``net.params`` or one flat
vector ``{"theta": ...}``) and its one public method, ``step(grads)``, reads ``grads["d" + name]``;
``step`` can add an L2 penalty's gradient first (``dW += lambda W`` on the weights' part). State
arrays (velocities, moments) and one scratch array per parameter are created up front, aligned
with the parameters, and every update is done in place in as few passes over memory as the
formula allows (an update over a flat ``theta`` is then a dozen array operations per step).
Plain numpy; :mod:`mlpkit.fast.adam` is the compiled form of the Adam step, tested equal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not value > 0:
        raise ValueError(f"Invalid {name}: {value!r}; must be a number > 0")
    if not math.isfinite(value):
        raise ValueError(f"Invalid {name}: {value!r}; must be finite")
    return float(value)


def _check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise ValueError(f"Invalid {name}: {value!r}; must be a number in [0, 1)")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Invalid {name}: {value!r}; must be in [0, 1)")
    return float(value)


def _check_penalty(
    l2: float, l2_slices: Mapping[str, slice] | None, params: Mapping[str, np.ndarray]
) -> None:
    """Raise ValueError unless the L2 coefficient is finite and >= 0 and its slices name parameters."""
    if not (isinstance(l2, (int, float, np.floating)) and math.isfinite(l2) and l2 >= 0):
        raise ValueError(f"Invalid l2: {l2!r}; must be a finite number >= 0")
    unknown = sorted(set(l2_slices or {}) - set(params))
    if unknown:
        raise ValueError(
            f"l2_slices names {unknown}, which are not parameters; expected some of {sorted(params)}"
        )


def _scaled_difference(
    new: np.ndarray, average: np.ndarray, weight: float, out: np.ndarray | None = None
) -> np.ndarray:
    """``weight * (new - average)``, the increment of a moving average, in ``out`` (default: ``new``)."""
    difference = np.subtract(new, average, out=new if out is None else out)
    difference *= weight
    return difference


def _scaled_quotient(numerator: np.ndarray, denominator: np.ndarray, scale: float) -> np.ndarray:
    """``scale * numerator / denominator``, written over ``denominator``."""
    quotient = np.divide(numerator, denominator, out=denominator)
    quotient *= scale
    return quotient


class Optimizer:
    """Base class: holds the parameters, the learning rate and the step count ``t``."""

    state_names: tuple[str, ...] = ()

    def __init__(self, params: Mapping[str, np.ndarray], learning_rate: float) -> None:
        if not isinstance(params, Mapping) or not params:
            raise ValueError("params must be a non-empty mapping of names to numpy arrays")
        self.params = params
        self.learning_rate = _check_positive("learning rate", learning_rate)
        self.t = 0
        self.state: dict[str, dict[str, np.ndarray]] = {
            state: {name: np.zeros_like(p) for name, p in params.items()} for state in self.state_names
        }
        self.scratch: dict[str, np.ndarray] = {name: np.empty_like(p) for name, p in params.items()}

    def step(
        self, grads: Mapping[str, np.ndarray], l2: float = 0.0, l2_slices: Mapping[str, slice] | None = None
    ) -> float:
        """Apply one update to every parameter from ``grads["d" + name]``.

        With ``l2`` > 0, the gradient ``l2 * w`` of an L2 penalty ``(l2 / 2) ||w||^2`` over each
        ``w = p[l2_slices[name]]`` is added to ``grads`` (in place) first; returns ``||w||^2``
        summed over those slices before the update, for the penalty's cost (0.0 without).
        """
        squares = 0.0
        for name, p, g, part in self._begin_step(grads, l2, l2_slices):
            squares += self._step_parameter(name, p, g, l2, part)
        return squares

    def _begin_step(
        self, grads: Mapping[str, np.ndarray], l2: float, l2_slices: Mapping[str, slice] | None
    ) -> list[tuple[str, np.ndarray, np.ndarray, slice | None]]:
        """Check the arguments, count the step in ``t``, and pair each parameter with its gradient
        and its L2 slice (None: no penalty on it); nothing changes when an argument is refused."""
        if l2:
            _check_penalty(l2, l2_slices, self.params)
        steps = []
        for name, p in self.params.items():
            try:
                g = grads["d" + name]
            except KeyError:
                raise ValueError(f"grads has no entry 'd{name}' for parameter {name!r}") from None
            steps.append((name, p, g, l2_slices.get(name) if l2 and l2_slices else None))
        self.t += 1
        return steps

    def _step_parameter(
        self, name: str, p: np.ndarray, g: np.ndarray, l2: float, part: slice | None
    ) -> float:
        """One parameter's update after the L2 gradient over ``p[part]``; returns ``||p[part]||^2``."""
        squares = self._add_penalty(name, p, g, l2, part)
        self._update(name, p, g)
        return squares

    def _add_penalty(self, name: str, p: np.ndarray, g: np.ndarray, l2: float, part: slice | None) -> float:
        """``g[part] += l2 * p[part]``; returns ``||p[part]||^2`` (0.0 when ``part`` is None)."""
        if part is None:
            return 0.0
        weights = p[part]
        squares = float(np.vdot(weights, weights))
        g[part] += np.multiply(weights, l2, out=self.scratch[name][part])
        return squares

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray | float | int]:
        """Flat name -> value mapping of everything a resume needs (arrays and scalars)."""
        out: dict[str, np.ndarray | float | int] = {"t": self.t, "learning_rate": self.learning_rate}
        for state, arrays in self.state.items():
            for name, array in arrays.items():
                out[f"{state}.{name}"] = array
        return out

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what :meth:`state_dict` produced (shapes must match)."""
        self.t = int(state_dict["t"])
        self.learning_rate = _check_positive("learning rate", float(state_dict["learning_rate"]))
        for state, arrays in self.state.items():
            for name, array in arrays.items():
                value = np.asarray(state_dict[f"{state}.{name}"])
                if value.shape != array.shape:
                    raise ValueError(
                        f"optimizer state {state}.{name} has shape {value.shape}, expected {array.shape}"
                    )
                array[...] = value


class SGD(Optimizer):
    """The notes' gradient descent: ``p = p - alpha * dp``."""

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        p -= np.multiply(g, self.learning_rate, out=self.scratch[name])


class Momentum(Optimizer):
    """Heavy-ball momentum: ``v = mu v - alpha dp``, ``p = p + v`` (scikit-learn's and PyTorch's form)."""

    state_names = ("velocity",)

    def __init__(self, params: Mapping[str, np.ndarray], learning_rate: float, momentum: float = 0.9):
        super().__init__(params, learning_rate)
        self.momentum = _check_fraction("momentum", momentum)

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        v = self.state["velocity"][name]
        v *= self.momentum
        v -= np.multiply(g, self.learning_rate, out=self.scratch[name])
        p += v


class Nesterov(Momentum):
    """Nesterov momentum in the form scikit-learn uses: ``p = p + mu v - alpha dp`` after updating v."""

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        v, scratch = self.state["velocity"][name], self.scratch[name]
        step = np.multiply(g, self.learning_rate, out=scratch)  # alpha dp
        v *= self.momentum
        v -= step
        p -= step
        p += np.multiply(v, self.momentum, out=scratch)


class RMSprop(Optimizer):
    """``s = rho s + (1 - rho) dp^2``, ``p = p - alpha dp / (sqrt(s) + eps)`` (PyTorch's form)."""

    state_names = ("square_avg",)

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        learning_rate: float = 0.001,
        rho: float = 0.99,
        epsilon: float = 1e-8,
    ):
        super().__init__(params, learning_rate)
        self.rho = _check_fraction("rho", rho)
        self.epsilon = _check_positive("epsilon", epsilon)

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        s, scratch = self.state["square_avg"][name], self.scratch[name]
        s += _scaled_difference(np.multiply(g, g, out=scratch), s, 1.0 - self.rho)  # s += (1-rho)(g^2 - s)
        denominator = np.sqrt(s, out=scratch)
        denominator += self.epsilon
        p -= _scaled_quotient(g, denominator, self.learning_rate)


class Adam(Optimizer):
    """Adam with bias correction: ``p -= alpha m_hat / (sqrt(v_hat) + eps)``."""

    state_names = ("m", "v")

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
    ):
        super().__init__(params, learning_rate)
        self.beta_1 = _check_fraction("beta_1", beta_1)
        self.beta_2 = _check_fraction("beta_2", beta_2)
        self.epsilon = _check_positive("epsilon", epsilon)

    def _bias_corrected(self) -> tuple[float, float]:
        """``(alpha sqrt(bias_2) / bias_1, eps sqrt(bias_2))``: Adam's scalars with the bias corrections
        ``bias_k = 1 - beta_k^t`` folded in, so that ``p -= alpha * (m / bias_1) / (sqrt(v / bias_2) + eps)``
        becomes ``p -= step_size * m / (sqrt(v) + eps_hat)``."""
        root_bias_2 = math.sqrt(1.0 - self.beta_2**self.t)
        return self.learning_rate * root_bias_2 / (1.0 - self.beta_1**self.t), self.epsilon * root_bias_2

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        """``m = beta_1 m + (1 - beta_1) g``, ``v = beta_2 v + (1 - beta_2) g^2``, then the step."""
        m, v, scratch = self.state["m"][name], self.state["v"][name], self.scratch[name]
        step_size, eps_hat = self._bias_corrected()
        m += _scaled_difference(g, m, 1.0 - self.beta_1, out=scratch)  # m = beta_1 m + (1 - beta_1) g
        v += _scaled_difference(np.multiply(g, g, out=scratch), v, 1.0 - self.beta_2)  # same with g^2
        denominator = np.sqrt(v, out=scratch)
        denominator += eps_hat
        p -= _scaled_quotient(m, denominator, step_size)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p -= alpha lambda p`` before Adam.

    ``decay_slices`` optionally names, per parameter, the slice that decays (e.g. weights, not biases).
    """

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.01,
        decay_slices: Mapping[str, slice] | None = None,
    ):
        super().__init__(params, learning_rate, beta_1, beta_2, epsilon)
        if not weight_decay >= 0:
            raise ValueError(f"Invalid weight_decay: {weight_decay!r}; must be >= 0")
        self.weight_decay = float(weight_decay)
        self.decay_slices = decay_slices or {}

    def _step_parameter(
        self, name: str, p: np.ndarray, g: np.ndarray, l2: float, part: slice | None
    ) -> float:
        squares = self._add_penalty(name, p, g, l2, part)  # an L2 gradient reads the weights before decay
        self._decay(name, p)
        self._update(name, p, g)
        return squares

    def _decay(self, name: str, p: np.ndarray) -> None:
        """``p = p - alpha lambda p`` over the parameter's decaying slice (all of it by default)."""
        decayed = p[self.decay_slices.get(name, slice(None))]
        decayed *= 1.0 - self.learning_rate * self.weight_decay


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "gd": SGD,  # the notes' name: the same step, taken on the full batch with mlpkit.train(batch_size=None)
    "momentum": Momentum,
    "nesterov": Nesterov,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
}


def make_optimizer(name: str, params: Mapping[str, np.ndarray], learning_rate: float, **options) -> Optimizer:
    """Build an optimizer by name; unknown names list the valid ones."""
    try:
        cls = OPTIMIZERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}") from None
    return cls(params, learning_rate, **options)
