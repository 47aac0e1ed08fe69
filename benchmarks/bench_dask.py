"""Training data sent to a Dask cluster: once per fit (scatter) against once per task.

A :class:`~sksurgeon.SurgeonClassifier` is fitted under ``joblib.parallel_config(backend=
"dask")`` on a ``LocalCluster`` of 2 worker processes (1 thread each, loopback interface),
twice: as sksurgeon does it (the training data scattered once per fit, tasks carry a
reference) and with the scatter switched off (every task pickles the training data, what a
naive joblib fan-out does). Counted in the client: how many times the training data is
serialised, and so how many bytes of it leave the client; timed: the fit. Every parallel
phase is sent to the cluster (``MIN_PARALLEL_SECONDS = 0``; by default phases this short run
in the client). Also checks that both give the model that ``n_jobs=1`` gives.

Usage::

    python benchmarks/bench_dask.py           # Fashion-MNIST, 20,000 training samples
    python benchmarks/bench_dask.py --quick   # 3,000 samples

Runs about 2 minutes on 2 cores.
"""

import argparse
import contextlib
import statistics
import time

import joblib
import numpy as np
import torch
from _common import fashion_mnist, header, write

from sksurgeon import SurgeonClassifier
from sksurgeon import _surgeon as surgeon_mod
from sksurgeon._surgeon import TrainingData


class SerialisationCounter:
    """Counts how often (and how large) the training data is pickled in this process."""

    def __init__(self):
        self.count = 0
        self.nbytes = 0

    @contextlib.contextmanager
    def active(self):
        original = TrainingData.__getstate__

        def counting(data):
            self.count += 1
            self.nbytes += sum(np.asarray(a).nbytes for a in data.arrays if a is not None)
            return original(data)

        TrainingData.__getstate__ = counting
        try:
            yield self
        finally:
            TrainingData.__getstate__ = original


@contextlib.contextmanager
def no_scatter(data, n_jobs, prefer):
    yield


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    n = 3000 if args.quick else 20000
    loaded = fashion_mnist(n_train=n)
    if loaded is None:
        rng = np.random.default_rng(0)
        X, y, source = rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n), "random"
    else:
        X, y, _, _ = loaded
        source = "Fashion-MNIST"
    kw = dict(hidden_layer_sizes=(10,), max_iter=12, interval=3, random_state=0)

    from distributed import Client, LocalCluster

    saved_threshold = surgeon_mod.MIN_PARALLEL_SECONDS
    shipped_once = surgeon_mod._shipped_once
    surgeon_mod.MIN_PARALLEL_SECONDS = 0.0
    ref = SurgeonClassifier(n_jobs=1, **kw).fit(X, y)
    rows = []
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    try:
        with Client(cluster), joblib.parallel_config(backend="dask"):
            SurgeonClassifier(**{**kw, "max_iter": 3}).fit(X[:500], y[:500])  # warm-up
            for label, shipping in (
                ("scatter once per fit (sksurgeon)", shipped_once),
                ("pickled with every task (scatter off)", no_scatter),
            ):
                times = []
                for _ in range(args.repeats):
                    surgeon_mod._shipped_once = shipping
                    with SerialisationCounter().active() as counter:
                        t0 = time.perf_counter()
                        clf = SurgeonClassifier(**kw).fit(X, y)
                        times.append(time.perf_counter() - t0)
                same = all(
                    torch.equal(a, b)
                    for a, b in zip(
                        ref.module_.state_dict().values(),
                        clf.module_.state_dict().values(),
                        strict=True,
                    )
                )
                rows.append((label, counter.count, counter.nbytes, statistics.median(times), same))
                print(rows[-1], flush=True)
    finally:
        surgeon_mod._shipped_once = shipped_once
        surgeon_mod.MIN_PARALLEL_SECONDS = saved_threshold
        cluster.close()
    out = [
        header("Training data sent to a Dask cluster: once per fit against once per task"),
        f"Data: {source}, {n} samples x 784 ({X.nbytes / 1e6:.1f} MB as float32, training and "
        f"validation split together). LocalCluster of 2 worker "
        f"processes, 1 thread each. SurgeonClassifier({kw}); every parallel phase sent to "
        f"the cluster. Median fit time of {args.repeats}.",
        "",
        "| data shipping | tasks sent | times the data is pickled | MB of data pickled "
        "| fit time (s) | same model as n_jobs=1 |",
        "|---|---|---|---|---|---|",
    ]
    # Without the scatter every task pickles the data once: that count is the task count
    # (the same for both, the fits being identical).
    n_tasks = rows[-1][1]
    for label, count, nbytes, t, same in rows:
        out.append(f"| {label} | {n_tasks} | {count} | {nbytes / 1e6:.0f} | {t:.1f} | {same} |")
    write("dask_quick.md" if args.quick else "dask.md", "\n".join(out) + "\n")


if __name__ == "__main__":
    main()
