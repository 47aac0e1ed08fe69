"""When is a candidate hopeless? Accuracy along a candidate's recuperative training.

The evidence for ``SurgeonClassifier(prune_margin=...)``. Fashion-MNIST (official training
set, 10 % stratified validation split), the Table 3 start topologies small (10), medium
(10-10-10) and large (300-100-100) trained 10, 40 and 70 epochs (Adam, batch 200, no surgery);
at each such point the candidates the Surgeon would retrain (best per operation type, plus two
random picks) are built and retrained 250 batches (the longest budget at the paper's
multipliers), with the validation accuracy recorded after 0, 25, 50, 125 and 250 batches.
For each margin it reports how many long candidates the check after 25 batches would stop,
the batches that saves, and how many of the stopped ones would have been among the two best
candidates after the full retraining (a wrong prune).

Usage::

    python benchmarks/bench_prune.py           # about 4 minutes on 2 cores
    python benchmarks/bench_prune.py --quick   # small and medium only, about 1 minute
"""

import argparse

import numpy as np
import torch
from _common import fashion_mnist, header, write
from sklearn.model_selection import train_test_split

from sksurgeon import SurgeonClassifier
from sksurgeon._recommend import recommend, select_candidates
from sksurgeon._surgeon import RETRAIN_MULTIPLIERS, apply_candidate
from sksurgeon._training import TrainConfig, accuracy, train

TOPOLOGIES = {"small": (10,), "medium": (10, 10, 10), "large": (300, 100, 100)}
CHECKPOINTS = [25, 50, 125, 250]
MARGINS = [0.005, 0.01, 0.02, 0.03, 0.05]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    loaded = fashion_mnist()
    if loaded is None:
        raise SystemExit("fashion-mnist not found under $SKSURGEON_DATA or ../shared/data")
    X, y, _, _ = loaded
    Xtr, Xv, ytr, yv = train_test_split(X, y, test_size=0.1, stratify=y, random_state=0)
    Xtr_t, Xv_t = torch.as_tensor(Xtr), torch.as_tensor(Xv)
    ytr_t, yv_t = torch.as_tensor(ytr.astype(np.int64)), torch.as_tensor(yv.astype(np.int64))
    config = TrainConfig(solver="adam", learning_rate=1e-3, batch_size=200, alpha=1e-4)
    topologies = ["small", "medium"] if args.quick else list(TOPOLOGIES)
    groups = []
    for topo in topologies:
        for epochs in (10, 40, 70):
            clf = SurgeonClassifier(
                hidden_layer_sizes=TOPOLOGIES[topo], max_iter=epochs, surgery=False, random_state=1
            ).fit(Xtr, ytr)
            net = clf.module_
            parent = accuracy(net, Xv_t, yv_t)
            chosen = select_candidates(
                recommend(net), n_random=2, rng=np.random.default_rng(epochs)
            )
            rows = []
            for c in chosen:
                cand = apply_candidate(
                    net, c, generator=torch.Generator().manual_seed(0), X_sample=Xtr_t[:1024]
                )
                gen = torch.Generator().manual_seed(1)
                accs, done, state = [accuracy(cand, Xv_t, yv_t)], 0, None
                for cp in CHECKPOINTS:
                    res = train(
                        cand, Xtr_t, ytr_t, config, generator=gen, n_batches=cp - done, state=state
                    )
                    state, done = res.state, cp
                    accs.append(accuracy(cand, Xv_t, yv_t))
                rows.append((c, accs))
                print(topo, epochs, c.describe(), " ".join(f"{a:.4f}" for a in accs), flush=True)
            groups.append((topo, epochs, parent, rows))

    out = [
        header("Hopeless candidates: accuracy along the recuperative training"),
        "Fashion-MNIST, 54,000 / 6,000 stratified train / validation; Adam lr 1e-3, batch 200;",
        "start networks trained without surgery for the given epochs (random_state=1).",
        "",
        "## Validation accuracy after 0 / 25 / 50 / 125 / 250 batches of retraining",
        "",
        "| start | epochs | parent | candidate | long | 0 | 25 | 50 | 125 | 250 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for topo, epochs, parent, rows in groups:
        for c, accs in rows:
            long_ = "yes" if RETRAIN_MULTIPLIERS[c.operation] > 1 else ""
            out.append(
                f"| {topo} | {epochs} | {parent:.4f} | {c.describe()} | {long_} | "
                + " | ".join(f"{a:.4f}" for a in accs)
                + " |"
            )
    out += [
        "",
        "## The check after 25 batches, by margin",
        "",
        "A long candidate (multiplier > 1) is stopped when its accuracy after 25 batches is more",
        "than the margin below its parent's. Wrong prunes: stopped candidates that would have",
        "been among the two best of their decision point after 250 batches.",
        "",
        "| margin | long candidates | stopped | batches saved | wrong prunes |",
        "|---|---|---|---|---|",
    ]
    for m in MARGINS:
        n_long = stopped = wrong = 0
        for _, _, parent, rows in groups:
            top2 = sorted(a[-1] for _, a in rows)[-2]
            for c, accs in rows:
                if RETRAIN_MULTIPLIERS[c.operation] == 1:
                    continue
                n_long += 1
                if accs[1] < parent - m:
                    stopped += 1
                    wrong += accs[-1] >= top2
        saved = stopped * (CHECKPOINTS[-1] - CHECKPOINTS[0])
        out.append(f"| {m:g} | {n_long} | {stopped} | {saved} | {wrong} |")
    write("prune" + ("_quick" if args.quick else "") + ".md", "\n".join(out) + "\n")


if __name__ == "__main__":
    main()
