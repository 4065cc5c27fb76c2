"""The paper's appendix comparison on the digits: prediction space against weight space.

For every pool candidate it computes, on one trained network:

* BALD ``I[W;Y|x]`` and EPIG ``I[Y_eval;Y|x,X_eval]`` from MC-dropout posterior samples;
* the weight-space (last-layer GGN, Laplace) expected information gain ``1/2 logdet(F_x H_D^-1 + Id)`` and
  its trace bound ``1/2 tr(F_x H_D^-1)``;
* the weight-space predictive proxies ``logdet(F_eval (H_D + F_x)^-1 + Id)`` with the mean (EPIG) and the
  summed (JEPIG) evaluation Fisher, and the trace proxy, negated so that higher is better;

then the Spearman rank correlations over all candidates and over the union of each pair's top halves
(and top tenths, the regime where acquisition actually picks). "Top" means the highest scores; the
paper's notebook ranked ascending, see paper-reference section 4.2.

The whole-network row (:func:`compare_whole_network`): on a small CNN trained on the same digits as 1 x 8 x 8
images, BALD, the last-layer EIG and the EIG over all weights with the Kronecker-factored posterior
(``last_layer=False, curvature="kron"``; ``"diag"`` beside it). The dense posterior over all weights would cost
``2 P^2 C`` per candidate (25 s for this pool on one core); the tests compare the structures with it instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import compile as compile_quantity
from ..acquisition import bald, epig, mc_dropout_log_probs

__all__ = ["QUANTITIES", "WHOLE_NETWORK", "Comparison", "compare", "compare_whole_network", "spearman",
           "top_union_spearman"]

#: name -> (notation, using, sign); weight-space proxies are negated so that higher is better.
QUANTITIES: dict[str, tuple[str, tuple[str, ...] | None, float]] = {
    "BALD": ("I[W;Y|x]", ("samples",), 1.0),
    "EPIG": ("I[Y_eval;Y|x,X_eval]", ("samples",), 1.0),
    "EIG LogDet": ("I[W;Y|x]", ("gaussian", "ggn", "eig_logdet"), 1.0),
    "EIG Trace": ("I[W;Y|x]", ("gaussian", "ggn", "eig_logdet", "trace"), 1.0),
    "EPIG LogDet": ("I[Y_eval;Y|x,X_eval]", ("gaussian", "ggn", "eig_logdet", "proxy"), -1.0),
    "JEPIG LogDet": ("I[Y_eval;Y|x,x_eval]", ("gaussian", "ggn", "eig_logdet", "proxy"), -1.0),
    "(JE)PIG Trace": ("I[Y_eval;Y|x,x_eval]", ("gaussian", "ggn", "eig_logdet", "trace", "proxy"), -1.0),
}


#: The whole-network comparison on a CNN: name -> (notation, using, compile options).
WHOLE_NETWORK: dict[str, tuple[str, tuple[str, ...], dict]] = {
    "BALD": ("I[W;Y|x]", ("samples",), {}),
    "EIG LogDet (last layer)": ("I[W;Y|x]", ("gaussian", "ggn", "eig_logdet"), {"last_layer": True}),
    "EIG LogDet (whole network, kron)": ("I[W;Y|x]", ("gaussian", "ggn", "eig_logdet"),
                                         {"last_layer": False, "curvature": "kron"}),
    "EIG LogDet (whole network, diag)": ("I[W;Y|x]", ("gaussian", "ggn", "eig_logdet"),
                                         {"last_layer": False, "curvature": "diag"}),
}


@dataclass
class Comparison:
    names: list[str]
    scores: dict[str, np.ndarray]
    spearman_all: np.ndarray
    spearman_top: np.ndarray
    top: int
    spearman_top_small: np.ndarray
    top_small: int


def _ranks(v: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank), as Spearman's coefficient needs."""
    order = np.argsort(v, kind="mergesort")
    ranks = np.empty(len(v), dtype=np.float64)
    sv = v[order]
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0
        i = j + 1
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation: the Pearson correlation of the ranks."""
    ra, rb = _ranks(np.asarray(a, float)), _ranks(np.asarray(b, float))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def top_union_spearman(a: np.ndarray, b: np.ndarray, top: int) -> float:
    """Spearman over the union of the ``top`` highest-scored candidates of either score."""
    keep = np.union1d(np.argsort(-a)[:top], np.argsort(-b)[:top])
    return spearman(a[keep], b[keep])


def compare(net: torch.nn.Module, X_train: torch.Tensor, y_train: torch.Tensor, X_pool: torch.Tensor,
            X_eval: torch.Tensor, *, num_samples: int = 100, prior_precision: float = 1.0, seed: int = 0,
            top: int | None = None) -> Comparison:
    """All seven scores on ``X_pool`` and their rank correlations."""
    lp_pool = mc_dropout_log_probs(net, X_pool, num_samples, seed=seed)
    lp_eval = mc_dropout_log_probs(net, X_eval, num_samples, seed=seed)
    scores: dict[str, np.ndarray] = {
        "BALD": bald(lp_pool).numpy(),
        "EPIG": epig(lp_pool, lp_eval).numpy(),
    }
    for name, (notation, using, sign) in QUANTITIES.items():
        if name in scores:
            continue
        acq = compile_quantity(notation, net, train=(X_train, y_train), prior_precision=prior_precision,
                               using=list(using or ()), eval=X_eval if "eval" in notation else None,
                               progress=False)
        scores[name] = sign * acq(X_pool).detach().numpy()
    return _correlations(list(QUANTITIES), scores, top or len(X_pool) // 2, max(10, len(X_pool) // 10))


def _correlations(names: list[str], scores: dict[str, np.ndarray], top: int, small: int) -> Comparison:
    n = len(names)
    s_all, s_top, s_small = np.eye(n), np.eye(n), np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            a, b = scores[names[i]], scores[names[j]]
            s_all[i, j] = s_all[j, i] = spearman(a, b)
            s_top[i, j] = s_top[j, i] = top_union_spearman(a, b, top)
            s_small[i, j] = s_small[j, i] = top_union_spearman(a, b, small)
    return Comparison(names, scores, s_all, s_top, top, s_small, small)


def compare_whole_network(net: torch.nn.Module, X_train: torch.Tensor, y_train: torch.Tensor, X_pool: torch.Tensor,
                          *, num_samples: int = 100, prior_precision: float = 1.0, seed: int = 0) -> Comparison:
    """BALD (MC dropout), the last-layer EIG and the whole-network EIG (``kron`` and ``diag``) of one CNN on
    ``X_pool``, and their rank correlations."""
    scores: dict[str, np.ndarray] = {"BALD": bald(mc_dropout_log_probs(net, X_pool, num_samples, seed=seed)).numpy()}
    for name, (notation, using, options) in WHOLE_NETWORK.items():
        if name in scores:
            continue
        acq = compile_quantity(notation, net, train=(X_train, y_train), prior_precision=prior_precision,
                               using=list(using), progress=False, **options)
        scores[name] = acq(X_pool).detach().numpy()
    return _correlations(list(WHOLE_NETWORK), scores, len(X_pool) // 2, max(10, len(X_pool) // 10))
