"""How each named method of :mod:`.methods` is computed: one builder per method, ``_Context -> Acquirer``.

Every builder works for the likelihoods its method lists (``Method.likelihoods``):

* categorical and bernoulli (one logit): prediction-space methods estimate from posterior samples
  (``[N, K, C]`` log-probabilities; a Bernoulli network gives the two classes ``[1 - p, p]``);
* gaussian (regression, noise scale ``sigma``): prediction-space methods use the closed forms under the
  linearised Gaussian posterior (:mod:`infonotation.numeric.gaussian`): BALD is ``1/2 log(1 + var_f(x)/sigma^2)``
  (compiled as the weight-space log-det, equal by the determinant lemma), BatchBALD the joint log-det, EPIG the
  mutual information of the joint predictive Gaussian averaged over the evaluation inputs;
* gradient-embedding methods (BADGE, LogDet, LogDetMI) use the one-sample gradient at the likelihood's
  pseudo-label (categorical: the argmax class; bernoulli: the more probable label; gaussian: ``mu - sigma``,
  whose gradient is the Fisher factor ``J^T / sigma``); BAIT and the weight-space methods use the likelihood's
  Fisher information.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import CompileError, CompileWarning
from ..numeric.compile import compile as compile_quantity
from ..numeric.curvature import summed_fisher
from ..numeric.gaussian import GaussianPredictive
from ..protocol import Selection
from .acquirer import _CHUNK, Acquirer, _Context, _Posterior
from .batch import (
    BaitPrior,
    bait_scores,
    bait_select,
    greedy_logdet,
    greedy_logdet_mi,
    kmeans_pp,
    logdet_mi_scores,
    logdet_scores,
)
from .scores import bald, batchbald, epig, jepig, predictive_information_gain

__all__ = ["BUILDERS"]


def _topk_only(ctx: _Context, score: Callable[[Tensor, Tensor | None], Tensor], detail: str = "") -> Acquirer:
    return Acquirer(ctx.method, lambda X, y, progress: score(X, y), None, detail, ctx=ctx)


def _gaussian_samples_error(ctx: _Context) -> None:
    if ctx.posterior not in ("auto", "laplace") or not isinstance(ctx.network, torch.nn.Module):
        raise CompileError(
            f"method {ctx.method.name!r} with likelihood='gaussian' uses the closed form under the linearised "
            "Gaussian (Laplace) posterior: posterior must be 'auto' or 'laplace' and the network one nn.Module "
            "(posterior samples of a regression network give a mixture of Gaussians, whose entropy has no closed "
            "form)"
        )


# ----------------------------------------------------------------------------------------------------
# baselines and prediction space


def uniform_at(start: int, n: int, seed: int) -> Tensor:
    """Uniform numbers in [0, 1) for the pool indices ``start .. start + n - 1``, a function of (seed, index) only.

    A counter-based generator (SplitMix64 of the index, keyed by the seed), so a pool scored in chunks, as a stream
    or on another engine gets the same number for the same point.
    """
    with np.errstate(over="ignore"):
        key = np.uint64(seed % 2**64) * np.uint64(0xD1B54A32D192ED03) + np.uint64(0x632BE59BD9B4E019)
        z = np.arange(start, start + n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) + key
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return torch.from_numpy((z >> np.uint64(11)).astype(np.float64) * 2.0**-53)


def _build_random(ctx: _Context) -> Acquirer:
    seed = ctx.seed
    return Acquirer(ctx.method, lambda X, y, progress: uniform_at(0, X.shape[0], seed), None, f", seed {seed}",
                    ctx=ctx, chunk_score=lambda X, y, start: uniform_at(start, X.shape[0], seed), positional=True)


def _build_bald(ctx: _Context, default: str = "topk") -> Acquirer:
    if ctx.head.name == "gaussian":
        return _gaussian_weight(ctx, "I[W;Y_B|x_B]", default=default)
    post = _Posterior(ctx)

    def select(X: Tensor, k: int, y: Tensor | None, progress: bool | None) -> Selection:
        res = batchbald(post.log_probs(X), k, num_samples=int(ctx.option("configurations", 10_000)), seed=ctx.seed,
                        progress=progress)
        return Selection(res.indices, res.gains)

    return Acquirer(ctx.method, lambda X, y, progress: bald(post.log_probs(X)), {"greedy": select},
                    f", {post.kind} samples", ctx=ctx, default=default)


def _build_batchbald(ctx: _Context) -> Acquirer:
    return _build_bald(ctx, default="greedy")


def _build_epig(ctx: _Context) -> Acquirer:
    if ctx.head.name == "gaussian":
        return _gaussian_epig(ctx)
    post = _Posterior(ctx)
    lp_eval = post.log_probs(ctx.eval_set())
    return _topk_only(ctx, lambda X, y: epig(post.log_probs(X), lp_eval), f", {post.kind} samples")


def _build_pig(ctx: _Context) -> Acquirer:
    if ctx.head.name == "gaussian":
        return _gaussian_epig(ctx)
    post = _Posterior(ctx)
    lp_eval = post.log_probs(ctx.eval_set())

    def score(X: Tensor, y: Tensor | None) -> Tensor:
        assert y is not None
        return predictive_information_gain(post.log_probs(X), post.labels(y), lp_eval)

    return _topk_only(ctx, score, f", {post.kind} samples")


def _build_jepig(ctx: _Context) -> Acquirer:
    space = ctx.option("space", "weight")
    if space not in ("weight", "prediction"):
        raise CompileError(f"jepig: space must be 'weight' or 'prediction', got {space!r}")
    if space == "weight" or ctx.head.name == "gaussian":  # the weight-space form is exact for a linearised Gaussian
        return _build_weight(ctx, greedy=True, with_eval=True)
    post = _Posterior(ctx)
    lp_eval = post.log_probs(ctx.eval_set())
    budget = int(ctx.option("configurations", 10_000))
    return _topk_only(ctx, lambda X, y: jepig(post.log_probs(X), lp_eval, num_samples=budget, seed=ctx.seed),
                      f", {post.kind} samples")


# ----------------------------------------------------------------------------------------------------
# Gaussian likelihood: closed forms under the linearised posterior


def _gaussian_weight(ctx: _Context, notation: str, default: str) -> Acquirer:
    """BALD / BatchBALD for regression: ``1/2 logdet(Id + U^T Σ U)``, i.e. the weight-space EIG (R20, exact here)."""
    _gaussian_samples_error(ctx)
    acq = _compiled(ctx, notation, ("gaussian", "ggn", "eig_logdet"))

    def greedy(X: Tensor, k: int, y: Tensor | None, progress: bool | None) -> Selection:
        return acq.select(X, k, "greedy", progress=progress)

    return Acquirer(ctx.method, lambda X, y, progress: acq.scores(X, progress=progress),
                    {"greedy": greedy}, ", closed form 1/2 logdet(Id + J Σ J^T / sigma^2)", ctx=ctx, default=default)


def _gaussian_epig(ctx: _Context) -> Acquirer:
    """EPIG (and PIG, equal to it for a Gaussian) from the joint predictive covariance of ``Y`` and ``Y_eval``."""
    _gaussian_samples_error(ctx)
    ad = ctx.adapter()
    pred = GaussianPredictive(ad, ctx.precision(ad))
    pred.bind_eval(ctx.eval_set())
    return _topk_only(ctx, lambda X, y: pred.epig(X), ", closed form from the joint predictive covariance")


# ----------------------------------------------------------------------------------------------------
# weight space through the numeric compiler


def _compiled(ctx: _Context, text: str, using: Sequence[str], with_eval: bool = False) -> Any:
    with warnings.catch_warnings():  # Method.compile has said what needs saying (train, modes)
        warnings.simplefilter("ignore", CompileWarning)
        return compile_quantity(
            text, ctx.single, likelihood=ctx.head.name, sigma=getattr(ctx.head, "sigma", None),
            last_layer=ctx.last_layer, prior_precision=ctx.prior_precision, train=ctx.train, using=list(using),
            eval=ctx.eval_set() if with_eval else None, progress=False,
        )


def _build_weight(ctx: _Context, greedy: bool, with_eval: bool = False, using: Sequence[str] | None = None) -> Acquirer:
    m = ctx.method
    acq = _compiled(ctx, m.notation, m.using if using is None else using, with_eval)

    def select(X: Tensor, k: int, y: Tensor | None, progress: bool | None) -> Selection:
        return acq.select(X, k, "greedy", progress=progress)

    return Acquirer(m, lambda X, y, progress: acq.scores(X, progress=progress), {"greedy": select},
                    f", compiled: {acq.form}", ctx=ctx, default="greedy" if greedy else "topk")


def _build_ig(ctx: _Context) -> Acquirer:
    m = ctx.method
    # the numeric compiler takes the log-det through eig_logdet (which has no expectation to move when y is known)
    acq = _compiled(ctx, m.notation, list(m.using) + ["eig_logdet"])
    return Acquirer(m, lambda X, y, progress: acq.scores(X, y, progress=progress), None, f", compiled: {acq.form}",
                    ctx=ctx)


# ----------------------------------------------------------------------------------------------------
# gradient embeddings


def _embeddings(ctx: _Context) -> Callable[[Tensor], Tensor]:
    """``g_i = H'[y_i|x_i,w*]`` at the likelihood's pseudo-label (``[n, P]``, float64)."""
    adapter = ctx.adapter()
    head = ctx.head

    def emb(X: Tensor) -> Tensor:
        eta, _ = adapter.forward(X, "X_pool")
        return adapter.gradients(X, head.pseudo_label(eta), "X_pool")

    return emb


def _build_badge(ctx: _Context) -> Acquirer:
    emb = _embeddings(ctx)

    def select(X: Tensor, k: int, y: Tensor | None, progress: bool | None) -> Selection:
        G = emb(X)
        idx = kmeans_pp(G, k, seed=ctx.seed)
        return Selection(idx, G.norm(dim=1)[idx])

    return Acquirer(ctx.method, lambda X, y, progress: emb(X).norm(dim=1), {"kmeans++": select},
                    ", k-means++ on gradient embeddings", ctx=ctx, default="kmeans++")


def _eps(ctx: _Context, G: Tensor) -> float:
    eps = ctx.option("eps", None)
    if eps is None:  # the flat-prior limit, relative to the embeddings' scale
        return 1e-6 * max(float(G.square().sum(1).mean()), 1e-12)
    return eps


def _joint(sel: Selection) -> Selection:
    return Selection(sel.indices, sel.gains)


def _build_badge_logdet(ctx: _Context) -> Acquirer:
    emb = _embeddings(ctx)

    def score(X: Tensor, y: Tensor | None, progress: bool | None) -> Tensor:
        G = emb(X)
        return logdet_scores(embeddings=G, eps=_eps(ctx, G))

    def select(X: Tensor, k: int, y: Tensor | None, progress: bool | None) -> Selection:
        G = emb(X)
        return _joint(greedy_logdet(k, embeddings=G, eps=_eps(ctx, G)))

    whole = None if ctx.option("eps", None) is not None else (
        "method 'badge_logdet' takes its default eps relative to the mean squared gradient norm over the whole pool, "
        "which a streamed pool shows only at its end; pass eps= (e.g. 1e-6 times a typical ||g||^2) to stream the "
        "pool, score it with Ray or checkpoint it")
    return Acquirer(ctx.method, score, {"greedy": select}, ", greedy log-det on gradient embeddings", ctx=ctx,
                    default="greedy", pool_dependent=whole)


def _ridge(ctx: _Context) -> float:
    eps = ctx.option("eps", None)
    if eps is not None:
        return eps
    lam = ctx.prior_precision
    if isinstance(lam, Tensor):
        if lam.numel() != 1:
            raise CompileError(f"method {ctx.method.name!r} takes a scalar prior_precision (the ridge), or eps=")
        lam = float(lam)
    return lam


def _build_logdet(ctx: _Context) -> Acquirer:
    emb = _embeddings(ctx)
    eps = _ridge(ctx)
    return Acquirer(ctx.method, lambda X, y, progress: logdet_scores(embeddings=emb(X), eps=eps),
                    {"greedy": lambda X, k, y, progress: _joint(greedy_logdet(k, embeddings=emb(X), eps=eps))},
                    f", ridge {eps:g}", ctx=ctx, default="greedy")


def _build_logdetmi(ctx: _Context) -> Acquirer:
    emb = _embeddings(ctx)
    eps, eta = _ridge(ctx), ctx.option("eta", 1.0)
    G_q = emb(ctx.eval_set())

    def select(X: Tensor, k: int, y: Tensor | None, progress: bool | None) -> Selection:
        return _joint(greedy_logdet_mi(k, embeddings=emb(X), query=G_q, eps=eps, eta=eta))

    return Acquirer(ctx.method, lambda X, y, progress: logdet_mi_scores(embeddings=emb(X), query=G_q, eps=eps, eta=eta),
                    {"greedy": select}, f", ridge {eps:g}, |Q| = {G_q.shape[0]}", ctx=ctx, default="greedy")


# ----------------------------------------------------------------------------------------------------
# BAIT, GraNd, EL2N


def _build_bait(ctx: _Context) -> Acquirer:
    adapter = ctx.adapter()
    H = ctx.precision(adapter)
    use_pool = isinstance(ctx.eval, str)
    oversample = ctx.option("oversample", 2)
    prior = None
    if not use_pool:  # F_eval is fixed: Sigma_0 = H^-1 and its layouts are formed here, once, not per pool
        X_eval = ctx.eval_set()
        like = adapter.factors(X_eval[:1], "eval")  # the pool's factors will be of this kind and shape
        prior = BaitPrior.from_library(H, summed_fisher(adapter, X_eval, _CHUNK, "eval"), like)

    def parts(X: Tensor) -> tuple[Any, BaitPrior]:
        f = adapter.factors(X, "X_pool")
        return f, (BaitPrior.from_library(H, f.outer_sum(), f) if prior is None else prior)

    def score(X: Tensor, y: Tensor | None, progress: bool | None) -> Tensor:
        f, pr = parts(X)
        return bait_scores(f, prior=pr)

    def rule(over: int) -> Callable[..., Selection]:
        def select(X: Tensor, k: int, y: Tensor | None, progress: bool | None) -> Selection:
            f, pr = parts(X)
            sel = bait_select(f, k, prior=pr, oversample=over, progress=progress)
            return Selection(sel.indices, sel.gains)

        return select

    whole = ("method 'bait' with eval='pool' takes F_eval from the whole pool, which a streamed pool shows only at its "
             "end; pass eval=X_eval (e.g. a random sample of the pool) to stream the pool, score it with Ray or "
             "checkpoint it") if use_pool else None
    return Acquirer(ctx.method, score, {"forward-backward": rule(oversample), "greedy": rule(1)},
                    f", F_eval from {'the pool' if use_pool else 'eval'}", ctx=ctx, default="forward-backward",
                    pool_dependent=whole)


def _build_el2n(ctx: _Context) -> Acquirer:
    adapters = [ctx.adapter(False, n) for n in ctx.networks]  # only the outputs are needed
    head = ctx.head

    def score(X: Tensor, y: Tensor | None) -> Tensor:
        assert y is not None
        total = torch.zeros(X.shape[0], dtype=torch.float64)
        for ad in adapters:
            eta = ad.forward(X, "X_pool")[0]
            total += head.nll_grad(eta, y.to(eta.device)).norm(dim=1).cpu()  # ||p - e_y||
        return total / len(adapters)

    return _topk_only(ctx, score)


def _build_grand(ctx: _Context) -> Acquirer:
    adapters = [ctx.adapter(None, n) for n in ctx.networks]

    def score(X: Tensor, y: Tensor | None) -> Tensor:
        assert y is not None
        total = torch.zeros(X.shape[0], dtype=torch.float64)
        for ad in adapters:
            total += ad.gradients(X, y, "X_pool").norm(dim=1).cpu()
        return total / len(adapters)

    return _topk_only(ctx, score, f", {'last layer' if ctx.last_layer is not False else 'whole network'}")


#: method name -> builder
BUILDERS: dict[str, Callable[[_Context], Acquirer]] = {
    "random": _build_random,
    "bald": _build_bald,
    "batchbald": _build_batchbald,
    "eig_logdet": lambda ctx: _build_weight(ctx, greedy=True),
    "eig_trace": lambda ctx: _build_weight(ctx, greedy=False),
    "epig": _build_epig,
    "jepig": _build_jepig,
    "badge": _build_badge,
    "badge_logdet": _build_badge_logdet,
    "bait": _build_bait,
    "logdet": _build_logdet,
    "logdetmi": _build_logdetmi,
    "grand": _build_grand,
    "el2n": _build_el2n,
    "ig": _build_ig,
    "pig": _build_pig,
}
