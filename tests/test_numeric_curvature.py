"""Curvature against independent truths: autograd Jacobians/Hessians and closed forms (float64)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from infonotation.numeric import empirical_fisher, fisher_information, gradients, observed_information


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


def mlp(seed: int = 0, d: int = 4, h: int = 6, C: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, C)).double()


def flat_params(net: nn.Module) -> tuple[torch.Tensor, list]:
    named = list(net.named_parameters())
    theta = torch.cat([p.detach().reshape(-1) for _, p in named])
    return theta, named


def functional(net: nn.Module, x: torch.Tensor):
    theta, named = flat_params(net)
    shapes = [p.shape for _, p in named]
    numels = [p.numel() for _, p in named]
    names = [n for n, _ in named]

    def f(th: torch.Tensor) -> torch.Tensor:
        parts = torch.split(th, numels)
        return torch.func.functional_call(net, {n: p.reshape(s) for n, p, s in zip(names, parts, shapes)}, (x,))

    return f, theta


def nll(out: torch.Tensor, y: torch.Tensor, lik: str, sigma: float = 0.7) -> torch.Tensor:
    if lik == "categorical":
        return -torch.log_softmax(out, -1)[torch.arange(len(y)), y].sum()
    if lik == "bernoulli":
        return nn.functional.binary_cross_entropy_with_logits(out.reshape(-1), y.double(), reduction="sum")
    return 0.5 * ((out.reshape(y.shape) - y) ** 2).sum() / sigma**2


def lam(out: torch.Tensor, lik: str, sigma: float = 0.7) -> torch.Tensor:
    if lik == "categorical":
        p = torch.softmax(out, -1)
        return torch.diag(p) - torch.outer(p, p)
    if lik == "bernoulli":
        p = torch.sigmoid(out)
        return (p * (1 - p)).reshape(1, 1)
    return torch.eye(out.numel(), dtype=torch.float64) / sigma**2


@pytest.mark.parametrize("lik,C", [("categorical", 3), ("bernoulli", 1), ("gaussian", 2)])
def test_mlp_fisher_is_jt_lambda_j_from_autograd(lik: str, C: int) -> None:
    net = mlp(1, C=C)
    X = randn(5, 4)
    kw = {"sigma": 0.7} if lik == "gaussian" else {}
    F = fisher_information(net, X, lik, last_layer=False, **kw)
    for i in range(5):
        f, theta = functional(net, X[i : i + 1])
        J = torch.autograd.functional.jacobian(lambda th, f=f: f(th).reshape(-1), theta)  # [C, P]
        truth = J.T @ lam(f(theta).reshape(-1), lik) @ J
        torch.testing.assert_close(F[i], truth, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("lik,C", [("categorical", 3), ("bernoulli", 1), ("gaussian", 2)])
def test_mlp_exact_observed_information_is_autograd_hessian(lik: str, C: int) -> None:
    net = mlp(2, C=C)
    X = randn(4, 4)
    y = torch.randint(0, C, (4,)) if lik == "categorical" else (
        torch.randint(0, 2, (4,)) if lik == "bernoulli" else randn(4, C))
    kw = {"sigma": 0.7} if lik == "gaussian" else {}
    O = observed_information(net, X, y, lik, last_layer=False, **kw)
    for i in range(4):
        f, theta = functional(net, X[i : i + 1])
        H = torch.autograd.functional.hessian(lambda th, f=f, i=i: nll(f(th), y[i : i + 1], lik), theta)
        torch.testing.assert_close(O[i], H, rtol=1e-9, atol=1e-11)
    # and it is not the Fisher for a non-linear network (T5): the check above can fail
    F = fisher_information(net, X, lik, last_layer=False, **kw)
    assert (O - F).abs().max() > 1e-4


def test_mlp_expected_observed_information_is_fisher() -> None:
    """T4/T5: E_{y ~ p(y|x,w*)} H''[y|x,w*] = H''[Y|x,w*] by enumerating the classes."""
    net = mlp(3)
    x = randn(1, 4)
    F = fisher_information(net, x, last_layer=False)[0]
    p = torch.softmax(net(x), -1)[0].detach()
    E = sum(p[c] * observed_information(net, x, torch.tensor([c]), last_layer=False)[0] for c in range(3))
    torch.testing.assert_close(E, F, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("lik,C", [("categorical", 4), ("bernoulli", 1)])
def test_logistic_regression_observed_equals_fisher_for_every_label(lik: str, C: int) -> None:
    torch.manual_seed(4)
    net = nn.Linear(3, C).double()
    X = randn(6, 3)
    F = fisher_information(net, X, lik, last_layer=False)
    labels = range(C) if lik == "categorical" else range(2)
    for c in labels:
        O = observed_information(net, X, torch.full((6,), c), lik, last_layer=False)
        torch.testing.assert_close(O, F, rtol=1e-9, atol=1e-12)
    # closed form (T3): (diag(pi) - pi pi^T) kron [x;1][x;1]^T, public order [W.flatten(), b]
    out = net(X).detach()
    for i in range(6):
        L = lam(out[i], lik)
        eye = torch.eye(C, dtype=torch.float64)
        J = torch.cat([torch.kron(eye, X[i : i + 1]), eye], 1)
        torch.testing.assert_close(F[i], J.T @ L @ J, rtol=1e-10, atol=1e-12)


def test_last_layer_matches_whole_network_block() -> None:
    """Last-layer Fisher (closed form, Kronecker) == the last-layer block of the autograd J^T Λ J."""
    net = mlp(5)
    X = randn(4, 4)
    F_ll = fisher_information(net, X, last_layer=True)
    F_all = fisher_information(net, X, last_layer=False)
    P_last = 3 * 6 + 3
    torch.testing.assert_close(F_ll, F_all[:, -P_last:, -P_last:], rtol=1e-10, atol=1e-12)
    F_named = fisher_information(net, X, last_layer="2")
    torch.testing.assert_close(F_named, F_ll)


def test_gradients_and_empirical_fisher_against_autograd() -> None:
    net = mlp(6)
    X, y = randn(5, 4), torch.randint(0, 3, (5,))
    G = gradients(net, X, y, last_layer=False)
    for i in range(5):
        f, theta = functional(net, X[i : i + 1])
        g = torch.autograd.functional.jacobian(lambda th, f=f, i=i: nll(f(th), y[i : i + 1], "categorical"), theta)
        torch.testing.assert_close(G[i], g, rtol=1e-10, atol=1e-12)
    G_ll = gradients(net, X, y, last_layer=True)
    torch.testing.assert_close(G_ll, G[:, -21:], rtol=1e-10, atol=1e-12)
    # T19: ||vec((pi - e_y) z^T)|| without bias part = ||pi - e_y|| ||z||
    z = torch.tanh(net[0](X)).detach()
    r = torch.softmax(net(X), -1).detach() - nn.functional.one_hot(y, 3)
    torch.testing.assert_close(G_ll[:, :18].norm(dim=1), r.norm(dim=1) * z.norm(dim=1))
    torch.testing.assert_close(empirical_fisher(net, X, y, last_layer=False), G.T @ G)
