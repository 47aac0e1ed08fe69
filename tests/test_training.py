"""Tests of the hand-written training engine against autograd and torch.optim."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sksurgeon._training import (
    OptimizerState,
    TrainConfig,
    accuracy,
    loss_and_gradients,
    predict_logits,
    train,
    validation_scores,
)

ACTIVATIONS = {
    "relu": lambda: nn.ReLU(),
    "leaky": lambda: nn.LeakyReLU(0.1),
    "leaky_neg": lambda: nn.LeakyReLU(-0.3),
    "leaky_zero": lambda: nn.LeakyReLU(0.0),
    "tanh": lambda: nn.Tanh(),
    "identity": lambda: nn.Identity(),
}

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def make_net(act="relu", bias=True, sizes=(6, 9, 5, 4), dtype=torch.float64, seed=0, device="cpu"):
    torch.manual_seed(seed)
    mods = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        last = i == len(sizes) - 2
        # bias=False exercises the bias-free bottleneck on the middle hidden layer.
        mods.append(nn.Linear(a, b, bias=bias or last or i != 1))
        if not last:
            mods.append(ACTIVATIONS[act]())
    return nn.Sequential(*mods).to(device=device, dtype=dtype)


def make_data(n=23, d=6, k=4, dtype=torch.float64, seed=1, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=dtype).to(device)
    y = torch.randint(0, k, (n,), generator=g).to(device)
    w = torch.rand(n, generator=g, dtype=dtype).to(device)
    return X, y, w


def autograd_loss(net, X, y, alpha, sample_weight=None):
    """scikit-learn's MLP objective written with autograd-friendly torch ops."""
    losses = F.cross_entropy(net(X), y, reduction="none")
    sw = X.new_tensor(len(y)) if sample_weight is None else sample_weight.sum()
    data = losses.sum() / sw if sample_weight is None else (losses * sample_weight).sum() / sw
    l2 = sum((m.weight**2).sum() for m in net if isinstance(m, nn.Linear))
    return data + 0.5 * alpha * l2 / sw


@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradients_match_autograd(act, bias, weighted):
    net = make_net(act, bias)
    X, y, w = make_data()
    sw = w if weighted else None
    config = TrainConfig(alpha=0.37)
    loss, grads = loss_and_gradients(net, X, y, config, sample_weight=sw)
    ref = autograd_loss(net, X, y, 0.37, sw)
    ref_grads = torch.autograd.grad(ref, list(net.parameters()))
    assert loss == pytest.approx(ref.item(), abs=1e-12)
    assert len(grads) == len(ref_grads)
    for g, r in zip(grads, ref_grads, strict=True):
        assert g.shape == r.shape
        torch.testing.assert_close(g, r, atol=1e-10, rtol=0)


def test_loss_and_gradients_leaves_net_unchanged():
    net = make_net()
    before = [p.clone() for p in net.parameters()]
    X, y, _ = make_data()
    loss_and_gradients(net, X, y, TrainConfig())
    for p, q in zip(net.parameters(), before, strict=True):
        assert torch.equal(p, q)


def _torch_optimizer_run(net, X, y, opt, config, n_steps, sample_weight=None):
    """Reference: autograd + torch.optim on the same batches as ``train`` would draw."""
    gen = torch.Generator().manual_seed(5)
    n, B = len(y), config.batch_size
    steps = 0
    while steps < n_steps:
        perm = torch.randperm(n, generator=gen)
        for lo in range(0, n, B):
            if steps == n_steps:
                break
            idx = perm[lo : lo + B]
            sw = None if sample_weight is None else sample_weight[idx]
            opt.zero_grad()
            autograd_loss(net, X[idx], y[idx], config.alpha, sw).backward()
            opt.step()
            steps += 1


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_steps", [1, 5])
def test_sgd_matches_torch_optim(weighted, n_steps):
    X, y, w = make_data(n=23)
    sw = w if weighted else None
    config = TrainConfig(solver="sgd", learning_rate=0.1, batch_size=7, alpha=0.05)
    net, ref = make_net(), make_net()
    res = train(
        net,
        X,
        y,
        config,
        generator=torch.Generator().manual_seed(5),
        n_batches=n_steps,
        sample_weight=sw,
    )
    assert res.n_batches == n_steps and res.state is None and not res.diverged
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    _torch_optimizer_run(ref, X, y, opt, config, n_steps, sw)
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-12, rtol=0)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_matches_torch_optim(nesterov):
    X, y, _ = make_data(n=23)
    config = TrainConfig(
        solver="sgd", learning_rate=0.1, batch_size=7, alpha=0.01, momentum=0.9, nesterov=nesterov
    )
    net, ref = make_net("tanh"), make_net("tanh")
    gen = torch.Generator().manual_seed(5)
    # Two calls carrying the state must equal one uninterrupted torch.optim run.
    res = train(net, X, y, config, generator=gen, n_batches=3)
    res = train(net, X, y, config, generator=gen, n_batches=3, state=res.state)
    assert res.state.step == 6
    opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9, nesterov=nesterov)
    _torch_optimizer_run_split(ref, X, y, opt, config, [3, 3])
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-12, rtol=0)


def _torch_optimizer_run_split(net, X, y, opt, config, chunks):
    """Like _torch_optimizer_run, but each chunk starts a new permutation, as train calls do."""
    gen = torch.Generator().manual_seed(5)
    n, B = len(y), config.batch_size
    for n_steps in chunks:
        steps = 0
        while steps < n_steps:
            perm = torch.randperm(n, generator=gen)
            for lo in range(0, n, B):
                if steps == n_steps:
                    break
                idx = perm[lo : lo + B]
                opt.zero_grad()
                autograd_loss(net, X[idx], y[idx], config.alpha).backward()
                opt.step()
                steps += 1


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_adam_matches_torch_optim(dtype):
    X, y, w = make_data(n=23, dtype=dtype)
    config = TrainConfig(solver="adam", learning_rate=0.01, batch_size=7, alpha=0.02)
    net, ref = make_net("leaky", dtype=dtype), make_net("leaky", dtype=dtype)
    res = train(net, X, y, config, generator=torch.Generator().manual_seed(5), n_batches=6)
    assert isinstance(res.state, OptimizerState) and res.state.step == 6
    opt = torch.optim.Adam(ref.parameters(), lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    _torch_optimizer_run(ref, X, y, opt, config, 6)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=tol, rtol=0)


def test_foreach_adam_fallback_matches_fused(monkeypatch):
    import sksurgeon._training as tr

    X, y, _ = make_data(n=23)
    config = TrainConfig(solver="adam", learning_rate=0.01, batch_size=7)
    a, b = make_net(), make_net()
    train(a, X, y, config, generator=torch.Generator().manual_seed(3), n_epochs=2)
    monkeypatch.delattr(tr.torch, "_fused_adam_", raising=False)
    train(b, X, y, config, generator=torch.Generator().manual_seed(3), n_epochs=2)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-12, rtol=0)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_deterministic_given_seed(solver):
    X, y, w = make_data(n=50, dtype=torch.float32)
    config = TrainConfig(solver=solver, learning_rate=0.05, batch_size=8, momentum=0.5)
    nets = [make_net(dtype=torch.float32) for _ in range(2)]
    for net in nets:
        train(
            net,
            X,
            y,
            config,
            generator=torch.Generator().manual_seed(11),
            n_epochs=3,
            sample_weight=w,
        )
    for p, q in zip(*(net.parameters() for net in nets), strict=True):
        assert torch.equal(p, q)
    other = make_net(dtype=torch.float32)
    train(
        other,
        X,
        y,
        config,
        generator=torch.Generator().manual_seed(12),
        n_epochs=3,
        sample_weight=w,
    )
    assert not all(
        torch.equal(p, q) for p, q in zip(nets[0].parameters(), other.parameters(), strict=True)
    )


def test_epoch_accounting_and_partial_batches():
    X, y, _ = make_data(n=23)
    net = make_net()
    config = TrainConfig(solver="sgd", learning_rate=0.01, batch_size=10)
    res = train(net, X, y, config, generator=torch.Generator().manual_seed(0), n_epochs=2)
    assert res.n_batches == 6 and res.n_samples == 46 and len(res.epoch_losses) == 2
    res = train(net, X, y, config, generator=torch.Generator().manual_seed(0), n_batches=4)
    # 3 batches fill the first epoch, the 4th starts a new permutation.
    assert res.n_batches == 4 and res.n_samples == 33 and len(res.epoch_losses) == 2
    res = train(net, X, y, TrainConfig(batch_size=1000), generator=torch.Generator(), n_epochs=1)
    assert res.n_batches == 1 and res.n_samples == 23


def test_epoch_loss_is_sklearn_loss_at_fixed_weights():
    # With a tiny learning rate the weights barely move, so the epoch loss must equal the
    # objective evaluated on the whole data set (batch = n).
    X, y, w = make_data(n=30)
    net = make_net()
    config = TrainConfig(solver="sgd", learning_rate=1e-12, batch_size=30, alpha=0.5)
    ref = autograd_loss(net, X, y, 0.5, w).item()
    res = train(net, X, y, config, generator=torch.Generator(), n_epochs=1, sample_weight=w)
    assert res.epoch_losses[0] == pytest.approx(ref, rel=1e-9)


def test_training_reduces_loss():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(300, 6, generator=g)
    y = (X[:, 0] + X[:, 1] > 0).long() + (X[:, 2] > 1).long()
    net = make_net(dtype=torch.float32, sizes=(6, 16, 8, 3))
    config = TrainConfig(solver="adam", learning_rate=0.01, batch_size=32)
    res = train(net, X, y, config, generator=g, n_epochs=30)
    assert res.epoch_losses[-1] < 0.5 * res.epoch_losses[0]
    assert accuracy(net, X, y) > 0.85


def test_too_high_learning_rate_diverges_without_raising():
    X, y, _ = make_data(n=64, dtype=torch.float32)
    X = X * 100
    net = make_net(dtype=torch.float32)
    config = TrainConfig(solver="sgd", learning_rate=1e6, batch_size=8)
    res = train(net, X, y, config, generator=torch.Generator().manual_seed(0), n_epochs=50)
    assert res.diverged
    assert not math.isfinite(res.epoch_losses[-1])
    assert len(res.epoch_losses) < 50


def test_state_rejected_after_shape_change():
    X, y, _ = make_data()
    config = TrainConfig(solver="adam")
    net = make_net()
    res = train(net, X, y, config, generator=torch.Generator(), n_batches=2)
    wider = make_net(sizes=(6, 10, 5, 4))
    with pytest.raises(ValueError, match="does not match"):
        train(wider, X, y, config, generator=torch.Generator(), n_batches=1, state=res.state)
    with pytest.raises(ValueError, match="solver"):
        train(
            net,
            X,
            y,
            TrainConfig(solver="sgd", momentum=0.9),
            generator=torch.Generator(),
            n_batches=1,
            state=res.state,
        )
    # Fresh state after surgery works.
    assert not train(wider, X, y, config, generator=torch.Generator(), n_batches=1).diverged


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"n_epochs": 1, "n_batches": 1}],
)
def test_exactly_one_budget(kwargs):
    X, y, _ = make_data()
    with pytest.raises(ValueError, match="exactly one"):
        train(make_net(), X, y, TrainConfig(), generator=torch.Generator(), **kwargs)


def test_input_validation():
    X, y, _ = make_data()
    net = make_net()
    g = torch.Generator()
    with pytest.raises(ValueError, match="dtype"):
        train(net, X.float(), y, TrainConfig(), generator=g, n_epochs=1)
    with pytest.raises(ValueError, match="int64"):
        train(net, X, y.int(), TrainConfig(), generator=g, n_epochs=1)
    with pytest.raises(ValueError, match="activation"):
        train(
            nn.Sequential(nn.Linear(6, 3), nn.Sigmoid(), nn.Linear(3, 4)).double(),
            X,
            y,
            TrainConfig(),
            generator=g,
            n_epochs=1,
        )
    with pytest.raises(ValueError, match="solver"):
        TrainConfig(solver="lbfgs")


def test_predict_logits_and_accuracy():
    X, y, w = make_data(n=50)
    net = make_net()
    logits = predict_logits(net, X, batch_size=7)
    with torch.no_grad():
        torch.testing.assert_close(logits, net(X))
    pred = logits.argmax(1)
    assert accuracy(net, X, y, batch_size=7) == pytest.approx((pred == y).double().mean().item())
    expected = ((pred == y).double() * w).sum() / w.sum()
    assert accuracy(net, X, y, sample_weight=w) == pytest.approx(expected.item())


def test_validation_scores_are_accuracy_and_cross_entropy():
    X, y, w = make_data(n=50)
    net = make_net()
    acc, loss = validation_scores(net, X, y, batch_size=7)
    assert acc == pytest.approx(accuracy(net, X, y))
    with torch.no_grad():
        assert loss == pytest.approx(F.cross_entropy(net(X), y).item(), rel=1e-6)
        per_sample = F.cross_entropy(net(X), y, reduction="none").double()
    acc, loss = validation_scores(net, X, y, sample_weight=w)
    assert acc == pytest.approx(accuracy(net, X, y, sample_weight=w))
    assert loss == pytest.approx(((per_sample * w).sum() / w.sum()).item(), rel=1e-6)


@cuda
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_cuda_matches_cpu(solver):
    X, y, w = make_data(n=40)
    config = TrainConfig(solver=solver, learning_rate=0.05, batch_size=8, momentum=0.0)
    cpu, gpu = make_net(), make_net(device="cuda")
    train(
        cpu, X, y, config, generator=torch.Generator().manual_seed(2), n_epochs=2, sample_weight=w
    )
    res = train(
        gpu,
        X.cuda(),
        y.cuda(),
        config,
        generator=torch.Generator().manual_seed(2),
        n_epochs=2,
        sample_weight=w.cuda(),
    )
    assert not res.diverged
    for p, q in zip(cpu.parameters(), gpu.parameters(), strict=True):
        torch.testing.assert_close(p, q.cpu(), atol=1e-9, rtol=0)
    assert accuracy(gpu, X.cuda(), y.cuda()) == pytest.approx(accuracy(cpu, X, y))


@cuda
@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_cuda_gradients_match_autograd(act):
    net = make_net(act, bias=False, device="cuda")
    X, y, w = make_data(device="cuda")
    loss, grads = loss_and_gradients(net, X, y, TrainConfig(alpha=0.1), sample_weight=w)
    ref = autograd_loss(net, X, y, 0.1, w)
    for g, r in zip(grads, torch.autograd.grad(ref, list(net.parameters())), strict=True):
        torch.testing.assert_close(g, r, atol=1e-10, rtol=0)


def test_flush_denormal_setting_is_restored():
    from sksurgeon._training import _flush_denormal_enabled

    X, y, _ = make_data(dtype=torch.float32)
    net = make_net(dtype=torch.float32)
    assert not _flush_denormal_enabled()
    train(net, X, y, TrainConfig(), generator=torch.Generator(), n_epochs=1)
    assert not _flush_denormal_enabled()
    torch.set_flush_denormal(True)
    try:
        train(net, X, y, TrainConfig(), generator=torch.Generator(), n_epochs=1)
        assert _flush_denormal_enabled()
    finally:
        torch.set_flush_denormal(False)


@pytest.mark.parametrize("flush_every", [32, None])
def test_no_subnormals_in_weights_or_adam_state_on_two_threads(flush_every, monkeypatch):
    # Always-zero inputs: Adam shrinks their weights (L2 only) geometrically, towards
    # subnormals, and set_flush_denormal covers only the calling thread. Tensors above
    # torch's elementwise grain (32,768) are split across both threads.
    import sksurgeon._training as tr

    if flush_every is None:  # the check below must be able to fail
        monkeypatch.setattr(tr, "_FLUSH_EVERY", 10**9)
    gen = torch.Generator().manual_seed(0)
    X = torch.zeros(256, 400)
    X[:, :8] = torch.rand(256, 8, generator=gen)
    y = (X[:, 0] > 0.5).long()
    net = nn.Sequential(nn.Linear(400, 100), nn.ReLU(), nn.Linear(100, 2))
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        res = train(
            net,
            X,
            y,
            TrainConfig(solver="adam", learning_rate=0.01, alpha=0.5, batch_size=64),
            generator=gen,
            n_epochs=600,
        )
    finally:
        torch.set_num_threads(saved)
    tensors = [p.detach() for p in net.parameters()] + [t for b in res.state.buffers for t in b]
    tiny = torch.finfo(torch.float32).tiny
    n_sub = sum(int(((t != 0) & (t.abs() < tiny)).sum()) for t in tensors)
    if flush_every is None:
        if n_sub == 0:
            pytest.skip("no subnormals without the flush here (one core, or FTZ everywhere)")
    else:
        assert n_sub == 0


def _averaged_reference(net, X, y, opt, config, stretches):
    """torch.optim on ``train``'s batches; after each stretch of steps (an epoch, or a call's
    part of one), the weights become their mean over the stretch's second half."""
    gen = torch.Generator().manual_seed(5)
    n, B = len(y), config.batch_size
    for n_steps in stretches:
        perm = torch.randperm(n, generator=gen)
        snapshots = []
        for b, lo in enumerate(range(0, B * n_steps, B)):
            idx = perm[lo : lo + B]
            opt.zero_grad()
            autograd_loss(net, X[idx], y[idx], config.alpha).backward()
            opt.step()
            if n_steps > 1 and b >= n_steps // 2:
                snapshots.append([p.detach().clone() for p in net.parameters()])
        if snapshots:
            with torch.no_grad():
                for k, p in enumerate(net.parameters()):
                    p.copy_(torch.stack([s[k] for s in snapshots]).mean(0))


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_average_is_the_mean_of_each_epochs_second_half(solver):
    X, y, _ = make_data(n=23)
    config = TrainConfig(
        solver=solver, learning_rate=0.05, batch_size=5, alpha=0.01, momentum=0.0, average=True
    )
    net, ref = make_net(), make_net()
    gen = torch.Generator().manual_seed(5)
    # Two epochs of 5 steps (the last one partial), then a call that ends after 3 steps of
    # an epoch and one of a single step (nothing to average), carrying the optimiser state.
    res = train(net, X, y, config, generator=gen, n_epochs=2)
    res = train(net, X, y, config, generator=gen, n_batches=3, state=res.state)
    res = train(net, X, y, config, generator=gen, n_batches=1, state=res.state)
    assert res.n_batches == 1 and not res.diverged
    params = ref.parameters()
    opt = torch.optim.SGD(params, lr=0.05) if solver == "sgd" else torch.optim.Adam(params, 0.05)
    _averaged_reference(ref, X, y, opt, config, [5, 5, 3, 1])
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-10, rtol=0)


def test_average_changes_the_weights_only_when_asked():
    X, y, _ = make_data(n=23)
    nets = [make_net() for _ in range(2)]
    for net, average in zip(nets, [False, True], strict=True):
        config = TrainConfig(solver="sgd", learning_rate=0.05, batch_size=5, average=average)
        train(net, X, y, config, generator=torch.Generator().manual_seed(5), n_epochs=1)
    assert not torch.equal(nets[0][0].weight, nets[1][0].weight)
