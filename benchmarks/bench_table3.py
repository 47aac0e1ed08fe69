"""The paper's Table 3 protocol on Fashion-MNIST / MNIST: baseline against the Surgeon.

For each start topology (small 10, medium 10-10-10, large 300-100-100, ReLU) and seed, the
baseline (same start topology, same epochs, no surgery, same training engine) and the Surgeon
are fitted on the official training split (pixels scaled to [0, 1]; decisions on a stratified
validation split carved from it) and scored once on the official test split. Reported like the
paper (mean and std of test accuracy, relative accuracy increase, parameter fraction increase)
plus total epochs trained, wall-time ratio to the baseline and the final topologies.
The baseline and the Surgeon of a cell run back to back, so that machine noise hits both.
With ``--scratch`` each Surgeon's final topology is also trained from scratch (no surgery,
the baseline's epochs and seed), which splits the Surgeon's wall time into what the network
it found costs to train and what the search adds.

Configurations:

- ``paper``: SGD, learning rate 0.005, batch 16, 100 epochs, decision points every 10.
- ``defaults``: the package defaults (Adam, batch 'auto', 100 epochs, every 10).

Usage::

    python benchmarks/bench_table3.py --quick                   # smoke run: minutes
    python benchmarks/bench_table3.py --config paper --seeds 6 63 72
    python benchmarks/bench_table3.py --dataset mnist --config defaults
    # a change of the training itself goes to the baseline too (--set: the Surgeon only):
    python benchmarks/bench_table3.py --config paper --set-all average=True --tag average
    # also train each Surgeon's final topology from scratch (what the network found costs):
    python benchmarks/bench_table3.py --config defaults --seeds 6 63 72 77 97 --scratch
    # one table from the per-run CSVs of several runs (e.g. more seeds run later):
    python benchmarks/bench_table3.py --config defaults --tag seeds5 --combine \
        benchmarks/results/table3_fashion-mnist_defaults.csv \
        benchmarks/results/table3_fashion-mnist_defaults_seeds77-97.csv
    # ... taking some start topologies from one run and the rest from another:
    python benchmarks/bench_table3.py --dataset mnist --tag seeds5 --combine \
        benchmarks/results/table3_mnist_paper.csv:small,medium \
        benchmarks/results/table3_mnist_paper_max_params_start.csv:large
"""

import argparse
import csv
import importlib
import statistics
import time

import joblib
import numpy as np
from _common import RESULTS, data_dir, header, parse_params, write

from sksurgeon import SurgeonClassifier
from sksurgeon.datasets import load_fashion_mnist, load_mnist

TOPOLOGIES = {"small": (10,), "medium": (10, 10, 10), "large": (300, 100, 100)}
CONFIGS = {
    "paper": dict(
        solver="sgd",
        momentum=0.0,
        learning_rate_init=0.005,
        batch_size=16,
        max_iter=100,
        interval=10,
    ),
    "defaults": dict(max_iter=100, interval=10),
}


def load(dataset):
    d = data_dir("fashion-mnist" if dataset == "fashion-mnist" else "mnist")
    if d is None:
        raise SystemExit(f"{dataset} not found under $SKSURGEON_DATA or ../shared/data")
    loader = load_fashion_mnist if dataset == "fashion-mnist" else load_mnist
    X, y = loader(d, kind="train")
    Xt, yt = loader(d, kind="t10k")
    return X, y, Xt, yt


def fmt(values, digits=4):
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=["fashion-mnist", "mnist"], default="fashion-mnist")
    ap.add_argument("--config", choices=list(CONFIGS), default="paper")
    ap.add_argument("--topologies", nargs="+", choices=list(TOPOLOGIES), default=list(TOPOLOGIES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[6, 63, 72])
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument(
        "--device",
        default="cpu",
        help="device of every fit: cpu (default, the tables in README), cuda or auto",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="10,000 training samples, 20 epochs, decisions every 5, one seed",
    )
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="PARAM=VALUE",
        help="extra SurgeonClassifier parameters for the Surgeon fits",
    )
    ap.add_argument(
        "--set-all",
        nargs="*",
        default=[],
        metavar="PARAM=VALUE",
        help="SurgeonClassifier parameters for every fit, the baseline's too (a change of "
        "the training itself, such as average=True, that the comparison must share)",
    )
    ap.add_argument(
        "--tag",
        default="",
        help="suffix of the result files (keeps a --set variant from replacing the main table)",
    )
    ap.add_argument(
        "--scratch",
        action="store_true",
        help="also train each Surgeon's final topology from scratch without surgery (same "
        "seed and epochs as the baseline): the cost of the network found, without the search",
    )
    ap.add_argument(
        "--combine",
        nargs="+",
        metavar="CSV",
        help="fit nothing: write one table from these per-run CSVs of earlier runs; "
        "PATH:small,medium takes only those start topologies from PATH",
    )
    ap.add_argument(
        "--note",
        default="",
        help="with --combine: a sentence for the table's note (e.g. how the runs were scheduled)",
    )
    args = ap.parse_args()
    if args.combine:
        rows = []
        for spec in args.combine:
            path, only = combine_source(spec)
            rows += [r for r in read_rows(path) if r[0] in args.topologies and r[0] in only]
        topologies = [t for t in args.topologies if any(r[0] == t for r in rows)]
        sources = ", ".join(f"`{path}`" for path in args.combine)
        seeds = sorted({r[1] for r in rows})
        note = f"Combined from the per-run figures of {sources}; seeds {seeds}." + (
            f" {args.note}" if args.note else ""
        )
        write_results(args, rows, topologies, note)
        return

    X, y, Xt, yt = load(args.dataset)
    params = dict(CONFIGS[args.config], device=args.device)
    params.update(parse_params(args.set_all))
    seeds = args.seeds
    if args.quick:
        idx = np.random.default_rng(0).permutation(len(y))[:10000]
        X, y = X[idx], y[idx]
        params.update(max_iter=20, interval=5)
        seeds = seeds[:1]
    extra = {}
    extra.update(parse_params(args.set))
    warm_up(X, y, args.n_jobs, args.device)
    rows = []
    for topo in args.topologies:
        for seed in seeds:
            cell = {}
            runs = [("baseline", {"surgery": False}), ("surgeon", extra)]
            if args.scratch:
                runs.append(("scratch", {"surgery": False}))
            for label, kw in runs:
                start = TOPOLOGIES[topo]
                if label == "scratch":
                    start = tuple(cell["surgeon"]["topology"])
                clf = SurgeonClassifier(
                    hidden_layer_sizes=start,
                    random_state=seed,
                    n_jobs=args.n_jobs,
                    **params,
                    **kw,
                )
                t0 = time.perf_counter()
                clf.fit(X, y)
                wall = time.perf_counter() - t0
                cell[label] = dict(
                    acc=clf.score(Xt, yt),
                    val=clf.best_validation_score_,
                    params=clf.n_params_,
                    epochs=clf.epochs_trained_,
                    wall=wall,
                    topology=list(clf.hidden_layer_sizes_),
                    lineage=clf.n_iter_,
                    # where the search's epochs went: tries per decision, backtracks and
                    # candidates stopped early
                    decisions=len(clf.decisions_),
                    tries=sum(d["tries"] for d in clf.decisions_),
                    backtracks=sum(d["outcome"] == "backtrack" for d in clf.decisions_),
                    pruned=sum(e["status"].startswith("pruned") for e in clf.surgery_log_),
                    stop=clf.stop_reason_,
                    refit=clf.refit_["status"] if clf.refit_ else "",
                )
                print(
                    f"{args.dataset} {topo} seed {seed} {label}: test {cell[label]['acc']:.4f} "
                    f"{cell[label]['topology']} {cell[label]['params']} params "
                    f"{cell[label]['epochs']:.1f} epochs {wall:.0f} s",
                    flush=True,
                )
            rows.append((topo, seed, cell))

    note = (
        f"Parameters: {params}; Surgeon extras: {extra or 'package defaults'}; "
        f"n_jobs={args.n_jobs}; seeds {seeds}; train {len(y)} / test {len(yt)}."
    )
    write_results(args, rows, args.topologies, note)


def warm_up(X, y, n_jobs, device):
    """An untimed short fit, and the worker processes started and importing the package.

    Without it the first timed fit of the run pays the process's start-up (torch's first
    calls, the workers' imports), which skews the first cell's wall-time ratios.
    """
    SurgeonClassifier((10,), max_iter=2, surgery=False, random_state=0, device=device).fit(
        X[:5000], y[:5000]
    )
    n = joblib.effective_n_jobs(n_jobs)
    joblib.Parallel(n_jobs=n_jobs)(
        joblib.delayed(importlib.import_module)("sksurgeon._surgeon") for _ in range(n)
    )


def write_results(args, rows, topologies, note):
    """Write the per-run CSV and the Markdown table of ``rows`` ``(topology, seed, cell)``."""
    tag = (
        f"table3_{args.dataset}_{args.config}"
        + ("_quick" if args.quick else "")
        + (f"_{args.tag}" if args.tag else "")
    )
    with open(RESULTS / f"{tag}.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "topology",
                "seed",
                "model",
                "test_accuracy",
                "val_accuracy",
                "n_params",
                "epochs_trained",
                "lineage_epochs",
                "wall_s",
                "final_topology",
                "decisions",
                "tries",
                "backtracks",
                "pruned",
                "stop_reason",
                "refit",
            ]
        )
        for topo, seed, cell in rows:
            for label, c in cell.items():
                w.writerow(
                    [
                        topo,
                        seed,
                        label,
                        c["acc"],
                        c["val"],
                        c["params"],
                        c["epochs"],
                        c["lineage"],
                        c["wall"],
                        "-".join(map(str, c["topology"])),
                        c["decisions"],
                        c["tries"],
                        c["backtracks"],
                        c["pruned"],
                        c["stop"],
                        c["refit"],
                    ]
                )
    out = [
        header(
            f"Table 3 protocol: {args.dataset}, config '{args.config}'"
            + (" (quick)" if args.quick else ""),
            code="that of each run combined (see their files)" if args.combine else None,
            machine_line="that of each run combined (see their files)" if args.combine else None,
        ),
        note,
        "",
        "| topology | baseline acc | surgeon acc | rel. acc. incr. [%] | param. fraction "
        "incr. [%] | epochs baseline | epochs surgeon | epochs ratio | wall ratio | "
        "decisions / tries / pruned | final topologies (lineage epochs, stop) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for topo in topologies:
        cells = cells_of(rows, topo)
        fig = summary(cells)
        b, s = fig["baseline"], fig["surgeon"]
        eb = values(cells, "baseline", "epochs")
        es = values(cells, "surgeon", "epochs")
        search = " / ".join(
            f"{statistics.mean(c['surgeon'][k] for c in cells):.1f}"
            for k in ("decisions", "tries", "pruned")
        )
        tops = "; ".join(
            f"{'-'.join(map(str, c['surgeon']['topology']))} "
            f"({c['surgeon']['lineage']} ep., {c['surgeon']['stop']})"
            for c in cells
        )
        rel = 100 * (statistics.mean(s) / statistics.mean(b) - 1)
        out.append(
            f"| {start_label(topo)} | {fmt(b)} | {fmt(s)} | "
            f"{rel:.2f} | {fmt(fig['growth'], 2)} | {statistics.mean(eb):.1f} "
            f"| {statistics.mean(es):.1f} | {fig['epochs_ratio']:.2f} | {fig['wall_ratio']:.2f} "
            f"| {search} | {tops} |"
        )
    out += paired_lines(rows, topologies)
    out += goal_lines(args.dataset, rows, topologies)
    refits = [t for t in topologies if any(c["surgeon"]["refit"] for tt, _, c in rows if tt == t)]
    if refits:
        out += [
            "",
            "With `refit=True` the Surgeon also trains the topology it found from scratch and "
            "returns whichever network is more accurate on the validation split. Under a "
            "`max_cost` budget the search stops early enough to leave the refit its "
            "`max_iter` epochs, so it is shorter than without the refit.",
            "",
            "| topology | scratch network kept (seeds) | skipped (start topology kept) |",
            "|---|---|---|",
        ]
        for topo in refits:
            status = [c["surgeon"]["refit"] for c in cells_of(rows, topo)]
            out.append(
                f"| {start_label(topo)} | "
                f"{sum(st.startswith('kept') for st in status)} of {len(status)} | "
                f"{sum(st.startswith('skipped') for st in status)} |"
            )
    scratch = [t for t in topologies if all("scratch" in c for tt, _, c in rows if tt == t)]
    if scratch:
        out += [
            "",
            "Each Surgeon's final topology trained from scratch, without surgery, for the "
            "baseline's epochs and with the same seed (`--scratch`): what the network found "
            "costs and reaches on its own. The Surgeon's wall time over the scratch run's is "
            "the price of the search itself.",
            "",
            "| topology | surgeon acc | scratch acc | scratch >= surgeon (seeds) | "
            "wall ratio scratch / baseline | wall ratio surgeon / scratch |",
            "|---|---|---|---|---|---|",
        ]
        for topo in scratch:
            cells = cells_of(rows, topo)
            s = values(cells, "surgeon", "acc")
            f = values(cells, "scratch", "acc")
            fb = ratios(cells, "scratch", "baseline", "wall")
            sf = ratios(cells, "surgeon", "scratch", "wall")
            wins = sum(c["scratch"]["acc"] >= c["surgeon"]["acc"] for c in cells)
            out.append(
                f"| {start_label(topo)} | {fmt(s)} | {fmt(f)} | "
                f"{wins} of {len(cells)} | {statistics.median(fb):.2f} | "
                f"{statistics.median(sf):.2f} |"
            )
    out.append("")
    out.append(f"Per-run figures: `benchmarks/results/{tag}.csv`.")
    write(f"{tag}.md", "\n".join(out) + "\n")


def paired_lines(rows, topologies):
    """Surgeon minus baseline seed by seed: the comparison the cells' means blur.

    Both fits of a seed share the validation split and the start network's initial weights,
    so the per-seed difference is less noisy than the two means' difference.
    """
    out = [
        "",
        "Seed by seed (same seed, same validation split): Surgeon minus baseline test accuracy.",
        "",
        "| topology | mean ± std [points] | min .. max [points] | Surgeon >= baseline (seeds) |",
        "|---|---|---|---|",
    ]
    for topo in topologies:
        fig = summary(cells_of(rows, topo))
        d = fig["gain"]
        out.append(
            f"| {start_label(topo)} | {fmt(d, 2)} | {min(d):+.2f} .. {max(d):+.2f} "
            f"| {fig['wins']} of {len(d)} |"
        )
    return out


#: Goals of the project's issues, by data set: test accuracy floors of the Surgeon per start
#: topology, and whether the large start must end with no more parameters than it started.
ACCURACY_GOALS = {
    "fashion-mnist": {"small": 0.87, "medium": 0.87, "large": 0.89},
    "mnist": {"small": 0.96},
}
MAX_EPOCHS_RATIO = 2.0
MAX_WALL_RATIO = 1.5


def goal_lines(dataset, rows, topologies):
    """Each goal, the figure measured for it and whether it holds."""
    out = [
        "",
        "Goals set for the package: accuracy (the Surgeon at least as good as its baseline, and "
        "floors per data set) and cost (epochs and wall time against the baseline).",
        "",
        "| topology | goal | measured | holds |",
        "|---|---|---|---|",
    ]

    def line(topo, goal, measured, holds):
        out.append(f"| {start_label(topo)} | {goal} | {measured} | {'yes' if holds else 'no'} |")

    for topo in topologies:
        cells = cells_of(rows, topo)
        fig = summary(cells)
        s, b = statistics.mean(fig["surgeon"]), statistics.mean(fig["baseline"])
        line(topo, "Surgeon >= baseline (mean test accuracy)", f"{s:.4f} vs {b:.4f}", s >= b)
        floor = ACCURACY_GOALS.get(dataset, {}).get(topo)
        if floor is not None:
            line(topo, f"Surgeon >= {floor}", f"{s:.4f}", s >= floor)
        if topo == "large" and dataset == "fashion-mnist":
            grown = sum(c["surgeon"]["params"] > c["baseline"]["params"] for c in cells)
            line(
                topo,
                "no more parameters than the start",
                f"grew in {grown} of {len(cells)} seeds",
                grown == 0,
            )
        er, wr = fig["epochs_ratio"], fig["wall_ratio"]
        line(topo, f"epochs ratio <= {MAX_EPOCHS_RATIO}", f"{er:.2f}", er <= MAX_EPOCHS_RATIO)
        line(topo, f"wall ratio <= {MAX_WALL_RATIO} (median)", f"{wr:.2f}", wr <= MAX_WALL_RATIO)
    return out


def summary(cells):
    """The figures every table reports for one start topology, from its per-seed cells.

    Test accuracies of both models seed by seed, the Surgeon's gain over its baseline per seed
    in points and how many seeds are at least as good, the parameter growth per seed in %,
    the ratio of mean epochs trained and the median wall-time ratio.
    """
    gain = [100 * (c["surgeon"]["acc"] - c["baseline"]["acc"]) for c in cells]
    return {
        "baseline": values(cells, "baseline", "acc"),
        "surgeon": values(cells, "surgeon", "acc"),
        "gain": gain,
        "wins": sum(x >= 0 for x in gain),
        "growth": [100 * (r - 1) for r in ratios(cells, "surgeon", "baseline", "params")],
        "epochs_ratio": statistics.mean(values(cells, "surgeon", "epochs"))
        / statistics.mean(values(cells, "baseline", "epochs")),
        "wall_ratio": statistics.median(ratios(cells, "surgeon", "baseline", "wall")),
    }


def start_label(topo):
    """``small 10``: a start topology's name and widths, as the tables show it."""
    return f"{topo} {'-'.join(map(str, TOPOLOGIES[topo]))}"


def cells_of(rows, topo):
    """The per-seed cells of one start topology."""
    return [c for t, _, c in rows if t == topo]


def values(cells, model, key):
    """One figure of one model, seed by seed."""
    return [c[model][key] for c in cells]


def ratios(cells, model, reference, key):
    """One figure of ``model`` over the same of ``reference``, seed by seed."""
    return [c[model][key] / c[reference][key] for c in cells]


def combine_source(spec):
    """``PATH`` or ``PATH:TOPO,TOPO``: a per-run CSV and the start topologies to take from it."""
    path, sep, names = spec.rpartition(":")
    if sep and names and set(names.split(",")) <= set(TOPOLOGIES):
        return path, set(names.split(","))
    return spec, set(TOPOLOGIES)


def read_rows(path):
    """``(topology, seed, cell)`` rows back from a per-run CSV that this script wrote."""
    cells = {}
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            cells.setdefault((r["topology"], int(r["seed"])), {})[r["model"]] = dict(
                acc=float(r["test_accuracy"]),
                val=float(r["val_accuracy"]),
                params=int(r["n_params"]),
                epochs=float(r["epochs_trained"]),
                wall=float(r["wall_s"]),
                topology=[int(w) for w in r["final_topology"].split("-")],
                lineage=int(r["lineage_epochs"]),
                decisions=int(r["decisions"]),
                tries=int(r["tries"]),
                backtracks=int(r["backtracks"]),
                pruned=int(r["pruned"]),
                stop=r["stop_reason"],
                refit=r.get("refit", ""),
            )
    return [(topo, seed, cell) for (topo, seed), cell in cells.items()]


if __name__ == "__main__":
    main()
