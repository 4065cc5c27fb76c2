"""``inf.compile(..., space="prediction")``: the quantity from posterior samples, checked by hand formulas."""

import numpy as np
import pytest
import torch
from torch import nn

import infonotation as inf
from infonotation.acquisition import mc_dropout_log_probs


@pytest.fixture()
def setup():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3)).double()
    X = torch.randn(40, 5, dtype=torch.float64)
    X_eval = torch.randn(15, 5, dtype=torch.float64)
    return net, X, X_eval


def _entropy(p):
    return -(p * np.log(np.where(p > 0, p, 1))).sum(-1)


def test_bald_from_dropout_samples_is_the_entropy_formula(setup):
    net, X, _ = setup
    acq = inf.compile("I[W;Y|x]", net, space="prediction", num_samples=25, seed=3)
    p = mc_dropout_log_probs(net, X, 25, seed=3).exp().numpy()
    expected = _entropy(p.mean(1)) - _entropy(p).mean(1)
    np.testing.assert_allclose(acq(X).numpy(), expected, atol=1e-12)
    top = acq.select(X, 4, "topk")
    assert set(top.indices.tolist()) == set(np.argsort(-expected)[:4].tolist())
    np.testing.assert_allclose(top.scores.numpy(), np.sort(expected)[::-1][:4], atol=1e-12)
    greedy = acq.select(X, 4, "greedy").indices  # BatchBALD: its first pick is the best single point
    assert greedy[0].item() == int(np.argmax(expected)) and len(set(greedy.tolist())) == 4


def test_epig_is_the_double_sum_over_label_pairs(setup):
    net, X, X_eval = setup
    acq = inf.compile("I[Y_eval;Y|x,X_eval]", net, space="prediction", eval=X_eval, num_samples=20, seed=1)
    p = mc_dropout_log_probs(net, X, 20, seed=1).exp().numpy()       # [N, K, C]
    q = mc_dropout_log_probs(net, X_eval, 20, seed=1).exp().numpy()  # [M, K, C]
    joint = np.einsum("nkc,mkd->nmcd", p, q) / p.shape[1]
    indep = np.einsum("nc,md->nmcd", p.mean(1), q.mean(1))
    expected = (joint * np.log(joint / indep)).sum((-1, -2)).mean(1)
    np.testing.assert_allclose(acq(X).numpy(), expected, atol=1e-12)


def test_label_aware_gain_averages_to_bald(setup):
    """E_{p(y|x)} I[W;y|x] = I[W;Y|x]: average the information gain of each label by its predictive probability."""
    net, X, _ = setup
    ig = inf.compile("I[W;y|x]", net, space="prediction", num_samples=20, seed=2)
    bald = inf.compile("I[W;Y|x]", net, space="prediction", num_samples=20, seed=2)
    p = mc_dropout_log_probs(net, X, 20, seed=2).exp().mean(1)  # [N, C]
    average = sum(p[:, c] * ig(X, torch.full((X.shape[0],), c)) for c in range(3))
    torch.testing.assert_close(average, bald(X), atol=1e-12, rtol=0)


def test_laplace_samples_without_dropout_and_errors(setup):
    _, X, X_eval = setup
    net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    y = torch.randint(0, 3, (40,))
    weak = inf.compile("I[W;Y|x]", net, space="prediction", train=(X, y), prior_precision=1.0, num_samples=200)
    strong = inf.compile("I[W;Y|x]", net, space="prediction", train=(X, y), prior_precision=1e4, num_samples=200)
    assert weak(X).mean() > 10 * strong(X).mean()  # a tighter posterior leaves less to learn
    with pytest.raises(inf.CompileError, match="eval"):
        inf.compile("I[Y_eval;Y|x,X_eval]", net, space="prediction")
    with pytest.raises(inf.CompileError, match="topk"):
        inf.compile("I[Y_eval;Y|x,X_eval]", net, space="prediction", eval=X_eval).select(X, 2, "greedy")
    with pytest.raises(inf.CompileError, match="space='weight'"):
        inf.compile("I[W;Y|x]", net, space="prediction", using=["gaussian"])
    with pytest.raises(inf.CompileError, match="y_pool"):
        inf.compile("I[W;y|x]", net, space="prediction", train=(X, y))(X)
    with pytest.raises(inf.CompileError):
        inf.compile("H[W]", net, space="prediction")
