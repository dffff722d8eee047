"""The deep neural network of the course notes: parameters, forward propagation, backprop, update.

Shapes (columns are samples): ``X`` is ``(n_x, m)``, ``W_l`` is ``(n_l, n_{l-1})``, ``b_l`` is
``(n_l, 1)``, ``Z_l`` and ``A_l`` are ``(n_l, m)``. All parameters live in one flat vector ``theta``
(every ``W_l``, then every ``b_l``); ``params["Wl"]`` and ``params["bl"]`` are views into it, and
assigning one writes into it, so an optimizer updates the whole network in one array operation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlpkit.activations import Activation, get_activation, get_output_activation
from mlpkit.initializers import Initializer
from mlpkit.layers import activation_backward, linear_activation_forward, linear_backward, linear_forward
from mlpkit.losses import OUTPUT_LAYERS, OutputLayer, decide, mean_loss, output_gradient
from mlpkit.parameters import (
    DTYPES,
    Parameters,
    check_columns,
    check_dtype,
    check_finite,
    check_layer_sizes,
    count_weights,
    initialize_parameters,
    named_views,
)
from mlpkit.summary import network_html

__all__ = ["DNN", "DTYPES", "PREDICT_CHUNK", "check_finite", "named_views"]

PREDICT_CHUNK = 8192
PREDICT_COLUMNS = 2048  # columns per forward pass in predict_proba: each Z_l stays cache-sized


def _hidden_activations(hidden_activation: str | Sequence[str], layer_sizes: tuple[int, ...]) -> list[str]:
    """One checked activation name per hidden layer, from one name or a list."""
    n_hidden = len(layer_sizes) - 2
    names = [hidden_activation] * n_hidden if isinstance(hidden_activation, str) else list(hidden_activation)
    if len(names) != n_hidden:
        raise ValueError(
            f"hidden_activation has {len(names)} names but the network has {n_hidden} "
            f"hidden layers (layer_sizes={list(layer_sizes)})"
        )
    for name in names + ([hidden_activation] if isinstance(hidden_activation, str) else []):
        get_activation(name)
    return names


def _check_targets(AL: np.ndarray, Y: np.ndarray, name: str = "Y") -> np.ndarray:
    """``Y`` (or ``dAL``) as an array of ``A_L``'s shape ``(n_L, m)`` and dtype, or ValueError."""
    Y = np.asarray(Y)
    if Y.shape != AL.shape:
        raise ValueError(
            f"{name} has shape {Y.shape} but AL has shape {AL.shape}; {name} must be (n_L, m) = "
            f"({AL.shape[0]}, m) with the same m as the batch"
        )
    return Y.astype(AL.dtype, copy=False)


def _paired_loss(net: DNN, what: str) -> OutputLayer:
    """The output layer's paired loss, or ValueError saying why ``what`` needs one and what to do instead."""
    if net._output_layer is None:
        raise ValueError(
            f"output_activation {net.output_activation!r} has no loss of its own (the pairs are "
            "sigmoid + binary cross-entropy, softmax + categorical cross-entropy, identity + squared "
            f"error), so {what} cannot use it. Compute dA_L = dl/dA_L for your loss (one column per "
            "example) and call net.backward(dA_L, cache)"
        )
    return net._output_layer


def _hidden_dZ(l: int, dA: np.ndarray, cache: dict[str, np.ndarray], g: Activation) -> np.ndarray:
    """``dZ_l = dA_l * g_l'(Z_l)`` for hidden layer ``l``, through dropout's mask ``D_l`` if any."""
    if f"D{l}" in cache:
        dA = dA * cache[f"D{l}"]  # dropped units pass no gradient  (n_l, m)
    A = cache.get(f"G{l}", cache[f"A{l}"])  # g_l(Z_l) as the forward pass computed it
    return activation_backward(dA, cache[f"Z{l}"], g, A)  # (n_l, m)


def _forward_uncached(
    A: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]], activations: list[Activation]
) -> np.ndarray:
    """``A_L`` of a batch of columns ``A = A_0``, each ``A_l`` computed over ``Z_l``: no cache is kept."""
    for (W, b), g in zip(layers, activations, strict=True):
        Z, _ = linear_forward(A, W, b)  # Z_l = W_l A_{l-1} + b_l  (n_l, m)
        A = g.forward(Z, Z)  # A_l = g_l(Z_l), written over Z_l
    return A


def _check_dropout(dropout: float, rng: np.random.Generator | None) -> None:
    """A drop probability in [0, 1), with a Generator to draw the masks when it is above 0."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    if dropout > 0.0 and rng is None:
        raise ValueError("dropout > 0 needs a numpy Generator passed as rng")


def _dropout_mask(A: np.ndarray, dropout: float, rng: np.random.Generator) -> np.ndarray:
    """Inverted dropout's mask ``D``: each entry 0 with probability ``dropout``, else ``1/(1 - dropout)``."""
    D = rng.random(A.shape, dtype=A.dtype) >= dropout
    return D.astype(A.dtype) / A.dtype.type(1.0 - dropout)


class DNN:
    """A fully connected network ``[n_x, n_1, ..., n_L]`` trained by vectorized backpropagation.

    ``hidden_activation`` is one name or one name per hidden layer. ``output_activation`` is any
    activation or softmax; sigmoid, softmax and identity come with their loss (binary
    cross-entropy, categorical cross-entropy, squared error), which :meth:`loss` and
    :meth:`compute_gradients` use. Any output trains through :meth:`backward` from the user's
    own ``dA_L``. With no hidden layer and a sigmoid output this is logistic regression.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        hidden_activation: str | Sequence[str] = "relu",
        output_activation: str = "sigmoid",
        *,
        seed: int | np.random.Generator | None = None,
        dtype: str = "float32",
        initializer: str | Initializer | None = None,
    ) -> None:
        self.layer_sizes = check_layer_sizes(layer_sizes)
        self.L = len(self.layer_sizes) - 1
        self.hidden_activations = _hidden_activations(hidden_activation, self.layer_sizes)
        self._output_g: Activation = get_output_activation(output_activation)  # g_L
        self.output_activation = output_activation
        self._output_layer: OutputLayer | None = OUTPUT_LAYERS.get(output_activation)  # None: no loss
        self.dtype = check_dtype(dtype)
        self._activations: list[Activation] = [get_activation(n) for n in self.hidden_activations]
        self._theta = np.zeros(self.n_parameters, dtype=self.dtype)  # every W_l, then every b_l
        self._params = Parameters(self._theta, self.layer_sizes)
        self.initialize(seed=seed, initializer=initializer)

    @property
    def theta(self) -> np.ndarray:
        """All parameters in one flat vector: every ``W_l`` (row-major), then every ``b_l``."""
        return self._theta

    @theta.setter
    def theta(self, value: np.ndarray) -> None:
        """``net.theta = vector`` writes into ``theta``, so ``params`` and optimizers keep seeing it."""
        self._params.assign_theta(value)

    @property
    def output(self) -> OutputLayer:
        """The output activation and its loss (``dZ_L = A_L - Y``); ValueError when the output has none."""
        return _paired_loss(self, "compute_gradients, loss and training")

    @property
    def params(self) -> Parameters:
        """``{"W1": ..., "b1": ...}``: views into ``theta``; ``params["W1"] = W`` writes into it."""
        return self._params

    # ------------------------------------------------------------------ construction
    def views(self, flat: np.ndarray, prefix: str = "") -> dict[str, np.ndarray]:
        """Named ``W_l``/``b_l`` views (keys ``prefix + "W1"`` ...) into a flat parameter-sized vector."""
        return named_views(flat, self.layer_sizes, prefix)

    @property
    def n_weights(self) -> int:
        """Number of entries in all ``W_l`` (the leading part of ``theta``)."""
        return count_weights(self.layer_sizes)

    @property
    def n_parameters(self) -> int:
        """Number of trainable parameters (weights and biases)."""
        return self.n_weights + sum(self.layer_sizes[1:])

    def initialize(
        self,
        seed: int | np.random.Generator | None = None,
        initializer: str | Initializer | None = None,
    ) -> None:
        """Draw every ``W_l`` from the initializer (He for ReLU, Glorot otherwise); ``b_l = 0``."""
        activations = [*self.hidden_activations, self.output_activation]
        initialize_parameters(self.params, self.layer_sizes, activations, seed, initializer)

    def config(self) -> dict:
        """The constructor arguments that rebuild this architecture (JSON-serializable)."""
        return {
            "layer_sizes": list(self.layer_sizes),
            "hidden_activation": list(self.hidden_activations),
            "output_activation": self.output_activation,
            "dtype": self.dtype.name,
        }

    def __getstate__(self) -> dict:
        """Pickle (deepcopy, joblib) ``theta`` alone: ``params`` is made again as views into it."""
        return {name: value for name, value in self.__dict__.items() if name != "_params"}

    def __setstate__(self, state: dict) -> None:
        """Unpickling: ``params`` views into the restored ``theta`` (joblib copies each array apart)."""
        self.__dict__.update(state)
        self._params = Parameters(self._theta, self.layer_sizes)

    def _repr_html_(self) -> str:
        """A notebook's view: one row per layer with its shapes, activation and parameter count."""
        return network_html(self)

    def __repr__(self) -> str:
        hidden = ",".join(self.hidden_activations) or "-"
        return (
            f"DNN({list(self.layer_sizes)}, hidden={hidden}, output={self.output_activation}, "
            f"dtype={self.dtype.name})"
        )

    def check_X(self, X: np.ndarray, name: str = "X") -> np.ndarray:
        """Return ``X`` as a ``(n_x, m)`` array of the network's dtype (sparse: CSC), or raise ValueError."""
        return check_columns(X, self.layer_sizes[0], self.dtype, name)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        X: np.ndarray,
        *,
        dropout: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Forward propagation ``Z_l = W_l A_{l-1} + b_l``, ``A_l = g_l(Z_l)``; returns ``(A_L, cache)``.

        The cache holds ``"A0"`` and ``"Z1"``, ``"A1"``, ... ``"ZL"``, ``"AL"``: exactly what the
        backward pass reads. With ``dropout`` > 0 (training only), each hidden ``A_l`` is multiplied
        by an inverted-dropout mask ``"D{l}"``, and ``g(Z_l)`` before it is kept as ``"G{l}"`` for ``g'``.
        """
        A = self.check_X(X)
        _check_dropout(dropout, rng)
        cache: dict[str, np.ndarray] = {"A0": A}  # A_0 = X  (n_x, m)
        for l in range(1, self.L):
            W, b = self.params[f"W{l}"], self.params[f"b{l}"]
            A, (_, Z) = linear_activation_forward(A, W, b, self._activations[l - 1])  # A_l, Z_l  (n_l, m)
            if dropout > 0.0:
                D = _dropout_mask(A, dropout, rng)  # D_l: 0 or 1 / (1 - p), inverted dropout  (n_l, m)
                cache[f"G{l}"], cache[f"D{l}"] = A, D  # g_l(Z_l) before the mask is what g_l' reads
                A = A * D  # A_l = g_l(Z_l) * D_l  (n_l, m)
            cache[f"Z{l}"], cache[f"A{l}"] = Z, A
        W, b = self.params[f"W{self.L}"], self.params[f"b{self.L}"]
        A, (_, Z) = linear_activation_forward(A, W, b, self._output_g)  # A_L = g_L(Z_L)  (n_L, m)
        cache[f"Z{self.L}"], cache[f"A{self.L}"] = Z, A
        return A, cache

    # ------------------------------------------------------------------ loss and backward
    def loss(self, AL: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """The cost ``J``: mean over the batch of the output layer's loss."""
        output = _paired_loss(self, "loss")
        return mean_loss(output, AL, _check_targets(AL, Y), sample_weight)

    def compute_gradients(
        self,
        AL: np.ndarray,
        Y: np.ndarray,
        cache: dict[str, np.ndarray],
        input_gradient: bool = False,
        *,
        sample_weight: np.ndarray | None = None,
        out: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Backprop of the output layer's own loss; returns ``dZl``, ``dWl``, ``dbl`` and ``dA(l-1)``.

        The canonical shortcut: the output activation's paired loss gives ``dZ_L = A_L - Y``
        directly (:meth:`backward` takes any ``dA_L`` instead). ``dW_l`` and ``db_l`` are the
        gradients of the mean loss ``J``; ``dZ`` and ``dA`` are per-example (no ``1/m``). ``dA0``
        is computed only when ``input_gradient`` is true. ``sample_weight`` (length m) turns ``J``
        into the weighted mean. ``out``, a flat vector the size of ``theta``, receives every
        ``dW_l``/``db_l`` (same layout as ``theta``).
        """
        _paired_loss(self, "compute_gradients")
        Y = _check_targets(AL, Y)
        m = AL.shape[1]
        # sigmoid+BCE, softmax+CE and identity+squared error all give dZ_L = A_L - Y
        dZ = output_gradient(AL, Y)  # dZ_L = A_L - Y  (n_L, m)
        if sample_weight is not None:
            weight = np.asarray(sample_weight, dtype=AL.dtype).reshape(1, m)
            dZ *= weight * (m / weight.sum())  # weighted mean: J = sum w_i loss_i / sum w_i
        return self._backpropagate(dZ, cache, input_gradient, out)

    def backward(
        self,
        dAL: np.ndarray,
        cache: dict[str, np.ndarray],
        input_gradient: bool = False,
        *,
        out: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Backward propagation from any ``dA_L = dl/dA_L``; returns ``dZl``, ``dWl``, ``dbl``, ``dA(l-1)``.

        ``dAL`` ``(n_L, m)`` holds each example's derivative of its own loss ``l`` (one column per
        example, no ``1/m``), so that ``dW_l`` and ``db_l`` are the gradients of ``J = (1/m) sum l``.
        Any output activation works, softmax through its Jacobian. ``input_gradient`` and ``out``
        are as in :meth:`compute_gradients`.
        """
        L = self.L
        AL = cache[f"A{L}"]
        dAL = _check_targets(AL, dAL, "dAL")
        dZ = activation_backward(dAL, cache[f"Z{L}"], self._output_g, AL)  # dZ_L = dA_L * g_L'(Z_L)
        return self._backpropagate(dZ, cache, input_gradient, out)

    def _backpropagate(
        self, dZ: np.ndarray, cache: dict[str, np.ndarray], input_gradient: bool, out: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        """From ``dZ_L`` down to layer 1: each layer's ``linear_backward``, then ``g'`` of the one below."""
        grads: dict[str, np.ndarray] = {}
        gradient_views = self.views(out, prefix="d") if out is not None else None
        for l in range(self.L, 0, -1):
            grads[f"dZ{l}"] = dZ
            linear_cache = (cache[f"A{l - 1}"], self.params[f"W{l}"], self.params[f"b{l}"])
            gradients = (gradient_views[f"dW{l}"], gradient_views[f"db{l}"]) if gradient_views else None
            needed = l > 1 or input_gradient  # dA0 only on request: the input A0 = X is not learned
            # dW_l = (1/m) dZ_l A_{l-1}^T  (n_l, n_{l-1}), db_l  (n_l, 1), dA_{l-1} = W_l^T dZ_l  (n_{l-1}, m)
            dA_prev, dW, db = linear_backward(dZ, linear_cache, out=gradients, input_gradient=needed)
            grads[f"dW{l}"], grads[f"db{l}"] = dW, db
            if dA_prev is None:
                break
            grads[f"dA{l - 1}"] = dA_prev
            if l > 1:  # dZ_{l-1} = dA_{l-1} * g'(Z_{l-1})
                dZ = _hidden_dZ(l - 1, dA_prev, cache, self._activations[l - 2])
        return grads

    def update(self, grads: dict[str, np.ndarray], learning_rate: float) -> None:
        """The notes' gradient-descent step: ``W_l -= alpha dW_l``, ``b_l -= alpha db_l``."""
        if not learning_rate > 0:
            raise ValueError(f"Invalid learning rate: {learning_rate!r}; must be > 0")
        for l in range(1, self.L + 1):
            self.params[f"W{l}"] -= learning_rate * grads[f"dW{l}"]
            self.params[f"b{l}"] -= learning_rate * grads[f"db{l}"]

    # ------------------------------------------------------------------ inference
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Output activations ``A_L`` for column batch ``X``, computed in chunks, no cache kept."""
        X = self.check_X(X)
        check_finite(X.T, "X (as rows x features)")
        layers = [(self.params[f"W{l}"], self.params[f"b{l}"]) for l in range(1, self.L + 1)]
        activations = [*self._activations, self._output_g]
        AL = np.empty((self.layer_sizes[-1], X.shape[1]), dtype=self.dtype)
        for start in range(0, X.shape[1], PREDICT_COLUMNS):
            AL[:, start : start + PREDICT_COLUMNS] = _forward_uncached(
                X[:, start : start + PREDICT_COLUMNS], layers, activations
            )
        return AL

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class index per column (softmax), 0/1 per output (sigmoid, threshold 0.5), or values."""
        return self.decide(self.predict_proba(X))

    def decide(self, AL: np.ndarray) -> np.ndarray:
        """Turn output activations into predictions as :meth:`predict` does."""
        return decide(self.output_activation, AL)
