"""The Surgeon against the user's real alternative: a grid search over topologies.

On ten PMLB classification data sets (stratified 80/20 train/test split, several seeds,
StandardScaler in a Pipeline) this compares

(a) one ``SurgeonClassifier`` fit from a small start topology,
(b) ``GridSearchCV(MLPClassifier, hidden_layer_sizes in {(10,), (50,), (100,), (300,),
    (10, 10, 10), (100, 100), (300, 100, 100)}, cv=3)`` refitted on the whole training set,
(c) ``MLPClassifier`` and the Surgeon's baseline (``surgery=False``) with the same start
    topology,

reporting test accuracy and total CPU seconds (user + system of this process and its
children, so that parallel workers count) of each.

Usage::

    python benchmarks/bench_gridsearch.py --quick     # 3 data sets, 1 seed
    python benchmarks/bench_gridsearch.py             # 10 data sets, 3 seeds
"""

import argparse
import csv
import statistics
import time
import warnings
from functools import partial

import numpy as np
from _common import RESULTS, cpu_seconds, data_dir, header, parse_params, write
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksurgeon import SurgeonClassifier
from sksurgeon.datasets import load_pmlb

DATASETS = [
    "letter",
    "pendigits",
    "satimage",
    "optdigits",
    "texture",
    "magic",
    "waveform_40",
    "spambase",
    "twonorm",
    "page_blocks",
]
GRID = [(10,), (50,), (100,), (300,), (10, 10, 10), (100, 100), (300, 100, 100)]
START = (10,)


def measure(make, X_tr, y_tr, X_te, y_te):
    c0, w0 = cpu_seconds(), time.perf_counter()
    model = make().fit(X_tr, y_tr)
    cpu, wall = cpu_seconds() - c0, time.perf_counter() - w0
    return model, model.score(X_te, y_te), cpu, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--datasets", nargs="+", default=None)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    # CPU seconds of persistent worker processes are not visible to os.times(), so the
    # comparison runs everything in this process by default.
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument(
        "--max-train", type=int, default=None, help="subsample training sets larger than this"
    )
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="PARAM=VALUE",
        help="also fit a Surgeon with these parameters (reported next to the defaults)",
    )
    ap.add_argument(
        "--tag", default=None, help="suffix of the result files (gridsearch_TAG.md/csv)"
    )
    args = ap.parse_args()
    surgeon_params = parse_params(args.set)
    names = args.datasets or (DATASETS[:3] if args.quick else DATASETS)
    seeds = args.seeds[:1] if args.quick else args.seeds
    max_train = args.max_train or (3000 if args.quick else None)
    root = data_dir("pmlb")
    if root is None:
        raise SystemExit("PMLB data not found under $SKSURGEON_DATA or ../shared/data")
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    surgeons = {"surgeon": {}}
    if surgeon_params:
        surgeons["surgeon " + " ".join(args.set)] = surgeon_params
    models = {
        label: partial(
            lambda s, params: make_pipeline(
                StandardScaler(),
                SurgeonClassifier(START, random_state=s, n_jobs=args.n_jobs, **params),
            ),
            params=params,
        )
        for label, params in surgeons.items()
    }
    models |= {
        "grid MLP": lambda s: GridSearchCV(
            make_pipeline(StandardScaler(), MLPClassifier(random_state=s)),
            {"mlpclassifier__hidden_layer_sizes": GRID},
            cv=3,
            n_jobs=args.n_jobs,
        ),
        "MLP start": lambda s: make_pipeline(
            StandardScaler(), MLPClassifier(START, random_state=s)
        ),
        "baseline start": lambda s: make_pipeline(
            StandardScaler(), SurgeonClassifier(START, surgery=False, random_state=s)
        ),
    }
    rows = []
    for name in names:
        X, y = load_pmlb(name, root)
        for seed in seeds:
            X_tr, X_te, y_tr, y_te = train_test_split(
                X, y, test_size=0.2, stratify=y, random_state=seed
            )
            if max_train and len(y_tr) > max_train:
                X_tr, _, y_tr, _ = train_test_split(
                    X_tr, y_tr, train_size=max_train, stratify=y_tr, random_state=seed
                )
            for label, make in models.items():
                model, acc, cpu, wall = measure(partial(make, seed), X_tr, y_tr, X_te, y_te)
                extra = ""
                if label in surgeons:
                    extra = "-".join(map(str, model[-1].hidden_layer_sizes_))
                elif label == "grid MLP":
                    extra = "-".join(
                        map(str, model.best_params_["mlpclassifier__hidden_layer_sizes"])
                    )
                rows.append((name, seed, label, acc, cpu, wall, extra))
                print(
                    f"{name} seed {seed} {label}: acc {acc:.4f} cpu {cpu:.1f} s "
                    f"wall {wall:.1f} s {extra}",
                    flush=True,
                )
    tag = "gridsearch" + ("_quick" if args.quick else "") + (f"_{args.tag}" if args.tag else "")
    with open(RESULTS / f"{tag}.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["dataset", "seed", "model", "test_accuracy", "cpu_s", "wall_s", "topology"])
        w.writerows(rows)
    labels = list(models)
    out = [
        header("Surgeon against a grid search over topologies (PMLB)"),
        f"Seeds {seeds}; start topology {START}; n_jobs={args.n_jobs}; "
        + (
            f"training sets capped at {max_train} samples"
            if max_train
            else "training sets not capped"
        )
        + ". Accuracy and CPU seconds are means over seeds.",
        "",
        "| data set | "
        + " | ".join(f"{m} acc | {m} CPU s" for m in labels)
        + "".join(f" | {m} topologies" for m in surgeons)
        + " | grid choices |",
        "|---|" + "---|---|" * len(labels) + "---|" * len(surgeons) + "---|",
    ]
    acc_gap = {m: [] for m in surgeons}
    cpu_ratio = {m: [] for m in surgeons}
    for name in names:
        cells = []
        stats = {}
        for m in labels:
            r = [row for row in rows if row[0] == name and row[2] == m]
            stats[m] = (statistics.mean(x[3] for x in r), statistics.mean(x[4] for x in r))
            cells.append(f"{stats[m][0]:.4f} | {stats[m][1]:.1f}")
        tops = []
        for m in surgeons:
            acc_gap[m].append(stats[m][0] - stats["grid MLP"][0])
            cpu_ratio[m].append(stats[m][1] / stats["grid MLP"][1])
            tops.append("; ".join(r[6] for r in rows if r[0] == name and r[2] == m))
        grid = "; ".join(r[6] for r in rows if r[0] == name and r[2] == "grid MLP")
        out.append(f"| {name} | " + " | ".join(cells + tops) + f" | {grid} |")
    out.append("")
    for m in surgeons:
        out += [
            f"{m} minus grid search, mean test accuracy over data sets: "
            f"{100 * np.mean(acc_gap[m]):+.2f} points (goal: >= -1); "
            f"CPU time / grid search CPU time, median over data sets: "
            f"{statistics.median(cpu_ratio[m]):.3f} (goal: <= 0.333).",
            "",
        ]
    out += [
        f"Per-run figures: `benchmarks/results/{tag}.csv`.",
    ]
    write(f"{tag}.md", "\n".join(out) + "\n")


if __name__ == "__main__":
    main()
