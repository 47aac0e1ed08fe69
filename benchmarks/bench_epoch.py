"""Seconds per training epoch: sksurgeon's engine against skorch, MLPClassifier and torch.

The paper's "large" network (784-300-100-100-10, ReLU) is trained for one epoch on 60,000 x 784
float32 samples (Fashion-MNIST when it is on disk, random data otherwise) with plain SGD,
learning rate 0.005 (the paper's setting), no L2 penalty and no momentum, at batch sizes 16 and
128. Every method gets a short warm-up, then the methods take turns (round-robin, so that noise
on a shared machine hits them alike) for ``--repeats`` timed epochs; the table reports medians
and the ratios of ours to skorch and to MLPClassifier, measured in the same run.

Methods:

- ``sksurgeon``: ``sksurgeon._training.train`` (hand-written forward/backward), SGD; SGD with
  ``average=True`` (the weights averaged over each epoch's second half: what it costs); and
  Adam (lr 1e-3) for reference.
- ``skorch``: ``NeuralNetClassifier`` (CrossEntropyLoss on logits, ``torch.optim.SGD``,
  ``train_split=None``, shuffled batches), one ``partial_fit`` epoch.
- ``MLPClassifier``: ``solver="sgd"``, ``momentum=0``, ``alpha=0``, one ``partial_fit`` epoch
  (scikit-learn's float32 path).
- ``torch textbook``: ``nn.Sequential`` + ``F.cross_entropy`` + autograd + ``torch.optim.SGD``
  over index slices of a per-epoch permutation (no DataLoader).

Usage::

    python benchmarks/bench_epoch.py            # full run, writes benchmarks/results/epoch.md
    python benchmarks/bench_epoch.py --quick    # 10,000 samples, 3 repeats: a smoke test
"""

import argparse
import datetime
import os
import platform
import shlex
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import torch
import torch.nn.functional as F
from _common import fashion_mnist
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from torch import nn

from sksurgeon._training import TrainConfig, train

HIDDEN = (300, 100, 100)
LR = 0.005
RESULTS = Path(__file__).resolve().parent / "results"


def load_data(n_samples, seed):
    """Fashion-MNIST's training set scaled to [0, 1] when present, else uniform noise."""
    loaded = fashion_mnist()
    if loaded is not None:
        X, y, _, _ = loaded
        return X[:n_samples], y[:n_samples], "Fashion-MNIST train (sksurgeon.datasets)"
    rng = np.random.default_rng(seed)
    X = rng.random((n_samples, 784), dtype=np.float32)
    y = rng.integers(0, 10, n_samples)
    return X, y, "random uniform (Fashion-MNIST not found)"


def make_net(seed, n_features, n_classes):
    torch.manual_seed(seed)
    sizes = (n_features, *HIDDEN)
    mods = []
    for a, b in zip(sizes, sizes[1:], strict=False):
        mods += [nn.Linear(a, b), nn.ReLU()]
    mods.append(nn.Linear(sizes[-1], n_classes))
    return nn.Sequential(*mods)


# Each factory returns (warm_up, run_one_epoch) closures over its own model.


def ours(X, y, batch_size, solver, device, average=False):
    Xt, yt = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
    net = make_net(0, X.shape[1], 10).to(device)
    lr = LR if solver == "sgd" else 1e-3
    config = TrainConfig(
        solver=solver, learning_rate=lr, batch_size=batch_size, alpha=0.0, average=average
    )
    gen = torch.Generator().manual_seed(0)
    box = {"state": None}

    def run(**budget):
        res = train(net, Xt, yt, config, generator=gen, state=box["state"], **budget)
        box["state"] = res.state
        assert not res.diverged
        synchronize(device)

    return (lambda: run(n_batches=200)), (lambda: run(n_epochs=1))


def textbook(X, y, batch_size, device):
    Xt, yt = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
    net = make_net(0, X.shape[1], 10).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(0)
    n = Xt.shape[0]

    def run(limit):
        perm = torch.randperm(n, generator=gen).to(device)
        for start in range(0, min(n, limit * batch_size), batch_size):
            idx = perm[start : start + batch_size]
            opt.zero_grad()
            loss = F.cross_entropy(net(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        synchronize(device)

    return (lambda: run(200)), (lambda: run(n))


def synchronize(device):
    """Wait for queued GPU work, so that a timed epoch includes all of it."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def skorch_net(X, y, batch_size, device):
    from skorch import NeuralNetClassifier

    clf = NeuralNetClassifier(
        make_net(0, X.shape[1], 10),
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.SGD,
        lr=LR,
        batch_size=batch_size,
        max_epochs=1,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
        device=device,
    )
    warm = min(len(y), 200 * batch_size)
    return (lambda: clf.partial_fit(X[:warm], y[:warm])), (lambda: clf.partial_fit(X, y))


def mlp(X, y, batch_size):
    clf = MLPClassifier(
        hidden_layer_sizes=HIDDEN,
        solver="sgd",
        learning_rate_init=LR,
        batch_size=batch_size,
        momentum=0.0,
        nesterovs_momentum=False,
        alpha=0.0,
        max_iter=1,
        shuffle=True,
        random_state=0,
    )
    classes = np.arange(10)
    warm = min(len(y), 200 * batch_size)
    return (
        (lambda: clf.partial_fit(X[:warm], y[:warm], classes=classes)),
        (lambda: clf.partial_fit(X, y)),
    )


def device_name(device):
    dev = torch.device(device)
    if dev.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(dev)}; MLPClassifier on the CPU)"
    return device


def time_methods(methods, repeats):
    """Warm each method up, then time ``repeats`` epochs each, taking turns."""
    runs = {}
    for warm, _ in methods.values():
        warm()
    times = {name: [] for name in methods}
    for _ in range(repeats):
        for name, (_, run) in methods.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    for name, ts in times.items():
        runs[name] = (statistics.median(ts), ts)
    return runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 samples (smoke test)")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per method")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 128])
    parser.add_argument(
        "--threads", type=int, default=None, help="torch and BLAS threads (default: unchanged)"
    )
    parser.add_argument("--no-skorch", action="store_true", help="leave skorch out")
    parser.add_argument(
        "--device",
        default="cpu",
        help="device of the torch methods (MLPClassifier always runs on the CPU)",
    )
    parser.add_argument("--output", type=Path, default=None, help="Markdown result file")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    n_samples = 10_000 if args.quick else 60_000
    X, y, source = load_data(n_samples, seed=0)
    try:
        import skorch  # noqa: F401

        have_skorch = not args.no_skorch
    except ImportError:
        have_skorch = False

    rows = []
    for B in args.batch_sizes:
        methods = {
            "sksurgeon SGD": ours(X, y, B, "sgd", args.device),
            "sksurgeon SGD average": ours(X, y, B, "sgd", args.device, average=True),
            "sksurgeon Adam": ours(X, y, B, "adam", args.device),
            "MLPClassifier": mlp(X, y, B),
            "torch textbook": textbook(X, y, B, args.device),
        }
        if have_skorch:
            methods["skorch"] = skorch_net(X, y, B, args.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = time_methods(methods, args.repeats)
        for name, (med, ts) in res.items():
            rows.append((B, name, med, ts))
            print(f"batch {B:4d}  {name:15s} {med:7.3f} s/epoch  runs {[round(t, 3) for t in ts]}")
        ours_t = res["sksurgeon SGD"][0]
        for ref in ("skorch", "MLPClassifier"):
            if ref in res:
                print(f"batch {B:4d}  sksurgeon SGD / {ref}: {ours_t / res[ref][0]:.3f}")
        print(f"batch {B:4d}  average=True / SGD: {res['sksurgeon SGD average'][0] / ours_t:.3f}")

    goals = {
        16: {"skorch": 0.35, "MLPClassifier": 0.5},
        128: {"skorch": 0.65, "MLPClassifier": 0.7},
    }
    med = {(B, name): m for B, name, m, _ in rows}
    lines = [
        "# Seconds per epoch: sksurgeon training engine vs skorch, MLPClassifier, torch",
        "",
        f"- command: `{' '.join(shlex.quote(a) for a in [sys.executable, *sys.argv])}`",
        f"- date (UTC): {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M:%S}",
        f"- machine: {platform.machine()}, {os.cpu_count()} logical CPUs (os.cpu_count), "
        f"torch threads {torch.get_num_threads()}, device {device_name(args.device)}, "
        f"{platform.platform()}",
        f"- versions: python {platform.python_version()}, torch {torch.__version__}, "
        f"scikit-learn {sklearn.__version__}, numpy {np.__version__}"
        + (f", skorch {sys.modules['skorch'].__version__}" if have_skorch else ", skorch absent"),
        f"- data: {source}, {X.shape[0]} x {X.shape[1]} float32, 10 classes",
        "- network: 784-300-100-100-10 ReLU; SGD lr 0.005, no momentum, no L2 (MLPClassifier "
        "momentum=0, alpha=0); sksurgeon Adam: lr 1e-3, alpha 0",
        f"- timing: one warm-up (200 batches), then {args.repeats} epochs per method taking "
        "turns; median reported (all runs listed)",
        "",
        "| batch | method | s/epoch (median) | runs (s) |",
        "|---:|---|---:|---|",
    ]
    for B, name, m, ts in rows:
        lines.append(f"| {B} | {name} | {m:.3f} | {', '.join(f'{t:.3f}' for t in ts)} |")
    lines += ["", "| batch | ratio | measured | goal | holds |", "|---:|---|---:|---:|---|"]
    for B in args.batch_sizes:
        for ref in ("skorch", "MLPClassifier"):
            if (B, ref) not in med:
                continue
            r = med[(B, "sksurgeon SGD")] / med[(B, ref)]
            goal = goals.get(B, {}).get(ref)
            holds = "-" if goal is None else ("yes" if r <= goal else "no")
            goal_s = "-" if goal is None else f"<= {goal}"
            lines.append(f"| {B} | sksurgeon SGD / {ref} | {r:.3f} | {goal_s} | {holds} |")
        r = med[(B, "sksurgeon SGD average")] / med[(B, "sksurgeon SGD")]
        lines.append(f"| {B} | sksurgeon SGD average / sksurgeon SGD | {r:.3f} | - | - |")
    text = "\n".join(lines) + "\n"
    stem = "epoch" if args.device == "cpu" else f"epoch_{torch.device(args.device).type}"
    out = args.output or RESULTS / (f"{stem}_quick.md" if args.quick else f"{stem}.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
