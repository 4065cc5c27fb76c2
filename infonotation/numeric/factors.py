"""Low-rank factors of per-point Fisher information: ``F_i = U_i U_i^T`` with ``U_i`` of shape ``P x K``.

Two representations with the same operations:

* :class:`KronFactors` (last layer): ``U_i = L_i ⊗ z_i`` where ``z_i`` are the (bias-augmented) features of
  point ``i`` and ``L_i L_i^T = Λ_i`` is the Hessian of the negative log-likelihood in the logits (R16). The
  parameter order inside is ``(class c, feature j)`` with index ``c * D1 + j``. Nothing of size
  ``n x P x P`` is ever built; ``U_i^T Σ U_i = L_i^T M_i L_i`` with ``M_i[c, c'] = z_i^T Σ_{cc'} z_i`` (``M_i`` is
  symmetric, so only the ``C (C + 1) / 2`` blocks with ``c <= c'`` are contracted, and each form reads only the
  ``D1 (D1 + 1) / 2`` distinct products ``z_j z_j'``; see :class:`PreparedKron`).
* :class:`DenseFactors` (whole network): ``U_i = J_i^T L_i`` stored as ``[n, P, K]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

__all__ = ["Factors", "KronFactors", "DenseFactors", "PreparedKron"]


class PreparedKron:
    """One or more symmetric ``P x P`` matrices ``Σ`` laid out for the Kronecker quadratic form (done once).

    ``z^T Σ_cc' z = sum_j Σ_cc'[j, j] z_j^2 + sum_{j < j'} (Σ_cc'[j, j'] + Σ_cc'[j', j]) z_j z_j'``: the form reads
    only the ``T = D1 (D1 + 1) / 2`` products ``z_j z_j'`` with ``j <= j'`` and, as ``Σ`` is symmetric
    (``z^T Σ_c'c z = z^T Σ_cc' z``), only the ``U = C (C + 1) / 2`` blocks with ``c <= c'``. ``layout[t, u]`` holds
    the coefficient of product ``t`` in block pair ``u`` (``[T, U]``, one column group per matrix), so every
    quadratic form of a batch of points is one GEMM ``[n, T] @ [T, U]``: half the multiply-adds of contracting
    whole ``D1 x D1`` blocks, and several matrices share one pass over the points (:meth:`stack`).
    """

    def __init__(self, Sigma: torch.Tensor, C: int, D1: int):
        iu = torch.triu_indices(C, C, device=Sigma.device)
        blocks = Sigma.reshape(C, D1, C, D1)[iu[0], :, iu[1], :]  # [U, D1, D1]
        self._set([self._vech(blocks, D1)], C, D1)

    @classmethod
    def from_blocks(cls, blocks: torch.Tensor, C: int, D1: int) -> PreparedKron:
        """From the upper blocks ``[U, D1, D1]`` (in ``torch.triu_indices(C, C)`` order) of a symmetric matrix."""
        self = cls.__new__(cls)
        self._set([cls._vech(blocks, D1)], C, D1)
        return self

    @classmethod
    def stack(cls, parts: list[PreparedKron]) -> PreparedKron:
        """Several prepared matrices of the same shape as one: :meth:`KronFactors.quads` then reads the points once."""
        C, D1 = parts[0].C, parts[0].D1
        if any((p.C, p.D1) != (C, D1) for p in parts):
            raise ValueError("PreparedKron.stack: all matrices must have the same Kronecker shape")
        self = cls.__new__(cls)
        self._set([p.layout for p in parts], C, D1)
        return self

    @staticmethod
    def _vech(blocks: torch.Tensor, D1: int) -> torch.Tensor:
        j, j2 = torch.triu_indices(D1, D1, device=blocks.device)
        coef = (blocks + blocks.mT)[:, j, j2]  # [U, T]: Σ[j, j'] + Σ[j', j]; on the diagonal twice Σ[j, j]
        coef[:, j == j2] *= 0.5
        return coef.mT

    def _set(self, layouts: list[torch.Tensor], C: int, D1: int) -> None:
        self.C, self.D1, self.count = C, D1, len(layouts)
        self.iu = torch.triu_indices(C, C, device=layouts[0].device)
        self.layout = torch.cat(layouts, 1).contiguous() if len(layouts) > 1 else layouts[0].contiguous()

    @property
    def dtype(self) -> torch.dtype:
        return self.layout.dtype


#: bytes of the per-chunk table of feature products ``z_j z_j'`` (:meth:`KronFactors.quads`)
PRODUCTS_BYTES = 64 * 2**20


def _product_chunks(z: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
    """``(start, table)`` over chunks of the rows of ``z`` ``[n, D1]``: ``table[i, t] = z_ij z_ij'`` for the
    ``T = D1 (D1 + 1) / 2`` pairs ``j <= j'`` in ``torch.triu_indices`` order, written row block by row block into
    one reused buffer of at most :data:`PRODUCTS_BYTES` (the table is only valid until the next chunk)."""
    n, D1 = z.shape
    T = D1 * (D1 + 1) // 2
    rows = max(1, min(n, PRODUCTS_BYTES // max(T * z.element_size(), 1)))
    starts = [0]
    for j in range(D1):
        starts.append(starts[-1] + D1 - j)
    buf = z.new_empty(min(rows, n), T)
    for s in range(0, n, rows):
        zc = z[s : s + rows]
        b = buf[: zc.shape[0]]
        for j in range(D1):
            torch.mul(zc[:, j : j + 1], zc[:, j:], out=b[:, starts[j] : starts[j + 1]])
        yield s, b


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

    def left(self, M: torch.Tensor, i: int) -> torch.Tensor:
        """``M @ U_i`` for an ``[m, P]`` matrix ``M``: ``[m, K]``."""
        return M @ self.select(torch.tensor([i])).dense()[0]

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
        return self.quads(prep)[0]

    def quads(self, prep: PreparedKron) -> list[torch.Tensor]:
        """``[n, K, K]`` per matrix of ``prep``: ``U_i^T Σ U_i = L_i^T M_i L_i`` with ``M_i[c, c'] = z_i^T Σ_cc' z_i``.

        The products ``z_j z_j'`` (``j <= j'``) of a chunk of points are written row by row into one buffer (bounded
        by :data:`PRODUCTS_BYTES`), then one GEMM with the layout gives every ``M_i`` of every matrix.
        """
        n, C = self.n, self.C
        z = self.z.to(prep.dtype)
        m = z.new_empty(n, prep.layout.shape[1])
        for s, b in _product_chunks(z):
            torch.mm(b, prep.layout, out=m[s : s + b.shape[0]])
        iu, U, L = prep.iu, C * (C + 1) // 2, self.L.to(prep.dtype)
        out = []
        for t in range(prep.count):
            mt = m[:, t * U : (t + 1) * U]
            M = m.new_empty(n, C, C)
            M[:, iu[0], iu[1]] = mt
            M[:, iu[1], iu[0]] = mt
            out.append(L.mT @ M @ L)
        return out

    def cross(self, V: torch.Tensor) -> torch.Tensor:
        m = V.shape[1]
        W = self.z @ V.reshape(self.C, self.D1, m).permute(1, 0, 2).reshape(self.D1, self.C * m)
        return self.L.mT @ W.view(self.n, self.C, m)

    def dense(self) -> torch.Tensor:
        return torch.einsum("nck,nj->ncjk", self.L, self.z).reshape(self.n, self.P, self.K)

    def left(self, M: torch.Tensor, i: int) -> torch.Tensor:
        """``M (L_i ⊗ z_i) = (M [I_C ⊗ z_i]) L_i``: ``m P`` multiply-adds instead of ``m P K`` (one read of ``M``)."""
        m = M.shape[0]
        return (M.reshape(m * self.C, self.D1) @ self.z[i]).view(m, self.C) @ self.L[i]

    def outer_blocks(self) -> torch.Tensor:
        """``[C (C + 1) / 2, D1, D1]``: the blocks ``S_cc' = sum_i Λ_i[c, c'] z_i z_i^T`` for ``c <= c'``.

        One GEMM ``[U D1, n] @ [n, D1]`` (``U = C (C + 1) / 2``): half the work of all ``C^2`` blocks, and no
        ``n x D1^2`` temporary. (Summing only the ``j <= j'`` entries through a table of feature products, as
        :meth:`quads` does, halves the multiply-adds again but writes the table: measured slower at these sizes.)
        """
        C, D1, n = self.C, self.D1, self.n
        iu = torch.triu_indices(C, C, device=self.z.device)
        lam = (self.L @ self.L.mT)[:, iu[0], iu[1]]  # [n, U]
        W = (lam.unsqueeze(-1) * self.z.unsqueeze(1)).reshape(n, -1)  # [n, U D1]
        return (W.mT @ self.z).view(-1, D1, D1)

    def assemble(self, blocks: torch.Tensor) -> torch.Tensor:
        """The ``P x P`` matrix (internal order) whose upper blocks are ``blocks`` (see :meth:`outer_blocks`)."""
        C, D1 = self.C, self.D1
        S = blocks.new_empty(self.P, self.P)
        S4 = S.view(C, D1, C, D1)
        u = 0
        for c in range(C):  # C (C + 1) / 2 block copies straight into place: one pass over the P x P output
            for c2 in range(c, C):
                S4[c, :, c2, :] = blocks[u]
                if c2 != c:
                    S4[c2, :, c, :] = blocks[u].mT
                u += 1
        return S

    def outer_sum(self) -> torch.Tensor:
        return self.assemble(self.outer_blocks())

    def traces(self) -> torch.Tensor:
        return self.L.square().sum((-2, -1)) * self.z.square().sum(-1)

    def select(self, idx: torch.Tensor) -> KronFactors:
        return KronFactors(self.z[idx], self.L[idx])

    def quad_flops(self) -> int:
        return self.n * self.D1 * (self.D1 + 1) // 2 * self.C * (self.C + 1)


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
