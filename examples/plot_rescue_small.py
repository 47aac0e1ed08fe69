"""
=================================
Rescuing a too-small network
=================================

A network of two hidden units cannot separate ten digit classes well. Trained as it is
(``surgery=False``, the baseline, same engine) it plateaus; the Surgeon notices that every
singular value of the layer carries information (nothing is removable, so the scores favour
growth) and widens or deepens it.

With ``size_weight=0`` nothing holds the network back from growing, so the result is a
larger, better network; the parameter count is the price. A fair comparison also counts
compute: ``epochs_trained_`` includes the brief retraining of every
candidate and the training of every branch. The last part trains the topology found once
more from scratch (``refit=True``) and keeps the better of the two networks.
"""

# %%
import os

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sksurgeon import SurgeonClassifier
from sksurgeon.plotting import (
    plot_comparison,
    plot_surgery_history,
    plot_topology_evolution,
)

FAST = os.environ.get("SKSURGEON_EXAMPLE_FAST", "0") not in ("", "0")
max_iter, interval = (12, 4) if FAST else (80, 10)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0, stratify=y)

common = dict(
    hidden_layer_sizes=(2,), max_iter=max_iter, interval=interval, batch_size=32, random_state=0
)
baseline = SurgeonClassifier(surgery=False, **common).fit(X_train, y_train)
# size_weight is the weight of the parameter fraction PF in the score
# a + exp(gain - size_weight * PF). Widening a 2-unit layer to 22 units multiplies the
# parameters by about ten, which even size_weight=0.05 punishes by exp(-0.5): more than a few
# batches of retraining can win back. Without a size penalty the growth can pay for itself.
surgeon = SurgeonClassifier(size_weight=0.0, patience=None, **common).fit(X_train, y_train)

for name, est in (("baseline", baseline), ("Surgeon", surgeon)):
    print(
        f"{name:9s} test {est.score(X_test, y_test):.3f}  topology {est.hidden_layer_sizes_}  "
        f"{est.n_params_} parameters  {est.epochs_trained_:.0f} epochs of compute"
    )

# %%
# Learning curves and parameter counts of both
axes = plot_comparison(baseline, surgeon)

# %%
# How the topology grew
ax = plot_topology_evolution(surgeon)

# %%
# Refitting the topology found
# ----------------------------
# The grown network keeps what the two-unit one learnt. ``refit=True`` also trains the
# topology found from fresh weights, as long as the lineage trained, and keeps whichever
# network is more accurate on the validation split. The search itself is the same: same
# ``random_state``, same decisions, same topology.
refitted = SurgeonClassifier(size_weight=0.0, patience=None, refit=True, **common)
refitted.fit(X_train, y_train)
r = refitted.refit_
print(
    f"refit: {r['status']}; validation {r['val_accuracy']:.3f} from scratch against "
    f"{r['search_val_accuracy']:.3f} for the search's network; "
    f"test {refitted.score(X_test, y_test):.3f}; "
    f"{refitted.epochs_trained_:.0f} epochs of compute"
)
axes = plot_surgery_history(refitted, topology=False)
plt.show()
