"""One acquisition protocol: compiled quantities (both spaces), named methods and inf.batchbald behave alike."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import infonotation as inf
from infonotation.errors import CompileError

f64 = torch.float64


@pytest.fixture(scope="module")
def setting() -> dict:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 3)).double().eval()
    drop = nn.Sequential(nn.Linear(5, 12), nn.ReLU(), nn.Dropout(0.3), nn.Linear(12, 3)).double().eval()
    X = torch.randn(30, 5, dtype=f64)
    train = (torch.randn(20, 5, dtype=f64), torch.randint(0, 3, (20,)))
    return {"net": net, "drop": drop, "X": X, "y": torch.randint(0, 3, (30,)), "train": train,
            "eval": torch.randn(6, 5, dtype=f64)}


def all_acquisitions(s: dict) -> dict[str, inf.Acquisition]:
    out: dict[str, inf.Acquisition] = {
        "compile weight": inf.compile("I[W;Y_B|x_B]", s["net"], train=s["train"]),
        "compile prediction": inf.compile("I[W;Y|x]", s["drop"], space="prediction", num_samples=8),
    }
    for name, m in inf.methods.items():
        kw = {"eval": s["eval"]} if m.needs_eval else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", inf.CompileWarning)
            out[name] = m.compile(s["net"], train=s["train"], **kw)
    return out


def test_every_acquisition_follows_the_protocol(setting: dict) -> None:
    X, y = setting["X"], setting["y"]
    for name, acq in all_acquisitions(setting).items():
        assert isinstance(acq, inf.Acquisition), name
        y_pool = y if acq.label_aware else None
        s = acq.scores(X, y_pool=y_pool)
        assert s.shape == (30,), name
        torch.testing.assert_close(acq(X, y_pool), s)  # the shorthand is the same call
        for strategy in acq.strategies:
            sel = acq.select(X, 4, strategy=strategy, y_pool=y_pool, engine="local", progress=False)
            assert isinstance(sel, inf.Selection) and isinstance(sel, tuple), (name, strategy)
            idx, scores = sel  # a plain pair
            assert idx.dtype == torch.long and len(set(idx.tolist())) == 4 and scores.shape == (4,), (name, strategy)
            if strategy == "topk":  # each chosen point's own score, best first
                order = torch.sort(s, descending=acq.higher_is_better, stable=True).indices[:4]
                assert idx.tolist() == order.tolist(), name
                torch.testing.assert_close(scores, s[idx])
        default = acq.select(X, 4, y_pool=y_pool).indices
        assert default.tolist() == acq.select(X, 4, acq.strategies[0], y_pool=y_pool).indices.tolist()


def test_the_same_validation_and_errors_everywhere(setting: dict) -> None:
    X, y = setting["X"], setting["y"]
    for acq in all_acquisitions(setting).values():
        y_pool = y if acq.label_aware else None
        with pytest.raises(CompileError, match="k = 31 points from a pool of 30"):
            acq.select(X, 31, y_pool=y_pool)
        with pytest.raises(CompileError, match="k must be an int"):
            acq.select(X, 2.0, y_pool=y_pool)  # type: ignore[arg-type]
        with pytest.raises(CompileError, match="unknown selection strategy 'nope'.*use one of"):
            acq.select(X, 2, strategy="nope", y_pool=y_pool)
        with pytest.raises(CompileError, match="address= is a setting of engine='ray'"):
            acq.scores(X, y_pool=y_pool, address="auto")
        with pytest.raises(CompileError, match="engine must be 'local'"):
            acq.select(X, 2, y_pool=y_pool, engine="spark")
        with pytest.raises(CompileError, match="progress must be"):
            acq.scores(X, y_pool=y_pool, progress="yes")  # type: ignore[arg-type]
        with pytest.raises(CompileError, match=r"shape \[5\].*x\[None\]"):
            acq.scores(X[0], y_pool=None if y_pool is None else y_pool[:1])
        with pytest.raises(CompileError, match="pass labels by keyword"):
            acq.select(X, 2, y if y_pool is None else y_pool)  # labels where the strategy goes
        assert acq.select(X, 0, y_pool=y_pool).indices.shape == (0,)
        if acq.label_aware:
            with pytest.raises(CompileError, match="y_pool"):
                acq.scores(X)


def test_named_methods_take_strategy_like_compiled_quantities(setting: dict) -> None:
    """Before: ``methods.X.compile(...).select(X, k, strategy=...)`` was a bare TypeError."""
    X = setting["X"]
    bald = inf.methods.bald.compile(setting["drop"], num_samples=8)
    greedy = bald.select(X, 3, strategy="greedy")  # BatchBALD from the same samples
    lp = inf.acquisition.mc_dropout_log_probs(setting["drop"], X, 8, seed=0)
    truth = inf.batchbald(lp, 3)
    assert greedy.indices.tolist() == truth.indices.tolist()
    torch.testing.assert_close(greedy.scores, truth.gains)  # gains when chosen, summing to the joint score
    torch.testing.assert_close(greedy.joint, truth.scores)
    badge = inf.methods.badge.compile(setting["net"])
    assert badge.strategies[0] == "kmeans++"
    top = badge.select(X, 3, strategy="topk")
    torch.testing.assert_close(top.scores, badge.scores(X)[top.indices])


def test_greedy_scores_are_gains_that_sum_to_the_joint_quantity(setting: dict) -> None:
    acq = inf.compile("I[W;Y_B|x_B]", setting["net"], train=setting["train"])
    X = setting["X"]
    sel = acq.select(X, 5, "greedy")
    for i in range(5):
        joint = acq.joint(X[sel.indices[: i + 1]])
        assert abs(float(sel.joint[i]) - float(joint)) < 1e-10
    assert bool((sel.scores > 0).all()) and bool((sel.scores[1:] <= sel.scores[:-1] + 1e-12).all())  # submodular


def test_batchbald_is_a_pair_and_a_selection() -> None:
    lp = torch.log_softmax(torch.randn(40, 6, 3, dtype=f64, generator=torch.Generator().manual_seed(1)), -1)
    res = inf.batchbald(lp, 4, seed=0)
    idx, scores = res
    assert isinstance(res, inf.Selection) and isinstance(res, tuple) and len(res) == 2
    assert res.joint is res.scores  # the contract: the joint score of each prefix
    torch.testing.assert_close(res.gains.cumsum(0), scores)
    assert idx.tolist() == res.indices.tolist()
    with pytest.raises(CompileError, match="progress must be"):
        inf.batchbald(lp, 2, progress=1)  # type: ignore[arg-type]
    with pytest.raises(CompileError, match="k = 41 points from a pool of 40"):
        inf.batchbald(lp, 41)
