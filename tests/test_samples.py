"""Posterior samples in prediction space: ensembles, consistent MC dropout, last-layer Gaussian, user functions."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from infonotation.acquisition import (
    ensemble_log_probs,
    function_log_probs,
    last_layer_gaussian_log_probs,
    mc_dropout_log_probs,
    to_log_probs,
    validate_log_probs,
)
from infonotation.errors import CompileError


def pool(n: int, d: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------------------------
# validation and conversion


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.zeros(2, 3), r"\[N, K, C\]"),
        (torch.zeros(2, 3, 4, dtype=torch.int64), "floating"),
        (torch.randn(2, 3, 4), "normalised"),  # raw logits
        (torch.log_softmax(torch.randn(2, 3, 4), -1).index_put_((torch.tensor(0),), torch.tensor(float("nan"))), "NaN"),
        ("not a tensor", "torch.Tensor"),
    ],
)
def test_validate_rejects_bad_tensors(bad, match):
    with pytest.raises(CompileError, match=match):
        validate_log_probs(bad)


def test_validate_accepts_zero_probabilities_and_float32_rounding():
    lp = torch.log(torch.tensor([[[1.0, 0.0], [0.25, 0.75]]], dtype=torch.float64))
    assert validate_log_probs(lp) is lp
    lp32 = torch.log_softmax(torch.randn(50, 10, 100), -1)
    validate_log_probs(lp32.double())  # float32-normalised values pass in float64


def test_to_log_probs_conversions():
    logits = torch.randn(4, 5, dtype=torch.float64)
    lp = to_log_probs(logits, "logits")
    torch.testing.assert_close(lp.exp().sum(-1), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(to_log_probs(lp.exp(), "probs"), lp)
    with pytest.raises(CompileError, match=r"\[0, 1\]"):
        to_log_probs(-lp.exp(), "probs")
    with pytest.raises(CompileError, match="kind"):
        to_log_probs(lp, "odds")


# ---------------------------------------------------------------------------------------------------------
# ensembles and user functions


def test_ensemble_matches_each_member_and_is_chunk_invariant():
    torch.manual_seed(0)
    members = [nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 4)) for _ in range(3)]
    members[0].eval()
    members[1].train()
    x = pool(11, 3)
    out = ensemble_log_probs(members, x)
    assert out.shape == (11, 3, 4)
    with torch.no_grad():
        for k, m in enumerate(members):
            torch.testing.assert_close(out[:, k], torch.log_softmax(m(x), -1))
    torch.testing.assert_close(ensemble_log_probs(members, x, chunk_size=4), out)
    assert members[1].training and not members[0].training  # modes restored


def test_ensemble_errors():
    with pytest.raises(CompileError, match="non-empty list"):
        ensemble_log_probs(nn.Linear(2, 2), pool(3, 2))
    with pytest.raises(CompileError, match="classes"):
        ensemble_log_probs([nn.Linear(2, 2), nn.Linear(2, 3)], pool(3, 2))
    with pytest.raises(CompileError, match="positive integer"):
        ensemble_log_probs([nn.Linear(2, 2)], pool(3, 2), chunk_size=0)


def test_function_log_probs_chunks_and_checks():
    w = torch.randn(5, 3, 4, generator=torch.Generator().manual_seed(1))

    def fn(x):
        return torch.einsum("nd,kdc->nkc", x, w)

    x = pool(9, 3)
    ref = torch.log_softmax(fn(x), -1)
    torch.testing.assert_close(function_log_probs(fn, x, output="logits"), ref)
    torch.testing.assert_close(function_log_probs(fn, x, output="logits", chunk_size=2), ref)
    with pytest.raises(CompileError, match="normalised"):
        function_log_probs(fn, x)  # logits passed as log-probabilities
    with pytest.raises(CompileError, match=r"\[chunk, K, C\]"):
        function_log_probs(lambda x: x, x)


# ---------------------------------------------------------------------------------------------------------
# MC dropout


class DropNet(nn.Module):
    def __init__(self, d: int = 6, c: int = 3, p: float = 0.5):
        super().__init__()
        self.drop = nn.Dropout(p)
        self.fc = nn.Linear(d, c)

    def forward(self, x):
        return self.fc(self.drop(x))


def test_mc_dropout_masks_are_shared_by_every_pool_point():
    torch.manual_seed(0)
    net = DropNet()
    x = pool(1, 6).expand(4, 6)  # four copies of one input: every sample k must treat them identically
    out = mc_dropout_log_probs(net, x, 16, seed=3)
    for n in range(1, 4):
        torch.testing.assert_close(out[n], out[0], rtol=0, atol=0)
    assert not torch.allclose(out[0, 0], out[0, 1])  # different samples differ


def test_mc_dropout_is_exactly_a_masked_linear_model():
    torch.manual_seed(1)
    net = DropNet(d=5, c=4, p=0.3)
    x = pool(7, 5, seed=2)
    out = mc_dropout_log_probs(net, x, 8, seed=0)
    # recover each sample's mask from a probe input: e_j picks the j-th input feature
    probe = mc_dropout_log_probs(net, torch.eye(5), 8, seed=0)
    with torch.no_grad():
        base = torch.log_softmax(net.fc.bias, -1)
        for k in range(8):
            kept = torch.tensor([not torch.allclose(probe[j, k], base) for j in range(5)], dtype=torch.float32)
            expected = torch.log_softmax(net.fc(x * kept / 0.7), -1)
            torch.testing.assert_close(out[:, k], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("chunk", [1, 3, 8, None])
def test_mc_dropout_chunk_size_does_not_change_the_result(chunk):
    torch.manual_seed(2)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.Dropout2d(0.4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 16),
        nn.Dropout(0.5), nn.ReLU(), nn.Linear(16, 5),
    )
    x = torch.randn(10, 1, 6, 6, generator=torch.Generator().manual_seed(3))
    ref = mc_dropout_log_probs(net, x, 6, seed=7)
    torch.testing.assert_close(mc_dropout_log_probs(net, x, 6, seed=7, chunk_size=chunk), ref, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(ref, mc_dropout_log_probs(net, x, 6, seed=8))
    assert net.training  # a fresh module is in train mode; the call restores it
    assert all(not m._forward_hooks for m in net.modules())  # hooks removed


def test_mc_dropout_channel_masks_drop_whole_channels():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout2d(0.5)

        def forward(self, x):
            return self.drop(x).flatten(2).sum(2)  # logit_c = mask_c * 2 * (sum of channel c's pixels)

    x = torch.rand(2, 3, 2, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64) + 1.0
    out = mc_dropout_log_probs(Net(), x, 20, seed=0)
    sums = 2 * x.flatten(2).sum(2)  # [2, 3]
    masks = [torch.tensor([(j >> c) & 1 for c in range(3)], dtype=torch.float64) for j in range(8)]
    found = []
    for k in range(20):
        rel = out[:, k] - out[:, k, :1]  # logits up to a constant per row
        fits = [j for j, m in enumerate(masks) if torch.allclose(rel, m * sums - (m * sums)[:, :1], atol=1e-9)]
        assert len(fits) == 1  # one whole-channel mask explains both pool points
        found.append(fits[0])
    assert len(set(found)) > 2


def test_mc_dropout_errors():
    with pytest.raises(CompileError, match="no nn.Dropout"):
        mc_dropout_log_probs(nn.Linear(3, 2), pool(4, 3), 5)
    with pytest.raises(CompileError, match="positive integer"):
        mc_dropout_log_probs(DropNet(), pool(4, 6), 0)
    with pytest.raises(CompileError, match=r"\[batch, C\]"):
        mc_dropout_log_probs(nn.Sequential(nn.Dropout(0.1)), torch.randn(4, 2, 3), 2)


# ---------------------------------------------------------------------------------------------------------
# last-layer Gaussian


def _setup(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    n, d, c = 3, 2, 3
    feats = torch.randn(n, d, generator=g, dtype=torch.float64)
    mean = torch.randn(c, d + 1, generator=g, dtype=torch.float64)
    a = torch.randn(c * (d + 1), c * (d + 1), generator=g, dtype=torch.float64)
    cov = 0.2 * (a @ a.T) / (c * (d + 1)) + 0.05 * torch.eye(c * (d + 1), dtype=torch.float64)
    return feats, mean, cov


def test_last_layer_samples_have_the_requested_gaussian_law():
    feats, mean, cov = _setup()
    k = 20_000
    out = last_layer_gaussian_log_probs(feats, mean, covariance=cov, num_samples=k, seed=1)
    assert out.shape == (3, k, 3) and out.dtype == torch.float64
    # the logit difference l_0 - l_1 = a^T theta is Gaussian with mean a^T theta* and variance a^T Sigma a,
    # theta = row-major [W | b]: logit_c = sum_d W[c, d] z_d + b_c
    n = 1
    z1 = torch.cat([feats[n], torch.ones(1, dtype=torch.float64)])
    a = torch.zeros(3, 3, dtype=torch.float64)
    a[0], a[1] = z1, -z1
    a = a.flatten()
    diff = out[n, :, 0] - out[n, :, 1]
    mu, var = float(a @ mean.flatten()), float(a @ cov @ a)
    assert abs(float(diff.mean()) - mu) < 4 * math.sqrt(var / k)
    assert abs(float(diff.var()) / var - 1) < 4 * math.sqrt(2 / k)
    # the precision route samples the same law
    prec = torch.linalg.inv(cov)
    out_p = last_layer_gaussian_log_probs(feats, mean.flatten(), precision=prec, num_samples=k, seed=2)
    diff_p = out_p[n, :, 0] - out_p[n, :, 1]
    assert abs(float(diff_p.mean()) - mu) < 4 * math.sqrt(var / k)
    assert abs(float(diff_p.var()) / var - 1) < 4 * math.sqrt(2 / k)


def test_last_layer_zero_covariance_limit_and_no_bias():
    feats, mean, _ = _setup(1)
    tiny = 1e-16 * torch.eye(6, dtype=torch.float64)
    out = last_layer_gaussian_log_probs(feats, mean[:, :2], covariance=tiny, num_samples=4, bias=False)
    expected = torch.log_softmax(feats @ mean[:, :2].T, -1)
    for k in range(4):
        torch.testing.assert_close(out[:, k], expected, rtol=1e-6, atol=1e-6)


def test_last_layer_errors():
    feats, mean, cov = _setup()
    with pytest.raises(CompileError, match="exactly one"):
        last_layer_gaussian_log_probs(feats, mean, num_samples=3)
    with pytest.raises(CompileError, match="exactly one"):
        last_layer_gaussian_log_probs(feats, mean, covariance=cov, precision=cov, num_samples=3)
    with pytest.raises(CompileError, match="positive definite"):
        last_layer_gaussian_log_probs(feats, mean, covariance=-cov, num_samples=3)
    with pytest.raises(CompileError, match=r"\[9, 9\]"):
        last_layer_gaussian_log_probs(feats, mean, covariance=cov[:4, :4], num_samples=3)
    with pytest.raises(CompileError, match=r"mean must be \[C, 3\]"):
        last_layer_gaussian_log_probs(feats, mean[:, :2], covariance=cov, num_samples=3)
    with pytest.raises(CompileError, match="symmetric"):
        last_layer_gaussian_log_probs(feats, mean, covariance=cov + torch.triu(torch.ones(9, 9), 1), num_samples=3)
    with pytest.raises(CompileError, match="NaN or inf"):
        last_layer_gaussian_log_probs(feats * float("nan"), mean, covariance=cov, num_samples=3)
