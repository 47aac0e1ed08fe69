"""Function-preserving surgery on PyTorch multi-layer perceptrons.

Every operation takes a ``torch.nn.Sequential`` MLP and returns a **new**
``nn.Sequential`` on the same device and with the same dtype. The input network is
never modified and no ``Parameter`` is shared between input and output, so a failed
call (``ValueError``) can never leave a half-modified network behind.

Network convention
------------------
A network is ``nn.Sequential(Linear, act, Linear, act, ..., Linear)``. Hidden layer
``i`` (0-based) is the ``Linear`` at index ``2 * i`` followed by its activation at
index ``2 * i + 1``; the last module is the output ``Linear`` (logits, no activation).
Supported activations are ``nn.ReLU``, ``nn.LeakyReLU`` (any slope), ``nn.Tanh`` and
``nn.Identity``. A hidden ``Linear`` may have no bias (the bottleneck that
:func:`truncate` inserts). A network with zero hidden layers (a single ``Linear``,
i.e. logistic regression) is valid: :func:`remove_layer` can produce it, and every
function that needs a hidden layer raises a ``ValueError`` on it.

Exactness summary (relative output change ``max|f_new(x) - f(x)| / max|f(x)|``, float64)

=================  ===========================================================
operation          exact (up to rounding) when
=================  ===========================================================
identity           always (deep copy)
add_neurons        always with ``noise=0``, for every activation
add_layer          activation idempotent on its range: ReLU, Identity
remove_neurons     ``method="svd"``: Identity activation and
                   ``width - n >= rank([W | b])``;
                   ``method="data"``: dropped units are affine combinations of
                   the kept ones on the sample (exact there; everywhere if the
                   dependence is global, e.g. duplicated units)
remove_layer       the removed layer's activation is Identity
truncate           ``rank = min(out, in)`` of that layer's weight
=================  ===========================================================

This is Net2Net (Chen et al., 2016) plus the SVD-based operations of "Neural network
surgery" (Schiessler et al., 2021), with the algebra errors of the authors' code
fixed.
"""

import copy
import math
import operator
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch
from threadpoolctl import ThreadpoolController
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "build_mlp",
    "check_mlp",
    "hidden_widths",
    "count_parameters",
    "identity",
    "reinitialize",
    "add_neurons",
    "widen",
    "add_layer",
    "remove_neurons",
    "remove_layer",
    "truncate",
    "singular_values",
]

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
}

_ACTIVATION_TYPES = tuple(ACTIVATIONS.values())


# ---------------------------------------------------------------------------
# Internal representation: a list of (weight, bias, activation) triples that the
# operations edit freely, then turn into a brand-new nn.Sequential.
# ---------------------------------------------------------------------------


@dataclass
class _Layer:
    weight: torch.Tensor  # (out, in), detached, owned by this object
    bias: torch.Tensor | None
    act: nn.Module | None  # None for the output layer


def _unpack(net):
    """Detached copies of every layer of a checked network."""
    mods = list(net)
    layers = []
    for k in range(0, len(mods), 2):
        lin = mods[k]
        act = copy.deepcopy(mods[k + 1]) if k + 1 < len(mods) else None
        bias = None if lin.bias is None else lin.bias.detach().clone()
        layers.append(_Layer(lin.weight.detach().clone(), bias, act))
    return layers


def _pack(layers, training=True):
    """Build a new nn.Sequential from _Layer triples without running any init."""
    mods = []
    for layer in layers:
        w = layer.weight
        # Building on the meta device skips nn.Linear's random init, which would cost
        # more than the surgery itself on large layers.
        lin = nn.Linear(w.shape[1], w.shape[0], bias=layer.bias is not None, device="meta")
        lin.weight = nn.Parameter(w.contiguous())
        if layer.bias is not None:
            lin.bias = nn.Parameter(layer.bias.contiguous())
        mods.append(lin)
        if layer.act is not None:
            mods.append(layer.act)
    net = nn.Sequential(*mods)
    net.train(training)
    return net


def _make_activation(activation):
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)} or an instance of "
                f"{[c.__name__ for c in _ACTIVATION_TYPES]}, got {activation!r}"
            )
        return ACTIVATIONS[activation]()
    if isinstance(activation, _ACTIVATION_TYPES):
        return copy.deepcopy(activation)
    raise ValueError(
        f"activation must be one of {sorted(ACTIVATIONS)} or an instance of "
        f"{[c.__name__ for c in _ACTIVATION_TYPES]}, got {activation!r}"
    )


def _check_int(value, name, low, high=None):
    """Return ``value`` as an int, or raise ValueError naming the valid range."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if value < low or (high is not None and value > high):
        rng = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be in {rng}, got {value}")
    return value


def _check_hidden(net, layer, name="layer"):
    """Check the network and the hidden index; return the number of hidden layers."""
    check_mlp(net)
    n_hidden = (len(net) - 1) // 2
    if n_hidden == 0:
        raise ValueError("the network has no hidden layers (it is a single Linear)")
    _check_int(layer, name, 0, n_hidden - 1)
    return n_hidden


def _linalg_dtype(t):
    # LAPACK has no half-precision SVD/QR; work in at least float32.
    return torch.promote_types(t.dtype, torch.float32)


_THREADPOOLS = None


def _single_threaded_blas():
    """Context manager: numpy's and scipy's BLAS/LAPACK on one thread (not torch's).

    The matrices given to numpy/scipy here are small (width x width); several BLAS
    threads then only contend with torch's own thread pool (measured 2-3x slower
    on a 2-core machine), while one thread is as fast as many.
    """
    global _THREADPOOLS
    if _THREADPOOLS is None:
        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=1, user_api="blas")


def _draw(kind, shape, generator, like):
    """Random tensor from ``generator`` (on its own device), then moved next to ``like``.

    Drawing on the generator's device keeps results reproducible whatever device the
    network lives on.
    """
    device = generator.device if generator is not None else torch.device("cpu")
    if kind == "randperm":
        return torch.randperm(shape, generator=generator, device=device).to(like.device)
    if kind == "rand":
        out = torch.rand(shape, generator=generator, device=device, dtype=like.dtype)
    else:
        out = torch.randn(shape, generator=generator, device=device, dtype=like.dtype)
    return out.to(like.device)


# ---------------------------------------------------------------------------
# Construction and inspection
# ---------------------------------------------------------------------------


def build_mlp(
    n_inputs,
    hidden_layer_sizes,
    n_outputs,
    activation="relu",
    *,
    generator=None,
    dtype=torch.float32,
    device=None,
):
    """Build an MLP in the package's ``nn.Sequential`` convention.

    Weights and biases are drawn like ``nn.Linear``'s default initialisation
    (kaiming-uniform with ``a=sqrt(5)``, i.e. ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
    for both), but from ``generator`` so that a seeded generator gives the same
    network on every device.

    Parameters
    ----------
    n_inputs : int
        Number of input features, >= 1.
    hidden_layer_sizes : sequence of int
        Width of each hidden layer, each >= 1. May be empty (a single ``Linear``).
    n_outputs : int
        Number of outputs (logits), >= 1.
    activation : str or nn.Module, default="relu"
        A key of :data:`ACTIVATIONS` or an instance of one of its classes (deep-copied
        for every hidden layer, so e.g. a ``LeakyReLU`` slope is kept).
    generator : torch.Generator, default=None
        Source of randomness; ``None`` uses torch's global generator.
    dtype : torch.dtype, default=torch.float32
    device : torch.device or str, default=None
        ``None`` means CPU.

    Returns
    -------
    net : nn.Sequential
        ``[Linear, act, ..., Linear]``.

    Examples
    --------
    >>> import torch
    >>> from sksurgeon.surgery import build_mlp, hidden_widths
    >>> net = build_mlp(4, [8, 6], 3, "tanh", generator=torch.Generator().manual_seed(0))
    >>> hidden_widths(net)
    [8, 6]
    >>> net(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """
    n_inputs = _check_int(n_inputs, "n_inputs", 1)
    n_outputs = _check_int(n_outputs, "n_outputs", 1)
    widths = [
        _check_int(w, f"hidden_layer_sizes[{i}]", 1) for i, w in enumerate(hidden_layer_sizes)
    ]
    if not torch.empty(0, dtype=dtype).is_floating_point():
        raise ValueError(f"dtype must be a floating point dtype, got {dtype}")
    device = torch.device("cpu") if device is None else torch.device(device)
    like = torch.empty(0, dtype=dtype, device=device)
    gen_device = generator.device if generator is not None else torch.device("cpu")

    sizes = [n_inputs, *widths, n_outputs]
    layers = []
    for k in range(len(sizes) - 1):
        fan_in, fan_out = sizes[k], sizes[k + 1]
        bound = 1.0 / fan_in**0.5
        wb = torch.rand(fan_out, fan_in + 1, generator=generator, device=gen_device, dtype=dtype)
        wb = ((2 * wb - 1) * bound).to(like.device)
        act = _make_activation(activation) if k < len(sizes) - 2 else None
        layers.append(_Layer(wb[:, :fan_in].contiguous(), wb[:, fan_in].contiguous(), act))
    return _pack(layers)


def check_mlp(net):
    """Raise ``ValueError`` unless ``net`` is an MLP in the package's convention.

    Checks: an ``nn.Sequential`` of odd length >= 1; ``nn.Linear`` at even indices
    (initialised, at least one output); a supported activation at odd indices; matching
    feature sizes between consecutive ``Linear``; one floating dtype and one device for
    all parameters; all parameters finite. The message names the offending index.

    Parameters
    ----------
    net : nn.Sequential

    Examples
    --------
    >>> from torch import nn
    >>> from sksurgeon.surgery import check_mlp
    >>> check_mlp(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
    >>> try:
    ...     check_mlp(nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 2)))
    ... except ValueError as e:
    ...     print(e)  # doctest: +ELLIPSIS
    module 1 (Sigmoid) must be an activation of type ...
    """
    if not isinstance(net, nn.Sequential):
        raise ValueError(f"expected an nn.Sequential, got {type(net).__name__}")
    mods = list(net)
    if len(mods) == 0 or len(mods) % 2 == 0:
        raise ValueError(
            f"expected [Linear, act, ..., Linear] of odd length >= 1, got {len(mods)} modules"
        )
    names = [c.__name__ for c in _ACTIVATION_TYPES]
    ref = None
    prev_out = None
    for k, mod in enumerate(mods):
        kind = type(mod).__name__
        if k % 2 == 1:
            if not isinstance(mod, _ACTIVATION_TYPES):
                raise ValueError(f"module {k} ({kind}) must be an activation of type {names}")
            continue
        if not isinstance(mod, nn.Linear):
            raise ValueError(f"module {k} ({kind}) must be an nn.Linear")
        params = [("weight", mod.weight)] + ([("bias", mod.bias)] if mod.bias is not None else [])
        for pname, p in params:
            if isinstance(p, nn.parameter.UninitializedParameter):
                raise ValueError(f"module {k} ({kind}) has an uninitialised {pname}")
            if not p.is_floating_point():
                raise ValueError(f"module {k} ({kind}) {pname} has non-float dtype {p.dtype}")
            if ref is None:
                ref = p
            elif p.dtype != ref.dtype or p.device != ref.device:
                raise ValueError(
                    f"module {k} ({kind}) {pname} is {p.dtype} on {p.device}, the network "
                    f"started with {ref.dtype} on {ref.device}"
                )
            if not bool(torch.isfinite(p.detach()).all()):
                raise ValueError(f"module {k} ({kind}) {pname} contains NaN or inf")
        out_f, in_f = mod.weight.shape
        if out_f < 1 or in_f < 1:
            raise ValueError(f"module {k} ({kind}) has an empty weight of shape {(out_f, in_f)}")
        if prev_out is not None and in_f != prev_out:
            raise ValueError(
                f"module {k} ({kind}) expects {in_f} input features but the previous "
                f"Linear produces {prev_out}"
            )
        prev_out = out_f


def hidden_widths(net):
    """Widths of the hidden layers, in order.

    Examples
    --------
    >>> from sksurgeon.surgery import build_mlp, hidden_widths
    >>> hidden_widths(build_mlp(784, [300, 100, 100], 10))
    [300, 100, 100]
    """
    check_mlp(net)
    return [net[k].out_features for k in range(0, len(net) - 1, 2)]


def count_parameters(net):
    """Number of scalar parameters (weights and biases) of ``net``.

    Examples
    --------
    >>> from sksurgeon.surgery import build_mlp, count_parameters
    >>> count_parameters(build_mlp(784, [300, 100, 100], 10))
    276710
    """
    return sum(p.numel() for p in net.parameters())


def singular_values(net, layer):
    """Singular values of hidden layer ``layer``'s incoming weight, descending.

    Cost: one thin SVD of an ``(out, in)`` matrix, ``O(out * in * min(out, in))``.

    Parameters
    ----------
    net : nn.Sequential
    layer : int
        Hidden index, ``0 <= layer < len(hidden_widths(net))``.

    Returns
    -------
    s : torch.Tensor of shape (min(out, in),)
        On the network's device, in the network's dtype.

    Examples
    --------
    >>> import torch
    >>> from sksurgeon.surgery import build_mlp, singular_values
    >>> net = build_mlp(5, [3], 2, generator=torch.Generator().manual_seed(0))
    >>> singular_values(net, 0).shape
    torch.Size([3])
    """
    _check_hidden(net, layer)
    w = net[2 * layer].weight.detach()
    return torch.linalg.svdvals(w.to(_linalg_dtype(w))).to(w.dtype)


# ---------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------


def identity(net):
    """Return an independent deep copy of ``net`` (the "do nothing" candidate).

    Exactness: identical outputs. Cost: one copy of every parameter.

    Examples
    --------
    >>> import torch
    >>> from sksurgeon.surgery import build_mlp, identity
    >>> net = build_mlp(4, [5], 2)
    >>> twin = identity(net)
    >>> twin[0].weight is net[0].weight, torch.equal(twin[0].weight, net[0].weight)
    (False, True)
    """
    check_mlp(net)
    return copy.deepcopy(net)


def reinitialize(net, *, generator=None):
    """Return a network of ``net``'s architecture with fresh random weights.

    Every layer keeps its shape, its bias (or lack of one) and its activation; weights and
    biases are drawn as :func:`build_mlp` draws them, so the result is what
    :func:`build_mlp` would build from the same generator state for the same widths. This
    is how a topology found by the search is trained from scratch (``refit``).

    Not function-preserving (that is the point). Cost: one draw per parameter.

    Parameters
    ----------
    net : nn.Sequential
    generator : torch.Generator, default=None
        Source of randomness; ``None`` uses torch's global generator.

    Returns
    -------
    new_net : nn.Sequential
        Same device, dtype and training mode as ``net``.

    Examples
    --------
    >>> import torch
    >>> from sksurgeon.surgery import build_mlp, reinitialize, truncate, hidden_widths
    >>> net = truncate(build_mlp(20, [8], 3), 0, 2)
    >>> fresh = reinitialize(net, generator=torch.Generator().manual_seed(0))
    >>> hidden_widths(fresh), fresh[0].bias is None
    ([2, 8], True)
    """
    check_mlp(net)
    layers = _unpack(net)
    gen_device = generator.device if generator is not None else torch.device("cpu")
    for layer in layers:
        fan_out, fan_in = layer.weight.shape
        like = layer.weight
        bound = 1.0 / fan_in**0.5
        # One draw of the bias column even for a bias-free layer keeps the stream aligned
        # with build_mlp's.
        wb = torch.rand(
            fan_out, fan_in + 1, generator=generator, device=gen_device, dtype=like.dtype
        )
        wb = ((2 * wb - 1) * bound).to(like.device)
        layer.weight = wb[:, :fan_in].contiguous()
        if layer.bias is not None:
            layer.bias = wb[:, fan_in].contiguous()
    return _pack(layers, net.training)


def _split_fractions(group_size, split, like):
    if split == "even":
        return torch.full((group_size,), 1.0 / group_size, dtype=like.dtype, device=like.device)
    # Fractions proportional to g, g+1, ..., 2g-1: all distinct (so copies get
    # different gradients and drift apart) and within a factor 2 of each other (so
    # no copy starts nearly switched off).
    ramp = torch.arange(group_size, 2 * group_size, dtype=like.dtype, device=like.device)
    return ramp / ramp.sum()


def _check_sample(X, w):
    """A data sample as a finite 2-D tensor next to the first layer's weight ``w``."""
    if not isinstance(X, torch.Tensor):
        X = torch.as_tensor(np.asarray(X))
    if X.ndim != 2 or X.shape[1] != w.shape[1] or X.shape[0] < 1:
        raise ValueError(f"X must have shape (n_samples >= 1, {w.shape[1]}), got {tuple(X.shape)}")
    X = X.to(device=w.device, dtype=w.dtype)
    if not bool(torch.isfinite(X).all()):
        raise ValueError("X contains NaN or inf")
    return X


def _gradient_directions(net, layer, X, y, sample_weight=None):
    """Unit directions for new units of hidden layer ``layer``, most useful first.

    A new unit with incoming weights ``w`` and zero outgoing weights gets the outgoing
    gradient ``D^T act(H w) / m`` (``H`` the layer's inputs, ``D`` the gradient of the mean
    cross-entropy at the next layer's pre-activation, ``m`` samples); to first order in the
    activation that is ``M w`` with ``M = D^T H / m``, largest along the top right singular
    vectors of ``M``. Returns those with a non-zero singular value, each with the sign under
    which the sample's mean projection on it is not negative. ``sample_weight`` weights
    the cross-entropy as in training, and the mean.
    """
    w = net[0].weight
    X = _check_sample(X, w)
    y = torch.as_tensor(y if isinstance(y, torch.Tensor) else np.asarray(y))
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape ({X.shape[0]},), got {tuple(y.shape)}")
    y = y.to(device=w.device, dtype=torch.long)
    with torch.no_grad():
        h = net[: 2 * layer](X)
        z_next = net[2 * layer : 2 * layer + 3](h)
    # The gradient at z_next alone: the network's parameters get no .grad.
    with torch.enable_grad():
        z_next.requires_grad_(True)
        logits = net[2 * layer + 3 :](z_next)
        if sample_weight is None:
            loss = torch.nn.functional.cross_entropy(logits, y)
        else:
            weight = torch.as_tensor(sample_weight).to(logits.device, logits.dtype)
            losses = torch.nn.functional.cross_entropy(logits, y, reduction="none")
            loss = (losses * weight).sum() / weight.sum()
        (d,) = torch.autograd.grad(loss, z_next)
    m = (d.T @ h).to("cpu", torch.float64) / X.shape[0]
    _, s, vh = torch.linalg.svd(m, full_matrices=False)
    vh = vh[s > s[0] * 1e-6] if s[0] > 0 else vh[:0]
    proj = h.to("cpu", torch.float64) @ vh.T
    if sample_weight is not None:
        sw = torch.as_tensor(sample_weight).to("cpu", torch.float64)
        proj = proj * (sw / sw.mean())[:, None]
    sign = torch.where(proj.mean(0) >= 0, 1.0, -1.0)
    return vh * sign[:, None]


def add_neurons(
    net,
    layer,
    n,
    *,
    noise=1e-3,
    generator=None,
    split="uneven",
    init="copy",
    X=None,
    y=None,
    sample_weight=None,
):
    """Widen hidden layer ``layer`` by ``n`` units, keeping the function.

    ``init="random"`` gives the new units fresh incoming weights and biases, drawn as
    :class:`torch.nn.Linear` draws its own (uniform in ``±1/sqrt(in_features)``), and zero
    outgoing weights: they contribute nothing until training moves their outgoing weights,
    which it does from the first step, and they differ from every existing unit from the
    start. ``noise`` and ``split`` do not apply.

    ``init="gradient"``: as ``"random"``, except that the first units point along the
    directions in which the loss is most sensitive to them, from a data sample ``X`` with
    labels ``y``: for a unit with incoming weights ``w`` and zero outgoing weights, the
    gradient of the mean cross-entropy with respect to its outgoing weights is, to first
    order in the activation, ``M w`` with ``M = D^T H / m`` (``H`` the layer's inputs, ``D``
    the loss gradient at the next layer's pre-activation, ``m`` samples). The top right
    singular vectors of ``M`` maximise it; the new units take them in order, one each, with
    the sign that makes the sample's mean projection on it non-negative (more of the
    sample passes a ReLU), the norm a fresh unit has on average (``sqrt(1/3)``) and zero
    bias. ``M`` has rank at most the next layer's width
    (one less than the number of classes after the last hidden layer, as the softmax
    gradient sums to zero); units beyond its rank are drawn as with ``"random"``. In
    the spirit of GradMax (Evci et al., 2022), which also picks new units by an SVD of
    such a gradient matrix so that they keep the function and learn fast.

    ``init="copy"`` (Net2WiderNet, the paper's operation): ``n`` existing units are
    chosen at random from ``generator``, without replacement when ``n <= width``
    (when ``n > width`` every unit is copied ``n // width`` times and ``n % width``
    of them once more, again at random). Each copy gets the incoming weights and
    bias of its source unit; the source's *outgoing* weights are divided among the
    source and its copies so that they sum to the original. The new units are
    appended after the existing ones.

    Copies that share incoming and outgoing weights receive identical gradients and
    stay identical forever, adding no capacity. Two things break the symmetry:

    * ``split="uneven"`` (default) gives the members of a group the outgoing
      fractions ``g, g+1, ..., 2g-1`` (normalised), ``g`` the group size. This is
      exactly function-preserving, and since each unit's incoming gradient scales
      with its outgoing weight, the copies diverge under training.
    * ``noise > 0`` adds Gaussian noise of standard deviation ``noise * rms(W)`` to
      the copies' incoming weights (``W`` the layer's incoming weight matrix). This
      changes the function slightly, by roughly ``noise`` relative to one unit's
      contribution.

    Exactness: ``init="random"`` and ``"gradient"``: exact for every activation (the new
    units' outgoing weights are zero). ``init="copy"``: exact (rounding only) for every
    activation when ``noise=0``, with either split. Cost: ``O(n * (in + out))`` beyond copying the
    network.

    Parameters
    ----------
    net : nn.Sequential
    layer : int
        Hidden index, ``0 <= layer < len(hidden_widths(net))``.
    n : int
        Number of units to add, >= 1.
    noise : float, default=1e-3
        Relative noise on the copies' incoming weights; 0 disables it.
    generator : torch.Generator, default=None
        Source of randomness for the choice of units and the noise.
    split : {"uneven", "even"}, default="uneven"
        How the outgoing weights are divided. ``"even"`` with ``noise=0`` reproduces
        plain Net2Net, whose copies never diverge.
    init : {"copy", "random", "gradient"}, default="copy"
        Copies of existing units (Net2WiderNet), or fresh units with zero outgoing
        weights, drawn at random or first along the loss gradient.
    X : array-like of shape (n_samples, n_features), default=None
        Network inputs of a data sample; needed by ``init="gradient"`` only.
    y : array-like of shape (n_samples,), default=None
        Their class indices; needed by ``init="gradient"`` only.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the sample's cross-entropy (``init="gradient"``); None weighs all alike.

    Returns
    -------
    new_net : nn.Sequential

    Examples
    --------
    >>> import torch
    >>> from sksurgeon.surgery import build_mlp, add_neurons, hidden_widths
    >>> net = build_mlp(4, [5, 3], 2, "tanh", dtype=torch.float64)
    >>> wide = add_neurons(net, 0, 4, noise=0.0)
    >>> hidden_widths(wide)
    [9, 3]
    >>> x = torch.randn(10, 4, dtype=torch.float64)
    >>> bool((wide(x) - net(x)).abs().max() < 1e-12)
    True
    """
    _check_hidden(net, layer)
    n = _check_int(n, "n", 1)
    noise = float(noise)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite float >= 0, got {noise}")
    if split not in ("uneven", "even"):
        raise ValueError(f"split must be 'uneven' or 'even', got {split!r}")
    if init not in ("copy", "random", "gradient"):
        raise ValueError(f"init must be 'copy', 'random' or 'gradient', got {init!r}")
    if init == "gradient" and (X is None or y is None):
        raise ValueError("init='gradient' needs a data sample X and its labels y")

    directions = (
        _gradient_directions(net, layer, X, y, sample_weight) if init == "gradient" else None
    )
    layers = _unpack(net)
    cur, nxt = layers[layer], layers[layer + 1]
    width = cur.weight.shape[0]
    if init in ("random", "gradient"):
        fan_in = cur.weight.shape[1]
        bound = 1.0 / math.sqrt(fan_in)
        fresh = _draw("rand", (n, fan_in + 1), generator, cur.weight) * (2 * bound) - bound
        if directions is not None and len(directions):
            # One unit per direction (the rest random): a unit and its negation would make
            # the layer's weights rank-deficient, which Eq. 13 reads as removable units.
            signed = directions[:n] * math.sqrt(1.0 / 3.0)
            fresh[: len(signed), :fan_in] = signed.to(fresh.device, fresh.dtype)
            fresh[: len(signed), fan_in] = 0.0
        cur.weight = torch.cat([cur.weight, fresh[:, :fan_in]])
        if cur.bias is not None:
            cur.bias = torch.cat([cur.bias, fresh[:, fan_in]])
        zeros = nxt.weight.new_zeros((nxt.weight.shape[0], n))
        nxt.weight = torch.cat([nxt.weight, zeros], dim=1)
        return _pack(layers, net.training)

    reps, rest = divmod(n, width)
    perm = _draw("randperm", width, generator, cur.weight)
    src = torch.cat([torch.arange(width, device=perm.device).repeat(reps), perm[:rest]])

    new_rows = cur.weight[src]
    if noise > 0:
        rms = cur.weight.pow(2).mean().sqrt()
        new_rows = new_rows + noise * rms * _draw(
            "randn", tuple(new_rows.shape), generator, cur.weight
        )
    cur.weight = torch.cat([cur.weight, new_rows])
    if cur.bias is not None:
        cur.bias = torch.cat([cur.bias, cur.bias[src]])

    # Every unit is copied `reps` times, the first `rest` units of `perm` once more.
    # A group is a unit plus its copies; a member's rank in its group (0 for the
    # original, t for its t-th copy) selects its fraction of the outgoing weights.
    dev = src.device
    owner = torch.cat([torch.arange(width, device=dev), src])
    group = torch.full((width,), reps + 1, device=dev)
    group[perm[:rest]] += 1
    rank = torch.cat(
        [
            torch.zeros(width, dtype=torch.long, device=dev),
            torch.arange(1, reps + 1, device=dev).repeat_interleave(width),
            torch.full((rest,), reps + 1, device=dev),
        ]
    )
    member_group = group[owner]
    frac = torch.empty(width + n, dtype=nxt.weight.dtype, device=nxt.weight.device)
    for g in torch.unique(member_group).tolist():
        members = (member_group == g).to(frac.device)
        frac[members] = _split_fractions(g, split, nxt.weight)[
            rank[members.to(dev)].to(frac.device)
        ]
    nxt.weight = nxt.weight[:, owner] * frac
    return _pack(layers, net.training)


def widen(
    net,
    amounts,
    *,
    noise=1e-3,
    generator=None,
    split="uneven",
    init="copy",
    X=None,
    y=None,
    sample_weight=None,
):
    """Widen every hidden layer at once: layer ``l`` gains ``amounts[l]`` units.

    The composition of :func:`add_neurons` over the hidden layers, first to last, with
    the same options; layers with amount 0 are left as they are. It exists as one
    surgery because a network whose layers are all too narrow gains little from widening
    one of them while the others stay narrow: each is a bottleneck for the rest.

    Exactness: that of :func:`add_neurons` (exact for every activation with
    ``init="random"``, or with ``init="copy"`` and ``noise=0``).

    Parameters
    ----------
    net : nn.Sequential
    amounts : sequence of int
        Units to add per hidden layer, each >= 0, one per hidden layer, not all 0.
    noise, generator, split, init, X, y, sample_weight
        As in :func:`add_neurons` (with ``init="gradient"`` each layer's directions come
        from the network as widened so far).

    Returns
    -------
    new_net : nn.Sequential

    Examples
    --------
    >>> import torch
    >>> from sksurgeon.surgery import build_mlp, widen, hidden_widths
    >>> net = build_mlp(4, [5, 3], 2, dtype=torch.float64)
    >>> wide = widen(net, [2, 4], init="random")
    >>> hidden_widths(wide)
    [7, 7]
    >>> x = torch.randn(10, 4, dtype=torch.float64)
    >>> bool((wide(x) - net(x)).abs().max() < 1e-12)
    True
    """
    n_hidden = _check_hidden(net, 0)
    amounts = [_check_int(a, f"amounts[{i}]", 0) for i, a in enumerate(amounts)]
    if len(amounts) != n_hidden:
        raise ValueError(
            f"amounts must have one entry per hidden layer ({n_hidden}), got {len(amounts)}"
        )
    if not any(amounts):
        raise ValueError("amounts must add at least one unit")
    out = net
    for layer, n in enumerate(amounts):
        if n:
            out = add_neurons(
                out,
                layer,
                n,
                noise=noise,
                generator=generator,
                split=split,
                init=init,
                X=X,
                y=y,
                sample_weight=sample_weight,
            )
    return out


def add_layer(net, layer):
    """Insert a new hidden layer after hidden layer ``layer`` (Net2DeeperNet).

    The new layer has the width of layer ``layer``, identity weights, zero bias and
    a copy of layer ``layer``'s activation (a real nonlinear layer, as in the
    paper's Eq. 3, not a linear re-parametrisation). It becomes hidden layer
    ``layer + 1``.

    Exactness: exact when the activation is idempotent on its range,
    ``act(act(z)) = act(z)``: ReLU and Identity. For LeakyReLU the negative part is
    scaled by the slope once more, for Tanh ``tanh(tanh(z)) != tanh(z)``: the
    function changes, and training has to recover. Cost: ``O(width^2)``.

    Parameters
    ----------
    net : nn.Sequential
    layer : int
        Hidden index, ``0 <= layer < len(hidden_widths(net))``.

    Returns
    -------
    new_net : nn.Sequential

    Examples
    --------
    >>> from sksurgeon.surgery import build_mlp, add_layer, hidden_widths
    >>> hidden_widths(add_layer(build_mlp(4, [5, 3], 2), 0))
    [5, 5, 3]
    """
    _check_hidden(net, layer)
    layers = _unpack(net)
    w = layers[layer].weight
    width = w.shape[0]
    eye = torch.eye(width, dtype=w.dtype, device=w.device)
    zeros = torch.zeros(width, dtype=w.dtype, device=w.device)
    layers.insert(layer + 1, _Layer(eye, zeros, copy.deepcopy(layers[layer].act)))
    return _pack(layers, net.training)


def _orthonormal_basis(u, r):
    """First ``r`` columns of an orthonormal basis of R^m that starts with span(u)."""
    m, k = u.shape
    if r <= k:
        return u[:, :r]
    # Complete the basis; the extra directions are orthogonal to the layer's
    # pre-activations, so the units they create are constant zero.
    q = torch.linalg.qr(u, mode="complete").Q
    return torch.cat([u, q[:, k:r]], dim=1)


def _remove_svd(cur, nxt, keep):
    w = cur.weight
    work = _linalg_dtype(w)
    # SVD of the affine map [W | b]: the bias is the weight of a constant input 1,
    # so the kept subspace accounts for it and the result is exact for a linear
    # activation whenever keep >= rank([W | b]). Projecting b with the U of W alone
    # would drop b's component outside range(W).
    aug = w if cur.bias is None else torch.cat([w, cur.bias[:, None]], dim=1)
    u = torch.linalg.svd(aug.to(work), full_matrices=False).U
    u_r = _orthonormal_basis(u, keep)
    cur.weight = (u_r.T @ w.to(work)).to(w.dtype)
    if cur.bias is not None:
        cur.bias = (u_r.T @ cur.bias.to(work)).to(w.dtype)
    nxt.weight = (nxt.weight.to(work) @ u_r).to(w.dtype)


def _hidden_activations(net, layer, X):
    X = _check_sample(X, net[0].weight)
    with torch.no_grad():
        return net[: 2 * layer + 2](X)


def _remove_data(cur, nxt, keep, h):
    """Keep the most informative units by pivoted QR, refit the next layer by lstsq."""
    # float64 on the CPU: this is small dense linear algebra, and the pivoting and
    # rank decisions below need the precision whatever the network's dtype.
    h = h.detach().to("cpu", torch.float64)
    w_next = nxt.weight.detach().to("cpu", torch.float64)
    has_bias = nxt.bias is not None
    # With a bias the next layer absorbs any constant, so only variation matters.
    mean = h.mean(dim=0) if has_bias else torch.zeros(h.shape[1], dtype=h.dtype)
    hc = h - mean
    # A unit matters in proportion to how much its activation varies *and* to the
    # size of its outgoing weights; pivoted QR greedily picks the units that explain
    # most of what the others leave unexplained: an informative, well-conditioned set.
    scale = torch.linalg.vector_norm(w_next, dim=0)
    a = hc * scale
    # a = q0 @ r0 with orthonormal q0, so pivoted QR of the small r0 (width x width)
    # picks the same columns as pivoted QR of a (n_samples x width), much faster.
    r0 = torch.linalg.qr(a, mode="r").R
    q1, r1, piv = scipy.linalg.qr(r0.numpy(), mode="economic", pivoting=True)
    kept = piv[:keep]

    # Least squares hc[:, kept] @ coef ~= hc @ w_next.T, from the same factorisation:
    # a[:, piv] = q0 @ q1 @ r1, and hc @ w_next.T = a @ m with m = w_next.T / scale
    # (a unit with zero outgoing weights contributes nothing, hence 0 for 1/0).
    # Kept units beyond the numerical rank are affine combinations of earlier ones;
    # they get zero outgoing weight (the basic solution).
    diag = np.abs(np.diag(r1))[: min(keep, r1.shape[0])]
    tol = max(h.shape) * np.finfo(np.float64).eps * (diag[0] if diag.size else 0.0)
    n_eff = int(np.count_nonzero(diag > tol))
    coef = np.zeros((keep, w_next.shape[0]))
    if n_eff:
        inv_scale = torch.where(scale > 0, 1.0 / scale, torch.zeros_like(scale))
        m = (r0 @ (w_next.T * inv_scale[:, None])).numpy()
        rhs = q1[:, :n_eff].T @ m
        coef[:n_eff] = scipy.linalg.solve_triangular(r1[:n_eff, :n_eff], rhs)
        coef[:n_eff] /= inv_scale.numpy()[kept[:n_eff], None]

    order = np.argsort(kept)  # keep the surviving units in their original order
    kept, coef = kept[order], coef[order]
    like = nxt.weight
    if has_bias:
        shift = mean.numpy() @ w_next.numpy().T - mean.numpy()[kept] @ coef
        nxt.bias = nxt.bias + torch.from_numpy(shift).to(like.device, like.dtype)
    nxt.weight = torch.from_numpy(np.ascontiguousarray(coef.T)).to(like.device, like.dtype)

    kept = torch.from_numpy(kept).to(cur.weight.device)
    cur.weight = cur.weight[kept]
    if cur.bias is not None:
        cur.bias = cur.bias[kept]


def remove_neurons(net, layer, n, *, method="svd", X=None):
    """Remove ``n`` units from hidden layer ``layer`` with the least change in behaviour.

    ``method="svd"`` (the paper's projection, done right): with the thin SVD
    ``[W | b] = U S V^T`` of the layer's affine map and ``U_r`` its first
    ``r = width - n`` left singular vectors, the new layer computes
    ``U_r^T (W x + b)`` (weights ``S_r V_r^T``, bias ``U_r^T b``) and the next layer's
    weight becomes ``W_next U_r``. Without a bias this is exactly the SVD of ``W``.
    Taking the bias into the SVD is what makes it exact at full rank; if
    ``r > min(width, in + 1)`` the basis is completed with directions orthogonal to
    every pre-activation (those units are constant zero).

    * Exactness: exact for an Identity activation when ``r >= rank([W | b])``. For a
      nonlinear activation it is *not* function-preserving even at full rank (the
      activation acts on rotated coordinates); the change can be large.
    * Cost: one thin SVD, ``O(width * in * min(width, in))``.

    ``method="data"`` (data-aware): computes the layer's activations ``H`` on the
    sample ``X``, keeps the ``r`` units chosen by column-pivoted QR of the centred
    ``H`` (columns scaled by the norm of their outgoing weights), leaves their
    incoming weights untouched and refits the next layer's weight and bias by least
    squares so that ``W_next' h_keep + b_next' ~= W_next h + b_next`` on the sample.

    * Exactness: exact on the sample when the dropped units' activations are affine
      combinations of the kept ones' there (e.g. dead, constant or duplicated
      units). Off the sample it is exact when that dependence holds everywhere
      (duplicates, units dead for every input); a ReLU-family unit that merely looks affine in the
      others on a sample that never exercises its kink may be dropped instead, so
      use a representative sample. Otherwise the least-squares optimum for the
      chosen units on the sample; on held-out data usually far smaller than the SVD
      method's change under ReLU (see benchmarks/results/surgery.md).
    * Cost: a forward pass of ``X`` up to the layer plus ``O(n_samples * width^2)``
      for the pivoted QR and least squares (done in float64 on the CPU).

    Parameters
    ----------
    net : nn.Sequential
    layer : int
        Hidden index, ``0 <= layer < len(hidden_widths(net))``.
    n : int
        Number of units to remove, ``1 <= n <= width - 1``.
    method : {"svd", "data"}, default="svd"
    X : torch.Tensor or array-like of shape (n_samples, n_inputs), default=None
        Network inputs, a sample of the training data; required for ``"data"``
        (moved to the network's device and dtype), ignored by ``"svd"``.

    Returns
    -------
    new_net : nn.Sequential

    Examples
    --------
    >>> import torch
    >>> from sksurgeon.surgery import build_mlp, remove_neurons, hidden_widths
    >>> net = build_mlp(4, [6, 3], 2, generator=torch.Generator().manual_seed(0))
    >>> hidden_widths(remove_neurons(net, 0, 2))
    [4, 3]
    >>> X = torch.randn(50, 4)
    >>> hidden_widths(remove_neurons(net, 0, 2, method="data", X=X))
    [4, 3]
    """
    _check_hidden(net, layer)
    width = net[2 * layer].out_features
    if width < 2:
        raise ValueError(f"hidden layer {layer} has a single unit; no unit can be removed")
    n = _check_int(n, "n", 1, width - 1)
    if method not in ("svd", "data"):
        raise ValueError(f"method must be 'svd' or 'data', got {method!r}")
    if method == "data" and X is None:
        raise ValueError("method='data' needs X, a sample of network inputs")
    h = _hidden_activations(net, layer, X) if method == "data" else None

    layers = _unpack(net)
    if method == "svd":
        _remove_svd(layers[layer], layers[layer + 1], width - n)
    else:
        with _single_threaded_blas():
            _remove_data(layers[layer], layers[layer + 1], width - n, h)
    return _pack(layers, net.training)


def remove_layer(net, layer):
    """Remove hidden layer ``layer`` by merging it into the next ``Linear``.

    ``W' = W_next W``, ``b' = W_next b + b_next`` (a missing bias counts as zero;
    the result has a bias unless both were missing). The removed layer's activation
    is dropped; the next layer keeps its own. Removing the last hidden layer merges
    it into the output layer; removing the only hidden layer leaves a single
    ``Linear`` (logistic regression), which :func:`add_neurons`, :func:`add_layer`
    and the other layer-wise operations then reject with ``ValueError``.

    Exactness: exact when the removed activation is Identity. Otherwise the output
    change of the next pre-activation is bounded by
    ``||W_next||_2 * ||act(z) - z||_2`` (for ReLU, ``|act(z) - z| = max(-z, 0)``).
    Cost: one ``(out_next, width) x (width, in)`` product. The merged layer can have
    *more* parameters than the two it replaces (e.g. removing a bottleneck).

    Parameters
    ----------
    net : nn.Sequential
    layer : int
        Hidden index, ``0 <= layer < len(hidden_widths(net))``.

    Returns
    -------
    new_net : nn.Sequential

    Examples
    --------
    >>> from sksurgeon.surgery import build_mlp, remove_layer, hidden_widths
    >>> hidden_widths(remove_layer(build_mlp(4, [5, 3], 2), 0))
    [3]
    """
    _check_hidden(net, layer)
    layers = _unpack(net)
    cur, nxt = layers[layer], layers[layer + 1]
    weight = nxt.weight @ cur.weight
    if cur.bias is None:
        bias = nxt.bias
    else:
        bias = nxt.weight @ cur.bias
        if nxt.bias is not None:
            bias = bias + nxt.bias
    layers[layer : layer + 2] = [_Layer(weight, bias, nxt.act)]
    return _pack(layers, net.training)


def truncate(net, layer, rank):
    """Factor hidden layer ``layer``'s weight through a rank-``rank`` bottleneck.

    With the thin SVD ``W = U S V^T`` of the layer's ``(out, in)`` weight, a linear,
    bias-free hidden layer of ``rank`` units (weight ``S_r V_r^T``, Identity
    activation) is inserted as hidden layer ``layer``; the original layer becomes
    hidden layer ``layer + 1`` with weight ``U_r``, keeping its bias and activation.
    ``U_r S_r V_r^T`` is the best rank-``rank`` approximation of ``W`` (Eckart-Young).

    Exactness: exact at full rank, ``rank = min(out, in)`` (allowed so that this is
    testable, although it adds parameters). Otherwise the layer's pre-activation
    changes by ``(W - W_r) x`` with ``||W - W_r||_2 = s[rank]`` and
    ``||W - W_r||_F^2 = sum(s[rank:]**2)``, ``s`` the singular values.
    Parameters drop from ``out * in`` to ``rank * (out + in)``.
    Cost: one thin SVD, ``O(out * in * min(out, in))``.

    Parameters
    ----------
    net : nn.Sequential
    layer : int
        Hidden index, ``0 <= layer < len(hidden_widths(net))``.
    rank : int
        ``1 <= rank <= min(out, in)`` of that layer's weight.

    Returns
    -------
    new_net : nn.Sequential

    Examples
    --------
    >>> from sksurgeon.surgery import build_mlp, truncate, hidden_widths
    >>> hidden_widths(truncate(build_mlp(784, [300, 100], 10), 0, 20))
    [20, 300, 100]
    """
    _check_hidden(net, layer)
    out_f, in_f = net[2 * layer].weight.shape
    rank = _check_int(rank, "rank", 1, min(out_f, in_f))
    layers = _unpack(net)
    cur = layers[layer]
    w = cur.weight
    u, s, vh = torch.linalg.svd(w.to(_linalg_dtype(w)), full_matrices=False)
    bottleneck = (s[:rank, None] * vh[:rank]).to(w.dtype)
    cur.weight = u[:, :rank].to(w.dtype)
    layers.insert(layer, _Layer(bottleneck, None, nn.Identity()))
    return _pack(layers, net.training)
