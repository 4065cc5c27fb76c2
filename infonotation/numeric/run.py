"""Running a :class:`~infonotation.numeric.plan.Plan` on a pool: fixed matrices once, candidates in chunks.

Everything that does not depend on the candidate (the prior/posterior precision ``Q``, its Cholesky factor,
``logdet Q``, ``Σ_Q = Q^-1`` formed once from the factor, the eval Fisher) is built when the plan is bound.
``Σ_Q`` is the one explicit inverse: every candidate's ``U^T Σ_Q U`` reads it (``D1^2 C^2`` work per point against
``P^2 C`` for a solve against the factor per point), so it is formed once, from the factor, on one thread
(:mod:`infonotation.threads`); every other use of ``Q`` solves against its Cholesky factor.
Per pool chunk only the candidates' rank-``K`` factors ``U_i`` are formed, and each atom costs ``K x K`` work
per point (the data side of the determinant lemma) unless ``K > P``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .adapter import ModelAdapter
from .factors import Factors, KronFactors, PreparedKron
from .linalg import (
    batched_cholesky,
    batched_logdet_pd,
    cholesky,
    choose_side,
    inverse_from_cholesky,
    lemma_logdet,
    logdet_from_cholesky,
)
from .plan import CK, Leaf, LogDet, Plan, Trace, WeightedSum, describe_atom, ws_text

__all__ = ["Fixed", "Runtime", "PoolTerm"]


_OBSERVED = (
    "Q + H''[y|x,w*] (a candidate's exact observed information, which can be indefinite away from a mode: "
    "add 'ggn' to using for the Fisher information)"
)


@dataclass
class Fixed:
    """A fixed positive definite ``Q`` with what the candidates need from it."""

    key: WeightedSum
    Q: torch.Tensor
    R: torch.Tensor
    logdet: torch.Tensor
    Sigma: torch.Tensor
    prepared: PreparedKron | None = None


@dataclass
class PoolTerm:
    """A candidate's curvature for a chunk: low-rank Fisher factors, or dense observed information."""

    factors: Factors | None = None
    dense: torch.Tensor | None = None  # [n, P, P]

    @property
    def n(self) -> int:
        return self.factors.n if self.factors is not None else int(self.dense.shape[0])  # type: ignore[union-attr]


@dataclass
class AtomPrep:
    atom: object
    coef: float
    const: torch.Tensor
    fixed: Fixed | None = None  # LogDet: Q; Trace: B's fixed part
    w: float = 0.0  # the candidate's weight (in the log-det'd matrix, or in A for traces)
    wB: float = 0.0  # traces: the candidate's weight in B
    A0: torch.Tensor | None = None
    Omega: torch.Tensor | None = None
    Omega_prepared: PreparedKron | None = None
    extra: dict = field(default_factory=dict)


def _split(ws: WeightedSum) -> tuple[WeightedSum, float]:
    fixed = tuple((leaf, w) for leaf, w in ws if leaf.fixed)
    pool = sum((float(w) for leaf, w in ws if not leaf.fixed), 0.0)
    return fixed, pool


class Runtime:
    """A plan bound to an adapter and the fixed matrices of its leaves."""

    def __init__(self, plan: Plan, adapter: ModelAdapter, leaf_matrices: dict[Leaf, torch.Tensor]):
        self.plan, self.adapter, self.mats = plan, adapter, leaf_matrices
        self.P = adapter.P
        self._fixed: dict[WeightedSum, Fixed] = {}
        self.preps: list[AtomPrep] = []
        dt = adapter.dtype
        self.const = torch.tensor(plan.const, dtype=dt)
        for atom, coef in plan.terms:
            self.preps.append(self._prepare(atom, float(coef)))

    # -- fixed matrices ------------------------------------------------------------------------------
    def matrix(self, ws: WeightedSum) -> torch.Tensor:
        if len(ws) == 1 and ws[0][1] == 1:
            return self.mats[ws[0][0]]  # read only: no copy
        M = torch.zeros(self.P, self.P, dtype=self.adapter.dtype, device=self.adapter.device)
        for leaf, w in ws:
            M.add_(self.mats[leaf], alpha=float(w))
        return M

    def fixed(self, ws: WeightedSum) -> Fixed:
        if ws not in self._fixed:
            Q = self.matrix(ws)
            R = cholesky(Q, ws_text(ws))
            Sigma = inverse_from_cholesky(R)
            self._fixed[ws] = Fixed(ws, Q, R, logdet_from_cholesky(R), Sigma)
        return self._fixed[ws]

    def _prepare(self, atom: object, coef: float) -> AtomPrep:
        dt = self.adapter.dtype
        zero = torch.zeros((), dtype=dt)
        if isinstance(atom, CK):
            return AtomPrep(atom, coef, torch.tensor(self.P / 2 * math.log(2 * math.pi * math.e), dtype=dt))
        if isinstance(atom, LogDet):
            fixed_ws, w = _split(atom.matrix)
            f = self.fixed(fixed_ws)
            return AtomPrep(atom, coef, f.logdet, fixed=f, w=w)
        assert isinstance(atom, Trace)
        A0ws, wA = _split(atom.A)
        A0 = self.matrix(A0ws) if A0ws else None
        if atom.B is None:
            const = A0.diagonal().sum() if A0 is not None else zero
            return AtomPrep(atom, coef, const, w=wA)
        Bws, wB = _split(atom.B)
        f = self.fixed(Bws)
        const = (A0 * f.Sigma).sum() if A0 is not None else zero
        prep = AtomPrep(atom, coef, const, fixed=f, w=wA, wB=wB, A0=A0)
        if wB and A0 is not None:
            Om = f.Sigma @ A0 @ f.Sigma
            prep.Omega = 0.5 * (Om + Om.mT)
        return prep

    def constant(self) -> torch.Tensor:
        """The part of the score that does not depend on the candidate."""
        return self.const + sum((p.coef * p.const for p in self.preps), torch.zeros((), dtype=self.adapter.dtype))

    # -- per-chunk evaluation ------------------------------------------------------------------------
    def _prepared(self, f: Factors, Sigma: torch.Tensor, holder: object, attr: str) -> PreparedKron | None:
        if not isinstance(f, KronFactors):
            return None
        prep = getattr(holder, attr)
        if prep is None:
            prep = f.prepare(Sigma)
            setattr(holder, attr, prep)
        return prep

    def quad(self, f: Factors, fixed: Fixed) -> torch.Tensor:
        return f.quad(fixed.Sigma, self._prepared(f, fixed.Sigma, fixed, "prepared"))

    def score(self, term: PoolTerm) -> torch.Tensor:
        """Per-candidate values ``[n]`` of the plan."""
        n, dt = term.n, self.adapter.dtype
        out = self.constant().expand(n).clone()
        cache: dict[int, torch.Tensor] = {}
        for p in self.preps:
            if isinstance(p.atom, CK) or (p.w == 0 and p.wB == 0):
                continue
            out += p.coef * self._atom_value(p, term, cache)
        return out.to(dt)

    def _G(self, p: AtomPrep, f: Factors, cache: dict[int, torch.Tensor]) -> torch.Tensor:
        assert p.fixed is not None
        k = id(p.fixed)
        if k not in cache:
            cache[k] = self.quad(f, p.fixed)
        return cache[k]

    def _atom_value(self, p: AtomPrep, term: PoolTerm, cache: dict[int, torch.Tensor]) -> torch.Tensor:
        atom = p.atom
        if term.dense is not None:
            return self._atom_value_dense(p, term.dense)
        f = term.factors
        assert f is not None
        if isinstance(atom, LogDet):
            assert p.fixed is not None
            if choose_side(self.P, f.K) == "data":
                G = p.w * self._G(p, f, cache)
                return batched_logdet_pd(G + torch.eye(f.K, dtype=G.dtype), "Id + U^T Q^-1 U (a candidate)")
            U = f.dense()
            M = p.fixed.Q + p.w * (U @ U.mT)
            return batched_logdet_pd(M, "Q + F (a candidate)") - p.fixed.logdet
        assert isinstance(atom, Trace)
        if atom.B is None:
            return p.w * f.traces()
        if p.w:  # candidate in A, B fixed
            return p.w * self._G(p, f, cache).diagonal(dim1=-2, dim2=-1).sum(-1)
        # candidate in B (Woodbury): - wB tr((I + wB G)^-1 U^T Ω U)
        if p.Omega is None:
            return torch.zeros(f.n, dtype=self.adapter.dtype)
        G = p.wB * self._G(p, f, cache)
        Hq = f.quad(p.Omega, self._prepared(f, p.Omega, p, "Omega_prepared"))
        Kmat = G + torch.eye(f.K, dtype=G.dtype)
        R = batched_cholesky(Kmat, "Id + U^T Q^-1 U (a candidate)")
        return -p.wB * torch.cholesky_solve(Hq, R).diagonal(dim1=-2, dim2=-1).sum(-1)

    def _atom_value_dense(self, p: AtomPrep, O: torch.Tensor) -> torch.Tensor:
        atom = p.atom
        if isinstance(atom, LogDet):
            assert p.fixed is not None
            return batched_logdet_pd(p.fixed.Q + p.w * O, _OBSERVED) - (
                p.fixed.logdet
            )
        assert isinstance(atom, Trace)
        if atom.B is None:
            return p.w * O.diagonal(dim1=-2, dim2=-1).sum(-1)
        assert p.fixed is not None
        if p.w:
            return p.w * (O * p.fixed.Sigma).sum((-2, -1))
        if p.A0 is None:
            return torch.zeros(O.shape[0], dtype=O.dtype)
        R = batched_cholesky(p.fixed.Q + p.wB * O, _OBSERVED)
        sol = torch.cholesky_solve(p.A0.expand(O.shape[0], -1, -1), R)
        return sol.diagonal(dim1=-2, dim2=-1).sum(-1) - p.const

    # -- a batch as one joint candidate --------------------------------------------------------------
    def joint(self, term: PoolTerm, side: str = "auto") -> torch.Tensor:
        """The plan's value with the candidate matrix ``sum_{i in batch} F_i`` (a 0-dim tensor)."""
        dt = self.adapter.dtype
        total = self.constant().clone()
        if term.dense is not None:
            O = term.dense.sum(0, keepdim=True)
            for p in self.preps:
                if not isinstance(p.atom, CK) and (p.w or p.wB):
                    total = total + p.coef * self._atom_value_dense(p, O)[0]
            return total.to(dt)
        f = term.factors
        assert f is not None
        U = f.dense().permute(1, 0, 2).reshape(self.P, f.n * f.K)  # P x (n K)
        for p in self.preps:
            atom = p.atom
            if isinstance(atom, CK) or (p.w == 0 and p.wB == 0):
                continue
            if isinstance(atom, LogDet):
                assert p.fixed is not None
                val = lemma_logdet(math.sqrt(p.w) * U, p.fixed.R, side=side, what=ws_text(p.fixed.key))  # type: ignore[arg-type]
            elif atom.B is None:
                val = p.w * U.square().sum()
            elif p.w:
                assert p.fixed is not None
                val = p.w * (U * (p.fixed.Sigma @ U)).sum()
            else:
                assert p.fixed is not None
                if p.A0 is None:
                    continue
                Ut = math.sqrt(p.wB) * U
                s = choose_side(self.P, Ut.shape[1]) if side == "auto" else side
                if s == "data":
                    Kmat = Ut.mT @ p.fixed.Sigma @ Ut
                    Kmat.diagonal().add_(1.0)
                    R = cholesky(Kmat, "Id + U_B^T Q^-1 U_B")
                    val = -torch.cholesky_solve(Ut.mT @ p.Omega @ Ut, R).diagonal().sum()  # type: ignore[operator]
                else:
                    R = cholesky(p.fixed.Q + Ut @ Ut.mT, "Q + F_B")
                    val = torch.cholesky_solve(p.A0, R).diagonal().sum() - p.const
            total = total + p.coef * val
        return total.to(dt)

    # -- description -----------------------------------------------------------------------------------
    def describe_atoms(self, K: int, observed_dense: bool) -> list[str]:
        lines = []
        for p in self.preps:
            head = f"{p.coef:+g} * {describe_atom(p.atom)}"
            if isinstance(p.atom, CK):
                lines.append(f"{head}: constant {float(p.const):.6g}")
            elif p.w == 0 and p.wB == 0:
                lines.append(f"{head}: constant {float(p.const):.6g} (Cholesky of a {self.P}x{self.P} matrix, once)")
            elif observed_dense:
                lines.append(f"{head}: per candidate a {self.P}x{self.P} Cholesky (full-rank observed information)")
            elif isinstance(p.atom, LogDet):
                side = choose_side(self.P, K)
                if side == "data":
                    lines.append(
                        f"{head}: logdet(Q) once + logdet(Id_{K} + U^T Q^-1 U) per candidate "
                        f"(determinant lemma, data side {K}x{K} instead of {self.P}x{self.P})"
                    )
                else:
                    lines.append(f"{head}: weight side {self.P}x{self.P} per candidate (rank {K} > P)")
            elif p.wB:
                lines.append(f"{head}: tr(A Q^-1) once - tr((Id_{K} + U^T Q^-1 U)^-1 U^T Q^-1 A Q^-1 U) (Woodbury)")
            else:
                lines.append(f"{head}: tr(U^T Q^-1 U) per candidate ({K}x{K}, trace of solves via Σ_Q)")
        return lines

    def fixed_matrices(self) -> list[Fixed]:
        return list(self._fixed.values())
