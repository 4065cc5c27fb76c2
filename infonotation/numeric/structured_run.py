"""Running a plan on a whole network with a structured curvature: every atom on the data side, no ``P x P`` matrix.

Every matrix in a weight-space plan is a combination of the precision part ``g GGN + d δ Id`` (from ``H''[w*]``,
``H''[w*|D]``, ``H''[D|w*]``) and low-rank parts ``U U^T`` of fixed points (the eval set, bound points) and of the
candidate (``U = J^T L`` with ``L L^T = Λ``, or the label gradient for an observed label). With ``a = g`` and the
structure ``S = (GGN + (d δ / g) Id)^-1`` (``a = d δ`` and ``S = Id`` when ``g = 0``) and the Gram blocks
``K_XY = U_X^T S U_Y`` (``U^T S U = L^T (J S J^T) L``, from the structure's per-layer ``quad`` and ``cross``), with
``F`` the fixed columns (weights ``d_F``, ``s = sqrt(d_F / a)``, ``R R^T = Id + s K_FF s``) and
``Y = R^-1 s K_Fx`` per candidate ``x`` (pool weight ``w``):

* ``logdet(A_H + U_F D_F U_F^T + w U_x U_x^T) = P log a + logdet(S^-1) + logdet(R R^T)
  + logdet(Id + (w / a) (K_xx - Y^T Y))`` (the determinant lemma on the data side, ``K x K`` per candidate);
* ``tr(A B^-1)`` with ``B = a (S^-1 + U_F D U_F^T) + w_B U_x U_x^T`` and ``A = U_F diag(α) U_F^T + α_x U_x U_x^T``:
  ``(1/a) [sum_F α_F (K_FF - K_FF s R^-T R^-1 s K_FF)_ff + α_x tr(K_xx - Y^T Y)]`` without the candidate in ``B``,
  and ``const - (w_B / a^2) tr((Id + (w_B / a) Q)^-1 Z^T diag(α) Z)`` with it (Woodbury), ``Q = K_xx - Y^T Y``,
  ``Z = K_Fx - K_FF s R^-T Y``;
* ``tr(A)``: the plain ``J J^T`` (the identity as the structure); ``C_k = P/2 log(2 pi e)``.

A batch (``acq.joint``) is one candidate with the members' stacked columns; greedy selection moves each chosen
point's columns into ``F`` (weight ``w``) and scores the gain ``f(B + x) - f(B)`` of every candidate, which is the
candidate part above. When the objective is submodular in the batch (every log-det that holds the candidate enters
with a positive coefficient, every trace with the candidate is additive) the gains only shrink as the batch grows,
and greedy is run lazily: stale gains are upper bounds, only the top ones are re-evaluated (exactly the same
choices, a fraction of the work).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ..errors import CompileError
from ..protocol import progress_bar
from .linalg import batched_cholesky, cholesky, logdet_from_cholesky
from .plan import CK, Leaf, LogDet, Plan, Trace, WeightedSum, describe_atom
from .structures import CurvatureStructure, DiagStructure, Probe

__all__ = ["Metric", "FixedColumns", "StructuredRuntime", "PRECISION_KINDS"]

#: Leaf kinds that make up the precision part: ``kind -> (GGN coefficient, prior coefficient)`` (with ``train``;
#: without it ``PRIOR`` is ``(0, 1)``).
PRECISION_KINDS = ("PRIOR", "POSTERIOR", "TRAIN")


@dataclass
class FixedColumns:
    """The fixed low-rank leaves (eval set, bound points): ``U`` columns as probes (already mixed and scaled)."""

    leaf: Leaf
    probes: list[Probe]

    @property
    def m(self) -> int:
        return sum(p.n * p.K for p in self.probes)


class Metric:
    """One inverse ``S`` (a structure with its ``δ'``, or the identity) and the Gram of the fixed columns in it."""

    def __init__(self, structure: CurvatureStructure, columns: list[Probe], euclid: bool = False):
        self.structure, self.euclid = structure, euclid
        self.columns = list(columns)
        self.K_FF = self._gram(self.columns)
        self._all: list[Probe] | None = None

    def _fixed(self) -> list[Probe]:
        """The fixed columns in as few probes as possible (consecutive blocks with the same rows concatenated): one
        ``cross`` per candidate chunk and group, not one per column block."""
        if self._all is None:
            groups: list[list[Probe]] = []
            for c in self.columns:
                if groups and groups[-1][0].K == c.K:
                    groups[-1].append(c)
                else:
                    groups.append([c])
            self._all = [Probe.cat(g) for g in groups]
        return self._all

    def _cross_fixed(self, x: Probe) -> torch.Tensor:
        """``[|F|, n, K_x]``: ``J_F S J_x^T`` for every fixed column."""
        return torch.cat([self.structure.cross(F, x).reshape(F.n * F.K, x.n, x.K) for F in self._fixed()], 0)

    def _gram(self, cols: list[Probe]) -> torch.Tensor:
        blocks = [[self._cross(a, b) for b in cols] for a in cols]
        if not blocks:
            return torch.zeros(0, 0, dtype=self.structure.dtype)
        K = torch.cat([torch.cat(row, 1) for row in blocks], 0)
        return 0.5 * (K + K.mT)

    def _cross(self, a: Probe, b: Probe) -> torch.Tensor:
        c = self.structure.cross(a, b)
        return c.reshape(a.n * a.K, b.n * b.K)

    def add(self, p: Probe) -> None:
        """Append the columns of ``p`` to the fixed ones (greedy selection)."""
        new = [self._cross(p, c) for c in self.columns]
        self_block = self._cross(p, p)
        m0 = self.K_FF.shape[0]
        m1 = p.n * p.K
        K = self.K_FF.new_empty(m0 + m1, m0 + m1)
        K[:m0, :m0] = self.K_FF
        if new:
            off = torch.cat(new, 1)
            K[m0:, :m0] = off
            K[:m0, m0:] = off.mT
        K[m0:, m0:] = 0.5 * (self_block + self_block.mT)
        self.K_FF = K
        self.columns.append(p)
        self._all = None

    def candidate(self, x: Probe, L: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``K_xx`` ``[n, K, K]`` and ``K_Fx`` ``[n, |F|, K]`` for the points of ``x`` (class rows) mixed by ``L``
        ``[n, C, K]``: ``U_x = J_x^T L``, so ``U_x^T S U_x = L^T (J_x S J_x^T) L``."""
        K_xx = L.mT @ self.structure.quad(x) @ L
        K_xx = 0.5 * (K_xx + K_xx.mT)
        if not self.columns:
            return K_xx, K_xx.new_zeros(x.n, 0, L.shape[2])
        return K_xx, torch.einsum("fnc,nck->nfk", self._cross_fixed(x), L)

    def joint(self, x: Probe, L: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch ``x`` (mixed by ``L``) as ONE candidate: ``K_xx`` ``[1, nK, nK]``, ``K_Fx`` ``[1, |F|, nK]``."""
        m = x.n * L.shape[2]
        K_xx = torch.einsum("acbd,ack,bdl->akbl", self.structure.cross(x, x), L, L).reshape(m, m)
        K_xx = 0.5 * (K_xx + K_xx.mT)
        if not self.columns:
            return K_xx[None], K_xx.new_zeros(1, 0, m)
        K_Fx = torch.einsum("fnc,nck->fnk", self._cross_fixed(x), L)
        return K_xx[None], K_Fx.reshape(1, -1, m)


@dataclass
class _Prep:
    """One atom bound to a metric: its scale ``a``, fixed-column weights, candidate weights and factorisation."""

    atom: object
    coef: float
    kind: str  # "logdet" | "trace_a" | "trace_b" | "trace_id" | "const"
    metric: Metric | None = None
    a: float = 1.0
    w: float = 0.0  # the candidate's weight (log-det'd matrix, or A of a trace, or B for trace_b)
    block_w: dict[int, float] = field(default_factory=dict)  # fixed block index -> weight (in B, or the logdet)
    alpha_w: dict[int, float] = field(default_factory=dict)  # fixed block index -> weight in A (traces)
    sel_w: float = 0.0  # weight of the selected points' columns (greedy)
    const: torch.Tensor | None = None
    s: torch.Tensor | None = None
    R: torch.Tensor | None = None
    alpha: torch.Tensor | None = None


class StructuredRuntime:
    """A plan bound to a structured curvature and the fixed columns of its low-rank leaves."""

    def __init__(self, plan: Plan, structure: CurvatureStructure, has_train: bool, delta: float | torch.Tensor,
                 blocks: list[FixedColumns], P: int, dtype: torch.dtype):
        self.plan, self.structure, self.has_train, self.delta = plan, structure, has_train, delta
        self.blocks, self.P, self.dtype = blocks, P, dtype
        self._metrics: dict[object, Metric] = {}
        self._block_of = {b.leaf: i for i, b in enumerate(blocks)}
        self.n_selected = 0
        self.const = torch.tensor(plan.const, dtype=dtype)
        self.preps = [self._prepare(atom, float(coef)) for atom, coef in plan.terms]
        for p in self.preps:
            self._factor(p)

    # -- binding --------------------------------------------------------------------------------------
    def _columns(self) -> list[Probe]:
        return [p for b in self.blocks for p in b.probes]

    def _metric(self, key: object) -> Metric:
        if key not in self._metrics:
            if key == "euclid":
                st = DiagStructure.identity(self.structure.layout, self.dtype)
                self._metrics[key] = Metric(st, self._columns(), euclid=True)
            elif key == "identity":
                st = DiagStructure.identity(self.structure.layout, self.dtype)
                self._metrics[key] = Metric(st, self._columns())
            else:
                self._metrics[key] = Metric(self._with_prior(key), self._columns())
        return self._metrics[key]

    def _with_prior(self, key: object) -> CurvatureStructure:
        if key == "base":
            return self.structure
        return self.structure.with_prior(key)  # type: ignore[arg-type]

    def _precision(self, ws: WeightedSum, where: str) -> tuple[float, object, dict[int, float], float]:
        """``(a, metric key, fixed-block weights, candidate weight)`` of a weighted sum of leaves."""
        g = d = 0.0
        blocks: dict[int, float] = {}
        w = 0.0
        for leaf, weight in ws:
            x = float(weight)
            if leaf.kind == "PRIOR":
                g += x if self.has_train else 0.0
                d += x
            elif leaf.kind == "POSTERIOR":
                g += x
                d += x
            elif leaf.kind == "TRAIN":
                g += x
            elif leaf.kind == "POOL":
                w += x
            elif leaf in self._block_of:
                blocks[self._block_of[leaf]] = blocks.get(self._block_of[leaf], 0.0) + x
            else:
                raise CompileError(f"cannot evaluate {leaf.text} with a structured curvature")
        if g == 0 and d == 0:
            return 0.0, None, blocks, w
        if d <= 0:
            raise CompileError(
                f"{where} has the training curvature H''[D|w*] without the prior: with a structured curvature its "
                "log-determinant or inverse needs the prior (H''[w*|D] = H''[D|w*] + H''[w*]); add H''[w*]"
            )
        if isinstance(self.delta, torch.Tensor):
            if g == 0:
                raise CompileError(f"{where}: a per-parameter prior alone is supported through H''[w*|D] only")
            if g != d:
                raise CompileError(f"{where}: a per-parameter prior cannot be rescaled against the GGN")
            return g, "base", blocks, w
        if g == 0:
            return d * float(self.delta), "identity", blocks, w
        ratio = d * float(self.delta) / g
        key = "base" if math.isclose(ratio, float(self.delta), rel_tol=1e-15) else ratio
        return g, key, blocks, w

    def _prepare(self, atom: object, coef: float) -> _Prep:
        if isinstance(atom, CK):
            return _Prep(atom, coef, "const", const=torch.tensor(self.P / 2 * math.log(2 * math.pi * math.e),
                                                                 dtype=self.dtype))
        if isinstance(atom, LogDet):
            a, key, blocks, w = self._precision(atom.matrix, describe_atom(atom))
            if key is None:
                raise CompileError(f"cannot evaluate {describe_atom(atom)}: it needs H''[w*] or H''[w*|D]")
            return _Prep(atom, coef, "logdet", self._metric(key), a=a, w=w, block_w=blocks, sel_w=w)
        assert isinstance(atom, Trace)
        aA, keyA, alphas, wA = self._precision(atom.A, describe_atom(atom))
        if keyA is not None:
            raise CompileError(
                f"cannot evaluate {describe_atom(atom)} with a structured curvature: the matrix before the inverse "
                "holds H''[w*] (a P x P trace); use curvature='full'"
            )
        if atom.B is None:
            return _Prep(atom, coef, "trace_id", self._metric("euclid"), w=wA, alpha_w=alphas)
        aB, keyB, blocksB, wB = self._precision(atom.B, describe_atom(atom))
        if keyB is None:
            raise CompileError(f"cannot evaluate {describe_atom(atom)}: the inverted matrix needs H''[w*]")
        if wB:
            for i in alphas:
                blocksB.setdefault(i, 0.0)
            return _Prep(atom, coef, "trace_b", self._metric(keyB), a=aB, w=wB, block_w=blocksB, alpha_w=alphas,
                         sel_w=wB)
        return _Prep(atom, coef, "trace_a", self._metric(keyB), a=aB, w=wA, block_w=blocksB, alpha_w=alphas)

    def _weights(self, p: _Prep, which: dict[int, float], selected: float) -> torch.Tensor:
        """A weight per fixed column of the metric (blocks in order, then the selected points' columns)."""
        parts = []
        for i, b in enumerate(self.blocks):
            parts.append(torch.full((b.m,), which.get(i, 0.0), dtype=self.dtype))
        m_sel = p.metric.K_FF.shape[0] - sum(b.m for b in self.blocks) if p.metric is not None else 0
        if m_sel:
            parts.append(torch.full((m_sel,), selected, dtype=self.dtype))
        return torch.cat(parts) if parts else torch.zeros(0, dtype=self.dtype)

    def _factor(self, p: _Prep) -> None:
        """(Re)compute the factorisation of the fixed columns and the constant of one atom."""
        if p.kind == "const":
            return
        mt = p.metric
        assert mt is not None
        K = mt.K_FF
        if p.kind == "trace_id":
            alpha = self._weights(p, p.alpha_w, 0.0)
            p.alpha = alpha
            p.const = (alpha * K.diagonal()).sum() if K.numel() else torch.zeros((), dtype=self.dtype)
            return
        d = self._weights(p, p.block_w, p.sel_w) / p.a
        s = d.clamp_min(0).sqrt()
        M = s[:, None] * K * s[None, :]
        M.diagonal().add_(1.0)
        R = cholesky(M, "Id + U_F^T S U_F (fixed columns)") if M.numel() else M
        p.s, p.R = s, R
        if p.kind == "logdet":
            ld = logdet_from_cholesky(R) if R.numel() else torch.zeros((), dtype=self.dtype)
            p.const = self.P * math.log(p.a) + mt.structure.logdet() + ld
            return
        alpha = self._weights(p, p.alpha_w, 0.0)
        p.alpha = alpha
        if K.numel():
            V = torch.linalg.solve_triangular(R, s[:, None] * K, upper=False)  # R^-1 s K_FF
            diag = K.diagonal() - V.square().sum(0)
            p.const = (alpha * diag).sum() / p.a
        else:
            p.const = torch.zeros((), dtype=self.dtype)

    # -- evaluation --------------------------------------------------------------------------------------
    def constant(self) -> torch.Tensor:
        """The part of the score without the candidate (with the selected points, during greedy)."""
        out = self.const.clone()
        for p in self.preps:
            out = out + p.coef * p.const  # type: ignore[operator]
        return out

    def _gains(self, p: _Prep, K_xx: torch.Tensor, K_Fx: torch.Tensor) -> torch.Tensor:
        """The candidate part of one atom for every candidate ``[n]``."""
        n = K_xx.shape[0]
        if p.kind == "trace_id":
            return p.w * K_xx.diagonal(dim1=-2, dim2=-1).sum(-1)
        assert p.R is not None and p.s is not None
        if K_Fx.shape[1]:
            Y = torch.linalg.solve_triangular(p.R, p.s[:, None] * K_Fx, upper=False)  # [n, |F|, m]
            Q = K_xx - Y.mT @ Y
        else:
            Y = K_Fx
            Q = K_xx
        if p.kind == "logdet":
            M = (p.w / p.a) * Q
            M.diagonal(dim1=-2, dim2=-1).add_(1.0)
            return logdet_from_cholesky(batched_cholesky(M, "Id + U^T S U (a candidate)"))
        if p.kind == "trace_a":
            return (p.w / p.a) * Q.diagonal(dim1=-2, dim2=-1).sum(-1)
        # trace_b: - (w_B / a^2) tr((Id + (w_B / a) Q)^-1 Z^T diag(alpha) Z)
        assert p.alpha is not None and p.metric is not None
        if not K_Fx.shape[1] or not bool((p.alpha != 0).any()):
            return K_xx.new_zeros(n)
        SR = torch.linalg.solve_triangular(p.R.mT, Y, upper=True)  # R^-T Y
        Z = K_Fx - p.metric.K_FF @ (p.s[:, None] * SR)
        H = Z.mT @ (p.alpha[:, None] * Z)
        M = (p.w / p.a) * Q
        M.diagonal(dim1=-2, dim2=-1).add_(1.0)
        Rm = batched_cholesky(M, "Id + U^T S U (a candidate)")
        return -(p.w / p.a**2) * torch.cholesky_solve(H, Rm).diagonal(dim1=-2, dim2=-1).sum(-1)

    def _candidate_blocks(self, x: Probe, L: torch.Tensor,
                          joint: bool = False) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        out: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for p in self.preps:
            if p.metric is None or id(p.metric) in out or (p.w == 0 and p.kind != "trace_b"):
                continue
            out[id(p.metric)] = p.metric.joint(x, L) if joint else p.metric.candidate(x, L)
        return out

    def gains(self, x: Probe, L: torch.Tensor, joint: bool = False) -> torch.Tensor:
        """``f(F + x) - f(F)`` for every point of ``x`` whose rows ``U_x = J_x^T L`` (``L`` ``[n, C, K]``; ``joint``:
        for the batch ``x`` as one candidate)."""
        blocks = self._candidate_blocks(x, L, joint)
        n = 1 if joint else x.n
        out = torch.zeros(n, dtype=self.dtype)
        for p in self.preps:
            if p.metric is None or (p.w == 0 and p.kind != "trace_b"):
                continue
            K_xx, K_Fx = blocks[id(p.metric)]
            out = out + p.coef * self._gains(p, K_xx, K_Fx)
        return out

    def score(self, x: Probe, L: torch.Tensor) -> torch.Tensor:
        return self.constant() + self.gains(x, L)

    def joint(self, x: Probe, L: torch.Tensor) -> torch.Tensor:
        return self.constant() + self.gains(x, L, joint=True)[0]

    # -- greedy ---------------------------------------------------------------------------------------------
    def submodular(self) -> bool:
        """Whether the candidate-dependent part is submodular in the batch (lazy greedy is then exact)."""
        for p in self.preps:
            if p.metric is None or (p.w == 0 and p.kind != "trace_b"):
                continue
            if p.kind == "trace_b" or (p.kind == "logdet" and p.coef < 0):
                return False
        return True

    def add_selected(self, x: Probe) -> None:
        """Move the columns of the chosen point ``x`` into the fixed part of every metric that needs them."""
        self.n_selected += 1
        needed = {id(p.metric): p.metric for p in self.preps if p.metric is not None and p.sel_w != 0}
        for mt in needed.values():  # other atoms sharing a metric weigh these columns 0
            mt.add(x)
        for p in self.preps:
            self._factor(p)

    def describe(self) -> list[str]:
        lines = []
        for p in self.preps:
            head = f"{p.coef:+g} * {describe_atom(p.atom)}"
            if p.kind == "const":
                lines.append(f"{head}: constant {float(p.const):.6g}")  # type: ignore[arg-type]
            elif p.w == 0 and p.kind != "trace_b":
                lines.append(f"{head}: constant {float(p.const):.6g} (from the structure, once)")  # type: ignore[arg-type]
            elif p.kind == "logdet":
                lines.append(f"{head}: logdet once (structure) + logdet(Id_K + U^T S U) per candidate "
                             "(data side, J S J^T per layer)")
            elif p.kind == "trace_b":
                lines.append(f"{head}: Woodbury on the data side (K x K per candidate)")
            else:
                lines.append(f"{head}: tr(U^T S U) per candidate")
        return lines


def greedy_structured(rt: StructuredRuntime, probe_of: object, N: int, k: int, chunk: int, maximize: bool,
                      progress: bool | None, lazy_batch: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy selection of ``k`` of ``N`` candidates; ``probe_of(idx)`` gives the candidates' ``(probe, L)``.

    Returns (indices, each point's gain when chosen). Lazy when :meth:`StructuredRuntime.submodular` (and
    maximising): gains from earlier steps are upper bounds, the top ``lazy_batch`` are re-evaluated until the best
    fresh one beats every stale bound.
    """
    if not 0 < k <= N:
        raise CompileError(f"cannot select k={k} of {N} pool points; choose 1 <= k <= {N}")

    def evaluate(idx: torch.Tensor) -> torch.Tensor:
        out = []
        for s in range(0, idx.numel(), chunk):
            out.append(rt.gains(*probe_of(idx[s : s + chunk])))  # type: ignore[operator]
        return torch.cat(out)

    lazy = maximize and rt.submodular()
    taken = torch.zeros(N, dtype=torch.bool)
    chosen: list[int] = []
    chosen_gains: list[torch.Tensor] = []
    bar = progress_bar(k, progress, "greedy selection")
    ub = None
    try:
        for _ in range(k):
            if ub is None or not lazy:
                g = evaluate(torch.arange(N))
                if not bool(torch.isfinite(g).all()):
                    raise CompileError("greedy selection produced non-finite gains; check the network and the prior")
                ub = g.clone()
                obj = (g if maximize else -g).masked_fill(taken, -math.inf)
                i = int(torch.argmax(obj))
            else:
                fresh = torch.zeros(N, dtype=torch.bool)
                m = lazy_batch
                while True:
                    stale = ~fresh & ~taken
                    if bool(stale.any()):
                        order = torch.argsort(ub.masked_fill(~stale, -math.inf), descending=True, stable=True)
                        idx = order[: min(m, int(stale.sum()))]
                        ub[idx] = evaluate(idx)
                        fresh[idx] = True
                        m *= 2
                    stale = ~fresh & ~taken
                    best = int(torch.argmax(ub.masked_fill(~(fresh & ~taken), -math.inf)))
                    if not bool(stale.any()) or float(ub[best]) >= float(ub.masked_fill(~stale, -math.inf).max()):
                        i = best
                        break
            chosen.append(i)
            chosen_gains.append(ub[i].clone())
            taken[i] = True
            pr, L = probe_of(torch.tensor([i]))  # type: ignore[operator]
            rt.add_selected(pr.mix(L))
            bar.update(1)
    finally:
        bar.close()
    return torch.tensor(chosen, dtype=torch.long), torch.stack(chosen_gains)
