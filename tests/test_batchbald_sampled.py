"""BatchBALD in the sampled regime: the reported joint score is an unbiased estimate for the batch it selected."""

from __future__ import annotations

import math

import torch

import infonotation as inf

f64 = torch.float64


def exact_joint_mi(lp: torch.Tensor, idx: list[int]) -> float:
    """I[W; Y_B] by enumerating all C^|B| label configurations (W uniform over the K samples)."""
    p = lp[idx].exp()  # [b, K, C]
    b, K, C = p.shape
    t = torch.ones(K, 1, dtype=f64)
    for i in range(b):  # p(y_B | w_k) for every configuration, [K, C^b]
        t = (t.unsqueeze(2) * p[i].unsqueeze(1)).reshape(K, -1)
    q = t.mean(0)
    return float(-torch.special.xlogy(q, q).sum()) + float(torch.special.xlogy(p, p).sum(-1).mean(-1).sum())


def test_sampled_joint_score_is_unbiased_for_the_selected_batch() -> None:
    g = torch.Generator().manual_seed(4)
    lp = torch.log_softmax(2.0 * torch.randn(20, 8, 3, generator=g, dtype=f64), -1)
    errors = []
    for seed in range(64):
        res = inf.batchbald(lp, 8, num_samples=30, seed=seed)  # exact for 3 points, sampled from the 4th on
        errors.append(float(res.scores[-1]) - exact_joint_mi(lp, res.indices.tolist()))
    e = torch.tensor(errors, dtype=f64)
    se = float(e.std()) / math.sqrt(len(e))
    # the greedy's own gains were maximised over noisy estimates, so summing them reads high (about 8 standard
    # errors here); re-estimated with configurations not used to select, the score is unbiased
    assert abs(float(e.mean())) < 3 * se, (float(e.mean()), se)


def test_joint_score_never_exceeds_the_entropy_of_the_samples_by_more_than_noise() -> None:
    g = torch.Generator().manual_seed(9)
    lp = torch.log_softmax(4.0 * torch.randn(60, 5, 4, generator=g, dtype=f64), -1)
    res = inf.batchbald(lp, 30, num_samples=200, seed=0)
    assert bool((res.gains >= -1e-12).all())  # every term a Jensen gap: never negative
    assert float(res.scores[-1]) <= math.log(5) + 0.05
