"""The Surgeon: Algorithm 1 of Schiessler et al. (2021), with its joblib fan-out.

Training alternates with decision points. At each point every branch gets its surgery
candidates (:mod:`._recommend`), the chosen ones are built (:mod:`.surgery`), briefly retrained,
scored by Eq. 16, and the best ``n_branches`` are trained to the next point. With one-cycle
memory a step is kept only if a branch reaches the best validation accuracy of any decision
point so far (less a tolerance for validation noise); otherwise up to ``max_redraws`` other
candidates are tried, and if all fail the step is undone (backtrack to the branches as they
were), never kept worse as the authors' code does.
Consecutive backtracks mean that neither surgery nor more training helps any more, so after
``patience`` of them the search stops early (the oscillation of the paper's Fig. 5 is spent
compute). Opt-in early stopping does the same after ``plateau_patience`` decision points in a
row that set neither a new record validation accuracy nor a new lowest validation loss, and
returns the most accurate network seen: the lineage has passed its best, and every further step
would only be held level by the memory rule, at the price of its re-draws.

Every task (candidate retraining, branch training) carries its own seed derived from
``random_state`` and its place in the search, and parallel tasks run with one intra-op thread,
so the result does not depend on ``n_jobs`` or on the order in which tasks finish. Legs that
train alone (pre-training, the race's finishing leg, the whole baseline) always run in the
calling process with its torch thread count, whatever ``n_jobs`` is.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import tempfile
import time
import uuid
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import joblib
import numpy as np
import torch

from . import surgery
from ._recommend import candidate_score, recommend, select_candidates
from ._training import TrainConfig, accuracy, predict_logits, train, validation_scores

#: Retraining multiplier per operation type in the paper's appendix (widen, the project's
#: own operation, as add_neurons).
PAPER_RETRAIN_MULTIPLIERS = {
    "identity": 1,
    "add_neurons": 1,
    "widen": 1,
    "add_layer": 10,
    "remove_neurons": 10,
    "remove_layer": 10,
    "truncate": 1,
}

#: The package's multipliers: every candidate but truncation retrains as long as the paper's
#: longest. Eq. 16 compares accuracies after retraining, so at the paper's values a network
#: given a new layer has trained ten times longer than the unchanged one (identity) or a
#: widened one when they are compared, and from a too-small start the search deepened where
#: it should have widened. Equal retraining put the Fashion-MNIST small and medium starts
#: above 0.87 (``benchmarks/results/table3_*_growth_identity_retrain10_*``).
RETRAIN_MULTIPLIERS = {
    op: 1 if op == "truncate" else max(PAPER_RETRAIN_MULTIPLIERS.values())
    for op in PAPER_RETRAIN_MULTIPLIERS
}


#: ``max_cost='auto'``: the bound of a search that may grow its start, and of one that may
#: only reshape and prune it (without a refit). On the Table 3 protocol's large starts,
#: which the growth budget keeps from growing, 1.75 found networks as good as 2 did, with
#: both configurations and data sets; on small PMLB data sets, where the search grows its
#: start, 1.75 cost 0.1 points against a grid search (user guide, "Choosing the budget").
AUTO_MAX_COST = 2.0
AUTO_MAX_COST_NO_GROWTH = 1.75

#: ``max_params='auto'`` for a start free to grow: growth stops at this many parameters per
#: training sample. Unbounded, the search grew the PMLB sweep's adult (1,800 training rows)
#: from 100 units to 968-2335-2335, 7.7 million parameters, at 377 times its baseline's CPU
#: time and 3.4 points below it; the grid-search comparison's growth that paid (letter's 10
#: units to three layers of up to 480) stayed below 57 per sample.
AUTO_MAX_PARAMS_PER_SAMPLE = 100

#: Least fall of the validation loss (mean cross-entropy) that counts as progress for
#: ``plateau_patience``: scikit-learn's default ``tol`` for the training loss of its MLPs.
PLATEAU_LOSS_TOL = 1e-4


@dataclass(frozen=True)
class SurgeonConfig:
    """Parameters of the search; see :class:`sksurgeon.SurgeonClassifier` for each."""

    max_iter: int = 100
    interval: int = 10
    pretrain_epochs: int | None = None
    n_branches: int = 2
    max_redraws: int = 2
    retrain_batches: int = 25
    retrain_max_epochs: float = 1.0
    retrain_multipliers: dict = field(default_factory=lambda: dict(RETRAIN_MULTIPLIERS))
    eps_rel: float = 0.005
    eps_abs: float = 0.3
    selection: str = "per_type"
    top_n: int = 6
    n_random: int = 1
    widen: bool = True
    max_params: int | str | None = None
    memory: bool = True
    size_weight: float = 0.0
    growth_cost: float = 0.0
    remove_method: str = "data"
    add_noise: float = 0.0
    add_init: str = "gradient"
    patience: int | None = 2
    plateau_patience: int | None = None
    target_score: float | None = None
    refit: bool = False
    finish: str = "best"
    max_cost: float | str | None = 2.0
    race_fraction: float | None = 0.5
    prune_margin: float | None = 0.02
    memory_tolerance: float | str = "auto"
    n_data_sample: int = 1024
    drift_sample: int = 512


@dataclass
class Branch:
    """A network in the search with what is known about it."""

    net: torch.nn.Module
    state: object
    val_accuracy: float
    history: list
    n_params: int


@dataclass
class SurgeonResult:
    """What :func:`run_surgeon` hands back to the estimator.

    Attributes
    ----------
    net : torch.nn.Sequential
        The winning network.
    history : list of dict
        One entry per epoch of the winning lineage: ``epoch``, ``train_loss``,
        ``val_accuracy``, ``n_params``, ``hidden_layer_sizes``.
    log : list of dict
        One entry per candidate evaluated (see :class:`sksurgeon.SurgeonClassifier`).
    decisions : list of dict
        One entry per decision point: ``decision``, ``epoch``, ``tries``, ``outcome``
        (``'accepted'`` or ``'backtrack'``), ``chosen`` and the topology afterwards.
    epochs_trained : float
        Epochs-equivalent of all training done (samples seen / training set size).
    wall_time : float
        Seconds.
    stop_reason : str
    val_accuracy : float
        Validation accuracy of ``net``.
    refit : dict or None
        With ``config.refit``: ``kept``, ``status``, ``epochs``, ``epoch``,
        ``val_accuracy`` (of the network trained from scratch), ``search_val_accuracy`` and
        ``history``.
    max_cost : float or None
        The bound the search ran under, ``config.max_cost`` with ``'auto'`` resolved.
    """

    net: torch.nn.Module
    history: list
    log: list
    decisions: list
    epochs_trained: float
    wall_time: float
    stop_reason: str
    val_accuracy: float
    refit: dict | None = None
    max_cost: float | None = None


def task_seed(base, *path):
    """A 63-bit seed that depends only on ``base`` and the task's place in the search."""
    state = np.random.SeedSequence([int(base), *[int(p) for p in path]]).generate_state(2)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


class TrainingData:
    """Training and validation arrays shipped once to every worker.

    Threads share the arrays; for process workers (loky, multiprocessing) the arrays are
    written once per fit to memory-mapped files and tasks carry only their path
    (:meth:`on_disk`); on a Dask cluster (``joblib.parallel_config(backend="dask")``) they are
    scattered once per fit (:func:`_shipped_once`). Every worker turns them into tensors
    once per fit and keeps them, keyed by a token unique to the fit, until a later fit finds
    this one's files gone.
    """

    _cache: OrderedDict = OrderedDict()
    _cache_size = 2

    def __init__(self, X, y, sample_weight, X_val, y_val, val_weight, *, device, dtype):
        self.token = uuid.uuid4().hex
        self.arrays = (X, y, sample_weight, X_val, y_val, val_weight)
        self.device = str(device)
        self.dtype = str(dtype).replace("torch.", "")
        self.n_samples = len(y)
        self.n_val = len(y_val)
        w = np.ones(len(y_val)) if val_weight is None else np.asarray(val_weight, dtype=float)
        # Kish's effective sample size: what the validation accuracy's noise depends on.
        self.n_val_effective = float(w.sum() ** 2 / max((w**2).sum(), 1e-300))
        self.files = None

    def __getstate__(self):
        state = self.__dict__.copy()
        if self.files is not None:
            # Pickling the arrays for every task costs more than a short task; workers
            # read the files instead, and only on their first task of the fit.
            state["arrays"] = None
        return state

    @contextmanager
    def on_disk(self):
        """Keep a copy of the arrays in files for the duration of the block.

        Tasks pickled inside the block carry the files' paths instead of the arrays, so
        sending a task to a worker process costs the network's size, not the data's.
        """
        nbytes = sum(np.asarray(a).nbytes for a in self.arrays if a is not None)
        folder = tempfile.mkdtemp(prefix="sksurgeon-", dir=_memmap_folder(nbytes))
        try:
            files = []
            for k, a in enumerate(self.arrays):
                if a is None:
                    files.append(None)
                    continue
                path = os.path.join(folder, f"{k}.npy")
                np.save(path, np.asarray(a), allow_pickle=False)
                files.append(path)
            self.files = tuple(files)
            yield self
        finally:
            self.files = None
            shutil.rmtree(folder, ignore_errors=True)

    def tensors(self):
        """``(X, y, w, X_val, y_val, w_val)`` as tensors on the fit's device."""
        hit = TrainingData._cache.get(self.token)
        if hit is None:
            TrainingData._forget_finished_fits()
            dev = torch.device(self.device)
            fdtype = getattr(torch, self.dtype)

            def conv(a, dtype):
                if a is None:
                    return None
                return torch.tensor(np.asarray(a), dtype=dtype, device=dev)

            arrays = self.arrays
            if arrays is None:
                arrays = [None if f is None else np.load(f, mmap_mode="r") for f in self.files]
            X, y, w, Xv, yv, wv = arrays
            cached = (
                conv(X, fdtype),
                conv(y, torch.int64),
                conv(w, fdtype),
                conv(Xv, fdtype),
                conv(yv, torch.int64),
                conv(wv, fdtype),
            )
            TrainingData._cache[self.token] = (self.files, cached)
            while len(TrainingData._cache) > TrainingData._cache_size:
                TrainingData._cache.popitem(last=False)
            return cached
        return hit[1]

    @staticmethod
    def _forget_finished_fits():
        """Drop the tensors of fits whose files are gone (the fit ended and removed them).

        A process worker outlives the fit (loky reuses it for the next one), and without
        this it would hold a finished fit's data until newer fits push it out: loky takes
        the growth for a memory leak and restarts the worker, with a warning, once it
        passes 300 MB (two Fashion-MNIST-sized fits).
        """
        for token, (files, _) in list(TrainingData._cache.items()):
            if files is not None and not os.path.exists(files[0]):
                TrainingData._cache.pop(token, None)

    def release(self):
        """Drop this fit's tensors from the (process-local) cache."""
        TrainingData._cache.pop(self.token, None)


def _memmap_folder(nbytes):
    """Where to put the fit's memory-mapped data: joblib's choice, RAM-backed if it can.

    ``JOBLIB_TEMP_FOLDER`` if set; else ``/dev/shm`` when it has room to spare (writing to
    RAM is 5x faster here than to disk, and the pages are shared by the workers anyway);
    else the system's temporary folder (``None``).
    """
    folder = os.environ.get("JOBLIB_TEMP_FOLDER")
    if folder:
        return folder
    shm = "/dev/shm"
    try:
        st = os.statvfs(shm)
        if os.access(shm, os.W_OK) and st.f_bavail * st.f_frsize > max(2e9, 4 * nbytes):
            return shm
    except OSError:
        pass
    return None


@contextmanager
def _shipped_once(data, n_jobs, prefer):
    """Send ``data`` to the workers once for the whole fit, however many tasks it has.

    For local worker processes the arrays go to files that every worker maps
    (:meth:`TrainingData.on_disk`). On a Dask cluster they are scattered: joblib's Dask
    backend replaces an argument it has a future for (what ``parallel_config(backend="dask",
    scatter=[...])`` sets up) by that future, so tasks carry a reference and each worker
    fetches the data at most once per fit. Without either, every task would pickle the
    training set anew. Threads and sequential runs share the arrays and need neither.
    """
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend(prefer=prefer)
    kind = type(backend).__name__
    if kind in ("LokyBackend", "MultiprocessingBackend"):
        if joblib.effective_n_jobs(n_jobs) == 1:
            yield
            return
        with data.on_disk():
            yield
        return
    futures = getattr(backend, "data_futures", None)
    if "Dask" not in kind or not isinstance(futures, dict):
        yield
        return
    futures[id(data)] = backend.client.scatter(data, hash=False)
    try:
        yield
    finally:
        futures.pop(id(data), None)


class _single_thread:
    """Run torch with one intra-op thread while a fit searches.

    Results must not depend on ``n_jobs``, and matrix products give bit-different results
    with different thread counts, so every parallel task runs single-threaded wherever it
    runs; the parallelism is across tasks. The setting is process-wide, so it is made once
    around the whole search (tasks in threads share it) and restored at the end. ``saved``
    is the caller's thread count, which the legs that train alone use (:class:`_task_threads`).
    """

    def __enter__(self):
        self.saved = torch.get_num_threads()
        torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        torch.set_num_threads(self.saved)


class _task_threads:
    """Switch to ``n`` intra-op threads for a task (1 in a worker process, and stay there).

    Legs that train alone in the calling process (pre-training, the race's finishing leg,
    the baseline) run while no other task does, with the caller's thread count: they run
    there whatever ``n_jobs`` is, so their result does not depend on it either. Every task
    sets its own count on entry, so none needs restoring.
    """

    def __init__(self, n=1):
        self.n = n

    def __enter__(self):
        if torch.get_num_threads() != self.n:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        return False


def apply_candidate(
    net,
    candidate,
    *,
    generator=None,
    X_sample=None,
    remove_method="data",
    noise=0.0,
    add_init="gradient",
    y_sample=None,
    w_sample=None,
):
    """Build the network a candidate describes (a new module; ``net`` is untouched).

    ``X_sample``, ``y_sample`` and ``w_sample`` (training inputs, their class indices and
    sample weights, None for unweighted) are what ``remove_method='data'`` and
    ``add_init='gradient'`` read.
    """
    op, layer, amount = candidate.operation, candidate.layer, candidate.amount
    if op == "identity":
        return surgery.identity(net)
    if op in ("add_neurons", "widen"):
        grow = dict(
            noise=noise,
            generator=generator,
            init=add_init,
            X=X_sample,
            y=y_sample,
            sample_weight=w_sample,
        )
        if op == "add_neurons":
            return surgery.add_neurons(net, layer, amount, **grow)
        return surgery.widen(net, amount, **grow)
    if op == "add_layer":
        return surgery.add_layer(net, layer)
    if op == "remove_neurons":
        if remove_method == "data":
            return surgery.remove_neurons(net, layer, amount, method="data", X=X_sample)
        return surgery.remove_neurons(net, layer, amount, method="svd")
    if op == "remove_layer":
        return surgery.remove_layer(net, layer)
    if op == "truncate":
        return surgery.truncate(net, layer, amount)
    raise ValueError(f"unknown operation {op!r}")


def _relative_drift(before, after):
    scale = before.abs().max().clamp_min(1e-12)
    return float((after - before).abs().max() / scale)


def _retrain_candidate(
    parent,
    parent_state,
    candidate,
    data,
    train_config,
    n_batches,
    seed,
    config,
    parent_accuracy=None,
):
    """Worker task: build one candidate, measure its drift, retrain it briefly.

    A long retraining is checked after its first ``config.retrain_batches`` batches: a
    candidate still more than ``config.prune_margin`` below its parent's validation accuracy
    (``parent_accuracy``) there is hopeless (:func:`prune_checkpoint`) and stops.
    """
    with _task_threads():
        X, y, w, Xv, yv, wv = data.tensors()
        # Separate streams: how much shuffling draws must not change the surgery's choices.
        surgery_gen = torch.Generator().manual_seed(seed)
        gen = torch.Generator().manual_seed(task_seed(seed, 1))
        out = {"n_samples": 0}
        try:
            sample = X[: config.n_data_sample]
            net = apply_candidate(
                parent,
                candidate,
                generator=surgery_gen,
                X_sample=sample,
                remove_method=config.remove_method,
                noise=config.add_noise,
                add_init=config.add_init,
                y_sample=y[: config.n_data_sample],
                w_sample=None if w is None else w[: config.n_data_sample],
            )
            probe = Xv[: config.drift_sample]
            out["drift"] = _relative_drift(
                predict_logits(parent, probe), predict_logits(net, probe)
            )
            out["acc_before"] = accuracy(net, Xv, yv, sample_weight=wv)
            # Identity keeps its optimiser state; any other surgery changes the shapes.
            state = copy.deepcopy(parent_state) if candidate.operation == "identity" else None
            checkpoint = prune_checkpoint(config, n_batches, parent_accuracy)
            done = 0
            for leg in (checkpoint, n_batches - checkpoint):
                if leg == 0:
                    continue
                res = train(
                    net,
                    X,
                    y,
                    train_config,
                    generator=gen,
                    n_batches=leg,
                    sample_weight=w,
                    state=state,
                )
                state, done = res.state, done + leg
                out["n_samples"] += res.n_samples
                if res.diverged:
                    out["status"] = "diverged"
                    return out
                out["acc_after"] = accuracy(net, Xv, yv, sample_weight=wv)
                if done < n_batches and out["acc_after"] < parent_accuracy - config.prune_margin:
                    out["status"] = (
                        f"pruned after {done} of {n_batches} batches: "
                        f"{out['acc_after']:.4f} < parent {parent_accuracy:.4f} "
                        f"- {config.prune_margin:g}"
                    )
                    return out
            out["net"], out["state"] = net, res.state
            out["status"] = "ok"
        except Exception as exc:  # a crashing candidate is dropped and logged, never fatal
            out["status"] = f"error: {type(exc).__name__}: {exc}"
        return out


#: What evaluating a sample costs against training on it: one forward pass in large batches
#: against a forward and backward pass in small ones, so less the smaller the training batch
#: and the network; a rough middle, since it only orders tasks.
EVAL_COST = 0.25


def candidate_work(chosen, budgets, data, train_config, config, parent_accuracies):
    """Each candidate task's cost as ``(training samples equivalent, parameters)``.

    The candidate's own size and the evaluations around its retraining (validation before
    and after, at the pruning checkpoint, the drift probe) count, not only its batches: at
    batch 16 a widened Large network's 25 batches take nearly as long as a shrunk one's 250,
    and ordering by batches alone sent the widening last and left a worker idle (candidate
    phase 1.55x faster with ``n_jobs=2`` before, 1.67x and 1.69x after in two runs:
    benchmarks/results/parallel.md is the second).
    Only the order of dispatch and where a phase runs depend on it, never a result.
    """
    batch = min(train_config.batch_size, data.n_samples)
    work = []
    for c, nb, parent_acc in zip(chosen, budgets, parent_accuracies, strict=True):
        checks = 2 if prune_checkpoint(config, nb, parent_acc) < nb else 1
        evaluated = (checks + 1) * data.n_val + 2 * min(config.drift_sample, data.n_val)
        work.append((nb * batch + EVAL_COST * evaluated, c.n_params))
    return work


def prune_checkpoint(config, n_batches, parent_accuracy):
    """Batches after which a candidate's retraining is checked for hopelessness.

    Long retrainings only (more than ``config.retrain_batches``: every operation but
    truncation at the package's multipliers), checked after ``config.retrain_batches``;
    ``n_batches`` (no check) when pruning is off or the parent's accuracy is unknown.
    """
    if (
        config.prune_margin is None
        or parent_accuracy is None
        or n_batches <= config.retrain_batches
    ):
        return n_batches
    return config.retrain_batches


def _val_loss(branch):
    """Validation loss of ``branch`` at its latest epoch (inf before its first epoch)."""
    return branch.history[-1]["val_loss"] if branch.history else math.inf


def _train_branch(net, state, data, train_config, n_epochs, seed, n_threads=1, keep_best=False):
    """Worker task: train a branch ``n_epochs`` epochs, recording the training loss and the
    validation accuracy and loss of every epoch.

    With ``keep_best`` the result also holds ``best``: (epochs, network, optimiser state) at
    the epoch of highest validation accuracy (the latest of ties: it trained longer for the
    same score), copied when reached so that later training or a divergence cannot touch
    it; None if no epoch completed.
    """
    t0 = time.perf_counter()
    with _task_threads(n_threads):
        X, y, w, Xv, yv, wv = data.tensors()
        gen = torch.Generator().manual_seed(seed)
        losses, accs, val_losses, n_samples, best = [], [], [], 0, None
        for _ in range(n_epochs):
            res = train(
                net, X, y, train_config, generator=gen, n_epochs=1, sample_weight=w, state=state
            )
            n_samples += res.n_samples
            state = res.state
            if res.diverged:
                return {
                    "diverged": True,
                    "n_samples": n_samples,
                    "losses": losses,
                    "accs": accs,
                    "val_losses": val_losses,
                    "best": best,
                    "seconds": time.perf_counter() - t0,
                }
            losses.append(res.epoch_losses[-1])
            acc, val_loss = validation_scores(net, Xv, yv, sample_weight=wv)
            accs.append(acc)
            val_losses.append(val_loss)
            if keep_best and (best is None or accs[-1] >= accs[best[0] - 1]):
                best = (len(accs), copy.deepcopy(net), copy.deepcopy(state))
        return {
            "diverged": False,
            "net": net,
            "state": state,
            "losses": losses,
            "accs": accs,
            "val_losses": val_losses,
            "best": best,
            "n_samples": n_samples,
            "seconds": time.perf_counter() - t0,
        }


def _history_entries(start_epoch, trained, net, n_epochs=None):
    """History of the first ``n_epochs`` (all: None) epochs of a :func:`_train_branch` leg."""
    widths = surgery.hidden_widths(net)
    n_params = surgery.count_parameters(net)
    columns = zip(trained["losses"], trained["accs"], trained["val_losses"], strict=True)
    return [
        {
            "epoch": start_epoch + k + 1,
            "train_loss": float(loss),
            "val_accuracy": float(acc),
            "val_loss": float(val_loss),
            "n_params": n_params,
            "hidden_layer_sizes": tuple(widths),
        }
        for k, (loss, acc, val_loss) in enumerate(columns)
        if n_epochs is None or k < n_epochs
    ]


def retrain_candidates(
    parallel,
    parents,
    chosen,
    budgets,
    data,
    train_config,
    config,
    seed_of,
    parent_accuracies=None,
    work=None,
):
    """The candidate phase: build and retrain every chosen candidate, in parallel.

    Longest tasks are dispatched first so that the workers finish together (LPT order);
    each task's seed follows the candidate, not the dispatch order, and results come back
    in the order of ``chosen``. With ``parent_accuracies`` (one per candidate), hopeless
    candidates stop early (see :func:`_retrain_candidate`). ``work`` is the tasks' cost
    (:func:`candidate_work`), computed when not given.
    """
    if parent_accuracies is None:
        parent_accuracies = [None] * len(chosen)
    if work is None:
        work = candidate_work(chosen, budgets, data, train_config, config, parent_accuracies)
    order = sorted(range(len(chosen)), key=lambda k: -work[k][0] * work[k][1])
    done = parallel(
        joblib.delayed(_retrain_candidate)(
            parents[k][0],
            parents[k][1],
            chosen[k],
            data,
            train_config,
            budgets[k],
            seed_of(k),
            config,
            parent_accuracies[k],
        )
        for k in order
    )
    results = [None] * len(chosen)
    for k, r in zip(order, done, strict=True):
        results[k] = r
    return results


#: A parallel phase estimated to take less than this (seconds, sequentially) runs in the
#: calling process: sending tasks to workers and their networks back costs about 0.1 s a
#: phase on 2 cores (benchmarks/results/parallel.md, small networks), so it only pays for
#: phases a few times longer. Where a task runs never changes its result.
MIN_PARALLEL_SECONDS = 0.3


class _WorkEstimate:
    """Seconds a phase would take sequentially, from the pre-training's measured speed.

    A step's cost grows with batch size times parameter count, so one measured rate (seconds
    per sample and parameter) prices any candidate's or branch's training.
    """

    def __init__(self, seconds, n_samples, n_params):
        self.rate = seconds / max(n_samples * n_params, 1)

    def __call__(self, samples_and_params):
        return self.rate * sum(n * p for n, p in samples_and_params)


def memory_slack(tolerance, accuracy, n_val):
    """How far below the record (best decision point so far) a step may end and still be kept.

    ``'auto'`` is one standard error of the record accuracy on the validation set,
    ``sqrt(a (1 - a) / n_val)``: the paper's strict comparison (``0``) rejects a step for a
    single validation sample's worth of noise, and each rejection throws away an interval
    of training. The slack is measured from the record, not from the step before: measured
    from the step before, steps each within it could chain into a lineage that slides down.
    """
    if tolerance == "auto":
        return math.sqrt(max(accuracy * (1.0 - accuracy), 0.0) / max(n_val, 1.0))
    return float(tolerance)


def growth_budget(max_params, n_start, n_train):
    """Most parameters a surgery that grows the network may build (None: no limit).

    ``max_params`` as :class:`sksurgeon.SurgeonClassifier` takes it. ``'auto'``: a start
    with more parameters than training samples has capacity to spare, and growing it buys
    noise-level validation gains at the price of every later epoch, so it may not grow;
    a smaller one may grow to ``AUTO_MAX_PARAMS_PER_SAMPLE`` parameters per sample.
    """
    if max_params == "auto":
        return n_start if n_start > n_train else AUTO_MAX_PARAMS_PER_SAMPLE * n_train
    if max_params == "start":
        return n_start
    return max_params


def _memory_threshold(config, accuracy, data):
    """Validation accuracy a training must end at to replace a network of ``accuracy``.

    None when the one-cycle memory is off (every training is kept).
    """
    if not config.memory:
        return None
    return accuracy - memory_slack(config.memory_tolerance, accuracy, data.n_val_effective)


def _score(config, n_train, candidate, accuracy, parent_accuracy):
    """Eq. 16 (with ``config``'s size prices) of ``candidate`` at ``accuracy``."""
    return candidate_score(
        accuracy,
        accuracy - parent_accuracy,
        candidate.param_fraction,
        config.size_weight,
        growth_per_sample=(candidate.n_params - candidate.parent_n_params) / n_train,
        growth_cost=config.growth_cost,
    )


def _race_score(candidates, branches, config, n_train, k, accuracy):
    """Eq. 16 for candidate ``k`` having reached ``accuracy`` in the branch race."""
    c = candidates[k]
    return _score(config, n_train, c, accuracy, branches[c.branch].val_accuracy)


def _race_leg(step, race_fraction, n_racers):
    """Epochs every racer trains before the race is decided (``step`` when there is none)."""
    if race_fraction is None or n_racers < 2 or step < 2:
        return step
    return min(step, max(1, round(step * race_fraction)))


def _winners_epochs(step, race_fraction, n_winners):
    """Most epochs :func:`_train_winners` trains in all for ``n_winners`` selected candidates."""
    first = _race_leg(step, race_fraction, n_winners)
    return n_winners * first + (step - first)


def _train_winners(
    parallel,
    results,
    data,
    train_config,
    step,
    race_fraction,
    seed_of,
    score_of,
    give_up_below,
    solo_threads=1,
):
    """Train the selected candidates to the next decision point.

    Without a race every one trains ``step`` epochs (the paper). With ``race_fraction`` all
    train that fraction of the step, and only the one with the best score (Eq. 16 on the
    accuracy reached; fewer parameters on ties) finishes the step: successive halving,
    which keeps the diversity of several branches at about half their cost.
    ``score_of(k, accuracy)`` scores result ``k``. When even the race's leader is below
    ``give_up_below`` (the memory threshold) halfway, the try is abandoned there: a branch
    that has not reached the threshold after half the interval rarely does,
    and finishing it would only be thrown away by the backtrack. The finisher trains alone,
    with ``solo_threads`` intra-op threads.
    """
    first = _race_leg(step, race_fraction, len(results))
    race = first < step
    trained = parallel(
        joblib.delayed(_train_branch)(
            r["net"], r["state"], data, train_config, first, seed_of(3, k)
        )
        for k, r in enumerate(results)
    )
    if not race:
        return trained
    alive = [k for k, t in enumerate(trained) if not t["diverged"]]
    for k in alive:
        trained[k]["race_acc"] = trained[k]["accs"][-1]
    if not alive:
        return trained
    best = min(
        alive,
        key=lambda k: (
            -score_of(k, trained[k]["accs"][-1]),
            surgery.count_parameters(trained[k]["net"]),
        ),
    )
    t = trained[best]
    if give_up_below is not None and t["accs"][-1] < give_up_below:
        return [{**r, "abandoned": not r["diverged"]} for r in trained]
    rest = _train_branch(
        t["net"], t["state"], data, train_config, step - first, seed_of(4), solo_threads
    )
    merged = {
        "diverged": rest["diverged"],
        "n_samples": t["n_samples"] + rest["n_samples"],
        "losses": t["losses"] + rest["losses"],
        "accs": t["accs"] + rest["accs"],
        "val_losses": t["val_losses"] + rest["val_losses"],
        "net": rest.get("net"),
        "state": rest.get("state"),
        "race_acc": t["race_acc"],
    }
    return [
        merged if k == best else {**trained[k], "raced_out": not trained[k]["diverged"]}
        for k in range(len(trained))
    ]


def run_surgeon(
    net,
    data,
    train_config: TrainConfig,
    config: SurgeonConfig,
    *,
    seed,
    n_jobs=None,
    surgery_enabled=True,
    initial_state=None,
    initial_epoch=0,
    initial_decision=0,
    prefer=None,
    reporter=None,
):
    """Train ``net`` with topology search (Algorithm 1) and return a :class:`SurgeonResult`.

    Parameters
    ----------
    net : torch.nn.Sequential
        Starting network (not modified).
    data : TrainingData
    train_config : TrainConfig
    config : SurgeonConfig
    seed : int
        Base seed; every task's generator is derived from it and the task's place.
    n_jobs : int or None
        joblib's ``n_jobs`` for candidate retraining and branch training.
    surgery_enabled : bool, default=True
        False trains the start topology for ``max_iter`` epochs (the baseline), same engine.
    initial_state : object, optional
        Optimiser state to continue (warm start).
    initial_epoch, initial_decision : int, default=0
        Numbering offsets of epochs and decision points (warm start).
    prefer : {'processes', 'threads'} or None
        joblib backend hint (see :class:`sksurgeon.SurgeonClassifier` for the choice).
    reporter : callable, optional
        Called with a string per event worth printing (verbose mode).

    Notes
    -----
    ``max_iter`` counts epochs of the winning lineage: a backtrack does not advance it. The
    search stops deciding at ``max_iter`` lineage epochs, after ``patience`` consecutive
    backtracks, after ``plateau_patience`` consecutive decision points without a new record
    validation accuracy or a new lowest validation loss, at ``target_score``, after
    ``patience`` decision points more than ``max_iter`` needs (twice as many when
    ``patience`` is None), or once another decision point could take the fit past
    ``max_cost * max_iter`` epochs. After the backtracks, the
    spent decision points or the budget (``_FINISHED_ALONE``), the best branch trains alone
    to ``max_iter`` epochs, and is kept as it was if that ends below the memory rule's
    threshold (:func:`_finish_alone`). With ``config.refit`` under a budget, the refit's
    ``max_iter`` epochs take the place of the lineage's remaining ones in the budget, and
    of the training alone after the search when its topology changed (:func:`_refit`).
    """
    t0 = time.perf_counter()
    say = reporter or (lambda *a, **k: None)
    n_train = data.n_samples
    samples = 0
    log, decisions = [], []
    net = surgery.identity(net)
    pretrain = config.pretrain_epochs if config.pretrain_epochs is not None else config.interval
    pretrain = min(pretrain, config.max_iter) if surgery_enabled else config.max_iter
    n_start = surgery.count_parameters(net)
    max_params = growth_budget(config.max_params, n_start, n_train)
    max_cost = config.max_cost
    if max_cost == "auto":
        # A refit takes max_iter epochs of the budget: its gains were measured at 2.
        may_grow = max_params is None or max_params > n_start
        max_cost = AUTO_MAX_COST if may_grow or config.refit else AUTO_MAX_COST_NO_GROWTH

    with (
        _shipped_once(data, n_jobs, prefer),
        _single_thread() as threads,
        joblib.Parallel(n_jobs=n_jobs, prefer=prefer) as parallel,
        joblib.Parallel(n_jobs=1) as in_process,
    ):
        first = _train_branch(
            net, initial_state, data, train_config, pretrain, task_seed(seed, 0), threads.saved
        )
        samples += first["n_samples"]
        if first["diverged"]:
            raise FloatingPointError(
                "training diverged (non-finite loss) during the first epochs; "
                "lower learning_rate_init or scale the inputs"
            )
        history = _history_entries(initial_epoch, first, first["net"])
        # Measured with the caller's threads, so it may underrate a one-thread task (up to
        # 1.5x for the Large net on 2 threads): it only decides where phases run.
        estimate = _WorkEstimate(
            first["seconds"], first["n_samples"], surgery.count_parameters(first["net"])
        )

        def pool_for(work):
            return parallel if estimate(work) >= MIN_PARALLEL_SECONDS else in_process

        for h in history:
            say(f"epoch {h['epoch']}: loss {h['train_loss']:.4f}, val {h['val_accuracy']:.4f}", 2)
        branches = [
            Branch(
                first["net"],
                first["state"],
                first["accs"][-1],
                history,
                surgery.count_parameters(first["net"]),
            )
        ]
        clock = pretrain  # lineage epochs trained in this fit
        stop_reason = "max_iter"
        backtracks = 0
        record = branches[0]  # best network at any decision point so far
        lowest_val_loss = _val_loss(branches[0])
        plateau = 0  # decision points in a row without progress
        decision = initial_decision
        batches_per_epoch = math.ceil(n_train / train_config.batch_size)
        cap = max(1, math.ceil(config.retrain_max_epochs * batches_per_epoch))
        n_steps = math.ceil(max(config.max_iter - pretrain, 0) / config.interval)
        # Every backtrack costs a decision point on top of the lineage's; allow `patience`
        # of them in all (as many as the lineage's steps without patience) to bound the cost.
        max_decisions = n_steps + (config.patience if config.patience is not None else n_steps)
        budget = None if max_cost is None else max_cost * config.max_iter * n_train
        out_of_budget = False
        # Under a budget the refit is part of the fit: the search leaves it room for a full
        # training of the topology found, and hands that training the epochs a search
        # stopped early would otherwise spend training on alone.
        refit_epochs = initial_epoch + config.max_iter
        refit_in_budget = config.refit and budget is not None and surgery_enabled

        def target_reached():
            return (
                config.target_score is not None
                and max(b.val_accuracy for b in branches) >= config.target_score
            )

        while surgery_enabled and clock < config.max_iter:
            if target_reached():
                stop_reason = "target_score"
                break
            if decision - initial_decision >= max_decisions:
                stop_reason = "max_decisions"
                break
            decision += 1
            step = min(config.interval, config.max_iter - clock)
            # Against the record, not the branches' best: with a tolerance, steps each kept
            # within it of the step before could otherwise drift down without bound.
            threshold = _memory_threshold(config, record.val_accuracy, data)
            pool = []
            for bi, b in enumerate(branches):
                pool += recommend(
                    b.net,
                    eps_rel=config.eps_rel,
                    eps_abs=config.eps_abs,
                    branch=bi,
                    widen=config.widen,
                    # Widening every layer is the coarse move for a network too narrow
                    # everywhere; one with more parameters than training samples is not,
                    # and doubling it (300-100-100 on Fashion-MNIST) multiplies the cost of
                    # the search for noise-level gains.
                    widen_max_params=n_train,
                    max_params=max_params,
                )
            tried, accepted, chosen_desc = set(), None, []
            for attempt in range(config.max_redraws + 1):
                rng = np.random.default_rng(task_seed(seed, decision, attempt, 1))
                chosen = select_candidates(
                    pool,
                    mode=config.selection,
                    top_n=config.top_n,
                    n_random=config.n_random,
                    exclude=tried,
                    rng=rng,
                )
                if not chosen:
                    break
                tried |= {c.key for c in chosen}
                mult = config.retrain_multipliers
                budgets = [
                    min(cap, max(1, round(config.retrain_batches * mult[c.operation])))
                    for c in chosen
                ]
                parent_accuracies = [branches[c.branch].val_accuracy for c in chosen]
                work = candidate_work(
                    chosen, budgets, data, train_config, config, parent_accuracies
                )
                if budget is not None:
                    # The try's most training, and then the lineage's remaining epochs
                    # alone as if it backtracked (or the refit, which takes their place):
                    # the budget holds whatever happens.
                    k = min(config.n_branches, len(chosen))
                    tail = refit_epochs if refit_in_budget else config.max_iter - clock
                    worst = (
                        samples
                        + sum(budgets) * min(train_config.batch_size, n_train)
                        + _winners_epochs(step, config.race_fraction, k) * n_train
                        + tail * n_train
                    )
                    if worst > budget:
                        out_of_budget = True
                        break
                results = retrain_candidates(
                    pool_for(work),
                    [(branches[c.branch].net, branches[c.branch].state) for c in chosen],
                    chosen,
                    budgets,
                    data,
                    train_config,
                    config,
                    partial(task_seed, seed, decision, attempt, 2),
                    parent_accuracies,
                    work,
                )
                entries = []
                for c, nb, r in zip(chosen, budgets, results, strict=True):
                    samples += r["n_samples"]
                    parent = branches[c.branch]
                    entry = {
                        "decision": decision,
                        "epoch": initial_epoch + clock,
                        "try": attempt + 1,
                        "branch": c.branch,
                        "operation": c.operation,
                        "layer": c.layer,
                        "amount": c.amount,
                        "recommendation_score": c.score,
                        "random_pick": c.random_pick,
                        "n_params": c.n_params,
                        "param_fraction": c.param_fraction,
                        "retrain_batches": nb,
                        "drift": r.get("drift", math.nan),
                        "accuracy_before": r.get("acc_before", math.nan),
                        "accuracy_after": r.get("acc_after", math.nan),
                        "accuracy_gain": math.nan,
                        "score": math.nan,
                        "status": r["status"],
                        "selected": False,
                        "accepted": False,
                        "race_accuracy": math.nan,
                        "val_accuracy_next": math.nan,
                    }
                    if r["status"] == "ok":
                        gain = r["acc_after"] - parent.val_accuracy
                        entry["accuracy_gain"] = gain
                        entry["score"] = _score(
                            config, n_train, c, r["acc_after"], parent.val_accuracy
                        )
                    log.append(entry)
                    entries.append((entry, c, r))
                viable = [t for t in entries if t[0]["status"] == "ok"]
                viable.sort(key=lambda t: (-t[0]["score"], t[1].n_params))
                winners = viable[: config.n_branches]
                for e, _, _ in winners:
                    e["selected"] = True
                race_epochs = step * (config.race_fraction or 1.0)
                trained = _train_winners(
                    pool_for([(race_epochs * n_train, c.n_params) for _, c, _ in winners]),
                    [r for _, _, r in winners],
                    data,
                    train_config,
                    step,
                    config.race_fraction,
                    partial(task_seed, seed, decision, attempt),
                    partial(_race_score, [c for _, c, _ in winners], branches, config, n_train),
                    threshold,
                    threads.saved,
                )
                new_branches = []
                for (e, c, _), t in zip(winners, trained, strict=True):
                    samples += t["n_samples"]
                    e["race_accuracy"] = t.get("race_acc", math.nan)
                    if t["diverged"]:
                        e["status"] = "diverged in branch training"
                        continue
                    e["val_accuracy_next"] = t["accs"][-1]
                    if t.get("raced_out"):
                        e["status"] = "lost the branch race"
                        continue
                    if t.get("abandoned"):
                        e["status"] = "abandoned halfway: below the previous best"
                        continue
                    ok = threshold is None or t["accs"][-1] >= threshold
                    if ok:
                        e["accepted"] = True
                        parent = branches[c.branch]
                        hist = parent.history + _history_entries(
                            parent.history[-1]["epoch"] if parent.history else initial_epoch,
                            t,
                            t["net"],
                        )
                        new_branches.append(
                            Branch(
                                t["net"],
                                t["state"],
                                t["accs"][-1],
                                hist,
                                surgery.count_parameters(t["net"]),
                            )
                        )
                        chosen_desc.append(c.describe())
                if new_branches:
                    accepted = new_branches
                    break
            if out_of_budget and attempt == 0:
                decision -= 1  # nothing was tried
                stop_reason = "max_cost"
                break
            start = clock
            if accepted:
                branches = sorted(accepted, key=lambda b: (-b.val_accuracy, b.n_params))
                backtracks = 0
                outcome = "accepted"
                clock += step
            else:
                # The step's training is discarded with its branches: the lineage stays put.
                backtracks += 1
                outcome = "backtrack"
            best = branches[0]
            decisions.append(
                {
                    "decision": decision,
                    "epoch": initial_epoch + start,
                    "epoch_end": initial_epoch + clock,
                    "tries": attempt + 1,
                    "outcome": outcome,
                    "chosen": chosen_desc,
                    "hidden_layer_sizes": tuple(surgery.hidden_widths(best.net)),
                    "n_params": best.n_params,
                    "val_accuracy": best.val_accuracy,
                }
            )
            say(
                f"decision {decision} (epoch {initial_epoch + start}): {outcome}"
                + (f" [{', '.join(chosen_desc)}]" if chosen_desc else "")
                + f"; best {list(surgery.hidden_widths(best.net))}, "
                f"{best.n_params} params, val {best.val_accuracy:.4f}",
                1,
            )
            # Progress is a record validation accuracy or a lower validation loss: on a small
            # validation set the accuracy can sit at the majority class's share for many
            # epochs while the loss shows that the network still learns.
            progress = False
            if accepted:
                val_loss = _val_loss(branches[0])
                if branches[0].val_accuracy > record.val_accuracy:
                    record, progress = branches[0], True
                if val_loss < lowest_val_loss - PLATEAU_LOSS_TOL:
                    progress = True
                lowest_val_loss = min(lowest_val_loss, val_loss)
            plateau = 0 if progress else plateau + 1
            if out_of_budget:
                stop_reason = "max_cost"
                break
            if config.patience is not None and backtracks >= config.patience:
                stop_reason = "no_improvement"
                break
            if config.plateau_patience is not None and plateau >= config.plateau_patience:
                stop_reason = "plateau"
                break
        else:
            if target_reached():
                stop_reason = "target_score"

        # A search that stops deciding still owes the lineage its max_iter epochs: the best
        # network trains on alone. Not after plateau (early stopping returns the record) or
        # target_score (the user's stop).
        refit_instead = refit_in_budget and _architecture(branches[0].net) != _architecture(net)
        if stop_reason in _FINISHED_ALONE and clock < config.max_iter and not refit_instead:
            branches, n_samples = _finish_alone(
                branches[0],
                config.max_iter - clock,
                data,
                train_config,
                task_seed(seed, decision + 1, 0, 5),
                threads.saved,
                say,
                _memory_threshold(config, record.val_accuracy, data),
                reason=stop_reason,
                keep=config.finish,
            )
            samples += n_samples
        # With early stopping the fit returns its best network, as MLPClassifier's does; the
        # paper's search (no plateau stop) returns where the lineage ended.
        finalists = branches + ([record] if config.plateau_patience is not None else [])
        best = min(finalists, key=lambda b: (-b.val_accuracy, b.n_params))
        net_out, val_out, refit = best.net, best.val_accuracy, None
        if config.refit and surgery_enabled:
            refit, fresh, n_samples = _refit(
                best,
                net,
                data,
                train_config,
                seed,
                threads.saved,
                say,
                refit_epochs,
                keep=config.finish,
            )
            samples += n_samples
            if refit["kept"]:
                net_out, val_out = fresh, refit["val_accuracy"]

    if surgery_enabled:
        bound = "no bound" if max_cost is None else f"bound {max_cost * config.max_iter:g}"
        say(
            f"stopped: {stop_reason}; {samples / n_train:.1f} epochs trained in all "
            f"(max_cost={max_cost}: {bound}); val {val_out:.4f}"
        )
    return SurgeonResult(
        net=net_out,
        history=best.history,
        log=log,
        decisions=decisions,
        epochs_trained=samples / n_train,
        wall_time=time.perf_counter() - t0,
        stop_reason=stop_reason,
        val_accuracy=val_out,
        refit=refit,
        max_cost=max_cost,
    )


#: Stops after which the best network trains alone to ``max_iter`` (:func:`_finish_alone`):
#: the budget leaves no room for another decision point, backtracks in a row (``patience``:
#: the surgeries tried did not help, which says little about plain training, as the two
#: selected branches are often surgeries), or decision points spent on backtracks.
_FINISHED_ALONE = ("max_cost", "no_improvement", "max_decisions")


def _finish_alone(
    branch, n_epochs, data, train_config, seed, n_threads, say, threshold, reason, keep="best"
):
    """Train ``branch`` without further search to the end of the lineage's epochs.

    What the search does once it stops deciding early (``reason``, one of
    ``_FINISHED_ALONE``): the network found so far gets the training the user asked for,
    at the baseline's cost per epoch. ``keep='best'`` hands back the epoch of this training
    with the best validation accuracy (early stopping with restore, confined to this leg;
    a divergence keeps the best epoch before it), ``'last'`` its last epoch. The one-cycle
    memory's rule holds for these epochs too: an epoch below ``threshold`` on validation (a
    network that has started to overfit; None: no check) does not replace ``branch``.
    Returns the branches left and the samples trained on.
    """
    t = _train_branch(
        surgery.identity(branch.net),
        copy.deepcopy(branch.state),
        data,
        train_config,
        n_epochs,
        seed,
        n_threads,
        keep_best=keep == "best",
    )
    chosen = _kept_epoch(t, keep)
    ran = f"trained alone {len(t['accs'])} of {n_epochs} epochs"
    if t["diverged"]:
        ran += " (diverged)"
    if chosen is None:
        say(f"{reason}: {ran}; kept the network before", 1)
        return [branch], t["n_samples"]
    k, net, state = chosen
    acc = t["accs"][k - 1]
    at = f"val {acc:.4f}" + (f" at epoch {k}" if k != n_epochs else "")
    if threshold is not None and acc < threshold:
        say(
            f"{reason}: {ran}, {at}, below the memory threshold {threshold:.4f}; "
            "kept the network before",
            1,
        )
        return [branch], t["n_samples"]
    last = branch.history[-1]["epoch"] if branch.history else 0
    history = branch.history + _history_entries(last, t, net, n_epochs=k)
    say(f"{reason}: {list(surgery.hidden_widths(net))} {ran}, kept {at}", 1)
    return [Branch(net, state, acc, history, branch.n_params)], t["n_samples"]


def _kept_epoch(trained, keep):
    """(epoch, network, optimiser state) that a :func:`_train_branch` leg hands back under
    ``finish`` = ``keep``: its best epoch on validation (taken with ``keep_best``) or its
    last; None when no epoch can be kept (a divergence, before any epoch for ``'best'``).
    """
    if keep == "best":
        return trained["best"]
    if trained["diverged"]:
        return None
    return len(trained["accs"]), trained["net"], trained["state"]


def _architecture(net):
    """What a fresh start of ``net`` would share with it: layer shapes, biases, activations."""
    return [
        (tuple(m.weight.shape), m.bias is not None)
        if isinstance(m, torch.nn.Linear)
        else (type(m).__name__, getattr(m, "negative_slope", None))
        for m in net
    ]


def _refit(best, start, data, train_config, seed, n_threads, say, n_epochs, keep="best"):
    """Train ``best``'s topology from fresh weights for ``n_epochs`` epochs.

    A network grown from a too-small start keeps what the small one learnt; on the Table 3
    protocol, with plain SGD, the same topology trained from scratch was usually more
    accurate (``benchmarks/results/table3_*_refit_budget_small_medium_seeds5.md``). Which one is
    returned is decided on the validation split, never on test data. ``keep`` is the
    fit's ``finish``: ``'best'`` compares (and returns) the refit's best epoch on
    validation, as a search that finished alone returns its leg's best epoch, so that
    neither side is judged by its last, noisiest epoch against the other's best; a
    divergence keeps the best epoch before it. ``'last'`` compares its last epoch.

    Returns
    -------
    report : dict
        ``SurgeonResult.refit``.
    net : torch.nn.Sequential or None
        The network trained from scratch; None when skipped or diverged before any epoch
        could be kept.
    n_samples : int
        Samples trained on.
    """
    entry = {
        "kept": False,
        "status": "",
        "epochs": n_epochs,
        "epoch": 0,
        "search_val_accuracy": float(best.val_accuracy),
        "val_accuracy": float("nan"),
        "history": [],
    }
    if _architecture(best.net) == _architecture(start):
        # The lineage already is a from-scratch training of this topology.
        entry["status"] = "skipped: topology unchanged"
        entry["epochs"] = 0
        return entry, None, 0
    # A CPU generator, as for the start network: the same weights on every device.
    gen = torch.Generator().manual_seed(task_seed(seed, 0, 1))
    fresh = surgery.reinitialize(best.net, generator=gen)
    t = _train_branch(
        fresh,
        None,
        data,
        train_config,
        n_epochs,
        task_seed(seed, 0, 2),
        n_threads,
        keep_best=keep == "best",
    )
    entry["history"] = _history_entries(0, t, fresh)
    chosen = _kept_epoch(t, keep)
    if chosen is None:
        entry["status"] = "diverged"
        out = None
    else:
        k, out, _ = chosen
        entry["epoch"] = k
        entry["val_accuracy"] = float(t["accs"][k - 1])
        entry["kept"] = entry["val_accuracy"] > entry["search_val_accuracy"]
        entry["status"] = "kept" if entry["kept"] else "search's network kept"
        if t["diverged"]:
            entry["status"] += f" (diverged after epoch {len(t['accs'])})"
    at = f" at epoch {entry['epoch']}" if 0 < entry["epoch"] < n_epochs else ""
    say(
        f"refit {list(surgery.hidden_widths(best.net))} from scratch, {n_epochs} epochs: "
        f"val {entry['val_accuracy']:.4f}{at} against the search's "
        f"{entry['search_val_accuracy']:.4f} ({entry['status']})",
        1,
    )
    return entry, out, t["n_samples"]
