"""Batch selection of the literature's methods against dense brute-force computations.

* greedy log-det (BADGE's log-det variant, PRISM/SIMILAR LogDet) vs. recomputing every ``logdet(S_A + eps Id)``;
* LogDetMI vs. the Schur-complement identity T21 and a brute-force greedy;
* BAIT's objective ``tr((H + F_B)^-1 F_eval)`` recomputed densely, its forward step vs. a brute-force argmin and
  the whole forward-backward selection vs. a dense re-implementation (random factors and a real network);
* k-means++ seeding: first centre, D^2 sampling frequencies, seeding, distinctness.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from infonotation.acquisition.batch import (
    bait_scores,
    bait_select,
    greedy_logdet,
    greedy_logdet_mi,
    kmeans_pp,
    logdet_mi_scores,
    logdet_scores,
)
from infonotation.acquisition.methods import methods
from infonotation.errors import CompileError
from infonotation.numeric.factors import DenseFactors

f64 = torch.float64


def ld(A: torch.Tensor) -> float:
    sign, val = torch.linalg.slogdet(A)
    assert sign > 0
    return float(val)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- greedy log-det ---------------------------------------------------------------------------------


def brute_greedy_logdet(S: torch.Tensor, k: int, eps: float) -> tuple[list[int], list[float]]:
    n = S.shape[0]
    A: list[int] = []
    vals = []
    for _ in range(k):
        best, best_v = -1, -float("inf")
        for j in range(n):
            if j in A:
                continue
            idx = A + [j]
            v = ld(S[idx][:, idx] + eps * torch.eye(len(idx), dtype=f64))
            if v > best_v:
                best, best_v = j, v
        A.append(best)
        vals.append(best_v)
    return A, vals


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 12), p=st.integers(1, 6), k=st.integers(1, 5),
       eps=st.sampled_from([1e-3, 0.1, 1.0]))
def test_greedy_logdet_matches_brute_force(seed: int, n: int, p: int, k: int, eps: float) -> None:
    k = min(k, n)
    G = torch.randn(n, p, generator=gen(seed), dtype=f64)
    S = G @ G.T
    idx_ref, vals_ref = brute_greedy_logdet(S, k, eps)
    for sel in (greedy_logdet(k, S=S, eps=eps), greedy_logdet(k, embeddings=G, eps=eps)):
        assert sel.indices.tolist() == idx_ref
        torch.testing.assert_close(sel.scores, torch.tensor(vals_ref, dtype=f64), rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(logdet_scores(embeddings=G, eps=eps), torch.log(S.diagonal() + eps))


def test_greedy_logdet_is_diverse_and_exhaustive_optimum_on_tiny_sets() -> None:
    # two tight clusters: the greedy pair takes one point of each, which is also the exhaustive optimum
    G = torch.tensor([[1.0, 0.0], [1.01, 0.0], [0.99, 0.01], [0.0, 1.0], [0.0, 0.98]], dtype=f64)
    S = G @ G.T
    sel = greedy_logdet(2, S=S, eps=1e-6)
    best = max(itertools.combinations(range(5), 2), key=lambda A: ld(S[list(A)][:, list(A)] + 1e-6 * torch.eye(2)))
    assert {int(i) < 3 for i in sel.indices} == {True, False}
    assert sorted(sel.indices.tolist()) == sorted(best)


def test_greedy_logdet_rank_deficient_without_ridge_raises() -> None:
    G = torch.randn(6, 2, generator=gen(1), dtype=f64)
    with pytest.raises(CompileError, match="eps > 0"):
        greedy_logdet(3, embeddings=G, eps=0.0)
    with pytest.raises(CompileError, match="k = 7"):
        greedy_logdet(7, embeddings=G)
    with pytest.raises(CompileError, match="exactly one"):
        greedy_logdet(2, S=G @ G.T, embeddings=G)
    with pytest.raises(CompileError, match="symmetric"):
        greedy_logdet(2, S=torch.randn(4, 4, dtype=f64))
    with pytest.raises(CompileError, match="eps"):
        greedy_logdet(2, embeddings=G, eps=-1.0)


# -- LogDetMI --------------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 9), m=st.integers(1, 4), k=st.integers(1, 4),
       eps=st.sampled_from([1e-2, 0.5]))
def test_logdet_mi_schur_identity_t21_and_brute_force_greedy(seed: int, n: int, m: int, k: int, eps: float) -> None:
    k = min(k, n)
    g = gen(seed)
    Z = torch.randn(n + m, n + m + 2, generator=g, dtype=f64)
    S_all = Z @ Z.T / (n + m)  # a PD kernel over pool (first n) and query (last m)
    S, S_cross, S_q = S_all[:n, :n], S_all[:n, n:], S_all[n:, n:]
    Sp = S_all + eps * torch.eye(n + m, dtype=f64)
    Q = list(range(n, n + m))

    def mi_union(A: list[int]) -> float:  # logdet S'_A + logdet S'_Q - logdet S'_{A u Q}
        AQ = A + Q
        return ld(Sp[A][:, A]) + ld(Sp[Q][:, Q]) - ld(Sp[AQ][:, AQ])

    def mi_schur(A: list[int]) -> float:  # logdet S'_A - logdet(S'_A - S_AQ S'_Q^-1 S_QA)
        SA, SAQ = Sp[A][:, A], Sp[A][:, Q]
        return ld(SA) - ld(SA - SAQ @ torch.linalg.solve(Sp[Q][:, Q], SAQ.T))

    sel = greedy_logdet_mi(k, S=S, S_cross=S_cross, S_query=S_q, eps=eps)
    chosen = sel.indices.tolist()
    assert len(set(chosen)) == k
    for t in range(1, k + 1):
        A = chosen[:t]
        assert abs(float(sel.scores[t - 1]) - mi_union(A)) < 1e-8
        assert abs(mi_schur(A) - mi_union(A)) < 1e-8  # T21 itself
    # brute-force greedy on the dense objective
    A: list[int] = []
    for _ in range(k):
        cand = [j for j in range(n) if j not in A]
        vals = [mi_union(A + [j]) for j in cand]
        A.append(cand[max(range(len(cand)), key=lambda i: vals[i])])
    assert chosen == A
    single = logdet_mi_scores(S=S, S_cross=S_cross, S_query=S_q, eps=eps)
    torch.testing.assert_close(single, torch.tensor([mi_union([j]) for j in range(n)], dtype=f64), rtol=0, atol=1e-8)


def test_logdet_mi_from_embeddings_equals_gram_version_and_rejects_bad_input() -> None:
    g = gen(3)
    G, Gq = torch.randn(10, 4, generator=g, dtype=f64), torch.randn(3, 4, generator=g, dtype=f64)
    a = greedy_logdet_mi(4, embeddings=G, query=Gq, eps=0.1)
    b = greedy_logdet_mi(4, S=G @ G.T, S_cross=G @ Gq.T, S_query=Gq @ Gq.T, eps=0.1)
    assert a.indices.tolist() == b.indices.tolist()
    torch.testing.assert_close(a.scores, b.scores)
    with pytest.raises(CompileError, match="query"):
        greedy_logdet_mi(2, embeddings=G, eps=0.1)
    with pytest.raises(CompileError, match="columns"):
        greedy_logdet_mi(2, embeddings=G, query=torch.randn(2, 3, dtype=f64))
    with pytest.raises(CompileError, match="eta"):
        greedy_logdet_mi(2, embeddings=G, query=Gq, eta=2.0)


# -- BAIT -------------------------------------------------------------------------------------------


def dense_objective(H: torch.Tensor, F_list: list[torch.Tensor], B: list[int], F_eval: torch.Tensor) -> float:
    A = H + sum((F_list[i] for i in B), torch.zeros_like(H))
    return float(torch.trace(torch.linalg.solve(A, F_eval)))


def dense_bait(H: torch.Tensor, F_list: list[torch.Tensor], F_eval: torch.Tensor, k: int, over: int):
    """Ash et al. (2021) written out densely: forward argmin to over*k, backward argmin of the objective to k."""
    n = len(F_list)
    B: list[int] = []
    for _ in range(min(over * k, n)):
        cand = [j for j in range(n) if j not in B]
        vals = [dense_objective(H, F_list, B + [j], F_eval) for j in cand]
        B.append(cand[min(range(len(cand)), key=lambda i: vals[i])])
    forward = list(B)
    while len(B) > k:
        vals = [dense_objective(H, F_list, [b for b in B if b != r], F_eval) for r in B]
        B.remove(B[min(range(len(B)), key=lambda i: vals[i])])
    return forward, B, dense_objective(H, F_list, B, F_eval)


def random_bait_problem(seed: int, n: int = 12, p: int = 6, c: int = 2):
    g = gen(seed)
    U = torch.randn(n, p, c, generator=g, dtype=f64)
    Z = torch.randn(p, p, generator=g, dtype=f64)
    H = Z @ Z.T / p + 0.5 * torch.eye(p, dtype=f64)
    E = torch.randn(p, 3 * p, generator=g, dtype=f64)
    F_eval = E @ E.T
    return U, H, F_eval


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bait_forward_step_and_scores_against_dense_objective(seed: int) -> None:
    U, H, F_eval = random_bait_problem(seed)
    F_list = [u @ u.T for u in U]
    base = dense_objective(H, F_list, [], F_eval)
    truth = torch.tensor([base - dense_objective(H, F_list, [j], F_eval) for j in range(len(F_list))], dtype=f64)
    torch.testing.assert_close(bait_scores(DenseFactors(U), precision=H, eval_fisher=F_eval), truth, rtol=1e-9,
                               atol=1e-9)
    # forward-only greedy (oversample=1) == brute-force argmin at every step, with the objective tracked exactly
    fwd, _, _ = dense_bait(H, F_list, F_eval, 5, 1)
    sel = bait_select(DenseFactors(U), 5, precision=H, eval_fisher=F_eval, oversample=1)
    assert sel.indices.tolist() == fwd
    assert abs(float(sel.objective) - dense_objective(H, F_list, fwd, F_eval)) < 1e-9 * max(1.0, base)


@pytest.mark.parametrize("seed,k", [(3, 3), (4, 4), (5, 6)])
def test_bait_forward_backward_against_dense_reimplementation(seed: int, k: int) -> None:
    U, H, F_eval = random_bait_problem(seed)
    F_list = [u @ u.T for u in U]
    fwd, kept, obj = dense_bait(H, F_list, F_eval, k, 2)
    sel = bait_select(DenseFactors(U), k, precision=H, eval_fisher=F_eval)
    assert sel.forward.tolist() == fwd
    assert sorted(sel.indices.tolist()) == sorted(kept)
    assert len(set(sel.indices.tolist())) == k
    assert abs(float(sel.objective) - obj) < 1e-9 * max(1.0, obj)


def test_bait_errors() -> None:
    U, H, F_eval = random_bait_problem(0)
    with pytest.raises(CompileError, match="k = 13"):
        bait_select(DenseFactors(U), 13, precision=H, eval_fisher=F_eval)
    with pytest.raises(CompileError, match=r"\[6, 6\]"):
        bait_select(DenseFactors(U), 2, precision=H[:5, :5], eval_fisher=F_eval)
    with pytest.raises(CompileError, match="positive definite"):
        bait_select(DenseFactors(U), 2, precision=-H, eval_fisher=F_eval)
    with pytest.raises(CompileError, match="oversample"):
        bait_select(DenseFactors(U), 2, precision=H, eval_fisher=F_eval, oversample=0)
    with pytest.raises(CompileError, match="factors"):
        bait_select(U, 2, precision=H, eval_fisher=F_eval)  # type: ignore[arg-type]


def test_bait_method_on_a_network_against_dense_last_layer_fishers() -> None:
    """The registry's BAIT, Kronecker factors and all, against explicit (diag(p) - pp^T) ⊗ [z;1][z;1]^T matrices."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    g = gen(7)
    Xtr, ytr = torch.randn(8, 5, generator=g, dtype=f64), torch.randint(0, 3, (8,), generator=g)
    Xp, Xe = torch.randn(14, 5, generator=g, dtype=f64), torch.randn(6, 5, generator=g, dtype=f64)
    lam = 0.7

    def fishers(X: torch.Tensor) -> list[torch.Tensor]:
        with torch.no_grad():
            z = net[:-1](X)
            p = torch.softmax(net[-1](z), -1)
        za = torch.cat([z, torch.ones(len(X), 1, dtype=f64)], 1)
        return [torch.kron(torch.diag(pi) - torch.outer(pi, pi), torch.outer(zi, zi)) for pi, zi in zip(p, za)]

    P = 3 * 5
    H = sum(fishers(Xtr), torch.zeros(P, P, dtype=f64)) + lam * torch.eye(P, dtype=f64)
    F_pool = fishers(Xp)
    for ev, F_eval in ((Xe, sum(fishers(Xe), torch.zeros(P, P, dtype=f64))), ("pool", sum(F_pool))):
        acq = methods.bait.compile(net, train=(Xtr, ytr), eval=ev, prior_precision=lam)
        _, kept, _ = dense_bait(H, F_pool, F_eval, 3, 2)
        assert sorted(acq.select(Xp, 3).indices.tolist()) == sorted(kept)
        base = dense_objective(H, F_pool, [], F_eval)
        truth = torch.tensor([base - dense_objective(H, F_pool, [j], F_eval) for j in range(14)], dtype=f64)
        torch.testing.assert_close(acq.scores(Xp), truth, rtol=1e-8, atol=1e-10)


# -- k-means++ ----------------------------------------------------------------------------------------


def test_kmeanspp_first_centre_is_largest_norm_and_seeded() -> None:
    G = torch.randn(30, 4, generator=gen(0), dtype=f64)
    G[17] *= 10
    a = kmeans_pp(G, 6, seed=3)
    assert int(a[0]) == 17
    assert a.tolist() == kmeans_pp(G, 6, seed=3).tolist()
    assert len(set(a.tolist())) == 6
    others = {tuple(kmeans_pp(G, 6, seed=s).tolist()) for s in range(8)}
    assert len(others) > 1


def test_kmeanspp_second_centre_follows_d_squared() -> None:
    G = torch.tensor([[3.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [-1.0, 0.0]], dtype=f64)
    d2 = (G - G[0]).square().sum(1)
    expected = d2 / d2.sum()
    trials = 3000
    counts = torch.zeros(6, dtype=f64)
    for s in range(trials):
        counts[int(kmeans_pp(G, 2, seed=s)[1])] += 1
    assert counts[0] == 0  # the first centre has D = 0
    freq = counts / trials
    sd = (expected * (1 - expected) / trials).sqrt()
    assert bool(((freq - expected).abs() <= 4 * sd + 1e-12).all()), (freq, expected)


def test_kmeanspp_with_duplicates_still_returns_distinct_points() -> None:
    G = torch.tensor([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 2, dtype=f64)
    sel = kmeans_pp(G, 5, seed=0)
    assert sorted(sel.tolist()) == [0, 1, 2, 3, 4]
    with pytest.raises(CompileError, match="k = 6"):
        kmeans_pp(G, 6)
    with pytest.raises(CompileError, match="NaN"):
        kmeans_pp(torch.full((3, 2), float("nan")), 1)
