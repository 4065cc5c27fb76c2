"""No silent wrong answer: relations refused, labels used or the reason said, the prior and the mode named."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import infonotation as inf
from infonotation.errors import CompileError

f64 = torch.float64


@pytest.fixture(scope="module")
def s() -> dict:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double().eval()
    return {"net": net, "X": torch.randn(15, 4, dtype=f64), "train": (torch.randn(10, 4, dtype=f64),
                                                                      torch.randint(0, 3, (10,)))}


@pytest.mark.parametrize("text, side", [
    ("I[W;Y|x] = 0", r"inf.compile\('I\[W; Y \| x\]'"),
    ("I[W;Y|x] <= 5", r"inf.compile\('I\[W; Y \| x\]'"),
    ("I[W;Y|x] = H[Y|x] - H[Y|x,W]", r"one side at a time: inf.compile\('I\[W; Y \| x\]', \.\.\.\) or"),
])
@pytest.mark.parametrize("space", ["weight", "prediction"])
def test_a_relation_is_not_a_quantity(s: dict, text: str, side: str, space: str) -> None:
    with pytest.raises(CompileError, match="is a relation") as err:
        inf.compile(text, s["net"], train=s["train"], space=space)
    assert err.match(side)
    assert err.match("inf.check")


def test_label_aware_quantity_uses_the_labels_in_prediction_space(s: dict) -> None:
    drop = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3)).double().eval()
    acq = inf.compile("I[W;y|x]", drop, space="prediction", num_samples=10)
    X = s["X"]
    with pytest.raises(CompileError, match="y_pool"):
        acq(X)
    a, b = acq(X, torch.zeros(15, dtype=torch.long)), acq(X, torch.full((15,), 2))
    assert not torch.allclose(a, b)  # the labels matter
    with pytest.raises(CompileError, match=r"class labels must lie in \[0, 2\]"):
        acq(X, torch.full((15,), 3))


def test_label_aware_weight_space_on_the_last_layer_says_why_labels_cannot_matter(s: dict) -> None:
    with pytest.warns(inf.CompileWarning, match="GLM with canonical link.*space='prediction'"):
        acq = inf.compile("I[W;y|x]", s["net"], train=s["train"])
    with pytest.raises(CompileError, match="y_pool"):
        acq(s["X"])  # still about a known label: refuses to score without one


def test_compile_without_train_says_it_scores_with_the_prior(s: dict) -> None:
    with pytest.warns(inf.CompileWarning, match="no train= given.*prior alone.*train=\\(X_train, y_train\\)"):
        inf.compile("I[W;Y|x]", s["net"], prior_precision=3.0)
    with pytest.warns(inf.CompileWarning, match="no train= given"):
        inf.methods.eig_logdet.compile(s["net"])
    with pytest.warns(inf.CompileWarning, match="no train= given"):
        inf.methods.bald.compile(s["net"])  # Laplace samples of the prior
    with warnings.catch_warnings():
        warnings.simplefilter("error", inf.CompileWarning)
        inf.compile("I[W;Y|x]", s["net"], train=s["train"], prior_precision=3.0)
        inf.methods.badge.compile(s["net"])  # needs no posterior
        drop = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3)).double().eval()
        inf.methods.bald.compile(drop)  # MC dropout samples need no training set


def test_training_mode_is_named_and_evaluation_mode_is_what_is_used(s: dict) -> None:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3)).double()
    net.train()
    with torch.no_grad():  # give BatchNorm running statistics that differ from any batch's
        net[1].running_mean.fill_(0.7)
        net[1].running_var.fill_(2.0)
    X, train = s["X"], s["train"]
    with pytest.warns(inf.CompileWarning, match="training mode and has BatchNorm1d, Dropout.*evaluation mode"):
        in_train = inf.compile("I[W;Y|x]", net, train=train)(X)
    assert net.training  # the user's mode is left alone
    net.eval()
    torch.testing.assert_close(in_train, inf.compile("I[W;Y|x]", net, train=train)(X))
    net.train()
    with pytest.warns(inf.CompileWarning, match="MC-dropout posterior samples"):
        inf.methods.bald.compile(net, num_samples=4)


def test_a_string_using_is_one_step_name(s: dict) -> None:
    drop = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3)).double().eval()
    with pytest.raises(CompileError, match="using='gaussian'"):
        inf.compile("I[W;Y|x]", drop, space="prediction", using="gaussian")
    a = inf.compile("I[W;Y|x]", drop, space="prediction", using="samples", num_samples=5)(s["X"])
    b = inf.compile("I[W;Y|x]", drop, space="prediction", using=["samples"], num_samples=5)(s["X"])
    torch.testing.assert_close(a, b)
    w1 = inf.compile("I[W;Y|x]", s["net"], train=s["train"], using="gaussian,ggn,eig_logdet,trace")(s["X"])
    w2 = inf.compile("I[W;Y|x]", s["net"], train=s["train"], using=["gaussian", "ggn", "eig_logdet", "trace"])(s["X"])
    torch.testing.assert_close(w1, w2)
