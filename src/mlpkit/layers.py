"""The notes' layer: linear_forward, linear_backward and their activation versions, as functions.

One layer ``l`` of a batch of ``m`` columns: ``A_prev`` is ``A_{l-1}`` ``(n_{l-1}, m)``, ``W`` is
``W_l`` ``(n_l, n_{l-1})``, ``b`` is ``b_l`` ``(n_l, 1)``. Each forward returns the cache its
backward reads: ``linear_cache = (A_prev, W, b)`` and, with the activation, ``(linear_cache, Z)``.
``dZ`` and ``dA`` are per example (no ``1/m``); ``dW`` and ``db`` are the gradients of the mean
loss ``J``. ``activation`` is a name (``"relu"``, ``"tanh"``, ...; ``"softmax"`` for an output
layer, whose backward is its Jacobian times ``dA``) or a registry entry.
:class:`mlpkit.network.DNN` chains these functions over layers 1..L.
"""

from __future__ import annotations

import numpy as np

from mlpkit.activations import Activation, get_output_activation
from mlpkit.sparse import matmul

LinearCache = tuple[np.ndarray, np.ndarray, np.ndarray]
ActivationCache = tuple[LinearCache, np.ndarray]


def _activation(activation: str | Activation) -> Activation:
    """An activation given by name (``"relu"``, ``"sigmoid"``, ``"softmax"``...) or as a registry entry."""
    if isinstance(activation, Activation):
        return activation
    return get_output_activation(activation, "activation")


def linear_forward(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, LinearCache]:
    """``Z = W A_prev + b``; returns ``(Z, (A_prev, W, b))``, the cache :func:`linear_backward` reads."""
    Z = W @ A_prev  # Z_l = W_l A_{l-1}  (n_l, m)
    Z += b  # + b_l: (n_l, 1) broadcasts over the m columns
    return Z, (A_prev, W, b)


def linear_activation_forward(
    A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, activation: str | Activation
) -> tuple[np.ndarray, ActivationCache]:
    """``A = g(W A_prev + b)``; returns ``(A, (linear_cache, Z))`` for :func:`linear_activation_backward`."""
    Z, linear_cache = linear_forward(A_prev, W, b)
    A = _activation(activation).forward(Z, np.empty_like(Z))  # A_l = g_l(Z_l)  (n_l, m)
    return A, (linear_cache, Z)


def linear_backward(
    dZ: np.ndarray,
    cache: LinearCache,
    *,
    out: tuple[np.ndarray, np.ndarray] | None = None,
    input_gradient: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """``dW = (1/m) dZ A_prev^T``, ``db = (1/m) sum(dZ, axis=1)``, ``dA_prev = W^T dZ``; returns
    ``(dA_prev, dW, db)``.

    ``out`` receives ``(dW, db)`` in place (views into a flat gradient vector); with
    ``input_gradient=False``, ``dA_prev`` is not computed and is returned as None (layer 1 of a
    network whose inputs are not learned).
    """
    A_prev, W, _ = cache
    m = dZ.shape[1]
    dW, db = out if out is not None else (None, None)
    dW = matmul(dZ, A_prev.T, out=dW)  # dW_l = (1/m) dZ_l A_{l-1}^T  (n_l, n_{l-1})
    dW *= 1.0 / m
    db = np.sum(dZ, axis=1, keepdims=True, out=db)  # db_l = (1/m) sum(dZ_l, axis=1)  (n_l, 1)
    db *= 1.0 / m
    dA_prev = W.T @ dZ if input_gradient else None  # dA_{l-1} = W_l^T dZ_l  (n_{l-1}, m)
    return dA_prev, dW, db


def activation_backward(
    dA: np.ndarray, Z: np.ndarray, activation: str | Activation, A: np.ndarray | None = None
) -> np.ndarray:
    """``dZ = dA * g'(Z)`` element-wise (softmax: its Jacobian times ``dA``), in a new array.

    ``g'`` may read ``A = g(Z)``: pass the forward pass's ``A`` when it was kept (the network
    does); otherwise it is computed again from ``Z``, as the notes' ``sigmoid_backward`` does.
    ``dA`` is left alone.
    """
    g = _activation(activation)
    if A is None:
        A = g.forward(Z, np.empty_like(Z))
    dZ = g.backward(dA.copy(), Z, A)  # dZ_l = dA_l * g_l'(Z_l)  (n_l, m)
    return dZ


def linear_activation_backward(
    dA: np.ndarray, cache: ActivationCache, activation: str | Activation
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dZ = dA * g'(Z)``, then :func:`linear_backward`; returns ``(dA_prev, dW, db)``."""
    linear_cache, Z = cache
    dZ = activation_backward(dA, Z, activation)
    return linear_backward(dZ, linear_cache)
