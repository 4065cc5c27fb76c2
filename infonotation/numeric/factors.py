"""Low-rank factors of per-point Fisher information: ``F_i = U_i U_i^T`` with ``U_i`` of shape ``P x K``.

Two representations with the same operations:

* :class:`KronFactors` (last layer): ``U_i = L_i ⊗ z_i`` where ``z_i`` are the (bias-augmented) features of
  point ``i`` and ``L_i L_i^T = Λ_i`` is the Hessian of the negative log-likelihood in the logits (R16). The
  parameter order inside is ``(class c, feature j)`` with index ``c * D1 + j``. Nothing of size
  ``n x P x P`` is ever built; ``U_i^T Σ U_i = L_i^T M_i L_i`` with ``M_i[c, c'] = z_i^T Σ_{cc'} z_i``.
* :class:`DenseFactors` (whole network): ``U_i = J_i^T L_i`` stored as ``[n, P, K]``.
"""

from __future__ import annotations

import torch

__all__ = ["Factors", "KronFactors", "DenseFactors", "PreparedKron"]


class PreparedKron:
    """A ``P x P`` matrix ``Σ`` laid out as ``[D1, C*C*D1]`` for the Kronecker quadratic form (done once)."""

    def __init__(self, Sigma: torch.Tensor, C: int, D1: int):
        self.C, self.D1 = C, D1
        # Σ[(c, j), (c', j')] -> [j, (c, c', j')]
        self.layout = Sigma.reshape(C, D1, C, D1).permute(1, 0, 2, 3).reshape(D1, C * C * D1).contiguous()


class Factors:
    """Interface: ``n`` points, ``P`` parameters, rank ``K`` per point."""

    n: int
    P: int
    K: int

    def quad(self, Sigma: torch.Tensor, prepared: PreparedKron | None = None) -> torch.Tensor:
        """``[n, K, K]``: ``U_i^T Σ U_i`` for every point."""
        raise NotImplementedError

    def cross(self, V: torch.Tensor) -> torch.Tensor:
        """``[n, K, m]``: ``U_i^T V`` for a ``P x m`` matrix ``V``."""
        raise NotImplementedError

    def dense(self) -> torch.Tensor:
        """``[n, P, K]``: the factors themselves (for small batches and tests)."""
        raise NotImplementedError

    def outer_sum(self) -> torch.Tensor:
        """``[P, P]``: ``sum_i U_i U_i^T``, the summed Fisher information of the points."""
        raise NotImplementedError

    def traces(self) -> torch.Tensor:
        """``[n]``: ``tr(U_i U_i^T) = ||U_i||_F^2``."""
        raise NotImplementedError

    def select(self, idx: torch.Tensor) -> Factors:
        raise NotImplementedError

    def quad_flops(self) -> int:
        """Floating-point operations of :meth:`quad` (multiply-adds count two)."""
        raise NotImplementedError


class KronFactors(Factors):
    """``U_i = L_i ⊗ z_i``: features ``z`` of shape ``[n, D1]``, logit factors ``L`` of shape ``[n, C, K]``."""

    def __init__(self, z: torch.Tensor, L: torch.Tensor):
        self.z, self.L = z, L
        self.n, self.D1 = z.shape
        self.C, self.K = L.shape[1], L.shape[2]
        self.P = self.C * self.D1

    def prepare(self, Sigma: torch.Tensor) -> PreparedKron:
        return PreparedKron(Sigma, self.C, self.D1)

    def quad(self, Sigma: torch.Tensor, prepared: PreparedKron | None = None) -> torch.Tensor:
        prep = prepared if prepared is not None else self.prepare(Sigma)
        n, C, D1 = self.n, self.C, self.D1
        T = (self.z @ prep.layout).view(n, C * C, D1)  # the main contraction: one GEMM
        M = torch.bmm(T, self.z.unsqueeze(-1)).view(n, C, C)  # M_i[c, c'] = z_i^T Σ_{cc'} z_i
        return self.L.mT @ M @ self.L

    def cross(self, V: torch.Tensor) -> torch.Tensor:
        m = V.shape[1]
        W = self.z @ V.reshape(self.C, self.D1, m).permute(1, 0, 2).reshape(self.D1, self.C * m)
        return self.L.mT @ W.view(self.n, self.C, m)

    def dense(self) -> torch.Tensor:
        return torch.einsum("nck,nj->ncjk", self.L, self.z).reshape(self.n, self.P, self.K)

    def outer_sum(self) -> torch.Tensor:
        C, D1 = self.C, self.D1
        Lam = (self.L @ self.L.mT).reshape(self.n, C * C)
        zz = (self.z.unsqueeze(-1) * self.z.unsqueeze(-2)).reshape(self.n, D1 * D1)
        S = (Lam.mT @ zz).view(C, C, D1, D1).permute(0, 2, 1, 3).reshape(self.P, self.P)
        return 0.5 * (S + S.mT)

    def traces(self) -> torch.Tensor:
        return self.L.square().sum((-2, -1)) * self.z.square().sum(-1)

    def select(self, idx: torch.Tensor) -> KronFactors:
        return KronFactors(self.z[idx], self.L[idx])

    def quad_flops(self) -> int:
        return 2 * self.n * self.D1 * self.C * self.C * self.D1


class DenseFactors(Factors):
    """Explicit factors ``U`` of shape ``[n, P, K]``."""

    def __init__(self, U: torch.Tensor):
        self.U = U
        self.n, self.P, self.K = U.shape

    def quad(self, Sigma: torch.Tensor, prepared: PreparedKron | None = None) -> torch.Tensor:
        return self.U.mT @ (Sigma @ self.U)

    def cross(self, V: torch.Tensor) -> torch.Tensor:
        return self.U.mT @ V

    def dense(self) -> torch.Tensor:
        return self.U

    def outer_sum(self) -> torch.Tensor:
        A = self.U.permute(1, 0, 2).reshape(self.P, self.n * self.K)
        S = A @ A.mT
        return 0.5 * (S + S.mT)

    def traces(self) -> torch.Tensor:
        return self.U.square().sum((-2, -1))

    def select(self, idx: torch.Tensor) -> DenseFactors:
        return DenseFactors(self.U[idx])

    def quad_flops(self) -> int:
        return 2 * self.n * self.P * self.P * self.K + 2 * self.n * self.P * self.K * self.K
