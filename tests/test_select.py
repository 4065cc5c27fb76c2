"""Selection: top-k, the generic (lazy) greedy maximiser and stochastic batch acquisition."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from infonotation.acquisition import greedy, stochastic_select, topk
from infonotation.errors import CompileError


def test_topk_order_ties_and_errors():
    s = torch.tensor([0.5, 2.0, 1.0, 2.0, -1.0])
    sel = topk(s, 3)
    assert sel.indices.tolist() == [1, 3, 2]  # ties: lower index first
    assert sel.scores.tolist() == [2.0, 2.0, 1.0]
    assert topk(s, 0).indices.shape == (0,)
    with pytest.raises(CompileError, match="k = 6"):
        topk(s, 6)
    with pytest.raises(CompileError, match="NaN"):
        topk(torch.tensor([1.0, float("nan")]), 1)
    with pytest.raises(CompileError, match="1-D"):
        topk(torch.zeros(2, 2), 1)


class Coverage:
    """Weighted set cover f(S) = total weight of the elements covered by the sets in S (monotone submodular)."""

    def __init__(self, sets: list[set[int]], weights: torch.Tensor, bounds: bool = False):
        self.sets, self.w, self.covered = sets, weights, set()
        self.calls = 0
        if bounds:  # the set's full weight ignores what is covered already: a valid upper bound
            self.upper_bounds = lambda c: torch.tensor([float(sum(self.w[e] for e in self.sets[i])) for i in c])

    @property
    def num_candidates(self) -> int:
        return len(self.sets)

    def gains(self, cands: torch.Tensor) -> torch.Tensor:
        self.calls += len(cands)
        return torch.tensor([float(sum(self.w[e] for e in self.sets[i] - self.covered)) for i in cands.tolist()])

    def add(self, index: int, gain: float) -> float:
        self.covered |= self.sets[index]
        return float(sum(self.w[e] for e in self.covered))


def brute_greedy_cover(sets, w, k):
    """Plain greedy by direct evaluation; also reports whether every step's best gain was unique."""
    covered, chosen, unique = set(), [], True
    for _ in range(k):
        gains = {i: float(sum(w[e] for e in sets[i] - covered)) for i in range(len(sets)) if i not in chosen}
        best = max(gains, key=lambda i: (gains[i], -i))
        unique &= sum(1 for v in gains.values() if abs(v - gains[best]) < 1e-12) == 1
        chosen.append(best)
        covered |= sets[best]
    return chosen, unique


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 100_000), n=st.integers(3, 40), k=st.integers(1, 3))
def test_lazy_greedy_equals_plain_greedy_on_set_cover(seed, n, k):
    g = torch.Generator().manual_seed(seed)
    universe = 30
    sets = [set(torch.randperm(universe, generator=g)[: int(torch.randint(1, 8, (1,), generator=g))].tolist())
            for _ in range(n)]
    w = torch.rand(universe, generator=g, dtype=torch.float64)
    expected, unique = brute_greedy_cover(sets, w, k)
    values = [float(sum(w[e] for e in set().union(*(sets[i] for i in expected[: j + 1])))) for j in range(k)]
    for lazy in (False, True):
        for bounds in (False, True):
            sel = greedy(Coverage(sets, w, bounds), k, lazy=lazy, block_size=2)
            assert sel.scores.tolist() == pytest.approx(values)
            if unique:  # with tied gains any of the tied points is a correct greedy step
                assert sel.indices.tolist() == expected


def test_lazy_greedy_scores_fewer_candidates():
    g = torch.Generator().manual_seed(0)
    sets = [set(torch.randperm(400, generator=g)[:10].tolist()) for _ in range(300)]
    w = torch.rand(400, generator=g, dtype=torch.float64)
    full, lazy = Coverage(sets, w), Coverage(sets, w)
    assert greedy(full, 10, lazy=False).indices.tolist() == greedy(lazy, 10, lazy=True).indices.tolist()
    assert lazy.calls < full.calls / 3


def test_greedy_on_a_modular_objective_is_topk():
    values = torch.rand(50, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    class Modular:
        num_candidates = 50

        def __init__(self):
            self.total = 0.0

        def gains(self, c):
            return values[c]

        def add(self, i, gain):
            self.total += gain
            return self.total

    sel = greedy(Modular(), 7)
    assert sel.indices.tolist() == topk(values, 7).indices.tolist()
    assert sel.scores.tolist() == pytest.approx(torch.cumsum(topk(values, 7).scores, 0).tolist())


def test_greedy_rejects_bad_objectives():
    class Bad:
        num_candidates = 3

        def gains(self, c):
            return torch.full((len(c),), float("nan"))

        def add(self, i, g):
            return 0.0

    with pytest.raises(CompileError, match="NaN"):
        greedy(Bad(), 1)
    with pytest.raises(CompileError, match="k = 4"):
        greedy(Bad(), 4)


# ---------------------------------------------------------------------------------------------------------
# stochastic batch acquisition


def first_pick_frequencies(scores, mode, beta, trials=3000):
    counts = torch.zeros(len(scores))
    for seed in range(trials):
        counts[stochastic_select(scores, 1, mode=mode, beta=beta, seed=seed).indices[0]] += 1
    return counts / trials


@pytest.mark.parametrize(
    "mode, beta, weights",
    [
        ("softmax", 2.0, lambda s: torch.exp(2.0 * s)),
        ("power", 1.5, lambda s: s**1.5),
        ("softrank", 1.0, lambda s: 1.0 / torch.tensor([3.0, 1.0, 4.0, 2.0])),
    ],
)
def test_first_pick_follows_the_sampling_distribution(mode, beta, weights):
    s = torch.tensor([0.3, 1.0, 0.05, 0.6], dtype=torch.float64)
    target = weights(s)
    target = (target / target.sum()).float()
    freq = first_pick_frequencies(s, mode, beta)
    # 3000 draws: standard error <= 0.009; allow ~4.5 standard errors
    assert torch.allclose(freq, target, atol=0.04), (freq, target)


def test_second_pick_is_without_replacement_plackett_luce():
    s = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    trials = 3000
    hits = 0
    for seed in range(trials):
        idx = stochastic_select(s, 2, mode="power", beta=1.0, seed=seed).indices.tolist()
        assert idx[0] != idx[1]
        hits += idx == [2, 1]
    # P(first = 2, second = 1) = 3/6 * 2/3 = 1/3
    assert abs(hits / trials - 1 / 3) < 0.04


def test_stochastic_determinism_limits_and_zero_scores():
    s = torch.rand(100, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    a = stochastic_select(s, 10, seed=5)
    assert torch.equal(a.indices, stochastic_select(s, 10, seed=5).indices)
    assert not torch.equal(a.indices, stochastic_select(s, 10, seed=6).indices)
    assert len(set(a.indices.tolist())) == 10
    assert torch.equal(a.scores, s[a.indices])
    assert set(stochastic_select(s, 10, mode="softmax", beta=1e6, seed=0).indices.tolist()) == set(
        topk(s, 10).indices.tolist()
    )
    z = torch.tensor([0.0, 0.5, 0.0, 0.2])
    for seed in range(20):
        picks = stochastic_select(z, 4, mode="power", seed=seed).indices.tolist()
        assert set(picks[:2]) == {1, 3} and set(picks[2:]) == {0, 2}  # zero scores come last


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 30), seed=st.integers(0, 1000), beta=st.floats(0.0, 5.0))
def test_stochastic_returns_k_distinct_points(n, seed, beta):
    s = torch.rand(n, generator=torch.Generator().manual_seed(seed))
    k = n // 2
    for mode in ("softmax", "power", "softrank"):
        sel = stochastic_select(s, k, mode=mode, beta=beta, seed=seed)
        assert len(set(sel.indices.tolist())) == k and sel.indices.dtype == torch.long


def test_stochastic_errors():
    s = torch.tensor([0.1, -0.2])
    with pytest.raises(CompileError, match=">= 0"):
        stochastic_select(s, 1, mode="power")
    with pytest.raises(CompileError, match="mode"):
        stochastic_select(s, 1, mode="boltzmann")
    with pytest.raises(CompileError, match="beta"):
        stochastic_select(s, 1, mode="softmax", beta=-1.0)
    with pytest.raises(CompileError, match="beta"):
        stochastic_select(s, 1, mode="softmax", beta=math.inf)
