"""``curvature="full"`` as a structure object: the dense ``P x P`` posterior precision, for small networks.

``H''[w*|D] = sum_i U_i U_i^T + δ Id`` (``U = J^T L``, the per-point Jacobians formed from the layers' inputs and
output gradients), its Cholesky factor once, and ``S = H''[w*|D]^-1`` formed from it; ``J_a S J_b^T`` with the
Jacobians themselves. The compiler's dense path (``inf.compile(..., curvature="full")``) computes the same matrix
with ``torch.func``; this object gives the dense form the interface of the other structures (tests, the lowrank
check at ``r = P``).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..linalg import cholesky, inverse_from_cholesky, logdet_from_cholesky
from .base import CurvatureStructure
from .groups import Layout, Probe

__all__ = ["FullStructure", "fit_full", "dense_ggn"]


class FullStructure(CurvatureStructure):
    """``GGN + δ Id`` as a dense matrix."""

    name = "full"

    def __init__(self, layout: Layout, ggn: torch.Tensor, delta: float | torch.Tensor, dtype: torch.dtype):
        super().__init__(layout, delta, dtype)
        self.ggn = ggn
        H = ggn.clone()
        H.diagonal().add_(delta if not isinstance(delta, torch.Tensor) else delta.to(dtype))
        self.H = H
        self.R = cholesky(H, "H''[w*|D]")
        self.Sigma = inverse_from_cholesky(self.R)

    def describe(self) -> str:
        return f"full: dense {self.P}x{self.P} GGN + prior over {self.layout.describe()}"

    def with_prior(self, delta: float | torch.Tensor) -> FullStructure:
        return FullStructure(self.layout, self.ggn, delta, self.dtype)

    def logdet(self) -> torch.Tensor:
        return logdet_from_cholesky(self.R)

    def solve(self, v: torch.Tensor) -> torch.Tensor:
        vec = v.dim() == 1
        out = torch.cholesky_solve(v[:, None] if vec else v, self.R)
        return out[:, 0] if vec else out

    def dense(self) -> torch.Tensor:
        return self.H

    def quad(self, probe: Probe) -> torch.Tensor:
        J = probe.jacobian(self.layout)
        return J @ self.Sigma @ J.mT

    def cross(self, a: Probe, b: Probe) -> torch.Tensor:
        Ja, Jb = a.jacobian(self.layout), b.jacobian(self.layout)
        return torch.einsum("akp,pq,blq->akbl", Ja, self.Sigma, Jb)

    def nbytes(self) -> int:
        return 3 * self.P * self.P * self.H.element_size()


def dense_ggn(layout: Layout, probes: Iterable[Probe], dtype: torch.dtype) -> torch.Tensor:
    """``sum_i U_i U_i^T`` (``P x P``) from Fisher-factor probes."""
    S = torch.zeros(layout.P, layout.P, dtype=dtype)
    for pr in probes:
        U = pr.jacobian(layout).reshape(-1, layout.P).to(dtype)
        S += U.mT @ U
    return 0.5 * (S + S.mT)


def fit_full(layout: Layout, probes: Iterable[Probe], delta: float | torch.Tensor, dtype: torch.dtype) -> FullStructure:
    return FullStructure(layout, dense_ggn(layout, probes, dtype), delta, dtype)
