"""SurgeonClassifier: the scikit-learn face of the Surgeon."""

from __future__ import annotations

import sys
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state, compute_sample_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import softmax
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from . import surgery
from ._surgeon import (
    PAPER_RETRAIN_MULTIPLIERS,
    RETRAIN_MULTIPLIERS,
    SurgeonConfig,
    TrainingData,
    run_surgeon,
)
from ._training import TrainConfig, predict_logits

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device):
    """Turn ``'auto'``, ``'cpu'``, ``'cuda'`` or ``'cuda:N'`` into a usable ``torch.device``.

    Raises
    ------
    ValueError
        When a CUDA device is asked for and is not there.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available "
                "(torch.cuda.is_available() is False); use device='cpu' or 'auto'"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only {torch.cuda.device_count()} "
                "CUDA device(s) are visible"
            )
    elif dev.type != "cpu":
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return dev


class SurgeonClassifier(ClassifierMixin, BaseEstimator):
    """Multi-layer perceptron classifier that optimises its own topology while it trains.

    The network starts from ``hidden_layer_sizes`` and is trained in PyTorch. Every
    ``interval`` epochs the Surgeon (Schiessler et al., 2021) analyses the singular values of
    each layer, branches candidate networks off by function-preserving surgeries (add or
    remove neurons, add or remove layers, truncate a layer to low rank), retrains each briefly,
    scores them by validation accuracy, accuracy gain and size (Eq. 16 of the paper) and keeps
    the best ``n_branches`` for the next stretch of training. Decisions use a validation split
    carved from the training data.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(100,)
        Starting topology: widths of the hidden layers. The fitted topology is
        ``hidden_layer_sizes_``.
    activation : {'relu', 'tanh', 'leaky_relu', 'identity'}, default='relu'
        Hidden activation. Adding a layer is exact only for ReLU and identity.
    solver : {'adam', 'sgd'}, default='adam'
        Optimiser. Each network gets a fresh optimiser state after surgery.
    alpha : float, default=1e-4
        L2 penalty, divided by the (weighted) batch size as in ``MLPClassifier``.
    batch_size : int or 'auto', default='auto'
        Mini-batch size; ``'auto'`` is ``min(200, n_samples)``.
    learning_rate_init : float, default=1e-3
        Step size.
    momentum : float, default=0.9
        SGD momentum.
    nesterovs_momentum : bool, default=True
        Nesterov momentum for SGD.
    beta_1, beta_2, epsilon : float
        Adam's parameters.
    average : bool or 'auto', default='auto'
        Average the weights of every epoch (Polyak averaging, restarted each epoch; compare
        ``SGDClassifier``'s ``average``): at the end of each epoch, and of each candidate's
        retraining, the weights become their mean over the second half of its steps, and
        training goes on from there. The baseline (``surgery=False``) averages the same
        way. ``'auto'`` averages with ``solver='sgd'``, whose last iterate at a constant
        learning rate carries the noise of its last few batches, and so does every decision
        the search takes on it. On the Table 3 protocol with the paper's plain SGD it raised
        the Surgeon's test accuracy from the small and medium starts by 0.3 to 0.7 points,
        for about 2 % more time per epoch (user guide, "Averaging the weights"). Off with
        Adam, where it was mixed: it raised the Surgeon in five of the six Table 3 cells,
        with smaller networks found, but cost 0.15 points on average over the PMLB data
        sets and 0.07 against the grid search.
    max_iter : int, default=200
        Epochs of training of the winning lineage (``MLPClassifier``'s default; the paper
        trained 100, as the Table 3 benchmarks do); with ``warm_start``,
        epochs added by each call to ``fit``. A backtrack does not count, so the search
        may make up to ``patience`` more decision points than ``max_iter`` needs (twice as
        many when ``patience`` is None); ``patience``, ``plateau_patience`` and
        ``target_score`` stop it earlier.
    validation_fraction : float, default=0.1
        Fraction of the training data held out (stratified) for the Surgeon's decisions.
        0 selects on the training data itself, which only makes sense for tiny data sets.
    surgery : bool, default=True
        False trains the starting topology with the same engine and no topology search
        (the baseline).
    interval : int, default=10
        Epochs between decision points; also the epochs of pre-training (the paper's 10).
    n_branches : int, default=2
        Branches kept and trained between decision points (the paper's 2).
    max_redraws : int, default=2
        With ``memory``, how often other candidates are tried when no branch reached the
        memory threshold (the paper's 2).
    race_fraction : float or None, default=0.5
        Successive halving between decision points: the branches train this fraction of
        the interval, then only the best one (by Eq. 16) finishes it; with ``memory``, a try
        whose leader is below the memory threshold halfway is abandoned there. None trains
        every branch the full interval (the paper), which costs about ``n_branches`` times
        the baseline.
    retrain_batches : int, default=25
        Recuperative training per candidate, in batches, times a per-operation multiplier,
        capped at one epoch.
    prune_margin : float or None, default=0.02
        Hopeless candidates stop early: a retraining longer than ``retrain_batches``
        (every operation but truncation, at the default multipliers) is checked after its
        first ``retrain_batches`` batches, and a candidate still more than ``prune_margin``
        below its parent's validation accuracy there is dropped (status ``'pruned ...'`` in
        ``surgery_log_``). Measured on Fashion-MNIST, candidates that far behind at that
        point stayed behind after the full retraining (``benchmarks/bench_prune.py``). None
        retrains every candidate in full (the paper).
    retrain_multipliers : dict, 'paper' or None, default=None
        The multipliers, by operation: ``'identity'``, ``'add_neurons'``, ``'widen'``,
        ``'add_layer'``, ``'remove_neurons'``, ``'remove_layer'``, ``'truncate'``;
        operations left out keep the package's value: 10 for all but truncate (1), which
        None keeps for all. ``'paper'`` is the paper's appendix (identity 1, add neurons 1,
        add layer 10, remove neurons 10, remove layer 10, truncate 1; widen 1). Eq. 16
        compares accuracies after retraining, so at the paper's values a new layer has
        trained ten times longer than the unchanged network or a widened one when they are
        compared, and a too-small start deepens where it should widen: with equal
        retraining the Fashion-MNIST small and medium starts gained 0.3 and 0.7 points
        more (see the user guide).
    selection : {'per_type', 'top_n'}, default='per_type'
        Best candidate of each operation type (the paper's setting) or the ``top_n`` best.
    top_n : int, default=6
        Candidates in ``'top_n'`` mode.
    widen : bool, default=True
        Also propose widening every hidden layer at once (by ten times
        ``max(2, width // 10)`` units each) when there are several and the widened network
        has at most one parameter per training sample: a network whose layers are all too
        narrow gains little from widening one of them while the others stay narrow. False
        keeps the paper's candidates.
    max_params : int, 'auto', 'start' or None, default='auto'
        A parameter budget: surgeries that add parameters (adding neurons or a layer,
        widening) are proposed only while the network they build has at most this many.
        A network above the budget is not forced to shrink, but can only keep its size or
        shrink. ``'start'`` is the count of the network the fit starts from: the search
        may reshape and prune it but never grow it. ``'auto'`` is ``'start'`` for a start
        with more parameters than training samples (after the validation split), and 100
        parameters per training sample otherwise: on the Table 3 protocol growing such a
        start cost time for no accuracy (see the user guide), while a smaller start must
        stay free to grow, but not without end (unbounded, the search grew a 100-unit
        start on 1,800 rows of PMLB's adult to 7.7 million parameters, 377 times the
        baseline's CPU time, for 3.4 points less). None never limits growth (the paper).
    memory : bool, default=True
        One-cycle memory: keep a step only if it reaches the best validation accuracy of
        any decision point so far (less ``memory_tolerance``), otherwise re-draw, then
        backtrack.
    memory_tolerance : 'auto' or float, default='auto'
        Slack of the memory comparison. ``'auto'`` is one standard error of that best
        validation accuracy (``sqrt(a (1 - a) / n_val)``); 0 is the paper's strict rule,
        which on a small validation set rejects steps for one sample's worth of noise. The
        slack is measured from the best so far, not from the step before, so that steps
        each within it cannot add up to a decline.
    size_weight : float, default=0.0
        Weight of the parameter fraction in the score ``a + exp(da - size_weight * df)``;
        1 is the paper's Eq. 16. The default 0 maximises validation accuracy (equal scores
        still go to the smaller network): a weight large enough to make pruning pay also
        stops a too-small first layer from widening. Raise it (0.03 to 1) to trade
        accuracy for a smaller network.
    growth_cost : float, default=0.0
        Price of growth in absolute terms: the score's exponent loses ``growth_cost``
        times the parameters a candidate adds per training sample, so a candidate must gain
        that much validation accuracy per added parameter per sample to win. Unlike
        ``size_weight`` it charges a 10-unit layer little for doubling and a 300-unit layer
        fed by 784 inputs much. Shrinking is not rewarded by it. On Fashion-MNIST 0.01
        stalled the rescue of too-small starts without making the large network smaller
        (see the user guide), hence the default 0.
    eps_rel, eps_abs : float, default=0.005, 0.3
        Thresholds of Eq. 13 for singular values that count as removable.
    remove_method : {'data', 'svd'}, default='data'
        How neurons are removed: keep the most informative neurons and refit the next layer
        by least squares on a training sample (``'data'``), or the paper's SVD projection.
    add_init : {'gradient', 'random', 'copy'}, default='gradient'
        How added neurons start: fresh random incoming weights and zero outgoing weights
        (``'random'``), or copies of existing neurons (``'copy'``, Net2WiderNet, the
        paper's). All keep the network's function. Fresh neurons start learning at once,
        copies only as they drift apart: from too-small starts on Fashion-MNIST the
        Surgeon widens more readily and ends higher with ``'random'``
        (``benchmarks/results/add_init.md``). ``'gradient'`` (fresh too) points the first
        new neurons' incoming weights along the directions in which the loss gradient on a
        training sample says they help most (see :func:`sksurgeon.surgery.add_neurons`),
        the rest as ``'random'``: on the Table 3 protocol's small and medium starts (five
        seeds, package defaults) it ended 0.18 to 0.55 points above ``'random'`` at the
        same epochs (``benchmarks/results/table3_*_add_init_gradient_*.md``), and above
        both others on average on each start of ``benchmarks/results/add_init.md``.
    patience : int or None, default=2
        Stop searching after this many consecutive decision points that had to backtrack
        (the surgeries tried did not help); also the number of decision points the search
        may spend beyond ``max_iter`` on backtracks. As when ``max_cost`` stops the search,
        the best network then trains alone to ``max_iter`` epochs, and its best epoch (see
        ``finish``) replaces the network it started from only if it reaches the memory
        threshold (with ``memory``).
    plateau_patience : int or None, default=None
        Early stopping: stop after this many consecutive decision points whose kept branch
        sets neither a new record validation accuracy nor a new lowest validation loss (by
        more than 1e-4), and return the most accurate network of any decision point (as
        ``MLPClassifier`` does with ``early_stopping``). Past its best, a network is only
        held level by the memory rule, at the price of failed tries. The loss keeps a
        network that still learns from being stopped while its validation accuracy sits at
        the majority class's share, as it can for tens of epochs on small data: over the 163
        PMLB classification data sets 2 ended 1.90 points below the fit without surgery
        when only the accuracy counted, and 0.05 points above it with the loss, at 0.76
        times its CPU time (``benchmarks/results/pmlb_sweep_plateau_2_val_loss.md``). With
        noisy validation scores (small validation sets, SGD with small batches) a lucky
        record can still stop the search early: on Fashion-MNIST's large start 3 saved a
        sixth of the epochs and stopped one search of three after 20 epochs, 0.8 points
        below where it ends without early stopping
        (``benchmarks/results/table3_fashion-mnist_defaults_plateau_3_val_loss_large.md``).
        None trains the lineage for ``max_iter`` epochs and returns where it ended (the
        paper).
    target_score : float or None, default=None
        Stop once a branch reaches this validation accuracy.
    max_cost : float, 'auto' or None, default='auto'
        Budget of the search: the fit never trains more than ``max_cost * max_iter``
        epochs-equivalent in all (candidates, branches and backtracked steps included, see
        ``epochs_trained_``). A decision point is tried only if, even if it had to
        backtrack, the lineage's remaining epochs would still fit; otherwise the best
        network so far trains alone to ``max_iter`` epochs (``stop_reason_ = 'max_cost'``;
        see ``finish``); with ``memory``, if that training does not reach the memory
        threshold (the best decision point so far, less ``memory_tolerance``), the network
        before it is returned.
        At least 1 (1 is the baseline's cost: no decision point fits). ``'auto'`` is 1.75
        for a search that may not grow its start (see ``max_params``: by default, a start
        with more parameters than training samples) and 2 for one that may, or with
        ``refit``; ``max_cost_`` says which. On the Table 3 protocol's large starts (five
        seeds, both data sets and configurations) 1.75 found networks as accurate as 2
        did, and cut the defaults' epochs from 1.86 to 1.62 / 1.59 times the baseline's on
        Fashion-MNIST / MNIST, and their wall time from 1.59 / 1.82 to about 1.5; on
        small PMLB data sets, where the search grows a 10-unit start, it ended 0.1 points
        further from a grid search than 2 (user guide, "Choosing the budget"). On a small
        data set a fit of two or three intervals may have room for no decision point (a
        ``UserWarning`` says so): raise it there. None never limits the search (the
        paper, whose search cost about 2.9 times the baseline). With ``refit`` the budget
        holds the refit too: the search leaves room for it (see ``refit``).
    refit : bool, default=False
        After the search, train the topology it found from fresh random weights for
        ``max_iter`` epochs, and return whichever of the two networks is more accurate on
        the validation split (``refit_`` says which). A network grown from a too-small
        start keeps what the small one learnt and may be under-trained when the epochs run
        out. The refit is judged like the search's network (``finish``: its best epoch on
        validation by default). Under ``max_cost`` the refit is part of the budget: the
        search stops while there is still room for it, and the network it found goes
        straight to the refit instead of training alone to ``max_iter`` (when the search
        kept the start topology, that network trains alone as usual). With the default
        budget the search then has about half the epochs. On the Table 3 protocol's small
        and medium starts (five seeds) this raised Fashion-MNIST with plain SGD (the
        paper's configuration, before ``average``) from 0.8704 / 0.8680 to 0.8751 / 0.8707
        (MNIST from 0.9653 / 0.9624 to 0.9664 / 0.9629) within the budget (1.87 to 1.90
        times the baseline's epochs), at 2.35 to 2.62 times its wall time: the network
        found is larger than the start, and the refit trains it for all the epochs (user
        guide, "Refitting the topology found"). Averaging the weights (``average``, on by
        default with SGD) gained more than that at the search's own cost; with both,
        0.8814 / 0.8775 on Fashion-MNIST and 0.9698 / 0.9677 on MNIST, at 2.46 to 3.83
        times the baseline's wall time. Off by default.
        Skipped when the search ended at the topology this fit started from; ignored
        without ``surgery``.
    finish : {'best', 'last'}, default='best'
        What a network that trains alone after the search stopped early (``max_cost``,
        ``patience``, ``'max_decisions'``) hands back: the epoch of that training with the
        best validation accuracy (``'best'``: early stopping with restore, confined to that
        leg, whose epochs all count in ``epochs_trained_``), or its last epoch
        (``'last'``). With ``memory`` that epoch replaces the network the leg started from
        only if it reaches the memory threshold. The threshold comes from the record of the
        search, the best of many noisy validation scores; the last epoch of a long leg is a
        single one and fell below it in 14 of the 60 Table 3 fits, whose whole leg was then
        thrown away. ``'best'`` added 0.34 points on Fashion-MNIST's large start with the
        defaults and moved the other cells by at most 0.07 points either way, at no cost
        (user guide, "Training alone").
    n_jobs : int or None, default=None
        Parallel candidate retraining and branch training through joblib: worker
        processes on CPU (the training data is written once per fit to memory-mapped
        files), threads on a GPU, or whatever backend ``joblib.parallel_config`` sets.
        Every task runs with one torch thread, so results do not depend on ``n_jobs``;
        use ``n_jobs=-1`` to use all cores.
    device : str, default='auto'
        ``'auto'``, ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.
    dtype : {'float32', 'float64'}, default='float32'
        Floating point type of the network.
    class_weight : dict, 'balanced' or None, default=None
        Weights associated with classes, as in scikit-learn's linear models.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, splitting, shuffling and the Surgeon's random draws.
    verbose : int, default=0
        1 prints one line per decision point, 2 also one per epoch.
    warm_start : bool, default=False
        Continue from the fitted network (and its topology) instead of starting anew.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string feature names.
    module_ : torch.nn.Sequential
        The trained network (logits out).
    hidden_layer_sizes_ : tuple of int
        Final topology.
    coefs_, intercepts_ : list of ndarray
        Weights (shape ``(n_in, n_out)``) and biases per layer, as in ``MLPClassifier``.
    n_layers_ : int
    n_iter_ : int
        Epochs of training of the returned network's lineage (of its training from scratch
        when a refit was kept, ``refit_['epoch']``).
    loss_curve_ : list of float
        Training loss per epoch of the lineage.
    validation_scores_ : list of float
        Validation accuracy per epoch of the lineage.
    best_validation_score_ : float
    history_ : list of dict
        Per epoch of the lineage: ``epoch``, ``train_loss``, ``val_accuracy``, ``val_loss``
        (mean cross-entropy on the validation split, without the L2 term), ``n_params``,
        ``hidden_layer_sizes``.
    surgery_log_ : list of dict
        Per candidate evaluated: ``decision``, ``epoch``, ``try``, ``branch``,
        ``operation``, ``layer``, ``amount``, ``n_params``, ``param_fraction``,
        ``drift`` (relative output change of the surgery), ``accuracy_before`` and
        ``accuracy_after`` retraining, ``accuracy_gain``, ``score``, ``selected``,
        ``accepted``, ``status`` and more. A selected candidate also has
        ``race_accuracy``, its validation accuracy when the branch race was decided (NaN
        without a race), and ``val_accuracy_next``, where its training ended.
    decisions_ : list of dict
        Per decision point: ``decision``, ``epoch`` (lineage epoch where candidates branched
        off; the same ``epoch`` as in ``surgery_log_``), ``epoch_end`` (lineage epoch after
        the step; equal to ``epoch`` on a backtrack), ``tries``, ``outcome``
        (``'accepted'`` or ``'backtrack'``), ``chosen`` operations, and topology,
        ``n_params`` and ``val_accuracy`` of the best branch afterwards.
    n_params_ : int
    epochs_trained_ : float
        Epochs-equivalent of all training done, candidates and branches included.
    fit_time_ : float
        Seconds spent in the search.
    stop_reason_ : str
        Why the search stopped: ``'max_iter'``, ``'plateau'`` (``plateau_patience``),
        ``'target_score'``, ``'no_improvement'`` (``patience``), ``'max_decisions'`` or
        ``'max_cost'``. After the last three the network found trains alone to
        ``max_iter`` epochs and its best epoch is returned (``finish``), or it is kept as
        it was when that training stays below the memory threshold on validation; either
        way ``n_iter_`` may be less than ``max_iter``.
    refit_ : dict or None
        With ``refit``: ``kept`` (True when the returned network is the one trained from
        scratch), ``status``, ``epochs`` (trained from scratch), ``epoch`` (the one compared:
        its best on validation with ``finish='best'``, its last with ``'last'``),
        ``val_accuracy`` of that epoch, ``search_val_accuracy`` of the search's network, and
        ``history`` (per epoch, as in ``history_``). None without ``refit``.
        ``history_``, ``decisions_`` and ``surgery_log_`` describe the search either way;
        ``epochs_trained_`` and ``fit_time_`` include the refit.
    max_cost_ : float or None
        The budget this fit ran under: ``max_cost`` with ``'auto'`` resolved.
    device_ : torch.device

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sksurgeon import SurgeonClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = SurgeonClassifier(hidden_layer_sizes=(10,), max_iter=30, learning_rate_init=0.01,
    ...                         random_state=0)
    >>> bool(clf.fit(X / 16, y).score(X / 16, y) > 0.8)
    True
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"relu", "tanh", "leaky_relu", "identity"})],
        "solver": [StrOptions({"adam", "sgd"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "average": ["boolean", StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "surgery": ["boolean"],
        "interval": [Interval(Integral, 1, None, closed="left")],
        "n_branches": [Interval(Integral, 1, None, closed="left")],
        "max_redraws": [Interval(Integral, 0, None, closed="left")],
        "race_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "retrain_batches": [Interval(Integral, 1, None, closed="left")],
        "prune_margin": [Interval(Real, 0, 1, closed="both"), None],
        "retrain_multipliers": [dict, StrOptions({"paper"}), None],
        "selection": [StrOptions({"per_type", "top_n"})],
        "top_n": [Interval(Integral, 1, None, closed="left")],
        "widen": ["boolean"],
        "max_params": [
            StrOptions({"auto", "start"}),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "memory": ["boolean"],
        "memory_tolerance": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="both")],
        "size_weight": [Interval(Real, 0, None, closed="left")],
        "growth_cost": [Interval(Real, 0, None, closed="left")],
        "eps_rel": [Interval(Real, 0, 1, closed="both")],
        "eps_abs": [Interval(Real, 0, None, closed="left")],
        "remove_method": [StrOptions({"data", "svd"})],
        "add_init": [StrOptions({"random", "copy", "gradient"})],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "plateau_patience": [Interval(Integral, 1, None, closed="left"), None],
        "target_score": [Interval(Real, 0, 1, closed="both"), None],
        "max_cost": [Interval(Real, 1, None, closed="left"), StrOptions({"auto"}), None],
        "refit": ["boolean"],
        "finish": [StrOptions({"best", "last"})],
        "n_jobs": [Integral, None],
        "device": [str],
        "dtype": [StrOptions({"float32", "float64"})],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=1e-3,
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        average="auto",
        max_iter=200,
        validation_fraction=0.1,
        surgery=True,
        interval=10,
        n_branches=2,
        max_redraws=2,
        race_fraction=0.5,
        retrain_batches=25,
        prune_margin=0.02,
        retrain_multipliers=None,
        selection="per_type",
        top_n=6,
        widen=True,
        max_params="auto",
        memory=True,
        memory_tolerance="auto",
        size_weight=0.0,
        growth_cost=0.0,
        eps_rel=0.005,
        eps_abs=0.3,
        remove_method="data",
        add_init="gradient",
        patience=2,
        plateau_patience=None,
        target_score=None,
        max_cost="auto",
        refit=False,
        finish="best",
        n_jobs=None,
        device="auto",
        dtype="float32",
        class_weight=None,
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.average = average
        self.max_iter = max_iter
        self.validation_fraction = validation_fraction
        self.surgery = surgery
        self.interval = interval
        self.n_branches = n_branches
        self.max_redraws = max_redraws
        self.race_fraction = race_fraction
        self.retrain_batches = retrain_batches
        self.prune_margin = prune_margin
        self.retrain_multipliers = retrain_multipliers
        self.selection = selection
        self.top_n = top_n
        self.widen = widen
        self.max_params = max_params
        self.memory = memory
        self.memory_tolerance = memory_tolerance
        self.size_weight = size_weight
        self.growth_cost = growth_cost
        self.eps_rel = eps_rel
        self.eps_abs = eps_abs
        self.remove_method = remove_method
        self.add_init = add_init
        self.patience = patience
        self.plateau_patience = plateau_patience
        self.target_score = target_score
        self.max_cost = max_cost
        self.refit = refit
        self.finish = finish
        self.n_jobs = n_jobs
        self.device = device
        self.dtype = dtype
        self.class_weight = class_weight
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.input_tags.sparse = False
        return tags

    # ------------------------------------------------------------------ fitting
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if not sizes or any(
            not isinstance(s, Integral) or isinstance(s, bool) or s < 1 for s in sizes
        ):
            raise ValueError(
                "hidden_layer_sizes must be a positive integer or a non-empty sequence of "
                f"positive integers, got {self.hidden_layer_sizes!r}"
            )
        return [int(s) for s in sizes]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network and optimise its topology.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (dense).
        y : array-like of shape (n_samples,)
            Class labels, of any type scikit-learn accepts.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights, combined with ``class_weight``.

        Returns
        -------
        self : SurgeonClassifier
        """
        sizes = self._hidden_sizes()
        device = resolve_device(self.device)
        dtype = _DTYPES[self.dtype]
        continuing = self.warm_start and hasattr(self, "module_")
        X, y = validate_data(
            self,
            X,
            y,
            reset=not continuing,
            dtype=(np.float32, np.float64),
            accept_sparse=False,
        )
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if continuing:
            unseen = np.setdiff1d(np.unique(y), self.classes_)
            if unseen.size:
                raise ValueError(
                    f"warm_start=True but y has classes {unseen.tolist()} not seen in the "
                    f"first fit (classes_ = {self.classes_.tolist()})"
                )
            encoder = LabelEncoder().fit(self.classes_)
        else:
            encoder = LabelEncoder().fit(y)
        y_enc = encoder.transform(y)
        classes = encoder.classes_
        if len(classes) < 2:
            raise ValueError(
                "SurgeonClassifier needs samples of at least 2 classes in the data, "
                f"but the data contains only 1 class: {classes[0]!r}"
            )
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        if self.class_weight is not None:
            sw = sw * compute_sample_weight(self.class_weight, y)
        if not np.any(sw > 0):
            raise ValueError("sample_weight is zero for every sample; nothing to learn from")
        if len(np.unique(y_enc[sw > 0])) < 2:
            raise ValueError(
                "SurgeonClassifier needs samples of at least 2 classes with non-zero weight, "
                "but only 1 class has non-zero sample_weight"
            )
        weighted = sample_weight is not None or self.class_weight is not None

        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        X_tr, y_tr, w_tr, X_val, y_val, w_val = self._split(X, y_enc, sw, rng)
        n_train = len(y_tr)
        batch_size = (
            min(200, n_train) if self.batch_size == "auto" else min(self.batch_size, n_train)
        )
        train_config = TrainConfig(
            solver=self.solver,
            learning_rate=self.learning_rate_init,
            batch_size=batch_size,
            alpha=self.alpha,
            momentum=self.momentum if self.solver == "sgd" else 0.0,
            nesterov=self.nesterovs_momentum and self.solver == "sgd" and self.momentum > 0,
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
            average=self.solver == "sgd" if self.average == "auto" else bool(self.average),
        )
        config = SurgeonConfig(
            max_iter=self.max_iter,
            interval=self.interval,
            n_branches=self.n_branches,
            max_redraws=self.max_redraws,
            race_fraction=self.race_fraction,
            retrain_batches=self.retrain_batches,
            prune_margin=self.prune_margin,
            retrain_multipliers=self._retrain_multipliers(),
            eps_rel=self.eps_rel,
            eps_abs=self.eps_abs,
            selection=self.selection,
            top_n=self.top_n,
            widen=self.widen,
            max_params=self.max_params,
            memory=self.memory,
            memory_tolerance=self.memory_tolerance,
            size_weight=self.size_weight,
            growth_cost=self.growth_cost,
            remove_method=self.remove_method,
            add_init=self.add_init,
            patience=self.patience,
            plateau_patience=self.plateau_patience,
            target_score=self.target_score,
            max_cost=self.max_cost,
            refit=self.refit,
            finish=self.finish,
        )
        if continuing:
            net = surgery.identity(self.module_).to(device=device, dtype=dtype)
            initial_epoch = self.n_iter_
        else:
            gen = torch.Generator().manual_seed(seed)
            net = surgery.build_mlp(
                X.shape[1], sizes, len(classes), self.activation, generator=gen, dtype=dtype
            ).to(device)
            initial_epoch = 0
        data = TrainingData(
            X_tr,
            y_tr,
            w_tr if weighted else None,
            X_val,
            y_val,
            w_val if weighted else None,
            device=device,
            dtype=dtype,
        )
        try:
            result = run_surgeon(
                net,
                data,
                train_config,
                config,
                seed=seed,
                n_jobs=self.n_jobs,
                surgery_enabled=self.surgery,
                initial_epoch=initial_epoch,
                initial_decision=len(self.decisions_) if continuing else 0,
                # On CPU, processes: a small network's step is Python overhead that holds
                # the GIL, so threads do not speed it up (benchmarks/results/parallel.md);
                # the data goes to the workers once per fit through memory-mapped files.
                # On a GPU, threads: the one sane way to share the device. A
                # joblib.parallel_config(backend=...) set by the user (e.g. dask) still wins.
                prefer="threads" if device.type == "cuda" else "processes",
                reporter=self._reporter(),
            )
        finally:
            data.release()

        # Only a finished search touches the fitted state: a failure leaves it as it was.
        prev = self.history_ if continuing else []
        prev_log = self.surgery_log_ if continuing else []
        prev_decisions = self.decisions_ if continuing else []
        self.classes_ = classes
        self.device_ = device
        self.module_ = result.net
        self.history_ = prev + result.history
        self.surgery_log_ = prev_log + result.log
        self.decisions_ = prev_decisions + result.decisions
        if result.refit and result.refit["kept"]:
            self.n_iter_ = result.refit["epoch"]
        else:
            self.n_iter_ = result.history[-1]["epoch"] if result.history else initial_epoch
        self.loss_curve_ = [h["train_loss"] for h in self.history_]
        self.validation_scores_ = [h["val_accuracy"] for h in self.history_]
        self.best_validation_score_ = result.val_accuracy
        self.epochs_trained_ = result.epochs_trained
        self.fit_time_ = result.wall_time
        self.stop_reason_ = result.stop_reason
        self.refit_ = result.refit
        self.max_cost_ = result.max_cost
        self._set_weight_views()
        if self.surgery and result.stop_reason == "max_cost" and not result.decisions:
            budget = f"max_cost={self.max_cost!r}"
            if self.max_cost == "auto":
                budget += f" ({result.max_cost} here)"
            reserved, or_refit = (
                (" with the refit's max_iter epochs reserved (refit=True)", ", or set refit=False")
                if self.refit
                else ("", "")
            )
            warnings.warn(
                f"{budget} left no room for a single decision point{reserved}: the fit trained "
                f"its start topology without surgery. Raise max_cost or max_iter{or_refit}.",
                UserWarning,
                stacklevel=3,  # the caller of fit, past scikit-learn's _fit_context wrapper
            )
        return self

    def _split(self, X, y, sw, rng):
        if self.validation_fraction == 0:
            return X, y, sw, X, y, sw
        n = len(y)
        n_val = max(1, int(round(self.validation_fraction * n)))
        if n - n_val < 1:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves no training samples "
                f"out of {n}"
            )
        counts = np.bincount(y)
        stratify = y if counts[counts > 0].min() >= 2 and n_val >= len(counts) else None
        idx_tr, idx_val = train_test_split(
            np.arange(n),
            test_size=n_val,
            stratify=stratify,
            random_state=rng.randint(np.iinfo(np.int32).max),
        )
        return X[idx_tr], y[idx_tr], sw[idx_tr], X[idx_val], y[idx_val], sw[idx_val]

    def _retrain_multipliers(self):
        if isinstance(self.retrain_multipliers, str):
            return dict(PAPER_RETRAIN_MULTIPLIERS)
        multipliers = dict(RETRAIN_MULTIPLIERS)
        for op, value in (self.retrain_multipliers or {}).items():
            if op not in multipliers:
                raise ValueError(
                    f"retrain_multipliers has an unknown operation {op!r}; "
                    f"the operations are {sorted(multipliers)}"
                )
            if not isinstance(value, Real) or not (0 < value < float("inf")):
                raise ValueError(
                    f"retrain_multipliers[{op!r}] must be a positive number, got {value!r}"
                )
            multipliers[op] = value
        return multipliers

    def _reporter(self):
        if not self.verbose:
            return None
        level = int(self.verbose)

        def report(message, at_level=1):
            if at_level <= level:
                print(message, file=sys.stdout, flush=True)

        return report

    def _set_weight_views(self):
        linears = [m for m in self.module_ if isinstance(m, torch.nn.Linear)]
        self.hidden_layer_sizes_ = tuple(surgery.hidden_widths(self.module_))
        self.n_params_ = surgery.count_parameters(self.module_)
        self.n_layers_ = len(linears) + 1
        self.n_outputs_ = linears[-1].out_features
        self.out_activation_ = "softmax"
        self.coefs_ = [m.weight.detach().cpu().numpy().T.copy() for m in linears]
        self.intercepts_ = [
            m.bias.detach().cpu().numpy().copy()
            if m.bias is not None
            else np.zeros(m.out_features, dtype=self.coefs_[0].dtype)
            for m in linears
        ]

    # --------------------------------------------------------------- prediction
    def _logits(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float32, np.float64))
        param = next(self.module_.parameters())
        Xt = torch.as_tensor(
            np.asarray(X, dtype=_torch_to_numpy(param.dtype)), device=param.device
        )
        logits = predict_logits(self.module_, Xt)
        return logits.detach().cpu().numpy().astype(np.float64)

    def predict_proba(self, X):
        """Class probabilities (softmax of the network's outputs).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return softmax(self._logits(X))

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed stably from the logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        z = self._logits(X)
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        logits = self._logits(X)
        return self.classes_[np.argmax(logits, axis=1)]

    # -------------------------------------------------------------- persistence
    def __getstate__(self):
        state = super().__getstate__()
        if "module_" in state:
            # Pickles always hold CPU weights so that a GPU-fitted model loads anywhere.
            state["module_"] = surgery.identity(state["module_"]).cpu()
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "module_" in state and "device_" in state:
            dev = state["device_"]
            if dev.type == "cuda" and torch.cuda.is_available():
                self.module_ = self.module_.to(dev)
            else:
                self.device_ = torch.device("cpu")

    def save(self, path):
        """Save the fitted model in a format that cannot execute code when loaded.

        See :func:`sksurgeon.save`.
        """
        from ._persistence import save

        save(self, path)


def _torch_to_numpy(dtype):
    return np.float64 if dtype == torch.float64 else np.float32
