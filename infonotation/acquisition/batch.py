"""Batch selection on gradient embeddings and Fisher factors: BADGE, greedy log-det, LogDetMI and BAIT.

All of them read the weight-space approximations of the paper in sample space (R23, R24, R27, R28):

* :func:`kmeans_pp` -- BADGE (Ash et al., 2020): k-means++ seeding on the gradient embeddings ``g_i``; the first
  centre is the embedding of largest norm, every further one is drawn with probability proportional to
  ``D^2`` (the squared distance to the nearest centre so far). A cheap stand-in for a k-DPP with kernel
  ``S = G G^T``, i.e. for maximising ``logdet S_A``, the joint EIG under a flat prior (R24).
* :func:`greedy_logdet` -- ``f(A) = logdet(S_A + eps Id)`` maximised greedily (BADGE's log-det variant; PRISM/
  SIMILAR's LogDet). With ``S = G G^T`` and ``eps = lambda``: ``f(A) = |A| log lambda + 2 I[W; Y_A | x_A]``
  with ``H''[w*] = lambda Id`` and one-sample (pseudo-label) Fishers ``g_i^T g_i`` (R23).
* :func:`greedy_logdet_mi` -- SIMILAR/PRISM's LogDetMI ``f(A; Q) = logdet S_A - logdet(S_A - S_AQ S_Q^-1 S_QA)``
  (ridge ``eps`` on ``S_A`` and ``S_Q``) = ``logdet S_A + logdet S_Q - logdet S_{A u Q}`` (T21) =
  ``2 I[Y_A; Y_Q]`` for a Gaussian with covariance ``S`` (R28): a JEPIG with query set ``Q``.
* :func:`bait_select` -- BAIT (Ash et al., 2021): minimise ``tr((H + sum_{i in B} F_i)^-1 F_eval)`` (the trace
  proxy of (J)EPIG, R25/R27) by greedy forward selection of ``2k`` points and backward pruning to ``k``.

Every greedy step is incremental and vectorised over the candidates: the log-det greedy keeps a pivoted
Cholesky factor of the selected block (one kernel column and an ``N x |A|`` product per step), BAIT keeps
``Sigma = (H + F_B)^-1`` and each candidate's ``U_j^T Sigma U_j`` and ``U_j^T Sigma F_eval Sigma U_j`` (``C x C``) under
rank-``C`` Woodbury updates. Nothing is recomputed from scratch; no Python loop runs over pool points.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from ..errors import CompileError
from ..numeric.factors import Factors, KronFactors, PreparedKron
from ..numeric.linalg import inverse_from_cholesky
from ..protocol import JointSelection, check_k, progress_bar
from ..threads import one_thread

__all__ = [
    "kmeans_pp",
    "greedy_logdet",
    "greedy_logdet_mi",
    "logdet_scores",
    "logdet_mi_scores",
    "bait_select",
    "bait_scores",
    "BaitPrior",
    "BaitSelection",
]


def _check_k(k: object, n: int) -> int:
    return check_k(k, n)


def _check_matrix(name: str, M: object, rows: int | None = None) -> Tensor:
    if not isinstance(M, Tensor) or M.dim() != 2 or not M.is_floating_point():
        raise CompileError(f"{name} must be a 2-D floating-point tensor")
    if rows is not None and M.shape[0] != rows:
        raise CompileError(f"{name} must have {rows} rows, got {M.shape[0]}")
    if not bool(torch.isfinite(M).all()):
        raise CompileError(f"{name} holds NaN or infinite values")
    return M


def _check_eps(eps: object, what: str = "eps") -> float:
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not math.isfinite(eps) or eps < 0:
        raise CompileError(f"{what} must be a finite number >= 0, got {eps!r}")
    return float(eps)


# ----------------------------------------------------------------------------------------------------
# BADGE: k-means++ seeding


def kmeans_pp(embeddings: Tensor, k: int, *, seed: int = 0) -> Tensor:
    """BADGE's batch: k-means++ seeding on the gradient embeddings ``g_i`` (rows of ``embeddings``, ``[N, P]``).

    As published (Ash et al., 2020): the first centre is the embedding of largest norm (ties: lowest index);
    then each next centre is drawn with probability ``D_i^2 / sum_j D_j^2``, ``D_i`` the distance of ``g_i`` to its
    nearest centre so far (chosen points have ``D = 0``). If every remaining point coincides with a centre, the
    next one is drawn uniformly from the unchosen points. Deterministic for ``seed``. Returns ``LongTensor[k]``
    in the order drawn.
    """
    G = _check_matrix("embeddings", embeddings).to(torch.float64)
    n = G.shape[0]
    _check_k(k, n)
    if k == 0:
        return torch.zeros(0, dtype=torch.long, device=G.device)
    gen = torch.Generator(device=G.device).manual_seed(int(seed))
    sq = G.square().sum(1)
    chosen = torch.zeros(n, dtype=torch.bool, device=G.device)
    first = int(torch.argmax(sq))
    out = [first]
    chosen[first] = True
    d2 = (sq - 2.0 * (G @ G[first]) + sq[first]).clamp_min(0.0)
    for _ in range(k - 1):
        d2 = d2.masked_fill(chosen, 0.0)
        w = d2 if float(d2.sum()) > 0 else (~chosen).to(G.dtype)
        i = int(torch.multinomial(w, 1, generator=gen))
        out.append(i)
        chosen[i] = True
        d2 = torch.minimum(d2, (sq - 2.0 * (G @ G[i]) + sq[i]).clamp_min(0.0))
    return torch.tensor(out, dtype=torch.long, device=G.device)


# ----------------------------------------------------------------------------------------------------
# kernels given by a Gram matrix, by embeddings, or conditioned on a query set


class _Kernel:
    """A PSD kernel ``S`` over ``n`` points: its diagonal and its columns, on demand."""

    n: int

    def diag(self) -> Tensor:
        raise NotImplementedError

    def column(self, i: int) -> Tensor:
        raise NotImplementedError


class _MatrixKernel(_Kernel):
    def __init__(self, S: Tensor):
        self.S = S
        self.n = S.shape[0]

    def diag(self) -> Tensor:
        return self.S.diagonal().clone()

    def column(self, i: int) -> Tensor:
        return self.S[:, i]


class _GramKernel(_Kernel):
    """``S = G G^T`` without forming it: a column is one matrix-vector product."""

    def __init__(self, G: Tensor):
        self.G = G
        self.n = G.shape[0]

    def diag(self) -> Tensor:
        return self.G.square().sum(1)

    def column(self, i: int) -> Tensor:
        return self.G @ self.G[i]


class _ConditionalKernel(_Kernel):
    """``T = S - eta^2 S_PQ (S_Q + eps Id)^-1 S_QP``: the pool kernel conditioned on the query set ``Q``."""

    def __init__(self, base: _Kernel, cross: Tensor, S_Q: Tensor, eps: float, eta: float):
        self.base = base
        self.n = base.n
        L = _cholesky(S_Q + eps * torch.eye(S_Q.shape[0], dtype=S_Q.dtype, device=S_Q.device), "S_Q + eps Id")
        self.W = eta * torch.linalg.solve_triangular(L, cross.mT, upper=False)  # [M, N]

    def diag(self) -> Tensor:
        return self.base.diag() - self.W.square().sum(0)

    def column(self, i: int) -> Tensor:
        return self.base.column(i) - self.W.mT @ self.W[:, i]


def _cholesky(A: Tensor, what: str) -> Tensor:
    with one_thread():
        L, info = torch.linalg.cholesky_ex(0.5 * (A + A.mT))
    if int(info) != 0:
        raise CompileError(f"{what} is not positive definite; use a larger eps (ridge) or check the similarity matrix")
    return L


class _GreedyCholesky:
    """Pivoted Cholesky of ``K = S + eps Id`` restricted to the selected set ``A``, tracked for all candidates.

    ``resid[j] = K_jj - K_jA K_A^-1 K_Aj`` is the Schur complement, so the gain of adding ``j`` is
    ``logdet K_{A+j} - logdet K_A = log resid[j]``; adding ``i`` appends the row
    ``e = (K_:i - C^T C_:i) / sqrt(resid_i)`` to ``C`` (``K_A = C_A^T C_A``) and subtracts ``e^2`` from ``resid``:
    ``O(N |A|)`` per step.
    """

    def __init__(self, kernel: _Kernel, eps: float):
        self.kernel, self.eps = kernel, eps
        self.resid = kernel.diag().to(torch.float64) + eps
        # below this a Schur complement is rounding noise: with eps > 0 it is >= eps exactly; with eps = 0 the
        # candidate lies in the span of the selected points (gain -inf)
        self.floor = 1e-10 * max(float(self.resid.abs().max()), 1e-300) if self.resid.numel() else 0.0
        self.rows: list[Tensor] = []

    def gains(self) -> Tensor:
        r = self.resid
        if self.eps > 0:
            return torch.log(r.clamp_min(self.eps))
        return torch.log(torch.where(r > self.floor, r, torch.zeros_like(r)))

    def add(self, i: int) -> None:
        col = self.kernel.column(i).to(torch.float64).clone()
        col[i] += self.eps
        if self.rows:
            C = torch.stack(self.rows)
            col = col - C.mT @ C[:, i]
        e = col / math.sqrt(max(float(self.resid[i]), 1e-300))
        self.rows.append(e)
        self.resid = self.resid - e.square()
        self.resid[i] = 0.0


def _run_greedy(k: int, n: int, trackers: list[tuple[float, _GreedyCholesky]], what: str) -> JointSelection:
    chosen = torch.zeros(n, dtype=torch.bool)
    out: list[int] = []
    values: list[float] = []
    total = 0.0
    for _ in range(k):
        gain = sum(sign * t.gains() for sign, t in trackers)
        gain = gain.cpu().masked_fill(chosen, -math.inf)
        i = int(torch.argmax(gain))
        g = float(gain[i])
        if not math.isfinite(g):
            raise CompileError(
                f"{what}: no candidate has a finite gain after {len(out)} points (the similarity matrix has rank "
                f"{len(out)}); use eps > 0 (a ridge) or a smaller k"
            )
        out.append(i)
        chosen[i] = True
        total += g
        values.append(total)
        for _, t in trackers:
            t.add(i)
    return JointSelection(torch.tensor(out, dtype=torch.long), torch.tensor(values, dtype=torch.float64))


def _pool_kernel(S: Tensor | None, embeddings: Tensor | None, what: str) -> _Kernel:
    if (S is None) == (embeddings is None):
        raise CompileError(f"{what}: give exactly one of S= (a Gram matrix) or embeddings= (rows g_i, S = G G^T)")
    if S is not None:
        S = _check_matrix("S", S).to(torch.float64)
        if S.shape[0] != S.shape[1]:
            raise CompileError(f"S must be square, got {list(S.shape)}")
        if not torch.allclose(S, S.mT, rtol=1e-8, atol=1e-10 * float(S.abs().max().clamp_min(1.0))):
            raise CompileError("S must be symmetric")
        return _MatrixKernel(S)
    return _GramKernel(_check_matrix("embeddings", embeddings).to(torch.float64))


def greedy_logdet(
    k: int, *, S: Tensor | None = None, embeddings: Tensor | None = None, eps: float = 1e-6
) -> JointSelection:
    """Greedy maximisation of ``f(A) = logdet(S_A + eps Id)`` over ``|A| = k`` pool points.

    ``S`` is an ``[N, N]`` PSD similarity matrix, or ``S = G G^T`` from ``embeddings`` ``G`` ``[N, P]`` (never
    formed). Step ``t`` adds ``argmax_j logdet(S_{A+j} + eps Id) - logdet(S_A + eps Id)`` (a Schur complement,
    tracked incrementally). With gradient embeddings this is BADGE's log-det variant and PRISM/SIMILAR's LogDet;
    ``f(A) = |A| log eps + logdet(Id + S_A / eps) = |A| log eps + 2 I[W; Y_A | x_A]`` for the flat prior
    ``H''[w*] = eps Id`` and one-sample Fishers (R23, R24). Returns :class:`Selection`: indices in selection
    order and ``f`` of every prefix.
    """
    eps = _check_eps(eps)
    kern = _pool_kernel(S, embeddings, "greedy_logdet")
    _check_k(k, kern.n)
    return _run_greedy(k, kern.n, [(1.0, _GreedyCholesky(kern, eps))], "greedy_logdet")


def logdet_scores(*, S: Tensor | None = None, embeddings: Tensor | None = None, eps: float = 1e-6) -> Tensor:
    """``f({j}) = log(S_jj + eps)`` for every pool point: the first greedy gain of :func:`greedy_logdet` ``[N]``."""
    eps = _check_eps(eps)
    return torch.log(_pool_kernel(S, embeddings, "logdet_scores").diag().to(torch.float64) + eps)


def _mi_kernels(
    S: Tensor | None, S_cross: Tensor | None, S_query: Tensor | None, embeddings: Tensor | None,
    query: Tensor | None, eps: float, eta: float,
) -> tuple[_Kernel, _Kernel]:
    if S is not None or embeddings is None:
        if S is None or S_cross is None or S_query is None or query is not None:
            raise CompileError(
                "LogDetMI needs either S=, S_cross= (pool x query) and S_query=, or embeddings= and query= "
                "(rows of the query set's embeddings)"
            )
        base = _pool_kernel(S, None, "LogDetMI")
        cross = _check_matrix("S_cross", S_cross, base.n).to(torch.float64)
        SQ = _check_matrix("S_query", S_query, cross.shape[1]).to(torch.float64)
    else:
        if query is None or S_cross is not None or S_query is not None:
            raise CompileError("LogDetMI with embeddings= needs query= (the query set's embeddings) and no S_*")
        base = _pool_kernel(None, embeddings, "LogDetMI")
        Gq = _check_matrix("query", query).to(torch.float64)
        G = base.G  # type: ignore[attr-defined]
        if Gq.shape[1] != G.shape[1]:
            raise CompileError(f"query embeddings have {Gq.shape[1]} columns, the pool's {G.shape[1]}")
        cross, SQ = G @ Gq.mT, Gq @ Gq.mT
    if cross.shape[1] == 0:
        raise CompileError("LogDetMI needs a non-empty query set Q")
    if isinstance(eta, bool) or not isinstance(eta, int | float) or not 0 <= eta <= 1:
        raise CompileError(f"eta must be a number in [0, 1], got {eta!r}")
    return base, _ConditionalKernel(base, cross, SQ, eps, float(eta))


def greedy_logdet_mi(
    k: int,
    *,
    S: Tensor | None = None,
    S_cross: Tensor | None = None,
    S_query: Tensor | None = None,
    embeddings: Tensor | None = None,
    query: Tensor | None = None,
    eps: float = 1e-6,
    eta: float = 1.0,
) -> JointSelection:
    """Greedy maximisation of SIMILAR/PRISM's LogDetMI with query set ``Q``.

    ``f(A; Q) = logdet(S_A + eps Id) - logdet(S_A + eps Id - eta^2 S_AQ (S_Q + eps Id)^-1 S_QA)``. For ``eta = 1`` this
    is ``logdet S'_A + logdet S'_Q - logdet S'_{A u Q}`` with ``S' = S + eps Id`` (Schur complement, T21), i.e.
    ``2 I[Y_A; Y_Q]`` for a Gaussian with covariance ``S'`` (R28). The marginal gain of ``j`` is the difference of
    two Schur-complement log-gains, one on ``S`` and one on the conditional kernel ``S - eta^2 S_PQ S'_Q^-1 S_QP``;
    both are tracked incrementally. Give ``S`` (pool ``[N, N]``), ``S_cross`` (``[N, M]``) and ``S_query``
    (``[M, M]``), or ``embeddings`` ``[N, P]`` and ``query`` ``[M, P]`` (linear kernel). Returns :class:`Selection`
    with ``f`` of every prefix.
    """
    eps = _check_eps(eps)
    base, cond = _mi_kernels(S, S_cross, S_query, embeddings, query, eps, eta)
    _check_k(k, base.n)
    return _run_greedy(k, base.n, [(1.0, _GreedyCholesky(base, eps)), (-1.0, _GreedyCholesky(cond, eps))],
                       "greedy_logdet_mi")


def logdet_mi_scores(
    *,
    S: Tensor | None = None,
    S_cross: Tensor | None = None,
    S_query: Tensor | None = None,
    embeddings: Tensor | None = None,
    query: Tensor | None = None,
    eps: float = 1e-6,
    eta: float = 1.0,
) -> Tensor:
    """``f({j}; Q) = log(S_jj + eps) - log(S_jj + eps - eta^2 S_jQ (S_Q + eps Id)^-1 S_Qj)`` for every pool point.

    The first greedy gain of :func:`greedy_logdet_mi`; returns ``[N]``.
    """
    eps = _check_eps(eps)
    base, cond = _mi_kernels(S, S_cross, S_query, embeddings, query, eps, eta)
    return torch.log(base.diag().to(torch.float64) + eps) - torch.log((cond.diag().to(torch.float64) + eps).clamp_min(
        torch.finfo(torch.float64).tiny))


# ----------------------------------------------------------------------------------------------------
# BAIT


class BaitSelection(NamedTuple):
    """``indices``: the ``k`` kept points (in forward order); ``objective``: ``tr((H + F_B)^-1 F_eval)`` of the
    final batch; ``forward``: the ``min(2k, N)`` points of the forward pass, in selection order; ``gains``: for each
    kept point, how much adding it lowered the objective in the forward pass (with ``oversample=1``, pure forward
    greedy, they sum to the total decrease)."""

    indices: Tensor
    objective: Tensor
    forward: Tensor
    gains: Tensor


def _quad_all(f: Factors, M: Tensor, chunk: int) -> Tensor:
    prep = f.prepare(M) if isinstance(f, KronFactors) else None
    parts = [f.select(torch.arange(s, min(s + chunk, f.n))).quad(M, prep) for s in range(0, f.n, chunk)]
    return torch.cat(parts) if parts else torch.zeros(0, f.K, f.K, dtype=M.dtype)


def _cross_all(f: Factors, V: Tensor, chunk: int) -> Tensor:
    if isinstance(f, KronFactors):  # [n, D1] @ [D1, C m]: small temporaries, one call
        return f.cross(V)
    parts = [f.select(torch.arange(s, min(s + chunk, f.n))).cross(V) for s in range(0, f.n, chunk)]
    return torch.cat(parts)


class BaitPrior:
    """The pool-independent part of BAIT for ``H = H''[w*|D]`` and ``F_eval``, formed once per compiled acquisition.

    ``Sigma_0 = H^-1`` (from the Cholesky factor of ``H``), ``objective = tr(Sigma_0 F_eval)`` and, laid out for the
    Kronecker quadratic forms of a last layer, ``Sigma_0`` and ``Omega_0 = Sigma_0 F_eval Sigma_0`` (only the
    blocks the forms read). ``Sigma_0`` is the one explicit inverse: every pool point's ``U_j^T Sigma_0 U_j``
    reads all of it, so solving against the factor instead would cost a ``P x P`` triangular solve per point;
    it is formed once, on one thread (LAPACK ``potri``, see :mod:`infonotation.threads`), and reused by every
    :func:`bait_select` / :func:`bait_scores` call that passes this object as ``prior=``.
    """

    def __init__(self, precision: Tensor, eval_fisher: Tensor, like: Factors):
        H = _check_matrix("precision", precision).to(torch.float64)
        F = _check_matrix("eval_fisher", eval_fisher).to(torch.float64)
        P = H.shape[0]
        if H.shape != (P, P) or F.shape != (P, P):
            raise CompileError(f"precision and eval_fisher must be square and of one size, got {list(H.shape)} and "
                               f"{list(F.shape)}")
        self._start(_symmetric(H), _symmetric(F), like)

    @classmethod
    def from_library(cls, precision: Tensor, eval_fisher: Tensor, like: Factors) -> BaitPrior:
        """From matrices the library built and checked (finite, exactly symmetric ``P x P``, float64): the same
        object without the ``O(P^2)`` checks (``H''[w*|D]`` from :func:`~infonotation.numeric.curvature.
        posterior_precision`, ``F_eval`` from ``summed_fisher``)."""
        self = cls.__new__(cls)
        self._start(precision.to(torch.float64), eval_fisher.to(torch.float64), like)
        return self

    def _start(self, H: Tensor, F: Tensor, like: Factors) -> None:
        """``like``: factors of the kind and shape the prior will meet (only ``P``, and ``C``, ``D1`` of
        Kronecker factors, are read): Kronecker factors get the two layouts, dense factors ``Omega_0`` itself."""
        self.P, self.F = H.shape[0], F
        if like.P != self.P:
            raise CompileError(f"BAIT: the factors have {like.P} parameters, the precision and eval_fisher {self.P}")
        with one_thread():  # a LAPACK factorisation: one thread (see infonotation.threads)
            L, info = torch.linalg.cholesky_ex(H)
        if int(info) != 0 or not bool(torch.isfinite(L.diagonal()).all()):  # a NaN/inf anywhere reaches the diagonal
            raise CompileError("H (the precision H''[w*|D]) is not positive definite (or not finite); use a larger "
                               "prior_precision or check the training data")
        self.Sigma = inverse_from_cholesky(L)
        SF = self.Sigma @ F
        self.objective = torch.trace(SF)
        self.kron: tuple[int, int] | None = (like.C, like.D1) if isinstance(like, KronFactors) else None
        self.layouts: PreparedKron | None = None  # Sigma_0 and Omega_0 for KronFactors.quads
        self.Omega: Tensor | None = None  # Omega_0 itself, for dense factors
        if self.kron is not None:
            C, D1 = self.kron
            self.layouts = PreparedKron.stack(
                [PreparedKron(self.Sigma, C, D1), _upper_blocks_of_product(SF, self.Sigma, C, D1)])
        else:
            B = SF @ self.Sigma
            self.Omega = 0.5 * (B + B.mT)


class _BaitState:
    """``Sigma = (H + sum_{i in B} U_i U_i^T)^-1``, ``G_j = U_j^T Sigma U_j`` and ``Hq_j = U_j^T Sigma F Sigma U_j``.

    ``objective = tr(Sigma F)``. Adding (``s = +1``) or removing (``s = -1``) point ``i`` is a rank-``K`` Woodbury
    step: ``R R^T = Id + s G_i``, ``V = Sigma U_i R^-T``, ``Sigma' = Sigma - s V V^T``; with ``Y = Sigma F V``,
    ``M = V^T F V``, ``a_j = U_j^T V``, ``b_j = U_j^T Y``: ``G_j' = G_j - s a_j a_j^T``,
    ``Hq_j' = Hq_j - s (a_j b_j^T + b_j a_j^T) + a_j M a_j^T`` and ``objective' = objective - s tr(M)``.
    ``Sigma`` is kept as ``Sigma_0 - W diag(d) W^T`` (the steps' ``V`` as columns of ``W``, their signs in ``d``):
    a product with it reads ``Sigma_0`` once and writes nothing, where updating ``Sigma_0`` in place would read
    and write the whole ``P x P`` matrix every step. The start (``G``, ``Hq`` of every point) is one pass over the
    pool's factors with the prior's layouts (:class:`BaitPrior`).
    """

    def __init__(self, f: Factors, prior: BaitPrior, chunk: int):
        if f.P != prior.P:
            raise CompileError(f"BAIT: the factors have {f.P} parameters, the precision and eval_fisher {prior.P}")
        kron = (f.C, f.D1) if isinstance(f, KronFactors) else None
        if kron != prior.kron:
            raise CompileError(f"BAIT: the prior was built for {_factor_kind(prior.kron)}, the pool's factors are "
                               f"{_factor_kind(kron)}; build the BaitPrior with like= factors of the pool's kind")
        self.f, self.F, self.chunk, self.Sigma = f, prior.F, chunk, prior.Sigma
        self.objective = prior.objective.clone()
        if prior.layouts is not None:  # one pass over the pool for both quadratic forms
            self.G, self.Hq = f.quads(prior.layouts)  # type: ignore[attr-defined]
        else:
            assert prior.Omega is not None
            self.G = _quad_all(f, self.Sigma, chunk)
            self.Hq = _quad_all(f, prior.Omega, chunk)
        H = prior.Sigma
        self.eye = torch.eye(f.K, dtype=H.dtype, device=H.device)
        self.W = H.new_zeros(H.shape[0], 0)
        self.d = H.new_zeros(0)

    def sigma_times(self, X: Tensor) -> Tensor:
        """``Sigma X`` with ``Sigma = Sigma_0 - W diag(d) W^T``."""
        out = self.Sigma @ X
        if self.d.numel():
            out -= self.W @ (self.d.unsqueeze(1) * (self.W.mT @ X))
        return out

    def sigma_times_factor(self, i: int) -> Tensor:
        """``Sigma U_i`` through the factor's structure (``Sigma_0 (L_i ⊗ z_i)`` reads ``Sigma_0`` once)."""
        out = self.f.left(self.Sigma, i)
        if self.d.numel():
            out -= self.W @ (self.d.unsqueeze(1) * self.f.left(self.W.mT, i))
        return out

    def change(self, idx: Tensor, sign: float) -> Tensor:
        """``tr(Sigma' F) - tr(Sigma F)`` if each point of ``idx`` alone were added (``+1``) or removed (``-1``)."""
        R, info = torch.linalg.cholesky_ex(self.eye + sign * self.G[idx])
        if bool((info != 0).any()):
            raise CompileError("BAIT: Id + U^T Sigma U is not positive definite; check the Fishers and the precision")
        return -sign * torch.cholesky_solve(self.Hq[idx], R).diagonal(dim1=-2, dim2=-1).sum(-1)

    def restrict(self, idx: Tensor) -> None:
        """Keep only the points ``idx`` (from now on, point ``j`` is ``idx[j]``): the backward pass reads and updates
        the ``G``, ``Hq`` of the batch's members alone, not of the whole pool."""
        self.f, self.G, self.Hq = self.f.select(idx), self.G[idx], self.Hq[idx]

    def update(self, i: int, sign: float) -> None:
        R = torch.linalg.cholesky(self.eye + sign * self.G[i])
        V = torch.linalg.solve_triangular(R, self.sigma_times_factor(i).mT, upper=False).mT  # Sigma U_i R^-T
        FV = self.F @ V
        Y = self.sigma_times(FV)
        M = V.mT @ FV
        K = V.shape[1]
        ab = _cross_all(self.f, torch.cat([V, Y], 1), self.chunk)  # one pass over the pool for a and b
        a, b = ab[..., :K], ab[..., K:]
        t = a @ b.mT
        self.G.baddbmm_(a, a.mT, alpha=-sign)  # in place: no new [N, K, K] or P x P tensors per step
        self.Hq.sub_(t, alpha=sign).sub_(t.mT, alpha=sign).baddbmm_(a @ M, a.mT)
        self.W = torch.cat([self.W, V], 1)
        self.d = torch.cat([self.d, V.new_full((V.shape[1],), sign)])
        self.objective = self.objective - sign * torch.trace(M)


def _upper_blocks_of_product(A: Tensor, B: Tensor, C: int, D1: int) -> PreparedKron:
    """The blocks ``(A B)_cc'``, ``c <= c'``, of a product known to be symmetric (``Sigma F Sigma``), as a layout.

    Row block ``c`` of ``A`` times the column blocks ``c' >= c`` of ``B``: ``C (C + 1) / 2`` of the ``C^2`` blocks,
    about half the work of the full product.
    """
    blocks = []
    for c in range(C):
        part = A[c * D1 : (c + 1) * D1] @ B[:, c * D1 :]  # [D1, (C - c) D1]
        blocks.append(part.view(D1, C - c, D1).permute(1, 0, 2))
    return PreparedKron.from_blocks(torch.cat(blocks), C, D1)


def _factor_kind(kron: tuple[int, int] | None) -> str:
    return "dense factors" if kron is None else f"Kronecker factors of {kron[0]} classes x {kron[1]} features"


def _bait_prior(f: object, precision: object, eval_fisher: object, prior: object) -> tuple[Factors, BaitPrior]:
    if not isinstance(f, Factors):
        raise CompileError("factors must be per-point Fisher factors (see acquisition.embeddings.fisher_factors)")
    if prior is not None:
        if precision is not None or eval_fisher is not None:
            raise CompileError("pass either prior= or precision= and eval_fisher=, not both")
        if not isinstance(prior, BaitPrior):
            raise CompileError(f"prior must be a BaitPrior, got {type(prior).__name__}")
        return f, prior
    if precision is None or eval_fisher is None:
        raise CompileError("BAIT needs precision= and eval_fisher= (or a BaitPrior as prior=)")
    return f, BaitPrior(precision, eval_fisher, f)  # type: ignore[arg-type]


def _symmetric(A: Tensor) -> Tensor:
    """``A`` itself when exactly symmetric (the library builds its matrices so), else ``(A + A^T) / 2``."""
    return A if torch.equal(A, A.mT) else 0.5 * (A + A.mT)


def bait_select(
    factors: Factors,
    k: int,
    *,
    precision: Tensor | None = None,
    eval_fisher: Tensor | None = None,
    prior: BaitPrior | None = None,
    oversample: int = 2,
    chunk_size: int = 256,
    progress: bool | None = None,
) -> BaitSelection:
    """BAIT: a batch ``B`` (``|B| = k``) that minimises ``tr((H + sum_{i in B} F_i)^-1 F_eval)``.

    ``factors``: per-point Fisher factors ``U_i`` (``F_i = U_i U_i^T``) of the ``N`` pool points; ``precision``
    ``H = H''[w*|D]`` (training Fishers plus ``lambda Id``); ``eval_fisher`` ``F_eval`` (summed Fisher of the pool or
    an evaluation set), all in the factors' parameter order; or, instead of the two, ``prior`` (a
    :class:`BaitPrior` built from them once, with ``like`` factors of the pool's kind, and reused across pools).
    Forward: greedily add the point that lowers the objective most until ``min(oversample * k, N)`` points are
    in; backward: greedily remove the point whose
    removal raises it least until ``k`` remain (Ash et al., 2021). This is the trace proxy of (J)EPIG (R25,
    R27). Each step costs one rank-``K`` Woodbury update; candidates are scored in one batched Cholesky.
    """
    f, pr = _bait_prior(factors, precision, eval_fisher, prior)
    n = f.n
    _check_k(k, n)
    if isinstance(oversample, bool) or not isinstance(oversample, int) or oversample < 1:
        raise CompileError(f"oversample must be an integer >= 1, got {oversample!r}")
    state = _BaitState(f, pr, chunk_size)
    inside = torch.zeros(n, dtype=torch.bool)
    order: list[int] = []
    decrease: list[float] = []
    steps = min(oversample * k, n)
    bar = progress_bar(steps + max(steps - k, 0), progress, "BAIT", "step")
    try:
        for _ in range(steps):
            ch = state.change(torch.arange(n), 1.0).cpu().masked_fill(inside, math.inf)
            i = int(torch.argmin(ch))
            order.append(i)
            decrease.append(-float(ch[i]))
            inside[i] = True
            state.update(i, 1.0)
            bar.update(1)
        forward = torch.tensor(order, dtype=torch.long)
        if int(inside.sum()) > k:
            members = inside.nonzero().flatten()
            state.restrict(members)  # only the members' G and Hq are read from here on
            alive = torch.ones(members.numel(), dtype=torch.bool)
            while int(alive.sum()) > k:
                pos = alive.nonzero().flatten()
                ch = state.change(pos, -1.0).cpu()
                j = int(pos[int(torch.argmin(ch))])
                alive[j] = False
                inside[int(members[j])] = False
                state.update(j, -1.0)
                bar.update(1)
    finally:
        bar.close()
    keep = inside[forward]
    gains = torch.tensor(decrease, dtype=torch.float64)[keep]
    return BaitSelection(forward[keep], state.objective.detach().clone(), forward, gains)


def bait_scores(
    factors: Factors,
    *,
    precision: Tensor | None = None,
    eval_fisher: Tensor | None = None,
    prior: BaitPrior | None = None,
    chunk_size: int = 256,
) -> Tensor:
    """Per-point BAIT score ``[N]``: ``tr(H^-1 F_eval) - tr((H + F_j)^-1 F_eval) = tr((Id + G_j)^-1 Hq_j)``.

    Higher is better; the first forward step of :func:`bait_select` takes its argmax.
    """
    f, pr = _bait_prior(factors, precision, eval_fisher, prior)
    return -_BaitState(f, pr, chunk_size).change(torch.arange(f.n), 1.0)
