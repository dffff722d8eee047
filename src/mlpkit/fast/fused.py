"""A whole training step in one compiled call: gather, forward, backward and the Adam step.

For the trainer's most common case, a network of ReLU hidden layers with a softmax + cross-entropy
output trained by plain :class:`~mlpkit.optimizers.Adam` on dense rows, each mini-batch is one call
into ``_fused_step.h``: it gathers the rows, runs the products with numpy's own BLAS
(:mod:`mlpkit.fast.blas`) and the element-wise kernels of :mod:`mlpkit.fast.kernels` between them,
and updates ``theta`` in place, so no Python runs between the products. Everything else (other
activations or outputs, dropout, other optimizers, learned inputs, sparse or strided rows, several
processes, ``MLPKIT_NUMPY_ONLY``, a numpy without its bundled OpenBLAS) trains through
:class:`~mlpkit.fast.step.FastStep` and the optimizer's ``step``, the reference that tests hold this
step equal to (tests/test_fused_step.py).
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable

import numpy as np

from mlpkit.fast import blas, kernels
from mlpkit.network import DNN
from mlpkit.optimizers import Adam

MAX_LAYERS = 16  # as in _fused.c
_POINTERS = ctypes.c_void_p * MAX_LAYERS


class StepPlan(ctypes.Structure):
    """``struct step_plan`` of _fused.c: the arrays of one training step, by address."""

    _fields_ = [
        ("gemm", ctypes.c_void_p),
        ("L", ctypes.c_ssize_t),
        ("sizes", ctypes.c_ssize_t * (MAX_LAYERS + 1)),
        ("W", _POINTERS),
        ("b", _POINTERS),
        ("dW", _POINTERS),
        ("db", _POINTERS),
        ("Z", _POINTERS),
        ("dA", _POINTERS),
        ("dZ_output", ctypes.c_void_p),
        ("X_rows", ctypes.c_void_p),
        ("Y_rows", ctypes.c_void_p),
        ("weights", ctypes.c_void_p),
        ("order", ctypes.c_void_p),
        ("X_batch", ctypes.c_void_p),
        ("Y_batch", ctypes.c_void_p),
        ("scale", ctypes.c_void_p),
        ("work", ctypes.c_void_p),
        ("theta", ctypes.c_void_p),
        ("gradient", ctypes.c_void_p),
        ("m", ctypes.c_void_p),
        ("v", ctypes.c_void_p),
        ("n_theta", ctypes.c_ssize_t),
        ("n_weights", ctypes.c_ssize_t),
        ("loss", ctypes.c_double),
        ("squares", ctypes.c_double),
        ("hits", ctypes.c_ssize_t),
    ]


def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


def _contiguous(dtype: np.dtype, *arrays) -> bool:
    return all(
        isinstance(a, np.ndarray) and a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned
        for a in arrays
    )


def serves(net: DNN, optimizer, gradient: np.ndarray, dropout: float) -> bool:
    """Whether the compiled step can train this network with this optimizer (the data aside)."""
    dtype, library, gemm = net.dtype, kernels._library(), blas.gemm_addresses()
    if library is None or gemm is None or ("train_step", dtype) not in library or dtype not in gemm:
        return False
    if type(optimizer) is not Adam or dropout > 0.0 or not 2 <= net.L <= MAX_LAYERS:
        return False
    if net.output_activation != "softmax" or any(g.name != "relu" for g in net._activations):
        return False
    params = optimizer.params
    if list(params) != ["theta"] or params["theta"] is not net.theta:
        return False
    state = (optimizer.state["m"]["theta"], optimizer.state["v"]["theta"])
    return _contiguous(dtype, net.theta, gradient, *state) and gradient.shape == net.theta.shape


class _Buffers:
    """The per-batch-size arrays of the compiled step (as in :class:`~mlpkit.fast.step.FastStep`)."""

    def __init__(self, sizes: tuple[int, ...], m: int, dtype: np.dtype) -> None:
        self.m = m
        self.X_batch = np.empty((m, sizes[0]), dtype=dtype)
        self.Y_batch = np.empty((m, sizes[-1]), dtype=dtype)
        self.Z = [np.empty((n, m), dtype=dtype) for n in sizes[1:]]
        self.dA = [np.empty((n, m), dtype=dtype) for n in sizes[1:-1]]
        self.dZ_output = np.empty((sizes[-1], m), dtype=dtype)
        self.scale = np.empty(m, dtype=dtype)
        self.work = np.empty(4 * m, dtype=dtype)


class FusedSteps:
    """The compiled step of a trainer, bound to an epoch's data by :meth:`bind`; buffers are kept
    per batch size. Pickling keeps nothing: it binds again on the next epoch."""

    def __init__(self) -> None:
        self._buffers: dict[tuple, _Buffers] = {}

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def bind(
        self,
        net: DNN,
        optimizer: Adam,
        gradient: np.ndarray,
        rows: np.ndarray,
        target_rows: np.ndarray,
        sample_weight: np.ndarray | None,
        batch_size: int,
    ) -> EpochStep | None:
        """The step for one epoch on ``rows`` ``(samples, n_0)`` and ``target_rows``
        ``(samples, n_L)``, or None when the compiled step cannot take them."""
        dtype, sizes = net.dtype, tuple(net.layer_sizes)
        if not _contiguous(dtype, rows, target_rows) or rows.ndim != 2 or target_rows.ndim != 2:
            return None
        if rows.shape[1] != sizes[0] or target_rows.shape != (rows.shape[0], sizes[-1]):
            return None
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight, dtype=dtype)  # cast as FastStep casts
        m = min(batch_size, rows.shape[0])
        key = (sizes, m, dtype)
        if key not in self._buffers:
            self._buffers = {key: _Buffers(sizes, m, dtype)}  # one batch size at a time
        buffers = self._buffers[key]
        plan = _plan(net, optimizer, gradient, buffers)
        plan.X_rows, plan.Y_rows = _address(rows), _address(target_rows)
        plan.weights = _address(sample_weight) if sample_weight is not None else None
        kernel = kernels._library()["train_step", dtype]
        kernels.install_pool()
        return EpochStep(plan, kernel, optimizer, (rows, target_rows, sample_weight, buffers))


def _plan(net: DNN, optimizer: Adam, gradient: np.ndarray, buffers: _Buffers) -> StepPlan:
    """The plan's network, optimizer and buffer addresses."""
    plan = StepPlan()
    plan.gemm = blas.gemm_addresses()[net.dtype]
    plan.L = net.L
    for l, n in enumerate(net.layer_sizes):
        plan.sizes[l] = n
    views = net.views(gradient, prefix="d")
    for l in range(1, net.L + 1):
        plan.W[l - 1] = _address(net.params[f"W{l}"])
        plan.b[l - 1] = _address(net.params[f"b{l}"])
        plan.dW[l - 1] = _address(views[f"dW{l}"])
        plan.db[l - 1] = _address(views[f"db{l}"])
        plan.Z[l - 1] = _address(buffers.Z[l - 1])
    for l, dA in enumerate(buffers.dA):
        plan.dA[l] = _address(dA)
    plan.dZ_output = _address(buffers.dZ_output)
    plan.X_batch, plan.Y_batch = _address(buffers.X_batch), _address(buffers.Y_batch)
    plan.scale, plan.work = _address(buffers.scale), _address(buffers.work)
    plan.theta, plan.gradient = _address(net.theta), _address(gradient)
    plan.m = _address(optimizer.state["m"]["theta"])
    plan.v = _address(optimizer.state["v"]["theta"])
    plan.n_theta, plan.n_weights = net.theta.size, net.n_weights
    return plan


class EpochStep:
    """One epoch's compiled step: ``step(order, start, size, l2)`` trains the mini-batch
    ``order[start:start + size]`` and returns ``(J, hits)`` as the trainer's numpy step would
    (``J`` with the L2 penalty ``(lambda/2m) ||W||^2`` when ``l2 = lambda/m`` > 0, Adam's ``t``
    counted only when ``J`` is finite), or None when the batch's weights are all zero (no step)."""

    def __init__(self, plan: StepPlan, kernel: Callable, optimizer: Adam, keep_alive: tuple) -> None:
        self.plan, self.kernel, self.optimizer = plan, kernel, optimizer
        self.plan_address = ctypes.byref(plan)
        self.keep_alive = keep_alive  # the arrays the plan points into
        self.batch_size = keep_alive[-1].m  # the buffers' columns
        self.order: np.ndarray | None = None

    def __call__(self, order: np.ndarray, start: int, size: int, l2: float) -> tuple[float, float] | None:
        plan, optimizer = self.plan, self.optimizer
        if order is not self.order:  # a new epoch's order: checked and bound once, as int64
            order_int64 = np.ascontiguousarray(order, dtype=np.int64)
            rows = self.keep_alive[0].shape[0]
            if order_int64.ndim != 1 or (
                order_int64.size and not 0 <= order_int64.min() <= order_int64.max() < rows
            ):
                raise ValueError(f"the batch order must index the {rows} training rows")
            self.order, self.order_int64 = order, order_int64
            plan.order = _address(order_int64)
        if not (0 <= start and 0 < size <= self.batch_size and start + size <= self.order_int64.size):
            raise ValueError(f"batch [{start}, {start + size}) is outside the epoch's order or buffers")
        optimizer.t += 1  # Adam's bias corrections for the step about to be taken (the reference's own)
        step_size, eps_hat = optimizer._bias_corrected()
        c1, c2 = 1.0 - optimizer.beta_1, 1.0 - optimizer.beta_2  # in double, as mlpkit.fast.adam
        ran = self.kernel(self.plan_address, start, size, c1, c2, step_size, eps_hat, l2)
        loss = plan.loss
        if not ran or not math.isfinite(loss):  # no step taken: not counted
            optimizer.t -= 1
            return None if not ran else (loss, float(plan.hits))
        return loss + 0.5 * l2 * plan.squares, float(plan.hits)
