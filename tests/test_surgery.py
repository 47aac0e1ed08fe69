"""Tests for sksurgeon.surgery: exactness, independence from the input, bad input."""

import copy

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

from sksurgeon import surgery as S

TOL = {torch.float64: 1e-10, torch.float32: 1e-4}
ACTS = ["relu", "leaky_relu", "tanh", "identity"]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
fast = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny matrices: one thread is as fast, and immune to a busy shared machine
    (measured: brief digits training 0.3 s with 1 thread, 4.6 s with 2 under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_act(name, slope):
    return nn.LeakyReLU(slope) if name == "leaky_relu" else S.ACTIVATIONS[name]()


@st.composite
def mlps(draw, acts=ACTS, min_depth=1, max_depth=4, max_width=10, dtypes=None):
    """A random MLP, plus a seed for everything random that goes with it."""
    n_in = draw(st.integers(1, 6))
    widths = draw(st.lists(st.integers(1, max_width), min_size=min_depth, max_size=max_depth))
    n_out = draw(st.integers(1, 4))
    act = make_act(draw(st.sampled_from(acts)), draw(st.floats(0.01, 0.5)))
    dtype = draw(st.sampled_from(dtypes or [torch.float32, torch.float64]))
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    net = S.build_mlp(n_in, widths, n_out, act, generator=gen, dtype=dtype)
    return net, seed


def inputs(net, n=64, seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed + 1)
    w = net[0].weight
    return (scale * torch.randn(n, w.shape[1], generator=g, dtype=torch.float64)).to(w)


def rel_change(new, old, x):
    """max|f_new(x) - f(x)| / max|f(x)| (denominator floored so tiny outputs don't blow up)."""
    with torch.no_grad():
        fo, fn = old(x), new(x)
    return ((fn - fo).abs().max() / fo.abs().max().clamp_min(1e-3)).item()


def tol(net):
    return TOL[net[0].weight.dtype]


def snapshot(net):
    return copy.deepcopy(net.state_dict()), [type(m) for m in net]


def assert_untouched(net, snap):
    state, types = snap
    assert [type(m) for m in net] == types
    now = net.state_dict()
    assert now.keys() == state.keys()
    for k in state:
        assert torch.equal(now[k], state[k]), k


def assert_independent(new, old):
    old_ptrs = {p.data_ptr() for p in old.parameters()}
    assert not any(p.data_ptr() in old_ptrs for p in new.parameters())
    old_ids = {id(m) for m in old.modules()}
    assert not any(id(m) in old_ids for m in new.modules())


def expected_params(n_in, widths, n_out, biasless=()):
    sizes = [n_in, *widths, n_out]
    return sum(
        sizes[k] * sizes[k + 1] + (0 if k in biasless else sizes[k + 1])
        for k in range(len(sizes) - 1)
    )


def n_hidden(net):
    return (len(net) - 1) // 2


# --------------------------------------------------------------------------- build/inspect


def test_build_mlp_shapes_and_init_like_torch():
    g = torch.Generator().manual_seed(0)
    net = S.build_mlp(784, [300, 100, 100], 10, generator=g)
    assert S.hidden_widths(net) == [300, 100, 100]
    assert S.count_parameters(net) == expected_params(784, [300, 100, 100], 10) == 276710
    assert [type(m) for m in net] == [nn.Linear, nn.ReLU] * 3 + [nn.Linear]
    # nn.Linear's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
    bound = 1 / np.sqrt(784)
    w, b = net[0].weight, net[0].bias
    assert w.abs().max() <= bound and b.abs().max() <= bound
    assert w.abs().max() > 0.95 * bound
    assert abs(w.mean().item()) < 0.05 * bound
    S.check_mlp(net)


def test_build_mlp_reproducible_dtype_and_activation_copies():
    a = S.build_mlp(3, [4, 5], 2, "tanh", generator=torch.Generator().manual_seed(7))
    b = S.build_mlp(3, [4, 5], 2, "tanh", generator=torch.Generator().manual_seed(7))
    c = S.build_mlp(3, [4, 5], 2, "tanh", generator=torch.Generator().manual_seed(8))
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb)
        assert not torch.equal(pa, pc)
    act = nn.LeakyReLU(0.3)
    net = S.build_mlp(3, [4, 5], 2, act, dtype=torch.float64)
    assert net[1] is not act and net[1] is not net[3]
    assert net[1].negative_slope == net[3].negative_slope == 0.3
    assert all(p.dtype == torch.float64 for p in net.parameters())
    assert len(S.build_mlp(3, [], 2)) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(activation="sigmoid"),
        dict(activation=nn.Sigmoid()),
        dict(hidden_layer_sizes=[3, 0]),
        dict(n_inputs=0),
        dict(n_outputs=0),
        dict(dtype=torch.int64),
    ],
)
def test_build_mlp_rejects_bad_arguments(kwargs):
    args = dict(n_inputs=3, hidden_layer_sizes=[4], n_outputs=2) | kwargs
    with pytest.raises(ValueError):
        S.build_mlp(**args)


@given(mlps())
@fast
def test_singular_values_thin_and_descending(case):
    net, seed = case
    for i in range(n_hidden(net)):
        s = S.singular_values(net, i)
        w = net[2 * i].weight.detach()
        assert s.shape == (min(w.shape),)
        assert s.dtype == w.dtype
        assert torch.all(s[:-1] >= s[1:])
        torch.testing.assert_close(s, torch.linalg.svdvals(w))


# --------------------------------------------------------------------------- exactness table


@given(mlps())
@fast
def test_identity_is_an_exact_independent_copy(case):
    net, seed = case
    snap = snapshot(net)
    new = S.identity(net)
    assert rel_change(new, net, inputs(net, seed=seed)) == 0.0
    assert_independent(new, net)
    assert_untouched(net, snap)


@given(mlps(), st.data())
@fast
def test_add_neurons_exact_without_noise(case, data):
    net, seed = case
    layer = data.draw(st.integers(0, n_hidden(net) - 1))
    n = data.draw(st.integers(1, 25))  # also > width: units copied several times
    split = data.draw(st.sampled_from(["uneven", "even"]))
    snap = snapshot(net)
    g = torch.Generator().manual_seed(seed)
    new = S.add_neurons(net, layer, n, noise=0.0, generator=g, split=split)

    widths = S.hidden_widths(net)
    widths[layer] += n
    assert S.hidden_widths(new) == widths
    assert S.count_parameters(new) == expected_params(net[0].in_features, widths, len_out(net))
    assert rel_change(new, net, inputs(net, seed=seed)) <= tol(net)
    # Every new unit is a copy of an existing one: same incoming weights and bias.
    old_w, new_w = net[2 * layer].weight, new[2 * layer].weight
    m = old_w.shape[0]
    torch.testing.assert_close(new_w[:m], old_w, rtol=0, atol=0)
    for row in new_w[m:]:
        assert (old_w == row).all(dim=1).any()
    assert_independent(new, net)
    assert_untouched(net, snap)


def len_out(net):
    return net[-1].out_features


@given(mlps(), st.data())
@fast
def test_add_neurons_random_init_exact_and_fresh(case, data):
    net, seed = case
    layer = data.draw(st.integers(0, n_hidden(net) - 1))
    n = data.draw(st.integers(1, 25))
    snap = snapshot(net)
    # seed + 1: the net was built from `seed`, and the same stream would redraw its rows
    g = torch.Generator().manual_seed(seed + 1)
    new = S.add_neurons(net, layer, n, generator=g, init="random")

    widths = S.hidden_widths(net)
    widths[layer] += n
    assert S.hidden_widths(new) == widths
    assert S.count_parameters(new) == expected_params(net[0].in_features, widths, len_out(net))
    # Exact for every activation: the new units' outgoing weights are zero.
    assert rel_change(new, net, inputs(net, seed=seed)) <= tol(net)
    cur, nxt = new[2 * layer], new[2 * layer + 2]
    m, fan_in = net[2 * layer].weight.shape
    assert torch.equal(nxt.weight[:, m:], torch.zeros_like(nxt.weight[:, m:]))
    torch.testing.assert_close(cur.weight[:m], net[2 * layer].weight, rtol=0, atol=0)
    fresh = cur.weight[m:]
    bound = 1 / fan_in**0.5
    assert fresh.abs().max() <= bound
    if cur.bias is not None:
        assert cur.bias[m:].abs().max() <= bound
    # Fresh units, not copies: no new row equals an existing one.
    assert not any((net[2 * layer].weight == row).all(dim=1).any() for row in fresh)
    assert_independent(new, net)
    assert_untouched(net, snap)


@given(mlps(), st.data())
@fast
def test_widen_is_add_neurons_on_every_layer(case, data):
    net, seed = case
    h = n_hidden(net)
    amounts = data.draw(st.lists(st.integers(0, 12), min_size=h, max_size=h))
    assume(any(amounts))
    init = data.draw(st.sampled_from(["random", "copy", "gradient"]))
    x, y = inputs(net, seed=seed), _labels(net, seed=seed)
    snap = snapshot(net)
    new = S.widen(
        net,
        amounts,
        noise=0.0,
        init=init,
        generator=torch.Generator().manual_seed(seed + 1),
        X=x,
        y=y,
    )

    widths = [w + a for w, a in zip(S.hidden_widths(net), amounts, strict=True)]
    assert S.hidden_widths(new) == widths
    assert S.count_parameters(new) == expected_params(net[0].in_features, widths, len_out(net))
    # Exact for every activation: a composition of exact add_neurons steps.
    assert rel_change(new, net, inputs(net, seed=seed)) <= tol(net)
    # The same draws in the same order as add_neurons layer by layer.
    g = torch.Generator().manual_seed(seed + 1)
    step = net
    for layer, a in enumerate(amounts):
        if a:
            step = S.add_neurons(step, layer, a, noise=0.0, init=init, generator=g, X=x, y=y)
    for p, q in zip(new.parameters(), step.parameters(), strict=True):
        assert torch.equal(p, q)
    assert_independent(new, net)
    assert_untouched(net, snap)


def _labels(net, n=64, seed=0):
    g = torch.Generator().manual_seed(seed + 2)
    return torch.randint(0, net[-1].out_features, (n,), generator=g)


def _gradient_matrix(net, layer, x, y):
    """D^T H / m, computed independently: H the layer's inputs, D the loss gradient at the
    next layer's pre-activation."""
    lin, nxt = net[2 * layer], net[2 * layer + 2]
    h = net[: 2 * layer](x) if layer else x
    z = nxt(net[2 * layer + 1](lin(h))).detach().requires_grad_(True)
    loss = nn.functional.cross_entropy(net[2 * layer + 3 :](z), y)
    (d,) = torch.autograd.grad(loss, z)
    return (d.T @ h.detach()).double() / x.shape[0]


@given(mlps(), st.data())
@fast
def test_add_neurons_gradient_init_exact_and_along_the_gradient(case, data):
    net, seed = case
    layer = data.draw(st.integers(0, n_hidden(net) - 1))
    n = data.draw(st.integers(1, 25))
    x, y = inputs(net, seed=seed), _labels(net, seed=seed)
    snap = snapshot(net)
    g = torch.Generator().manual_seed(seed + 1)
    new = S.add_neurons(net, layer, n, generator=g, init="gradient", X=x, y=y)

    widths = S.hidden_widths(net)
    widths[layer] += n
    assert S.hidden_widths(new) == widths
    # Exact for every activation: the new units' outgoing weights are zero.
    assert rel_change(new, net, x) <= tol(net)
    cur, nxt = new[2 * layer], new[2 * layer + 2]
    m, fan_in = net[2 * layer].weight.shape
    assert torch.equal(nxt.weight[:, m:], torch.zeros_like(nxt.weight[:, m:]))
    torch.testing.assert_close(cur.weight[:m], net[2 * layer].weight, rtol=0, atol=0)
    # The first units are orthogonal directions of norm sqrt(1/3) in the row space of the
    # gradient matrix; units beyond its rank are drawn as init="random" draws them.
    mat = _gradient_matrix(net, layer, x, y)
    s = torch.linalg.svdvals(mat)
    rank = int((s > s[0] * 1e-6).sum()) if s[0] > 0 else 0
    k = min(n, rank)
    fresh = cur.weight[m:].detach().double()
    gram = fresh[:k] @ fresh[:k].T
    torch.testing.assert_close(gram, torch.eye(k, dtype=gram.dtype) / 3, atol=1e-4, rtol=0)
    if k:
        # ||M w|| for the first unit is the largest any direction of that norm reaches.
        assert torch.linalg.vector_norm(mat @ fresh[0]) >= s[0] / 3**0.5 * (1 - 1e-3)
        if cur.bias is not None:
            assert torch.equal(cur.bias[m : m + k], torch.zeros_like(cur.bias[m : m + k]))
    if k < n:
        assert fresh[k:].abs().max() <= 1 / fan_in**0.5
    assert_independent(new, net)
    assert_untouched(net, snap)
    assert all(p.grad is None for p in net.parameters())


def test_add_neurons_gradient_init_outgrows_random_units():
    """Fresh units along the gradient get more outgoing gradient than random ones: the
    point of the init (identity activation, where the first-order argument is exact)."""
    net = S.build_mlp(8, [3], 4, "identity", generator=torch.Generator().manual_seed(0))
    x = torch.randn(256, 8, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 4, (256,), generator=torch.Generator().manual_seed(2))
    norms = {}
    for init in ("gradient", "random"):
        new = S.add_neurons(
            net, 0, 1, init=init, X=x, y=y, generator=torch.Generator().manual_seed(3)
        )
        rows = new[0].weight[3:].detach()
        new[0].weight.data[3:] = rows / rows.norm() / 3**0.5  # the same norm for both
        loss = nn.functional.cross_entropy(new(x), y)
        (grad,) = torch.autograd.grad(loss, new[2].weight)
        norms[init] = grad[:, 3].norm().item()
    assert norms["gradient"] > 1.5 * norms["random"]


def test_add_neurons_gradient_init_weighs_the_sample_like_training():
    net = S.build_mlp(6, [5], 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x, y = inputs(net, n=40), _labels(net, n=40)

    def fresh(**kw):
        g = torch.Generator().manual_seed(1)
        return S.add_neurons(net, 0, 2, init="gradient", generator=g, **kw)[0].weight[5:]

    unweighted = fresh(X=x, y=y)
    torch.testing.assert_close(fresh(X=x, y=y, sample_weight=torch.full((40,), 2.0)), unweighted)
    # Zero weight on the second half: the directions of the first half alone.
    half = torch.cat([torch.ones(20), torch.zeros(20)]).double()
    torch.testing.assert_close(fresh(X=x, y=y, sample_weight=half), fresh(X=x[:20], y=y[:20]))
    assert not torch.allclose(fresh(X=x, y=y, sample_weight=half), unweighted)


def test_add_neurons_random_init_learns_from_the_first_steps():
    """Fresh units get outgoing gradient at once and incoming gradient right after."""
    net = S.build_mlp(5, [6, 4], 3, "relu", generator=torch.Generator().manual_seed(3))
    new = S.add_neurons(net, 0, 4, init="random", generator=torch.Generator().manual_seed(0))
    trained = _train(copy.deepcopy(new))
    assert trained[2].weight[:, 6:].detach().abs().max() > 1e-4
    assert (trained[0].weight[6:] - new[0].weight[6:]).detach().abs().max() > 1e-4


@given(mlps(dtypes=[torch.float64]), st.integers(1, 8))
@fast
def test_add_neurons_noise_is_small_but_real(case, n):
    net, seed = case
    g = torch.Generator().manual_seed(seed)
    new = S.add_neurons(net, 0, n, generator=g)  # default noise
    m = net[0].out_features
    copies = new[0].weight[m:]
    assert not any((net[0].weight == row).all(dim=1).any() for row in copies)
    assert rel_change(new, net, inputs(net, seed=seed)) < 0.05


def test_add_neurons_reproducible_with_generator():
    net = S.build_mlp(4, [6], 2, generator=torch.Generator().manual_seed(0))
    a = S.add_neurons(net, 0, 3, generator=torch.Generator().manual_seed(1))
    b = S.add_neurons(net, 0, 3, generator=torch.Generator().manual_seed(1))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


@given(mlps(), st.data())
@fast
def test_add_layer(case, data):
    net, seed = case
    layer = data.draw(st.integers(0, n_hidden(net) - 1))
    snap = snapshot(net)
    new = S.add_layer(net, layer)
    widths = S.hidden_widths(net)
    assert S.hidden_widths(new) == widths[: layer + 1] + [widths[layer]] + widths[layer + 1 :]
    assert S.count_parameters(new) == S.count_parameters(net) + widths[layer] * (widths[layer] + 1)
    # A real nonlinear layer: the same activation as the layer it follows.
    inserted = new[2 * layer + 3]
    assert type(inserted) is type(net[2 * layer + 1])
    assert inserted is not net[2 * layer + 1]
    change = rel_change(new, net, inputs(net, seed=seed))
    if isinstance(inserted, (nn.ReLU, nn.Identity)):
        assert change <= tol(net)
    assert_independent(new, net)
    assert_untouched(net, snap)


def test_add_layer_not_exact_for_tanh_as_documented():
    net = S.build_mlp(3, [5], 2, "tanh", generator=torch.Generator().manual_seed(0))
    net = net.double()
    with torch.no_grad():
        net[0].weight.mul_(5)  # saturate tanh so tanh(tanh(z)) visibly differs
    assert rel_change(S.add_layer(net, 0), net, inputs(net)) > 1e-3


def _low_rank_layer(net, layer, rank, seed, bias_in_range):
    """Replace hidden layer `layer`'s weight by a random rank-`rank` matrix."""
    g = torch.Generator().manual_seed(seed)
    lin = net[2 * layer]
    out_f, in_f = lin.weight.shape
    a = torch.randn(out_f, rank, generator=g, dtype=torch.float64)
    b = torch.randn(rank, in_f, generator=g, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(a @ b / np.sqrt(in_f))
        if bias_in_range:
            lin.bias.copy_(a @ torch.randn(rank, generator=g, dtype=torch.float64) / 4)


@given(mlps(acts=["identity"], max_width=12), st.data())
@fast
def test_remove_neurons_svd_exact_for_identity_at_full_rank(case, data):
    net, seed = case
    layer = data.draw(st.integers(0, n_hidden(net) - 1))
    width = net[2 * layer].out_features
    # Full rank: keep as many units as the rank of the affine map [W | b].
    rank = data.draw(st.integers(1, min(net[2 * layer].in_features, width)))
    bias_in_range = data.draw(st.booleans())
    keep = rank if bias_in_range else rank + 1
    assume(width - keep >= 1)
    net = copy.deepcopy(net)
    _low_rank_layer(net, layer, rank, seed, bias_in_range)
    snap = snapshot(net)
    new = S.remove_neurons(net, layer, width - keep)
    widths = S.hidden_widths(net)
    widths[layer] = keep
    assert S.hidden_widths(new) == widths
    assert S.count_parameters(new) == expected_params(net[0].in_features, widths, len_out(net))
    assert rel_change(new, net, inputs(net, seed=seed)) <= tol(net)
    assert_independent(new, net)
    assert_untouched(net, snap)


@given(mlps(acts=["identity"], max_width=12, dtypes=[torch.float64]), st.data())
@fast
def test_remove_neurons_svd_below_full_rank_is_best_rank_r(case, data):
    """Identity activation, fewer units than the rank: the change is the projection."""
    net, seed = case
    layer = data.draw(st.integers(0, n_hidden(net) - 1))
    lin = net[2 * layer]
    width = lin.out_features
    assume(width >= 2)
    n = data.draw(st.integers(1, width - 1))
    new = S.remove_neurons(net, layer, n)
    # The new pre-activations, mapped back by U_r, are the best rank-r approximation
    # of the affine map [W | b] (Eckart-Young): residual = dropped singular values.
    aug = torch.cat([lin.weight, lin.bias[:, None]], 1).detach()
    u, s, _ = torch.linalg.svd(aug, full_matrices=False)
    r = width - n
    u_r = u[:, :r] if r <= u.shape[1] else None
    if u_r is not None:
        new_aug = torch.cat([new[2 * layer].weight, new[2 * layer].bias[:, None]], 1).detach()
        resid = torch.linalg.matrix_norm(aug - u_r @ new_aug)
        torch.testing.assert_close(resid, s[r:].pow(2).sum().sqrt(), rtol=1e-8, atol=1e-10)


@given(mlps(), st.data())
@fast
def test_remove_neurons_data_exact_for_duplicated_units(case, data):
    net, seed = case
    layer = data.draw(st.integers(0, n_hidden(net) - 1))
    n = data.draw(st.integers(1, 6))
    split = data.draw(st.sampled_from(["uneven", "even"]))
    g = torch.Generator().manual_seed(seed)
    wide = S.add_neurons(net, layer, n, noise=0.0, generator=g, split=split)
    X = inputs(net, n=200, seed=seed + 5)
    snap = snapshot(wide)
    new = S.remove_neurons(wide, layer, n, method="data", X=X)
    assert S.hidden_widths(new) == S.hidden_widths(net)
    # Copies are affine combinations of kept units: nothing is lost on the sample.
    assert rel_change(new, net, X) <= tol(net)
    # Off the sample too, unless a piecewise-linear unit happened to be affine in the
    # others on every sample point (then it may be dropped instead of a copy).
    if isinstance(net[1], (nn.Tanh, nn.Identity)):
        assert rel_change(new, net, inputs(net, seed=seed)) <= 10 * tol(net)
    assert_independent(new, wide)
    assert_untouched(wide, snap)


@given(mlps(max_width=12), st.data())
@fast
def test_remove_neurons_data_is_least_squares_optimal(case, data):
    """On the sample, the refit next layer beats the untouched next layer restricted to
    the same units, and the data method never produces NaN."""
    net, seed = case
    layer = data.draw(st.integers(0, n_hidden(net) - 1))
    width = net[2 * layer].out_features
    assume(width >= 2)
    n = data.draw(st.integers(1, width - 1))
    X = inputs(net, n=data.draw(st.integers(1, 80)), seed=seed)
    new = S.remove_neurons(net, layer, n, method="data", X=X)
    assert S.hidden_widths(new)[layer] == width - n
    assert all(torch.isfinite(p).all() for p in new.parameters())
    with torch.no_grad():
        h = net[: 2 * layer + 2](X)
        target = net[2 * layer + 2](h)
        # Which units survived: their incoming rows are unchanged.
        kept = [
            int(torch.nonzero((net[2 * layer].weight == row).all(dim=1))[0])
            for row in new[2 * layer].weight
        ]
        got = new[2 * layer + 2](h[:, kept])
        naive = h[:, kept] @ net[2 * layer + 2].weight[:, kept].T + net[2 * layer + 2].bias
    assert (got - target).norm() <= (naive - target).norm() * (1 + 1e-4) + 1e-5


@given(mlps(), st.data())
@fast
def test_remove_layer(case, data):
    net, seed = case
    layer = data.draw(st.integers(0, n_hidden(net) - 1))
    linear = data.draw(st.booleans())
    net = copy.deepcopy(net)
    if linear:
        net[2 * layer + 1] = nn.Identity()
    snap = snapshot(net)
    new = S.remove_layer(net, layer)
    widths = S.hidden_widths(net)
    del widths[layer]
    assert S.hidden_widths(new) == widths
    assert S.count_parameters(new) == expected_params(net[0].in_features, widths, len_out(net))
    x = inputs(net, seed=seed)
    if linear:
        assert rel_change(new, net, x) <= tol(net)
    if layer == n_hidden(net) - 1:
        # Bounded: the output moves by at most ||W_out||_2 * ||act(z) - z||_2.
        with torch.no_grad():
            z = net[: 2 * layer + 1](x)
            gap = (net[2 * layer + 1](z) - z).norm(dim=1)
            bound = torch.linalg.matrix_norm(net[-1].weight, ord=2) * gap
            change = (new(x) - net(x)).norm(dim=1)
        assert torch.all(change <= bound * (1 + tol(net)) + tol(net))
    assert_independent(new, net)
    assert_untouched(net, snap)


def test_remove_only_hidden_layer_gives_logistic_regression():
    net = S.build_mlp(4, [6], 3, "identity", dtype=torch.float64)
    new = S.remove_layer(net, 0)
    assert len(new) == 1 and isinstance(new[0], nn.Linear)
    assert S.hidden_widths(new) == []
    assert rel_change(new, net, inputs(net)) <= 1e-10
    for op in (
        lambda m: S.add_neurons(m, 0, 1),
        lambda m: S.widen(m, [1]),
        lambda m: S.add_layer(m, 0),
        lambda m: S.remove_neurons(m, 0, 1),
        lambda m: S.remove_layer(m, 0),
        lambda m: S.truncate(m, 0, 1),
        lambda m: S.singular_values(m, 0),
    ):
        with pytest.raises(ValueError, match="no hidden layers"):
            op(new)
    assert rel_change(S.identity(new), new, inputs(net)) == 0


@given(mlps(), st.data())
@fast
def test_truncate(case, data):
    net, seed = case
    layer = data.draw(st.integers(0, n_hidden(net) - 1))
    lin = net[2 * layer]
    full = min(lin.weight.shape)
    rank = data.draw(st.integers(1, full))
    snap = snapshot(net)
    new = S.truncate(net, layer, rank)
    widths = S.hidden_widths(net)
    assert S.hidden_widths(new) == widths[:layer] + [rank] + widths[layer:]
    assert S.count_parameters(new) == expected_params(
        net[0].in_features, S.hidden_widths(new), len_out(net), biasless={layer}
    )
    bottleneck, act = new[2 * layer], new[2 * layer + 1]
    assert bottleneck.bias is None and isinstance(act, nn.Identity)
    assert type(new[2 * layer + 3]) is type(net[2 * layer + 1])
    torch.testing.assert_close(new[2 * layer + 2].bias, lin.bias, rtol=0, atol=0)
    # The product is the best rank-r approximation: error = dropped singular values.
    s = torch.linalg.svdvals(lin.weight.detach().double())
    product = (new[2 * layer + 2].weight @ bottleneck.weight).detach().double()
    err = lin.weight.detach().double() - product
    t = 1e-9 if lin.weight.dtype == torch.float64 else 1e-4
    scale = s[0].item()
    assert abs(torch.linalg.matrix_norm(err).item() - s[rank:].norm().item()) <= t * scale
    spec = torch.linalg.matrix_norm(err, ord=2).item()
    assert abs(spec - (s[rank].item() if rank < full else 0.0)) <= t * scale
    if rank == full:
        assert rel_change(new, net, inputs(net, seed=seed)) <= tol(net)
    assert_independent(new, net)
    assert_untouched(net, snap)


def test_operations_compose_on_a_bottleneck():
    """The bias-free Identity bottleneck that truncate makes is a normal hidden layer."""
    net = S.build_mlp(6, [8, 5], 3, dtype=torch.float64, generator=torch.Generator())
    t = S.truncate(net, 0, 6)  # full rank: exact
    x = inputs(net)
    assert rel_change(S.add_neurons(t, 0, 3, noise=0.0), net, x) <= 1e-10
    assert rel_change(S.add_layer(t, 0), net, x) <= 1e-10
    assert rel_change(S.remove_layer(t, 0), net, x) <= 1e-10  # Identity activation
    # Removing a unit of the full-rank bottleneck loses a direction: not exact, but
    # the bottleneck stays bias-free.
    assert S.remove_neurons(t, 0, 1)[0].bias is None
    d = S.remove_neurons(S.add_neurons(t, 1, 2, noise=0.0), 1, 2, method="data", X=x)
    assert rel_change(d, net, x) <= 1e-10
    assert S.hidden_widths(S.remove_neurons(t, 1, 2, method="data", X=x)) == [6, 6, 5]
    # A layer whose *next* Linear is the bias-free bottleneck: no bias to refit.
    t2 = S.truncate(net, 1, 5)
    assert t2[2].bias is None and rel_change(t2, net, x) <= 1e-10
    wide = S.add_neurons(t2, 0, 3, noise=0.0)
    d2 = S.remove_neurons(wide, 0, 3, method="data", X=x.numpy())  # array-like X
    assert d2[2].bias is None and rel_change(d2, net, x) <= 1e-10
    assert S.remove_neurons(t2, 0, 2)[2].bias is None


# --------------------------------------------------------------------------- symmetry breaking


def _train(net, steps=20, seed=0, lr=0.1):
    g = torch.Generator().manual_seed(seed)
    n_in, n_out = net[0].in_features, net[-1].out_features
    x = torch.randn(64, n_in, generator=g, dtype=net[0].weight.dtype)
    y = torch.randn(64, n_out, generator=g, dtype=net[0].weight.dtype)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.mse_loss(net(x), y).backward()
        opt.step()
    return net


def _copy_gaps(net, new, layer):
    """Distance between each new unit's incoming row and the row of its source unit."""
    old_w = net[2 * layer].weight.detach()
    m = old_w.shape[0]
    w = new[2 * layer].weight.detach()
    gaps = []
    for k in range(m, w.shape[0]):
        src = int(torch.cdist(old_w, w[k : k + 1]).argmin())
        gaps.append((src, k))
    return gaps


@pytest.mark.parametrize("act", ["tanh", "identity", "relu", "leaky_relu"])
@pytest.mark.parametrize("split,noise", [("uneven", 0.0), ("even", 1e-3), ("uneven", 1e-3)])
def test_split_copies_diverge_under_sgd(act, split, noise):
    net = S.build_mlp(5, [6, 4], 3, act, generator=torch.Generator().manual_seed(3))
    new = S.add_neurons(net, 0, 4, noise=noise, split=split, generator=torch.Generator())
    pairs = _copy_gaps(net, new, 0)
    trained = _train(copy.deepcopy(new))
    w = trained[0].weight.detach()
    gaps = torch.tensor([(w[a] - w[b]).norm().item() for a, b in pairs])
    if act == "relu":
        # A unit dead on every training input gets no gradient at all; the others split.
        assert gaps.max() > 1e-4
    else:
        assert gaps.min() > 1e-4


def test_even_split_without_noise_never_diverges():
    """Plain Net2Net: the failure mode the uneven split exists for (the test can fail)."""
    net = S.build_mlp(5, [6, 4], 3, "tanh", generator=torch.Generator().manual_seed(3))
    new = S.add_neurons(net, 0, 4, noise=0.0, split="even", generator=torch.Generator())
    pairs = _copy_gaps(net, new, 0)
    w = _train(copy.deepcopy(new))[0].weight.detach()
    assert max((w[a] - w[b]).norm().item() for a, b in pairs) < 1e-12


# --------------------------------------------------------------------------- digits: data vs svd


@pytest.fixture(scope="module")
def digits_net():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16.0, dtype=torch.float32)
    y = torch.tensor(y)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0)
    torch.manual_seed(0)
    net = S.build_mlp(64, [300, 100, 100], 10, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(6):  # epochs of minibatch training: brief, but well above chance
        for idx in torch.randperm(len(Xtr)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(net(Xtr[idx]), ytr[idx]).backward()
            opt.step()
    with torch.no_grad():
        acc = (net(Xte).argmax(1) == yte).float().mean().item()
    assert acc > 0.9
    return net, Xtr, Xte


@pytest.mark.parametrize("layer,frac", [(0, 0.1), (0, 0.5), (1, 0.5), (2, 0.1), (2, 0.5)])
def test_data_aware_drift_no_worse_than_svd_on_digits(digits_net, layer, frac):
    net, Xtr, Xte = digits_net
    n = int(frac * S.hidden_widths(net)[layer])
    svd = S.remove_neurons(net, layer, n, method="svd")
    data = S.remove_neurons(net, layer, n, method="data", X=Xtr[:500])
    assert rel_change(data, net, Xte) <= rel_change(svd, net, Xte)


# --------------------------------------------------------------------------- bad input


def _net():
    return S.build_mlp(4, [5, 3], 2, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    "op,match",
    [
        (lambda m: S.add_neurons(m, 2, 1), r"layer must be in \[0, 1\], got 2"),
        (lambda m: S.add_neurons(m, -1, 1), r"\[0, 1\]"),
        (lambda m: S.add_neurons(m, True, 1), "integer"),
        (lambda m: S.add_neurons(m, 0.0, 1), "integer"),
        (lambda m: S.add_neurons(m, 0, 0), r"n must be in"),
        (lambda m: S.add_neurons(m, 0, 1, noise=-1.0), "noise"),
        (lambda m: S.add_neurons(m, 0, 1, noise=float("nan")), "noise"),
        (lambda m: S.add_neurons(m, 0, 1, split="odd"), "split"),
        (lambda m: S.add_neurons(m, 0, 1, init="zeros"), "init must be 'copy', 'random' or"),
        (lambda m: S.add_neurons(m, 0, 1, init="gradient"), "needs a data sample X and"),
        (
            lambda m: S.add_neurons(m, 0, 1, init="gradient", X=torch.ones(3, 4), y=[0, 1]),
            r"y must have shape \(3,\)",
        ),
        (lambda m: S.widen(m, [1]), "one entry per hidden layer"),
        (lambda m: S.widen(m, [0, 0]), "at least one unit"),
        (lambda m: S.widen(m, [2, -1]), r"amounts\[1\] must be in"),
        (lambda m: S.add_layer(m, 2), r"\[0, 1\]"),
        (lambda m: S.remove_neurons(m, 0, 5), r"n must be in \[1, 4\], got 5"),
        (lambda m: S.remove_neurons(m, 1, 0), r"n must be in \[1, 2\]"),
        (lambda m: S.remove_neurons(m, 3, 1), r"\[0, 1\]"),
        (lambda m: S.remove_neurons(m, 0, 1, method="random"), "method"),
        (lambda m: S.remove_neurons(m, 0, 1, method="data"), "needs X"),
        (lambda m: S.remove_neurons(m, 0, 1, method="data", X=torch.ones(3, 5)), r"\(n_samples"),
        (lambda m: S.remove_neurons(m, 0, 1, method="data", X=torch.ones(0, 4)), r"\(n_samples"),
        (
            lambda m: S.remove_neurons(m, 0, 1, method="data", X=torch.full((3, 4), np.nan)),
            "NaN",
        ),
        (lambda m: S.remove_layer(m, 2), r"\[0, 1\]"),
        (lambda m: S.truncate(m, 0, 0), r"rank must be in \[1, 4\], got 0"),
        (lambda m: S.truncate(m, 1, 4), r"rank must be in \[1, 3\], got 4"),
        (lambda m: S.truncate(m, 5, 1), r"\[0, 1\]"),
        (lambda m: S.singular_values(m, 2), r"\[0, 1\]"),
    ],
)
def test_bad_arguments_raise_and_leave_input_alone(op, match):
    net = _net()
    snap = snapshot(net)
    with pytest.raises(ValueError, match=match):
        op(net)
    assert_untouched(net, snap)


def test_single_unit_layer_cannot_lose_units():
    net = S.build_mlp(4, [1, 3], 2)
    with pytest.raises(ValueError, match="single unit"):
        S.remove_neurons(net, 0, 1)


def _with(net, index, module):
    net = copy.deepcopy(net)
    net[index] = module
    return net


def _nan_weight():
    net = _net()
    with torch.no_grad():
        net[2].weight[0, 0] = float("nan")
    return net


def _inf_bias():
    net = _net()
    with torch.no_grad():
        net[4].bias[1] = float("inf")
    return net


@pytest.mark.parametrize(
    "bad,match",
    [
        (nn.ModuleList([nn.Linear(2, 2)]), "nn.Sequential"),
        (nn.Sequential(), "odd length"),
        (nn.Sequential(nn.Linear(2, 3), nn.ReLU()), "odd length"),
        (_with(_net(), 1, nn.Sigmoid()), r"module 1 \(Sigmoid\)"),
        (_with(_net(), 2, nn.ReLU()), r"module 2 \(ReLU\) must be an nn.Linear"),
        (_with(_net(), 2, nn.Linear(4, 3)), r"module 2 .* expects 4 input features"),
        (_with(_net(), 4, nn.Linear(3, 2).double()), r"module 4 .*float64"),
        (_with(_net(), 0, nn.LazyLinear(5)), r"module 0 .*uninitialised"),
        (_nan_weight(), r"module 2 \(Linear\) weight contains NaN or inf"),
        (_inf_bias(), r"module 4 \(Linear\) bias contains NaN or inf"),
    ],
)
def test_check_mlp_names_the_offending_module(bad, match):
    with pytest.raises(ValueError, match=match):
        S.check_mlp(bad)
    for op in (
        S.identity,
        S.hidden_widths,
        lambda m: S.add_neurons(m, 0, 1),
        lambda m: S.widen(m, [1, 1]),
        lambda m: S.add_layer(m, 0),
        lambda m: S.remove_neurons(m, 0, 1),
        lambda m: S.remove_layer(m, 0),
        lambda m: S.truncate(m, 0, 1),
    ):
        with pytest.raises(ValueError):
            op(bad)


# --------------------------------------------------------------------------- dtype / device


def _all_ops(net, X):
    return {
        "identity": S.identity(net),
        "add_neurons": S.add_neurons(net, 0, 3),
        "widen": S.widen(net, [2, 3]),
        "add_layer": S.add_layer(net, 1),
        "remove_svd": S.remove_neurons(net, 0, 2),
        "remove_data": S.remove_neurons(net, 1, 2, method="data", X=X),
        "remove_layer": S.remove_layer(net, 0),
        "truncate": S.truncate(net, 0, 3),
    }


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_device_dtype_and_mode_preserved(dtype):
    net = S.build_mlp(6, [7, 5], 3, generator=torch.Generator().manual_seed(0), dtype=dtype)
    net.eval()
    X = torch.randn(30, 6)  # float32 on purpose: converted to the network's dtype
    for name, new in _all_ops(net, X).items():
        assert all(p.dtype == dtype for p in new.parameters()), name
        assert all(p.requires_grad for p in new.parameters()), name
        assert not new.training, name
        S.check_mlp(new)
        assert new(X.to(dtype)).shape == (30, 3)


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_operations(dtype):
    dev = torch.device("cuda")
    g = torch.Generator().manual_seed(0)
    net = S.build_mlp(6, [7, 5], 3, "tanh", generator=g, dtype=dtype, device=dev)
    g = torch.Generator().manual_seed(0)
    cpu = S.build_mlp(6, [7, 5], 3, "tanh", generator=g, dtype=dtype)
    # Drawn on the generator's device: the same network whatever the target device.
    assert torch.equal(net[0].weight.cpu(), cpu[0].weight)
    X = torch.randn(40, 6, device=dev)
    x = inputs(net)
    t = TOL[dtype] * 10
    for name, new in _all_ops(net, X.cpu()).items():
        assert all(p.device.type == "cuda" and p.dtype == dtype for p in new.parameters()), name
    assert rel_change(S.add_neurons(net, 0, 3, noise=0.0), net, x) <= t
    assert rel_change(S.truncate(net, 0, 6), net, x) <= t
    assert rel_change(S.identity(net), net, x) == 0
    wide = S.add_neurons(net, 1, 2, noise=0.0, generator=torch.Generator(device=dev))
    new = S.remove_neurons(wide, 1, 2, method="data", X=X)
    assert rel_change(new, net, X.to(dtype)) <= t
    assert S.singular_values(net, 0).device.type == "cuda"


# --------------------------------------------------------------------------- reinitialize


@given(mlps(), st.data())
@fast
def test_reinitialize_is_build_mlp_of_the_same_architecture(case, data):
    net, seed = case
    other = data.draw(st.integers(0, 2**31 - 1))
    if data.draw(st.booleans()):
        # A truncated layer: bias-free, Identity activation, mixed with the others.
        layer = data.draw(st.integers(0, n_hidden(net) - 1))
        out_f, in_f = net[2 * layer].weight.shape
        net = S.truncate(net, layer, data.draw(st.integers(1, min(out_f, in_f))))
    snap = snapshot(net)
    fresh = S.reinitialize(net, generator=torch.Generator().manual_seed(other))
    assert_untouched(net, snap)
    assert_independent(fresh, net)
    assert [type(m) for m in fresh] == [type(m) for m in net]
    for new, old in zip(fresh, net, strict=True):
        if isinstance(old, nn.Linear):
            assert new.weight.shape == old.weight.shape
            assert new.weight.dtype == old.weight.dtype
            assert (new.bias is None) == (old.bias is None)
            bound = old.in_features**-0.5
            assert new.weight.abs().max() <= bound
        elif isinstance(old, nn.LeakyReLU):
            assert new.negative_slope == old.negative_slope
    if all(m.bias is not None for m in net if isinstance(m, nn.Linear)):
        # Same draws as build_mlp from the same generator state.
        act = copy.deepcopy(net[1]) if len(net) > 1 else "relu"
        built = S.build_mlp(
            net[0].in_features,
            S.hidden_widths(net),
            net[-1].out_features,
            act,
            generator=torch.Generator().manual_seed(other),
            dtype=net[0].weight.dtype,
        )
        for a, b in zip(fresh.parameters(), built.parameters(), strict=True):
            assert torch.equal(a, b)
    with torch.no_grad():
        assert not torch.equal(fresh(inputs(net)), net(inputs(net))) or other == seed
