"""``curvature="kron"``: Kronecker-factored GGN per affine layer (KFAC), the prior added in the factors' eigenbasis.

For a layer with inputs ``a`` (``d_in``; for a convolution the im2col patches at each of its ``T`` output positions)
and output gradients ``g`` of the Fisher factors' rows (``U = J^T L``, ``L L^T = Λ``), the GGN block of its weight is
approximated as

    B ⊗ A,   A = 1/(N T) sum_{i,t} a_it a_it^T   (d_in x d_in),   B = sum_{i,k,t} g_ikt g_ikt^T   (d_out x d_out),

the weight flattened row-major (``[d_out, d_in]``), and the bias block is ``B``. This is KFAC-"expand" with the
exact (type-2) Fisher, the convention of curvlinops' ``KFACLinearOperator`` that laplace-torch 0.3 uses for
``hessian_structure="kron"`` (``subset_of_weights="all"``; the same as laplace-torch fitted on one batch holding
all training points -- laplace-torch sums the factors of several batches separately, ``sum B_b ⊗ sum A_b``).
With ``A = Q_A diag(λ_A) Q_A^T`` and ``B = Q_G diag(λ_G) Q_G^T`` the posterior precision of the block is
``(Q_G ⊗ Q_A) diag(λ_G ⊗ λ_A + δ) (Q_G ⊗ Q_A)^T`` -- the prior ``δ`` added exactly in the eigenbasis, as
laplace-torch's ``KronDecomposed`` does -- so ``logdet = sum log(λ_G ⊗ λ_A + δ) + sum log(λ_G + δ)`` and the
per-point form is the rotated-diagonal kernel of :mod:`~infonotation.numeric.structures.base`.

Parameters outside ``nn.Linear`` / ``nn.Conv2d`` layers (BatchNorm, LayerNorm, embeddings, grouped convolutions)
get their exact GGN diagonal (documented; the compiler warns which).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from .groups import Layout, Probe
from .layerwise import LayerEigen, LayerwiseStructure

__all__ = ["KronStructure", "fit_kron", "kron_factors"]


class KronStructure(LayerwiseStructure):
    """``B ⊗ A + δ`` per affine layer (its bias ``B + δ``), the GGN diagonal + ``δ`` elsewhere."""

    name = "kron"

    def describe(self) -> str:
        extra = ""
        if self.layout.generic is not None:
            extra = f"; {self.layout.generic.p} other parameter(s) diagonal"
        return f"kron: Kronecker factors per layer, prior in their eigenbasis, over {self.layout.describe()}{extra}"


def kron_factors(layout: Layout, probes: Iterable[Probe], dtype: torch.dtype) -> tuple[
        list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor | None, int]:
    """``[(A, B)]`` per affine layer (``A`` not yet divided by ``N``), the generic GGN diagonal, and ``N``."""
    A_f = [torch.zeros(g.d_in, g.d_in, dtype=dtype) for g in layout.affine]
    B_f = [torch.zeros(g.d_out, g.d_out, dtype=dtype) for g in layout.affine]
    e_g = torch.zeros(layout.generic.p, dtype=dtype) if layout.generic is not None else None
    N = 0
    for pr in probes:
        N += pr.n
        for i, g in enumerate(layout.affine):
            A, G = pr.A[i], pr.G[i]  # each chunk's products in the probe's dtype, summed in ``dtype``
            T_call = A.shape[1] // max(pr.calls[i] if pr.calls else 1, 1)
            a = A.reshape(-1, g.d_in)
            A_f[i] += (a.mT @ a).to(dtype) / T_call
            gg = G.reshape(-1, g.d_out)
            B_f[i] += (gg.mT @ gg).to(dtype)
        if e_g is not None and pr.J is not None:
            e_g += pr.J.square().sum((0, 1)).to(dtype)
    return list(zip(A_f, B_f)), e_g, N


def _eigh(M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lam, Q = torch.linalg.eigh(0.5 * (M + M.mT))
    return lam.clamp_min(0.0), Q


def fit_kron(layout: Layout, probes: Iterable[Probe], delta: float, dtype: torch.dtype) -> KronStructure:
    """The Kronecker-factored posterior precision from the training points' Fisher-factor probes.

    The factors are accumulated and eigendecomposed in float64; the result is kept in ``dtype``.
    """
    factors, e_g, N = kron_factors(layout, probes, torch.float64)
    layers = []
    for (A, B), g in zip(factors, layout.affine):
        if N == 0:
            layers.append(LayerEigen(torch.zeros(g.d_out, g.d_in, dtype=dtype),
                                     torch.zeros(g.d_out, dtype=dtype) if g.has_bias else None))
            continue
        lA, QA = _eigh(A / N)
        lG, QG = _eigh(B)
        e_w = torch.outer(lG, lA).to(dtype)
        layers.append(LayerEigen(e_w, lG.to(dtype) if g.has_bias else None, QG.to(dtype), QA.to(dtype)))
    return KronStructure(layout, layers, e_g.to(dtype) if e_g is not None else None, delta, dtype)
