"""Speed-up of the Surgeon's candidate phase with ``n_jobs=2``, threads against processes.

One decision point of the Surgeon is reproduced: a network pre-trained for one epoch, the
candidates the recommendation module chooses for it (best per type plus one random), each
built and retrained for its budget (25 batches times the per-type multiplier, capped at one
epoch). The phase is timed sequentially (``n_jobs=1``), with joblib's process backend (loky)
and with its thread backend at ``n_jobs=2``, round-robin, after a warm-up that starts the
workers. Every task runs with one intra-op thread (what the Surgeon does, so that results do
not depend on ``n_jobs``). Also checks that all three give identical networks.

Usage::

    python benchmarks/bench_parallel.py           # Fashion-MNIST, 58,000 training samples
    python benchmarks/bench_parallel.py --quick   # 5,000 samples, 2 repeats
"""

import argparse
import math
import statistics
import time

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
    return data, tc, net, config, chosen, budgets, source


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n = 5000 if args.quick else 58000
    repeats = 2 if args.quick else args.repeats
    cases = [
        ("medium 10-10-10, adam, batch 200", (10, 10, 10), 200, "adam", 1e-3),
        ("large 300-100-100, adam, batch 200", (300, 100, 100), 200, "adam", 1e-3),
        ("large 300-100-100, sgd, batch 16 (paper)", (300, 100, 100), 16, "sgd", 0.005),
    ]
    rows = []
    for label, hidden, batch, solver, lr in cases:
        data, tc, net, config, chosen, budgets, source = setup(n, hidden, batch, solver, lr)
        print(f"{label}: {len(chosen)} candidates, budgets {budgets}", flush=True)
        times = {"n_jobs=1": [], "n_jobs=2 processes": [], "n_jobs=2 threads": []}
        outs = {}
        with (
            joblib.Parallel(n_jobs=1) as seq,
            joblib.Parallel(n_jobs=2, prefer="processes") as procs,
            joblib.Parallel(n_jobs=2, prefer="threads") as threads,
        ):
            pools = {"n_jobs=1": seq, "n_jobs=2 processes": procs, "n_jobs=2 threads": threads}
            for pool in pools.values():  # warm-up: start workers, fill data caches
                run_phase(pool, net, chosen[:2], [1, 1], data, tc, config)
            for _ in range(repeats):
                for name, pool in pools.items():
                    t0 = time.perf_counter()
                    outs[name] = run_phase(pool, net, chosen, budgets, data, tc, config)
                    times[name].append(time.perf_counter() - t0)
        ref = outs["n_jobs=1"]
        identical = all(
            all(
                torch.equal(a, b)
                for a, b in zip(
                    r["net"].state_dict().values(), o["net"].state_dict().values(), strict=True
                )
            )
            for other in outs.values()
            for r, o in zip(ref, other, strict=True)
            if r["status"] == "ok"
        )
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append((label, len(chosen), sum(budgets), med, identical))
        print(
            "  "
            + ", ".join(f"{k}: {v:.2f} s" for k, v in med.items())
            + f"; identical results: {identical}",
            flush=True,
        )
    out = [
        header("Candidate phase with n_jobs=2: threads vs processes"),
        f"Data: {source}, {n} training samples. Median of {repeats} round-robin repeats.",
        "",
        "| case | candidates | batches | n_jobs=1 (s) | processes (s) | threads (s) "
        "| speed-up processes | speed-up threads | identical to n_jobs=1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, nc, nb, med, identical in rows:
        s1 = med["n_jobs=1"]
        out.append(
            f"| {label} | {nc} | {nb} | {s1:.2f} | {med['n_jobs=2 processes']:.2f} | "
            f"{med['n_jobs=2 threads']:.2f} | {s1 / med['n_jobs=2 processes']:.2f}x | "
            f"{s1 / med['n_jobs=2 threads']:.2f}x | {identical} |"
        )
    write("parallel_quick.md" if args.quick else "parallel.md", "\n".join(out) + "\n")


if __name__ == "__main__":
    main()
