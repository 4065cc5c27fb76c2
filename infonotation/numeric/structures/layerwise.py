"""Block-diagonal structures that are diagonal in a per-layer basis: the common part of ``diag`` and ``kron``.

Each affine layer holds "eigenvalues" ``e_w`` (``[d_out, d_in]``) and ``e_b`` (``[d_out]``) of its GGN block in the
basis ``R_out ⊗ R_in`` (``R_out`` for the bias); the generic group holds its exact GGN diagonal ``e_g``. The
posterior precision is ``diag(e + δ)`` in those bases, so the prior is added exactly (laplace-torch's
``KronDecomposed`` does the same), and

* ``logdet H''[w*|D] = sum log(e + δ)``;
* ``S = H''[w*|D]^-1`` has variances ``1 / (e + δ)`` in the same bases (:class:`~.base.AffineCov`).
"""

from __future__ import annotations

import torch

from .base import AffineCov, CurvatureStructure, affine_cross, affine_features, affine_quad
from .groups import Layout, Probe

__all__ = ["LayerEigen", "LayerwiseStructure"]


class LayerEigen:
    """One affine layer's GGN block in its basis: ``e_w`` ``[d_out, d_in]``, ``e_b`` ``[d_out]`` or None, rotations."""

    def __init__(self, e_w: torch.Tensor, e_b: torch.Tensor | None, R_out: torch.Tensor | None = None,
                 R_in: torch.Tensor | None = None):
        self.e_w, self.e_b, self.R_out, self.R_in = e_w, e_b, R_out, R_in

    def cov(self, d_w: torch.Tensor | float, d_b: torch.Tensor | float | None) -> AffineCov:
        var_b = None if self.e_b is None else 1.0 / (self.e_b + d_b)
        return AffineCov(1.0 / (self.e_w + d_w), var_b, self.R_out, self.R_in)

    def logdet(self, d_w: torch.Tensor | float, d_b: torch.Tensor | float | None) -> torch.Tensor:
        out = torch.log(self.e_w + d_w).sum()
        if self.e_b is not None:
            out = out + torch.log(self.e_b + d_b).sum()
        return out


class LayerwiseStructure(CurvatureStructure):
    """Per-layer rotated diagonals (affine layers) plus the exact GGN diagonal of every other parameter.

    ``delta`` is a positive number, or (for ``diag``) a positive vector ``[P]`` in the flat parameter order.
    """

    def __init__(self, layout: Layout, layers: list[LayerEigen], e_generic: torch.Tensor | None,
                 delta: float | torch.Tensor, dtype: torch.dtype):
        super().__init__(layout, delta, dtype)
        self.layers, self.e_generic = layers, e_generic
        self._covs = [lay.cov(*self._deltas(i)) for i, lay in enumerate(layers)]
        self._var_g = None if e_generic is None else 1.0 / (e_generic + self._delta_generic())

    def _deltas(self, i: int) -> tuple[torch.Tensor | float, torch.Tensor | float | None]:
        g = self.layout.affine[i]
        d = self.delta
        if not isinstance(d, torch.Tensor):
            return d, d
        w = d[g.w_offset : g.w_offset + g.d_out * g.d_in].reshape(g.d_out, g.d_in)
        b = d[g.b_offset : g.b_offset + g.d_out] if g.b_offset is not None else None
        return w, b

    def _delta_generic(self) -> torch.Tensor | float:
        d = self.delta
        if not isinstance(d, torch.Tensor):
            return d
        assert self.layout.generic is not None
        return d[self.layout.generic.index()]

    def with_prior(self, delta: float | torch.Tensor) -> LayerwiseStructure:
        return type(self)(self.layout, self.layers, self.e_generic, delta, self.dtype)

    def logdet(self) -> torch.Tensor:
        out = torch.zeros((), dtype=self.dtype)
        for i, lay in enumerate(self.layers):
            out = out + lay.logdet(*self._deltas(i))
        if self.e_generic is not None:
            out = out + torch.log(self.e_generic + self._delta_generic()).sum()
        return out

    def solve(self, v: torch.Tensor) -> torch.Tensor:
        vec = v.dim() == 1
        V = v[:, None] if vec else v
        out = torch.empty_like(V)
        m = V.shape[1]
        for g, cov in zip(self.layout.affine, self._covs):
            Vw = V[g.w_offset : g.w_offset + g.d_out * g.d_in].T.reshape(m, g.d_out, g.d_in)
            Ro = cov.R_out if cov.R_out is not None else None
            Ri = cov.R_in if cov.R_in is not None else None
            X = Vw
            if Ro is not None:
                X = Ro.mT @ X
            if Ri is not None:
                X = X @ Ri
            X = X * cov.var_w
            if Ri is not None:
                X = X @ Ri.mT
            if Ro is not None:
                X = Ro @ X
            out[g.w_offset : g.w_offset + g.d_out * g.d_in] = X.reshape(m, -1).T
            if g.b_offset is not None:
                vb = V[g.b_offset : g.b_offset + g.d_out]
                xb = Ro.mT @ vb if Ro is not None else vb
                xb = xb * cov.var_b[:, None]  # type: ignore[index]
                out[g.b_offset : g.b_offset + g.d_out] = Ro @ xb if Ro is not None else xb
        if self._var_g is not None:
            idx = self.layout.generic.index()  # type: ignore[union-attr]
            out[idx] = V[idx] * self._var_g[:, None]
        return out[:, 0] if vec else out

    def quad(self, probe: Probe) -> torch.Tensor:
        n, K = probe.n, probe.K
        M = probe.eta.new_zeros(n, K, K)
        for i, cov in enumerate(self._covs):
            M = M + affine_quad(cov, probe.A[i], probe.G[i])
        if self._var_g is not None and probe.J is not None:
            Phi = probe.J * self._var_g.sqrt()
            M = M + Phi @ Phi.mT
        return M

    def cross(self, a: Probe, b: Probe) -> torch.Tensor:
        out = a.eta.new_zeros(a.n, a.K, b.n, b.K)
        for i, cov in enumerate(self._covs):
            out = out + affine_cross(cov, a.A[i], a.G[i], b.A[i], b.G[i])
        if self._var_g is not None and a.J is not None and b.J is not None:
            out = out + torch.einsum("akp,blp->akbl", a.J * self._var_g, b.J)
        return out

    def features(self, probe: Probe) -> torch.Tensor:
        """``[n, K, P]``: ``Φ`` with ``Φ_a Φ_b^T = J_a S J_b^T`` (the whole network; small networks and tests)."""
        parts = [affine_features(cov, probe.A[i], probe.G[i]) for i, cov in enumerate(self._covs)]
        if self._var_g is not None and probe.J is not None:
            parts.append(probe.J * self._var_g.sqrt())
        return torch.cat(parts, 2)

    def nbytes(self) -> int:
        total = sum(c.nbytes() for c in self._covs)
        for lay in self.layers:
            total += sum(t.numel() * t.element_size() for t in (lay.e_w, lay.e_b) if t is not None)
        return total
