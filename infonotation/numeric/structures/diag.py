"""``curvature="diag"``: the exact diagonal of the GGN, plus the prior, on every parameter.

``H''[w*|D] ~= diag(sum_i J_i^T Λ_i J_i) + δ Id`` (laplace-torch's ``hessian_structure="diag"`` with its default
GGN back-end computes the same diagonal). The diagonal is accumulated per layer from the Fisher factors
``U = J^T L`` (``L L^T = Λ``) without the Jacobian of a network: for a linear layer
``diag_w = sum_{i,k} (g_ik)^2 ⊗ (a_i)^2`` (one ``d_out x d_in`` product per chunk), for a convolution the squares
of the per-point weight Jacobians ``sum_t G_k[t]^T A[t]``, for every other parameter the squared ``torch.func``
Jacobian columns. The per-point ``J S J^T`` is the rotated-diagonal kernel with no rotation
(:mod:`~infonotation.numeric.structures.base`).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from .groups import Layout, Probe
from .layerwise import LayerEigen, LayerwiseStructure

__all__ = ["DiagStructure", "fit_diag", "ggn_diagonal"]


class DiagStructure(LayerwiseStructure):
    """``diag(GGN) + δ``: every parameter its own variance ``1 / (GGN_pp + δ_p)``."""

    name = "diag"

    def describe(self) -> str:
        return f"diag: the GGN's diagonal + prior over {self.layout.describe()}"

    @classmethod
    def identity(cls, layout: Layout, dtype: torch.dtype) -> DiagStructure:
        """``S = Id`` (no curvature, ``δ = 1``): its ``quad`` is the plain ``J J^T``."""
        layers = [LayerEigen(torch.zeros(g.d_out, g.d_in, dtype=dtype),
                             torch.zeros(g.d_out, dtype=dtype) if g.has_bias else None) for g in layout.affine]
        e_g = torch.zeros(layout.generic.p, dtype=dtype) if layout.generic is not None else None
        return cls(layout, layers, e_g, 1.0, dtype)


def ggn_diagonal(layout: Layout, probes: Iterable[Probe], dtype: torch.dtype) -> tuple[list[LayerEigen],
                                                                                        torch.Tensor | None]:
    """The GGN's diagonal per group from Fisher-factor probes (``probe.mix(L)``), summed over the points."""
    e_w = [torch.zeros(g.d_out, g.d_in, dtype=dtype) for g in layout.affine]
    e_b = [torch.zeros(g.d_out, dtype=dtype) if g.has_bias else None for g in layout.affine]
    e_g = torch.zeros(layout.generic.p, dtype=dtype) if layout.generic is not None else None
    for pr in probes:
        for i, g in enumerate(layout.affine):
            A, G = pr.A[i], pr.G[i]
            if A.shape[1] == 1:
                e_w[i] += G[:, :, 0].square().sum(1).mT @ A[:, 0].square()
            else:
                e_w[i] += pr.weight_jacobian(i).square().sum((0, 1))
            if g.has_bias:
                e_b[i] += pr.bias_jacobian(i).square().sum((0, 1))  # type: ignore[operator]
        if e_g is not None and pr.J is not None:
            e_g += pr.J.square().sum((0, 1))
    return [LayerEigen(w, b) for w, b in zip(e_w, e_b)], e_g


def fit_diag(layout: Layout, probes: Iterable[Probe], delta: float | torch.Tensor, dtype: torch.dtype) -> DiagStructure:
    """``diag(sum_i U_i U_i^T) + δ`` from the training points' Fisher-factor probes."""
    layers, e_g = ggn_diagonal(layout, probes, dtype)
    return DiagStructure(layout, layers, e_g, delta, dtype)
