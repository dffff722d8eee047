"""The trainer's learned inputs: which flat vectors it trains, where their gradients go, how ``A0`` is built.

Without learned inputs the trainer trains the network's ``theta`` on ``A0 = X``. With an
:class:`~mlpkit.embeddings.EmbeddingInput` it trains ``phi`` (every ``E_c``) too: ``A0`` is built
from the dense rows and the codes, the optimizer steps ``{"theta": net.theta, "phi": inputs.phi}``,
and the gradients live in one flat vector, ``dtheta`` then ``dphi``, so that a data-parallel
all-reduce sums both at once. The L2 penalty stays on the weights ``W_l``: neither the biases nor
the embeddings are penalized (nor decayed by AdamW).
"""

from __future__ import annotations

import numpy as np

from mlpkit.embeddings import EmbeddingInput
from mlpkit.network import DNN


def check_inputs(net: DNN, inputs: EmbeddingInput | None) -> EmbeddingInput | None:
    """``inputs`` if they feed ``net`` (``A0`` has its ``n_x`` rows, same dtype), else ValueError."""
    if inputs is None:
        return None
    if not isinstance(inputs, EmbeddingInput):
        raise ValueError(f"inputs must be an EmbeddingInput or None, got {type(inputs).__name__}")
    if inputs.n_x != net.layer_sizes[0]:
        raise ValueError(
            f"the embeddings build A0 with n_dense + sum d_c = {inputs.n_x} rows, but the network "
            f"expects n_x = {net.layer_sizes[0]}"
        )
    if inputs.dtype != net.dtype:
        raise ValueError(f"the embeddings are {inputs.dtype.name} but the network is {net.dtype.name}")
    return inputs


def trained_vectors(net: DNN, inputs: EmbeddingInput | None) -> dict[str, np.ndarray]:
    """What the optimizer steps: ``{"theta": net.theta}``, and ``"phi"`` with learned inputs."""
    return {"theta": net.theta} if inputs is None else {"theta": net.theta, "phi": inputs.phi}


def new_gradients(net: DNN, inputs: EmbeddingInput | None):
    """One zero vector for ``dtheta`` and then ``dphi``, and its two views (see :func:`gradient_views`)."""
    gradients = np.zeros(net.n_parameters + (inputs.n_parameters if inputs else 0), dtype=net.dtype)
    return (gradients, *gradient_views(gradients, net, inputs))


def gradient_views(gradients: np.ndarray, net: DNN, inputs: EmbeddingInput | None):
    """``(dtheta, dphi)``: views into the flat gradient vector (``dphi`` None without learned inputs)."""
    if inputs is None:
        return gradients, None
    return gradients[: net.n_parameters], gradients[net.n_parameters :]


def gradient_mapping(gradient: np.ndarray, input_gradient: np.ndarray | None) -> dict[str, np.ndarray]:
    """The optimizer's ``grads``: ``{"dtheta": ...}``, and ``"dphi"`` with learned inputs."""
    if input_gradient is None:
        return {"dtheta": gradient}
    return {"dtheta": gradient, "dphi": input_gradient}


def first_layer_input(inputs: EmbeddingInput | None, X: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
    """``A0``: ``X`` itself, or the dense rows ``X`` stacked with the looked-up ``E_c[:, codes_c]``."""
    return X if inputs is None else inputs.forward(X, codes)


def decay_slices(weights: dict[str, slice], inputs: EmbeddingInput | None) -> dict[str, slice]:
    """AdamW's decaying part of each vector: the weights of ``theta``, no entry of ``phi``."""
    return dict(weights) if inputs is None else {**weights, "phi": slice(0, 0)}


def check_optimizer_vectors(params, inputs: EmbeddingInput | None) -> None:
    """An optimizer handed to a trainer with learned inputs must step ``phi`` too."""
    if inputs is not None and "phi" not in params:
        raise ValueError(
            "the trainer learns embeddings, so its optimizer must step them too: build it on "
            "{'theta': net.theta, 'phi': inputs.phi}"
        )
