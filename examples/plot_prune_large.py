"""
===============================
Pruning a too-large network
===============================

Start far too wide for the digits (two hidden layers of 256 units, about 85 000 parameters
for 64 inputs). The first layer is wider than its input, so at least ``256 - 64`` of its
singular values are exactly zero and Eq. 13 marks those neurons as removable. The Surgeon
removes neurons (keeping the most informative ones and refitting the next layer by least
squares, ``remove_method='data'``), truncates layers to low rank or removes whole layers,
as long as the validation accuracy holds.
"""

# %%
import os

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sksurgeon import SurgeonClassifier
from sksurgeon.plotting import plot_comparison, plot_surgery_history

FAST = os.environ.get("SKSURGEON_EXAMPLE_FAST", "0") not in ("", "0")
max_iter, interval = (12, 4) if FAST else (60, 10)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0, stratify=y)

common = dict(hidden_layer_sizes=(256, 256), max_iter=max_iter, interval=interval, random_state=0)
baseline = SurgeonClassifier(surgery=False, **common).fit(X_train, y_train)
# size_weight=1 is the paper's Eq. 16, which rewards shrinking more strongly than our default.
surgeon = SurgeonClassifier(size_weight=1.0, **common).fit(X_train, y_train)

for name, est in (("baseline", baseline), ("Surgeon", surgeon)):
    print(
        f"{name:9s} test {est.score(X_test, y_test):.3f}  topology {est.hidden_layer_sizes_}  "
        f"{est.n_params_} parameters"
    )
print(f"parameters kept: {surgeon.n_params_ / baseline.n_params_:.1%}")

# %%
# The run, decision by decision
axes = plot_surgery_history(surgeon)

# %%
# Against the baseline
axes = plot_comparison(baseline, surgeon)
plt.show()
