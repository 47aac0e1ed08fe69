"""Every PMLB classification data set: does a default SurgeonClassifier fit, and does it help?

The grid-search comparison (``bench_gridsearch.py``) looks at ten data sets closely; this
sweep looks at all of them once, as a user trying the package on whatever table they have
would: ``make_pipeline(SimpleImputer(), StandardScaler(), model)`` with each model's
defaults, one stratified 80/20 split per seed (plain when a class has a single member),
training sets capped at ``--max-train`` samples. Models:

- ``surgeon``: ``SurgeonClassifier(random_state=seed)``, every other parameter default
  (``--set PARAM=VALUE`` changes one for it and its baseline);
- ``baseline``: the same with ``surgery=False`` (its start topology, ``max_iter`` epochs);
- ``mlp``: ``MLPClassifier(random_state=seed)``, scikit-learn's defaults.

Per fit it records test accuracy, CPU seconds, the warnings raised (by category and first
line), any exception, whether ``predict_proba`` is finite with rows summing to 1, and the
Surgeon's final topology, epochs and stop reason. The summary counts failures and warnings
and compares the Surgeon with its baseline and with ``MLPClassifier`` data set by data set.

Usage::

    python benchmarks/bench_pmlb_sweep.py --quick        # 12 small data sets
    python benchmarks/bench_pmlb_sweep.py                # all, about 15 min on 2 cores
"""

import argparse
import csv
import statistics
import time
import traceback
import warnings
from collections import Counter

import numpy as np
from _common import RESULTS, cpu_seconds, data_dir, header, parse_params, write
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksurgeon import SurgeonClassifier
from sksurgeon.datasets import load_pmlb

MODELS = {
    "surgeon": lambda s, extra: SurgeonClassifier(random_state=s, **extra),
    "baseline": lambda s, extra: SurgeonClassifier(surgery=False, random_state=s, **extra),
    "mlp": lambda s, extra: MLPClassifier(random_state=s),
}


def classification_sets(root):
    """Names and sizes of the data sets that INDEX.tsv calls classification."""
    with open(root / "INDEX.tsv") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [(r["name"], int(r["n"])) for r in rows if r["task"].startswith("classification")]


def stratify_or_none(y):
    _, counts = np.unique(y, return_counts=True)
    return y if counts.min() >= 2 else None


def split(X, y, seed, max_train, max_test):
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=0.2, stratify=stratify_or_none(y), random_state=seed
    )
    if len(y_tr) > max_train:
        X_tr, _, y_tr, _ = train_test_split(
            X_tr, y_tr, train_size=max_train, stratify=stratify_or_none(y_tr), random_state=seed
        )
    if len(y_te) > max_test:
        X_te, _, y_te, _ = train_test_split(
            X_te, y_te, train_size=max_test, stratify=stratify_or_none(y_te), random_state=seed
        )
    return X_tr, X_te, y_tr, y_te


def fit_one(label, seed, X_tr, y_tr, X_te, y_te, extra):
    row = {
        "model": label,
        "test_accuracy": float("nan"),
        "cpu_s": float("nan"),
        "wall_s": float("nan"),
        "error": "",
        "warnings": "",
        "proba_ok": "",
        "topology": "",
        "epochs": "",
        "stop": "",
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c0, w0 = cpu_seconds(), time.perf_counter()
        try:
            model = make_pipeline(SimpleImputer(), StandardScaler(), MODELS[label](seed, extra))
            model.fit(X_tr, y_tr)
            row["cpu_s"] = cpu_seconds() - c0
            row["wall_s"] = time.perf_counter() - w0
            row["test_accuracy"] = model.score(X_te, y_te)
            proba = model.predict_proba(X_te)
            row["proba_ok"] = bool(
                np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1, atol=1e-4)
            )
            est = model[-1]
            if label != "mlp":
                row["topology"] = "-".join(map(str, est.hidden_layer_sizes_))
                row["epochs"] = f"{est.epochs_trained_:.1f}"
                row["stop"] = est.stop_reason_
        except Exception as exc:  # the sweep is there to find these
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            traceback.print_exc()
    row["warnings"] = "; ".join(
        sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0][:120]}" for w in caught})
    )
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the 12 smallest data sets, one seed")
    ap.add_argument("--datasets", nargs="+", default=None)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--max-train", type=int, default=2000)
    ap.add_argument("--max-test", type=int, default=5000)
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="PARAM=VALUE",
        help="SurgeonClassifier parameters for both the Surgeon and its baseline",
    )
    ap.add_argument("--tag", default=None, help="suffix of the result files")
    args = ap.parse_args()
    extra = parse_params(args.set)
    root = data_dir("pmlb")
    if root is None:
        raise SystemExit("PMLB data not found under $SKSURGEON_DATA or ../shared/data")
    sets = classification_sets(root)
    if args.datasets:
        sets = [s for s in sets if s[0] in args.datasets]
    elif args.quick:
        sets = sorted(sets, key=lambda s: s[1])[:12]
    seeds = args.seeds[:1] if args.quick else args.seeds
    rows = []
    for name, _ in sets:
        X, y = load_pmlb(name, root)
        for seed in seeds:
            X_tr, X_te, y_tr, y_te = split(X, y, seed, args.max_train, args.max_test)
            for label in MODELS:
                row = {"dataset": name, "seed": seed, "n_train": len(y_tr)}
                row.update(fit_one(label, seed, X_tr, y_tr, X_te, y_te, extra))
                rows.append(row)
                print(
                    f"{name} seed {seed} {label}: acc {row['test_accuracy']:.4f} "
                    f"cpu {row['cpu_s']:.1f} s {row['topology']} {row['stop']} "
                    f"{row['error']} {row['warnings']}",
                    flush=True,
                )
    tag = "pmlb_sweep" + ("_quick" if args.quick else "") + (f"_{args.tag}" if args.tag else "")
    with open(RESULTS / f"{tag}.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    write(f"{tag}.md", report(rows, sets, seeds, args, tag, extra))


def per_dataset(rows, label, key):
    """{data set: mean of ``key`` over seeds} for fits of ``label`` that did not fail."""
    out = {}
    for name in dict.fromkeys(r["dataset"] for r in rows):
        vals = [r[key] for r in rows if r["dataset"] == name and r["model"] == label]
        if vals and not any(np.isnan(v) for v in vals):
            out[name] = statistics.mean(vals)
    return out


def comparison(rows, a, b):
    acc_a, acc_b = per_dataset(rows, a, "test_accuracy"), per_dataset(rows, b, "test_accuracy")
    cpu_a, cpu_b = per_dataset(rows, a, "cpu_s"), per_dataset(rows, b, "cpu_s")
    common = [n for n in acc_a if n in acc_b]
    diff = {n: 100 * (acc_a[n] - acc_b[n]) for n in common}
    d = list(diff.values())
    ratio = [cpu_a[n] / cpu_b[n] for n in common if cpu_b[n] > 0]
    line = (
        f"| {a} - {b} | {len(common)} | {statistics.mean(d):+.2f} | {statistics.median(d):+.2f} "
        f"| {sum(x > 0 for x in d)} / {sum(x == 0 for x in d)} / {sum(x < 0 for x in d)} "
        f"| {sum(x <= -1 for x in d)} | {sum(x >= 1 for x in d)} "
        f"| {statistics.median(ratio):.2f} |"
    )
    worst = sorted(common, key=lambda n: diff[n])[:8]
    return line, [(n, acc_a[n], acc_b[n], diff[n]) for n in worst]


def report(rows, sets, seeds, args, tag, extra):
    out = [
        header("Every PMLB classification data set with each model's defaults"),
        f"{len(sets)} data sets (INDEX.tsv task 'classification'), seeds {seeds}; "
        f"stratified 80/20 split, training sets capped at {args.max_train} samples and test "
        f"sets at {args.max_test}; `make_pipeline(SimpleImputer(), StandardScaler(), model)`; "
        + (
            "every fit in this process (n_jobs=1). "
            if extra.get("n_jobs") in (None, 1)
            else f"the SurgeonClassifiers with n_jobs={extra['n_jobs']}: their CPU seconds "
            "miss their worker processes' (joblib keeps the workers, so this process never "
            "waits for them), so the CPU ratios are not comparable. "
        )
        + "Models: `surgeon` = "
        "`SurgeonClassifier(random_state=seed)`, `baseline` = the same with "
        "`surgery=False`, `mlp` = `MLPClassifier(random_state=seed)`"
        + (f"; both SurgeonClassifiers also with {extra}." if extra else "."),
        "",
        "## Failures and warnings",
        "",
        "| model | fits | errors | predict_proba not finite or not summing to 1 "
        "| fits with a warning |",
        "|---|---|---|---|---|",
    ]
    for label in MODELS:
        mine = [r for r in rows if r["model"] == label]
        out.append(
            f"| {label} | {len(mine)} | {sum(bool(r['error']) for r in mine)} "
            f"| {sum(r['proba_ok'] is False for r in mine)} "
            f"| {sum(bool(r['warnings']) for r in mine)} |"
        )
    out.append("")
    for label in MODELS:
        errors = [r for r in rows if r["model"] == label and r["error"]]
        for r in errors:
            out.append(f"- {label} error on {r['dataset']} (seed {r['seed']}): {r['error']}")
        counted = Counter(
            w
            for r in rows
            if r["model"] == label and r["warnings"]
            for w in r["warnings"].split("; ")
        )
        for w, k in counted.most_common():
            out.append(f"- {label} warning, {k} fits: {w}")
    out += [
        "",
        "## Accuracy and CPU time, data set by data set (means over seeds)",
        "",
        "Differences in test accuracy points; wins / ties / losses count data sets; "
        "the CPU ratio is the median over data sets.",
        "",
        "| comparison | data sets | mean | median | better / equal / worse "
        "| >= 1 point worse | >= 1 point better | CPU ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    worst = {}
    for a, b in (("surgeon", "baseline"), ("surgeon", "mlp"), ("baseline", "mlp")):
        line, worst[(a, b)] = comparison(rows, a, b)
        out.append(line)
    for (a, b), items in worst.items():
        if a != "surgeon":
            continue
        out += ["", f"Largest losses of {a} against {b}:", ""]
        out += [f"- {n}: {x:.4f} against {y:.4f} ({d:+.2f} points)" for n, x, y, d in items]
    stops = Counter(r["stop"] for r in rows if r["model"] == "surgeon" and r["stop"])
    grew = sum(
        1 for r in rows if r["model"] == "surgeon" and r["topology"] and r["topology"] != "100"
    )
    n_surgeon = sum(1 for r in rows if r["model"] == "surgeon" and r["topology"])
    out += [
        "",
        f"The Surgeon changed its start topology (100) in {grew} of {n_surgeon} fits; "
        "stop reasons: " + ", ".join(f"{k} {v}" for k, v in stops.most_common()) + ".",
        "",
        f"Per-fit figures: `benchmarks/results/{tag}.csv`.",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    main()
