"""The deep neural network of the course notes: parameters, forward propagation, backprop, update.

Shapes (columns are samples): ``X`` is ``(n_x, m)``, ``W_l`` is ``(n_l, n_{l-1})``, ``b_l`` is
``(n_l, 1)``, ``Z_l`` and ``A_l`` are ``(n_l, m)``. All parameters live in one flat vector ``theta``
(every ``W_l``, then every ``b_l``); ``params["Wl"]`` and ``params["bl"]`` are views into it, and
assigning one writes into it, so an optimizer updates the whole network in one array operation.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence

import numpy as np

from mlpkit.activations import Activation, get_activation
from mlpkit.initializers import Initializer, default_initializer, get_initializer
from mlpkit.layers import activation_backward, linear_activation_forward, linear_backward, linear_forward
from mlpkit.losses import OutputLayer, decide, get_output_layer, mean_loss, output_gradient
from mlpkit.sparse import first_nonfinite, is_sparse

DTYPES = ("float32", "float64")
PREDICT_CHUNK = 8192
PREDICT_COLUMNS = 2048  # columns per forward pass in predict_proba: each Z_l stays cache-sized


def _check_dtype(dtype: str | np.dtype | type) -> np.dtype:
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.name not in DTYPES:
        raise ValueError(f"Unknown dtype {dtype!r}; expected one of {list(DTYPES)}")
    return resolved


def check_finite(array: np.ndarray, name: str) -> None:
    """Raise ValueError naming the first non-finite entry (row, column) of a 2-D array (or sparse matrix)."""
    if np.isfinite(array.sum()):  # a NaN or infinite entry makes the sum NaN or infinite
        return
    if (position := first_nonfinite(array)) is not None:  # None: the sum overflowed, entries are finite
        row, column = position
        raise ValueError(
            f"{name} contains NaN or infinity at row {row}, column {column}; clean or impute it first"
        )


def _check_layer_sizes(layer_sizes: Sequence[int]) -> tuple[int, ...]:
    try:
        sizes = tuple(layer_sizes)
    except TypeError:
        raise ValueError(
            f"layer_sizes must be a list of positive integers [n_x, n_1, ..., n_L], got {layer_sizes!r}"
        ) from None
    if len(sizes) < 2:
        raise ValueError(
            f"layer_sizes must hold at least [n_x, n_L] (input and output sizes), got {list(sizes)}"
        )
    for index, size in enumerate(sizes):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"layer_sizes[{index}] must be an integer >= 1, got {size!r} in {list(sizes)}")
    return tuple(int(size) for size in sizes)


def named_views(flat: np.ndarray, layer_sizes: Sequence[int], prefix: str = "") -> dict[str, np.ndarray]:
    """Views ``W_l`` ``(n_l, n_{l-1})``, then ``b_l`` ``(n_l, 1)``, into a flat parameter-sized vector."""
    views: dict[str, np.ndarray] = {}
    offset, L = 0, len(layer_sizes) - 1
    for l in range(1, L + 1):
        n_l, n_prev = layer_sizes[l], layer_sizes[l - 1]
        views[f"{prefix}W{l}"] = flat[offset : offset + n_l * n_prev].reshape(n_l, n_prev)
        offset += n_l * n_prev
    for l in range(1, L + 1):
        views[f"{prefix}b{l}"] = flat[offset : offset + layer_sizes[l]].reshape(layer_sizes[l], 1)
        offset += layer_sizes[l]
    return views


class Parameters(MutableMapping):
    """``params``: the named ``W_l``/``b_l`` views into ``theta``; assigning a name writes into ``theta``.

    ``params["W1"] = W`` copies ``W`` into its view (same shape, real numbers), so the network
    and an optimizer stepping ``theta`` keep working on the same numbers; the names are fixed.
    """

    def __init__(self, theta: np.ndarray, layer_sizes: Sequence[int]) -> None:
        self._theta, self._layer_sizes = theta, tuple(layer_sizes)
        self._views = named_views(theta, self._layer_sizes)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._views[name]

    def __setitem__(self, name: str, value: np.ndarray) -> None:
        view = self._views.get(name) if isinstance(name, str) else None
        if view is None:
            raise ValueError(f"Unknown parameter {name!r}; expected one of {list(self._views)}")
        array = np.asarray(value)
        if array.shape != view.shape:
            l = int(name[1:])
            symbols = f"(n_{l}, n_{l - 1})" if name[0] == "W" else f"(n_{l}, 1)"
            raise ValueError(
                f"params[{name!r}] must have shape {symbols} = {view.shape}, got shape {array.shape}"
            )
        if not np.can_cast(array.dtype, view.dtype, casting="same_kind"):
            raise ValueError(
                f"params[{name!r}] must hold real numbers (the network is {view.dtype.name}), "
                f"got dtype {array.dtype}"
            )
        view[...] = array

    def __delitem__(self, name: str) -> None:
        raise TypeError(f"params keeps every W_l and b_l: {name!r} cannot be deleted (assign zeros instead)")

    def __iter__(self) -> Iterator[str]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)

    def __reduce__(self) -> tuple:
        """Pickle the flat vector once; the views are made again from it."""
        return Parameters, (self._theta, self._layer_sizes)

    def __repr__(self) -> str:
        return f"Parameters({self._views!r})"


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


def _check_targets(AL: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``Y`` as an array of ``A_L``'s shape ``(n_L, m)`` and dtype, or ValueError."""
    Y = np.asarray(Y)
    if Y.shape != AL.shape:
        raise ValueError(
            f"Y has shape {Y.shape} but AL has shape {AL.shape}; Y must be (n_L, m) = "
            f"({AL.shape[0]}, m) with the same m as the batch"
        )
    return Y.astype(AL.dtype, copy=False)


def _dropout_mask(A: np.ndarray, dropout: float, rng: np.random.Generator) -> np.ndarray:
    """Inverted dropout's mask ``D``: each entry 0 with probability ``dropout``, else ``1/(1 - dropout)``."""
    D = rng.random(A.shape, dtype=A.dtype) >= dropout
    return D.astype(A.dtype) / A.dtype.type(1.0 - dropout)


class DNN:
    """A fully connected network ``[n_x, n_1, ..., n_L]`` trained by vectorized backpropagation.

    ``hidden_activation`` is one name or one name per hidden layer; ``output_activation``
    picks the output/loss pair (sigmoid + binary cross-entropy, softmax + categorical
    cross-entropy, identity + squared error). With no hidden layer this is logistic regression.
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
        self.layer_sizes = _check_layer_sizes(layer_sizes)
        self.L = len(self.layer_sizes) - 1
        self.hidden_activations = _hidden_activations(hidden_activation, self.layer_sizes)
        self.output_activation = output_activation
        self.output: OutputLayer = get_output_layer(output_activation)
        self.dtype = _check_dtype(dtype)
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
        array = np.asarray(value)
        if array.shape != self._theta.shape or not np.can_cast(array.dtype, self.dtype, "same_kind"):
            raise ValueError(
                f"theta must be {self.n_parameters} real numbers, shape {self._theta.shape}; "
                f"got shape {array.shape}, dtype {array.dtype}"
            )
        self._theta[...] = array

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
        sizes = self.layer_sizes
        return sum(sizes[l] * sizes[l - 1] for l in range(1, self.L + 1))

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
        rng = np.random.default_rng(seed)
        for l in range(1, self.L + 1):
            activation = self.hidden_activations[l - 1] if l < self.L else self.output_activation
            draw = get_initializer(initializer or default_initializer(activation))
            W = draw(rng, self.layer_sizes[l - 1], self.layer_sizes[l])
            expected = (self.layer_sizes[l], self.layer_sizes[l - 1])
            if np.shape(W) != expected:
                raise ValueError(f"initializer returned shape {np.shape(W)} for W{l}, expected {expected}")
            self.params[f"W{l}"][...] = W
            self.params[f"b{l}"][...] = 0.0

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

    def __repr__(self) -> str:
        hidden = ",".join(self.hidden_activations) or "-"
        return (
            f"DNN({list(self.layer_sizes)}, hidden={hidden}, output={self.output_activation}, "
            f"dtype={self.dtype.name})"
        )

    def check_X(self, X: np.ndarray, name: str = "X") -> np.ndarray:
        """Return ``X`` as a ``(n_x, m)`` array of the network's dtype (sparse: CSC), or raise ValueError."""
        X = X.tocsc() if is_sparse(X) else np.asarray(X)  # CSC: each sample, a column, is a slice
        if X.ndim != 2:
            raise ValueError(
                f"{name} must be 2-D with shape (n_x, m) = ({self.layer_sizes[0]}, m), columns "
                f"are samples; got shape {X.shape}"
            )
        if X.shape[0] != self.layer_sizes[0]:
            raise ValueError(
                f"{name} has {X.shape[0]} rows but the network expects n_x = {self.layer_sizes[0]} "
                f"(shape (n_x, m), columns are samples); got shape {X.shape}"
            )
        if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
            raise ValueError(f"{name} must hold real numbers, got dtype {X.dtype}")
        return X.astype(self.dtype, copy=False)

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
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if dropout > 0.0 and rng is None:
            raise ValueError("dropout > 0 needs a numpy Generator passed as rng")
        cache: dict[str, np.ndarray] = {"A0": A}  # A_0 = X  (n_x, m)
        for l in range(1, self.L):
            W, b = self.params[f"W{l}"], self.params[f"b{l}"]
            A, (_, Z) = linear_activation_forward(A, W, b, self._activations[l - 1])  # A_l, Z_l  (n_l, m)
            if dropout > 0.0:
                D = _dropout_mask(A, dropout, rng)  # D_l: 0 or 1 / (1 - p), inverted dropout  (n_l, m)
                cache[f"G{l}"], cache[f"D{l}"] = A, D  # g_l(Z_l) before the mask is what g_l' reads
                A = A * D  # A_l = g_l(Z_l) * D_l  (n_l, m)
            cache[f"Z{l}"], cache[f"A{l}"] = Z, A
        Z, _ = linear_forward(A, self.params[f"W{self.L}"], self.params[f"b{self.L}"])  # Z_L  (n_L, m)
        A = self.output.forward(Z, np.empty_like(Z))  # A_L = g_L(Z_L)  (n_L, m)
        cache[f"Z{self.L}"], cache[f"A{self.L}"] = Z, A
        return A, cache

    # ------------------------------------------------------------------ loss and backward
    def loss(self, AL: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """The cost ``J``: mean over the batch of the output layer's loss."""
        Y = _check_targets(AL, Y)
        return mean_loss(self.output, AL, Y, sample_weight)

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
        """Backward propagation over the batch; returns ``dZl``, ``dWl``, ``dbl`` and ``dA(l-1)``.

        ``dW_l`` and ``db_l`` are the gradients of the mean loss ``J``; ``dZ`` and ``dA`` are
        per-example (no ``1/m``). ``dA0`` is computed only when ``input_gradient`` is true.
        ``sample_weight`` (length m) turns ``J`` into the weighted mean. ``out``, a flat vector
        the size of ``theta``, receives every ``dW_l``/``db_l`` (same layout as ``theta``).
        """
        Y = _check_targets(AL, Y)
        m = AL.shape[1]
        grads: dict[str, np.ndarray] = {}
        gradient_views = self.views(out, prefix="d") if out is not None else None
        # sigmoid+BCE, softmax+CE and identity+squared error all give dZ_L = A_L - Y
        dZ = output_gradient(AL, Y)  # dZ_L = A_L - Y  (n_L, m)
        if sample_weight is not None:
            weight = np.asarray(sample_weight, dtype=AL.dtype).reshape(1, m)
            dZ *= weight * (m / weight.sum())  # weighted mean: J = sum w_i loss_i / sum w_i
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
            if l > 1:
                dZ = self._hidden_dZ(l - 1, dA_prev, cache)  # dZ_{l-1} = dA_{l-1} * g'(Z_{l-1})
        return grads

    def _hidden_dZ(self, l: int, dA: np.ndarray, cache: dict[str, np.ndarray]) -> np.ndarray:
        """``dZ_l = dA_l * g_l'(Z_l)`` for hidden layer ``l``, through dropout's mask ``D_l`` if any."""
        if f"D{l}" in cache:
            dA = dA * cache[f"D{l}"]  # dropped units pass no gradient  (n_l, m)
        A = cache.get(f"G{l}", cache[f"A{l}"])  # g_l(Z_l) as the forward pass computed it
        return activation_backward(dA, cache[f"Z{l}"], self._activations[l - 1], A)  # (n_l, m)

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
        m = X.shape[1]
        AL = np.empty((self.layer_sizes[-1], m), dtype=self.dtype)
        for start in range(0, m, PREDICT_COLUMNS):
            A = X[:, start : start + PREDICT_COLUMNS]
            for l in range(1, self.L + 1):
                Z, _ = linear_forward(A, self.params[f"W{l}"], self.params[f"b{l}"])  # Z_l  (n_l, m)
                forward = self._activations[l - 1].forward if l < self.L else self.output.forward
                A = forward(Z, Z)  # A_l = g_l(Z_l), over Z_l: no cache is kept
            AL[:, start : start + PREDICT_COLUMNS] = A
        return AL

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class index per column (softmax), 0/1 per output (sigmoid, threshold 0.5), or values."""
        return self.decide(self.predict_proba(X))

    def decide(self, AL: np.ndarray) -> np.ndarray:
        """Turn output activations into predictions as :meth:`predict` does."""
        return decide(self.output_activation, AL)
