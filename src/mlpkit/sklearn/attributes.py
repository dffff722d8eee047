"""The estimators' fitted attributes as scikit-learn has them: readable, assignable, item by item.

``coefs_[l]`` is a view of ``W_{l+1}.T`` and ``intercepts_[l]`` of ``b_{l+1}`` (scikit-learn's
``(n_in, n_out)`` orientation), so writing into an array writes into the network. Assigning an
item (``clf.coefs_[0] = W``) copies ``W`` into the network as well; assigning a whole list
(``clf.coefs_ = [...]``), even on an unfitted estimator, keeps that list until the network is
next needed (fit, partial_fit, predict), which then takes its weights from it, as scikit-learn's
estimators, which keep the lists themselves, do.

The stopping rule's state (``best_loss_``, ``validation_scores_``, ...) lives in its
:class:`NoImprovement`; the attributes read and write it.
"""

from __future__ import annotations

import numpy as np
from sklearn.exceptions import NotFittedError

from mlpkit.network import DNN
from mlpkit.sklearn.params import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, random_generator
from mlpkit.sklearn.stopping import NoImprovement


class LayerArrays(list):
    """A list of views into a network's parameters; assigning an item writes into the network."""

    def __init__(self, views: list[np.ndarray], name: str) -> None:
        super().__init__(views)
        self.name = name

    def __setitem__(self, index, value) -> None:
        if isinstance(index, slice):
            raise TypeError(f"{self.name} holds one array per layer: assign them one at a time")
        target = list.__getitem__(self, index)
        array = np.asarray(value)
        if array.shape != target.shape:
            raise ValueError(
                f"{self.name}[{index}] has shape {target.shape} (the network's layer); got {array.shape}"
            )
        target[...] = array


def _network_arrays(net: DNN, kind: str) -> LayerArrays:
    """``coefs_`` (views ``W_l.T``) or ``intercepts_`` (views of ``b_l`` as vectors) of ``net``."""
    if kind == "coefs_":
        return LayerArrays([net.params[f"W{l}"].T for l in range(1, net.L + 1)], kind)
    return LayerArrays([net.params[f"b{l}"].ravel() for l in range(1, net.L + 1)], kind)


class FittedAttributes:
    """``coefs_``, ``intercepts_`` and the stopping rule's attributes, for the estimators."""

    net_: DNN
    _stopping: NoImprovement

    # ------------------------------------------------------------------ weights
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices in scikit-learn's ``(n_in, n_out)`` orientation: views ``W_l.T``."""
        return self._layer_arrays("coefs_")

    @coefs_.setter
    def coefs_(self, value: list) -> None:
        self.__dict__["_assigned_coefs_"] = value

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors of shape ``(n_out,)``: views of ``b_l``."""
        return self._layer_arrays("intercepts_")

    @intercepts_.setter
    def intercepts_(self, value: list) -> None:
        self.__dict__["_assigned_intercepts_"] = value

    def _layer_arrays(self, kind: str) -> list:
        assigned = self.__dict__.get(f"_assigned_{kind}")
        if assigned is not None:
            return assigned
        if "net_" not in self.__dict__:
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet: it has no {kind}")
        return _network_arrays(self.net_, kind)

    def _has_assigned_weights(self) -> bool:
        return "_assigned_coefs_" in self.__dict__ or "_assigned_intercepts_" in self.__dict__

    def _take_assigned_weights(self) -> None:
        """Put assigned ``coefs_``/``intercepts_`` lists into the network (built from them if there
        is none yet); the attributes are views of the network again afterwards."""
        if not self._has_assigned_weights():
            return
        coefs = self._layer_arrays("coefs_")
        intercepts = self._layer_arrays("intercepts_")
        arrays = [np.asarray(a) for a in coefs] + [np.asarray(b).ravel() for b in intercepts]
        if any(a.dtype.kind not in "fiub" for a in arrays):
            raise ValueError("coefs_ and intercepts_ must hold arrays of real numbers, one per layer")
        if "net_" not in self.__dict__:
            self._adopt_network(self._network_for(coefs, arrays))
        net = self.net_
        self._forget_assigned_weights()
        if len(coefs) != net.L or len(intercepts) != net.L:
            raise ValueError(f"coefs_ and intercepts_ need {net.L} arrays each, one per layer")
        for target, array in zip(_network_arrays(net, "coefs_"), coefs, strict=True):
            _write(target, array, "coefs_")
        for target, array in zip(_network_arrays(net, "intercepts_"), intercepts, strict=True):
            _write(target, np.asarray(array).ravel(), "intercepts_")

    def _forget_assigned_weights(self) -> None:
        self.__dict__.pop("_assigned_coefs_", None)
        self.__dict__.pop("_assigned_intercepts_", None)

    def _network_for(self, coefs: list, arrays: list[np.ndarray]) -> DNN:
        """A network shaped like the assigned ``coefs_``, with the estimator's activations."""
        sizes = [np.shape(coefs[0])[0], *(np.shape(W)[1] for W in coefs)]
        dtype = "float32" if all(a.dtype == np.float32 for a in arrays) else "float64"
        if self.dtype is not None:
            dtype = str(np.dtype(self.dtype))
        output = getattr(self, "out_activation_", None) or self._output_activation()
        hidden = HIDDEN_ACTIVATIONS[self.activation]
        return DNN(sizes, hidden, OUTPUT_ACTIVATIONS[output], dtype=dtype, seed=0)

    def _adopt_network(self, net: DNN) -> None:
        """Make ``net`` the fitted network, with the bookkeeping a fit would have set where missing."""
        self.net_ = net
        defaults = {
            "n_outputs_": net.layer_sizes[-1],
            "n_layers_": net.L + 1,
            "out_activation_": self._output_activation(),
            "n_iter_": 0,
            "t_": 0,
            "loss_curve_": [],
            "features_": None,
            "inputs_": None,
            "_trainer": None,
        }
        for name, value in defaults.items():
            if name not in self.__dict__:
                setattr(self, name, value)
        if "_seed" not in self.__dict__:
            rng = random_generator(self.random_state)
            self._seed = int(rng.integers(2**63 - 1))
            self._split_seed = int(rng.integers(2**32 - 1))
        self._stopping_state()

    # ------------------------------------------------------------------ the stopping rule's state
    def _stopping_state(self) -> NoImprovement:
        """The stopping rule's state, made (for the current ``early_stopping``) if there is none."""
        if "_stopping" not in self.__dict__:
            self._stopping = NoImprovement(bool(self.early_stopping))
        return self._stopping

    @property
    def best_loss_(self) -> float | None:
        """The lowest training loss (None with early stopping, which watches the validation score)."""
        return self._fitted_stopping().best_loss

    @best_loss_.setter
    def best_loss_(self, value: float | None) -> None:
        self._stopping_state().best_loss = value

    @property
    def best_validation_score_(self) -> float | None:
        """The best validation score with early stopping, else None."""
        return self._fitted_stopping().best_score

    @best_validation_score_.setter
    def best_validation_score_(self, value: float | None) -> None:
        self._stopping_state().best_score = value

    @property
    def validation_scores_(self) -> list[float] | None:
        """The validation score (accuracy or R^2) of each epoch with early stopping, else None."""
        return self._fitted_stopping().scores

    @validation_scores_.setter
    def validation_scores_(self, value: list[float] | None) -> None:
        self._stopping_state().scores = value

    @property
    def validation_loss_curve_(self) -> list[float] | None:
        """The validation loss of each epoch with early stopping, else None."""
        return self._fitted_stopping().validation_losses

    @validation_loss_curve_.setter
    def validation_loss_curve_(self, value: list[float] | None) -> None:
        self._stopping_state().validation_losses = value

    def _fitted_stopping(self) -> NoImprovement:
        if "_stopping" not in self.__dict__:
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet")
        return self._stopping


def _write(target: np.ndarray, array, name: str) -> None:
    array = np.asarray(array)
    if array.shape != target.shape:
        raise ValueError(f"{name}: an array of shape {array.shape} where the network has {target.shape}")
    target[...] = array
