"""How ``size_weight`` (the size term of Eq. 16) trades accuracy for size: the default's evidence.

Too-small and too-large start topologies on small data sets (PMLB letter and optdigits with
training sets capped at 3,000 samples, scikit-learn's digits), stratified 80/20 split,
StandardScaler, several seeds. For each ``size_weight`` the Surgeon's test accuracy and final
parameter count are reported next to the baseline (same start topology, no surgery).

Usage::

    python benchmarks/bench_size_weight.py            # 3 seeds, about 10 minutes
    python benchmarks/bench_size_weight.py --quick    # 1 seed
"""

import argparse
import statistics

from _common import data_dir, header, write
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksurgeon import SurgeonClassifier
from sksurgeon.datasets import load_pmlb

WEIGHTS = [0.0, 0.01, 0.03, 0.1, 1.0]


def cases():
    root = data_dir("pmlb")
    X, y = load_digits(return_X_y=True)
    out = [("digits", X, y, (4,)), ("digits", X, y, (256, 256))]
    if root is not None:
        for name in ("letter", "optdigits"):
            Xp, yp = load_pmlb(name, root)
            out.append((name, Xp, yp, (10,)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = ap.parse_args()
    seeds = args.seeds[:1] if args.quick else args.seeds
    lines = [
        header("size_weight: accuracy against size"),
        f"Seeds {seeds}; training sets capped at 3000 samples; mean test accuracy and mean final "
        "parameter count over seeds.",
        "",
        "| data | start | baseline | " + " | ".join(f"size_weight={w}" for w in WEIGHTS) + " |",
        "|---|---|---|" + "---|" * len(WEIGHTS),
    ]
    for name, X, y, start in cases():
        res = {w: [] for w in ["base", *WEIGHTS]}
        for seed in seeds:
            X_tr, X_te, y_tr, y_te = train_test_split(
                X, y, test_size=0.2, stratify=y, random_state=seed
            )
            if len(y_tr) > 3000:
                X_tr, _, y_tr, _ = train_test_split(
                    X_tr, y_tr, train_size=3000, stratify=y_tr, random_state=seed
                )
            for w in res:
                kw = {"surgery": False} if w == "base" else {"size_weight": w}
                model = make_pipeline(
                    StandardScaler(), SurgeonClassifier(start, random_state=seed, **kw)
                ).fit(X_tr, y_tr)
                res[w].append((model.score(X_te, y_te), model[-1].n_params_))
            print(name, start, seed, {w: r[-1] for w, r in res.items()}, flush=True)
        cells = [
            f"{statistics.mean(a for a, _ in r):.4f} ({statistics.mean(p for _, p in r):.0f})"
            for r in res.values()
        ]
        lines.append(f"| {name} | {start} | " + " | ".join(cells) + " |")
    lines += ["", "Cells: mean test accuracy (mean parameter count)."]
    write("size_weight_quick.md" if args.quick else "size_weight.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
