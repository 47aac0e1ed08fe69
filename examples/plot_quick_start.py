"""
===========
Quick start
===========

Fit a :class:`~sksurgeon.SurgeonClassifier` on scikit-learn's digits, starting from a single
hidden layer of 10 units, and look at what the Surgeon did: the learning curve of the winning
lineage, the operation kept at every decision point and the topology after each of them.
"""

# %%
# Data and model
# --------------
# ``SKSURGEON_EXAMPLE_FAST=1`` shrinks the budget so that the documentation builds quickly.
import os

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sksurgeon import SurgeonClassifier
from sksurgeon.plotting import plot_surgery_history

FAST = os.environ.get("SKSURGEON_EXAMPLE_FAST", "0") not in ("", "0")
max_iter, interval = (12, 4) if FAST else (60, 10)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0, stratify=y)

clf = SurgeonClassifier(
    hidden_layer_sizes=(10,), max_iter=max_iter, interval=interval, random_state=0
)
clf.fit(X_train, y_train)
print(f"test accuracy     {clf.score(X_test, y_test):.3f}")
print(f"final topology    {clf.hidden_layer_sizes_} ({clf.n_params_} parameters)")
print(f"lineage epochs    {clf.n_iter_}")
print(f"compute (epochs)  {clf.epochs_trained_:.1f}")
print(f"stopped because   {clf.stop_reason_}")

# %%
# The decisions
# -------------
# ``decisions_`` has one entry per decision point: whether a step was kept or the search
# backtracked, which operations were kept, and the topology and validation accuracy of the
# best branch afterwards.
for d in clf.decisions_:
    print(d["decision"], d["outcome"], d["chosen"], d["hidden_layer_sizes"], d["n_params"])

# %%
# The picture
# -----------
# Validation accuracy and parameter count per epoch of the winning lineage, each decision
# marked, and the topology after each decision as boxes (the paper's Fig. 3 and 5).
axes = plot_surgery_history(clf)
plt.show()
