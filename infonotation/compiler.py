"""``inf.compile``: one entry point for both spaces, returning an object of the acquisition protocol.

``space="weight"`` lowers the quantity's weight-space (Fisher) form to a numeric plan
(:func:`infonotation.numeric.compile`); ``space="prediction"`` estimates it from posterior samples
(:func:`infonotation.acquisition.prediction.compile_prediction`). Both results follow
:mod:`infonotation.protocol`: ``acq.scores(pool, y_pool=None, engine="local")`` (or ``acq(pool)``) and
``acq.select(pool, k, strategy=..., y_pool=None, engine="local")`` returning a ``Selection``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from .errors import CompileError
from .numeric import compile as compile_weight
from .protocol import Acquisition
from .syntax.tree import Expr

__all__ = ["compile"]

_COMMON = ("likelihood", "space", "last_layer", "prior_precision", "train", "using", "eval")
#: keyword options of each space (beyond the named parameters of :func:`compile`)
OPTIONS = {
    "weight": ("sigma", "dtype", "chunk_size", "progress", "candidate", "curvature", "rank"),
    "prediction": ("num_samples", "seed", "posterior", "configurations", "sigma", "progress"),
}


def _open_names(expr: object) -> set[str]:
    """What a weight-space quantity leaves open for keywords: scalar symbols (``beta``), points (``x_1``, ``y_1``)."""
    from .numeric.forms import free_symbols
    from .syntax.parser import parse
    from .syntax.tree import Name

    try:
        e = parse(expr) if isinstance(expr, str) else expr
        if not isinstance(e, Expr):
            return set()
    except Exception:  # noqa: BLE001 - the compiler reports bad notation itself
        return set()
    out = set(free_symbols(e))
    for n in e.walk():
        if isinstance(n, Name) and n.base in ("x", "y") and n.sub not in (None, "B", "eval"):
            out.add(f"{n.base}_{n.sub}")
    return out


def _check_options(space: str, options: dict[str, Any], expr: object = None) -> None:
    valid = OPTIONS.get(space, ())
    if space == "weight":
        valid = tuple(valid) + ("candidate",) + tuple(sorted(_open_names(expr)))
    unknown = [k for k in options if k not in valid]
    if not unknown:
        return
    everything = sorted(set(_COMMON) | set(valid))
    other = "weight" if space == "prediction" else "prediction"
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, everything, n=1, cutoff=0.6)
        where = f" (an option of space={other!r})" if name in OPTIONS.get(other, ()) else ""
        parts.append(f"{name!r}{where}" + (f", did you mean {close[0]!r}?" if close else ""))
    raise CompileError(
        f"inf.compile got unknown keyword argument(s) {'; '.join(parts)}. Valid keywords for space={space!r}: "
        f"{', '.join(everything)}"
    )


def compile(  # noqa: A001 - the API's name
    expr: str | Expr,
    network: nn.Module,
    likelihood: str = "categorical",
    space: str = "weight",
    last_layer: bool | str | nn.Linear = True,
    prior_precision: float | torch.Tensor = 1.0,
    train: tuple[torch.Tensor, torch.Tensor] | None = None,
    using: Iterable[str] | str | None = None,
    eval: torch.Tensor | None = None,  # noqa: A002 - the API's name
    **options: Any,
) -> Acquisition:
    """Compile the information quantity ``expr`` (e.g. ``I[W;Y|x]``) into an acquisition function on ``network``.

    ``space="weight"`` (default): the approximation steps ``using`` (default gaussian, ggn, eig_logdet; a string is
    one step name or a comma-separated list) give the weight-space form, e.g.
    ``1/2 logdet(H''[Y|x,w*] @ H''[w*|D]^-1 + Id)`` (R19-R25), evaluated with the network's Fisher information;
    options: ``sigma`` (Gaussian noise scale), ``dtype``, ``chunk_size``, ``progress``, and with ``last_layer=False``
    ``curvature`` (``"full"``, ``"diag"``, ``"kron"``, ``"lowrank"``; default by size) and ``rank`` (for
    ``"lowrank"``); the quantity's open names by
    keyword: scalar symbols (``beta=0.5`` for ``I[W;Y|x] + beta * I[Y_eval;Y|x,X_eval]``) and bound points
    (``x_1=X1, y_1=y1`` for ``I[W;Y|x,y_1,x_1]``); ``candidate`` names the pool's input when it is not ``x``.
    The compiled object keeps the derivation that gave its form (``acq.derivation``).
    ``space="prediction"``: the same quantity from K posterior samples (BALD, EPIG; a Bernoulli network as two
    classes; a Gaussian likelihood through its closed forms); options: ``num_samples``, ``seed``, ``posterior``
    ("auto", "dropout", "laplace", "ensemble"; a list of networks is an ensemble), ``configurations``, ``sigma``,
    ``progress``.

    The result follows the acquisition protocol (:mod:`infonotation.protocol`): ``acq.scores(X_pool)`` (or
    ``acq(X_pool)``) ``-> [N]`` and ``acq.select(X_pool, k, strategy="greedy"|"topk")`` ``-> Selection``.
    A relation (``I[W;Y|x] = 0``) is refused (compile one side); a mistyped keyword is a :class:`CompileError`
    naming the valid ones. Warnings (:class:`~infonotation.errors.CompileWarning`) say when the posterior is the
    prior alone (no ``train``), which mode a network left in training mode is evaluated in, and why a label-aware
    quantity cannot depend on the label under the chosen steps.
    """
    if space not in ("weight", "prediction"):
        raise CompileError(f"unknown space {space!r}; use 'weight' (Fisher information) or 'prediction' (posterior "
                           "samples)")
    _check_options(space, options, expr)
    if space == "prediction":
        steps = (using,) if isinstance(using, str) else (tuple(using) if using is not None else ())
        if steps not in ((), ("samples",)):
            raise CompileError("space='prediction' estimates the quantity itself from posterior samples; "
                               f"approximation steps (using={using!r}) belong to space='weight'")
        from .acquisition.prediction import compile_prediction

        return compile_prediction(expr, network, train=train, eval=eval, prior_precision=prior_precision,
                                  last_layer=last_layer, likelihood=likelihood, **options)
    return compile_weight(expr, network, likelihood=likelihood, space=space, last_layer=last_layer,
                          prior_precision=prior_precision, train=train, using=using, eval=eval, **options)
