"""Start-up of a parallel fit's worker processes.

A fit with ``n_jobs > 1`` sends its tasks to joblib's worker processes; a fresh worker
imports what it needs to unpickle its first task before running it. This measures, each in
a fresh Python process (median of ``--repeats``):

- the import time of the modules a worker task needs (``sksurgeon._surgeon``), against the
  same plus ``sksurgeon._classifier`` (scikit-learn, scipy.stats, pandas), which every worker
  imported while the package namespace loaded its public names eagerly;
- the first parallel call of a fresh process with two worker processes (spawn and imports),
  for a task that needs the worker modules only and for one that needs the estimator's
  module, against the process's second call (workers already running).

Usage::

    python benchmarks/bench_startup.py    # about 1 minute on 2 cores
"""

import argparse
import statistics
import subprocess
import sys

from _common import header, write

IMPORT = "import time; t0 = time.perf_counter(); import {modules}; print(time.perf_counter() - t0)"
FIRST_CALL = """
import importlib, time, joblib
with joblib.Parallel(n_jobs=2) as pool:
    t0 = time.perf_counter()
    pool(joblib.delayed(importlib.import_module)({module!r}) for _ in range(2))
    t1 = time.perf_counter()
    pool(joblib.delayed(importlib.import_module)({module!r}) for _ in range(2))
    t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def run(code):
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    return [float(v) for v in out.stdout.split()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    worker, estimator = "sksurgeon._surgeon", "sksurgeon._classifier"
    rows = []
    for label, modules in (
        ("worker modules", worker),
        ("worker modules + estimator (scikit-learn)", f"{worker}, {estimator}"),
    ):
        times = [run(IMPORT.format(modules=modules))[0] for _ in range(args.repeats)]
        rows.append((f"import: {label}", statistics.median(times), None))
        print(rows[-1], flush=True)
    for label, module in (
        ("task needs the worker modules", worker),
        ("task needs the estimator's module", estimator),
    ):
        pairs = [run(FIRST_CALL.format(module=module)) for _ in range(args.repeats)]
        rows.append(
            (
                f"first parallel call, 2 workers: {label}",
                statistics.median(p[0] for p in pairs),
                statistics.median(p[1] for p in pairs),
            )
        )
        print(rows[-1], flush=True)
    out = [
        header("Start-up of worker processes"),
        f"Median of {args.repeats} fresh Python processes each.",
        "",
        "| case | seconds | second call (s) |",
        "|---|---|---|",
    ]
    for label, t, second in rows:
        out.append(f"| {label} | {t:.2f} | {'' if second is None else f'{second:.3f}'} |")
    write("startup.md", "\n".join(out) + "\n")


if __name__ == "__main__":
    main()
