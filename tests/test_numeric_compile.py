"""The compiled quantities against closed forms and naive P x P formulas (float64)."""

from __future__ import annotations

import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import infonotation as inf
from infonotation.numeric import compile, fisher_information, weight_space_form
from infonotation.numeric.linalg import lemma_logdet

f64 = torch.float64


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=f64)


def ld(A: torch.Tensor) -> torch.Tensor:
    return torch.linalg.slogdet(A)[1]


# -- Bayesian linear regression: exact ------------------------------------------------------------
def blr_setup(seed: int = 0, d: int = 3, D: int = 1, n: int = 7, sigma: float = 0.4, lam: float = 2.0):
    torch.manual_seed(seed)
    net = nn.Linear(d, D).double()
    Xtr, ytr = randn(n, d), randn(n, D).squeeze(-1)
    Xa = lambda X: torch.cat([X, torch.ones(len(X), 1, dtype=f64)], 1)  # noqa: E731
    Sigma = torch.linalg.inv(Xa(Xtr).T @ Xa(Xtr) / sigma**2 + lam * torch.eye(d + 1, dtype=f64))  # per output
    return net, Xtr, ytr, Xa, Sigma, sigma, lam


@pytest.mark.parametrize("seed", [0, 1])
def test_blr_eig_single_and_batch_closed_form(seed: int) -> None:
    net, Xtr, ytr, Xa, Sigma, sigma, lam = blr_setup(seed)
    acq = compile("I[W;Y|x]", net, likelihood="gaussian", sigma=sigma, prior_precision=lam, train=(Xtr, ytr))
    Xp = randn(11, 3)
    truth = 0.5 * torch.log1p((Xa(Xp) @ Sigma * Xa(Xp)).sum(1) / sigma**2)
    torch.testing.assert_close(acq(Xp), truth, rtol=0, atol=1e-10)
    batch = compile("I[W;Y_B|x_B]", net, likelihood="gaussian", sigma=sigma, prior_precision=lam, train=(Xtr, ytr))
    XB = Xa(Xp[:5])
    truth_B = 0.5 * ld(torch.eye(5, dtype=f64) + XB @ Sigma @ XB.T / sigma**2)
    for side in ("auto", "data", "weight"):
        assert abs(float(batch.joint(Xp[:5], side=side)) - float(truth_B)) < 1e-10
    # a batch larger than P (7 > 4) switches the automatic side to the weight side
    XB = Xa(Xp[:7])
    truth_7 = 0.5 * ld(torch.eye(7, dtype=f64) + XB @ Sigma @ XB.T / sigma**2)
    assert abs(float(batch.joint(Xp[:7])) - float(truth_7)) < 1e-10


def test_blr_multi_output_and_prior_only() -> None:
    net, Xtr, ytr, Xa, Sigma, sigma, lam = blr_setup(2, D=2)
    acq = compile("I[W;Y|x]", net, likelihood="gaussian", sigma=sigma, prior_precision=lam, train=(Xtr, ytr))
    Xp = randn(6, 3)
    # independent outputs share Σ: EIG doubles
    truth = 2 * 0.5 * torch.log1p((Xa(Xp) @ Sigma * Xa(Xp)).sum(1) / sigma**2)
    torch.testing.assert_close(acq(Xp), truth, rtol=0, atol=1e-10)
    prior_only = compile("I[W;Y|x]", net, likelihood="gaussian", sigma=sigma, prior_precision=lam)
    truth0 = 2 * 0.5 * torch.log1p(Xa(Xp).square().sum(1) / lam / sigma**2)
    torch.testing.assert_close(prior_only(Xp), truth0, rtol=0, atol=1e-10)


def test_blr_jepig_equals_gaussian_predictive_mutual_information() -> None:
    """T17: weight-space JEPIG gain == I[Y_eval; Y_a] of the Gaussian predictive (exact for BLR)."""
    net, Xtr, ytr, Xa, Sigma, sigma, lam = blr_setup(3)
    Xe, Xp = randn(4, 3), randn(9, 3)
    acq = compile("I[Y_eval;Y|x,x_eval]", net, likelihood="gaussian", sigma=sigma, prior_precision=lam,
                  train=(Xtr, ytr), eval=Xe)
    truths = []
    for i in range(9):
        A = Xa(torch.cat([Xe, Xp[i : i + 1]]))
        K = A @ Sigma @ A.T + sigma**2 * torch.eye(5, dtype=f64)
        truths.append(0.5 * (ld(K[:4, :4]) + ld(K[4:, 4:]) - ld(K)))
    torch.testing.assert_close(acq(Xp), torch.stack(truths), rtol=0, atol=1e-10)
    # EPIG with a single eval point: mean Fisher == summed Fisher, so it is the exact MI too
    epig = compile("I[Y_eval;Y|x,X_eval]", net, likelihood="gaussian", sigma=sigma, prior_precision=lam,
                   train=(Xtr, ytr), eval=Xe[:1])
    A = Xa(torch.cat([Xe[:1], Xp[:1]]))
    K = A @ Sigma @ A.T + sigma**2 * torch.eye(2, dtype=f64)
    assert abs(float(epig(Xp[:1])[0]) - float(0.5 * (ld(K[:1, :1]) + ld(K[1:, 1:]) - ld(K)))) < 1e-10


# -- an MLP's last layer and whole network against naive P x P formulas -----------------------------
def mlp(seed: int = 0, C: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, C)).double()


def naive(net, X, lik="categorical", last_layer=True):
    return fisher_information(net, X, lik, last_layer=last_layer)


@pytest.mark.parametrize("last_layer,lik,C", [(True, "categorical", 3), (False, "categorical", 3),
                                                (True, "bernoulli", 1)])
def test_eig_and_trace_against_naive(last_layer: bool, lik: str, C: int) -> None:
    net = mlp(1, C)
    Xtr = randn(12, 4)
    ytr = torch.randint(0, max(C, 2), (12,))
    Xp = randn(8, 4)
    H = naive(net, Xtr, lik, last_layer).sum(0) + 0.5 * torch.eye(naive(net, Xp[:1], lik, last_layer).shape[-1],
                                                                  dtype=f64)
    Fp = naive(net, Xp, lik, last_layer)
    I = torch.eye(H.shape[0], dtype=f64)
    kw = dict(likelihood=lik, last_layer=last_layer, prior_precision=0.5, train=(Xtr, ytr))
    eig = compile("I[W;Y|x]", net, **kw)(Xp)
    truth = torch.stack([0.5 * ld(F @ torch.linalg.inv(H) + I) for F in Fp])
    torch.testing.assert_close(eig, truth, rtol=1e-9, atol=1e-10)
    tr = compile("I[W;Y|x]", net, using=["gaussian", "ggn", "trace"], **kw)(Xp)
    torch.testing.assert_close(tr, torch.stack([0.5 * torch.trace(F @ torch.linalg.inv(H)) for F in Fp]))
    assert bool((tr >= eig - 1e-12).all())  # T7: the trace bound
    # xig_proxy (R17/T25): 1/2 logdet(F + H) - C_k
    prox = compile("1/2 logdet(H''[Y|x,w*] + H''[w* | D]) - C_k", net, **kw)(Xp)
    P = H.shape[0]
    ck = P / 2 * (torch.log(torch.tensor(2 * torch.pi, dtype=f64)) + 1)
    torch.testing.assert_close(prox, torch.stack([0.5 * ld(F + H) - ck for F in Fp]))


def test_epig_jepig_gain_and_proxies_against_naive() -> None:
    net = mlp(2)
    Xtr, ytr, Xe, Xp = randn(10, 4), torch.randint(0, 3, (10,)), randn(15, 4), randn(6, 4)
    H = naive(net, Xtr).sum(0) + torch.eye(18, dtype=f64)
    Fe_sum = naive(net, Xe).sum(0)
    Fp = naive(net, Xp)
    I = torch.eye(18, dtype=f64)
    inv = torch.linalg.inv
    kw = dict(train=(Xtr, ytr), eval=Xe)
    for q, Fe in (("I[Y_eval;Y|x,X_eval]", Fe_sum / 15), ("I[Y_eval;Y|x,x_eval]", Fe_sum)):
        gain = compile(q, net, **kw)(Xp)
        t_gain = torch.stack([0.5 * ld(Fe @ inv(H) + I) - 0.5 * ld(Fe @ inv(H + F) + I) for F in Fp])
        torch.testing.assert_close(gain, t_gain, rtol=1e-9, atol=1e-11)
        proxy = compile(q, net, using=["gaussian", "ggn", "eig_logdet", "proxy"], **kw)
        assert not proxy.higher_is_better
        torch.testing.assert_close(proxy(Xp), torch.stack([ld(Fe @ inv(H + F) + I) for F in Fp]))
        ptr = compile(q, net, using=["gaussian", "ggn", "trace", "proxy"], **kw)(Xp)
        torch.testing.assert_close(ptr, torch.stack([torch.trace(Fe @ inv(H + F)) for F in Fp]))
        # the trace bound only bounds a log-determinant that enters with a positive sign (R21): the gain's
        # upper bound keeps the candidate's term as a log-determinant
        gtr = compile(q, net, using=["gaussian", "ggn", "trace"], **kw)(Xp)
        t_gtr = torch.stack([0.5 * torch.trace(Fe @ inv(H)) - 0.5 * ld(Fe @ inv(H + F) + I) for F in Fp])
        torch.testing.assert_close(gtr, t_gtr)
        assert bool((gtr >= gain - 1e-12).all())


def test_observed_information_quantity_uses_exact_hessian_without_ggn() -> None:
    net = mlp(3)
    Xp, yp = randn(5, 4), torch.randint(0, 3, (5,))
    acq = compile("I[W;y|x]", net, last_layer=False, prior_precision=50.0, using=["gaussian", "eig_logdet"])
    O = inf.numeric.observed_information(net, Xp, yp, last_layer=False)
    I = torch.eye(O.shape[-1], dtype=f64)
    truth = torch.stack([0.5 * ld(o / 50.0 + I) for o in O])
    torch.testing.assert_close(acq(Xp, yp), truth, rtol=1e-9, atol=1e-11)
    # the default chain keeps the label-aware quantity label-aware: no 'ggn', the exact observed information
    default = compile("I[W;y|x]", net, last_layer=False, prior_precision=50.0)
    torch.testing.assert_close(default(Xp, yp), truth, rtol=1e-9, atol=1e-11)
    other = (yp + 1) % 3
    assert not torch.allclose(default(Xp, other), truth)  # the label changes the score
    with pytest.raises(inf.CompileError, match="y_pool"):
        default(Xp)  # and the quantity refuses to score without it
    # with 'ggn' named explicitly the label cannot matter (the Fisher is used), and a warning says why
    with pytest.warns(inf.CompileWarning, match="'ggn'.*does not depend on y"):
        acq_g = compile("I[W;y|x]", net, last_layer=False, prior_precision=50.0,
                        using=["gaussian", "ggn", "eig_logdet"])
    F = fisher_information(net, Xp, last_layer=False)
    torch.testing.assert_close(acq_g(Xp, yp), torch.stack([0.5 * ld(f / 50.0 + I) for f in F]))
    with pytest.raises(inf.CompileError, match="y_pool"):
        acq_g(Xp)
    # on the last layer (a GLM) the observed information is the Fisher for every label: also said
    with pytest.warns(inf.CompileWarning, match="GLM"):
        compile("I[W;y|x]", net, prior_precision=50.0)


# -- selection ----------------------------------------------------------------------------------
def test_greedy_matches_brute_force_joint_logdet() -> None:
    net = mlp(4)
    Xtr, ytr, Xp = randn(6, 4), torch.randint(0, 3, (6,)), randn(25, 4)
    H = naive(net, Xtr).sum(0) + 0.3 * torch.eye(18, dtype=f64)
    Fp = naive(net, Xp)
    acq = compile("I[W;Y_B|x_B]", net, prior_precision=0.3, train=(Xtr, ytr))
    idx, gains = acq.select(Xp, 5, "greedy")
    prefix = torch.cumsum(gains, 0)  # each point's gain when chosen; their sum is the joint score
    chosen: list[int] = []
    for t in range(5):
        best = max((j for j in range(25) if j not in chosen),
                   key=lambda j: float(ld(H + Fp[chosen + [j]].sum(0))))
        chosen.append(best)
        joint = 0.5 * (ld(H + Fp[chosen].sum(0)) - ld(H))
        assert abs(float(prefix[t]) - float(joint)) < 1e-9
        assert abs(float(acq.joint(Xp[chosen])) - float(joint)) < 1e-9
    assert idx.tolist() == chosen
    assert int(acq.select(Xp, 1, "topk").indices[0]) == chosen[0]


def test_greedy_epig_and_bait_trace_match_brute_force() -> None:
    net = mlp(5)
    Xtr, ytr, Xe, Xp = randn(6, 4), torch.randint(0, 3, (6,)), randn(9, 4), randn(20, 4)
    H = naive(net, Xtr).sum(0) + torch.eye(18, dtype=f64)
    Fe, Fp = naive(net, Xe).sum(0), naive(net, Xp)
    I = torch.eye(18, dtype=f64)
    inv = torch.linalg.inv
    cases = [
        ("I[Y_eval;Y_B|x_B,x_eval]", None, lambda F: 0.5 * ld(Fe @ inv(H) + I) - 0.5 * ld(Fe @ inv(H + F) + I), 1),
        ("I[Y_eval;Y_B|x_B,x_eval]", ["gaussian", "ggn", "trace", "proxy"], lambda F: torch.trace(Fe @ inv(H + F)),
         -1),
    ]
    for q, using, value, sign in cases:
        acq = compile(q, net, train=(Xtr, ytr), eval=Xe, using=using)
        sel = acq.select(Xp, 4, "greedy")
        idx, prefix = sel.indices, sel.joint
        chosen: list[int] = []
        for t in range(4):
            best = max((j for j in range(20) if j not in chosen),
                       key=lambda j: sign * float(value(Fp[chosen + [j]].sum(0))))
            chosen.append(best)
            # the selection's joint score counts from the empty batch: f(B) - f({})
            assert abs(float(prefix[t]) - float(value(Fp[chosen].sum(0)) - value(0 * H))) < 1e-9
        assert idx.tolist() == chosen


def test_trace_greedy_equals_topk() -> None:
    """T8/R22: the trace score is additive, so greedy == top-k."""
    net = mlp(6)
    Xp = randn(30, 4)
    acq = compile("I[W;Y_B|x_B]", net, using=["gaussian", "ggn", "trace"], train=(randn(5, 4), torch.zeros(5).long()))
    assert sorted(acq.select(Xp, 6, "greedy").indices.tolist()) == sorted(acq.select(Xp, 6, "topk").indices.tolist())


# -- the determinant lemma ----------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(P=st.integers(1, 9), m=st.integers(1, 12), seed=st.integers(0, 10_000))
def test_determinant_lemma_both_sides_agree(P: int, m: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    U = torch.randn(P, m, generator=g, dtype=f64)
    A = torch.randn(P, P, generator=g, dtype=f64)
    Hm = A @ A.T + 0.5 * torch.eye(P, dtype=f64)
    R = torch.linalg.cholesky(Hm)
    data, weight = lemma_logdet(U, R, side="data"), lemma_logdet(U, R, side="weight")
    truth = ld(torch.eye(P, dtype=f64) + U @ U.T @ torch.linalg.inv(Hm))
    assert abs(float(data - weight)) < 1e-8 * max(1.0, abs(float(truth)))
    assert abs(float(data - truth)) < 1e-8 * max(1.0, abs(float(truth)))


def test_joint_sides_agree_on_mlp() -> None:
    net = mlp(7)
    acq = compile("I[W;Y_B|x_B]", net, train=(randn(8, 4), torch.zeros(8).long()))
    for n in (2, 5, 9):  # n K = 6, 15, 27 against P = 18
        X = randn(n, 4)
        assert abs(float(acq.joint(X, side="data") - acq.joint(X, side="weight"))) < 1e-8


# -- plans, caching, chunking --------------------------------------------------------------------
def test_weight_space_forms_are_the_papers_formulas() -> None:
    """The derivation reaches the paper's weight-space forms (R19-R25), as the checker confirms under the model."""
    p, M = inf.parse, inf.Model()

    def form(q, using=None):
        return weight_space_form(p(q), using).expr

    def same(a, b):
        assert inf.equivalent(a, p(b), M), (str(a), b)

    same(form("I[W;Y|x]"), "1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id)")
    same(form("I[W;Y|x]", ["gaussian", "trace"]), "1/2 tr(H''[Y|x,w*] @ H''[w*]^-1)")
    # the default chain includes ggn, which replaces the observed information by the Fisher information
    same(form("I[W;y|x]"), "1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id)")
    same(form("I[W;y|x]", ["gaussian", "eig_logdet"]), "1/2 logdet(H''[y|x,w*] @ H''[w*]^-1 + Id)")
    same(form("I[W;Y_B|x_B]"), "1/2 logdet(H''[Y_B|x_B,w*] @ H''[w*]^-1 + Id)")
    same(form("I[W;Y|x,D]"), "1/2 logdet(H''[Y|x,w*] + H''[D|w*] + H''[w*]) - 1/2 logdet(H''[D|w*] + H''[w*])")
    same(form("I[Y_eval;Y|x,X_eval]"), "1/2 logdet(H''[Y_eval|X_eval,w*] @ H''[w*]^-1 + Id) - "
                                        "1/2 logdet(H''[Y_eval|X_eval,w*] @ (H''[w*] + H''[Y|x,w*])^-1 + Id)")
    # the paper's raw proxies (lower is better): the candidate's term, its coefficient 1
    proxy = weight_space_form(p("I[Y_eval;Y|x,x_eval]"), ["gaussian", "ggn", "eig_logdet", "proxy"])
    assert proxy.proxy
    same(proxy.expr, "logdet(H''[Y_eval|x_eval,w*] @ (H''[w*] + H''[Y|x,w*])^-1 + Id)")
    same(form("I[Y_eval;Y|x,X_eval]", ["gaussian", "ggn", "trace", "proxy"]),
         "tr(H''[Y_eval|X_eval,w*] @ (H''[w*] + H''[Y|x,w*])^-1)")
    m = p("1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id)")
    assert form(str(m)) == m
    assert weight_space_form(p("I[W;Y|x] ~= 1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id)")).expr == m


def test_second_compile_is_cached_and_training_invalidates() -> None:
    net = mlp(8)
    Xtr, ytr = randn(50, 4), torch.randint(0, 3, (50,))
    a = compile("I[W;Y|x]", net, train=(Xtr, ytr))
    t0 = time.perf_counter()
    b = compile("I[W;Y|x]", net, train=(Xtr, ytr))
    assert time.perf_counter() - t0 < 0.01
    assert a is b
    with torch.no_grad():
        net[2].weight.add_(randn(3, 5))
    c = compile("I[W;Y|x]", net, train=(Xtr, ytr))
    assert c is not a
    X = randn(4, 4)
    assert not torch.allclose(c(X), b_scores := compile("I[W;Y|x]", mlp(8), train=(Xtr, ytr))(X))
    assert b_scores.shape == (4,)
    with pytest.raises(inf.CompileError, match="changed since"):
        a(X)  # the old compiled object refuses to mix old and new parameters
    assert "data side 3x3 instead of 18x18" in str(c) and "FLOP" in str(c)


def test_chunking_does_not_change_scores() -> None:
    net = mlp(9)
    Xtr, ytr, Xp = randn(20, 4), torch.randint(0, 3, (20,)), randn(53, 4)
    a = compile("I[W;Y|x]", net, train=(Xtr, ytr))(Xp)
    b = compile("I[W;Y|x]", net, train=(Xtr, ytr), chunk_size=7, progress=False)(Xp)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_float32_is_allowed_and_close() -> None:
    net = mlp(10)
    Xtr, ytr, Xp = randn(20, 4), torch.randint(0, 3, (20,)), randn(10, 4)
    a = compile("I[W;Y|x]", net, train=(Xtr, ytr))(Xp)
    b = compile("I[W;Y|x]", net, train=(Xtr, ytr), dtype=torch.float32)(Xp)
    assert b.dtype == torch.float32
    torch.testing.assert_close(b.double(), a, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["vector", "matrix"])
def test_diagonal_and_full_priors_with_training_data(kind: str) -> None:
    """H''[w*|D] = sum of training Fishers + the prior, for a per-parameter (public order) and a full prior."""
    net = mlp(2)
    Xtr, ytr, Xp = randn(9, 4), torch.randint(0, 3, (9,)), randn(6, 4)
    P = 18
    g = torch.Generator().manual_seed(0)
    if kind == "vector":
        prior = 0.5 + torch.rand(P, generator=g, dtype=f64)
        Pm = torch.diag(prior)
    else:
        A = torch.randn(P, P, generator=g, dtype=f64)
        Pm = A @ A.T / P + 0.3 * torch.eye(P, dtype=f64)
        prior = Pm
    H = naive(net, Xtr).sum(0) + Pm
    Fp = naive(net, Xp)
    truth = torch.stack([0.5 * ld(torch.eye(P, dtype=f64) + F @ torch.linalg.inv(H)) for F in Fp])
    acq = compile("I[W;Y|x]", net, train=(Xtr, ytr), prior_precision=prior)
    torch.testing.assert_close(acq(Xp), truth, rtol=1e-9, atol=1e-12)
