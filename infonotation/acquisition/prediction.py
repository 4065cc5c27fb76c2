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
networks), or the last-layer Gaussian ``N(w*, H''[w*|D]^-1)``. A Bernoulli network (one logit) is a two-class
model; a Gaussian likelihood (regression) uses the closed forms under the linearised Gaussian posterior.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..errors import CompileError, CompileWarning
from ..numeric.adapter import training_mode_note
from ..numeric.forms import quantity_of
from ..numeric.likelihood import make_likelihood
from ..protocol import Acquisition, Selection, check_pool
from ..syntax.resolve import is_random
from ..syntax.tree import Expr, Term
from .embeddings import check_class_labels
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


_METHOD_OF = {"bald": "bald", "ig": "ig", "epig": "epig", "jepig": "jepig", "pig": "pig"}


class PredictionAcquisition(Acquisition):
    """A quantity estimated from posterior samples, following the acquisition protocol (:mod:`infonotation.protocol`).

    ``acq.scores(X_pool, y_pool=None)`` (or ``acq(X_pool)``) and ``acq.select(X_pool, k, strategy)`` with
    ``"topk"`` (default) or, for ``I[W;Y|x]``, ``"greedy"`` (BatchBALD: each point's gain in the joint score).
    """

    def __init__(self, quantity: Expr, kind: str, posterior, eval_inputs: Tensor | None, seed: int,
                 configurations: int, dtype: torch.dtype | None):
        self.quantity, self.kind, self.posterior, self.seed = quantity, kind, posterior, seed
        self.configurations = configurations
        self.label = str(quantity)
        self.label_aware = kind in ("ig", "pig")
        self.strategies = ("topk", "greedy") if kind == "bald" else ("topk",)
        self._dtype = dtype
        self._eval = posterior.log_probs(eval_inputs) if eval_inputs is not None else None

    def __repr__(self) -> str:
        return f"<PredictionAcquisition {self.quantity}: {self.kind} from {self.posterior.kind} samples>"

    def _input_dtype(self) -> torch.dtype | None:
        return self._dtype

    def _check_labels(self, y: Tensor, X: Tensor) -> Tensor:
        head = self.posterior.ctx.head
        if head.name == "bernoulli":
            return head.labels(y, X.shape[0], 1, "y_pool").long()
        return check_class_labels(y, X.shape[0], self.log_probs(X[:1]).shape[2], "y_pool")

    def log_probs(self, X_pool: Tensor) -> Tensor:
        """``log p(y | x, w_k)``, ``[N, K, C]``, for the posterior samples (a Bernoulli network: ``C = 2``)."""
        return self.posterior.log_probs(X_pool)

    def _score(self, X: Tensor, y: Tensor | None) -> Tensor:
        lp = self.log_probs(X)
        if self.kind == "bald":
            return bald(lp)
        if self.kind == "ig":
            return information_gain(lp, y)
        if self.kind == "epig":
            return epig(lp, self._eval)
        if self.kind == "jepig":
            return jepig(lp, self._eval, seed=self.seed)
        return predictive_information_gain(lp, y, self._eval)

    def _select(self, strategy: str, X: Tensor, k: int, y: Tensor | None, progress: bool | None) -> Selection:
        res = batchbald(self.log_probs(X), k, num_samples=self.configurations, seed=self.seed, progress=progress)
        return Selection(res.indices, res.gains)


_OPTIONS = ("num_samples", "seed", "posterior", "configurations", "sigma", "progress")


def compile_prediction(expr: str | Expr, network: nn.Module | Sequence[nn.Module], *, train=None, eval=None,  # noqa: A002
                       prior_precision: float | Tensor = 1.0, num_samples: int = 20, seed: int = 0,
                       posterior: str = "auto", last_layer=True, configurations: int = 10_000,
                       likelihood: str = "categorical", sigma: float | None = None,
                       progress: bool | None = None) -> Acquisition:
    """Bind a prediction-space quantity to posterior samples of ``network`` (see the module docstring).

    ``likelihood="bernoulli"`` (one logit) estimates from the samples as a two-class model; ``"gaussian"``
    (regression) has closed forms under the linearised Gaussian posterior, so the quantity is compiled as the
    matching named method (``inf.methods.bald`` / ``epig`` / ``jepig`` / ``pig`` / ``ig``).
    """
    from .methods import _Context, _Posterior, methods

    quantity = quantity_of(expr)
    kind = estimator_for(quantity)
    if kind in ("epig", "jepig", "pig") and (eval is None or isinstance(eval, str)):
        raise CompileError(f"{quantity} needs evaluation inputs: pass eval=X_eval")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise CompileError(f"num_samples must be a positive int, got {num_samples!r}")
    if likelihood == "gaussian":
        name = _METHOD_OF[kind]
        m = methods[name]
        extra = {"space": "prediction"} if name == "jepig" else {}
        acq = m.compile(network, train=train, eval=eval if m.needs_eval else None, prior_precision=prior_precision,
                        num_samples=num_samples, seed=seed, posterior=posterior, last_layer=last_layer,
                        likelihood="gaussian", sigma=sigma, **extra)
        acq.progress = progress
        return acq
    head = make_likelihood(likelihood, sigma) if isinstance(likelihood, str) else None
    if head is None:
        raise CompileError(f"likelihood must be a string, got {type(likelihood).__name__}")
    nets = list(network) if isinstance(network, Sequence) and not isinstance(network, nn.Module) else network
    ctx = _Context(methods["bald"], nets, train, eval, prior_precision, num_samples, seed, posterior, last_layer, {},
                   head)
    post = _Posterior(ctx)
    first = nets[0] if isinstance(nets, list) else nets
    dtype = next((p.dtype for p in first.parameters()), None) if isinstance(first, nn.Module) else None
    if eval is not None and not isinstance(eval, str):
        eval = check_pool(eval, dtype, "eval")
    if post.uses_train and train is None:
        warnings.warn(f"no train= given: {quantity} is estimated from last-layer samples of the prior alone "
                      "(H''[w*] = prior_precision Id); pass train=(X_train, y_train) for the posterior",
                      CompileWarning, stacklevel=3)
    note = training_mode_note(nets)
    if note:
        how = ("dropout layers give the MC-dropout posterior samples (fixed masks), every other layer runs in "
               "evaluation mode" if post.kind == "dropout" else "infonotation evaluates it in evaluation mode")
        warnings.warn(f"{note}: {how} (BatchNorm with its running statistics); call network.eval() to silence this",
                      CompileWarning, stacklevel=3)
    acq = PredictionAcquisition(quantity, kind, post, eval if kind not in ("bald", "ig") else None, seed,
                                configurations, dtype)
    acq.progress = progress
    return acq
