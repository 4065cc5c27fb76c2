"""Bad input of every kind gives a CompileError (or RuleError) that says what and where; jitter policy."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import infonotation as inf
from infonotation.errors import CompileError, RuleError
from infonotation.numeric import JitterWarning, compile
from infonotation.numeric.linalg import batched_logdet_pd, cholesky, logdet_pd

f64 = torch.float64


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=f64)


def mlp(C: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, C)).double()


def test_jitter_warning_on_singular_psd_and_error_on_indefinite() -> None:
    g = torch.Generator().manual_seed(0)
    B = torch.randn(6, 2, generator=g, dtype=f64)
    singular = B @ B.T  # rank 2, PSD
    with pytest.warns(JitterWarning, match="jitter"):
        R = cholesky(singular, "S")
    torch.testing.assert_close(R @ R.T, singular, rtol=0, atol=1e-6)
    with pytest.raises(CompileError, match="not positive definite"):
        logdet_pd(-torch.eye(3, dtype=f64), "minus identity")
    with pytest.raises(CompileError, match="NaN"):
        logdet_pd(torch.full((2, 2), float("nan"), dtype=f64), "M")
    # a PD matrix needs no jitter and gives the exact log-det
    A = torch.randn(5, 5, generator=g, dtype=f64)
    M = A @ A.T + torch.eye(5, dtype=f64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert abs(float(logdet_pd(M) - torch.linalg.slogdet(M)[1])) < 1e-10
        batch = torch.stack([M, 2 * M])
        torch.testing.assert_close(batched_logdet_pd(batch), torch.linalg.slogdet(batch)[1])


def test_jitter_warning_from_compile_with_a_vanishing_prior() -> None:
    net = mlp()
    X, y = randn(2, 4), torch.tensor([0, 1])
    with pytest.warns(JitterWarning, match="H''"):
        compile("I[W;Y|x]", net, prior_precision=1e-300, train=(X, y))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(prior_precision=0.0), "positive"),
        (dict(prior_precision=-1.0), "positive"),
        (dict(prior_precision=torch.ones(7, dtype=f64)), "vector \\[18\\]"),
        (dict(prior_precision=-torch.ones(18, dtype=f64)), "positive"),
        (dict(prior_precision=torch.diag(torch.arange(18, dtype=f64) - 1)), "not positive definite"),
        (dict(likelihood="poisson"), "unknown likelihood"),
        (dict(likelihood="gaussian"), "sigma"),
        (dict(likelihood="gaussian", sigma=-1.0), "sigma"),
        (dict(sigma=1.0), "means nothing"),
        (dict(space="prediction"), "inf.bald"),
        (dict(last_layer="0.weight"), "no such module|not an nn.Linear"),
        (dict(last_layer="1"), "not an nn.Linear"),
        (dict(chunk_size=0), "chunk_size"),
        (dict(train=(torch.randn(3, 4, dtype=f64), torch.tensor([0, 1]))), "3 rows"),
        (dict(train=(torch.randn(2, 4, dtype=f64), torch.tensor([0, 5]))), "\\[0, 2\\]"),
        (dict(train=(torch.randn(2, 7, dtype=f64), torch.tensor([0, 1]))), "X_train.*shape"),
        (dict(train=(torch.full((2, 4), float("nan"), dtype=f64), torch.tensor([0, 1]))), "NaN"),
    ],
)
def test_compile_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(CompileError, match=match):
        compile("I[W;Y|x]", mlp(), **kwargs)


def test_network_errors() -> None:
    bad = mlp()
    with torch.no_grad():
        bad[0].weight[0, 0] = float("nan")
    with pytest.raises(CompileError, match="'0.weight'.*NaN"):
        compile("I[W;Y|x]", bad)
    with pytest.raises(CompileError, match="categorical.*C >= 2"):
        compile("I[W;Y|x]", mlp(1))(randn(3, 4))
    with pytest.raises(CompileError, match="bernoulli.*one logit"):
        compile("I[W;Y|x]", mlp(3), likelihood="bernoulli")(randn(3, 4))
    with pytest.raises(CompileError, match="probabilities"):
        compile("I[W;Y|x]", nn.Sequential(mlp(), nn.Softmax(-1)), last_layer=False)(randn(3, 4))
    with pytest.raises(CompileError, match="transforms it"):
        compile("I[W;Y|x]", nn.Sequential(mlp(), nn.Tanh()))(randn(3, 4))
    with pytest.raises(CompileError, match="has none"):
        compile("I[W;Y|x]", nn.Sequential(nn.Conv1d(1, 1, 1)))
    with pytest.raises(CompileError, match="nn.Module"):
        compile("I[W;Y|x]", "not a network")


def test_call_errors() -> None:
    acq = compile("I[W;Y|x]", mlp())
    with pytest.raises(CompileError, match="X_pool.*shape \\[3, 9\\]"):
        acq(randn(3, 9))
    with pytest.raises(CompileError, match="NaN or infinite.*rows \\[1\\]"):
        acq(torch.tensor([[0.0] * 4, [float("inf")] * 4], dtype=f64))
    with pytest.raises(CompileError, match="torch.Tensor"):
        acq([[1.0, 2.0, 3.0, 4.0]])
    with pytest.raises(CompileError, match="k = 9 points from a pool of 3"):
        acq.select(randn(3, 4), 9)
    with pytest.raises(CompileError, match="strategy"):
        acq.select(randn(3, 4), 1, "random")
    exact = compile("I[W;y|x]", mlp(), last_layer=False, using=["gaussian", "eig_logdet"], prior_precision=100.0)
    with pytest.raises(CompileError, match="needs the labels"):
        exact(randn(3, 4))
    with pytest.raises(CompileError, match="labels.*\\[0, 2\\]"):
        exact(randn(3, 4), torch.tensor([0, 1, 3]))


def test_lowering_errors_name_the_subexpression() -> None:
    net = mlp()
    with pytest.raises(CompileError, match=r"logdet\(H''\[Y \| x, w\*\]\).*|H''\[w\*\] or H''\[w\*\|D\]"):
        compile("logdet(H''[Y|x,w*])", net)
    with pytest.raises(CompileError, match="needs the training data"):
        compile("I[W;Y|x,D]", net)
    with pytest.raises(CompileError, match="eval=X_eval"):
        compile("I[Y_eval;Y|x,X_eval]", net)
    with pytest.raises(CompileError, match="no weight-space form"):
        compile("H[Y|x]", net)
    with pytest.raises(CompileError, match="det"):
        compile("det(H''[w*])", net)
    with pytest.raises(CompileError, match="both sides"):
        compile("tr(H''[Y|x,w*] @ (H''[w*] + H''[Y|x,w*])^-1)", net)
    with pytest.raises(CompileError, match="difference"):
        compile("logdet(H''[w*] - H''[Y|x,w*])", net)
    with pytest.raises(RuleError, match="unknown approximation step"):
        compile("I[W;Y|x]", net, using=["gaussian", "magic"])
    with pytest.raises(inf.ParseError):
        compile("I[W;Y|x", net)


@pytest.mark.parametrize("whole", [False, True])
def test_a_non_finite_score_is_an_error_naming_the_points(whole: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).double().eval()
    X, y = torch.randn(9, 4, dtype=torch.float64), torch.randint(0, 3, (9,))
    kw = {"last_layer": False, "curvature": "diag"} if whole else {}
    acq = inf.compile("I[W;Y|x]", net, train=(X, y), **kw)
    real = type(acq)._score

    def broken(self, X_, y_):
        s = real(self, X_, y_).clone()
        s[2] = float("inf")  # a NaN is refused for every acquisition; closed forms refuse infinities too
        return s

    monkeypatch.setattr(type(acq), "_score", broken)
    with pytest.raises(inf.CompileError, match=r"not finite for pool points \[2\]"):
        acq.scores(torch.randn(6, 4, dtype=torch.float64))
