"""Speed-up of the Surgeon's parallel phases with ``n_jobs=2``, threads against processes.

One decision point of the Surgeon is reproduced, both of its parallel phases:

* candidate phase: a network pre-trained for one epoch, the candidates the recommendation
  module chooses for it (best per type plus one random), each built and retrained for its
  budget (25 batches times the per-type multiplier, capped at one epoch);
* race phase: the two selected branches trained side by side for ``--race-epochs`` epochs
  (the Surgeon's default race is half an interval, 5 epochs).

Each phase is timed sequentially (``n_jobs=1``), with joblib's process backend (loky, the
training data written once to memory-mapped files as the Surgeon does) and with its thread
backend at ``n_jobs=2``, round-robin, after a warm-up that starts the workers. Every task runs
with one intra-op thread (what the Surgeon does, so that results do not depend on
``n_jobs``). Also checks that all three give identical networks.

Usage::

    python benchmarks/bench_parallel.py           # Fashion-MNIST, 58,000 training samples
    python benchmarks/bench_parallel.py --quick   # 5,000 samples, 2 repeats

Runs about 4 minutes on 2 cores.
"""

import argparse
import copy
import math
import statistics
import time
from functools import partial

import joblib
import numpy as np
import torch
from _common import fashion_mnist, header, write

from sksurgeon import surgery
from sksurgeon._recommend import recommend, select_candidates
from sksurgeon._surgeon import (
    RETRAIN_MULTIPLIERS,
    SurgeonConfig,
    TrainingData,
    _shipped_once,
    _single_thread,
    _train_branch,
    retrain_candidates,
    task_seed,
)
from sksurgeon._training import TrainConfig, train


def setup(n, hidden, batch, solver, lr, seed=0):
    loaded = fashion_mnist(n_train=n + 2000, seed=seed)
    if loaded is None:
        rng = np.random.default_rng(seed)
        X = rng.random((n + 2000, 784), dtype=np.float32)
        y = rng.integers(0, 10, n + 2000)
        source = "random"
    else:
        X, y, _, _ = loaded
        source = "Fashion-MNIST"
    data = TrainingData(X[:n], y[:n], None, X[n:], y[n:], None, device="cpu", dtype=torch.float32)
    tc = TrainConfig(solver=solver, learning_rate=lr, batch_size=batch)
    net = surgery.build_mlp(784, hidden, 10, generator=torch.Generator().manual_seed(seed))
    Xt, yt, *_ = data.tensors()
    train(net, Xt, yt, tc, generator=torch.Generator().manual_seed(seed), n_epochs=1)
    config = SurgeonConfig()
    chosen = select_candidates(recommend(net), rng=np.random.default_rng(seed))
    cap = math.ceil(config.retrain_max_epochs * math.ceil(n / batch))
    budgets = [min(cap, config.retrain_batches * RETRAIN_MULTIPLIERS[c.operation]) for c in chosen]
    # The two branches of the race: the two best-scored candidates' shapes, here simply
    # the parent and a widened copy (what a typical decision selects).
    branches = [net, surgery.add_neurons(net, 0, max(2, surgery.hidden_widths(net)[0] // 10))]
    return data, tc, net, config, chosen, budgets, branches, source


def run_phase(parallel, net, chosen, budgets, data, tc, config):
    return retrain_candidates(
        parallel,
        [(net, None)] * len(chosen),
        chosen,
        budgets,
        data,
        tc,
        config,
        lambda k: task_seed(0, 1, 1, 2, k),
    )


def run_race(parallel, branches, data, tc, n_epochs):
    outs = parallel(
        # a copy: with threads or n_jobs=1 the task trains the module it is given in place
        joblib.delayed(_train_branch)(
            copy.deepcopy(b), None, data, tc, n_epochs, task_seed(0, 2, k)
        )
        for k, b in enumerate(branches)
    )
    return [{"status": "ok", **o} for o in outs]


def same_networks(ref, other):
    return all(
        torch.equal(a, b)
        for r, o in zip(ref, other, strict=True)
        if r["status"] == "ok"
        for a, b in zip(*(x["net"].state_dict().values() for x in (r, o)), strict=True)
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--race-epochs", type=int, default=2)
    args = ap.parse_args()
    n = 5000 if args.quick else 58000
    repeats = 2 if args.quick else args.repeats
    cases = [
        ("small 10, adam, batch 200", (10,), 200, "adam", 1e-3),
        ("small 10, sgd, batch 16 (paper)", (10,), 16, "sgd", 0.005),
        ("medium 10-10-10, adam, batch 200", (10, 10, 10), 200, "adam", 1e-3),
        ("large 300-100-100, adam, batch 200", (300, 100, 100), 200, "adam", 1e-3),
        ("large 300-100-100, sgd, batch 16 (paper)", (300, 100, 100), 16, "sgd", 0.005),
    ]
    rows = []
    for label, hidden, batch, solver, lr in cases:
        data, tc, net, config, chosen, budgets, branches, source = setup(
            n, hidden, batch, solver, lr
        )
        print(f"{label}: {len(chosen)} candidates, budgets {budgets}", flush=True)
        phases = {
            f"candidates ({len(chosen)}, {sum(budgets)} batches)": partial(
                run_phase, net=net, chosen=chosen, budgets=budgets, data=data, tc=tc, config=config
            ),
            f"race (2 branches x {args.race_epochs} epochs)": partial(
                run_race, branches=branches, data=data, tc=tc, n_epochs=args.race_epochs
            ),
        }
        for phase, run in phases.items():
            times = {"n_jobs=1": [], "n_jobs=2 processes": [], "n_jobs=2 threads": []}
            outs = {}
            for name, nj, prefer in [
                ("n_jobs=1", 1, None),
                ("n_jobs=2 processes", 2, "processes"),
                ("n_jobs=2 threads", 2, "threads"),
            ]:
                with (
                    _single_thread(),
                    _shipped_once(data, nj, prefer),
                    joblib.Parallel(n_jobs=nj, prefer=prefer) as pool,
                ):
                    # warm-up: start the workers, fill their data caches
                    run_phase(pool, net, chosen[:2], [1, 1], data, tc, config)
                    for _ in range(repeats):
                        t0 = time.perf_counter()
                        outs[name] = run(pool)
                        times[name].append(time.perf_counter() - t0)
            identical = all(same_networks(outs["n_jobs=1"], o) for o in outs.values())
            med = {k: statistics.median(v) for k, v in times.items()}
            rows.append((label, phase, med, identical))
            print(
                f"  {phase}: "
                + ", ".join(f"{k}: {v:.2f} s" for k, v in med.items())
                + f"; identical results: {identical}",
                flush=True,
            )
    out = [
        header("Parallel phases with n_jobs=2: threads vs processes"),
        f"Data: {source}, {n} training samples. Median of {repeats} repeats.",
        "",
        "| case | phase | n_jobs=1 (s) | processes (s) | threads (s) "
        "| speed-up processes | speed-up threads | identical to n_jobs=1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, phase, med, identical in rows:
        s1 = med["n_jobs=1"]
        out.append(
            f"| {label} | {phase} | {s1:.2f} | {med['n_jobs=2 processes']:.2f} | "
            f"{med['n_jobs=2 threads']:.2f} | {s1 / med['n_jobs=2 processes']:.2f}x | "
            f"{s1 / med['n_jobs=2 threads']:.2f}x | {identical} |"
        )
    write("parallel_quick.md" if args.quick else "parallel.md", "\n".join(out) + "\n")


if __name__ == "__main__":
    main()
