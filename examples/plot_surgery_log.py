"""
==============================
Reading the surgery log
==============================

``surgery_log_`` records every candidate the Surgeon built and retrained: the operation, the
layer, the amount, its parameter fraction (the paper's PF), how far the surgery moved the
outputs (``drift``), the validation accuracy before and after the brief retraining, the
accuracy gain, the score of Eq. 16, whether it was selected as a branch and whether the step
was finally kept. As a pandas DataFrame it answers the usual questions.
"""

# %%
import os

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.datasets import load_digits

from sksurgeon import SurgeonClassifier

FAST = os.environ.get("SKSURGEON_EXAMPLE_FAST", "0") not in ("", "0")
max_iter, interval = (12, 4) if FAST else (60, 10)

X, y = load_digits(return_X_y=True)
clf = SurgeonClassifier(
    hidden_layer_sizes=(32,), max_iter=max_iter, interval=interval, random_state=0
).fit(X / 16, y)

log = pd.DataFrame(clf.surgery_log_)
pd.set_option("display.width", 120)
print(log.columns.tolist())
cols = ["decision", "operation", "layer", "amount", "param_fraction", "drift"]
cols += ["accuracy_after", "accuracy_gain", "score", "selected", "accepted", "status"]
print(log[cols].round(3).to_string())

# %%
# Per operation type: how often tried, selected and kept, and the mean drift
summary = log.groupby("operation").agg(
    tried=("score", "size"),
    selected=("selected", "sum"),
    accepted=("accepted", "sum"),
    mean_drift=("drift", "mean"),
    mean_gain=("accuracy_gain", "mean"),
)
print(summary.round(4))

# %%
# The winners of each decision point: the highest score, as Eq. 16 ranks them
winners = log.loc[log.groupby("decision")["score"].idxmax(), ["decision", "operation", "score"]]
print(winners.to_string(index=False))

# %%
# Score against parameter fraction: growth (PF > 1) must pay for itself in accuracy.
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for op, group in log.groupby("operation"):
    ax.scatter(group["param_fraction"], group["score"], label=op, s=25)
ax.set_xlabel("parameter fraction (candidate / parent)")
ax.set_ylabel("score (Eq. 16)")
ax.legend(fontsize=8)

# %%
# The per-epoch history is a DataFrame too
history = pd.DataFrame(clf.history_)
print(history.tail())
plt.show()
