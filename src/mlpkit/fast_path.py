"""The trainer's mini-batch step: the reference forward and backward pass with buffers reused.

:meth:`DNN.forward` and :meth:`DNN.compute_gradients` stay the formula-shaped reference; this
module computes the same ``Z_l``, ``A_l``, ``dZ_l``, ``dW_l`` and ``db_l`` (tests hold the two
equal) without allocating per batch: every per-layer array is created once per batch size,
each mini-batch is one gather into a reused buffer, activations and their derivatives work in
place, and the ``1/m`` of ``dW_l`` and ``db_l`` is applied once to the small ``dZ_L`` (it flows
linearly through every product of the backward pass).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlpkit.losses import mean_loss, output_gradient
from mlpkit.network import DNN


@dataclass
class _LayerBuffers:
    """Arrays of one layer ``l`` for a batch of ``m`` columns, each ``(n_l, m)``."""

    Z: np.ndarray  # Z_l, overwritten by A_l = g(Z_l) when g' can be read from A_l alone
    A: np.ndarray  # A_l as the next layer reads it (Z itself, or A_l times the dropout mask)
    G: np.ndarray  # g(Z_l) before dropout, what g' reads
    D: np.ndarray | None  # inverted-dropout mask (0 or 1 / (1 - p)), hidden layers only
    dA: np.ndarray | None  # dA_l, hidden layers only; becomes dZ_l in place


class _BatchBuffers:
    """Everything one step needs for a batch of ``m`` samples, allocated once and reused."""

    def __init__(self, net: DNN, m: int, dropout: bool) -> None:
        sizes, dtype = net.layer_sizes, net.dtype
        self.rows = np.empty((m, sizes[0]), dtype=dtype)  # the gathered X, as rows
        self.target_rows = np.empty((m, sizes[-1]), dtype=dtype)  # the gathered Y, as rows
        self.layers = [self._layer(net, l, m, dropout) for l in range(1, net.L + 1)]
        self.dZ_output = np.empty((sizes[-1], m), dtype=dtype)  # dZ_L, kept apart from A_L

    @staticmethod
    def _layer(net: DNN, l: int, m: int, dropout: bool) -> _LayerBuffers:
        shape, dtype = (net.layer_sizes[l], m), net.dtype
        Z = np.empty(shape, dtype=dtype)
        if l == net.L:
            return _LayerBuffers(Z=Z, A=Z, G=Z, D=None, dA=None)
        G = np.empty(shape, dtype=dtype) if net._activations[l - 1].backward_reads_Z else Z
        D = np.empty(shape, dtype=dtype) if dropout else None
        A = np.empty(shape, dtype=dtype) if dropout else G
        return _LayerBuffers(Z=Z, A=A, G=G, D=D, dA=np.empty(shape, dtype=dtype))


def gather_columns(rows: np.ndarray, index: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    """The column batch ``rows[index].T``, ``(n, m)``, gathered into ``buffer`` (``m * n`` values).

    The copy runs along the data's contiguous axis: whole rows when samples are row-major
    (``X.T`` C-contiguous), each feature's picked values when features are (``X`` C-contiguous).
    ``mode="clip"`` writes straight into the buffer (the default mode gathers into a temporary);
    the trainer's indices are a permutation of the rows, always in range.
    """
    if isinstance(rows, np.ndarray) and not rows.flags.c_contiguous:
        if rows.flags.f_contiguous:
            columns = buffer.reshape(buffer.shape[::-1])  # the buffer's memory as (n, m)
            return np.take(rows.T, index, axis=1, out=columns, mode="clip")
        buffer[...] = rows[index]  # other strides: np.take would first copy all of ``rows``
        return buffer.T
    return np.take(rows, index, axis=0, out=buffer, mode="clip").T


def _drop(layer: _LayerBuffers, dropout: float, rng: np.random.Generator) -> None:
    """Inverted dropout ``A = G * D``, drawing the mask exactly as :meth:`DNN.forward` does."""
    D = rng.random(dtype=layer.D.dtype, out=layer.D)
    np.greater_equal(D, dropout, out=D)
    D /= D.dtype.type(1.0 - dropout)
    np.multiply(layer.G, D, out=layer.A)


class FastStep:
    """One training step's forward and backward pass for a :class:`DNN`, writing the gradient
    of ``J`` into a flat ``theta``-sized vector.

    Same results as ``forward`` + ``loss`` + ``compute_gradients`` (to float rounding), with
    the same random draws for dropout; the returned ``A_L`` and ``Y`` live in buffers that the
    next call overwrites.
    """

    def __init__(self, net: DNN, gradient: np.ndarray) -> None:
        self.net = net
        self.gradient = gradient
        self.weights = [(net.params[f"W{l}"], net.params[f"b{l}"]) for l in range(1, net.L + 1)]
        gradient_views = net.views(gradient, prefix="d")
        self.gradients = [(gradient_views[f"dW{l}"], gradient_views[f"db{l}"]) for l in range(1, net.L + 1)]
        self._buffers: dict[tuple[int, bool], _BatchBuffers] = {}

    def __getstate__(self) -> dict:
        """Pickle (and deepcopy) the network and the gradient vector; views and buffers are rebuilt."""
        return {"net": self.net, "gradient": self.gradient}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["net"], state["gradient"])

    def __call__(
        self,
        rows: np.ndarray,
        target_rows: np.ndarray,
        index: np.ndarray,
        sample_weight: np.ndarray | None = None,
        dropout: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Gather the rows ``index`` of ``X.T`` and ``Y.T``, run forward and backward; return (J, A_L, Y)."""
        buffers = self._batch_buffers(index.shape[0], dropout > 0.0)
        X = gather_columns(rows, index, buffers.rows)  # (n_x, m), one gather
        Y = gather_columns(target_rows, index, buffers.target_rows)  # (n_L, m)
        AL = self._forward(X, buffers, dropout, rng)
        loss = mean_loss(self.net.output, AL, Y, sample_weight)
        self._backward(X, AL, Y, buffers, sample_weight)
        return loss, AL, Y

    def _batch_buffers(self, m: int, dropout: bool) -> _BatchBuffers:
        if (m, dropout) not in self._buffers:
            self._buffers[m, dropout] = _BatchBuffers(self.net, m, dropout)
        return self._buffers[m, dropout]

    def _forward(
        self, X: np.ndarray, buffers: _BatchBuffers, dropout: float, rng: np.random.Generator | None
    ) -> np.ndarray:
        """``Z_l = W_l A_{l-1} + b_l``, ``A_l = g_l(Z_l)``, all in the batch's buffers; returns ``A_L``."""
        A = X
        hidden = zip(self.weights[:-1], buffers.layers[:-1], self.net._activations, strict=True)
        for (W, b), layer, activation in hidden:
            activation.forward(self._linear(W, b, A, layer.Z), layer.G)
            if layer.D is not None:
                _drop(layer, dropout, rng)
            A = layer.A
        (W, b), output = self.weights[-1], buffers.layers[-1]
        return self.net.output.forward(self._linear(W, b, A, output.Z), output.Z)

    @staticmethod
    def _linear(W: np.ndarray, b: np.ndarray, A_prev: np.ndarray, Z: np.ndarray) -> np.ndarray:
        """``Z = W A_prev + b`` into the buffer ``Z``."""
        np.matmul(W, A_prev, out=Z)  # (n_l, m)
        Z += b  # b (n_l, 1) broadcasts over the m columns
        return Z

    def _backward(
        self,
        X: np.ndarray,
        AL: np.ndarray,
        Y: np.ndarray,
        buffers: _BatchBuffers,
        sample_weight: np.ndarray | None,
    ) -> None:
        """``dZ_L = A_L - Y``, then ``dW_l``, ``db_l`` and ``dZ_{l-1} = W_l^T dZ_l * g'`` down to layer 1."""
        net, m = self.net, AL.shape[1]
        dZ = output_gradient(AL, Y, out=buffers.dZ_output)  # (n_L, m)
        if sample_weight is None:
            dZ *= 1.0 / m  # dZ_L / m: every dW_l and db_l below is then the mean over the batch
        else:
            weight = np.asarray(sample_weight, dtype=dZ.dtype).reshape(1, m)
            dZ *= weight / weight.sum()  # weighted mean: J = sum w_i loss_i / sum w_i
        for l in range(net.L, 0, -1):
            A_prev = buffers.layers[l - 2].A if l > 1 else X
            dW, db = self.gradients[l - 1]
            np.matmul(dZ, A_prev.T, out=dW)  # (n_l, n_{l-1})
            np.add.reduce(dZ, axis=1, keepdims=True, out=db)  # (n_l, 1), the row sums of dZ_l
            if l > 1:
                dZ = self._hidden_dZ(l - 1, dZ, buffers.layers[l - 2])

    def _hidden_dZ(self, l: int, dZ_next: np.ndarray, layer: _LayerBuffers) -> np.ndarray:
        """``dA_l = W_{l+1}^T dZ_{l+1}``, then ``dZ_l = dA_l * D_l * g'(Z_l)`` in the same buffer."""
        W_next = self.weights[l][0]
        dA = np.matmul(W_next.T, dZ_next, out=layer.dA)  # (n_l, m)
        if layer.D is not None:
            dA *= layer.D
        return self.net._activations[l - 1].backward(dA, layer.Z, layer.G)
