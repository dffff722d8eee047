"""The trainer's mini-batch step: the reference forward and backward pass with buffers reused.

:meth:`DNN.forward` and :meth:`DNN.compute_gradients` stay the formula-shaped reference; this
module computes the same ``Z_l``, ``A_l``, ``dZ_l``, ``dW_l`` and ``db_l`` (tests hold the two
equal) without allocating per batch: every per-layer array is created once per batch size,
each mini-batch is one gather into a reused buffer, activations and their derivatives work in
place, and the ``1/m`` of ``dW_l`` and ``db_l`` is applied once to the small ``dZ_L`` (it flows
linearly through every product of the backward pass). Where :mod:`mlpkit.fast.kernels` is built, the
element-wise work between the products (ReLU layers, the softmax + cross-entropy output) runs as
one compiled pass per layer; the numpy lines beside each call are the reference it equals.
Sparse rows (scipy CSR) are sliced instead of gathered, and the first layer's two products,
``W_1 A_0`` and ``dZ_1 A_0^T``, run sparse times dense (:func:`mlpkit.sparse.matmul`).

With learned inputs (:class:`~mlpkit.embeddings.EmbeddingInput`) a mini-batch gathers the dense
rows and the codes, builds ``A0`` from them, and the backward pass goes on to ``dA0 = W_1^T dZ_1``
(its embedded rows only: one more product) and ``dE_c``; without them, none of this runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from mlpkit.embeddings import EmbeddingInput
from mlpkit.fast.kernels import SoftmaxCrossEntropy, StepKernels
from mlpkit.losses import accuracy, mean_loss, output_gradient
from mlpkit.network import DNN
from mlpkit.sparse import is_sparse, matmul


@dataclass
class _LayerBuffers:
    """Arrays of one layer ``l`` for a batch of ``m`` columns, each ``(n_l, m)``."""

    Z: np.ndarray  # Z_l, overwritten by A_l = g(Z_l) when g' can be read from A_l alone
    A: np.ndarray  # A_l as the next layer reads it (Z itself, or A_l times the dropout mask)
    G: np.ndarray  # g(Z_l) before dropout, what g' reads
    D: np.ndarray | None  # inverted-dropout mask (0 or 1 / (1 - p)), hidden layers only
    dA: np.ndarray | None  # dA_l, hidden layers only; becomes dZ_l in place


class _BatchBuffers:
    """Everything one step needs for a batch of ``m`` samples, allocated once and reused, with
    the compiled kernels bound to it (None where numpy does the work)."""

    def __init__(self, step: FastStep, m: int, dropout: bool) -> None:
        net = step.net
        sizes, dtype = net.layer_sizes, net.dtype
        self.row_shape = (m, sizes[0])  # of the gathered X, see rows
        inputs = step.inputs
        if inputs is not None:
            self.dense_rows = np.empty((m, inputs.n_dense), dtype=dtype)  # the gathered dense rows
            self.code_rows = np.empty((m, inputs.n_columns), dtype=np.int64)  # the gathered codes, as rows
            self.dA_embedded = np.empty((sizes[0] - inputs.n_dense, m), dtype=dtype)  # dA0's embedded rows
        self.target_rows = np.empty((m, sizes[-1]), dtype=dtype)  # the gathered Y, as rows
        self.layers = [self._layer(net, l, m, dropout) for l in range(1, net.L + 1)]
        self.dZ_output = np.empty((sizes[-1], m), dtype=dtype)  # dZ_L, kept apart from A_L
        self.bias_relu: list[Callable[[], None] | None] = [None] * (net.L - 1)
        self.relu_backward: list[Callable[[], None] | None] = [None] * (net.L - 1)
        self.output_layer: SoftmaxCrossEntropy | None = None
        if step.kernels is not None:
            self._bind(step, step.kernels)

    def _bind(self, step: FastStep, kernels: StepKernels) -> None:
        net = step.net
        for l, (layer, activation) in enumerate(zip(self.layers[:-1], net._activations, strict=True)):
            if activation.name == "relu":
                (_, b), (_, db) = step.weights[l], step.gradients[l]
                self.bias_relu[l] = kernels.bind_bias_relu(layer.Z, b)
                self.relu_backward[l] = kernels.bind_relu_backward(layer.dA, layer.G, db)
        if net.output_activation == "softmax":
            output, db = self.layers[-1], step.gradients[-1][1]
            self.output_layer = kernels.bind_softmax_cross_entropy(
                output.Z, self.target_rows, self.dZ_output, db
            )

    @cached_property
    def rows(self) -> np.ndarray:
        """The gathered X, as rows ``(m, n_x)``; made on first use (sparse rows are sliced, not gathered)."""
        return np.empty(self.row_shape, dtype=self.target_rows.dtype)

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
            return rows.T.take(index, axis=1, out=columns, mode="clip")
        buffer[...] = rows[index]  # other strides: np.take would first copy all of ``rows``
        return buffer.T
    return rows.take(index, axis=0, out=buffer, mode="clip").T


def sparse_columns(rows, index: np.ndarray):
    """The column batch ``rows[index].T`` ``(n_x, m)`` of sparse rows: a CSR row slice, transposed (CSC)."""
    return rows.tocsr()[index].T  # tocsr() is the matrix itself when it is CSR already


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
    next call overwrites. ``use_kernels=False`` keeps to numpy (the reference the kernels equal).
    With ``inputs``, ``A0`` is built from dense rows and codes, and ``dphi`` (the gradient of
    every ``E_c``, as :meth:`EmbeddingInput.backward` gives it) is written into ``input_gradient``.
    """

    def __init__(
        self,
        net: DNN,
        gradient: np.ndarray,
        use_kernels: bool = True,
        inputs: EmbeddingInput | None = None,
        input_gradient: np.ndarray | None = None,
    ) -> None:
        self.net = net
        self.gradient = gradient
        self.use_kernels = use_kernels
        self.inputs, self.input_gradient = inputs, input_gradient
        if inputs is not None and (input_gradient is None or input_gradient.shape != inputs.phi.shape):
            raise ValueError(f"input_gradient must be a phi-sized vector ({inputs.n_parameters} entries)")
        self.kernels = StepKernels.for_dtype(net.dtype) if use_kernels else None
        self.weights = [(net.params[f"W{l}"], net.params[f"b{l}"]) for l in range(1, net.L + 1)]
        gradient_views = net.views(gradient, prefix="d")
        self.gradients = [(gradient_views[f"dW{l}"], gradient_views[f"db{l}"]) for l in range(1, net.L + 1)]
        self._buffers: dict[tuple[int, bool], _BatchBuffers] = {}

    def __getstate__(self) -> dict:
        """Pickle (and deepcopy) the network and the gradient vector; views and buffers are rebuilt."""
        return {
            "net": self.net,
            "gradient": self.gradient,
            "use_kernels": self.use_kernels,
            "inputs": self.inputs,
            "input_gradient": self.input_gradient,
        }

    def __setstate__(self, state: dict) -> None:
        self.__init__(
            state["net"],
            state["gradient"],
            state.get("use_kernels", True),
            state.get("inputs"),
            state.get("input_gradient"),
        )

    def __call__(
        self,
        rows: np.ndarray,
        target_rows: np.ndarray,
        index: np.ndarray,
        sample_weight: np.ndarray | None = None,
        dropout: float = 0.0,
        rng: np.random.Generator | None = None,
        code_rows: np.ndarray | None = None,
    ) -> tuple[float, float, np.ndarray, np.ndarray]:
        """Gather the rows ``index`` of ``X.T`` and ``Y.T`` (and of ``codes.T``), run forward and backward.

        Returns (J, hits, A_L, Y): hits counts the samples predicted right (NaN for regression).
        """
        buffers = self._batch_buffers(index.shape[0], dropout > 0.0)
        if self.inputs is None:
            # X (n_x, m): one gather, or for scipy sparse rows a CSR row slice (never densified)
            X = sparse_columns(rows, index) if is_sparse(rows) else gather_columns(rows, index, buffers.rows)
        else:
            X_dense = gather_columns(rows, index, buffers.dense_rows)  # (n_dense, m)
            codes = gather_columns(code_rows, index, buffers.code_rows)  # (C, m)
            X = self.inputs.forward(X_dense, codes, out=buffers.rows.T)  # A0 (n_x, m)
        Y = gather_columns(target_rows, index, buffers.target_rows)  # (n_L, m)
        A = self._forward_hidden(X, buffers, dropout, rng)
        loss, hits, AL = self._output_layer(A, Y, buffers, sample_weight)
        dZ = self._backward(X, buffers)
        if self.inputs is not None:
            self._input_gradient(dZ, codes, buffers)
        return loss, hits, AL, Y

    def _batch_buffers(self, m: int, dropout: bool) -> _BatchBuffers:
        if (m, dropout) not in self._buffers:
            self._buffers[m, dropout] = _BatchBuffers(self, m, dropout)
        return self._buffers[m, dropout]

    def _forward_hidden(
        self, X: np.ndarray, buffers: _BatchBuffers, dropout: float, rng: np.random.Generator | None
    ) -> np.ndarray:
        """``Z_l = W_l A_{l-1} + b_l``, ``A_l = g_l(Z_l)`` for the hidden layers; returns ``A_{L-1}``."""
        A = X
        hidden = zip(self.weights[:-1], buffers.layers[:-1], self.net._activations, strict=True)
        for l, ((W, b), layer, activation) in enumerate(hidden):
            matmul(W, A, out=layer.Z)  # (n_l, m); A_0 may be sparse
            if buffers.bias_relu[l] is not None:
                buffers.bias_relu[l]()  # A_l = max(Z_l + b_l, 0) in one compiled pass, over Z_l
            else:
                layer.Z += b  # b (n_l, 1) broadcasts over the m columns
                activation.forward(layer.Z, layer.G)
            if layer.D is not None:
                _drop(layer, dropout, rng)
            A = layer.A
        return A

    def _output_layer(
        self, A_prev: np.ndarray, Y: np.ndarray, buffers: _BatchBuffers, sample_weight: np.ndarray | None
    ) -> tuple[float, float, np.ndarray]:
        """``A_L``, the cost ``J``, ``dZ_L = (A_L - Y) / m`` and ``db_L``; returns (J, hits, A_L)."""
        net, (W, b), output = self.net, self.weights[-1], buffers.layers[-1]
        m = Y.shape[1]
        Z = matmul(W, A_prev, out=output.Z)  # (n_L, m)
        Z += b
        scale = None  # the weight of each column's loss in J: 1/m, or the weighted mean's
        if sample_weight is not None:
            weight = np.asarray(sample_weight, dtype=Z.dtype)
            scale = weight / weight.sum()
        if buffers.output_layer is not None:
            loss, hits = buffers.output_layer(Y, scale)  # the numpy lines below, in one compiled call
            return loss, hits, Z
        AL = net.output.forward(Z, Z)
        loss = mean_loss(net.output, AL, Y, sample_weight)
        dZ = output_gradient(AL, Y, out=buffers.dZ_output)  # (n_L, m)
        dZ *= 1.0 / m if scale is None else scale.reshape(1, m)  # every dW_l and db_l is then a mean
        np.add.reduce(dZ, axis=1, keepdims=True, out=self.gradients[-1][1])  # db_L
        return loss, accuracy(net.output_activation, AL, Y) * m, AL

    def _backward(self, X: np.ndarray, buffers: _BatchBuffers) -> np.ndarray:
        """``dW_l = dZ_l A_{l-1}^T`` and ``dZ_{l-1} = W_l^T dZ_l * g'`` (and ``db_{l-1}``) down to layer 1;
        returns ``dZ_1``."""
        dZ = buffers.dZ_output
        for l in range(self.net.L, 0, -1):
            A_prev = buffers.layers[l - 2].A if l > 1 else X
            matmul(dZ, A_prev.T, out=self.gradients[l - 1][0])  # dW_l (n_l, n_{l-1}); A_0 may be sparse
            if l > 1:
                dZ = self._hidden_dZ(l - 1, dZ, buffers)
        return dZ

    def _input_gradient(self, dZ: np.ndarray, codes: np.ndarray, buffers: _BatchBuffers) -> None:
        """``dA0 = W_1^T dZ_1`` over the embedded rows of ``A0`` only, then every ``dE_c`` into ``dphi``."""
        W_embedded = self.weights[0][0][:, self.inputs.n_dense :]  # W_1's columns reading E_c  (n_1, sum d_c)
        dA = np.matmul(W_embedded.T, dZ, out=buffers.dA_embedded)  # dA0's embedded rows  (sum d_c, m)
        # dZ_1 already carries the 1/m (or the weighted mean's scale), so dE_c is a plain sum here
        self.inputs.backward(dA, codes, scale=1.0, out=self.input_gradient)  # dE_c  (d_c, n_c) each

    def _hidden_dZ(self, l: int, dZ_next: np.ndarray, buffers: _BatchBuffers) -> np.ndarray:
        """``dA_l = W_{l+1}^T dZ_{l+1}``, ``dZ_l = dA_l * D_l * g'(Z_l)`` in the same buffer, and ``db_l``."""
        layer, W_next, db = buffers.layers[l - 1], self.weights[l][0], self.gradients[l - 1][1]
        dA = np.matmul(W_next.T, dZ_next, out=layer.dA)  # (n_l, m)
        if layer.D is not None:
            dA *= layer.D
        if buffers.relu_backward[l - 1] is not None:
            buffers.relu_backward[l - 1]()  # the two numpy lines below in one compiled pass
            return dA
        dZ = self.net._activations[l - 1].backward(dA, layer.Z, layer.G)
        np.add.reduce(dZ, axis=1, keepdims=True, out=db)  # db_l, the row sums of dZ_l
        return dZ
