"""Prediction-space estimators of information quantities from K posterior samples.

Input everywhere: ``log_probs[n, k, c] = log p(y = c | x_n, w_k)``, ``[N, K, C]``, for K posterior samples
``w_k`` (ensemble members, MC-dropout masks, Laplace samples; see :mod:`.samples`). The parameter W is
modelled as uniform over the K samples, so ``p(y | x) = 1/K sum_k p(y | x, w_k)`` and, for several points,
``p(y_1..y_b | x_1..x_b) = 1/K sum_k prod_i p(y_i | x_i, w_k)`` (labels independent given W).
All entropies use ``0 log 0 = 0``; results are in nats, in the dtype of the input (float64 in, float64 out),
and every estimator is vectorised over the pool (and chunked where memory would otherwise grow).

* :func:`bald`: ``I[W; Y | x] = H[Y | x] - E_{p(w)} H[Y | x, w]`` (R8).
* :func:`batchbald`: greedy maximiser of the joint ``I[W; Y_1..Y_b | x_1..x_b]``.
* :func:`epig`: ``E_{p_eval(x_e)} I[Y_e; Y | x, x_e]``; :func:`jepig`: ``I[{Y_e}; Y | x, {x_e}]``.
* :func:`information_gain`: ``I[W; y | x]``; :func:`predictive_information_gain`: ``E_{x_e} I[Y_e; y | x, x_e]``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import CompileError
from ..protocol import JointSelection, check_k, check_progress
from ..threads import adaptive
from .samples import checked_probs, validate_log_probs
from .select import greedy

__all__ = [
    "bald",
    "batchbald",
    "BatchBALDResult",
    "joint_mutual_information",
    "joint_entropy",
    "epig",
    "jepig",
    "information_gain",
    "predictive_information_gain",
    "entropy",
    "conditional_entropy",
]

_MAX_CHUNK = 1 << 22  # elements of the largest temporary tensor per chunk (16 MiB in float32)
_KMEANS_ITERS = 2  # Lloyd iterations on a subsample when grouping label configurations for the lazy bounds
_KMEANS_SUBSAMPLE = 16  # rows per group in that subsample


# ----------------------------------------------------------------------------------------------------
# helpers


def _plogp(log_p: Tensor) -> Tensor:
    """``p log p`` from ``log p`` with ``0 log 0 = 0``."""
    return torch.where(torch.isneginf(log_p), torch.zeros_like(log_p), log_p.exp() * log_p)


def _neg_plogp_sum(p: Tensor, dim: int = -1) -> Tensor:
    """``-sum p log p`` along ``dim`` with ``0 log 0 = 0``."""
    return -torch.special.xlogy(p, p).sum(dim)


def _log_mixture(log_probs: Tensor) -> Tensor:
    """``log p(y | x) = log 1/K sum_k p(y | x, w_k)`` -> ``[N, C]``."""
    return torch.logsumexp(log_probs, dim=1) - math.log(log_probs.shape[1])


def entropy(log_probs: Tensor) -> Tensor:
    """``H[Y | x] = -sum_y p(y | x) log p(y | x)``, ``p(y | x) = 1/K sum_k p(y | x, w_k)``: ``[N, K, C] -> [N]``."""
    validate_log_probs(log_probs)
    return -_plogp(_log_mixture(log_probs)).sum(-1)


def conditional_entropy(log_probs: Tensor) -> Tensor:
    """``H[Y | x, W] = E_{p(w)} H[Y | x, w] = -1/K sum_k sum_y p(y|x,w_k) log p(y|x,w_k)``: ``[N, K, C] -> [N]``."""
    validate_log_probs(log_probs)
    return -_plogp(log_probs).sum(-1).mean(-1)


def _check_int(name: str, v: object, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise CompileError(f"{name} must be an integer >= {lo}, got {v!r}")
    return v


def _pair(log_probs_pool: Tensor, log_probs_eval: Tensor) -> tuple[Tensor, Tensor]:
    validate_log_probs(log_probs_pool, "log_probs_pool")
    validate_log_probs(log_probs_eval, "log_probs_eval")
    if log_probs_pool.shape[1] != log_probs_eval.shape[1]:
        raise CompileError(
            f"log_probs_pool and log_probs_eval must come from the same K posterior samples, got K = "
            f"{log_probs_pool.shape[1]} and K = {log_probs_eval.shape[1]}"
        )
    if log_probs_eval.shape[0] == 0:
        raise CompileError("log_probs_eval is empty: the evaluation set needs at least one point")
    dtype = torch.promote_types(log_probs_pool.dtype, log_probs_eval.dtype)
    return log_probs_pool.to(dtype), log_probs_eval.to(dtype)


def _check_labels(labels: Tensor, n: int, c: int) -> Tensor:
    if not isinstance(labels, Tensor) or labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise CompileError("labels must be an integer tensor of class indices, shape [N]")
    if labels.shape != (n,):
        raise CompileError(f"labels must have shape [{n}] (one label per pool point), got {tuple(labels.shape)}")
    if n and (labels.min() < 0 or labels.max() >= c):
        raise CompileError(f"labels must lie in [0, {c}), got values in [{int(labels.min())}, {int(labels.max())}]")
    return labels.to(torch.long)


def _label_log_posterior(log_probs: Tensor, labels: Tensor) -> Tensor:
    """``log p(w_k | y, x) = log p(y | x, w_k) - log sum_j p(y | x, w_j)`` (uniform prior over the K samples)."""
    n, k, c = log_probs.shape
    labels = _check_labels(labels, n, c)
    lik = log_probs.gather(2, labels.view(n, 1, 1).expand(n, k, 1)).squeeze(2)  # [N, K]
    impossible = torch.isneginf(lik).all(1)
    if impossible.any():
        bad = impossible.nonzero().flatten()[:5].tolist()
        raise CompileError(
            f"the label has probability 0 under every posterior sample at pool points {bad}; the posterior "
            "after seeing it is undefined (check the labels or smooth the probabilities)"
        )
    return torch.log_softmax(lik, dim=1)


# ----------------------------------------------------------------------------------------------------
# BALD


@adaptive
def bald(log_probs: Tensor) -> Tensor:
    """BALD / expected information gain ``I[W; Y | x] = H[Y | x] - E_{p(w)} H[Y | x, w]`` for every pool point.

    With ``p(y | x) = 1/K sum_k p(y | x, w_k)``: ``score_n = -sum_c p(c|x_n) log p(c|x_n) +
    1/K sum_k sum_c p(c|x_n,w_k) log p(c|x_n,w_k)`` (paper eq. for EIG in prediction space, R8), with
    ``0 log 0 = 0``. ``[N, K, C] -> [N]``; ``0 <= score <= log C`` (tiny negative rounding is clipped to 0).
    """
    p = checked_probs(log_probs)  # validation and the probabilities in one pass
    mean = p.mean(1)
    h = torch.special.entr(mean).sum(-1)
    h_cond = -_sum_plogp(p, log_probs).mean(-1)
    return (h - h_cond).clamp_min(0.0)


def _sum_plogp(p: Tensor, log_p: Tensor) -> Tensor:
    """``sum_c p log p`` from ``p`` and the given ``log p`` (no second logarithm), with ``0 log 0 = 0``."""
    s = (p * log_p).sum(-1)
    bad = torch.isnan(s)  # only where log p = -inf (0 * -inf); the inputs are checked finite otherwise
    if bool(bad.any()):
        s[bad] = (p[bad] * log_p[bad].clamp_min(torch.finfo(log_p.dtype).min)).sum(-1)
    return s


# ----------------------------------------------------------------------------------------------------
# joint label configurations (shared by BatchBALD and JEPIG)


class _Configurations:
    """Label configurations ``y_B`` of a growing set B of points, with cached mixture statistics.

    Row m holds one configuration ``y_B^m`` through

    * ``weights[m, k] = p(y_B^m | w_k) / p(y_B^m)`` (K times the posterior over the samples given ``y_B^m``),
    * ``log_mass[m] = log p(y_B^m) = log 1/K sum_k prod_{i in B} p(y_i^m | x_i, w_k)``,
    * ``omega[m]``: its weight in expectations over ``Y_B``: ``p(y_B^m)`` while all configurations are
      enumerated (exact), ``count[m] / M`` once they are sampled (``M`` draws ``y_B ~ p(y_B)``, stratified over the
      K samples: ``M / K`` draws from each ``p(y_B | w_k)``; identical draws share one row with their count).

    Adding a point multiplies the cached rows by its K x C probabilities (exact: every row times every
    label, rows of probability 0 dropped; sampled: one label per draw from the draw's own sample ``w_k``, draws
    that agree merged) -- nothing is ever recomputed from scratch. Exact enumeration continues while the number
    of configurations stays within ``budget``. With ``drop_settled`` (BatchBALD only), sampled rows whose posterior
    has settled on one sample (``max_k weights / K >= 1 - 8 eps``) are dropped: their term of the conditional
    information ``I[W; Y_n | y_B^m]`` is zero to rounding and stays so (see :meth:`conditional_information`).
    """

    def __init__(self, k: int, dtype: torch.dtype, device: torch.device, budget: int, seed: int, max_chunk: int,
                 drop_settled: bool = False):
        self.k = k
        self.budget = budget
        self.max_chunk = max_chunk
        self.exact = True
        self.weights = torch.ones((1, k), dtype=dtype, device=device)
        self.log_mass = torch.zeros(1, dtype=dtype, device=device)
        self.member: Tensor | None = None  # sample index each sampled row was drawn from
        self.count: Tensor | None = None  # draws per sampled row
        self.total = 1.0  # draws in all (sampled regime)
        self.gen = torch.Generator(device=device).manual_seed(int(seed))
        self.size = 0
        self.drop_settled = drop_settled
        self.settled_tol = 8 * torch.finfo(dtype).eps

    @property
    def omega(self) -> Tensor:
        if self.exact:
            return self.log_mass.exp()
        assert self.count is not None
        return self.count / self.total

    def entropy(self) -> Tensor:
        """``H[Y_B]``: exact ``-sum p log p``, or the Monte-Carlo ``-1/M sum_m log p(y_B^m)`` (without
        ``drop_settled``)."""
        if self.exact:
            return -(self.log_mass.exp() * self.log_mass).sum()
        return -(self.omega * self.log_mass).sum()

    def _draw(self, probs: Tensor) -> Tensor:
        """One label per row of ``probs`` ``[R, C]`` (inverse CDF, from the seeded generator)."""
        u = torch.rand(probs.shape[0], 1, generator=self.gen, dtype=probs.dtype, device=probs.device)
        cdf = probs.cumsum(-1)
        y = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).squeeze(1)  # never a label of probability 0
        return y.clamp_max(probs.shape[1] - 1)

    def _merge(self, key: Tensor) -> tuple[Tensor, Tensor]:
        """Distinct ``key`` values (sorted, so deterministic) and how many draws share each."""
        uniq, cnt = torch.unique(key, return_counts=True)
        return uniq, cnt.to(self.weights.dtype)

    def add(self, probs_new: Tensor) -> None:
        """Add one point with ``probs_new[k, c] = p(y = c | x, w_k)`` (``[K, C]``) to B."""
        k, c = probs_new.shape
        self.size += 1
        m = self.weights.shape[0]
        if self.exact and m * c <= self.budget:
            pred = self.weights @ probs_new / k  # [M, C] = p(y_new | y_B^m)
            w = (self.weights.unsqueeze(1) * probs_new.T.unsqueeze(0)).reshape(m * c, k)
            pred = pred.reshape(m * c)
            keep = pred > 0
            self.weights = w[keep] / pred[keep].unsqueeze(1)
            self.log_mass = self.log_mass.unsqueeze(1).expand(m, c).reshape(m * c)[keep] + torch.log(pred[keep])
            return
        if self.exact:  # switch to sampling: stratified draws of y_B from each p(y_B | w_k), then y_new
            s = max(self.budget // k, 1)
            p_k = (self.weights * self.log_mass.exp().unsqueeze(1)).T  # [K, M]: p(y_B^m | w_k)
            rows = torch.multinomial(p_k, s, replacement=True, generator=self.gen)  # [K, s]
            member = torch.arange(k, device=rows.device).unsqueeze(1).expand(k, s)
            uniq, cnt = self._merge((rows * k + member).reshape(-1))
            rows, member = uniq // k, uniq % k
            self.weights, self.log_mass, self.member, self.count = self.weights[rows], self.log_mass[rows], member, cnt
            self.total = float(k * s)
            self.exact = False
        assert self.member is not None and self.count is not None
        parent = torch.repeat_interleave(torch.arange(self.weights.shape[0], device=self.count.device),
                                         self.count.round().long())
        y = self._draw(probs_new[self.member[parent]])  # y_new ~ p(y | x, w_{member}) for every draw
        uniq, cnt = self._merge(parent * c + y)
        parent, y = uniq // c, uniq % c
        w = self.weights[parent] * probs_new.T[y]  # [R, K]: p(y_B^m, y_new | w_k) / p(y_B^m)
        pred = w.mean(1)  # p(y_new | y_B^m) > 0: the row's own sample gave it positive probability
        self.weights = w / pred.unsqueeze(1)
        self.log_mass = self.log_mass[parent] + torch.log(pred)
        self.member, self.count = self.member[parent], cnt
        if self.drop_settled:
            keep = self.weights.max(1).values < k * (1.0 - self.settled_tol)
            if not bool(keep.all()):
                self.weights, self.log_mass = self.weights[keep], self.log_mass[keep]
                self.member, self.count = self.member[keep], self.count[keep]

    def mean_posterior(self) -> Tensor:
        """``a_k = sum_m omega_m weights[m, k] / K``: the posterior over the samples averaged over the configurations
        (``1/K`` each while exact; its Monte-Carlo estimate once sampled), ``[K]``."""
        return self.omega @ self.weights / self.k

    def conditional_information(self, probs: Tensor, sample_entropies: Tensor) -> Tensor:
        """``I[W; Y_n | Y_B, x_n] = E_{y_B} (H[Y_n | y_B] - E_{w | y_B} H[Y_n | w])`` per candidate, ``[L]``.

        ``sample_entropies[n, k] = H[Y_n | x_n, w_k]``. Every configuration contributes a Jensen gap ``>= 0``
        (zero once its posterior has settled on one sample), so the sampled estimate is never negative and has far
        less variance than subtracting the prior average ``1/K sum_k H[Y_n | w_k]``; while the configurations are
        enumerated the two are equal (``a_k = 1/K``).
        """
        return self.conditional_entropy(probs) - sample_entropies @ self.mean_posterior()

    def conditional_entropy(self, probs: Tensor) -> Tensor:
        """``H[Y_n | Y_B, x_n] = E_{y_B} H[Y_n | y_B]`` for every candidate ``probs[n]`` ``[L, K, C]`` -> ``[L]``.

        ``p(y_n | y_B^m) = 1/K sum_k weights[m, k] p(y_n | x_n, w_k)``: one matrix product ``[M, K] @ [K, L C]``
        per chunk of configurations (and candidates), then ``sum_m omega_m H[p(. | y_B^m)]``.
        """
        return _mixture_conditional_entropy(self.weights, self.omega, probs, self.max_chunk)

    def grouped(self, groups: int, seed: int) -> tuple[Tensor, Tensor]:
        """A coarsening of the configurations into ``groups`` clusters (weighted k-means on the posterior weights).

        Returns the clusters' ``omega``-weighted mean weights ``[G, K]`` and total ``omega`` ``[G]``. Because
        ``p(y_n | g) = sum_{m in g} omega_m p(y_n | y_B^m) / Omega_g`` is a mixture and entropy is concave,
        ``sum_g Omega_g H[p(. | g)] >= sum_m omega_m H[p(. | y_B^m)]`` for every candidate: an upper bound on
        :meth:`conditional_entropy` (for the very same configurations, exact or sampled) at ``G / M`` of its cost.
        """
        m = self.weights.shape[0]
        omega = self.omega
        if m <= groups:
            return self.weights, omega
        gen = torch.Generator(device=self.weights.device).manual_seed(int(seed))
        perm = torch.randperm(m, generator=gen, device=self.weights.device)
        sub = perm[: _KMEANS_SUBSAMPLE * groups]  # centroids are fitted on a subsample, all rows assigned at the end
        cent = self.weights[perm[:groups]].clone()
        for it in range(_KMEANS_ITERS + 1):
            x, om = (self.weights, omega) if it == _KMEANS_ITERS else (self.weights[sub], omega[sub])
            assign = self._nearest(x, cent)
            tot = torch.zeros(groups, dtype=x.dtype, device=x.device).index_add_(0, assign, om)
            mean = torch.zeros_like(cent).index_add_(0, assign, x * om.unsqueeze(1))
            filled = tot > 0
            cent[filled] = mean[filled] / tot[filled].unsqueeze(1)
        return cent[filled], tot[filled]

    def _nearest(self, x: Tensor, cent: Tensor) -> Tensor:
        c2 = (cent * cent).sum(1)
        step = max(1, self.max_chunk // cent.shape[0])
        parts = [torch.argmin(c2 - 2.0 * (x[r : r + step] @ cent.T), dim=1) for r in range(0, x.shape[0], step)]
        return torch.cat(parts)


def _mixture_conditional_entropy(weights: Tensor, omega: Tensor, probs: Tensor, max_chunk: int) -> Tensor:
    """``sum_m omega_m H[q_m]`` with ``q_m(c) = 1/K sum_k weights[m, k] probs[n, k, c]``, for every n: ``[L]``."""
    n_cand, k, c = probs.shape
    out = probs.new_zeros(n_cand)
    m_total = weights.shape[0]
    cand_step = max(1, min(n_cand, max_chunk // c))
    for a in range(0, n_cand, cand_step):
        pb = probs[a : a + cand_step]
        lc = pb.shape[0] * c
        rhs = pb.permute(1, 0, 2).reshape(k, lc) / k
        row_step = max(1, max_chunk // lc)
        acc = probs.new_zeros(pb.shape[0])
        for r in range(0, m_total, row_step):
            pred = weights[r : r + row_step] @ rhs  # [m, L C]
            h = torch.special.entr(pred).view(-1, pb.shape[0], c).sum(-1)  # [m, L]
            acc += omega[r : r + row_step] @ h
        out[a : a + cand_step] = acc
    return out


class BatchBALDResult(JointSelection):
    """``indices``: ``LongTensor[k]`` in selection order; ``scores[i]`` = ``I[W; Y_{B_i} | x_{B_i}]`` for the
    prefix ``B_i = indices[: i + 1]`` (same dtype as the input). A :class:`~infonotation.protocol.JointSelection`
    (so a 2-tuple): ``.joint`` is ``scores``, ``.gains`` each point's gain when it was chosen."""

    __slots__ = ()


class _BatchBALDObjective:
    """``f(B) = I[W; Y_B | x_B] = H[Y_B | x_B] - sum_{i in B} E_w H[Y_i | x_i, w]`` with incremental caches.

    Marginal gain of a candidate n: ``I[W; Y_n | x_n, Y_B, x_B] = E_{y_B} (H[Y_n | y_B] - E_{w|y_B} H[Y_n | w])``
    (:meth:`_Configurations.conditional_information`). ``f`` of a prefix is the sum of the gains of its points
    (chain rule, R5): exact while the configurations are enumerated. ``upper_bounds`` coarsens the configurations
    into ``groups`` clusters (see ``_Configurations.grouped``).
    """

    def __init__(self, log_probs: Tensor, budget: int, seed: int, max_chunk: int, groups: int):
        self.probs = log_probs.exp()
        self.sample_entropies = -_plogp(log_probs).sum(-1)  # H[Y_n | x_n, w_k], [N, K]
        self.cond = self.sample_entropies.mean(-1)  # E_w H[Y_n | x_n, w], [N]
        n, k, c = log_probs.shape
        self.configs = _Configurations(k, log_probs.dtype, log_probs.device, budget, seed, max_chunk,
                                       drop_settled=True)
        self.seed = seed
        self.groups = groups
        self.value = 0.0
        self.pending: int | None = None
        # rounding allowance of a bound against a gain computed the same way (sums of entropies <= log C)
        self.slack = 64 * torch.finfo(log_probs.dtype).eps * max(math.log(c), 1.0)
        self.upper_bounds = self._upper_bounds

    @property
    def num_candidates(self) -> int:
        return self.probs.shape[0]

    @property
    def stale_bounds_valid(self) -> bool:
        # Old gains bound new ones for the exact joint (submodularity); a sampled estimate only obeys
        # that on average, so in the sampled regime only the grouped bounds are used.
        self._flush()
        return self.configs.exact

    def _flush(self) -> None:
        if self.pending is not None:
            self.configs.add(self.probs[self.pending])
            self.pending = None

    def gains(self, candidates: Tensor) -> Tensor:
        self._flush()
        cand = candidates.to(self.probs.device)
        if self.configs.exact:
            return self.configs.conditional_entropy(self.probs[cand]) - self.cond[cand]
        return self.configs.conditional_information(self.probs[cand], self.sample_entropies[cand])

    def _upper_bounds(self, candidates: Tensor) -> Tensor:
        """Cheap upper bounds on :meth:`gains`: the configurations merged into ``groups`` clusters. Merging rows
        mixes their predictives, and ``H`` is concave while the subtracted term is linear in the weights, so
        the merged value can only be larger (for exact and sampled configurations alike)."""
        self._flush()
        cand = candidates.to(self.probs.device)
        w, om = self.configs.grouped(self.groups, self.seed * 7919 + self.configs.size)
        h = _mixture_conditional_entropy(w, om, self.probs[cand], self.configs.max_chunk)
        second = self.cond[cand] if self.configs.exact else self.sample_entropies[cand] @ self.configs.mean_posterior()
        return h - second + self.slack

    def add(self, index: int, gain: float) -> float:
        self._flush()
        self.value += gain
        self.pending = index  # extend the configurations only if another step follows
        return self.value


@adaptive
def batchbald(
    log_probs: Tensor,
    k: int,
    num_samples: int = 10_000,
    seed: int = 0,
    *,
    lazy: bool = True,
    groups: int = 128,
    max_chunk_elements: int = _MAX_CHUNK,
    progress: bool | None = None,
) -> BatchBALDResult:
    """BatchBALD: greedily select k pool points maximising the joint ``I[W; Y_1, ..., Y_b | x_1, ..., x_b]``.

    Joint score of a batch B (BatchBALD, Kirsch et al. 2019):
    ``I[W; Y_B | x_B] = H[Y_B | x_B] - sum_{i in B} E_{p(w)} H[Y_i | x_i, w]`` with
    ``p(y_B | x_B) = 1/K sum_k prod_{i in B} p(y_i | x_i, w_k)``. Step i adds the candidate with the largest
    ``I[W; Y_n | x_n, Y_B, x_B] = H[Y_n | x_n, Y_B, x_B] - E_w H[Y_n | x_n, w]`` (the chain rule R5), where
    ``H[Y_n | Y_B] = E_{p(y_B)} H[Y_n | y_B]`` sums over ``y_n`` exactly and over the label configurations
    ``y_B`` of the current batch: all ``C^|B|`` of them (exact) while that number is ``<= num_samples``
    (with the default 10,000 and C = 10: exact for batches of up to 5 points), else ``num_samples``
    configurations (rounded down to a multiple of K) drawn from ``p(y_B)``, stratified over the K samples
    and deterministic for ``seed``. The configurations are cached as K-vectors of posterior weights and
    extended incrementally when a point is added; candidates are scored by matrix products
    ``[M, K] @ [K, L C]`` chunked to at most ``max_chunk_elements`` temporaries.

    ``lazy=True`` (default) scores only the candidates that can still win: every step it bounds all gains
    from above at ``groups / M`` of the cost (the configurations merged into ``groups`` clusters; entropy is
    concave, so a coarser conditioning can only raise ``H[Y_n | .]``), intersects with the previous gains
    (valid bounds by submodularity of ``I[W; Y_B]`` while the configurations are exact), and scores exactly
    the best-bounded candidates until one beats every remaining bound. It selects what ``lazy=False``
    (score every remaining candidate every step, same configurations) selects.

    Returns :class:`BatchBALDResult` ``(indices LongTensor[k], scores Tensor[k])``; ``scores[i]`` is the joint
    ``I[W; Y_B | x_B]`` of the prefix ``indices[: i + 1]``, in the input's dtype, by the chain rule
    ``I[W; Y_B] = sum_i I[W; Y_i | Y_{<i}]``: exact while the configurations are enumerated. Once they are sampled
    the gains the greedy step maximised are biased upwards (the winner of noisy estimates is the one whose noise
    was high), so the reported prefix scores are re-estimated with fresh configurations (drawn with a seed
    derived from ``seed``, not used for the selection): an unbiased estimate of each prefix's joint score, each
    term an average of entropies in ``[0, log C]`` (lower variance than averaging ``-log p(y_B^m)``). The exact
    value is at most ``H[W] = log K``. ``progress``: a tqdm bar over the k steps (``None``: when slow).
    """
    validate_log_probs(log_probs)
    check_k(k, log_probs.shape[0])
    _check_int("num_samples", num_samples, 1)
    _check_int("max_chunk_elements", max_chunk_elements, 1)
    check_progress(progress)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise CompileError(f"seed must be an integer, got {seed!r}")
    _check_int("groups", groups, 1)
    objective = _BatchBALDObjective(log_probs, num_samples, seed, max_chunk_elements, groups)
    sel = greedy(objective, k, lazy=lazy, progress=progress, block_size=8)
    scores = sel.scores.to(dtype=log_probs.dtype, device=log_probs.device)
    if not objective.configs.exact:
        scores = _fresh_prefix_scores(objective, sel.indices, num_samples, seed, max_chunk_elements)
    return BatchBALDResult(sel.indices.to(log_probs.device), scores)


def _fresh_prefix_scores(objective: _BatchBALDObjective, indices: Tensor, budget: int, seed: int,
                         max_chunk: int) -> Tensor:
    """``I[W; Y_{B_i}]`` of every prefix of ``indices`` by the chain rule with configurations not used to select."""
    probs, ent = objective.probs, objective.sample_entropies
    fresh = (seed * 0x9E3779B1 + 0x5EED) % (2**63 - 1)
    configs = _Configurations(probs.shape[1], probs.dtype, probs.device, budget, fresh, max_chunk, drop_settled=True)
    gains = []
    for j, i in enumerate(indices.tolist()):
        if j:
            configs.add(probs[indices[j - 1]])
        if configs.exact:
            gains.append(configs.conditional_entropy(probs[i : i + 1])[0] - objective.cond[i])
        else:
            gains.append(configs.conditional_information(probs[i : i + 1], ent[i : i + 1])[0])
    return torch.cumsum(torch.stack(gains), 0)


@adaptive
def joint_entropy(log_probs: Tensor, num_samples: int = 10_000, seed: int = 0) -> Tensor:
    """``H[Y_1, ..., Y_b | x_1, ..., x_b]`` of all ``b = N`` points in ``log_probs`` (a scalar), in nats.

    ``p(y_1..y_b) = 1/K sum_k prod_i p(y_i | x_i, w_k)``. Computed by the chain rule
    ``sum_i H[Y_i | x_i, Y_{<i}, x_{<i}]`` as in :func:`batchbald`: each term sums ``y_i`` exactly and the earlier
    labels exactly while ``C^(i-1) <= num_samples``, else over ``num_samples`` configurations drawn from
    ``p(y_{<i})`` (stratified over the K samples, deterministic for ``seed``).
    """
    validate_log_probs(log_probs)
    _check_int("num_samples", num_samples, 1)
    n = log_probs.shape[0]
    configs = _Configurations(log_probs.shape[1], log_probs.dtype, log_probs.device, num_samples, seed, _MAX_CHUNK)
    probs = log_probs.exp()
    total = log_probs.new_zeros(())
    for i in range(n):
        if i:
            configs.add(probs[i - 1])
        total = total + configs.conditional_entropy(probs[i : i + 1])[0]
    return total


def joint_mutual_information(log_probs: Tensor, num_samples: int = 10_000, seed: int = 0) -> Tensor:
    """``I[W; Y_1, ..., Y_b | x_1, ..., x_b] = H[Y_1..Y_b | x_1..x_b] - sum_i E_w H[Y_i | x_i, w]`` (a scalar).

    The BatchBALD score of the set of all ``b = N`` points in ``log_probs``; :func:`joint_entropy` gives the
    first term (same estimator as :func:`batchbald`).
    """
    h = joint_entropy(log_probs, num_samples, seed)
    return h + _plogp(log_probs).sum(-1).mean(-1).sum()


# ----------------------------------------------------------------------------------------------------
# EPIG / JEPIG


@adaptive
def epig(log_probs_pool: Tensor, log_probs_eval: Tensor, *, max_chunk_elements: int = _MAX_CHUNK) -> Tensor:
    """EPIG: ``E_{p_eval(x_e)} I[Y_e; Y | x, x_e]``, the expected predictive information gain of each pool point.

    ``log_probs_pool`` ``[N, K, C]`` and ``log_probs_eval`` ``[M, K, C']`` must use the same K posterior
    samples. With the joint predictive ``p(y, y_e | x, x_e) = 1/K sum_k p(y | x, w_k) p(y_e | x_e, w_k)``,
    ``score_n = 1/M sum_m sum_{y, y_e} p(y, y_e) log [p(y, y_e) / (p(y) p(y_e))]``
    (= ``H[Y | x] + H[Y_e | x_e] - H[Y, Y_e | x, x_e]``, Kirsch, Rainforth & Gal 2021; Bickford Smith et al.
    2023), evaluated term by term for accuracy. Computed by matrix products ``[n C, K] @ [K, m C']`` over
    chunks of pool and evaluation points, so memory stays below ``max_chunk_elements`` temporaries.
    Returns ``[N]``, ``>= 0``.
    """
    lp_a, lp_e = _pair(log_probs_pool, log_probs_eval)
    _check_int("max_chunk_elements", max_chunk_elements, 1)
    n, k, ca = lp_a.shape
    m, _, ce = lp_e.shape
    p_a, p_e = lp_a.exp(), lp_e.exp()
    mean_a, mean_e = p_a.mean(1), p_e.mean(1)  # [N, Ca], [M, Ce]
    out = lp_a.new_zeros(n)
    tiny = torch.finfo(lp_a.dtype).tiny
    pool_step = max(1, min(n, max_chunk_elements // (ca * ce)))
    for a in range(0, n, pool_step):
        pa = p_a[a : a + pool_step]
        na = pa.shape[0]
        lhs = pa.permute(0, 2, 1).reshape(na * ca, k) / k  # [na Ca, K]
        ma = mean_a[a : a + pool_step].reshape(na, ca, 1, 1)
        eval_step = max(1, max_chunk_elements // (na * ca * ce))
        acc = lp_a.new_zeros(na)
        for b in range(0, m, eval_step):
            pe = p_e[b : b + eval_step]
            me = pe.shape[0]
            joint = (lhs @ pe.permute(1, 0, 2).reshape(k, me * ce)).view(na, ca, me, ce)
            ratio = joint / (ma * mean_e[b : b + eval_step].reshape(1, 1, me, ce)).clamp_min(tiny)
            acc += torch.special.xlogy(joint, ratio).sum((1, 2, 3))
        out[a : a + na] = acc / m
    return out.clamp_min(0.0)


@adaptive
def jepig(
    log_probs_pool: Tensor,
    log_probs_eval: Tensor,
    *,
    num_samples: int = 10_000,
    seed: int = 0,
    max_chunk_elements: int = _MAX_CHUNK,
) -> Tensor:
    """JEPIG: ``I[{Y_e}; Y | x, {x_e}]``, the information about the *joint* labels of a small evaluation set.

    ``I[Y_E; Y_n] = H[Y_n | x_n] - H[Y_n | x_n, Y_E, x_E]`` with ``H[Y_n | Y_E] = E_{p(y_E)} H[Y_n | y_E]`` and
    ``p(y_n | y_E) = sum_k p(w_k | y_E) p(y_n | x_n, w_k)``. The ``C^M`` evaluation-label configurations are
    enumerated while they fit ``num_samples``, else ``num_samples`` of them are drawn from ``p(y_E)``
    (stratified over the K samples, deterministic for ``seed``). Returns ``[N]``.
    """
    lp_a, lp_e = _pair(log_probs_pool, log_probs_eval)
    _check_int("num_samples", num_samples, 1)
    _check_int("max_chunk_elements", max_chunk_elements, 1)
    k = lp_a.shape[1]
    configs = _Configurations(k, lp_a.dtype, lp_a.device, num_samples, seed, max_chunk_elements)
    p_e = lp_e.exp()
    for i in range(p_e.shape[0]):
        configs.add(p_e[i])
    h = -_plogp(_log_mixture(lp_a)).sum(-1)
    return (h - configs.conditional_entropy(lp_a.exp())).clamp_min(0.0)


# ----------------------------------------------------------------------------------------------------
# label-aware (active sampling) quantities


@adaptive
def information_gain(log_probs: Tensor, labels: Tensor) -> Tensor:
    """Information gain with a known label: ``I[W; y | x] = H[W] - H[W | y, x]`` in the K-sample model.

    W is uniform over the K samples (``H[W] = log K``); after seeing y the posterior is
    ``p(w_k | y, x) = p(y | x, w_k) / sum_j p(y | x, w_j)``, so ``score_n = log K + sum_k p(w_k|y_n,x_n) log
    p(w_k|y_n,x_n)``. Averaged over ``y ~ p(y | x)`` it equals BALD ``I[W; Y | x]``. ``labels``: ``LongTensor[N]``.
    Returns ``[N]``.
    """
    validate_log_probs(log_probs)
    log_post = _label_log_posterior(log_probs, labels)
    return math.log(log_probs.shape[1]) + _plogp(log_post).sum(-1)


@adaptive
def predictive_information_gain(
    log_probs_pool: Tensor,
    labels: Tensor,
    log_probs_eval: Tensor,
    *,
    max_chunk_elements: int = _MAX_CHUNK,
) -> Tensor:
    """Predictive information gain with a known label: ``E_{p_eval(x_e)} I[Y_e; y | x, x_e]``.

    ``I[Y_e; y | x, x_e] = H[Y_e | x_e] - H[Y_e | x_e, y, x]`` where, in the K-sample model, the posterior
    after seeing ``y`` is ``p(w_k | y, x) prop. p(y | x, w_k)`` and ``p(y_e | x_e, y, x) = sum_k p(w_k | y, x)
    p(y_e | x_e, w_k)``; averaged over ``M`` evaluation points. Averaged over ``y ~ p(y | x)`` it equals
    :func:`epig`. Can be negative (a surprising label can make predictions less certain). Returns ``[N]``.
    """
    lp_a, lp_e = _pair(log_probs_pool, log_probs_eval)
    _check_int("max_chunk_elements", max_chunk_elements, 1)
    post = _label_log_posterior(lp_a, labels).exp()  # [N, K]
    n, k, _ = lp_a.shape
    m, _, ce = lp_e.shape
    p_e = lp_e.exp()
    h_e = -_plogp(_log_mixture(lp_e)).sum(-1)  # [M]
    out = lp_a.new_zeros(n)
    pool_step = max(1, min(n, max_chunk_elements // ce))
    for a in range(0, n, pool_step):
        pa = post[a : a + pool_step]
        eval_step = max(1, max_chunk_elements // (pa.shape[0] * ce))
        acc = lp_a.new_zeros(pa.shape[0])
        for b in range(0, m, eval_step):
            pe = p_e[b : b + eval_step]
            pred = (pa @ pe.permute(1, 0, 2).reshape(k, -1)).view(pa.shape[0], pe.shape[0], ce)
            acc += (h_e[b : b + eval_step].unsqueeze(0) - _neg_plogp_sum(pred)).sum(1)
        out[a : a + pa.shape[0]] = acc / m
    return out
