"""Batch selection: top-k, greedy maximisation of joint objectives, and stochastic batch acquisition.

* :func:`topk` takes the k highest individual scores (the right thing for additive batch scores, e.g.
  the trace bound, R22; the "top-k pathology" for BALD).
* :func:`greedy` maximises a joint set objective ``f(S)`` (e.g. BatchBALD's ``I[W; Y_S | x_S]``) one
  point at a time, given an object that scores marginal gains ``f(S + {n}) - f(S)`` for many candidates
  at once and updates its cache when a point is added. For submodular ``f`` the lazy variant
  (Minoux's accelerated greedy, scoring blocks of candidates) returns the same selection as the
  plain greedy while scoring only a few candidates per step.
* :func:`stochastic_select`: sample k points without replacement with probabilities ``prop. exp(beta s)``
  ("softmax"), ``prop. s^beta`` ("power") or ``prop. rank^-beta`` ("softrank"), as in Kirsch et al. (2023),
  "Stochastic Batch Acquisition: A Simple Baseline for Deep Active Learning" (Gumbel-top-k trick).
"""

from __future__ import annotations

import math
from typing import Literal, Protocol

import torch
from torch import Tensor

from ..errors import CompileError
from ..protocol import JointSelection, Selection, check_k, progress_bar

__all__ = ["Selection", "JointSelection", "IncrementalObjective", "topk", "greedy", "stochastic_select"]


class IncrementalObjective(Protocol):
    """A set function ``f(S)`` over pool indices with cached, incremental evaluation.

    ``num_candidates``: the pool size N. ``gains(candidates)``: ``f(S + {n}) - f(S)`` for every index n in the
    ``LongTensor`` ``candidates`` (none of them in S), as one vectorised computation. ``add(index, gain)``:
    put ``index`` into S (``gain`` is the value ``gains`` just returned for it) and return ``f(S)``.

    Optional, used by the lazy :func:`greedy`: ``upper_bounds(candidates)`` (cheap upper bounds on the current
    gains) and ``stale_bounds_valid`` (False when an old gain need not bound the new one; default True,
    which holds for submodular ``f``).
    """

    @property
    def num_candidates(self) -> int: ...

    def gains(self, candidates: Tensor) -> Tensor: ...

    def add(self, index: int, gain: float) -> float: ...


def _check_scores(scores: Tensor, k: int) -> None:
    if not isinstance(scores, Tensor) or scores.dim() != 1 or not scores.is_floating_point():
        raise CompileError(
            "scores must be a 1-D floating-point tensor (one score per pool point), got "
            f"{tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__}"
        )
    _check_k(k, scores.shape[0])
    if torch.isnan(scores).any():
        bad = torch.isnan(scores).nonzero().flatten()[:5].tolist()
        raise CompileError(f"scores contain NaN at pool points {bad}; fix the score computation before selecting")


def _check_k(k: int, n: int) -> None:
    check_k(k, n)


def topk(scores: Tensor, k: int) -> Selection:
    """The k pool points with the highest individual scores, best first (ties: lowest index first)."""
    _check_scores(scores, k)
    order = torch.sort(scores, descending=True, stable=True).indices[:k]
    return Selection(order.to(torch.long), scores[order])


def greedy(objective: IncrementalObjective, k: int, *, lazy: bool = True, block_size: int = 32,
           progress: bool | None = None) -> JointSelection:
    """Greedy maximisation of a joint objective: ``S_{i+1} = S_i + {argmax_n f(S_i + {n}) - f(S_i)}``.

    ``lazy=True`` keeps each candidate's last marginal gain as an upper bound (valid when ``f`` is
    submodular, e.g. ``I[W; Y_S]`` with labels independent given W) and re-scores only the best-bounded
    candidates, a block of ``block_size`` at a time (doubling), until the best fresh gain beats every
    remaining bound; the selection is then the plain greedy one. Objectives may supply tighter bounds
    (``upper_bounds``, see :class:`IncrementalObjective`). ``lazy=False`` scores all remaining
    candidates at every step. Returns a :class:`JointSelection` with ``scores[i] = f(S_{i+1})``.
    """
    n = int(objective.num_candidates)
    _check_k(k, n)
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise CompileError(f"block_size must be a positive integer, got {block_size!r}")
    bounds = torch.full((n,), math.inf, dtype=torch.float64)
    available = torch.ones(n, dtype=torch.bool)
    chosen: list[int] = []
    values: list[float] = []
    bar = progress_bar(k, progress, "greedy selection")
    for step in range(k):
        bar.update(1)
        remaining = available.nonzero().flatten()
        if step == 0 or not lazy:
            g = objective.gains(remaining).to(torch.float64).cpu()
            _check_gains(g, remaining)
            bounds[remaining] = g
            j = int(torch.argmax(g))
            best_idx, best_gain = int(remaining[j]), float(g[j])
        else:
            if not getattr(objective, "stale_bounds_valid", True):
                bounds[remaining] = math.inf
            upper = getattr(objective, "upper_bounds", None)
            if upper is not None:
                ub = upper(remaining).to(torch.float64).cpu()
                _check_gains(ub, remaining)
                bounds[remaining] = torch.minimum(bounds[remaining], ub)
            order = remaining[torch.sort(bounds[remaining], descending=True, stable=True).indices]
            start, size = 0, block_size
            best_idx, best_gain = -1, -math.inf
            while start < order.numel():
                blk = order[start : start + size]
                g = objective.gains(blk).to(torch.float64).cpu()
                _check_gains(g, blk)
                bounds[blk] = g
                j = int(torch.argmax(g))
                if float(g[j]) > best_gain:
                    best_idx, best_gain = int(blk[j]), float(g[j])
                start += blk.numel()
                size *= 2
                if start >= order.numel() or best_gain >= float(bounds[order[start]]):
                    break
        available[best_idx] = False
        chosen.append(best_idx)
        values.append(float(objective.add(best_idx, best_gain)))
    bar.close()
    return JointSelection(torch.tensor(chosen, dtype=torch.long), torch.tensor(values, dtype=torch.float64))


def _check_gains(g: Tensor, cands: Tensor) -> None:
    if g.shape != cands.shape:
        raise CompileError(f"objective.gains returned shape {tuple(g.shape)} for {cands.numel()} candidates")
    if torch.isnan(g).any():
        raise CompileError("objective.gains returned NaN; the objective is not defined for these candidates")


def stochastic_select(
    scores: Tensor,
    k: int,
    *,
    mode: Literal["softmax", "power", "softrank"] = "power",
    beta: float = 1.0,
    seed: int | None = None,
) -> Selection:
    """Stochastic batch acquisition: k points drawn without replacement, ``P(n) prop. q_n``.

    ``mode="softmax"``: ``q_n = exp(beta s_n)``; ``"power"``: ``q_n = s_n^beta`` (scores must be >= 0, as
    for BALD/EPIG; a zero score is drawn only after every positive one); ``"softrank"``: ``q_n = r_n^-beta``
    with ``r_n`` the rank of ``s_n`` (1 = best). ``beta = 1 / temperature >= 0``; ``beta = 0`` is uniform
    sampling, ``beta -> inf`` tends to :func:`topk`. Sampling uses the Gumbel-top-k trick: the k largest
    ``log q_n + G_n``, ``G_n ~ Gumbel(0, 1)``, are an ordered draw without replacement (Plackett-Luce).
    Deterministic for a given ``seed``. ``scores[i]`` of the result is the score of ``indices[i]``.
    """
    _check_scores(scores, k)
    if isinstance(beta, bool) or not isinstance(beta, int | float) or not math.isfinite(beta) or beta < 0:
        raise CompileError(f"beta must be a finite number >= 0 (beta = 1 / temperature), got {beta!r}")
    if mode == "softmax":
        if torch.isinf(scores).any():
            raise CompileError("softmax selection needs finite scores")
        logits = beta * scores
    elif mode == "power":
        if (scores < 0).any():
            bad = (scores < 0).nonzero().flatten()[:5].tolist()
            raise CompileError(
                f"power selection needs scores >= 0 (negative at pool points {bad}); use mode='softmax' "
                "or clamp the scores"
            )
        logits = beta * torch.log(scores) if beta > 0 else torch.zeros_like(scores)
    elif mode == "softrank":
        ranks = torch.empty_like(scores)
        ranks[torch.sort(scores, descending=True, stable=True).indices] = torch.arange(
            1, scores.numel() + 1, dtype=scores.dtype
        )
        logits = -beta * torch.log(ranks)
    else:
        raise CompileError(f"unknown stochastic selection mode {mode!r}; use 'softmax', 'power' or 'softrank'")
    gen = torch.Generator(device=scores.device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    u = torch.rand(scores.shape, generator=gen, dtype=torch.float64, device=scores.device)
    gumbel = -torch.log(-torch.log(u.clamp(1e-300, 1.0 - 1e-16)))
    keys = logits.to(torch.float64) + gumbel
    # -inf keys (zero scores under "power") go last, in Gumbel (i.e. uniformly random) order.
    by_gumbel = torch.sort(gumbel, descending=True).indices
    order = by_gumbel[torch.sort(keys[by_gumbel], descending=True, stable=True).indices][:k]
    return Selection(order.to(torch.long), scores[order])
