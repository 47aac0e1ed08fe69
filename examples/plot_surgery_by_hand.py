"""
=============================================
Surgery by hand on your own ``nn.Sequential``
=============================================

The operations the Surgeon uses are public pure functions in :mod:`sksurgeon.surgery`. Each
takes a ``torch.nn.Sequential`` MLP (``Linear, activation, ..., Linear``) and returns a new
one; the input network is never modified. Here we apply each to a small trained ReLU network
in float64 and measure how much the function changes,
``max |f_new(x) - f(x)| / max |f(x)|`` on held-out inputs.
"""

# %%
# A network of your own
# ---------------------
# Any ``nn.Sequential`` in the convention works; we train one briefly so that its weights
# are not random.
import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from sksurgeon import surgery

FAST = os.environ.get("SKSURGEON_EXAMPLE_FAST", "0") not in ("", "0")
steps = 50 if FAST else 200

torch.manual_seed(0)
X, y = load_digits(return_X_y=True)
X = torch.as_tensor(X / 16, dtype=torch.float64)
y = torch.as_tensor(y)
X_train, X_test, y_train = X[:1200], X[1200:], y[:1200]

net = nn.Sequential(
    nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 10)
).double()
opt = torch.optim.Adam(net.parameters(), lr=1e-2)
for _ in range(steps):
    opt.zero_grad()
    nn.functional.cross_entropy(net(X_train), y_train).backward()
    opt.step()
surgery.check_mlp(net)
print("hidden widths", surgery.hidden_widths(net), "parameters", surgery.count_parameters(net))


def change(new):
    """Relative change of the outputs on the held-out inputs."""
    with torch.no_grad():
        before, after = net(X_test), new(X_test)
    return float((after - before).abs().max() / before.abs().max())


# %%
# Every operation, with its exactness
# -----------------------------------
gen = torch.Generator().manual_seed(0)
candidates = {
    "identity": surgery.identity(net),
    "add_neurons(+8, noise=0)": surgery.add_neurons(net, 0, 8, noise=0.0, generator=gen),
    "add_neurons(+8, noise=1e-3)": surgery.add_neurons(net, 0, 8, generator=gen),
    "add_neurons(+8, random)": surgery.add_neurons(net, 0, 8, init="random", generator=gen),
    "widen(+8, +8, random)": surgery.widen(net, [8, 8], init="random", generator=gen),
    "add_layer after 0": surgery.add_layer(net, 0),
    "remove_neurons(-4, svd)": surgery.remove_neurons(net, 1, 4, method="svd"),
    "remove_neurons(-4, data)": surgery.remove_neurons(net, 1, 4, method="data", X=X_train),
    "remove_layer 1": surgery.remove_layer(net, 1),
    "truncate(rank 32) 0": surgery.truncate(net, 0, 32),
    "truncate(rank 12) 0": surgery.truncate(net, 0, 12),
}
print(f"{'operation':30s} {'widths':>14s} {'params':>7s} {'change':>9s}")
for name, new in candidates.items():
    widths = str(surgery.hidden_widths(new))
    print(f"{name:30s} {widths:>14s} {surgery.count_parameters(new):7d} {change(new):9.2e}")

# %%
# Identity, adding neurons without noise or with fresh units (zero outgoing weights, the
# estimator's default), widening every layer, adding a ReLU layer and a full-rank truncation
# change the function only by rounding; the default noise of ``add_neurons`` (which lets the
# copies diverge under training) costs about ``1e-4``. The SVD removal is not
# function-preserving under ReLU (the activation acts on rotated coordinates). The
# data-aware removal keeps the most informative units and refits the next layer by least
# squares on a training sample: it is exact when the dropped units are dead or affine
# combinations of kept ones on the data, which is common after training:
with torch.no_grad():
    hidden1 = net[:4](X_train)
print("dead units in hidden layer 1:", int((hidden1.max(dim=0).values == 0).sum()), "of 16")

# %%
# Removing a ReLU layer merges it into the next ``Linear`` and drops its nonlinearity, which
# is exact only for an identity activation. Truncating to a rank below the layer's input
# dimension is the best low-rank approximation (Eckart-Young) of its weights, not of the
# function.
#
# Singular values: what the recommendation module reads
# -----------------------------------------------------
# Eq. 13 of the paper counts the singular values of a layer's incoming weights below
# ``eps_rel`` times the largest or below ``eps_abs``: those neurons can go.
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
for layer, ax in enumerate(axes):
    s = surgery.singular_values(net, layer).detach().numpy()
    removable = (s < 0.005 * s[0]) | (s < 0.3)
    ax.bar(np.arange(len(s)), s, color=np.where(removable, "tab:red", "tab:blue"))
    ax.axhline(0.3, color="grey", linestyle="--", linewidth=0.8)
    ax.set_title(f"hidden layer {layer}: {removable.sum()} of {len(s)} removable")
    ax.set_xlabel("index")
axes[0].set_ylabel("singular value")
plt.show()
