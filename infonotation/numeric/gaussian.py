"""Closed forms under the linearised Gaussian posterior of a network with a Gaussian likelihood (regression).

Model: ``y = f(x; w) + eps``, ``eps ~ N(0, sigma^2 Id_D)``, and the Laplace/GGN posterior ``w ~ N(w*, Σ)`` with
``Σ^-1 = H''[w*|D] = sum_i J_i^T J_i / sigma^2 + H''[w*]`` (R12, R14), linearised ``f(x; w) ~= f(x; w*) +
J_x (w - w*)``. Then the labels are jointly Gaussian with

    Cov[Y_a, Y_b] = J_a Σ J_b^T + sigma^2 1[a = b] Id_D.

With the Fisher factor ``U_a = J_a^T / sigma`` (``H''[Y|x_a,w*] = U_a U_a^T``) and everything in units of
``sigma^2``: ``Cov[Y_a] / sigma^2 = Id + U_a^T Σ U_a`` and ``Cov[Y_a, Y_b] / sigma^2 = U_a^T Σ U_b``. The quantities:

* ``I[W;Y|x] = 1/2 logdet(Id + U_x^T Σ U_x)`` (= ``1/2 log(1 + var_f(x) / sigma^2)`` for one output; the weight-space
  form ``1/2 logdet(H''[Y|x,w*] H''[w*|D]^-1 + Id)`` of R20 by the determinant lemma, so it is compiled there);
* ``I[Y_e;Y|x,x_e] = 1/2 logdet B - 1/2 logdet(B - C^T A^-1 C)`` with ``A = Cov[Y]``, ``B = Cov[Y_e]``,
  ``C = Cov[Y, Y_e]`` (the mutual information of jointly Gaussian vectors; for one output
  ``-1/2 log(1 - c^2 / (a b))``), and EPIG is its mean over the evaluation inputs (:class:`GaussianPredictive`).

Because a Gaussian's conditional covariance does not depend on the observed value, the label-aware versions
(``I[W;y|x]``, ``I[Y_e;y|x,x_e]``) equal these expected ones exactly in this model.
"""

from __future__ import annotations

import torch

from .adapter import ModelAdapter
from .factors import Factors
from .linalg import batched_cholesky, cholesky, inverse_from_cholesky, logdet_from_cholesky

__all__ = ["GaussianPredictive"]

#: Largest number of (pool point, eval point) pairs per block of the EPIG computation.
_PAIR_BLOCK = 1 << 20


class GaussianPredictive:
    """Joint predictive covariances of a Gaussian-likelihood network under ``N(w*, precision^-1)``.

    ``adapter`` must use the ``gaussian`` likelihood (its factors are ``J^T / sigma``); ``precision`` is
    ``H''[w*|D]`` in the adapter's internal parameter order. ``Σ`` is formed once from the Cholesky factor.
    """

    def __init__(self, adapter: ModelAdapter, precision: torch.Tensor):
        self.adapter = adapter
        R = cholesky(precision, "H''[w*|D]")
        self.Sigma = inverse_from_cholesky(R)
        self.logdet_precision = logdet_from_cholesky(R)
        self._eval: tuple[torch.Tensor, torch.Tensor] | None = None

    def factors(self, X: torch.Tensor, where: str) -> Factors:
        return self.adapter.factors(X, where)

    def covariance(self, X: torch.Tensor) -> torch.Tensor:
        """``Cov[Y | x] / sigma^2 - Id = U^T Σ U`` per point, ``[n, D, D]`` (the epistemic part, in noise units)."""
        return self.factors(X, "X_pool").quad(self.Sigma)

    def eig(self, X: torch.Tensor) -> torch.Tensor:
        """``I[W;Y|x] = 1/2 logdet(Id + U^T Σ U)`` per point, ``[n]``."""
        G = self.covariance(X)
        G = G + torch.eye(G.shape[-1], dtype=G.dtype, device=G.device)
        return logdet_from_cholesky(batched_cholesky(G, "Cov[Y|x]")) / 2

    def bind_eval(self, X_eval: torch.Tensor) -> None:
        """Prepare the evaluation set: ``Σ U_e`` ``[P, M D]`` and ``Cov[Y_e] / sigma^2`` ``[M, D, D]``."""
        f = self.factors(X_eval, "X_eval")
        U = f.dense()  # [M, P, D]
        M, P, D = U.shape
        W = self.Sigma @ U.permute(1, 0, 2).reshape(P, M * D)  # Σ U_e
        B = f.quad(self.Sigma) + torch.eye(D, dtype=U.dtype, device=U.device)
        self._eval = (W, B)

    def epig(self, X: torch.Tensor) -> torch.Tensor:
        """``E_{x_e} I[Y_e; Y | x, x_e]`` per pool point, ``[n]`` (the eval set from :meth:`bind_eval`)."""
        assert self._eval is not None, "bind_eval first"
        W, B = self._eval
        f = self.factors(X, "X_pool")
        n, D, M = f.n, f.K, B.shape[0]
        A = f.quad(self.Sigma) + torch.eye(D, dtype=W.dtype, device=W.device)  # [n, D, D]
        out = torch.zeros(n, dtype=W.dtype, device=W.device)
        step = max(1, _PAIR_BLOCK // max(n * D * D, 1))
        for s in range(0, M, step):
            cols = slice(s * D, min(s + step, M) * D)
            m = (cols.stop - cols.start) // D
            C = f.cross(W[:, cols]).reshape(n, D, m, D).permute(0, 2, 1, 3)  # [n, m, D, D]: Cov[Y, Y_e_j]
            Bm = B[s : s + m].unsqueeze(0)  # [1, m, D, D]
            if D == 1:
                rho2 = C[..., 0, 0].square() / (A[:, None, 0, 0] * Bm[..., 0, 0])
                out += (-0.5 * torch.log1p(-rho2.clamp(max=1.0 - 1e-15))).sum(1)
                continue
            RA = batched_cholesky(A, "Cov[Y|x]").unsqueeze(1)  # [n, 1, D, D]
            V = torch.linalg.solve_triangular(RA, C, upper=False)  # RA^-1 C
            S = Bm - V.mT @ V  # Cov[Y_e | Y] / sigma^2
            ld_b = logdet_from_cholesky(batched_cholesky(Bm.expand(n, -1, -1, -1), "Cov[Y_e]"))
            ld_s = logdet_from_cholesky(batched_cholesky(S, "Cov[Y_e|Y]"))
            out += 0.5 * (ld_b - ld_s).sum(1)
        return out / M
