"""Command line: fit the baseline and the Surgeon on a data set and compare them.

``sksurgeon`` (or ``python -m sksurgeon``) with no arguments fits both on scikit-learn's
digits data from a 10-unit start topology and prints a summary.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np


def _parse_sizes(text):
    try:
        sizes = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected widths like '10' or '300,100', got {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"widths must be positive integers, got {text!r}")
    return sizes


def _parse_max_params(text):
    if text in ("auto", "start", "none"):
        return None if text == "none" else text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive parameter count, 'auto', 'start' or 'none', got {text!r}"
        )
    return value


def _parse_max_cost(text):
    if text == "none":
        return None
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, 'auto' or 'none', got {text!r}")
    return value


def build_parser():
    p = argparse.ArgumentParser(
        prog="sksurgeon",
        description=(
            "Train an MLP with and without topology surgery on a data set and compare them. "
            "Without --data, uses scikit-learn's digits."
        ),
    )
    p.add_argument(
        "--data",
        default="digits",
        help="'digits', 'iris', 'breast_cancer', 'wine', a CSV/TSV file (header row) or an "
        ".npz file with X and y (default: digits)",
    )
    p.add_argument(
        "--target",
        default=None,
        help="label column of a CSV (default: 'target', "
        "'label', 'class' or 'y' if present, else the last column)",
    )
    p.add_argument(
        "--hidden",
        type=_parse_sizes,
        default=(10,),
        help="start topology, e.g. 10 or 300,100,100 (default: 10)",
    )
    p.add_argument("--max-iter", type=int, default=60, help="epochs of the winning lineage")
    p.add_argument("--interval", type=int, default=10, help="epochs between decision points")
    p.add_argument("--solver", choices=["adam", "sgd"], default="adam")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument(
        "--average",
        choices=["auto", "on", "off"],
        default="auto",
        help="average the weights over each epoch's second half, baseline and Surgeon alike "
        "(auto: with --solver sgd)",
    )
    p.add_argument(
        "--size-weight",
        type=float,
        default=None,
        help="weight of network size in the score (1 = the paper's Eq. 16)",
    )
    p.add_argument(
        "--max-params",
        type=_parse_max_params,
        default="auto",
        help="parameter budget for growth: a count, 'start' to never grow beyond the start "
        "topology, 'auto' ('start' for a start with more parameters than training samples, "
        "else none; the default) or 'none'",
    )
    p.add_argument(
        "--max-cost",
        type=_parse_max_cost,
        default=argparse.SUPPRESS,
        help="most epochs the search may train in all, as a multiple of --max-iter, 'auto' "
        "(1.75 for a start too large to grow, without --refit; else 2; the default) or 'none'",
    )
    p.add_argument(
        "--refit",
        action="store_true",
        help="also train the topology found from scratch and keep whichever network is "
        "more accurate on the validation split",
    )
    p.add_argument(
        "--test-size",
        type=float,
        default=0.25,
        help="fraction held out for the final report (default: 0.25)",
    )
    p.add_argument("--no-baseline", action="store_true", help="fit only the Surgeon")
    p.add_argument("--n-jobs", type=int, default=None)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument(
        "--save-model",
        metavar="PATH",
        help="write the fitted Surgeon classifier (sksurgeon.save format; the "
        "inputs it expects are standardised as printed)",
    )
    p.add_argument(
        "--save-log",
        metavar="PATH",
        help="write the surgery log (.csv or .json) and PATH-history alongside",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return p


def _load(args):
    from sklearn import datasets as skd

    builtin = {
        "digits": skd.load_digits,
        "iris": skd.load_iris,
        "breast_cancer": skd.load_breast_cancer,
        "wine": skd.load_wine,
    }
    if args.data in builtin:
        X, y = builtin[args.data](return_X_y=True)
        return np.asarray(X, dtype=float), y, args.data
    from . import datasets

    path = Path(args.data)
    if not path.exists():
        raise SystemExit(f"sksurgeon: error: no such data file: {path}")
    if path.suffix == ".npz":
        X, y = datasets.load_npz(path)
    else:
        X, y = datasets.load_csv(path, target=args.target)
    return X, y, path.name


def _write_log(path, clf):
    path = Path(path)
    rows = clf.surgery_log_
    hist_path = path.with_name(path.stem + "-history" + (path.suffix or ".csv"))
    if path.suffix == ".json":
        path.write_text(
            json.dumps({"surgery_log": rows, "decisions": clf.decisions_}, default=str, indent=1)
        )
        hist_path.write_text(json.dumps(clf.history_, default=str, indent=1))
    else:
        for target, data in ((path, rows), (hist_path, clf.history_)):
            with open(target, "w", newline="") as fh:
                if data:
                    w = csv.DictWriter(fh, fieldnames=list(data[0]))
                    w.writeheader()
                    w.writerows(data)
    return path, hist_path


def main(argv=None):
    """Entry point of ``sksurgeon`` and ``python -m sksurgeon``."""
    args = build_parser().parse_args(argv)
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from . import SurgeonClassifier, save

    X, y, name = _load(args)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=args.test_size, random_state=args.random_state, stratify=y
    )
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    print(
        f"data: {name}, {X.shape[0]} samples, {X.shape[1]} features, "
        f"{len(np.unique(y))} classes; train {len(y_tr)} / test {len(y_te)} (standardised)"
    )
    common = dict(
        hidden_layer_sizes=args.hidden,
        max_iter=args.max_iter,
        interval=args.interval,
        solver=args.solver,
        learning_rate_init=args.learning_rate,
        random_state=args.random_state,
        n_jobs=args.n_jobs,
        device=args.device,
        average={"auto": "auto", "on": True, "off": False}[args.average],
    )
    if args.batch_size:
        common["batch_size"] = args.batch_size
    surgeon_extra = {"max_params": args.max_params, "refit": args.refit}
    if args.size_weight is not None:
        surgeon_extra["size_weight"] = args.size_weight
    if "max_cost" in vars(args):
        surgeon_extra["max_cost"] = args.max_cost
    fits = []
    if not args.no_baseline:
        fits.append(("baseline", SurgeonClassifier(surgery=False, **common)))
    fits.append(
        ("surgeon", SurgeonClassifier(verbose=0 if args.quiet else 1, **common, **surgeon_extra))
    )
    rows = []
    for label, clf in fits:
        if not args.quiet:
            print(f"fitting {label} from topology {list(args.hidden)} ...", flush=True)
        t0 = time.perf_counter()
        clf.fit(X_tr, y_tr)
        rows.append(
            (
                label,
                clf.score(X_te, y_te),
                clf.best_validation_score_,
                clf.n_params_,
                list(clf.hidden_layer_sizes_),
                clf.epochs_trained_,
                time.perf_counter() - t0,
            )
        )
    print("\nsummary")
    print(
        f"{'model':<9} {'test acc':>8} {'val acc':>8} {'params':>8} {'epochs':>7} "
        f"{'seconds':>8}  topology"
    )
    for label, te, va, npar, top, ep, sec in rows:
        print(f"{label:<9} {te:8.4f} {va:8.4f} {npar:8d} {ep:7.1f} {sec:8.2f}  {top}")
    surgeon = fits[-1][1]
    print("\ntopology evolution (surgeon)")
    print(f"  start: {list(args.hidden)}")
    for d in surgeon.decisions_:
        ops = ", ".join(d["chosen"]) if d["chosen"] else "-"
        print(
            f"  epoch {d['epoch']:>4}: {d['outcome']:<9} {list(d['hidden_layer_sizes'])} "
            f"({d['n_params']} params, val {d['val_accuracy']:.4f}) via {ops}"
        )
    print(f"  stopped: {surgeon.stop_reason_}")
    if surgeon.refit_ is not None:
        r = surgeon.refit_
        scores = (
            ""
            if r["status"].startswith("skipped")
            else f" (val {r['val_accuracy']:.4f} against the search's "
            f"{r['search_val_accuracy']:.4f})"
        )
        print(f"  refit from scratch: {r['status']}{scores}")
    if args.save_model:
        save(surgeon, args.save_model)
        print(f"model written to {args.save_model}")
    if args.save_log:
        p, h = _write_log(args.save_log, surgeon)
        print(f"log written to {p} and {h}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
