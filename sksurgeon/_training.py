"""Training engine: a hand-written forward and backward pass over an MLP.

Training is the cost of the whole surgery method (every candidate network is retrained), so this
module is the hot path. It does not use autograd, ``DataLoader`` or ``torch.optim``: the data stay
as tensors on the network's device for the whole fit, mini-batches are index slices of a per-epoch
permutation drawn from a seeded :class:`torch.Generator`, and the backward pass writes straight
into the parameters (plain SGD) or into preallocated gradient buffers (SGD with momentum, Adam).
Per step this costs a fixed, small number of tensor operations and no host synchronisation.

The network convention is the package's: a :class:`torch.nn.Sequential` of
``[Linear, act, Linear, act, ..., Linear]`` where ``act`` is one of :class:`~torch.nn.ReLU`,
:class:`~torch.nn.LeakyReLU`, :class:`~torch.nn.Tanh` or :class:`~torch.nn.Identity` and any
``Linear`` may lack a bias. The loss is scikit-learn's ``MLPClassifier`` loss: the (optionally
sample-weighted) mean softmax cross-entropy of the batch plus
``0.5 * alpha * sum(||W||^2) / sum(sample_weight)`` over the weight matrices (not the biases).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "OptimizerState",
    "TrainConfig",
    "TrainResult",
    "accuracy",
    "loss_and_gradients",
    "predict_logits",
    "train",
    "validation_scores",
]

_SOLVERS = ("sgd", "adam")

# Backward kernels of the activations. ``threshold_backward(grad, out, 0)`` keeps ``grad`` where
# ``out > 0``; with the post-activation output this equals autograd's ReLU derivative (0 at 0).
_aten = torch.ops.aten


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and loss settings for :func:`train`.

    Parameters
    ----------
    solver : {"sgd", "adam"}, default="adam"
        Optimiser. ``"sgd"`` follows :class:`torch.optim.SGD` (optionally with momentum and
        Nesterov momentum), ``"adam"`` follows :class:`torch.optim.Adam` with bias correction.
    learning_rate : float, default=1e-3
        Step size.
    batch_size : int, default=200
        Mini-batch size; clipped to the number of samples. The last, partial batch of an epoch
        is used, as in scikit-learn.
    alpha : float, default=1e-4
        Strength of the L2 penalty, with scikit-learn's scaling:
        ``0.5 * alpha * sum(||W||^2) / sum(sample_weight of the batch)``, weights only.
    momentum : float, default=0.0
        Momentum of SGD (ignored by Adam).
    nesterov : bool, default=False
        Use Nesterov momentum (SGD only, requires ``momentum > 0``).
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decay rates of the first and second moment estimates.
    epsilon : float, default=1e-8
        Adam's numerical-stability term.
    average : bool, default=False
        Polyak averaging restarted every epoch: at the end of each epoch (and of a call that
        ends within one, such as a candidate's retraining), the weights become their mean
        over the second half of that stretch's steps, and training goes on from there. With a
        constant learning rate and small batches the last iterate carries the noise of its
        last few batches; the mean of many iterates carries much less of it. The optimiser's
        state is kept as it is.

    Examples
    --------
    >>> from sksurgeon._training import TrainConfig
    >>> TrainConfig(solver="sgd", learning_rate=0.005, batch_size=16).solver
    'sgd'
    """

    solver: str = "adam"
    learning_rate: float = 1e-3
    batch_size: int = 200
    alpha: float = 1e-4
    momentum: float = 0.0
    nesterov: bool = False
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    average: bool = False

    def __post_init__(self):
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {_SOLVERS}, got {self.solver!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if int(self.batch_size) != self.batch_size or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size}")
        if not self.alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.nesterov and self.momentum <= 0:
            raise ValueError("nesterov=True requires momentum > 0")
        for name in ("beta_1", "beta_2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not self.epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {self.epsilon}")

    @property
    def _stateful(self):
        return self.solver == "adam" or self.momentum > 0


@dataclass
class OptimizerState:
    """Optimiser state carried from one :func:`train` call to the next.

    Attributes
    ----------
    solver : str
        ``"sgd"`` (momentum buffers) or ``"adam"`` (first and second moments).
    step : int
        Number of optimiser steps taken so far.
    buffers : tuple of list of Tensor
        ``(momentum_buffers,)`` for SGD, ``(exp_avgs, exp_avg_sqs)`` for Adam, each list in the
        order of ``net.parameters()``.
    """

    solver: str
    step: int
    buffers: tuple

    def _check(self, params, config):
        if self.solver != config.solver:
            raise ValueError(
                f"optimizer state is for solver {self.solver!r}, config asks for {config.solver!r}"
            )
        for bufs in self.buffers:
            if len(bufs) != len(params) or any(
                b.shape != p.shape or b.device != p.device or b.dtype != p.dtype
                for b, p in zip(bufs, params, strict=True)
            ):
                raise ValueError(
                    "optimizer state does not match the network's parameters (shapes, devices "
                    "or dtypes differ, e.g. after surgery); pass state=None for a fresh optimizer"
                )


@dataclass
class TrainResult:
    """Outcome of :func:`train`.

    Attributes
    ----------
    epoch_losses : list of float
        Loss of each (full or partial) epoch run: the weighted mean cross-entropy of its
        samples plus the L2 penalty at the end of the epoch, divided by the mean batch weight
        (scikit-learn's ``loss_curve_`` convention for a constant penalty).
    n_batches : int
        Number of batches (optimiser steps) run.
    n_samples : int
        Number of samples seen, for epochs-equivalent accounting.
    diverged : bool
        A non-finite loss or weight occurred and training stopped early; the network's weights
        are then meaningless and the caller should discard it.
    state : OptimizerState or None
        Optimiser state to pass back in to continue training; None for plain SGD.
    """

    epoch_losses: list
    n_batches: int
    n_samples: int
    diverged: bool
    state: object


@dataclass
class _Layer:
    weight: torch.Tensor  # detached alias of the Parameter, shape (out, in)
    bias: torch.Tensor | None
    act: str  # "relu" | "leaky" | "tanh" | "identity" | "output"
    slope: float = 0.0


def _parse_network(net):
    """Check ``net`` follows the package's convention; return its layers as `_Layer`s."""
    if not isinstance(net, nn.Sequential):
        raise TypeError(f"net must be a torch.nn.Sequential, got {type(net).__name__}")
    modules = list(net)
    if len(modules) % 2 != 1:
        raise ValueError("net must alternate [Linear, activation, ..., Linear]")
    layers = []
    for i in range(0, len(modules), 2):
        linear = modules[i]
        if type(linear) is not nn.Linear:
            raise ValueError(f"module {i} of net must be nn.Linear, got {type(linear).__name__}")
        act, slope = "output", 0.0
        if i + 1 < len(modules):
            module = modules[i + 1]
            if type(module) is nn.ReLU:
                act = "relu"
            elif type(module) is nn.LeakyReLU:
                act, slope = "leaky", float(module.negative_slope)
            elif type(module) is nn.Tanh:
                act = "tanh"
            elif type(module) is nn.Identity:
                act = "identity"
            else:
                raise ValueError(
                    f"unsupported activation {type(module).__name__} at index {i + 1}; "
                    "expected ReLU, LeakyReLU, Tanh or Identity"
                )
        bias = None if linear.bias is None else linear.bias.detach()
        layers.append(_Layer(linear.weight.detach(), bias, act, slope))
    for prev, nxt in zip(layers, layers[1:], strict=False):
        if prev.weight.shape[0] != nxt.weight.shape[1]:
            raise ValueError("consecutive Linear layers of net have mismatched widths")
    return layers


def _params_in_order(layers):
    """Tensors in the order of ``net.parameters()`` (weight, then bias, per Linear)."""
    out = []
    for layer in layers:
        out.append(layer.weight)
        if layer.bias is not None:
            out.append(layer.bias)
    return out


def _check_data(layers, X, y, sample_weight):
    weight = layers[0].weight
    if not isinstance(X, torch.Tensor) or X.ndim != 2:
        raise ValueError("X must be a 2-d torch.Tensor")
    if X.shape[1] != weight.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features, net expects {weight.shape[1]}")
    if X.dtype != weight.dtype or X.device != weight.device:
        raise ValueError(
            f"X ({X.dtype}, {X.device}) must have the dtype and device of the net's "
            f"parameters ({weight.dtype}, {weight.device})"
        )
    if not isinstance(y, torch.Tensor) or y.shape != (X.shape[0],) or y.dtype != torch.int64:
        raise ValueError("y must be an int64 tensor of class indices with shape (n_samples,)")
    if y.device != X.device:
        raise ValueError("y must be on the same device as X")
    if sample_weight is not None:
        if not isinstance(sample_weight, torch.Tensor) or sample_weight.shape != y.shape:
            raise ValueError("sample_weight must be a tensor of shape (n_samples,)")
        if sample_weight.device != X.device:
            raise ValueError("sample_weight must be on the same device as X")
        sample_weight = sample_weight.to(X.dtype)
    return X.detach(), y.detach(), sample_weight


_RELU, _TANH, _LEAKY, _LEAKY_Z, _IDENTITY = range(5)


def _act_code(layer):
    if layer.act == "relu" or (layer.act == "leaky" and layer.slope == 0):
        return _RELU
    if layer.act == "tanh":
        return _TANH
    if layer.act == "leaky":
        # With a negative slope the output's sign no longer tells the input's: keep the input.
        return _LEAKY if layer.slope > 0 else _LEAKY_Z
    return _IDENTITY


_threshold_backward = _aten.threshold_backward.grad_input
_tanh_backward = _aten.tanh_backward.grad_input
_leaky_relu_backward = _aten.leaky_relu_backward.grad_input


class _Workspace:
    """Preallocated buffers and a precomputed plan of one training step for one batch size.

    Everything a step needs (buffers, transposed views, activation codes) is built here once,
    so the step itself is a flat sequence of out=/in-place tensor calls.
    """

    def __init__(self, layers, batch_size, n_features, with_grads, gscale):
        p = layers[0].weight
        kw = {"device": p.device, "dtype": p.dtype}
        B = batch_size
        self.size = B
        self.gscale = gscale
        self.x = torch.empty(B, n_features, **kw)
        self.yb = torch.empty(B, 1, device=p.device, dtype=torch.int64)
        self.neg_ones = torch.full((B, 1), -1.0, **kw)
        self.ones = torch.ones(B, **kw)
        # Summing a delta's rows with this vector gives the bias gradient already scaled by 1/B.
        self.ones_g = torch.full((B,), gscale, **kw)
        self.logits = torch.empty(B, layers[-1].weight.shape[0], **kw)
        # The output delta (log-probabilities first) and the deltas of the hidden layers.
        deltas = [torch.empty(B, layer.weight.shape[0], **kw) for layer in layers]
        self.out_delta = deltas[-1]
        self.grads = (
            [
                (
                    torch.empty_like(layer.weight),
                    None if layer.bias is None else torch.empty_like(layer.bias),
                )
                for layer in layers
            ]
            if with_grads
            else None
        )

        fwd, acts = [], [self.x]
        for layer in layers[:-1]:
            code = _act_code(layer)
            h = torch.empty(B, layer.weight.shape[0], **kw)
            z = torch.empty_like(h) if code == _LEAKY_Z else h
            fwd.append((layer.bias, layer.weight.t(), z, h, code, layer.slope))
            acts.append(h)
        last = layers[-1]
        fwd.append((last.bias, last.weight.t(), self.logits, self.logits, _IDENTITY, 0.0))
        self.fwd = fwd

        bwd = []
        for i in range(len(layers) - 1, -1, -1):
            layer = layers[i]
            if i > 0:
                below = fwd[i - 1]
                code = below[4]
                # The derivative is read off the output, or off the kept input for _LEAKY_Z.
                saved = below[2] if code == _LEAKY_Z else below[3]
                prev = (deltas[i - 1], code, saved, layers[i - 1].slope)
            else:
                prev = None
            g = self.grads[i] if with_grads else (None, None)
            bwd.append(
                (layer.weight, layer.bias, deltas[i], deltas[i].t(), acts[i], prev, g[0], g[1])
            )
        self.bwd = bwd

    def step(self, X, idx, y_col, picked, wcol, sw, lr, alpha):
        """One mini-batch: forward, loss terms into ``picked``, backward, then either the plain
        SGD update into the weights (no gradient buffers) or the gradients into ``self.grads``.

        ``wcol`` is ``w_i / sum(w)`` of the batch as a column, or None when unweighted, in which
        case ``gscale = 1 / B`` folds the mean into the matrix products for free. ``sw`` is the
        batch's total sample weight, the divisor of the L2 term.
        """
        mm, addmm = torch.mm, torch.addmm
        torch.index_select(X, 0, idx, out=self.x)
        yb = self.yb
        torch.index_select(y_col, 0, idx, out=yb)
        a = self.x
        for bias, WT, z, h, code, slope in self.fwd:
            if bias is None:
                mm(a, WT, out=z)
            else:
                addmm(bias, a, WT, out=z)
            if code == _RELU:
                h.relu_()
            elif code == _TANH:
                h.tanh_()
            elif code == _LEAKY:
                torch._C._nn.leaky_relu_(h, slope)
            elif code == _LEAKY_Z:
                torch._C._nn.leaky_relu(z, slope, out=h)
            a = h
        # Gradient of the mean cross-entropy w.r.t. the logits: softmax - onehot (x weights).
        delta = self.out_delta
        torch._log_softmax(self.logits, 1, False, out=delta)
        torch.gather(delta, 1, yb, out=picked)
        delta.exp_()
        delta.scatter_add_(1, yb, self.neg_ones)
        if wcol is None:
            gscale, ones = self.gscale, self.ones_g
        else:
            delta.mul_(wcol)
            gscale, ones = 1.0, self.ones

        decay = alpha / sw if sw > 0 else 0.0
        plain = self.grads is None
        beta = 1.0 - lr * decay
        for W, bias, d, dT, a_prev, prev, gW, gb in self.bwd:
            if prev is not None:
                # Propagate before W changes.
                d_prev, code, saved, slope = prev
                mm(d, W, out=d_prev)
                if code == _RELU:
                    _threshold_backward(d_prev, saved, 0, grad_input=d_prev)
                elif code == _TANH:
                    _tanh_backward(d_prev, saved, grad_input=d_prev)
                elif code == _LEAKY:
                    _leaky_relu_backward(d_prev, saved, slope, True, grad_input=d_prev)
                elif code == _LEAKY_Z:
                    _leaky_relu_backward(d_prev, saved, slope, False, grad_input=d_prev)
            if plain:
                # W <- (1 - lr * alpha / sw) W - lr * grad of the data term, in one call.
                if decay:
                    W.addmm_(dT, a_prev, beta=beta, alpha=-lr * gscale)
                else:
                    W.addmm_(dT, a_prev, alpha=-lr * gscale)
                if bias is not None:
                    bias.addmv_(dT, ones, alpha=-lr)
            else:
                addmm(W, dT, a_prev, beta=decay, alpha=gscale, out=gW)
                if gb is not None:
                    torch.mv(dT, ones, out=gb)


def _grad_list(ws):
    return [g for pair in ws.grads for g in pair if g is not None]


def _sgd_momentum_step(params, grads, bufs, config):
    """torch.optim.SGD's update with momentum (dampening 0), for all tensors at once."""
    torch._foreach_mul_(bufs, config.momentum)
    torch._foreach_add_(bufs, grads)
    if config.nesterov:
        torch._foreach_add_(grads, bufs, alpha=config.momentum)
        torch._foreach_add_(params, grads, alpha=-config.learning_rate)
    else:
        torch._foreach_add_(params, bufs, alpha=-config.learning_rate)


def _adam_step(params, grads, exp_avgs, exp_avg_sqs, step, config, step_tensors):
    """torch.optim.Adam's update (bias-corrected, no weight_decay) for all tensors at once.

    Uses PyTorch's fused Adam kernel where it exists (one pass over the memory instead of seven:
    about 3x faster on CPU for the paper's large network), else the multi-tensor formulation of
    ``torch.optim.Adam(foreach=True)``.
    """
    beta1, beta2 = config.beta_1, config.beta_2
    if step_tensors is not None:
        step_tensors[0].fill_(step)
        try:
            torch._fused_adam_(
                params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                [],
                step_tensors,
                lr=config.learning_rate,
                beta1=beta1,
                beta2=beta2,
                weight_decay=0.0,
                eps=config.epsilon,
                amsgrad=False,
                maximize=False,
            )
            return True
        except (RuntimeError, NotImplementedError):  # no fused kernel for this device/dtype
            pass
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
    bias_correction1 = 1 - beta1**step
    bias_correction2_sqrt = math.sqrt(1 - beta2**step)
    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denom, bias_correction2_sqrt)
    torch._foreach_add_(denom, config.epsilon)
    torch._foreach_addcdiv_(params, exp_avgs, denom, -config.learning_rate / bias_correction1)
    return False


def _l2_sum(layers):
    """Sum of squared weight entries (biases excluded), as a 0-d device tensor."""
    return sum(torch.sum(layer.weight * layer.weight) for layer in layers)


def train(
    net,
    X,
    y,
    config,
    *,
    generator,
    n_epochs=None,
    n_batches=None,
    sample_weight=None,
    state=None,
    flush_denormal=True,
):
    """Train ``net`` in place with mini-batch SGD or Adam on the softmax cross-entropy.

    Parameters
    ----------
    net : torch.nn.Sequential
        ``[Linear, act, ..., Linear]`` network; its parameters are updated in place.
    X : Tensor of shape (n_samples, n_features)
        Inputs, with the dtype and on the device of ``net``'s parameters.
    y : Tensor of shape (n_samples,), dtype int64
        Class indices, on the same device.
    config : TrainConfig
        Optimiser and loss settings.
    generator : torch.Generator
        CPU generator for the per-epoch permutations; it alone decides the batch order.
    n_epochs : int, default=None
        Number of epochs to run. Exactly one of ``n_epochs`` and ``n_batches`` must be given.
    n_batches : int, default=None
        Number of batches to run, starting new permutations as needed.
    sample_weight : Tensor of shape (n_samples,), default=None
        Per-sample weights; the batch loss is ``sum(w_i l_i) / sum(w_i)``.
    state : OptimizerState, default=None
        State returned by an earlier call, to continue the optimiser; None starts afresh.
    flush_denormal : bool, default=True
        Flush subnormal floats to zero on the calling thread for the duration of the call
        (the previous setting is restored), and on CPU set weights and optimiser-state entries
        below ``2**24`` times the dtype's smallest normal number (about 2e-31 in float32) to
        zero every 32 steps. Adam's moments and L2-shrunk weights of always-zero inputs (blank
        image borders) decay into subnormals within a few hundred steps, which makes each step
        several times slower on x86 CPUs, and the flag covers the calling thread only.

    Returns
    -------
    result : TrainResult
        Losses per epoch, work done, divergence flag and the optimiser state.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sksurgeon._training import TrainConfig, train
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> X, y = torch.randn(100, 4), torch.randint(0, 3, (100,))
    >>> gen = torch.Generator().manual_seed(0)
    >>> res = train(net, X, y, TrainConfig(batch_size=16), generator=gen, n_epochs=2)
    >>> len(res.epoch_losses), res.n_batches, res.n_samples, res.diverged
    (2, 14, 200, False)
    """
    if (n_epochs is None) == (n_batches is None):
        raise ValueError("exactly one of n_epochs and n_batches must be given")
    budget = n_epochs if n_epochs is not None else n_batches
    if int(budget) != budget or budget < 0:
        raise ValueError("n_epochs / n_batches must be a non-negative integer")
    if not isinstance(config, TrainConfig):
        raise TypeError("config must be a TrainConfig")
    layers = _parse_network(net)
    X, y, sample_weight = _check_data(layers, X, y, sample_weight)
    params = _params_in_order(layers)
    if X.shape[0] == 0:
        raise ValueError("X has no samples")
    device = X.device

    restore_ftz = None
    if flush_denormal and device.type == "cpu":
        restore_ftz = _flush_denormal_enabled()
        torch.set_flush_denormal(True)
    try:
        return _train(
            layers,
            X,
            y,
            config,
            generator,
            n_batches,
            budget,
            sample_weight,
            state,
            params,
            flush_tiny=restore_ftz is not None,
        )
    finally:
        if restore_ftz is not None:
            torch.set_flush_denormal(restore_ftz)


def _flush_denormal_enabled():
    """Whether subnormals are currently flushed to zero (torch offers no getter)."""
    tiny = torch.tensor([1e-30], dtype=torch.float32)
    return bool((tiny * 1e-10).item() == 0.0)


#: Weights and optimiser-state entries below this multiple of the dtype's smallest normal
#: number are set to zero every ``_FLUSH_EVERY`` steps. ``torch.set_flush_denormal`` acts on
#: the calling thread only, so with several intra-op threads the others still compute the
#: geometrically decaying Adam moments and L2-shrunk weights of always-zero inputs into
#: subnormals (5,000 of them after 30 epochs of the Large net, and epochs 35 % slower). A
#: value this small needs over 150 steps at beta 0.9 to decay into a subnormal, so flushing
#: every 32 steps keeps them out; the values it zeroes are below 1e-30 in float32.
_FLUSH_FACTOR = 2.0**24
_FLUSH_EVERY = 32


def _flush_tiny(buffers):
    for tensors in buffers:
        for t in tensors:
            if t.is_floating_point():
                t.masked_fill_(t.abs() < torch.finfo(t.dtype).tiny * _FLUSH_FACTOR, 0.0)


def _train(
    layers,
    X,
    y,
    config,
    generator,
    n_batches,
    budget,
    sample_weight,
    state,
    params,
    flush_tiny=False,
):
    n = X.shape[0]
    device = X.device
    B = min(int(config.batch_size), n)
    n_full, rest = divmod(n, B)
    batches_per_epoch = n_full + (rest > 0)
    weighted = sample_weight is not None
    lr = float(config.learning_rate)
    alpha = float(config.alpha)

    with torch.no_grad():
        # Optimiser state: fresh, or checked against the (possibly operated-on) network.
        if not config._stateful:
            if state is not None and not (
                isinstance(state, OptimizerState) and state.solver == "sgd"
            ):
                raise ValueError("state does not belong to a plain-SGD run")
            state = None
        elif state is None:
            n_bufs = 2 if config.solver == "adam" else 1
            state = OptimizerState(
                config.solver,
                0,
                tuple([torch.zeros_like(p) for p in params] for _ in range(n_bufs)),
            )
        else:
            if not isinstance(state, OptimizerState):
                raise ValueError("state must be an OptimizerState returned by train")
            state._check(params, config)

        def workspace(size):
            gscale = 1.0 if weighted else 1.0 / size
            return _Workspace(layers, size, X.shape[1], config._stateful, gscale)

        # The fused Adam kernel reads the step count from a tensor on the parameters' device.
        step_tensors = None
        if config.solver == "adam" and hasattr(torch, "_fused_adam_"):
            step_tensors = [torch.zeros((), device=device, dtype=torch.float32)] * len(params)
        ws_full = workspace(B)
        ws_rest = workspace(rest) if rest else None
        grad_lists = {id(ws_full): _grad_list(ws_full)} if config._stateful else None
        if ws_rest is not None and config._stateful:
            grad_lists[id(ws_rest)] = _grad_list(ws_rest)
        picked = torch.empty(n, 1, device=device, dtype=X.dtype)
        tail_sum = [torch.zeros_like(p) for p in params] if config.average else None

        epoch_losses = []
        done_batches = 0
        n_samples = 0
        diverged = False
        remaining = budget if n_batches is not None else budget * batches_per_epoch
        while remaining > 0 and not diverged:
            perm = torch.randperm(n, generator=generator).to(device)
            n_run = min(remaining, batches_per_epoch)
            if weighted:
                w_perm = sample_weight[perm]
                # Batch weight sums once per epoch (one host sync), so the per-step scalars stay
                # Python floats and the steps themselves never synchronise.
                sw_full = w_perm[: n_full * B].view(n_full, B).sum(1)
                sws = sw_full.tolist() + ([w_perm[n_full * B :].sum().item()] if rest else [])
                sw_rep = torch.tensor(sws, device=device, dtype=X.dtype).repeat_interleave(
                    torch.tensor([B] * n_full + ([rest] if rest else []), device=device)
                )
                w_scaled = torch.where(sw_rep > 0, w_perm / sw_rep, torch.zeros_like(w_perm))
                w_col = w_scaled.view(-1, 1)
            y_col = y.view(-1, 1)
            # A stretch of one step has nothing to average.
            tail_start = n_run // 2 if n_run > 1 else n_run
            for b in range(n_run):
                lo = b * B
                hi = min(lo + B, n)
                ws = ws_full if b < n_full else ws_rest
                if weighted:
                    sw, wcol = sws[b], w_col[lo:hi]
                else:
                    sw, wcol = float(hi - lo), None
                ws.step(X, perm[lo:hi], y_col, picked[lo:hi], wcol, sw, lr, alpha)
                if state is not None:
                    state.step += 1
                    grads = grad_lists[id(ws)]
                    if state.solver == "adam":
                        if not _adam_step(
                            params, grads, *state.buffers, state.step, config, step_tensors
                        ):
                            step_tensors = None
                    else:
                        _sgd_momentum_step(params, grads, state.buffers[0], config)
                    if flush_tiny and state.step % _FLUSH_EVERY == 0:
                        _flush_tiny((params, *state.buffers))
                if tail_sum is not None and b >= tail_start:
                    torch._foreach_add_(tail_sum, params)
            if tail_sum is not None and tail_start < n_run:
                torch._foreach_mul_(tail_sum, 1.0 / (n_run - tail_start))
                # In place: the workspaces hold views of the parameters.
                torch._foreach_copy_(params, tail_sum)
                torch._foreach_zero_(tail_sum)
            seen = min(n, n_run * B)
            if weighted:
                w_seen = w_perm[:seen]
                total_w = float(sum(sws[:n_run]))
                ce = -(picked[:seen, 0] * w_seen).sum() / total_w if total_w > 0 else 0.0
                mean_sw = total_w / n_run
            else:
                ce = -picked[:seen].sum() / seen
                mean_sw = seen / n_run
            l2 = 0.5 * alpha * _l2_sum(layers) / mean_sw if mean_sw > 0 else 0.0
            # The only host synchronisation of the epoch; non-finite weights show up in l2.
            loss = float(ce + l2)
            epoch_losses.append(loss)
            done_batches += n_run
            n_samples += seen
            remaining -= n_run
            if not math.isfinite(loss):
                diverged = True
    return TrainResult(epoch_losses, done_batches, n_samples, diverged, state)


def predict_logits(net, X, *, batch_size=4096):
    """Logits of ``net`` on ``X``, computed in large batches under inference mode.

    Parameters
    ----------
    net : torch.nn.Sequential
        The network.
    X : Tensor of shape (n_samples, n_features)
        Inputs on the network's device.
    batch_size : int, default=4096
        Rows per forward pass; bounds the memory of the intermediate activations.

    Returns
    -------
    logits : Tensor of shape (n_samples, n_classes)

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sksurgeon._training import predict_logits
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> predict_logits(net, torch.randn(10, 4)).shape
    torch.Size([10, 3])
    """
    with torch.inference_mode():
        if X.shape[0] <= batch_size:
            return net(X)
        return torch.cat([net(chunk) for chunk in X.split(batch_size)])


def accuracy(net, X, y, *, sample_weight=None, batch_size=4096):
    """(Weighted) fraction of samples whose arg-max logit equals the label.

    Parameters
    ----------
    net : torch.nn.Sequential
        The network.
    X : Tensor of shape (n_samples, n_features)
        Inputs on the network's device.
    y : Tensor of shape (n_samples,)
        Class indices.
    sample_weight : Tensor of shape (n_samples,), default=None
        Per-sample weights.
    batch_size : int, default=4096
        Rows per forward pass.

    Returns
    -------
    score : float

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sksurgeon._training import accuracy
    >>> net = nn.Sequential(nn.Linear(2, 2))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.eye(2)), net[0].bias.zero_()
    >>> accuracy(net, torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
    0.5
    """
    with torch.inference_mode():
        correct = predict_logits(net, X, batch_size=batch_size).argmax(1) == y
        return _weighted_mean(correct, sample_weight)


def _weighted_mean(values, sample_weight):
    """Mean of ``values`` in float64, weighted by ``sample_weight`` (None: unweighted)."""
    values = values.double()
    if sample_weight is None:
        return float(values.mean())
    w = sample_weight.to(torch.float64)
    return float((values * w).sum() / w.sum())


def validation_scores(net, X, y, *, sample_weight=None, batch_size=4096):
    """(Weighted) accuracy and mean cross-entropy of ``net`` on ``X``, from one forward pass.

    The cross-entropy is the data term of the training loss (no L2 penalty). It is a finer
    measure of progress than the accuracy, which on a small validation set moves in steps of
    one sample and can sit at the majority class's share while the network still learns.

    Parameters
    ----------
    net : torch.nn.Sequential
        The network.
    X : Tensor of shape (n_samples, n_features)
        Inputs on the network's device.
    y : Tensor of shape (n_samples,)
        Class indices.
    sample_weight : Tensor of shape (n_samples,), default=None
        Per-sample weights.
    batch_size : int, default=4096
        Rows per forward pass.

    Returns
    -------
    accuracy : float
    loss : float

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sksurgeon._training import validation_scores
    >>> net = nn.Sequential(nn.Linear(2, 2))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.zero_(), net[0].bias.zero_()
    >>> acc, loss = validation_scores(net, torch.ones(4, 2), torch.tensor([0, 0, 1, 1]))
    >>> round(loss, 4)  # log(2): two equal logits
    0.6931
    """
    with torch.inference_mode():
        logits = predict_logits(net, X, batch_size=batch_size)
        losses = torch.nn.functional.cross_entropy(logits, y, reduction="none")
        return (
            _weighted_mean(logits.argmax(1) == y, sample_weight),
            _weighted_mean(losses, sample_weight),
        )


def loss_and_gradients(net, X, y, config, sample_weight=None):
    """Loss and gradients of the training objective on one batch, by the hand-written backward.

    This runs the same forward and backward code as :func:`train` with ``(X, y)`` as a single
    batch; it exists so that the hand-written gradients can be checked against autograd.

    Parameters
    ----------
    net : torch.nn.Sequential
        The network (not modified).
    X : Tensor of shape (n_samples, n_features)
        The batch.
    y : Tensor of shape (n_samples,), dtype int64
        Class indices.
    config : TrainConfig
        Only ``alpha`` is used.
    sample_weight : Tensor of shape (n_samples,), default=None
        Per-sample weights.

    Returns
    -------
    loss : float
        ``sum(w_i CE_i) / sum(w) + 0.5 * alpha * sum(||W||^2) / sum(w)``.
    gradients : list of Tensor
        Gradients of ``loss``, in the order of ``net.parameters()``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sksurgeon._training import TrainConfig, loss_and_gradients
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> loss, grads = loss_and_gradients(net, torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]),
    ...                                  TrainConfig())
    >>> [tuple(g.shape) for g in grads]
    [(8, 4), (8,), (3, 8), (3,)]
    """
    layers = _parse_network(net)
    X, y, sample_weight = _check_data(layers, X, y, sample_weight)
    n = X.shape[0]
    alpha = float(config.alpha)
    with torch.no_grad():
        picked = torch.empty(n, 1, device=X.device, dtype=X.dtype)
        if sample_weight is None:
            sw, gscale, wcol = float(n), 1.0 / n, None
        else:
            sw = float(sample_weight.sum())
            gscale = 1.0
            wcol = (sample_weight / sw).view(-1, 1) if sw > 0 else torch.zeros_like(picked)
        ws = _Workspace(layers, n, X.shape[1], True, gscale)
        idx = torch.arange(n, device=X.device)
        ws.step(X, idx, y.view(-1, 1), picked, wcol, sw, 0.0, alpha)
        if sample_weight is None:
            ce = -picked.sum() / n
        else:
            ce = -(picked[:, 0] * sample_weight).sum() / sw
        loss = float(ce + 0.5 * alpha * _l2_sum(layers) / sw)
        return loss, [g.clone() for g in _grad_list(ws)]
