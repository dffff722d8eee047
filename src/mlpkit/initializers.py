"""Weight initializers (He, Glorot, LeCun, the notes' small random) drawn from a numpy Generator."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Initializer = Callable[[np.random.Generator, int, int], np.ndarray]


def he_normal(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """He et al. (2015): N(0, 2/fan_in), suited to the ReLU family."""
    return rng.standard_normal((fan_out, fan_in)) * np.sqrt(2.0 / fan_in)


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Glorot & Bengio (2010): U(-r, r) with r = sqrt(6 / (fan_in + fan_out))."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_out, fan_in))


def lecun_normal(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """LeCun: N(0, 1/fan_in)."""
    return rng.standard_normal((fan_out, fan_in)) * np.sqrt(1.0 / fan_in)


def small_random(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """The course notes' ``np.random.randn(n_l, n_{l-1}) * 0.01``."""
    return rng.standard_normal((fan_out, fan_in)) * 0.01


INITIALIZERS: dict[str, Initializer] = {
    "he": he_normal,
    "glorot": glorot_uniform,
    "lecun": lecun_normal,
    "small": small_random,
}


def default_initializer(activation: str) -> str:
    """He for the ReLU family, Glorot otherwise."""
    return "he" if activation in ("relu", "leaky_relu") else "glorot"


def get_initializer(name_or_function: str | Initializer) -> Initializer:
    """Resolve an initializer name (or pass a callable ``f(rng, fan_in, fan_out)`` through)."""
    if callable(name_or_function):
        return name_or_function
    try:
        return INITIALIZERS[name_or_function]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown initializer {name_or_function!r}; expected one of {sorted(INITIALIZERS)}"
            " or a callable f(rng, fan_in, fan_out)"
        ) from None


def glorot_uniform_scaled(factor: float = 6.0) -> Initializer:
    """``U(-r, r)`` with ``r = sqrt(factor / (fan_in + fan_out))``: Glorot's for ``factor = 6``.

    scikit-learn's MLP draws this way with ``factor = 2`` for logistic units, and draws its
    biases ``b_l`` from the same interval: the returned ``draw(rng, fan_in, fan_out, shape)``
    takes an optional ``shape`` (default ``(fan_out, fan_in)``, e.g. ``(fan_out, 1)`` for ``b_l``).
    """

    def draw(rng: np.random.Generator, fan_in: int, fan_out: int, shape: tuple[int, ...] | None = None):
        bound = np.sqrt(factor / (fan_in + fan_out))
        return rng.uniform(-bound, bound, (fan_out, fan_in) if shape is None else shape)

    return draw
