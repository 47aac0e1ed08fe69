"""Successive fits sharing joblib's worker processes: does any worker get restarted?

joblib keeps its loky worker processes between ``Parallel`` calls, so successive fits
(a script, a grid search over a ``SurgeonClassifier(n_jobs=2)``) reuse them. Each worker
keeps the tensors of the fits it served; loky measures a worker's memory after its first
task and restarts it, with the warning "A worker stopped while some jobs were given to the
executor", once it has grown 300 MB past that. This script starts the workers with a task
that loads no data (as a warm-up, or a fit on a small data set, would), then runs several
fits in a row on Fashion-MNIST (58,000 x 784 float32 training samples, or random data of
that size without the shared data) and records each fit's wall time and the worker
restarts loky reported during it.

Usage::

    python benchmarks/bench_worker_reuse.py            # 4 fits, about 30 s
    python benchmarks/bench_worker_reuse.py --tag before
"""

import argparse
import importlib
import subprocess
import time
import warnings

import joblib
import numpy as np
from _common import fashion_mnist, header, write

from sksurgeon import SurgeonClassifier


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fits", type=int, default=4)
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    loaded = fashion_mnist(n_train=60000, seed=0)
    if loaded is None:
        rng = np.random.default_rng(0)
        X, y = rng.random((60000, 784), dtype=np.float32), rng.integers(0, 10, 60000)
        source = "random data of Fashion-MNIST's size"
    else:
        X, y = loaded[0], loaded[1]
        source = "Fashion-MNIST"
    # Workers started by a task that loads no data: their memory reference is taken there.
    joblib.Parallel(n_jobs=2)(
        joblib.delayed(importlib.import_module)("sksurgeon._surgeon") for _ in range(2)
    )
    rows = []
    for k in range(args.fits):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            SurgeonClassifier(
                (300, 100), max_iter=4, interval=2, max_cost=None, random_state=k, n_jobs=2
            ).fit(X, y)
            wall = time.perf_counter() - t0
        restarts = sum("A worker stopped" in str(w.message) for w in caught)
        rows.append((k + 1, wall, restarts))
        print(f"fit {k + 1}: {wall:.2f} s, worker restarts {restarts}", flush=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    out = [
        header("Successive fits reusing the worker processes"),
        f"Code: commit {commit or 'unknown'}{' with uncommitted changes' if dirty else ''}. "
        f"Data: {source}, {len(y)} samples (validation split carved from them). "
        "Each fit: SurgeonClassifier((300, 100), max_iter=4, interval=2, max_cost=None, "
        "n_jobs=2).",
        "",
        "| fit | wall (s) | worker restarts reported by loky |",
        "|---|---|---|",
    ]
    out += [f"| {k} | {wall:.2f} | {r} |" for k, wall, r in rows]
    out.append("")
    out.append(f"Total worker restarts: {sum(r for *_, r in rows)}.")
    name = "worker_reuse" + (f"_{args.tag}" if args.tag else "") + ".md"
    write(name, "\n".join(out) + "\n")


if __name__ == "__main__":
    main()
