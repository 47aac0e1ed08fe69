"""How many fits can share one GPU: training throughput of k concurrent processes.

A small MLP's training step on a GPU is a few dozen tiny kernels: the host's launch overhead,
not the device, sets its pace, so one fit leaves most of the GPU idle. A user who tunes on one
GPU (``GridSearchCV(n_jobs=k)`` with ``device='cuda'``) runs k such fits at once. This script
starts k worker processes that each fit ``SurgeonClassifier`` without surgery (the baseline's
training) on Fashion-MNIST (random data when absent) and reports, for each k, the median fit
time and the epochs trained per second by all k together, against k = 1 in the same run.

Workers load the data and warm the device up first, then start their timed fit together.

Usage::

    python benchmarks/bench_gpu_share.py --device cuda --procs 1 4 8
    python benchmarks/bench_gpu_share.py --device cuda --config paper --epochs 1
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import header, write
from bench_epoch import load_data
from bench_table3 import CONFIGS as TABLE3_CONFIGS
from bench_table3 import TOPOLOGIES

# Table 3's configurations without their epochs: each fit here trains --epochs.
CONFIGS = {
    name: {k: v for k, v in params.items() if k not in ("max_iter", "interval")}
    for name, params in TABLE3_CONFIGS.items()
}


def worker(args):
    import torch

    from sksurgeon import SurgeonClassifier

    torch.set_num_threads(1)
    X, y, _ = load_data(60000, seed=0)
    params = dict(CONFIGS[args.config], device=args.device, surgery=False, n_jobs=1)
    SurgeonClassifier(TOPOLOGIES[args.topology], max_iter=1, random_state=1, **params).fit(
        X[:2000], y[:2000]
    )
    sync = Path(args.sync)
    (sync / f"ready{args.rank}").touch()
    while not (sync / "go").exists():
        time.sleep(0.005)
    clf = SurgeonClassifier(
        TOPOLOGIES[args.topology], max_iter=args.epochs, random_state=args.rank, **params
    )
    t0 = time.time()
    clf.fit(X, y)
    t1 = time.time()
    print(json.dumps({"start": t0, "end": t1, "epochs": clf.epochs_trained_}), flush=True)


def run_k(args, k):
    with tempfile.TemporaryDirectory() as sync:
        cmd = [sys.executable, __file__, "--worker", "--sync", sync]
        cmd += ["--device", args.device, "--config", args.config]
        cmd += ["--topology", args.topology, "--epochs", str(args.epochs)]
        procs = [
            subprocess.Popen([*cmd, "--rank", str(r)], stdout=subprocess.PIPE, text=True)
            for r in range(k)
        ]
        while sum((Path(sync) / f"ready{r}").exists() for r in range(k)) < k:
            if any(p.poll() not in (None, 0) for p in procs):
                raise SystemExit("a worker failed")
            time.sleep(0.01)
        (Path(sync) / "go").touch()
        outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    span = max(o["end"] for o in outs) - min(o["start"] for o in outs)
    fit = statistics.median(o["end"] - o["start"] for o in outs)
    epochs = sum(o["epochs"] for o in outs)
    return dict(k=k, fit=fit, span=span, throughput=epochs / span)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--config", choices=list(CONFIGS), default="defaults")
    ap.add_argument("--topology", choices=list(TOPOLOGIES), default="medium")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--tag", default="")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--sync", help=argparse.SUPPRESS)
    ap.add_argument("--rank", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    rows = []
    for k in args.procs:
        row = run_k(args, k)
        rows.append(row)
        print(
            f"k={k}: median fit {row['fit']:.2f} s, {row['throughput']:.2f} epochs/s together",
            flush=True,
        )
    one = next((r for r in rows if r["k"] == 1), rows[0])
    lines = [
        header(f"Fits sharing one device ({args.device}): {args.topology}, '{args.config}'"),
        f"Each process: `SurgeonClassifier({TOPOLOGIES[args.topology]}, surgery=False, "
        f"max_iter={args.epochs}, n_jobs=1)` with the '{args.config}' configuration "
        f"{CONFIGS[args.config] or '(package defaults)'} on Fashion-MNIST's 60,000 training "
        "images (54,000 trained on, the rest validation), one torch CPU thread per process; "
        f"{os.cpu_count()} CPU cores. Throughput: epochs trained by all processes together "
        "per second of the span from the first start to the last end.",
        "",
        "| processes | median fit [s] | slowdown of one fit | epochs / s together | "
        "throughput vs one process |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['k']} | {r['fit']:.2f} | {r['fit'] / one['fit']:.2f} | "
            f"{r['throughput']:.2f} | {r['throughput'] / one['throughput']:.2f} |"
        )
    name = f"gpu_share_{args.config}_{args.topology}" + (f"_{args.tag}" if args.tag else "")
    write(f"{name}.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
