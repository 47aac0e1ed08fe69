import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sksurgeon import surgery
from sksurgeon._recommend import (
    Candidate,
    candidate_score,
    count_removable,
    operation_scores,
    recommend,
    select_candidates,
)
from sksurgeon._surgeon import apply_candidate

# Table 1 of the paper: operation, A, AG, PF, S.
TABLE_1 = [
    ("Remove layer", 0.6023, 0.0274, 0.9977, 0.9812),
    ("Identity", 0.6016, 0.0268, 1.0000, 0.9795),
    ("Remove 1 Neuron", 0.5829, 0.0081, 0.9997, 0.9539),
    ("Add layer", 0.5773, 0.0025, 1.0030, 0.9450),
    ("Add 20 Neurons", 0.5678, -0.0070, 2.6544, 0.6377),
]


@pytest.mark.parametrize("name,a,ag,pf,s", TABLE_1)
def test_eq16_reproduces_table_1(name, a, ag, pf, s):
    # The table's inputs are rounded to 4 decimals, so the last digit may differ by one.
    assert candidate_score(a, ag, pf) == pytest.approx(s, abs=1.5e-4)


def test_table_1_ranking_keeps_remove_layer_and_identity():
    scores = [candidate_score(a, ag, pf) for _, a, ag, pf, _ in TABLE_1]
    top2 = np.argsort(scores)[::-1][:2]
    assert [TABLE_1[i][0] for i in top2] == ["Remove layer", "Identity"]


def test_size_weight_zero_ignores_size():
    assert candidate_score(0.5, 0.1, 5.0, size_weight=0.0) == pytest.approx(0.5 + np.exp(0.1))


def test_count_removable_eq13():
    s = np.array([10.0, 5.0, 0.29, 0.04, 0.0])
    assert count_removable(s) == 3  # below 0.3 absolute
    assert count_removable(s, eps_rel=0.1, eps_abs=0.0) == 3  # below 1.0 relative, and 0
    assert count_removable(s, eps_rel=0.0, eps_abs=0.0) == 0
    assert count_removable([]) == 0


def test_operation_scores_paper_formulas():
    sc = operation_scores(3, 10, 2, 4)
    assert sc["add_neurons"] == pytest.approx(0.7)
    assert sc["add_layer"] == pytest.approx(0.7 * 2 / 4)
    assert sc["remove_neurons"] == pytest.approx(0.3)
    assert sc["remove_layer"] == pytest.approx(0.3 * 2 / 4)
    # "remove layer = 1 if n_r = n_l", whatever the position.
    assert operation_scores(10, 10, 1, 4)["remove_layer"] == 1.0


def _net(sizes, n_in=12, n_out=4, seed=0, dtype=torch.float64):
    return surgery.build_mlp(
        n_in, sizes, n_out, generator=torch.Generator().manual_seed(seed), dtype=dtype
    )


def _degenerate(net, layer, n_dead):
    """Zero some rows of a layer's incoming weights so that n_r >= n_dead."""
    net = surgery.identity(net)
    with torch.no_grad():
        net[2 * layer].weight[:n_dead] = 0.0
    return net


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(2, 24), min_size=1, max_size=3),
    n_in=st.integers(2, 30),
    dead=st.integers(0, 3),
    seed=st.integers(0, 10_000),
)
def test_candidate_param_counts_equal_built_networks(sizes, n_in, dead, seed):
    net = _net(sizes, n_in=n_in, seed=seed)
    net = _degenerate(net, 0, min(dead, sizes[0] - 1))
    X = torch.randn(64, n_in, dtype=torch.float64)
    y = torch.randint(0, net[-1].out_features, (64,), generator=torch.Generator().manual_seed(1))
    for c in recommend(net):
        built = apply_candidate(
            net, c, X_sample=X, y_sample=y, generator=torch.Generator().manual_seed(0)
        )
        assert surgery.count_parameters(built) == c.n_params, c
        assert c.parent_n_params == surgery.count_parameters(net)


def test_amounts_and_no_remove_candidate_without_removable_neurons():
    net = _net([30, 8], n_in=12)
    cands = recommend(net, eps_rel=0.0, eps_abs=0.0)
    adds = sorted(c.amount for c in cands if c.operation == "add_neurons" and c.layer == 0)
    assert adds == [3, 30]
    adds1 = sorted(c.amount for c in cands if c.operation == "add_neurons" and c.layer == 1)
    assert adds1 == [2, 20]
    # Neither layer has a singular value below the thresholds: nothing to remove. In
    # particular a layer wider than its input (30 neurons fed by 12) is not pruned to 12:
    # the width - rank singular values the thin SVD does not return are not counted.
    assert not any(c.operation in ("remove_neurons", "truncate") for c in cands)
    scores = {c.operation: c.score for c in cands if c.layer == 0}
    assert scores["add_neurons"] == 1.0
    assert scores["remove_layer"] == 0.0


def test_a_layer_wider_than_its_input_is_pruned_by_its_small_singular_values_only():
    # 30 neurons fed by 12 inputs, three of whose 12 singular values are zero.
    net = _net([30, 8], n_in=12)
    with torch.no_grad():
        U, S, Vh = torch.linalg.svd(net[0].weight, full_matrices=False)
        S[-3:] = 0
        net[0].weight.copy_(U @ torch.diag(S) @ Vh)
    rem = [(c.layer, c.amount) for c in recommend(net) if c.operation == "remove_neurons"]
    assert rem == [(0, 3)]


def test_widen_candidate_grows_every_layer_and_is_optional():
    net = _net([10, 40, 5], n_in=12)
    cands = recommend(net)
    (wide,) = [c for c in cands if c.operation == "widen"]
    assert wide.layer is None and wide.amount == (20, 40, 20)
    assert wide.describe() == "widen(+20, +40, +20)"
    add = [c.score for c in cands if c.operation == "add_neurons" and c.amount in (20, 40)]
    assert wide.score == pytest.approx(np.mean(add))
    assert not any(c.operation == "widen" for c in recommend(net, widen=False))
    assert not any(
        c.operation == "widen" for c in recommend(net, widen_max_params=wide.n_params - 1)
    )
    assert any(c.operation == "widen" for c in recommend(net, widen_max_params=wide.n_params))
    # With one hidden layer it would duplicate the large add_neurons step.
    assert not any(c.operation == "widen" for c in recommend(_net([10])))


def test_max_params_limits_growth_only():
    net = _net([10, 40, 5], n_in=12)
    cands = recommend(net, eps_rel=0.5)
    start = cands[0].n_params
    growing = [c for c in cands if c.n_params > start]
    assert {c.operation for c in growing} >= {"add_neurons", "add_layer", "widen"}
    assert any(c.n_params < start for c in cands)
    budget = sorted(c.n_params for c in growing)[1]
    limited = recommend(net, eps_rel=0.5, max_params=budget)
    assert [c for c in cands if c.n_params <= budget] == limited
    # Above the budget already: nothing grows, everything else is still proposed.
    capped = recommend(net, eps_rel=0.5, max_params=start - 1)
    assert capped == [c for c in cands if c.n_params <= start]
    assert recommend(net, eps_rel=0.5, max_params=None) == cands


def test_remove_amount_clipped_to_keep_one_neuron():
    net = _net([5], n_in=12)
    with torch.no_grad():
        net[0].weight.mul_(1e-3)  # every singular value below eps_abs
    cands = recommend(net)
    rem = [c for c in cands if c.operation == "remove_neurons"]
    assert rem and rem[0].amount == 4
    # The only hidden layer is never proposed for removal.
    assert not any(c.operation == "remove_layer" for c in cands)


def test_ranking_score_then_fewer_parameters():
    net = _net([10, 10])
    cands = recommend(net)
    assert cands[0].operation == "identity"
    keys = [(-c.score, c.n_params) for c in cands[1:]]
    assert keys == sorted(keys)


def _cand(op, score, n_params, layer=0, amount=None, branch=0):
    return Candidate(op, layer, amount, score, n_params, 100, branch)


def test_select_per_type_picks_best_of_each_type_and_ties_to_fewer_params():
    pool = [
        _cand("identity", 1.0, 100, layer=None),
        _cand("add_neurons", 0.9, 150, amount=5),
        _cand("add_neurons", 0.9, 120, amount=2),
        _cand("remove_layer", 0.2, 80, layer=0),
        _cand("remove_layer", 0.4, 90, layer=1),
    ]
    chosen = select_candidates(pool, mode="per_type", n_random=0)
    ops = {(c.operation, c.amount, c.layer) for c in chosen}
    assert ops == {("identity", None, None), ("add_neurons", 2, 0), ("remove_layer", None, 1)}


def test_select_top_n_and_seeded_random_extra():
    pool = [_cand("identity", 1.0, 100, layer=None)] + [
        _cand("add_neurons", s, 100 + k, amount=k + 1) for k, s in enumerate(np.linspace(0, 1, 8))
    ]
    top = select_candidates(pool, mode="top_n", top_n=3, n_random=0)
    assert [c.amount for c in top[1:]] == [8, 7, 6]
    a = select_candidates(pool, mode="top_n", top_n=3, n_random=1, rng=5)
    b = select_candidates(pool, mode="top_n", top_n=3, n_random=1, rng=5)
    assert a == b and a[-1].random_pick and a[-1].amount not in (8, 7, 6)


def test_select_excludes_tried_candidates():
    pool = [_cand("identity", 1.0, 100, layer=None), _cand("add_layer", 0.5, 120)]
    first = select_candidates(pool, n_random=0)
    second = select_candidates(pool, n_random=0, exclude={c.key for c in first})
    assert len(first) == 2 and second == []


def test_select_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        select_candidates([], mode="best")


def test_growth_cost_charges_added_parameters_per_sample_only():
    base = candidate_score(0.9, 0.01, 2.0, size_weight=0.0)
    charged = candidate_score(0.9, 0.01, 2.0, 0.0, growth_per_sample=5.0, growth_cost=0.01)
    assert charged == pytest.approx(0.9 + np.exp(0.01 - 0.05))
    assert charged < base
    # shrinking is neither charged nor rewarded
    shrink = candidate_score(0.9, 0.01, 0.5, 0.0, growth_per_sample=-3.0, growth_cost=0.01)
    assert shrink == pytest.approx(candidate_score(0.9, 0.01, 0.5, 0.0))
