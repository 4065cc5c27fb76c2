"""``inf.compile``: one entry point for both spaces.

``space="weight"`` lowers the quantity's weight-space (Fisher) form to a numeric plan
(:func:`infonotation.numeric.compile`); ``space="prediction"`` estimates it from posterior samples
(:func:`infonotation.acquisition.prediction.compile_prediction`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from .errors import CompileError
from .numeric import compile as compile_weight
from .syntax.tree import Expr

__all__ = ["compile"]


def compile(  # noqa: A001 - the API's name
    expr: str | Expr,
    network: nn.Module,
    likelihood: str = "categorical",
    space: str = "weight",
    last_layer: bool | str | nn.Linear = True,
    prior_precision: float | torch.Tensor = 1.0,
    train: tuple[torch.Tensor, torch.Tensor] | None = None,
    using: Iterable[str] | None = None,
    eval: torch.Tensor | None = None,  # noqa: A002 - the API's name
    **options: Any,
):
    """Compile the information quantity ``expr`` (e.g. ``I[W;Y|x]``) into an acquisition function on ``network``.

    ``space="weight"`` (default): the approximation steps ``using`` (default gaussian, ggn, eig_logdet) give the
    weight-space form, e.g. ``1/2 logdet(H''[Y|x,w*] @ H''[w*|D]^-1 + Id)`` (R19-R25), evaluated with the
    network's Fisher information; options: ``sigma``, ``dtype``, ``chunk_size``, ``progress``.
    ``space="prediction"``: the same quantity from K posterior samples (BALD, EPIG); options: ``num_samples``,
    ``seed``, ``posterior`` ("auto", "dropout", "laplace", "ensemble"; a list of networks is an ensemble).
    The result scores a pool, ``acq(X_pool) -> [N]``, and selects, ``acq.select(X_pool, k, "topk"|"greedy")``.
    """
    if space == "prediction":
        if likelihood != "categorical":
            raise CompileError("space='prediction' estimates from class probabilities: likelihood='categorical'")
        if using is not None and tuple(using) not in ((), ("samples",)):
            raise CompileError("space='prediction' estimates the quantity itself from posterior samples; "
                               "approximation steps (using=...) belong to space='weight'")
        from .acquisition.prediction import compile_prediction

        return compile_prediction(expr, network, train=train, eval=eval, prior_precision=prior_precision,
                                  last_layer=last_layer, **options)
    return compile_weight(expr, network, likelihood=likelihood, space=space, last_layer=last_layer,
                          prior_precision=prior_precision, train=train, using=using, eval=eval, **options)
