"""``curvature="lowrank"``: the top ``r`` eigenpairs of the GGN, plus the prior.

``H''[w*|D] ~= V diag(λ) V^T + δ Id`` with ``V`` (``P x r``, orthonormal) and ``λ`` the largest eigenpairs of
``GGN = sum_i U_i U_i^T`` (``U = J^T L``), found by a randomised Nyström eigensolver (Tropp et al., 2017) with
``q`` power iterations: ``q + 1`` passes over the training data, each one block product
``GGN Ω = sum_i J_i^T (L_i L_i^T) (J_i Ω)`` computed per layer (a linear layer's ``J Ω`` is ``G (Ω_w a)``: no
``C x P`` Jacobian). With ``D = diag(λ / (λ + δ))`` the posterior covariance is
``S = (Id - V D V^T) / δ`` (Woodbury), so

* ``logdet H''[w*|D] = sum log(λ + δ) + (P - r) log δ``;
* ``J_a S J_b^T = (J_a J_b^T - (J_a V) D (J_b V)^T) / δ`` -- the plain ``J J^T`` from the layers' inputs and
  output gradients and ``J V`` (``K x r``) per layer.

With ``r = P`` the sketch spans everything and the structure is the full GGN (up to round-off).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from ...errors import CompileError
from .base import CurvatureStructure
from .diag import DiagStructure
from .groups import Layout, Probe

__all__ = ["LowRankStructure", "fit_lowrank", "jacobian_times", "jacobian_transpose_times", "nystrom_eigen"]


def jacobian_times(probe: Probe, layout: Layout, V: torch.Tensor) -> torch.Tensor:
    """``[n, K, m]``: ``J_i V`` for ``V`` ``[P, m]`` (flat parameter order), layer by layer."""
    n, K, m = probe.n, probe.K, V.shape[1]
    out = V.new_zeros(n, K, m)
    for i, g in enumerate(layout.affine):
        A, G = probe.A[i], probe.G[i]
        Vw = V[g.w_offset : g.w_offset + g.d_out * g.d_in]
        if A.shape[1] == 1:
            t = torch.matmul(A[:, 0], Vw.view(g.d_out, g.d_in, m))  # [d_out, n, m]: Ω_w a, no copy of Ω
            out += torch.einsum("nkd,dnm->nkm", G[:, :, 0], t)
        else:
            out += (probe.weight_jacobian(i).reshape(n * K, -1) @ Vw).reshape(n, K, m)
        if g.b_offset is not None:
            out += probe.bias_jacobian(i) @ V[g.b_offset : g.b_offset + g.d_out]
    if layout.generic is not None and probe.J is not None:
        out += probe.J @ V[layout.generic.index()]
    return out


def jacobian_transpose_times(probe: Probe, layout: Layout, X: torch.Tensor,
                             out: torch.Tensor | None = None) -> torch.Tensor:
    """``[P, m]``: ``sum_i J_i^T X_i`` for ``X`` ``[n, K, m]``, added to ``out`` in place when given."""
    n, K, m = X.shape
    if out is None:
        out = X.new_zeros(layout.P, m)
    Xf = X.reshape(n * K, m)
    for i, g in enumerate(layout.affine):
        A, G = probe.A[i], probe.G[i]
        w = out[g.w_offset : g.w_offset + g.d_out * g.d_in]
        if A.shape[1] == 1:
            Y = torch.einsum("nkm,nkd->dnm", X, G[:, :, 0])  # [d_out, n, m]
            w.view(g.d_out, g.d_in, m).baddbmm_(A[:, 0].mT.expand(g.d_out, -1, -1), Y)  # += sum_n a_n Y_n
        else:
            w.addmm_(probe.weight_jacobian(i).reshape(n * K, -1).mT, Xf)
        if g.b_offset is not None:
            out[g.b_offset : g.b_offset + g.d_out].addmm_(probe.bias_jacobian(i).reshape(n * K, -1).mT, Xf)
    if layout.generic is not None and probe.J is not None:
        idx = layout.generic.index()
        out[idx] += probe.J.reshape(n * K, -1).mT @ Xf
    return out


def nystrom_eigen(matmat: Callable[[torch.Tensor], torch.Tensor], P: int, r: int, dtype: torch.dtype,
                  power: int = 1, oversample: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``r`` largest eigenpairs ``(λ, V)`` of a PSD ``P x P`` operator by a randomised Nyström approximation.

    ``Ω`` (``P x l``, ``l = min(r + oversample, P)``) orthonormal; ``power`` times ``Ω <- orth(A Ω)``; then
    ``Y = A Ω``, shift ``ν = √P eps ||Y||``, ``C = chol(Ω^T (Y + ν Ω))``, ``B = (Y + ν Ω) C^-T``, ``B = U Σ W^T``:
    ``A ~= U (Σ^2 - ν) U^T``. ``power + 1`` products with ``A``.
    """
    l = min(r + oversample, P)
    g = torch.Generator().manual_seed(seed)
    Om = _orth(torch.randn(P, l, generator=g, dtype=dtype))
    for _ in range(power):
        Om = _orth(matmat(Om))
    Y = matmat(Om)
    nu = math.sqrt(P) * torch.finfo(dtype).eps * float(torch.linalg.matrix_norm(Y))
    Y = Y + nu * Om
    core = Om.mT @ Y
    R, info = torch.linalg.cholesky_ex(0.5 * (core + core.mT))
    if int(info) != 0:
        lam_c, Q_c = torch.linalg.eigh(0.5 * (core + core.mT))  # semi-definite round-off: a pseudo-inverse root
        keep = lam_c > lam_c.max() * torch.finfo(dtype).eps * l
        B = Y @ (Q_c[:, keep] / lam_c[keep].sqrt())
    else:
        B = Y @ torch.linalg.inv(R.double()).mT.to(dtype)  # Y C^-T: a GEMM (a tall triangular solve is slow)
    # B = U diag(s) W^T from the small Gram B^T B = W diag(s^2) W^T (in float64): U = B W / s
    s2, W = torch.linalg.eigh((B.mT @ B).double())
    s2, W = s2.flip(0)[:r].clamp_min(0.0), W.flip(1)[:, :r]
    keep = s2 > s2[0] * torch.finfo(dtype).eps * 10 if s2.numel() and s2[0] > 0 else s2 > 0
    U = torch.zeros(P, r, dtype=dtype)
    U[:, keep] = B @ (W[:, keep] / s2[keep].sqrt()).to(dtype)  # orthonormal: U^T U = S^-1 W^T B^T B W S^-1 = Id
    lam = (s2.to(dtype) - nu).clamp_min(0.0) * keep
    return lam, U


def _orth(Y: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis of the columns of a tall ``Y`` by Cholesky-QR (two GEMMs on ``Y`` and an ``m x m``
    factorisation in float64; faster than Householder QR at ``P = 10^6``); Householder QR where the Gram is too
    ill-conditioned for it."""
    Gm = (Y.mT @ Y).double()
    R, info = torch.linalg.cholesky_ex(0.5 * (Gm + Gm.mT))
    if int(info) != 0 or float(R.diagonal().min()) < 1e-6 * float(R.diagonal().max()):
        return torch.linalg.qr(Y).Q
    return Y @ torch.linalg.inv(R).mT.to(Y.dtype)  # Y R^-T: a GEMM with the small inverse factor


class LowRankStructure(CurvatureStructure):
    """``V diag(λ) V^T + δ Id`` with ``V`` ``[P, r]`` orthonormal."""

    name = "lowrank"

    def __init__(self, layout: Layout, V: torch.Tensor, lam: torch.Tensor, delta: float, dtype: torch.dtype):
        super().__init__(layout, delta, dtype)
        self.V, self.lam = V, lam
        self.r = int(lam.shape[0])
        self._D = lam / (lam + delta)
        self._euclid = DiagStructure.identity(layout, dtype)

    def describe(self) -> str:
        top = f"{float(self.lam[0]):.3g}" if self.r else "-"
        return f"lowrank: top {self.r} GGN eigenpairs (largest {top}) + prior over {self.layout.describe()}"

    def with_prior(self, delta: float) -> LowRankStructure:
        return LowRankStructure(self.layout, self.V, self.lam, delta, self.dtype)

    def logdet(self) -> torch.Tensor:
        d = float(self.delta)
        return torch.log(self.lam + d).sum() + (self.P - self.r) * math.log(d)

    def solve(self, v: torch.Tensor) -> torch.Tensor:
        vec = v.dim() == 1
        V = v[:, None] if vec else v
        out = (V - self.V @ (self._D[:, None] * (self.V.mT @ V))) / float(self.delta)
        return out[:, 0] if vec else out

    def quad(self, probe: Probe) -> torch.Tensor:
        JV = jacobian_times(probe, self.layout, self.V)
        return (self._euclid.quad(probe) - (JV * self._D) @ JV.mT) / float(self.delta)

    def cross(self, a: Probe, b: Probe) -> torch.Tensor:
        JVa = jacobian_times(a, self.layout, self.V)
        JVb = jacobian_times(b, self.layout, self.V)
        low = torch.einsum("akr,blr->akbl", JVa * self._D, JVb)
        return (self._euclid.cross(a, b) - low) / float(self.delta)

    def nbytes(self) -> int:
        return self.V.numel() * self.V.element_size()


def fit_lowrank(layout: Layout, probes: Callable[[], Iterable[Probe]], rank: int, delta: float, dtype: torch.dtype,
                power: int = 1) -> LowRankStructure:
    """Top-``rank`` GGN eigenpairs from the training points (``probes()`` yields their Fisher-factor probes afresh
    for every pass), plus the prior ``δ``."""
    if not (isinstance(rank, int) and not isinstance(rank, bool) and 1 <= rank <= layout.P):
        raise CompileError(f"rank must be an int with 1 <= rank <= P = {layout.P} for curvature='lowrank', "
                           f"got {rank!r}")

    def matmat(Om: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(Om)
        for pr in probes():
            jacobian_transpose_times(pr, layout, jacobian_times(pr, layout, Om), out=out)
        return out

    lam, V = nystrom_eigen(matmat, layout.P, rank, dtype, power=power)
    return LowRankStructure(layout, V, lam, delta, dtype)
