"""``compile(..., space="prediction")``: a quantity estimated from posterior samples.

The quantity's notation decides the estimator (all from ``log p(y | x, w_k)`` for K posterior samples):

=================================  ==============================================================
``I[W;Y|x]``, ``I[W;Y_B|x_B]``     BALD; ``select(..., "greedy")`` is BatchBALD (the joint score)
``I[W;y|x]``                       information gain of a known label (needs ``y_pool``)
``I[Y_eval;Y|x,X_eval]``           EPIG (averaged over the evaluation inputs)
``I[Y_eval;Y|x,x_eval]``           JEPIG (jointly over the evaluation set)
``I[Y_eval;y|x,X_eval]``           predictive information gain of a known label
=================================  ==============================================================

The samples come from MC dropout (when the network has dropout layers), an ensemble (a list of
networks), or the last-layer Gaussian ``N(w*, H''[w*|D]^-1)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..errors import CompileError
from ..syntax.parser import parse
from ..syntax.resolve import is_random
from ..syntax.tree import Expr, Term
from .batch import _check_k
from .scores import bald, batchbald, epig, information_gain, jepig, predictive_information_gain

__all__ = ["PredictionAcquisition", "compile_prediction", "estimator_for"]


def estimator_for(quantity: Expr) -> str:
    """``bald``, ``ig``, ``epig``, ``jepig`` or ``pig`` for a quantity; CompileError for anything else."""
    if isinstance(quantity, Term) and quantity.head == "I" and quantity.order == 0 and len(quantity.groups) == 2:
        a, b = quantity.groups
        if any(n.base == "W" for n in b):
            a, b = b, a
        labels_known = not all(is_random(n) for n in b)
        if all(n.base == "W" for n in a):
            return "ig" if labels_known else "bald"
        if all(is_random(n) and n.sub == "eval" for n in a):
            evals = [n for n in quantity.given if n.sub == "eval"]
            mean = bool(evals) and all(is_random(n) for n in evals)
            if labels_known:
                return "pig"
            return "epig" if mean else "jepig"
    raise CompileError(
        f"space='prediction' estimates I[W;Y|x], I[W;Y_B|x_B], I[W;y|x], I[Y_eval;Y|x,X_eval], "
        f"I[Y_eval;Y|x,x_eval] and I[Y_eval;y|x,X_eval] from posterior samples; {quantity} is not one of them "
        "(use space='weight' for matrix expressions)"
    )


class PredictionAcquisition:
    """``acq(X_pool, y_pool=None) -> [N]`` and ``acq.select(X_pool, k, strategy)`` from posterior samples."""

    def __init__(self, quantity: Expr, kind: str, posterior, eval_inputs: Tensor | None, seed: int,
                 configurations: int):
        self.quantity, self.kind, self.posterior, self.seed = quantity, kind, posterior, seed
        self.configurations = configurations
        self._eval = posterior.log_probs(eval_inputs) if eval_inputs is not None else None

    def __repr__(self) -> str:
        return f"<PredictionAcquisition {self.quantity}: {self.kind} from {self.posterior.kind} samples>"

    def log_probs(self, X_pool: Tensor) -> Tensor:
        """``log p(y | x, w_k)``, ``[N, K, C]``, for the posterior samples."""
        return self.posterior.log_probs(X_pool)

    def __call__(self, X_pool: Tensor, y_pool: Tensor | None = None) -> Tensor:
        lp = self.log_probs(X_pool)
        if self.kind in ("ig", "pig") and y_pool is None:
            raise CompileError(f"{self.quantity} scores points with known labels: pass y_pool, acq(X_pool, y_pool)")
        if self.kind == "bald":
            return bald(lp)
        if self.kind == "ig":
            return information_gain(lp, y_pool)
        if self.kind == "epig":
            return epig(lp, self._eval)
        if self.kind == "jepig":
            return jepig(lp, self._eval, seed=self.seed)
        return predictive_information_gain(lp, y_pool, self._eval)

    def select(self, X_pool: Tensor, k: int, strategy: str = "topk", y_pool: Tensor | None = None) -> Tensor:
        """``k`` pool indices: ``"topk"`` of the scores, or ``"greedy"`` (BatchBALD) for ``I[W;Y|x]``."""
        _check_k(k, X_pool.shape[0] if isinstance(X_pool, Tensor) else 0)
        if strategy == "topk":
            return torch.sort(self(X_pool, y_pool), descending=True, stable=True).indices[:k]
        if strategy == "greedy":
            if self.kind != "bald":
                raise CompileError(f"greedy joint selection in prediction space is BatchBALD (I[W;Y_B|x_B]); for "
                                   f"{self.quantity} use strategy='topk'")
            return batchbald(self.log_probs(X_pool), k, num_samples=self.configurations, seed=self.seed).indices
        raise CompileError(f"unknown strategy {strategy!r}; use 'topk' or 'greedy'")


def compile_prediction(expr: str | Expr, network: nn.Module | Sequence[nn.Module], *, train=None, eval=None,  # noqa: A002
                       prior_precision: float | Tensor = 1.0, num_samples: int = 20, seed: int = 0,
                       posterior: str = "auto", last_layer=True, configurations: int = 10_000) -> PredictionAcquisition:
    """Bind a prediction-space quantity to posterior samples of ``network`` (see the module docstring)."""
    from .methods import _Context, _Posterior, methods

    quantity = parse(expr) if isinstance(expr, str) else expr
    kind = estimator_for(quantity)
    if kind in ("epig", "jepig", "pig") and (eval is None or isinstance(eval, str)):
        raise CompileError(f"{quantity} needs evaluation inputs: pass eval=X_eval")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise CompileError(f"num_samples must be a positive int, got {num_samples!r}")
    nets = list(network) if isinstance(network, Sequence) and not isinstance(network, nn.Module) else network
    ctx = _Context(methods["bald"], nets, train, eval, prior_precision, num_samples, seed, posterior, last_layer, {})
    return PredictionAcquisition(quantity, kind, _Posterior(ctx), eval if kind != "bald" and kind != "ig" else None,
                                 seed, configurations)
