"""The recommendation module: singular values of each hidden layer to ranked surgery candidates.

Section 3.2 of Schiessler et al. (2021). Each hidden layer's *own* incoming weight matrix is
decomposed (the authors' code reads the next layer's matrix, an off-by-one), Eq. 13 counts the
singular values that carry (almost) no information, and the four scores of the paper turn that
count into a preference for growing or shrinking the layer. Candidates are then ranked by score,
ties broken toward *fewer* parameters (the paper's BIC argument; the authors' code sorts the other
way), with exact parameter counts of the network each candidate would build.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from . import surgery

OPERATIONS = (
    "identity",
    "add_neurons",
    "widen",
    "add_layer",
    "remove_neurons",
    "remove_layer",
    "truncate",
)


@dataclass(frozen=True)
class Candidate:
    """One proposed surgery on one branch.

    Attributes
    ----------
    operation : str
        One of :data:`OPERATIONS`.
    layer : int or None
        0-based hidden layer the operation acts on (None for identity).
    amount : int or None
        Neurons added or removed, or the rank kept by ``truncate``.
    score : float
        Recommendation score in [0, 1] (section 3.2 of the paper).
    n_params : int
        Parameter count of the network the candidate builds.
    parent_n_params : int
        Parameter count of the network it is built from.
    branch : int
        Index of the branch (parent network) it belongs to.
    random_pick : bool
        True when it was drawn at random from the candidates not chosen by rank.
    variant : int
        1 for the larger of the two add-neurons amounts: ``'per_type'`` selection keeps the
        best of each (operation, variant), so that the big step is tried as well.
    """

    operation: str
    layer: int | None
    amount: int | None
    score: float
    n_params: int
    parent_n_params: int
    branch: int = 0
    random_pick: bool = False
    variant: int = 0

    @property
    def param_fraction(self):
        """Parameter count as a fraction of the parent's (the paper's PF)."""
        return self.n_params / self.parent_n_params

    @property
    def key(self):
        """Identity of the surgery, used to avoid training the same candidate twice."""
        return (self.branch, self.operation, self.layer, self.amount)

    def describe(self):
        """Short human-readable description, e.g. ``'add_neurons(+20) @ layer 0'``."""
        if self.operation == "identity":
            return "identity"
        if self.operation in ("add_neurons", "remove_neurons"):
            sign = "+" if self.operation == "add_neurons" else "-"
            return f"{self.operation}({sign}{self.amount}) @ layer {self.layer}"
        if self.operation == "widen":
            return "widen(" + ", ".join(f"+{a}" for a in self.amount) + ")"
        if self.operation == "truncate":
            return f"truncate(rank {self.amount}) @ layer {self.layer}"
        return f"{self.operation} @ layer {self.layer}"


def count_removable(singular_values, eps_rel=0.005, eps_abs=0.3):
    """Number of neurons a layer can spare, Eq. 13 of the paper.

    Counts the singular values below ``eps_rel`` times the largest one or below ``eps_abs``.
    Only the singular values the thin SVD returns count, as in the paper (``i = 1 ... k``): a
    layer with more neurons than inputs has a rank-deficient weight matrix by construction,
    but after a ReLU its neurons are not redundant (100 units on iris's 4 features are not
    4 units' worth), so its width beyond the input's does not make neurons removable.

    Parameters
    ----------
    singular_values : array-like of shape (k,)
        Singular values in descending order.
    eps_rel : float, default=0.005
        Relative threshold (fraction of the largest singular value).
    eps_abs : float, default=0.3
        Absolute threshold.

    Returns
    -------
    n_r : int

    Examples
    --------
    >>> count_removable([10.0, 1.0, 0.04, 0.01])
    2
    """
    s = np.asarray(singular_values, dtype=float)
    if s.size == 0:
        return 0
    return int(np.count_nonzero((s < eps_rel * s[0]) | (s < eps_abs)))


def operation_scores(n_removable, width, position, n_hidden):
    """The four scores of section 3.2 for one hidden layer.

    Parameters
    ----------
    n_removable : int
        ``n_r`` of Eq. 13.
    width : int
        Number of neurons ``n_l`` of the layer.
    position : int
        1-based hidden layer index ``i``.
    n_hidden : int
        Number of hidden layers ``h``.

    Returns
    -------
    scores : dict
        Keys ``add_neurons``, ``add_layer``, ``remove_neurons``, ``remove_layer``.

    Examples
    --------
    >>> operation_scores(2, 10, 1, 2)
    {'add_neurons': 0.8, 'add_layer': 0.4, 'remove_neurons': 0.2, 'remove_layer': 0.1}
    """
    ratio = n_removable / width
    depth = position / n_hidden
    return {
        "add_neurons": 1.0 - ratio,
        "add_layer": (1.0 - ratio) * depth,
        "remove_neurons": ratio,
        "remove_layer": 1.0 if n_removable == width else ratio * depth,
    }


def candidate_score(
    accuracy,
    accuracy_gain,
    param_fraction,
    size_weight=1.0,
    *,
    growth_per_sample=0.0,
    growth_cost=0.0,
):
    """Composite score of a retrained candidate, Eq. 16 with an optional growth price.

    ``a + exp(da - size_weight * df - growth_cost * max(growth_per_sample, 0))``.
    ``size_weight=1`` and ``growth_cost=0`` is the paper's score. The paper's price of size
    is relative to the parent, so it punishes growth of a layer fed by many inputs so hard
    that a too-small first layer practically never widens, and it charges a 10-unit and a
    300-unit layer the same for doubling. ``growth_cost`` prices growth in absolute terms
    instead: parameters *added per training sample* (``growth_per_sample``), an accuracy cost
    in the spirit of BIC. Growing a 10-unit first layer on 54,000 samples by 20 units adds
    0.3 parameters per sample; doubling a 300-unit one adds 5.

    Examples
    --------
    >>> round(candidate_score(0.6023, 0.0274, 0.9977), 3)  # Table 1, 'Remove layer'
    0.981
    >>> round(candidate_score(0.9, 0.002, 2.0, 0.0, growth_per_sample=5.0, growth_cost=0.01), 3)
    1.853
    """
    price = size_weight * param_fraction + growth_cost * max(growth_per_sample, 0.0)
    return accuracy + math.exp(accuracy_gain - price)


def _layer_shapes(net):
    """``[(n_in, n_out, has_bias), ...]`` for every Linear, output layer last."""
    return [
        (m.in_features, m.out_features, m.bias is not None)
        for m in net
        if hasattr(m, "in_features")
    ]


def _count(shapes):
    return sum(i * o + (o if b else 0) for i, o, b in shapes)


def _shapes_after(shapes, operation, layer, amount):
    """Layer shapes of the network an operation builds (mirrors :mod:`sksurgeon.surgery`)."""
    s = list(shapes)
    if operation == "identity":
        return s
    if operation == "widen":
        for hidden, add in enumerate(amount):
            if add:
                s = _shapes_after(s, "add_neurons", hidden, add)
        return s
    i = layer
    n_in, n_out, bias = s[i]
    nxt_in, nxt_out, nxt_bias = s[i + 1]
    if operation in ("add_neurons", "remove_neurons"):
        delta = amount if operation == "add_neurons" else -amount
        s[i] = (n_in, n_out + delta, bias)
        s[i + 1] = (nxt_in + delta, nxt_out, nxt_bias)
    elif operation == "add_layer":
        s.insert(i + 1, (n_out, n_out, True))
    elif operation == "remove_layer":
        s[i : i + 2] = [(n_in, nxt_out, bias or nxt_bias)]
    elif operation == "truncate":
        s[i : i + 1] = [(n_in, amount, False), (amount, n_out, bias)]
    else:
        raise ValueError(f"unknown operation {operation!r}; expected one of {OPERATIONS}")
    return s


def recommend(
    net,
    *,
    eps_rel=0.005,
    eps_abs=0.3,
    branch=0,
    widen=True,
    widen_max_params=None,
    max_params=None,
):
    """All surgery candidates for one network, ranked.

    For each hidden layer ``l`` with ``n_l`` neurons and ``n_r`` removable ones (Eq. 13 on its
    own incoming weights): add ``max(2, n_l // 10)`` neurons and ten times that (two
    candidates), add a layer after it, remove ``n_r`` neurons (clipped to ``[1, n_l - 1]``; no
    candidate when ``n_r = 0``), remove the layer (not the last remaining one), and truncate it
    to rank ``rank - n_r`` when that saves parameters. Identity (keep training) is always first.
    With several hidden layers, also widen every layer at once by ten times
    ``max(2, n_l // 10)`` each (scored with the mean of the layers' add-neurons scores).

    Parameters
    ----------
    net : torch.nn.Sequential
        MLP in the convention of :mod:`sksurgeon.surgery`.
    eps_rel, eps_abs : float
        Thresholds of Eq. 13.
    branch : int, default=0
        Branch index stored in each candidate.
    widen : bool, default=True
        Propose the widen-every-layer candidate (not in the paper).
    widen_max_params : int or None, default=None
        Propose it only when the widened network has at most this many parameters.
    max_params : int or None, default=None
        A candidate that adds parameters (adding neurons or a layer, widening) is proposed
        only when the network it builds has at most this many; None proposes every one.
        Candidates that keep or reduce the count are always proposed.

    Returns
    -------
    candidates : list of Candidate
        Identity first, then the rest by score descending, parameter count ascending.

    Examples
    --------
    >>> from sksurgeon.surgery import build_mlp
    >>> cands = recommend(build_mlp(4, [8], 3))
    >>> cands[0].operation
    'identity'
    """
    shapes = _layer_shapes(net)
    n_params = _count(shapes)
    n_hidden = len(shapes) - 1
    widths = [o for _, o, _ in shapes[:-1]]

    def make(operation, layer, amount, score, variant=0):
        return Candidate(
            operation=operation,
            layer=layer,
            amount=amount,
            score=float(score),
            n_params=_count(_shapes_after(shapes, operation, layer, amount)),
            parent_n_params=n_params,
            branch=branch,
            variant=variant,
        )

    out = []
    add_scores, big_adds = [], []
    for layer, width in enumerate(widths):
        sv = surgery.singular_values(net, layer).detach().cpu().numpy()
        n_r = count_removable(sv, eps_rel, eps_abs)
        scores = operation_scores(n_r, width, layer + 1, n_hidden)
        add = max(2, width // 10)
        add_scores.append(scores["add_neurons"])
        big_adds.append(10 * add)
        out.append(make("add_neurons", layer, add, scores["add_neurons"]))
        out.append(make("add_neurons", layer, 10 * add, scores["add_neurons"], variant=1))
        out.append(make("add_layer", layer, None, scores["add_layer"]))
        if n_hidden > 1:
            out.append(make("remove_layer", layer, None, scores["remove_layer"]))
        remove = min(max(n_r, 1), width - 1) if n_r > 0 else 0
        if remove > 0:
            out.append(make("remove_neurons", layer, remove, scores["remove_neurons"]))
            rank = sv.size - n_r
            if rank >= 1:
                cand = make("truncate", layer, rank, scores["remove_neurons"])
                # A bottleneck that does not shrink the layer only costs retraining.
                if cand.n_params < n_params:
                    out.append(cand)
    if widen and n_hidden > 1:
        cand = make("widen", None, tuple(big_adds), sum(add_scores) / n_hidden)
        if widen_max_params is None or cand.n_params <= widen_max_params:
            out.append(cand)
    if max_params is not None:
        # Above the budget already, a candidate may still keep or cut the count.
        limit = max(max_params, n_params)
        out = [c for c in out if c.n_params <= limit]
    out.sort(key=lambda c: (-c.score, c.n_params))
    return [make("identity", None, None, 1.0)] + out


def select_candidates(candidates, *, mode="per_type", top_n=6, n_random=1, exclude=(), rng=None):
    """Choose which candidates to retrain at one decision point.

    Parameters
    ----------
    candidates : list of Candidate
        Candidates of all branches (each list from :func:`recommend`).
    mode : {'per_type', 'top_n'}, default='per_type'
        ``'per_type'``: the best candidate of each operation type (the paper's setting; the
        small and the large add-neurons step count as two types, since on equal scores the
        smaller would always win);
        ``'top_n'``: the ``top_n`` best overall. Identity of every branch is always included.
    top_n : int, default=6
        Number of ranked candidates in ``'top_n'`` mode.
    n_random : int, default=1
        Extra candidates drawn uniformly from those not chosen.
    exclude : collection of tuple
        :attr:`Candidate.key` values already tried at this decision point (re-draws).
    rng : numpy.random.Generator
        Source of the random draws.

    Returns
    -------
    chosen : list of Candidate
    """
    rng = np.random.default_rng(rng)
    exclude = set(exclude)
    pool = [c for c in candidates if c.key not in exclude]
    identities = [c for c in pool if c.operation == "identity"]
    ranked = sorted(
        (c for c in pool if c.operation != "identity"), key=lambda c: (-c.score, c.n_params)
    )
    if mode == "per_type":
        chosen, seen = [], set()
        for c in ranked:
            if (c.operation, c.variant) not in seen:
                seen.add((c.operation, c.variant))
                chosen.append(c)
    elif mode == "top_n":
        chosen = ranked[:top_n]
    else:
        raise ValueError(f"mode must be 'per_type' or 'top_n', got {mode!r}")
    chosen_keys = {c.key for c in chosen}
    rest = [c for c in ranked if c.key not in chosen_keys]
    n_draw = min(n_random, len(rest))
    if n_draw:
        picks = rng.choice(len(rest), size=n_draw, replace=False)
        chosen += [replace(rest[k], random_pick=True) for k in sorted(picks)]
    return identities + chosen
