"""lbfgs: scipy's L-BFGS-B on the network's flat ``theta``, full batch, in float64.

The objective is the network's own cost and gradients (:meth:`DNN.loss`,
:meth:`DNN.compute_gradients`) plus the L2 term of :mod:`mlpkit.regularization`, the same
``(alpha/2m) sum ||W_l||^2`` the Trainer adds, with ``m`` the number (or total weight) of rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from mlpkit.embeddings import EmbeddingInput
from mlpkit.network import DNN
from mlpkit.regularization import l2_cost, l2_scale
from mlpkit.sklearn.stochastic import NON_FINITE_WEIGHTS
from mlpkit.training import TrainConfig


def lbfgs_objective(
    net: DNN,
    X: np.ndarray,
    Y: np.ndarray,
    weight: np.ndarray | None,
    l2: float,
    inputs: EmbeddingInput | None = None,
    codes: np.ndarray | None = None,
) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """``theta -> (J + (l2/2m) sum ||W_l||^2, its gradient)`` on columns ``X`` (n_x, m), ``Y`` (n_L, m).

    With learned ``inputs``, ``X`` holds the dense rows ``(n_dense, m)``, ``codes`` ``(C, m)`` the
    embedded columns, and the vector optimized is ``theta`` followed by ``phi``: ``dphi`` comes
    from ``dA0 = W_1^T dZ_1`` (:meth:`EmbeddingInput.backward`); the embeddings are not penalized.
    """
    X = net.check_X(X) if inputs is None else X  # once: a sparse X becomes CSC here, not in every evaluation
    m = X.shape[1] if weight is None else float(weight.sum())
    n_theta = net.theta.size
    gradient = np.empty(n_theta + (0 if inputs is None else inputs.n_parameters), dtype=net.dtype)

    def loss_and_gradient(vector: np.ndarray) -> tuple[float, np.ndarray]:
        net.theta[...] = vector[:n_theta]
        if inputs is not None:
            inputs.phi[...] = vector[n_theta:]
        A0 = X if inputs is None else inputs.forward(X, codes)  # (n_x, m)
        AL, cache = net.forward(A0)
        loss = net.loss(AL, Y, weight)
        grads = net.compute_gradients(
            AL, Y, cache, inputs is not None, sample_weight=weight, out=gradient[:n_theta]
        )
        if inputs is not None:
            inputs.backward(grads["dA0"], codes, out=gradient[n_theta:])  # dE_c  (d_c, n_c) each
        W = net.theta[: net.n_weights]  # every W_l, flat
        loss += l2_cost(l2, m, float(np.dot(W, W)))
        gradient[: net.n_weights] += l2_scale(l2, m) * W
        return loss, gradient.copy()

    return loss_and_gradient


class LbfgsSolver:
    """The lbfgs half of the estimators: needs ``net_``, ``inputs_``, ``_stopping`` and the parameters."""

    def _fit_lbfgs(self, X: np.ndarray, Y: np.ndarray, weight, config: TrainConfig, codes=None) -> None:
        """Full-batch L-BFGS-B on rows ``X`` and targets ``Y``, with scikit-learn's L2 term (and the
        embeddings' ``phi`` beside ``theta`` when ``inputs_`` is set, ``codes`` their rows)."""
        net, inputs = self.net_, self.inputs_
        columns = None if inputs is None else np.ascontiguousarray(codes.T)  # (C, m)
        objective = lbfgs_objective(
            net, X.T.astype(np.float64), Y.T.astype(np.float64), weight, config.l2, inputs, columns
        )
        start = net.theta.copy() if inputs is None else np.concatenate([net.theta, inputs.phi])
        self.loss_curve_ = []
        result = scipy.optimize.minimize(
            objective,
            start,
            method="L-BFGS-B",
            jac=True,
            options={"maxfun": self.max_fun, "maxiter": config.epochs, "gtol": config.tol},
            callback=self._record_lbfgs_iteration,
        )
        net.theta[...] = result.x[: net.theta.size]
        if inputs is not None:
            inputs.phi[...] = result.x[net.theta.size :]
        self.n_iter_ = min(int(result.nit), config.epochs)
        self.loss_ = float(result.fun)
        self._stopping.best_loss = min(self.loss_curve_, default=self.loss_)
        if not np.isfinite(net.theta).all():
            raise ValueError(NON_FINITE_WEIGHTS)
        if result.status != 0:
            message = result.message.decode() if isinstance(result.message, bytes) else result.message
            warnings.warn(
                f"lbfgs failed to converge after {self.n_iter_} iteration(s) (status={result.status}): "
                f"{message}. Increase max_iter or max_fun, or scale the data.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _record_lbfgs_iteration(self, intermediate_result) -> None:
        self.loss_curve_.append(float(intermediate_result.fun))
        if self.verbose:
            print(f"Iteration {len(self.loss_curve_)}, loss = {self.loss_curve_[-1]:.8f}")
