"""Batch selection: top-k, and greedy maximisation of a joint score with incremental rank-K updates.

Greedy keeps, for every precision ``Q`` that the candidate enters, the current ``Σ_t = (Q + sum_{selected} F_i)^-1``
and each candidate's ``G_a = U_a^T Σ_t U_a`` (``K x K``). Adding point ``i`` is a rank-``K`` Woodbury downdate
``Σ_{t+1} = Σ_t - V V^T`` with ``V = Σ_t U_i R^-T``, ``R R^T = Id + U_i^T Σ_t U_i``, and each candidate's
``G_a`` changes by ``-(U_a^T V)(U_a^T V)^T``: one ``N x D1 x C K`` product per step, no recomputation from
scratch. By the chain rule of log-determinants the gain of candidate ``a`` given the selected set ``B`` is
``logdet(Q + F_B + F_a) - logdet(Q + F_B) = logdet(Id + G_a)``, so the joint score of every prefix is the sum of
the gains (e.g. the joint EIG ``1/2 logdet(sum_{i in B} F_i H^-1 + Id)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ..errors import CompileError
from ..protocol import progress_bar
from .factors import DenseFactors, Factors, KronFactors
from .linalg import batched_cholesky
from .plan import CK, LogDet
from .run import AtomPrep, Runtime

__all__ = ["greedy", "concat_factors"]


def concat_factors(parts: list[Factors]) -> Factors:
    if all(isinstance(p, KronFactors) for p in parts):
        return KronFactors(torch.cat([p.z for p in parts]), torch.cat([p.L for p in parts]))  # type: ignore[attr-defined]
    return DenseFactors(torch.cat([p.dense() for p in parts]))


@dataclass
class _Track:
    """``Σ_t`` for one precision ``Q`` (candidate weight ``w``), with ``G = w U^T Σ_t U`` for all candidates."""

    w: float
    Sigma: torch.Tensor
    G: torch.Tensor
    omegas: dict[int, list[torch.Tensor]] = field(default_factory=dict)  # id(A0) -> [A0, Ω_t, Hq]


def _quad_all(rt: Runtime, f: Factors, Sigma: torch.Tensor, chunk: int) -> torch.Tensor:
    prep = f.prepare(Sigma) if isinstance(f, KronFactors) else None
    out = [f.select(torch.arange(s, min(s + chunk, f.n))).quad(Sigma, prep) for s in range(0, f.n, chunk)]
    return torch.cat(out) if out else torch.zeros(0, f.K, f.K, dtype=Sigma.dtype)


def greedy(rt: Runtime, f: Factors, k: int, chunk: int, maximize: bool = True,
           progress: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy selection of ``k`` of the ``f.n`` candidates; returns (indices, each point's gain when chosen).

    The joint score of the prefix ``indices[: i + 1]`` is ``rt.constant() + gains[: i + 1].sum()``.
    """
    N, K = f.n, f.K
    if not 0 < k <= N:
        raise CompileError(f"cannot select k={k} of {N} pool points; choose 1 <= k <= {N}")
    dt = rt.adapter.dtype
    tracks: dict[tuple[int, float], _Track] = {}
    const_gain = torch.zeros(N, dtype=dt)
    users: list[tuple[AtomPrep, tuple[int, float]]] = []
    for p in rt.preps:
        if isinstance(p.atom, CK) or (p.w == 0 and p.wB == 0):
            continue
        if isinstance(p.atom, LogDet) or p.wB:
            w = p.w if isinstance(p.atom, LogDet) else p.wB
            assert p.fixed is not None
            key = (id(p.fixed), w)
            if key not in tracks:
                Sigma = p.fixed.Sigma.clone()
                tracks[key] = _Track(w, Sigma, w * _quad_all(rt, f, Sigma, chunk))
            tr = tracks[key]
            if not isinstance(p.atom, LogDet) and p.A0 is not None and id(p.A0) not in tr.omegas:
                Om = p.Omega.clone()  # type: ignore[union-attr]
                tr.omegas[id(p.A0)] = [p.A0, Om, w * _quad_all(rt, f, Om, chunk)]
            users.append((p, key))
        elif p.atom.B is None:  # type: ignore[union-attr]
            const_gain += p.coef * p.w * f.traces()
        else:  # candidate in A, B fixed: additive (R22)
            assert p.fixed is not None
            G0 = _quad_all(rt, f, p.fixed.Sigma, chunk)
            const_gain += p.coef * p.w * G0.diagonal(dim1=-2, dim2=-1).sum(-1)
    eye = torch.eye(K, dtype=dt)
    chosen: list[int] = []
    chosen_gains: list[torch.Tensor] = []
    taken = torch.zeros(N, dtype=torch.bool)
    bar = progress_bar(k, progress, "greedy selection")
    for _ in range(k):
        bar.update(1)
        gains = const_gain.clone()
        chols = {key: batched_cholesky(tr.G + eye, "Id + U^T Σ U (greedy)") for key, tr in tracks.items()}
        for p, key in users:
            R = chols[key]
            if isinstance(p.atom, LogDet):
                gains += p.coef * 2.0 * R.diagonal(dim1=-2, dim2=-1).log().sum(-1)
            elif p.A0 is not None:
                Hq = tracks[key].omegas[id(p.A0)][2]
                gains -= p.coef * torch.cholesky_solve(Hq, R).diagonal(dim1=-2, dim2=-1).sum(-1)
        if not bool(torch.isfinite(gains).all()):
            raise CompileError("greedy selection produced non-finite gains; check the network and the prior")
        obj = gains if maximize else -gains
        obj = obj.masked_fill(taken, -math.inf)
        i = int(torch.argmax(obj))
        chosen.append(i)
        taken[i] = True
        chosen_gains.append(gains[i].clone())
        Ui = f.select(torch.tensor([i])).dense()[0]  # P x K
        for key, tr in tracks.items():
            Ut = math.sqrt(tr.w) * Ui
            R = chols[key][i]
            V = torch.linalg.solve_triangular(R, (tr.Sigma @ Ut).mT, upper=False).mT  # Σ U R^-T
            cV = math.sqrt(tr.w) * f.cross(V)  # [N, K, K]
            tr.G -= cV @ cV.mT
            tr.Sigma -= V @ V.mT
            for entry in tr.omegas.values():
                A0, Om, Hq = entry
                X = torch.linalg.solve_triangular(R, (Om @ Ut).mT, upper=False).mT  # Ω U R^-T
                cX = math.sqrt(tr.w) * f.cross(X)
                s = V.mT @ A0 @ V
                entry[2] = Hq - cV @ cX.mT - cX @ cV.mT + cV @ s @ cV.mT
                entry[1] = Om - V @ X.mT - X @ V.mT + V @ s @ V.mT
    bar.close()
    return torch.tensor(chosen, dtype=torch.long), torch.stack(chosen_gains)
