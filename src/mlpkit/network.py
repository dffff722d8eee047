"""The deep neural network of the course notes: parameters, forward propagation, backprop, update.

Shapes (columns are samples): ``X`` is ``(n_x, m)``, ``W_l`` is ``(n_l, n_{l-1})``, ``b_l`` is
``(n_l, 1)``, ``Z_l`` and ``A_l`` are ``(n_l, m)``. All parameters live in one flat vector
``theta`` (every ``W_l`` first, then every ``b_l``); ``params["Wl"]`` and ``params["bl"]`` are
views into it, so an optimizer can update the whole network in one array operation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlpkit.activations import Activation, get_activation
from mlpkit.initializers import Initializer, default_initializer, get_initializer
from mlpkit.losses import OutputLayer, decide, get_output_layer, mean_loss, output_gradient

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
    """Raise ValueError naming the first non-finite entry (row, column) of a 2-D array."""
    if np.isfinite(array.sum()):  # a NaN or infinite entry makes the sum NaN or infinite
        return
    if not np.isfinite(array).all():  # the sum overflowed, or an entry is not finite
        row, column = np.argwhere(~np.isfinite(array))[0]
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
        self.hidden_activations = self._resolve_hidden(hidden_activation)
        self.output_activation = output_activation
        self.output: OutputLayer = get_output_layer(output_activation)
        self.dtype = _check_dtype(dtype)
        self._activations: list[Activation] = [get_activation(n) for n in self.hidden_activations]
        self.theta, self.params = self._allocate(self.dtype)
        self.initialize(seed=seed, initializer=initializer)

    # ------------------------------------------------------------------ construction
    def _resolve_hidden(self, hidden_activation: str | Sequence[str]) -> list[str]:
        n_hidden = self.L - 1
        if isinstance(hidden_activation, str):
            names = [hidden_activation] * n_hidden
        else:
            names = list(hidden_activation)
            if len(names) != n_hidden:
                raise ValueError(
                    f"hidden_activation has {len(names)} names but the network has {n_hidden} "
                    f"hidden layers (layer_sizes={list(self.layer_sizes)})"
                )
        for name in names:
            get_activation(name)
        if isinstance(hidden_activation, str):
            get_activation(hidden_activation)
        return names

    def _allocate(self, dtype: np.dtype) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One flat vector with every ``W_l`` first and every ``b_l`` after, and named views."""
        flat = np.zeros(self.n_parameters, dtype=dtype)
        return flat, self.views(flat, prefix="")

    def views(self, flat: np.ndarray, prefix: str = "") -> dict[str, np.ndarray]:
        """Named ``W_l``/``b_l`` views (keys ``prefix + "W1"`` ...) into a flat parameter-sized vector."""
        views: dict[str, np.ndarray] = {}
        offset = 0
        for l in range(1, self.L + 1):
            n_l, n_prev = self.layer_sizes[l], self.layer_sizes[l - 1]
            views[f"{prefix}W{l}"] = flat[offset : offset + n_l * n_prev].reshape(n_l, n_prev)
            offset += n_l * n_prev
        for l in range(1, self.L + 1):
            n_l = self.layer_sizes[l]
            views[f"{prefix}b{l}"] = flat[offset : offset + n_l].reshape(n_l, 1)
            offset += n_l
        return views

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

    def __setstate__(self, state: dict) -> None:
        """Unpickling (and deepcopy): make ``params`` views into ``theta`` again, as pickle copies views."""
        self.__dict__.update(state)
        self.params = self.views(self.theta, prefix="")

    def __repr__(self) -> str:
        hidden = ",".join(self.hidden_activations) or "-"
        return (
            f"DNN({list(self.layer_sizes)}, hidden={hidden}, output={self.output_activation}, "
            f"dtype={self.dtype.name})"
        )

    # ------------------------------------------------------------------ validation
    def check_X(self, X: np.ndarray, name: str = "X") -> np.ndarray:
        """Return ``X`` as a ``(n_x, m)`` array of the network's dtype, or raise ValueError."""
        X = np.asarray(X)
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

    def _check_Y(self, AL: np.ndarray, Y: np.ndarray) -> np.ndarray:
        Y = np.asarray(Y)
        if Y.shape != AL.shape:
            raise ValueError(
                f"Y has shape {Y.shape} but AL has shape {AL.shape}; Y must be (n_L, m) = "
                f"({self.layer_sizes[-1]}, m) with the same m as the batch"
            )
        return Y.astype(AL.dtype, copy=False)

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
        backward pass reads. With ``dropout`` > 0 (training only), each hidden ``A_l`` is
        multiplied by an inverted-dropout mask ``"D{l}"`` and the undropped ``g(Z_l)`` is kept as
        ``"G{l}"`` for ``g'``.
        """
        A = self.check_X(X)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if dropout > 0.0 and rng is None:
            raise ValueError("dropout > 0 needs a numpy Generator passed as rng")
        cache: dict[str, np.ndarray] = {"A0": A}
        for l in range(1, self.L + 1):
            W, b = self.params[f"W{l}"], self.params[f"b{l}"]
            Z = W @ A  # (n_l, m)
            Z += b  # b (n_l, 1) broadcasts over the m columns
            if l < self.L:
                A = self._activations[l - 1].forward(Z, np.empty_like(Z))
                if dropout > 0.0:
                    cache[f"G{l}"] = A
                    D = rng.random(A.shape, dtype=A.dtype) >= dropout
                    D = D.astype(A.dtype) / A.dtype.type(1.0 - dropout)
                    cache[f"D{l}"] = D
                    A = A * D
            else:
                A = self.output.forward(Z, np.empty_like(Z))
            cache[f"Z{l}"] = Z
            cache[f"A{l}"] = A
        return A, cache

    # ------------------------------------------------------------------ loss and backward
    def loss(self, AL: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """The cost ``J``: mean over the batch of the output layer's loss."""
        Y = self._check_Y(AL, Y)
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
        Y = self._check_Y(AL, Y)
        m = AL.shape[1]
        grads: dict[str, np.ndarray] = {}
        gradient_views = self.views(out, prefix="d") if out is not None else None
        dZ = output_gradient(AL, Y)  # (n_L, m)
        if sample_weight is not None:
            weight = np.asarray(sample_weight, dtype=AL.dtype).reshape(1, m)
            dZ *= weight * (m / weight.sum())  # weighted mean: J = sum w_i loss_i / sum w_i
        for l in range(self.L, 0, -1):
            A_prev = cache[f"A{l - 1}"]
            W = self.params[f"W{l}"]
            grads[f"dZ{l}"] = dZ
            dW = gradient_views[f"dW{l}"] if gradient_views else None
            db = gradient_views[f"db{l}"] if gradient_views else None
            dW = np.matmul(dZ, A_prev.T, out=dW)  # (n_l, n_{l-1})
            dW *= 1.0 / m
            db = np.sum(dZ, axis=1, keepdims=True, out=db)  # (n_l, 1)
            db *= 1.0 / m
            grads[f"dW{l}"], grads[f"db{l}"] = dW, db
            if l == 1 and not input_gradient:
                break
            dA_prev = W.T @ dZ  # (n_{l-1}, m)
            grads[f"dA{l - 1}"] = dA_prev
            if l > 1:
                dZ = dA_prev.copy()
                if f"D{l - 1}" in cache:
                    dZ *= cache[f"D{l - 1}"]
                activation = self._activations[l - 2]
                A = cache.get(f"G{l - 1}", cache[f"A{l - 1}"])
                dZ = activation.backward(dZ, cache[f"Z{l - 1}"], A)  # dZ = dA * g'(Z)
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
        m = X.shape[1]
        AL = np.empty((self.layer_sizes[-1], m), dtype=self.dtype)
        for start in range(0, m, PREDICT_COLUMNS):
            A = X[:, start : start + PREDICT_COLUMNS]
            for l in range(1, self.L + 1):
                Z = self.params[f"W{l}"] @ A
                Z += self.params[f"b{l}"]
                forward = self._activations[l - 1].forward if l < self.L else self.output.forward
                A = forward(Z, Z)
            AL[:, start : start + PREDICT_COLUMNS] = A
        return AL

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class index per column (softmax), 0/1 per output (sigmoid, threshold 0.5), or values."""
        return self.decide(self.predict_proba(X))

    def decide(self, AL: np.ndarray) -> np.ndarray:
        """Turn output activations into predictions as :meth:`predict` does."""
        return decide(self.output_activation, AL)

    # ------------------------------------------------------------------ explanation
    def explain(self, m: int = 4, *, run: bool = False, seed: int = 0) -> str:
        """Each layer's forward and backward equations with their shapes for a batch of ``m``.

        ``run=True`` adds values from one random pass and gradient-check errors; see :mod:`mlpkit.explain`.
        """
        from mlpkit.explain import explain

        return explain(self, m, run=run, seed=seed)
