"""Named methods for a one-logit (Bernoulli) classifier and a Gaussian regression network, against brute force.

Bernoulli: an ensemble of one-logit networks gives K posterior samples whose probabilities are computed here
directly (``sigmoid``), and every quantity is enumerated over the 2^b label configurations. Gaussian: a linear
network is Bayesian linear regression, whose posterior is exactly Gaussian; its quantities come from the
posterior written out here in float64 (and the definition ``H[Y_e] - H[Y_e | Y]`` by refitting with the extra
point), and one Monte Carlo check with many samples.
"""

from __future__ import annotations

import itertools
import math
import warnings

import pytest
import torch
from torch import nn

import infonotation as inf
from infonotation.errors import CompileError

f64 = torch.float64


def h2(p: torch.Tensor) -> torch.Tensor:
    """Binary entropy in nats."""
    return -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p))


# -- Bernoulli ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def binary() -> dict:
    torch.manual_seed(0)
    members = [nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 1)).double().eval() for _ in range(5)]
    X = torch.randn(9, 4, dtype=f64)
    Xe = torch.randn(4, 4, dtype=f64)
    with torch.no_grad():
        P = torch.stack([torch.sigmoid(m(X)).squeeze(-1) for m in members], 1)  # [N, K] = p(y=1 | x, w_k)
        Pe = torch.stack([torch.sigmoid(m(Xe)).squeeze(-1) for m in members], 1)
    return {"members": members, "X": X, "Xe": Xe, "P": P, "Pe": Pe}


def brute_joint_mi(P: torch.Tensor, idx: list[int]) -> float:
    """I[W; Y_B] by enumerating the 2^|B| label configurations (W uniform over the K samples)."""
    K = P.shape[1]
    h_joint = 0.0
    for ys in itertools.product((0, 1), repeat=len(idx)):
        lik = torch.ones(K, dtype=f64)
        for i, yv in zip(idx, ys):
            lik = lik * (P[i] if yv else 1 - P[i])
        p = float(lik.mean())
        h_joint -= p * math.log(p) if p > 0 else 0.0
    return h_joint - float(h2(P[idx]).mean(1).sum())


def test_bernoulli_bald_is_the_binary_entropy_formula(binary: dict) -> None:
    P = binary["P"]
    truth = h2(P.mean(1)) - h2(P).mean(1)
    acq = inf.methods.bald.compile(binary["members"], likelihood="bernoulli")
    torch.testing.assert_close(acq.scores(binary["X"]), truth, rtol=1e-12, atol=1e-14)
    same = inf.compile("I[W;Y|x]", binary["members"], space="prediction", likelihood="bernoulli")
    torch.testing.assert_close(same(binary["X"]), truth, rtol=1e-12, atol=1e-14)


def test_bernoulli_batchbald_is_the_brute_force_greedy(binary: dict) -> None:
    P = binary["P"]
    chosen: list[int] = []
    for _ in range(3):
        best = max((j for j in range(9) if j not in chosen), key=lambda j: brute_joint_mi(P, chosen + [j]))
        chosen.append(best)
    acq = inf.methods.batchbald.compile(binary["members"], likelihood="bernoulli")
    sel = acq.select(binary["X"], 3)
    assert sel.indices.tolist() == chosen
    for i in range(3):
        assert float(sel.joint[i]) == pytest.approx(brute_joint_mi(P, chosen[: i + 1]), abs=1e-12)


def test_bernoulli_epig_is_the_double_sum_over_label_pairs(binary: dict) -> None:
    P, Pe = binary["P"], binary["Pe"]
    truth = torch.zeros(9, dtype=f64)
    for n in range(9):
        for m in range(4):
            for a, b in itertools.product((0, 1), repeat=2):
                pa = P[n] if a else 1 - P[n]
                pb = Pe[m] if b else 1 - Pe[m]
                joint = (pa * pb).mean()
                truth[n] += joint * torch.log(joint / (pa.mean() * pb.mean())) / 4
    acq = inf.methods.epig.compile(binary["members"], eval=binary["Xe"], likelihood="bernoulli")
    torch.testing.assert_close(acq.scores(binary["X"]), truth, rtol=1e-10, atol=1e-13)


def test_bernoulli_labels_and_embeddings(binary: dict) -> None:
    net, X = binary["members"][0], binary["X"]
    y = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1, 1])
    with torch.no_grad():
        p = torch.sigmoid(net(X)).squeeze(-1)
    el2n = inf.methods.el2n.compile(net, likelihood="bernoulli").scores(X, y_pool=y)
    torch.testing.assert_close(el2n, (p - y).abs())
    with pytest.raises(CompileError, match="0 or 1"):
        inf.methods.el2n.compile(net, likelihood="bernoulli").scores(X, y_pool=torch.full((9,), 2))
    # BADGE: the last-layer gradient of the binary cross-entropy at the more probable label, by autograd
    rows = []
    for i in range(9):
        logit = net(X[i : i + 1]).squeeze()
        yhat = (logit > 0).to(f64)
        loss = nn.functional.binary_cross_entropy_with_logits(logit, yhat)
        gW, gb = torch.autograd.grad(loss, [net[-1].weight, net[-1].bias])
        rows.append(torch.cat([gW.flatten(), gb]))
    truth = torch.stack(rows).norm(dim=1)
    torch.testing.assert_close(inf.methods.badge.compile(net, likelihood="bernoulli").scores(X), truth)


# -- Gaussian: Bayesian linear regression ---------------------------------------------------------------


SIGMA, LAM = 0.5, 2.0


@pytest.fixture(scope="module")
def blr() -> dict:
    torch.manual_seed(3)
    d = 3
    net = nn.Linear(d, 1).double()
    Xtr, ytr = torch.randn(12, d, dtype=f64), torch.randn(12, dtype=f64)
    X, Xe = torch.randn(10, d, dtype=f64), torch.randn(5, d, dtype=f64)

    def aug(A: torch.Tensor) -> torch.Tensor:
        return torch.cat([A, torch.ones(len(A), 1, dtype=f64)], 1)

    H = aug(Xtr).T @ aug(Xtr) / SIGMA**2 + LAM * torch.eye(d + 1, dtype=f64)
    return {"net": net, "train": (Xtr, ytr), "X": X, "Xe": Xe, "aug": aug, "H": H, "Sigma": torch.linalg.inv(H)}


def gauss(name: str, s: dict, **kw: object) -> inf.Acquisition:
    m = inf.methods[name]
    if m.needs_eval and "eval" not in kw:
        kw["eval"] = s["Xe"]
    return m.compile(s["net"], train=s["train"], likelihood="gaussian", sigma=SIGMA, prior_precision=LAM, **kw)


def test_gaussian_bald_is_half_log_one_plus_variance_ratio(blr: dict) -> None:
    A, S = blr["aug"](blr["X"]), blr["Sigma"]
    var_f = torch.einsum("ni,ij,nj->n", A, S, A)
    truth = 0.5 * torch.log1p(var_f / SIGMA**2)
    torch.testing.assert_close(gauss("bald", blr).scores(blr["X"]), truth, rtol=1e-10, atol=1e-12)
    # Monte Carlo with many samples: E[log p(y | w) - log p(y)] for w ~ posterior, y ~ p(y | w)
    g = torch.Generator().manual_seed(0)
    a, n = A[0], 400_000
    w = torch.randn(n, 4, generator=g, dtype=f64) @ torch.linalg.cholesky(S).T
    f = w @ a
    yv = f + SIGMA * torch.randn(n, generator=g, dtype=f64)
    v = float(a @ S @ a) + SIGMA**2
    log_lik = -0.5 * ((yv - f) / SIGMA) ** 2 - math.log(SIGMA)
    log_marg = -0.5 * yv**2 / v - 0.5 * math.log(v)
    mc = log_lik - log_marg
    assert abs(float(mc.mean()) - float(truth[0])) < 4 * float(mc.std()) / math.sqrt(n)


def test_gaussian_batchbald_is_the_joint_logdet_greedy(blr: dict) -> None:
    A, S = blr["aug"](blr["X"]), blr["Sigma"]

    def joint(idx: list[int]) -> float:
        B = A[idx]
        return float(0.5 * torch.logdet(torch.eye(len(idx), dtype=f64) + B @ S @ B.T / SIGMA**2))

    chosen: list[int] = []
    for _ in range(4):
        chosen.append(max((j for j in range(10) if j not in chosen), key=lambda j: joint(chosen + [j])))
    sel = gauss("batchbald", blr).select(blr["X"], 4)
    assert sel.indices.tolist() == chosen
    torch.testing.assert_close(sel.joint, torch.tensor([joint(chosen[: i + 1]) for i in range(4)], dtype=f64))


def posterior_cov(Xtr: torch.Tensor, aug, extra: torch.Tensor | None = None) -> torch.Tensor:
    A = aug(Xtr) if extra is None else torch.cat([aug(Xtr), aug(extra)])
    return torch.linalg.inv(A.T @ A / SIGMA**2 + LAM * torch.eye(A.shape[1], dtype=f64))


def test_gaussian_epig_is_the_entropy_drop_from_refitting(blr: dict) -> None:
    """EPIG by its definition: H[Y_e] - H[Y_e | Y] with the posterior refitted on train + the candidate."""
    aug, Xtr, X, Xe = blr["aug"], blr["train"][0], blr["X"], blr["Xe"]
    S0 = posterior_cov(Xtr, aug)
    truth = torch.zeros(10, dtype=f64)
    for n in range(10):
        S1 = posterior_cov(Xtr, aug, X[n : n + 1])  # the label's value does not enter a Gaussian's covariance
        for e in aug(Xe):
            truth[n] += 0.5 * torch.log((e @ S0 @ e + SIGMA**2) / (e @ S1 @ e + SIGMA**2)) / len(Xe)
    torch.testing.assert_close(gauss("epig", blr).scores(X), truth, rtol=1e-10, atol=1e-12)
    # the label-aware PIG equals it for a Gaussian, and needs (and checks) the targets
    pig = gauss("pig", blr)
    torch.testing.assert_close(pig.scores(X, y_pool=torch.randn(10, dtype=f64)), truth, rtol=1e-10, atol=1e-12)
    with pytest.raises(CompileError, match="y_pool"):
        pig.scores(X)
    same = inf.compile("I[Y_eval;Y|x,X_eval]", blr["net"], space="prediction", likelihood="gaussian", sigma=SIGMA,
                       train=blr["train"], eval=Xe, prior_precision=LAM)
    torch.testing.assert_close(same(X), truth, rtol=1e-10, atol=1e-12)


def test_gaussian_epig_with_two_outputs_adds_the_independent_outputs() -> None:
    """Two outputs of a linear layer have independent posteriors (block-diagonal GGN): the MI adds up."""
    torch.manual_seed(5)
    net = nn.Linear(3, 2).double()
    Xtr, ytr = torch.randn(9, 3, dtype=f64), torch.randn(9, 2, dtype=f64)
    X, Xe = torch.randn(6, 3, dtype=f64), torch.randn(4, 3, dtype=f64)

    def aug(A: torch.Tensor) -> torch.Tensor:
        return torch.cat([A, torch.ones(len(A), 1, dtype=f64)], 1)

    S0 = posterior_cov(Xtr, aug)
    truth = torch.zeros(6, dtype=f64)
    for n in range(6):
        S1 = posterior_cov(Xtr, aug, X[n : n + 1])
        for e in aug(Xe):
            truth[n] += 2 * 0.5 * torch.log((e @ S0 @ e + SIGMA**2) / (e @ S1 @ e + SIGMA**2)) / len(Xe)
    acq = inf.methods.epig.compile(net, train=(Xtr, ytr), eval=Xe, likelihood="gaussian", sigma=SIGMA,
                                   prior_precision=LAM)
    torch.testing.assert_close(acq.scores(X), truth, rtol=1e-9, atol=1e-12)


def test_gaussian_badge_and_bait_use_the_gaussian_gradient_and_fisher(blr: dict) -> None:
    A, X = blr["aug"](blr["X"]), blr["X"]
    net = blr["net"]
    # BADGE: the gradient of the Gaussian NLL at the pseudo-target mu - sigma is J^T / sigma, by autograd
    rows = []
    for i in range(10):
        mu = net(X[i : i + 1]).squeeze()
        loss = 0.5 * ((mu.detach() - SIGMA - mu) / SIGMA) ** 2
        gW, gb = torch.autograd.grad(loss, [net.weight, net.bias])
        rows.append(torch.cat([gW.flatten(), gb]))
    G = torch.stack(rows)
    torch.testing.assert_close(G, A / SIGMA)
    torch.testing.assert_close(gauss("badge", blr).scores(X), G.norm(dim=1))
    # BAIT: tr((H + F_B)^-1 F_eval) with F = a a^T / sigma^2, forward 2k then backward to k, written out densely
    F_list = [torch.outer(a, a) / SIGMA**2 for a in A]
    Ae = blr["aug"](blr["Xe"])
    F_eval = Ae.T @ Ae / SIGMA**2

    def objective(B: list[int]) -> float:
        M = blr["H"] + sum((F_list[i] for i in B), torch.zeros(4, 4, dtype=f64))
        return float(torch.trace(torch.linalg.solve(M, F_eval)))

    B: list[int] = []
    for _ in range(6):
        B.append(min((j for j in range(10) if j not in B), key=lambda j: objective(B + [j])))
    while len(B) > 3:
        B.remove(min(B, key=lambda r: objective([b for b in B if b != r])))
    assert sorted(gauss("bait", blr).select(X, 3).indices.tolist()) == sorted(B)


def test_methods_say_which_likelihoods_they_are_defined_for(blr: dict) -> None:
    with pytest.raises(CompileError, match=r"'el2n'.*not defined for likelihood='gaussian'.*defined for "
                                           r"likelihood='gaussian': random, bald, batchbald"):
        gauss("el2n", blr)
    drop = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1)).double().eval()
    with pytest.raises(CompileError, match="linearised Gaussian"):
        inf.methods.bald.compile(drop, likelihood="gaussian", sigma=SIGMA, posterior="dropout")
    with pytest.raises(CompileError, match="sigma"):
        inf.methods.bald.compile(blr["net"], likelihood="gaussian")
    with pytest.raises(CompileError, match="likelihood must be one of"):
        inf.methods.bald.compile(blr["net"], likelihood="poisson")
    for m in inf.methods.values():  # every method lists what it supports, and gaussian is refused only by EL2N
        assert ("gaussian" in m.likelihoods) == (m.name != "el2n")


def test_every_method_runs_for_every_likelihood_it_lists() -> None:
    torch.manual_seed(7)
    X, Xe = torch.randn(12, 4, dtype=f64), torch.randn(3, 4, dtype=f64)
    nets = {
        "categorical": (nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double(),
                        torch.randint(0, 3, (12,))),
        "bernoulli": (nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 1)).double(), torch.randint(0, 2, (12,))),
        "gaussian": (nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 1)).double(), torch.randn(12, dtype=f64)),
    }
    for lik, (net, y) in nets.items():
        net.eval()
        for m in inf.methods.values():
            if lik not in m.likelihoods:
                continue
            kw = {"sigma": 0.3} if lik == "gaussian" else {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", inf.CompileWarning)
                acq = m.compile(net, train=(X, y), eval=Xe if m.needs_eval else None, likelihood=lik, **kw)
            y_pool = y if m.labels else None
            s = acq.scores(X, y_pool=y_pool)
            assert s.shape == (12,) and bool(torch.isfinite(s).all()), (m.name, lik)
            sel = acq.select(X, 3, y_pool=y_pool)
            assert len(set(sel.indices.tolist())) == 3, (m.name, lik)
