"""Pictures of a Surgeon run: learning curves, decisions and the evolution of the topology.

matplotlib is an optional dependency (``pip install matplotlib``); it is imported only when a
function here is called.

Every function takes a fitted :class:`~sksurgeon.SurgeonClassifier` (or a fitted
:class:`~sklearn.pipeline.Pipeline` ending in one, or a fitted search such as
:class:`~sklearn.model_selection.GridSearchCV` whose best estimator is one).

Epochs on the x axes are epochs of the *winning lineage* (``history_``): a decision point that
backtracks costs search time but does not train the lineage, so the lineage epoch at which a
decision was taken is computed from ``decisions_`` rather than read from it.
"""

from __future__ import annotations

import math
import re

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "decision_epochs",
    "plot_comparison",
    "plot_surgery_history",
    "plot_topology_evolution",
    "short_operation",
]

_ACCEPTED_COLOR = "#1f77b4"
_BACKTRACK_COLOR = "#d62728"
_IO_COLOR = "#d9d9d9"
_HIDDEN_COLOR = "#9ecae1"


def _pyplot():
    """Import matplotlib.pyplot on first use, with an actionable message when it is missing."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "sksurgeon.plotting needs matplotlib, which is not installed; "
            "install it with `pip install matplotlib` (or `pip install sksurgeon[plot]`)"
        ) from exc
    return plt


def _surgeon_of(estimator):
    """The fitted SurgeonClassifier inside ``estimator`` (itself, a Pipeline's last step, or
    a search's ``best_estimator_``)."""
    est = estimator
    # A fitted search exposes the refitted winner; a Pipeline ends in the classifier.
    if hasattr(est, "best_estimator_"):
        est = est.best_estimator_
    if hasattr(est, "steps"):
        est = est.steps[-1][1]
    check_is_fitted(est, "history_")
    return est


def _axes_list(ax, n, plt, *, figsize, height_ratios=None):
    """``n`` Axes: new ones in a fresh figure when ``ax`` is None, else the ones given."""
    if ax is None:
        fig, axes = plt.subplots(
            n,
            1,
            figsize=figsize,
            squeeze=False,
            gridspec_kw={"height_ratios": height_ratios} if height_ratios else None,
            layout="constrained",
        )
        return list(axes[:, 0])
    axes = list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axes) != n:
        raise ValueError(f"ax must be None or a sequence of {n} Axes, got {len(axes)} Axes")
    return axes


def short_operation(description):
    """Compact label for an operation description such as ``'add_neurons(+20) @ layer 0'``.

    Parameters
    ----------
    description : str
        A string from ``decisions_[k]['chosen']`` (``Candidate.describe()``).

    Returns
    -------
    label : str
        E.g. ``'+20 neurons L0'``, ``'+layer after L0'``, ``'-layer L1'``, ``'rank 5 L0'``,
        ``'widen +20,+20'``;
        unknown descriptions are returned unchanged.

    Examples
    --------
    >>> short_operation("remove_neurons(-8) @ layer 1")
    '-8 neurons L1'
    >>> short_operation("add_layer @ layer 0")
    '+layer after L0'
    """
    m = re.fullmatch(r"(add|remove)_neurons\(([+-]\d+)\) @ layer (\d+)", description)
    if m:
        return f"{m.group(2)} neurons L{m.group(3)}"
    m = re.fullmatch(r"widen\(([^)]*)\)", description)
    if m:
        return "widen " + m.group(1).replace(" ", "")
    m = re.fullmatch(r"add_layer @ layer (\d+)", description)
    if m:
        return f"+layer after L{m.group(1)}"
    m = re.fullmatch(r"remove_layer @ layer (\d+)", description)
    if m:
        return f"-layer L{m.group(1)}"
    m = re.fullmatch(r"truncate\(rank (\d+)\) @ layer (\d+)", description)
    if m:
        return f"rank {m.group(1)} L{m.group(2)}"
    return description


def _decision_label(decision):
    if decision["outcome"] != "accepted":
        return "backtrack"
    return " / ".join(short_operation(c) for c in decision["chosen"]) or "accepted"


def decision_epochs(estimator):
    """Lineage epoch at which each decision point branched its candidates off.

    The ``epoch`` entry of ``decisions_``; a backtrack leaves the lineage where it was, so
    the decision after it has the same epoch.

    Parameters
    ----------
    estimator : SurgeonClassifier
        Fitted.

    Returns
    -------
    epochs : list of int
        One per entry of ``decisions_``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sksurgeon import SurgeonClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = SurgeonClassifier((10,), max_iter=20, interval=5, random_state=0).fit(X / 16, y)
    >>> decision_epochs(clf)[0]
    5
    """
    est = _surgeon_of(estimator)
    return [int(d["epoch"]) for d in getattr(est, "decisions_", []) or []]


def plot_topology_evolution(estimator, ax=None):
    """Draw the topology after each decision point as a column of boxes.

    The paper's Fig. 3 (right) and Fig. 5: one column for the topology the search started
    from and one per decision point, bottom to top the input layer (``I``), the hidden layers
    with their widths, and the output layer (``O``). Columns of decisions that backtracked are
    drawn faded and hatched.

    Parameters
    ----------
    estimator : SurgeonClassifier, Pipeline or fitted search
        Fitted estimator (see the module docstring).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure is made when None.

    Returns
    -------
    ax : matplotlib Axes
        One ``Rectangle`` patch and one text per box.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from sksurgeon import SurgeonClassifier
    >>> from sksurgeon.plotting import plot_topology_evolution
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = SurgeonClassifier((10,), max_iter=20, interval=5, random_state=0).fit(X / 16, y)
    >>> ax = plot_topology_evolution(clf)
    >>> len(ax.patches) == sum(len(d["hidden_layer_sizes"]) + 2 for d in clf.decisions_) + 3
    True
    """
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    est = _surgeon_of(estimator)
    (ax,) = _axes_list(ax, 1, plt, figsize=(8, 3.5))
    decisions = list(getattr(est, "decisions_", []) or [])
    epochs = decision_epochs(est)
    by_epoch = {int(h["epoch"]): tuple(h["hidden_layer_sizes"]) for h in est.history_}
    if decisions:
        start = by_epoch.get(epochs[0], tuple(est.history_[0]["hidden_layer_sizes"]))
        start_epoch = epochs[0]
    else:
        start = tuple(est.history_[0]["hidden_layer_sizes"])
        start_epoch = int(est.history_[-1]["epoch"])
    columns = [(start, f"start\nep {start_epoch}", True)]
    for d, e in zip(decisions, epochs, strict=True):
        columns.append(
            (
                tuple(d["hidden_layer_sizes"]),
                f"ep {e}\n{_decision_label(d)}",
                d["outcome"] == "accepted",
            )
        )

    box_w, box_h, gap = 0.7, 0.8, 0.2
    n_in, n_out = est.n_features_in_, len(est.classes_)
    tallest = 0
    for x, (sizes, _, accepted) in enumerate(columns):
        layers = [("I", True)] + [(str(w), False) for w in sizes] + [("O", True)]
        tallest = max(tallest, len(layers))
        for level, (text, io) in enumerate(layers):
            y = level * (box_h + gap)
            ax.add_patch(
                Rectangle(
                    (x - box_w / 2, y),
                    box_w,
                    box_h,
                    facecolor=_IO_COLOR if io else _HIDDEN_COLOR,
                    edgecolor="black" if accepted else _BACKTRACK_COLOR,
                    alpha=1.0 if accepted else 0.4,
                    hatch=None if accepted else "//",
                    linewidth=1.0,
                )
            )
            ax.text(
                x,
                y + box_h / 2,
                text,
                ha="center",
                va="center",
                fontsize=8,
                fontweight="bold" if io else "normal",
            )
    ax.set_xlim(-0.6, len(columns) - 0.4)
    ax.set_ylim(-gap, tallest * (box_h + gap))
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels(
        [label for _, label, _ in columns], fontsize=7, rotation=30 if len(columns) > 6 else 0
    )
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("decision point (lineage epoch, operation kept)")
    ax.set_title(f"Topology evolution (I = {n_in} inputs, O = {n_out} classes)", fontsize=10)
    return ax


def plot_surgery_history(estimator, ax=None, *, topology=True, annotate=True):
    """Validation accuracy and parameter count of the winning lineage, decisions marked.

    The paper's Fig. 3: the top panel shows validation accuracy per epoch of the lineage
    (``history_``), the middle one its parameter count, both with a dashed vertical line at
    every decision point and, on the accuracy panel, the operation kept (or ``backtrack``).
    A fit with ``refit=True`` adds the validation curve of the topology found trained from
    scratch (dotted).
    The optional bottom panel is :func:`plot_topology_evolution`.

    Parameters
    ----------
    estimator : SurgeonClassifier, Pipeline or fitted search
        Fitted estimator (see the module docstring).
    ax : sequence of matplotlib Axes, default=None
        Two Axes (accuracy, parameter count), or three with ``topology=True``; a new figure
        is made when None.
    topology : bool, default=True
        Add the topology-evolution panel.
    annotate : bool, default=True
        Write each decision's operation on the accuracy panel.

    Returns
    -------
    axes : ndarray of matplotlib Axes
        Accuracy, parameter count and (with ``topology``) topology panels.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from sksurgeon import SurgeonClassifier
    >>> from sksurgeon.plotting import plot_surgery_history
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = SurgeonClassifier((10,), max_iter=20, interval=5, random_state=0).fit(X / 16, y)
    >>> axes = plot_surgery_history(clf)
    >>> [a.get_ylabel() for a in axes[:2]]
    ['validation accuracy', 'parameters']
    """
    plt = _pyplot()
    est = _surgeon_of(estimator)
    n_axes = 3 if topology else 2
    axes = _axes_list(
        ax,
        n_axes,
        plt,
        figsize=(9, 8 if topology else 5.5),
        height_ratios=[3, 2, 3] if topology else [3, 2],
    )
    acc_ax, par_ax = axes[0], axes[1]
    hist = est.history_
    epochs = [h["epoch"] for h in hist]
    acc_ax.plot(
        epochs, [h["val_accuracy"] for h in hist], color=_ACCEPTED_COLOR, label="validation"
    )
    par_ax.step(
        epochs, [h["n_params"] for h in hist], where="pre", color="black", label="parameters"
    )
    refit = getattr(est, "refit_", None)
    if refit and refit["history"]:
        # Epochs of a fresh training, numbered as the lineage's: both start at the first epoch.
        acc_ax.plot(
            [h["epoch"] for h in refit["history"]],
            [h["val_accuracy"] for h in refit["history"]],
            color="grey",
            linestyle=":",
            label=f"refit from scratch ({'kept' if refit['kept'] else 'not kept'})",
        )
        acc_ax.legend(loc="lower right", fontsize=8)

    decisions = list(getattr(est, "decisions_", []) or [])
    points = decision_epochs(est)
    stacked = {}
    for d, e in zip(decisions, points, strict=True):
        color = _ACCEPTED_COLOR if d["outcome"] == "accepted" else _BACKTRACK_COLOR
        for a in (acc_ax, par_ax):
            a.axvline(e, color=color, linestyle="--", linewidth=0.7, alpha=0.6)
        if annotate:
            # Backtracks leave the lineage where it was: stack their labels side by side.
            k = stacked.get(e, 0)
            stacked[e] = k + 1
            acc_ax.annotate(
                _decision_label(d),
                xy=(e, 0.02),
                xycoords=("data", "axes fraction"),
                xytext=(2 + 9 * k, 0),
                textcoords="offset points",
                rotation=90,
                fontsize=7,
                color=color,
                ha="left",
                va="bottom",
            )
    acc_ax.set_ylabel("validation accuracy")
    acc_ax.set_title(
        f"Surgeon run: {tuple(hist[0]['hidden_layer_sizes'])} -> {est.hidden_layer_sizes_}, "
        f"{est.epochs_trained_:.0f} epochs of compute, stop: {est.stop_reason_}",
        fontsize=10,
    )
    acc_ax.grid(alpha=0.3)
    par_ax.set_ylabel("parameters")
    par_ax.set_xlabel("epoch of the winning lineage")
    par_ax.grid(alpha=0.3)
    if epochs:
        for a in (acc_ax, par_ax):
            a.set_xlim(epochs[0] - 0.5, epochs[-1] + 0.5)
    if topology:
        plot_topology_evolution(est, ax=axes[2])
    return np.asarray(axes, dtype=object)


def _compute_label(name, est):
    return f"{name} {est.hidden_layer_sizes_} ({est.epochs_trained_:.0f} epochs of compute)"


def plot_comparison(baseline, surgeon, ax=None):
    """Baseline against Surgeon: validation accuracy and parameter count per epoch.

    The legend states each model's final topology and its total cost in epochs-equivalent of
    training (``epochs_trained_``), candidates and branches included, so a comparison per
    lineage epoch does not hide what the search spent.

    Parameters
    ----------
    baseline : SurgeonClassifier, Pipeline or fitted search
        Typically fitted with ``surgery=False``.
    surgeon : SurgeonClassifier, Pipeline or fitted search
        Fitted with surgery.
    ax : sequence of two matplotlib Axes, default=None
        Accuracy and parameter-count panels; a new figure is made when None.

    Returns
    -------
    axes : ndarray of two matplotlib Axes
        Each with one line per model.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from sksurgeon import SurgeonClassifier
    >>> from sksurgeon.plotting import plot_comparison
    >>> X, y = load_digits(return_X_y=True)
    >>> base = SurgeonClassifier((10,), max_iter=20, surgery=False, random_state=0)
    >>> surg = SurgeonClassifier((10,), max_iter=20, interval=5, random_state=0)
    >>> axes = plot_comparison(base.fit(X / 16, y), surg.fit(X / 16, y))
    >>> len(axes[0].get_lines())
    2
    """
    plt = _pyplot()
    base, surg = _surgeon_of(baseline), _surgeon_of(surgeon)
    axes = _axes_list(ax, 2, plt, figsize=(9, 5.5), height_ratios=[3, 2])
    acc_ax, par_ax = axes
    for name, est, color, style in (
        ("baseline", base, "grey", "--"),
        ("Surgeon", surg, _ACCEPTED_COLOR, "-"),
    ):
        epochs = [h["epoch"] for h in est.history_]
        label = _compute_label(name, est)
        acc_ax.plot(
            epochs,
            [h["val_accuracy"] for h in est.history_],
            color=color,
            linestyle=style,
            label=label,
        )
        par_ax.step(
            epochs,
            [h["n_params"] for h in est.history_],
            where="pre",
            color=color,
            linestyle=style,
            label=label,
        )
    acc_ax.set_ylabel("validation accuracy")
    acc_ax.set_title("Baseline vs Surgeon", fontsize=10)
    acc_ax.legend(fontsize=8, loc="lower right")
    acc_ax.grid(alpha=0.3)
    par_ax.set_ylabel("parameters")
    par_ax.set_xlabel("epoch of the lineage")
    par_ax.grid(alpha=0.3)
    ratio = surg.n_params_ / base.n_params_ if base.n_params_ else math.nan
    par_ax.set_title(f"final parameters: Surgeon / baseline = {ratio:.2f}", fontsize=9)
    return np.asarray(axes, dtype=object)
