"""Quantities no table ever knew compile through their derivations, and are right.

Bayesian linear regression (a linear network with a Gaussian likelihood) makes every step of the weight-space
derivation exact, so each compiled score must equal a closed form computed here from Gaussian algebra (the
predictive covariance of the outputs, never the compiler's matrices). On a small non-linear classifier the
scores must equal dense formulas from autograd Jacobians.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import infonotation as inf
from infonotation.errors import CompileError

f64 = torch.float64


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=f64)


def ld(A: torch.Tensor) -> torch.Tensor:
    return torch.linalg.slogdet(A)[1]


def gaussian_mi(K: torch.Tensor, a: list[int], b: list[int]) -> torch.Tensor:
    """I[Y_a; Y_b] of a Gaussian vector with covariance K: 1/2 (logdet K_aa + logdet K_bb - logdet K)."""
    idx = a + b
    return 0.5 * (ld(K[a][:, a]) + ld(K[b][:, b]) - ld(K[idx][:, idx]))


class BLR:
    """y = w^T [x; 1] + noise: the prior N(0, lam^-1 Id), noise sigma; the posterior after the training set."""

    def __init__(self, seed: int = 0, d: int = 3, n: int = 9, sigma: float = 0.5, lam: float = 1.5):
        torch.manual_seed(seed)
        self.net = nn.Linear(d, 1).double()
        self.sigma, self.lam = sigma, lam
        self.Xtr, self.ytr = randn(n, d), randn(n)
        A = self.aug(self.Xtr)
        self.Sigma = torch.linalg.inv(A.T @ A / sigma**2 + lam * torch.eye(d + 1, dtype=f64))

    @staticmethod
    def aug(X: torch.Tensor) -> torch.Tensor:
        return torch.cat([X, torch.ones(len(X), 1, dtype=f64)], 1)

    def cov(self, X: torch.Tensor, Sigma: torch.Tensor | None = None) -> torch.Tensor:
        """The predictive covariance of the outputs at the rows of X (noise included)."""
        A = self.aug(X)
        S = self.Sigma if Sigma is None else Sigma
        return A @ S @ A.T + self.sigma**2 * torch.eye(len(X), dtype=f64)

    def compile(self, text: str, **kw):
        return inf.compile(text, self.net, likelihood="gaussian", sigma=self.sigma, prior_precision=self.lam,
                           train=(self.Xtr, self.ytr), **kw)


def test_information_gain_after_one_more_labelled_point() -> None:
    m = BLR(1)
    x1, y1, Xp = randn(1, 3), randn(1), randn(7, 3)
    acq = m.compile("I[W; Y | x, y_1, x_1]", x_1=x1, y_1=y1)
    a1 = m.aug(x1)
    Sigma1 = torch.linalg.inv(torch.linalg.inv(m.Sigma) + a1.T @ a1 / m.sigma**2)  # the posterior with x_1 added
    # the entropy of the candidate's output drops from its predictive variance to the noise: 1/2 log(v / sigma^2)
    truth = torch.stack([0.5 * torch.log(m.cov(xp[None], Sigma1)[0, 0] / m.sigma**2) for xp in Xp])
    torch.testing.assert_close(acq(Xp), truth, rtol=0, atol=1e-10)
    assert isinstance(acq.derivation, inf.Derivation) and acq.derivation.start == inf.parse("I[W; Y | x, y_1, x_1]")
    assert "derivation" in repr(acq)
    # it is less than the gain without the extra point (the posterior is tighter)
    assert bool((acq(Xp) < m.compile("I[W;Y|x]")(Xp)).all())


def test_joint_gain_of_two_given_points() -> None:
    m = BLR(2)
    x2, Xp = randn(1, 3), randn(6, 3)
    acq = m.compile("I[W; Y_1, Y_2 | x_1, x_2]", x_2=x2)  # x_1, the one left unbound, is the pool's input
    # I[W; Y_1, Y_2] = H[Y_1, Y_2] - H[Y_1, Y_2 | W] = 1/2 logdet(K / sigma^2), K the joint predictive covariance
    truth = torch.stack([0.5 * ld(m.cov(torch.cat([xp[None], x2])) / m.sigma**2) for xp in Xp])
    torch.testing.assert_close(acq(Xp), truth, rtol=0, atol=1e-10)
    # naming the candidate explicitly: x_2 is the pool's input, x_1 bound
    acq2 = m.compile("I[W; Y_1, Y_2 | x_1, x_2]", x_1=x2, candidate="2")
    torch.testing.assert_close(acq2(Xp), truth, rtol=0, atol=1e-10)


@pytest.mark.parametrize("beta", [None, 0.5, -2.0])
def test_eig_minus_or_plus_beta_times_predictive_gain(beta) -> None:
    """I[W;Y|x] - I[Y_eval;Y|x,x_eval] and I[W;Y|x] + beta I[Y_eval;Y|x,x_eval], against Gaussian algebra."""
    m = BLR(3)
    Xe, Xp = randn(4, 3), randn(5, 3)
    if beta is None:
        acq = m.compile("I[W; Y | x] - I[Y_eval; Y | x, x_eval]", eval=Xe)
        b = -1.0
    else:
        acq = m.compile("I[W; Y | x] + beta * I[Y_eval; Y | x, x_eval]", eval=Xe, beta=beta)
        b = beta
    truth = []
    for xp in Xp:
        K = m.cov(torch.cat([Xe, xp[None]]))  # the eval outputs and the candidate's, jointly
        eig = 0.5 * torch.log(K[-1, -1] / m.sigma**2)
        truth.append(eig + b * gaussian_mi(K, list(range(len(Xe))), [len(Xe)]))
    torch.testing.assert_close(acq(Xp), torch.stack(truth), rtol=0, atol=1e-10)
    derivations = acq.derivation if isinstance(acq.derivation, tuple) else (acq.derivation,)
    assert len(derivations) == 2  # one derivation per quantity term


def test_symbols_and_points_must_be_bound() -> None:
    m = BLR(4)
    with pytest.raises(CompileError, match="beta"):
        m.compile("I[W; Y | x] + beta * I[Y_eval; Y | x, x_eval]", eval=randn(3, 3))
    with pytest.raises(CompileError, match="x_1"):
        m.compile("I[W; Y | x, y_1, x_1]")
    with pytest.raises(CompileError, match="gamma.*did you mean 'beta'|unknown keyword"):
        m.compile("I[W; Y | x] + beta * I[Y_eval; Y | x, x_eval]", eval=randn(3, 3), beta=1.0, gamma=2.0)


def test_a_quantity_without_a_matrix_form_shows_the_derivation_reached() -> None:
    m = BLR(5)
    with pytest.raises(CompileError) as err:
        m.compile("I[W;Y|x]", using=["ggn"])
    text = str(err.value)
    assert "gaussian" in text and "mi_definition" in text  # the step that would finish it, and the steps taken


def test_dense_autograd_on_a_small_classifier() -> None:
    """On the whole (non-linear) network: the new quantities against dense Fisher matrices from autograd."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    params = dict(net.named_parameters())
    P = sum(p.numel() for p in params.values())

    def fisher(X: torch.Tensor) -> torch.Tensor:
        out = []
        for x in X:
            def f(*flat, x=x):
                ps = dict(zip(params, flat))
                return torch.func.functional_call(net, ps, (x[None],))[0]
            J = torch.autograd.functional.jacobian(f, tuple(params.values()))
            J = torch.cat([j.reshape(3, -1) for j in J], 1)
            pi = torch.softmax(net(x[None])[0], 0)
            Lam = torch.diag(pi) - pi[:, None] * pi[None]
            out.append(J.T @ Lam @ J)
        return torch.stack(out)

    Xtr, ytr, x1, Xe, Xp = randn(6, 3), torch.randint(0, 3, (6,)), randn(1, 3), randn(4, 3), randn(5, 3)
    lam = 0.7
    H = fisher(Xtr).sum(0) + lam * torch.eye(P, dtype=f64)
    F1, Fe, Fp = fisher(x1)[0], fisher(Xe).sum(0), fisher(Xp)
    Id = torch.eye(P, dtype=f64)
    kw = dict(last_layer=False, prior_precision=lam, train=(Xtr, ytr))
    acq = inf.compile("I[W; Y | x, y_1, x_1]", net, x_1=x1, y_1=torch.tensor([1]), **kw)
    truth = torch.stack([0.5 * ld(F @ torch.linalg.inv(H + F1) + Id) for F in Fp])
    torch.testing.assert_close(acq(Xp), truth, rtol=1e-8, atol=1e-10)
    acq = inf.compile("I[W; Y | x] + beta * I[Y_eval; Y | x, x_eval]", net, eval=Xe, beta=0.25, **kw)
    truth = torch.stack([0.5 * ld(F @ torch.linalg.inv(H) + Id) + 0.25 * (
        0.5 * ld(Fe @ torch.linalg.inv(H) + Id) - 0.5 * ld(Fe @ torch.linalg.inv(H + F) + Id)) for F in Fp])
    torch.testing.assert_close(acq(Xp), truth, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("whole", [False, True])
def test_the_compiled_objects_repr_shows_the_derivation_it_was_compiled_from(whole: bool) -> None:
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double().eval()
    X, y = torch.randn(12, 4, dtype=torch.float64), torch.randint(0, 3, (12,))
    kw = {"last_layer": False, "curvature": "diag"} if whole else {}
    acq = inf.compile("I[W;Y|x]", net, train=(X, y), **kw)
    d = acq.derivation
    assert isinstance(d, inf.Derivation) and d.start == inf.parse("I[W;Y|x]")
    text = repr(acq)
    # the chain the object was built from, its start and its end, as the relation prints it
    assert str(d.relation) in text
    assert str(d.result) == "1/2 * logdet(H''[Y | x, w*] @ H''[w*]^-1 + Id)"
