"""The interface every curvature structure follows, and the per-layer kernel that diag and kron share.

A structure holds the posterior precision ``H''[w*|D] = GGN + δ Id`` (``δ`` the prior precision) of a whole
network in some form, and answers the same few questions without a ``P x P`` matrix:

* :meth:`~CurvatureStructure.with_prior` -- the same curvature with another ``δ`` (the prior added exactly);
* :meth:`~CurvatureStructure.logdet` -- ``logdet H''[w*|D]``;
* :meth:`~CurvatureStructure.solve` -- ``H''[w*|D]^-1 v`` (flat parameter order, ``named_parameters``);
* :meth:`~CurvatureStructure.quad` -- the per-point ``K x K`` form ``J_x S J_x^T`` (``S = H''[w*|D]^-1``, the
  posterior covariance) from each layer's inputs and output gradients (a :class:`~.groups.Probe`);
* :meth:`~CurvatureStructure.cross` -- ``J_a S J_b^T`` between two sets of points (batches, eval sets, greedy).

**The rotated-diagonal kernel.** Within one affine layer both the diagonal and the Kronecker-factored covariance
are diagonal in some basis: ``S_layer = (R_out ⊗ R_in) diag(v) (R_out ⊗ R_in)^T`` with orthogonal ``R_out``
(``d_out x d_out``), ``R_in`` (``d_in x d_in``) and variances ``v`` (``[d_out, d_in]``); the bias block is
``R_out diag(v_b) R_out^T``. (Diagonal: ``R = Id``, ``v = 1 / (diag GGN + δ)``. Kronecker: the eigenvectors of the
two factors and ``v = 1 / (λ_G ⊗ λ_A + δ)``.) With rotated data ``Ã = A R_in``, ``G̃ = G R_out``:

* one position (a linear layer, ``J_k = g_k a^T``): ``J_k S J_l^T = sum_i G̃[k,i] G̃[l,i] (v ã²)[i]`` -- the quadratic
  form is ``G̃ diag(v ã² + v_b) G̃^T``, ``O(K d_out^2 + d_in^2 + d_out d_in + K^2 d_out)`` per point and never a
  ``K x P`` matrix; between two points ``a, b``: ``sum_i G̃_a[k,i] G̃_b[l,i] (v (ã_a ∘ ã_b))[i]``;
* ``T`` positions (a convolution): the rotated weight Jacobian ``W̃_k = G̃_k^T Ã`` (``d_out x d_in``, per layer
  only), scaled by ``√v``: ``Φ_k = √v ∘ W̃_k``, and ``J S J^T = Φ Φ^T``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from .groups import Layout, Probe

__all__ = ["CurvatureStructure", "AffineCov", "affine_quad", "affine_cross", "affine_features", "PAIR_BUDGET"]

#: Largest number of entries of the ``[na, nb, d]`` temporaries of a cross form (the rest is done in blocks).
PAIR_BUDGET = 1 << 24


class CurvatureStructure(ABC):
    """``H''[w*|D] = GGN + δ Id`` of a whole network in a structured form (see the module docs)."""

    #: the structure's name: ``"full"``, ``"diag"``, ``"kron"`` or ``"lowrank"``
    name: str = ""

    def __init__(self, layout: Layout, delta: float | torch.Tensor, dtype: torch.dtype):
        self.layout, self.delta, self.dtype = layout, delta, dtype
        self.P = layout.P

    @abstractmethod
    def with_prior(self, delta: float) -> CurvatureStructure:
        """The same GGN with the prior precision ``δ Id`` instead (nothing is refitted)."""

    @abstractmethod
    def logdet(self) -> torch.Tensor:
        """``logdet(GGN + δ Id)``."""

    @abstractmethod
    def solve(self, v: torch.Tensor) -> torch.Tensor:
        """``(GGN + δ Id)^-1 v`` for ``v`` of shape ``[P]`` or ``[P, m]`` (flat parameter order)."""

    @abstractmethod
    def quad(self, probe: Probe) -> torch.Tensor:
        """``[n, K, K]``: ``J_x S J_x^T`` for every point of the probe (``S`` the posterior covariance)."""

    @abstractmethod
    def cross(self, a: Probe, b: Probe) -> torch.Tensor:
        """``[na, Ka, nb, Kb]``: ``J_a S J_b^T`` between the points of two probes."""

    def dense(self) -> torch.Tensor:
        """``GGN + δ Id`` as a ``P x P`` matrix (for small networks and tests): the solve of the identity, inverted."""
        eye = torch.eye(self.P, dtype=self.dtype)
        S = self.solve(eye)
        return torch.linalg.inv(0.5 * (S + S.mT))

    def describe(self) -> str:
        return f"{self.name} curvature over {self.layout.describe()}"

    def nbytes(self) -> int:
        """Memory held by the structure (bytes)."""
        return 0


# -- the rotated-diagonal kernel of one affine layer -------------------------------------------------------
@dataclass
class AffineCov:
    """``S`` of one affine layer: ``(R_out ⊗ R_in) diag(var_w) (R_out ⊗ R_in)^T`` and bias ``R_out diag(var_b)
    R_out^T``; ``R_out``/``R_in`` None mean the identity."""

    var_w: torch.Tensor  # [d_out, d_in]
    var_b: torch.Tensor | None  # [d_out]
    R_out: torch.Tensor | None = None
    R_in: torch.Tensor | None = None

    def __post_init__(self) -> None:
        self.sd_w = self.var_w.sqrt()
        self.sd_b = self.var_b.sqrt() if self.var_b is not None else None

    def rotate(self, A: torch.Tensor, G: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``Ã = A R_in``, ``G̃ = G R_out``."""
        if self.R_in is not None:
            A = A @ self.R_in
        if self.R_out is not None:
            G = G @ self.R_out
        return A, G

    def nbytes(self) -> int:
        ts = [t for t in (self.var_w, self.var_b, self.R_out, self.R_in) if t is not None]
        return sum(t.numel() * t.element_size() for t in ts)


def _rotated_weight_jacobian(cov: AffineCov, A: torch.Tensor, G: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``W̃_k = R_out^T (sum_t G_k[t]^T A[t]) R_in`` ``[n, K, d_out, d_in]`` and the rotated bias rows ``[n, K, d_out]``.

    Each rotation is applied on the cheaper side: to the data before the sum over positions (``T d_in^2``,
    ``K T d_out^2``) or to the summed Jacobian after it (``K d_out d_in^2``, ``K d_out^2 d_in``).
    """
    n, K, T, d_out = G.shape
    d_in = A.shape[2]
    in_before = cov.R_in is not None and T * d_in <= K * d_out * d_in
    out_before = cov.R_out is not None and T <= d_in
    if in_before:
        A = A @ cov.R_in
    if T == 1:
        if out_before:
            G = G @ cov.R_out
        W = G[:, :, 0, :, None] * A[:, None, 0, None, :]
        b = G[:, :, 0]
    else:
        Gt = G.transpose(2, 3)  # [n, K, d_out, T]: contiguous as the probe stores a convolution's gradients
        if out_before:
            Gt = torch.matmul(cov.R_out.mT, Gt)
        W = torch.bmm(Gt.reshape(n, K * d_out, T), A).reshape(n, K, d_out, d_in)
        b = Gt.sum(3)
    if cov.R_in is not None and not in_before:
        W = W @ cov.R_in
    if cov.R_out is not None and not out_before:
        W = cov.R_out.mT @ W
        b = b @ cov.R_out
    return W, b


def affine_features(cov: AffineCov, A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """``[n, K, d_out d_in (+ d_out)]``: ``Φ`` with ``Φ_a Φ_b^T = J_a S J_b^T`` for this layer (``√v ∘ W̃``, bias)."""
    n, K = G.shape[:2]
    W, b = _rotated_weight_jacobian(cov, A, G)
    W = W.mul_(cov.sd_w).reshape(n, K, -1)
    if cov.sd_b is None:
        return W
    return torch.cat([W, b * cov.sd_b], 2)


def affine_quad(cov: AffineCov, A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """``[n, K, K]``: ``J S J^T`` of this layer's parameters for every point."""
    if A.shape[1] == 1:
        A, G = cov.rotate(A, G)
        w = A[:, 0].square() @ cov.var_w.mT  # [n, d_out]: (v ã²)_i
        if cov.var_b is not None:
            w = w + cov.var_b
        g = G[:, :, 0]  # [n, K, d_out]
        return (g * w[:, None, :]) @ g.mT
    n, K = G.shape[:2]
    W, b = _rotated_weight_jacobian(cov, A, G)
    Phi = W.mul_(cov.sd_w).reshape(n, K, -1)  # in place: the chunk's largest temporary is not copied
    M = Phi @ Phi.mT
    if cov.var_b is not None:
        M = M + (b * cov.var_b) @ b.mT
    return M


def affine_cross(cov: AffineCov, Aa: torch.Tensor, Ga: torch.Tensor, Ab: torch.Tensor,
                 Gb: torch.Tensor) -> torch.Tensor:
    """``[na, Ka, nb, Kb]``: ``J_a S J_b^T`` of this layer's parameters."""
    na, nb = Aa.shape[0], Ab.shape[0]
    if Aa.shape[1] == 1 and Ab.shape[1] == 1:
        Aa, Ga = cov.rotate(Aa, Ga)
        Ab, Gb = cov.rotate(Ab, Gb)
        a, b = Aa[:, 0], Ab[:, 0]
        ga, gb = Ga[:, :, 0], Gb[:, :, 0]  # [na, Ka, d_out], [nb, Kb, d_out]
        d_in, d_out = a.shape[1], ga.shape[2]
        step = max(1, PAIR_BUDGET // max(na * max(d_in, d_out * ga.shape[1]), 1))
        parts = []
        for s in range(0, nb, step):
            bb, gbb = b[s : s + step], gb[s : s + step]
            E = (a[:, None, :] * bb[None, :, :]) @ cov.var_w.mT  # [na, nb', d_out]
            if cov.var_b is not None:
                E = E + cov.var_b
            # sum_i ga[a,k,i] E[a,b,i] gb[b,l,i]
            parts.append(torch.einsum("aki,abi,bli->akbl", ga, E, gbb))
        return torch.cat(parts, 2)
    Pa = affine_features(cov, Aa, Ga)
    Pb = affine_features(cov, Ab, Gb)
    return torch.einsum("akp,blp->akbl", Pa, Pb)
