"""Prediction-space estimators against independent computations (brute force, closed forms, identities)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from infonotation.acquisition import (
    bald,
    batchbald,
    epig,
    information_gain,
    jepig,
    joint_entropy,
    joint_mutual_information,
    predictive_information_gain,
)
from infonotation.errors import CompileError


def rand_lp(n: int, k: int, c: int, seed: int, scale: float = 2.0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mean = scale * torch.randn(n, 1, c, generator=g, dtype=torch.float64)
    logits = mean + scale * torch.rand(n, 1, 1, generator=g, dtype=torch.float64) * torch.randn(
        n, k, c, generator=g, dtype=torch.float64
    )
    return torch.log_softmax(logits, -1).to(dtype)


# ---------------------------------------------------------------------------------------------------------
# brute-force references (Python loops live in the tests only)


def np_entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def brute_joint_entropy(lp: torch.Tensor) -> float:
    """H[Y_1..Y_b] by enumerating every label configuration with itertools.product."""
    p = lp.exp().numpy()
    b, k, c = p.shape
    h = 0.0
    for ys in itertools.product(range(c), repeat=b):
        per_k = np.ones(k)
        for i, y in enumerate(ys):
            per_k = per_k * p[i, :, y]
        q = per_k.mean()
        if q > 0:
            h -= q * math.log(q)
    return h


def brute_cond_entropy(lp: torch.Tensor) -> float:
    p = lp.exp().numpy()
    return sum(np_entropy(p[i, k]) for i in range(p.shape[0]) for k in range(p.shape[1])) / p.shape[1]


def brute_joint_mi(lp: torch.Tensor) -> float:
    return brute_joint_entropy(lp) - brute_cond_entropy(lp)


def brute_pair_mi(pa: np.ndarray, pe: np.ndarray) -> float:
    """I[Y_a; Y_e] = sum_{y_a, y_e} p log p / (p p) with the ensemble joint; pa [K, Ca], pe [K, Ce]."""
    k = pa.shape[0]
    ma, me = pa.mean(0), pe.mean(0)
    total = 0.0
    for ya in range(pa.shape[1]):
        for ye in range(pe.shape[1]):
            j = sum(pa[i, ya] * pe[i, ye] for i in range(k)) / k
            if j > 0:
                total += j * math.log(j / (ma[ya] * me[ye]))
    return total


# ---------------------------------------------------------------------------------------------------------
# BALD


def test_bald_matches_entropy_formula_written_directly():
    lp = rand_lp(30, 7, 5, seed=1)
    p = lp.exp().numpy()
    expected = [np_entropy(p[n].mean(0)) - np.mean([np_entropy(p[n, k]) for k in range(7)]) for n in range(30)]
    np.testing.assert_allclose(bald(lp).numpy(), expected, rtol=1e-10, atol=1e-12)


def test_bald_closed_form_with_zero_probabilities():
    # two members, each certain of a different class: H[Y|x] = log 2, E_w H[Y|x,w] = 0 (0 log 0 = 0)
    lp = torch.log(torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], dtype=torch.float64))
    assert torch.isneginf(lp).any()
    out = bald(lp)
    assert torch.isfinite(out).all()
    assert out.item() == pytest.approx(math.log(2), abs=1e-12)


def test_bald_identical_members_is_zero():
    one = rand_lp(20, 1, 6, seed=2)
    assert torch.allclose(bald(one.expand(20, 9, 6)), torch.zeros(20, dtype=torch.float64), atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 6), k=st.integers(1, 6), c=st.integers(1, 6), seed=st.integers(0, 10_000),
    scale=st.floats(0.1, 8.0),
)
def test_bald_bounds(n, k, c, seed, scale):
    out = bald(rand_lp(n, k, c, seed, scale))
    assert (out >= 0).all()
    assert (out <= math.log(c) + 1e-12).all()
    assert (out <= math.log(k) + 1e-12).all()  # I[W;Y] <= H[W] = log K


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(2, 6), c=st.integers(2, 6))
def test_invariance_to_permuting_samples_and_classes(seed, k, c):
    lp = rand_lp(5, k, c, seed)
    ev = rand_lp(4, k, c, seed + 1)
    g = torch.Generator().manual_seed(seed)
    pk, pc, pc2 = torch.randperm(k, generator=g), torch.randperm(c, generator=g), torch.randperm(c, generator=g)
    torch.testing.assert_close(bald(lp[:, pk]), bald(lp))
    torch.testing.assert_close(bald(lp[:, :, pc]), bald(lp))
    # EPIG: the same sample permutation on pool and eval (they are the same w_k); classes independently
    torch.testing.assert_close(epig(lp[:, pk][:, :, pc], ev[:, pk][:, :, pc2]), epig(lp, ev))
    torch.testing.assert_close(
        batchbald(lp[:, pk][:, :, pc], 3).scores, batchbald(lp, 3).scores, rtol=1e-9, atol=1e-12
    )


def test_bald_pool_equivariance_and_empty_pool():
    lp = rand_lp(10, 4, 3, seed=3)
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(bald(lp[perm]), bald(lp)[perm])
    assert bald(lp[:0]).shape == (0,)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_is_preserved(dtype):
    lp, ev = rand_lp(8, 4, 3, 0, dtype=dtype), rand_lp(5, 4, 3, 1, dtype=dtype)
    labels = torch.zeros(8, dtype=torch.long)
    assert bald(lp).dtype == dtype
    assert epig(lp, ev).dtype == dtype
    assert jepig(lp, ev[:2]).dtype == dtype
    assert batchbald(lp, 3).scores.dtype == dtype
    assert batchbald(lp, 3).indices.dtype == torch.long
    assert information_gain(lp, labels).dtype == dtype
    assert predictive_information_gain(lp, labels, ev).dtype == dtype


def test_float32_agrees_with_float64():
    lp = rand_lp(50, 10, 10, seed=4)
    torch.testing.assert_close(bald(lp.float()).double(), bald(lp), atol=2e-6, rtol=0)


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.zeros(3, 4), "shape"),
        (torch.zeros(3, 4, 2, dtype=torch.long), "floating"),
        (torch.zeros(3, 4, 2), "normalised"),
        (torch.full((3, 4, 2), float("nan")), "NaN"),
        (torch.full((3, 4, 2), float("inf")), r"\+inf"),
        (torch.zeros(3, 0, 2), "at least one"),
        ([[[0.0]]], "torch.Tensor"),
    ],
)
def test_bad_log_probs_raise_compile_error(bad, match):
    with pytest.raises(CompileError, match=match):
        bald(bad)


# ---------------------------------------------------------------------------------------------------------
# BatchBALD


def brute_greedy(lp: torch.Tensor, k: int) -> list[int]:
    chosen: list[int] = []
    for _ in range(k):
        best, best_val = -1, -math.inf
        for n in range(lp.shape[0]):
            if n in chosen:
                continue
            v = brute_joint_mi(lp[chosen + [n]])
            if v > best_val:
                best, best_val = n, v
        chosen.append(best)
    return chosen


@pytest.mark.parametrize("lazy", [True, False])
def test_batchbald_exact_matches_brute_force_enumeration(lazy):
    lp = rand_lp(12, 5, 3, seed=5)
    res = batchbald(lp, 4, lazy=lazy)
    assert res.indices.tolist() == brute_greedy(lp, 4)
    for i in range(4):
        assert res.scores[i].item() == pytest.approx(brute_joint_mi(lp[res.indices[: i + 1]]), abs=1e-10)


def test_batchbald_c10_exact_up_to_b4_matches_brute_force():
    lp = rand_lp(40, 6, 10, seed=6)
    res = batchbald(lp, 4)
    for i in range(4):
        assert res.scores[i].item() == pytest.approx(brute_joint_mi(lp[res.indices[: i + 1]]), abs=1e-9)
    assert res.indices[0] == torch.argmax(bald(lp))
    assert res.scores[0].item() == pytest.approx(bald(lp).max().item(), abs=1e-12)


def test_batchbald_avoids_duplicates_that_topk_bald_takes():
    k = 8
    certain = torch.zeros(k, 4, dtype=torch.float64)
    certain[::2, 0] = 1.0
    certain[1::2, 1] = 1.0  # half the members certain of class 0, half of class 1: BALD = log 2
    lp = torch.cat([torch.log(certain).expand(5, k, 4), rand_lp(6, k, 4, seed=7, scale=0.5)])
    scores = bald(lp)
    assert torch.allclose(scores[:5], torch.full((5,), math.log(2), dtype=torch.float64))
    assert scores[5:].max() < math.log(2)
    assert set(torch.topk(scores, 2).indices.tolist()) <= {0, 1, 2, 3, 4}  # top-k takes two copies
    res = batchbald(lp, 2)
    # a copy adds nothing (its label is a function of the first one's given W's group): pick something new
    assert res.indices[0].item() < 5 and res.indices[1].item() >= 5
    assert res.scores[1].item() == pytest.approx(brute_joint_mi(lp[res.indices]), abs=1e-10)


def test_batchbald_sampled_is_deterministic_and_seed_dependent():
    lp = rand_lp(30, 6, 4, seed=8)
    a = batchbald(lp, 6, num_samples=60, seed=3)
    b = batchbald(lp, 6, num_samples=60, seed=3)
    c = batchbald(lp, 6, num_samples=60, seed=4)
    assert torch.equal(a.indices, b.indices) and torch.equal(a.scores, b.scores)
    assert not torch.equal(a.scores, c.scores)


def test_batchbald_lazy_equals_full_in_the_sampled_regime():
    lp = rand_lp(60, 8, 4, seed=9)
    lazy = batchbald(lp, 7, num_samples=200, seed=1, lazy=True)
    full = batchbald(lp, 7, num_samples=200, seed=1, lazy=False)
    assert lazy.indices.tolist() == full.indices.tolist()
    torch.testing.assert_close(lazy.scores, full.scores, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("num_samples", [10_000, 96])
def test_batchbald_lazy_with_coarse_groups_equals_full(num_samples):
    # few groups: the clustered bounds are loose but must stay valid, so the selection cannot change
    for seed in range(3):
        base = rand_lp(30, 8, 4, seed=30 + seed)  # 300 candidates in tight families: many near-ties
        noise = 0.05 * torch.randn(30, 10, 8, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        lp = torch.log_softmax(base.unsqueeze(1) + noise, -1).reshape(300, 8, 4)
        full = batchbald(lp, 6, num_samples=num_samples, seed=seed, lazy=False)
        for groups in (2, 5):
            lazy = batchbald(lp, 6, num_samples=num_samples, seed=seed, groups=groups)
            assert lazy.indices.tolist() == full.indices.tolist()
            torch.testing.assert_close(lazy.scores, full.scores, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("exact", [True, False])
def test_grouped_configurations_bound_the_conditional_entropy(exact):
    from infonotation.acquisition.scores import _Configurations, _mixture_conditional_entropy

    lp = rand_lp(40, 8, 4, seed=26)
    probs = lp.exp()
    configs = _Configurations(8, torch.float64, torch.device("cpu"), 4**4 if exact else 200, 0, 1 << 20)
    for i in range(4):
        configs.add(probs[i])
    assert configs.exact == exact
    h = configs.conditional_entropy(probs[4:])
    for groups in (1, 3, 17):
        w, om = configs.grouped(groups, seed=groups)
        assert om.sum().item() == pytest.approx(configs.omega.sum().item(), abs=1e-12)
        hb = _mixture_conditional_entropy(w, om, probs[4:], 1 << 20)
        assert (hb >= h - 1e-12).all()
    # the objective's bounds on the gains I[W; Y_n | Y_B] are valid too
    from infonotation.acquisition.scores import _BatchBALDObjective

    obj = _BatchBALDObjective(lp, 4**5 if exact else 200, 0, 1 << 20, 3)
    for i in range(5):
        obj.add(i, 0.0)
    cand = torch.arange(5, 40)
    assert (obj.upper_bounds(cand) >= obj.gains(cand)).all()
    assert obj.configs.exact == exact
    # one group is the unconditioned mixture: the bound is the plain entropy H[Y_n]
    w, om = configs.grouped(1, seed=0)
    h1 = _mixture_conditional_entropy(w, om, probs[4:], 1 << 20)
    if exact:
        torch.testing.assert_close(h1, -torch.special.xlogy(probs[4:].mean(1), probs[4:].mean(1)).sum(-1))


def test_sampled_joint_entropy_approaches_exact():
    lp = rand_lp(6, 8, 4, seed=10)  # 4^5 = 1024 prefix configurations
    exact = brute_joint_entropy(lp)
    assert joint_entropy(lp, num_samples=4096).item() == pytest.approx(exact, abs=1e-10)  # enumerated
    rmse = []
    for m in (64, 256, 1000):  # the last term is sampled in every case (4^5 > 1000)
        errs = [joint_entropy(lp, num_samples=m, seed=s).item() - exact for s in range(12)]
        rmse.append(math.sqrt(sum(e * e for e in errs) / len(errs)))
    assert rmse[0] > rmse[2]
    assert rmse[2] < 0.02
    mi = joint_mutual_information(lp, num_samples=4096).item()
    assert mi == pytest.approx(brute_joint_mi(lp), abs=1e-10)


def test_sampled_joint_entropy_is_unbiased_over_several_sampled_steps():
    lp = rand_lp(7, 8, 3, seed=25, scale=3.0)  # prefixes of 5 and 6 points (243, 729 configurations) sampled
    exact = brute_joint_entropy(lp)
    est = torch.tensor([joint_entropy(lp, num_samples=128, seed=s).item() for s in range(100)], dtype=torch.float64)
    se = est.std().item() / math.sqrt(len(est))
    assert abs(est.mean().item() - exact) < 4 * se  # (drawing y_new from the mixture, not w_k: ~30 se off)
    assert est.std().item() > 0  # really sampled
    est_big = torch.tensor([joint_entropy(lp, num_samples=1024, seed=s).item() for s in range(20)])
    assert est_big.std().item() < est.std().item() / 1.8  # 8x the samples: ~2.8x smaller spread


def test_zero_probabilities_in_exact_and_sampled_regimes():
    g = torch.Generator().manual_seed(27)
    p = torch.rand(6, 8, 4, generator=g, dtype=torch.float64) * (torch.rand(6, 8, 4, generator=g) > 0.5)
    p[..., 0] += 1e-3  # every member keeps at least one class
    lp = torch.log(p / p.sum(-1, keepdim=True))
    assert torch.isneginf(lp).any()
    exact = brute_joint_entropy(lp)
    assert joint_entropy(lp, num_samples=4**5).item() == pytest.approx(exact, abs=1e-10)
    est = torch.tensor([joint_entropy(lp, num_samples=64, seed=s).item() for s in range(40)], dtype=torch.float64)
    assert torch.isfinite(est).all()
    assert abs(est.mean().item() - exact) < 4 * est.std().item() / math.sqrt(40) + 1e-9
    res = batchbald(lp, 6, num_samples=32)
    assert torch.isfinite(res.scores).all()


def test_batchbald_edge_cases_and_errors():
    lp = rand_lp(5, 3, 2, seed=11)
    empty = batchbald(lp, 0)
    assert empty.indices.shape == (0,) and empty.scores.shape == (0,)
    full = batchbald(lp, 5)
    assert sorted(full.indices.tolist()) == [0, 1, 2, 3, 4]
    assert (full.scores[1:] >= full.scores[:-1] - 1e-12).all()  # adding a point never loses information
    with pytest.raises(CompileError, match="k = 6"):
        batchbald(lp, 6)
    with pytest.raises(CompileError, match="k must"):
        batchbald(lp, -1)
    with pytest.raises(CompileError, match="num_samples"):
        batchbald(lp, 2, num_samples=0)


# ---------------------------------------------------------------------------------------------------------
# EPIG / JEPIG


def test_epig_matches_direct_double_sum():
    lp, ev = rand_lp(6, 5, 3, seed=12), rand_lp(4, 5, 4, seed=13)
    pa, pe = lp.exp().numpy(), ev.exp().numpy()
    expected = [np.mean([brute_pair_mi(pa[n], pe[m]) for m in range(4)]) for n in range(6)]
    np.testing.assert_allclose(epig(lp, ev).numpy(), expected, rtol=1e-10, atol=1e-13)


def test_epig_data_processing_bounds_and_r9_identity():
    lp, ev = rand_lp(20, 6, 4, seed=14), rand_lp(7, 6, 4, seed=15)
    e = epig(lp, ev)
    assert (e <= bald(lp) + 1e-12).all()
    assert (e <= bald(ev).mean() + 1e-12).all()
    # I[Y_e; Y_a] = I[W; Y_e] - I[W; Y_e | Y_a] = BALD(e) + BALD(a) - I[W; Y_a, Y_e]   (R9 / T15)
    a, m = 3, 5
    pair = torch.stack([lp[a], ev[m]])
    expected = bald(ev)[m] + bald(lp)[a] - joint_mutual_information(pair)
    assert epig(lp[a : a + 1], ev[m : m + 1]).item() == pytest.approx(expected.item(), abs=1e-12)


def test_epig_chunking_does_not_change_the_result():
    lp, ev = rand_lp(37, 5, 4, seed=16), rand_lp(23, 5, 3, seed=17)
    ref = epig(lp, ev)
    for chunk in (1, 13, 200, 10_000):
        torch.testing.assert_close(epig(lp, ev, max_chunk_elements=chunk), ref, rtol=1e-12, atol=1e-14)


def test_epig_errors():
    with pytest.raises(CompileError, match="same K"):
        epig(rand_lp(3, 4, 2, 0), rand_lp(3, 5, 2, 1))
    with pytest.raises(CompileError, match="empty"):
        epig(rand_lp(3, 4, 2, 0), rand_lp(0, 4, 2, 1))


def test_jepig_exact_matches_brute_force_and_sampled_approaches_it():
    lp, ev = rand_lp(5, 6, 3, seed=18), rand_lp(4, 6, 3, seed=19)
    p = lp.exp().numpy()
    expected = []
    for n in range(5):
        h_n = np_entropy(p[n].mean(0))
        expected.append(h_n + brute_joint_entropy(ev) - brute_joint_entropy(torch.cat([lp[n : n + 1], ev])))
    np.testing.assert_allclose(jepig(lp, ev).numpy(), expected, rtol=1e-9, atol=1e-12)
    sampled = torch.stack([jepig(lp, ev, num_samples=600, seed=s) for s in range(6)]).mean(0)
    np.testing.assert_allclose(sampled.numpy(), expected, atol=0.01)
    # one evaluation point: JEPIG = EPIG
    torch.testing.assert_close(jepig(lp, ev[:1]), epig(lp, ev[:1]))


# ---------------------------------------------------------------------------------------------------------
# label-aware information gains


def test_information_gain_closed_form_and_expectation_is_bald():
    # member 1 gives y = 0 probability 1, member 2 probability 0: seeing y = 0 identifies W, IG = log 2
    lp = torch.log(torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64))
    assert information_gain(lp, torch.tensor([0])).item() == pytest.approx(math.log(2), abs=1e-12)
    lp = rand_lp(15, 6, 4, seed=20)
    p_y = lp.exp().mean(1)  # p(y | x)
    avg = sum(p_y[:, c] * information_gain(lp, torch.full((15,), c)) for c in range(4))
    torch.testing.assert_close(avg, bald(lp), rtol=1e-10, atol=1e-12)


def test_predictive_information_gain_expectation_is_epig():
    lp, ev = rand_lp(9, 5, 3, seed=21), rand_lp(6, 5, 4, seed=22)
    p_y = lp.exp().mean(1)
    avg = sum(p_y[:, c] * predictive_information_gain(lp, torch.full((9,), c), ev) for c in range(3))
    torch.testing.assert_close(avg, epig(lp, ev), rtol=1e-10, atol=1e-12)
    out_chunked = predictive_information_gain(lp, torch.zeros(9, dtype=torch.long), ev, max_chunk_elements=5)
    torch.testing.assert_close(out_chunked, predictive_information_gain(lp, torch.zeros(9, dtype=torch.long), ev))


def test_label_errors():
    lp = rand_lp(4, 3, 2, seed=23)
    with pytest.raises(CompileError, match=r"\[0, 2\)"):
        information_gain(lp, torch.tensor([0, 1, 2, 0]))
    with pytest.raises(CompileError, match="shape"):
        information_gain(lp, torch.tensor([0, 1]))
    with pytest.raises(CompileError, match="integer"):
        information_gain(lp, torch.zeros(4))
    impossible = torch.log(torch.tensor([[[1.0, 0.0], [1.0, 0.0]]], dtype=torch.float64))
    with pytest.raises(CompileError, match="probability 0 under every"):
        information_gain(impossible, torch.tensor([1]))
