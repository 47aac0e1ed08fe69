"""Tests of sksurgeon.plotting: each function runs and draws what it should."""

import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sksurgeon import SurgeonClassifier, plotting

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16, y[:600]


@pytest.fixture(scope="module")
def fitted(digits):
    """A run with accepted steps and backtracks (strict memory, no early stop)."""
    X, y = digits
    clf = SurgeonClassifier(
        hidden_layer_sizes=(32,),
        max_iter=24,
        interval=3,
        patience=None,
        memory_tolerance=0,
        random_state=0,
    )
    return clf.fit(X, y)


@pytest.fixture(scope="module")
def baseline(digits):
    X, y = digits
    return SurgeonClassifier((32,), max_iter=24, surgery=False, random_state=0).fit(X, y)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _boxes(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def test_decision_epochs_follow_the_lineage(fitted):
    epochs = plotting.decision_epochs(fitted)
    decisions = fitted.decisions_
    assert len(epochs) == len(decisions) > 0
    assert epochs[0] == fitted.interval
    # An accepted step trains the lineage to the next point; a backtrack does not.
    for k in range(1, len(decisions)):
        gained = epochs[k] - epochs[k - 1]
        if decisions[k - 1]["outcome"] == "accepted":
            assert gained > 0
        else:
            assert gained == 0
    last_step = fitted.n_iter_ - epochs[-1]
    if decisions[-1]["outcome"] == "accepted":
        assert last_step > 0
    else:
        assert last_step == 0
    # With the branch race one branch survives each decision, so the lineage's topology just
    # after an accepted decision is the one the decision recorded.
    assert fitted.race_fraction is not None
    by_epoch = {h["epoch"]: tuple(h["hidden_layer_sizes"]) for h in fitted.history_}
    for d, e in zip(decisions, epochs, strict=True):
        if d["outcome"] == "accepted":
            assert by_epoch[e + 1] == tuple(d["hidden_layer_sizes"])


def _synthetic():
    """A fitted-looking estimator whose search backtracked once (exact expected epochs)."""
    clf = SurgeonClassifier(interval=2)
    sizes = [(4,)] * 2 + [(6,)] * 2 + [(6,)] * 2 + [(6, 6)] * 2
    params = {(4,): 300, (6,): 450, (6, 6): 492}
    clf.history_ = [
        {
            "epoch": e + 1,
            "train_loss": 1.0 / (e + 1),
            "val_accuracy": 0.5 + 0.05 * e,
            "n_params": params[s],
            "hidden_layer_sizes": s,
        }
        for e, s in enumerate(sizes)
    ]
    clf.decisions_ = [
        {
            "decision": 1,
            "epoch": 2,
            "epoch_end": 4,
            "outcome": "accepted",
            "chosen": ["add_neurons(+2) @ layer 0"],
            "hidden_layer_sizes": (6,),
            "n_params": 450,
            "val_accuracy": 0.65,
            "tries": 1,
        },
        {
            "decision": 2,
            "epoch": 4,
            "epoch_end": 4,
            "outcome": "backtrack",
            "chosen": [],
            "hidden_layer_sizes": (6,),
            "n_params": 450,
            "val_accuracy": 0.65,
            "tries": 3,
        },
        {
            "decision": 3,
            "epoch": 4,
            "epoch_end": 6,
            "outcome": "accepted",
            "chosen": ["identity"],
            "hidden_layer_sizes": (6,),
            "n_params": 450,
            "val_accuracy": 0.75,
            "tries": 1,
        },
        {
            "decision": 4,
            "epoch": 6,
            "epoch_end": 8,
            "outcome": "accepted",
            "chosen": ["add_layer @ layer 0"],
            "hidden_layer_sizes": (6, 6),
            "n_params": 492,
            "val_accuracy": 0.85,
            "tries": 1,
        },
    ]
    clf.n_iter_ = 8
    clf.n_features_in_ = 20
    clf.classes_ = np.arange(5)
    clf.hidden_layer_sizes_ = (6, 6)
    clf.n_params_ = 492
    clf.epochs_trained_ = 30.0
    clf.stop_reason_ = "max_iter"
    return clf


def test_decision_epochs_with_backtrack():
    # Pre-training to 2; the backtrack at clock 4..6 does not train the lineage.
    assert plotting.decision_epochs(_synthetic()) == [2, 4, 4, 6]


def test_backtrack_drawn(fitted):
    clf = _synthetic()
    axes = plotting.plot_surgery_history(clf)
    texts = [t.get_text() for t in axes[0].texts]
    assert texts == ["+2 neurons L0", "backtrack", "identity", "+layer after L0"]
    # The two decisions at lineage epoch 4 are stacked side by side, not on top of each other.
    offsets = [t.xyann for t in axes[0].texts]
    assert offsets[1] != offsets[2]
    lines = axes[0].get_lines()[1:]
    assert [line.get_xdata()[0] for line in lines] == [2, 4, 4, 6]
    top = axes[2]
    assert len(_boxes(top)) == 3 + 3 + 3 + 3 + 4
    faded = [p for p in _boxes(top) if p.get_alpha() is not None and p.get_alpha() < 1]
    assert len(faded) == 3
    labels = [t.get_text() for t in top.get_xticklabels()]
    assert labels[0] == "start\nep 2"
    assert labels[2] == "ep 4\nbacktrack"


def test_decision_epochs_after_warm_start(digits):
    X, y = digits
    clf = SurgeonClassifier((16,), max_iter=9, interval=3, patience=None, random_state=0)
    clf.fit(X, y)
    first, n_first = clf.n_iter_, len(clf.decisions_)
    clf.set_params(warm_start=True).fit(X, y)
    epochs = plotting.decision_epochs(clf)
    # decisions_ keeps the first fit's decisions; the second fit's come after its lineage.
    assert len(epochs) > n_first
    assert epochs[n_first] == first + clf.interval
    assert [d["decision"] for d in clf.decisions_] == list(range(1, len(epochs) + 1))
    assert epochs[-1] <= clf.n_iter_


def test_plot_topology_evolution_draws_one_box_per_layer(fitted):
    ax = plotting.plot_topology_evolution(fitted)
    decisions = fitted.decisions_
    start = plotting.decision_epochs(fitted)[0]
    start_sizes = next(h for h in fitted.history_ if h["epoch"] == start)["hidden_layer_sizes"]
    columns = [start_sizes] + [d["hidden_layer_sizes"] for d in decisions]
    n_boxes = sum(len(sizes) + 2 for sizes in columns)
    assert len(_boxes(ax)) == n_boxes
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == n_boxes
    assert texts.count("I") == texts.count("O") == len(columns)
    # The hidden boxes carry the widths, column by column.
    widths = [t for t in texts if t not in ("I", "O")]
    assert widths == [str(w) for sizes in columns for w in sizes]
    assert len(ax.get_xticks()) == len(columns)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0].startswith("start")
    n_backtracks = sum(d["outcome"] == "backtrack" for d in decisions)
    assert sum("backtrack" in label for label in labels) == n_backtracks
    # Backtracked columns are faded.
    faded = [p for p in _boxes(ax) if p.get_alpha() is not None and p.get_alpha() < 1]
    assert len(faded) == sum(
        len(d["hidden_layer_sizes"]) + 2 for d in decisions if d["outcome"] == "backtrack"
    )
    assert str(fitted.n_features_in_) in ax.get_title()


def test_plot_topology_evolution_into_given_axes(fitted):
    fig, ax = plt.subplots()
    out = plotting.plot_topology_evolution(fitted, ax=ax)
    assert out is ax
    assert len(fig.axes) == 1


def test_plot_surgery_history(fitted):
    axes = plotting.plot_surgery_history(fitted)
    assert isinstance(axes, np.ndarray) and axes.shape == (3,)
    acc_ax, par_ax, top_ax = axes
    assert acc_ax.figure is par_ax.figure is top_ax.figure
    assert acc_ax.get_ylabel() == "validation accuracy"
    assert par_ax.get_ylabel() == "parameters"
    assert "epoch" in par_ax.get_xlabel()
    n_dec = len(fitted.decisions_)
    # One data line plus one vertical line per decision on each of the two curves' panels.
    assert len(acc_ax.get_lines()) == 1 + n_dec
    assert len(par_ax.get_lines()) == 1 + n_dec
    x, yv = acc_ax.get_lines()[0].get_data()
    np.testing.assert_array_equal(x, [h["epoch"] for h in fitted.history_])
    np.testing.assert_allclose(yv, fitted.validation_scores_)
    _, params = par_ax.get_lines()[0].get_data()
    assert params[-1] == fitted.n_params_
    # One annotation per decision, naming the operation kept or the backtrack.
    texts = [t.get_text() for t in acc_ax.texts]
    assert len(texts) == n_dec
    assert texts.count("backtrack") == sum(d["outcome"] == "backtrack" for d in fitted.decisions_)
    for text, d in zip(texts, fitted.decisions_, strict=True):
        for op in d["chosen"]:
            assert plotting.short_operation(op) in text
    assert len(_boxes(top_ax)) > 0


def test_plot_surgery_history_options(fitted):
    axes = plotting.plot_surgery_history(fitted, topology=False, annotate=False)
    assert axes.shape == (2,)
    assert len(axes[0].texts) == 0
    assert len(axes[0].figure.axes) == 2
    fig, given = plt.subplots(2, 1)
    out = plotting.plot_surgery_history(fitted, ax=given, topology=False)
    assert list(out) == list(given)
    with pytest.raises(ValueError, match="sequence of 3 Axes"):
        plotting.plot_surgery_history(fitted, ax=given)


def test_plot_surgery_history_draws_the_refit_curve(digits):
    X, y = digits
    clf = SurgeonClassifier(
        (4,),
        max_iter=20,
        max_params=None,
        max_cost=None,  # two intervals leave the default budget no room for a refit
        learning_rate_init=0.01,
        refit=True,
        random_state=1,
    ).fit(X, y)
    assert clf.refit_["history"]
    acc_ax = plotting.plot_surgery_history(clf, topology=False)[0]
    (line,) = [ln for ln in acc_ax.get_lines() if ln.get_label().startswith("refit")]
    x, yv = line.get_data()
    np.testing.assert_array_equal(x, [h["epoch"] for h in clf.refit_["history"]])
    np.testing.assert_allclose(yv, [h["val_accuracy"] for h in clf.refit_["history"]])
    kept = "kept" if clf.refit_["kept"] else "not kept"
    assert line.get_label() == f"refit from scratch ({kept})"
    assert acc_ax.get_legend() is not None


def test_plot_surgery_history_of_baseline(baseline):
    axes = plotting.plot_surgery_history(baseline)
    assert len(axes[0].get_lines()) == 1
    assert len(axes[0].texts) == 0
    # One column: the topology it started and ended with.
    assert len(_boxes(axes[2])) == len(baseline.hidden_layer_sizes_) + 2


def test_plot_comparison(baseline, fitted):
    axes = plotting.plot_comparison(baseline, fitted)
    acc_ax, par_ax = axes
    assert len(acc_ax.get_lines()) == 2
    assert len(par_ax.get_lines()) == 2
    labels = [t.get_text() for t in acc_ax.get_legend().get_texts()]
    assert labels[0].startswith("baseline") and labels[1].startswith("Surgeon")
    assert f"{fitted.epochs_trained_:.0f} epochs of compute" in labels[1]
    assert acc_ax.get_ylabel() == "validation accuracy"
    assert par_ax.get_ylabel() == "parameters"
    _, base_params = par_ax.get_lines()[0].get_data()
    assert set(base_params) == {baseline.n_params_}


def test_accepts_pipeline_and_search(digits, fitted):
    X, y = digits
    pipe = make_pipeline(
        FunctionTransformer(), SurgeonClassifier((8,), max_iter=4, interval=2, random_state=0)
    ).fit(X, y)
    axes = plotting.plot_surgery_history(pipe, topology=False)
    assert len(axes[0].get_lines()[0].get_xdata()) == pipe[-1].n_iter_

    class Search:  # stands in for a fitted GridSearchCV
        best_estimator_ = pipe

    ax = plotting.plot_topology_evolution(Search())
    assert len(_boxes(ax)) > 0


def test_unfitted_raises():
    with pytest.raises(NotFittedError):
        plotting.plot_surgery_history(SurgeonClassifier())


def test_short_operation():
    assert plotting.short_operation("add_neurons(+20) @ layer 0") == "+20 neurons L0"
    assert plotting.short_operation("remove_neurons(-3) @ layer 2") == "-3 neurons L2"
    assert plotting.short_operation("add_layer @ layer 1") == "+layer after L1"
    assert plotting.short_operation("widen(+20, +40)") == "widen +20,+40"
    assert plotting.short_operation("remove_layer @ layer 1") == "-layer L1"
    assert plotting.short_operation("truncate(rank 5) @ layer 0") == "rank 5 L0"
    assert plotting.short_operation("identity") == "identity"


def test_missing_matplotlib_message(fitted, monkeypatch):
    # A None entry in sys.modules makes the import fail as if matplotlib were not installed.
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plotting.plot_surgery_history(fitted)
