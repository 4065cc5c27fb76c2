"""``compile``: a quantity in the paper's notation -> a callable acquisition function on a torch model.

``acq = compile("I[W;Y|x]", network, likelihood="categorical", train=(X, y))`` goes

quantity --:func:`~.forms.weight_space_form` (the symbolic engine's derivation of each quantity term)-->
matrix expression --:func:`~.plan.lower` (cached)--> plan --bind to the network (prior, posterior, training,
bound-point and eval curvature; Cholesky once)--> :class:`CompiledAcquisition`, which keeps the derivation
(``acq.derivation``).

Compiled objects are cached on their arguments (the expression, the options, and the identity and version
counters of the network's parameters and of the data tensors), so compiling the same thing again costs
microseconds; training the network (which bumps its parameters' versions) invalidates the entry.
"""

from __future__ import annotations

import time
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from ..errors import CompileError, CompileWarning, NotationError
from ..protocol import Acquisition, Selection
from ..syntax.tree import Expr, Name
from ..threads import adaptive_threads
from .adapter import ModelAdapter, training_mode_note
from .curvature import iter_chunks, posterior_precision, prior_precision_matrix, summed_fisher
from .forms import (
    LABELLED_USING,
    as_derivation,
    derivation_chain,
    derivation_lines,
    free_symbols,
    normalise_using,
    observed_label,
    quantity_of,
    weight_space_form,
)
from .likelihood import make_likelihood
from .plan import Leaf, Plan, bound_point, lower, ws_text
from .run import PoolTerm, Runtime
from .select import concat_factors, greedy
from .structured import StructuredAcquisition, compile_structured

__all__ = ["compile", "CompiledAcquisition", "clear_cache"]

_CACHE: OrderedDict[tuple, tuple[list[weakref.ref], CompiledAcquisition]] = OrderedDict()
_CACHE_SIZE = 16
#: Working memory per pool chunk the default chunk size aims at.
CHUNK_BYTES = 64 * 2**20


def clear_cache() -> None:
    """Forget every cached compiled acquisition function."""
    _CACHE.clear()
    lower.cache_clear()


class CompiledAcquisition(Acquisition):
    """A compiled quantity following the acquisition protocol (:mod:`infonotation.protocol`).

    ``acq.scores(X_pool)`` (or ``acq(X_pool)``) scores, ``acq.select(X_pool, k, strategy="greedy"|"topk")`` selects
    (greedy: incremental rank-K updates of the joint quantity; the selection's scores are each point's gain),
    ``acq.joint(X_batch)`` evaluates a batch jointly. ``str(acq)`` (or ``acq.describe()``) prints the plan: the
    matrices, their shapes, the side of each determinant, estimated FLOPs and memory per chunk.
    """

    finite_scores = True

    def __init__(
        self,
        quantity: Expr,
        form: Expr,
        using: tuple[str, ...],
        plan: Plan,
        runtime: Runtime,
        adapter: ModelAdapter,
        chunk_size: int | None,
        progress: bool | None,
        higher_is_better: bool,
        needs_labels: bool,
        info: dict[str, str],
        label_aware: bool = False,
        derivations: tuple = (),
    ):
        self.quantity, self.form, self.using, self.plan = quantity, form, using, plan
        #: The derivation that turned the quantity into its weight-space form (a tuple when the quantity is a
        #: combination of several, one per quantity term; None for a matrix expression compiled as it is).
        self.derivation = as_derivation(derivations)
        self.runtime, self.adapter = runtime, adapter
        self.chunk_size = chunk_size or _default_chunk(adapter, needs_labels)
        self.progress = progress
        self.higher_is_better = higher_is_better
        self.needs_labels = needs_labels
        self.label_aware = label_aware or needs_labels
        self.strategies = ("topk",) if needs_labels else ("greedy", "topk")
        self.label = str(quantity)
        self.info = info

    # -- the protocol's hooks ---------------------------------------------------------------------------
    def _input_dtype(self) -> torch.dtype | None:
        return self.adapter.net_dtype

    def _check_labels(self, y: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        C = self.adapter.C
        if C < 0:  # the whole network: the number of outputs is known after a forward pass
            C = self.adapter.forward(X[:1], "X_pool")[0].shape[1]
        return self.adapter.likelihood.labels(y, X.shape[0], C, "y_pool")

    def _term(self, X: torch.Tensor, y: torch.Tensor | None, where: str) -> PoolTerm:
        if self.needs_labels:
            return PoolTerm(dense=self.adapter.observed_information(X, y, where))
        return PoolTerm(factors=self.adapter.factors(X, where))

    def _score(self, X: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.runtime.score(self._term(X, y, "X_pool"))

    def _select(self, strategy: str, X: torch.Tensor, k: int, y: torch.Tensor | None,
                progress: bool | None) -> Selection:
        N = X.shape[0]
        parts = [self.adapter.factors(X[sl], "X_pool") for sl in iter_chunks(N, self.chunk_size)]
        f = concat_factors(parts)
        if f.n * f.P * f.K * 8 > 2**31 and not hasattr(f, "z"):
            raise CompileError("greedy selection over the whole network needs too much memory; use last_layer=True")
        idx, gains = greedy(self.runtime, f, k, self.chunk_size, maximize=self.higher_is_better, progress=progress)
        return Selection(idx, gains)

    def joint(self, X_batch: torch.Tensor, y_batch: torch.Tensor | None = None, side: str = "auto") -> torch.Tensor:
        """The quantity for the whole batch jointly (its Fisher is the sum of the members', R11): a 0-dim tensor.

        ``side`` chooses the determinant-lemma side (``"auto"``, ``"data"``: ``nK x nK``, ``"weight"``: ``P x P``).
        """
        X, y = self._inputs(X_batch, y_batch, "local", None)
        if side not in ("auto", "data", "weight"):
            raise CompileError(f"side must be 'auto', 'data' or 'weight', got {side!r}")
        return self.runtime.joint(self._term(X, y, "X_batch"), side=side)

    # -- description ----------------------------------------------------------------------------------
    def describe(self) -> str:
        ad, rt = self.adapter, self.runtime
        pool = self.plan.pool_leaf
        K = ad.C if ad.C > 0 else 0
        lines = [
            "infonotation compiled plan",
            f"  quantity:   {self.quantity}",
            f"  form:       {self.form}   (using {', '.join(self.using)})",
        ]
        lines += derivation_lines(self.derivation)
        lines += [
            f"  parameters: {ad.describe()}; likelihood {ad.likelihood.name}; dtype {str(ad.dtype).split('.')[-1]}",
            "  matrices:",
        ]
        for leaf, text in sorted(self.info.items()):
            if leaf != "setup":
                lines.append(f"    {leaf}: {text}")
        for f in rt.fixed_matrices():
            lines.append(f"    Q = {ws_text(f.key)}: {ad.P}x{ad.P}, Cholesky once, logdet {float(f.logdet):.6g}")
        if pool is not None:
            if self.needs_labels:
                lines.append(f"    candidate {pool.text}: exact observed information, {ad.P}x{ad.P} per point")
            elif ad.last_layer:
                lines.append(
                    f"    candidate {pool.text}: rank-{K} factor U = L ⊗ [z;1] ({ad.P}x{K}) per point; "
                    f"no {ad.P}x{ad.P} matrix per point"
                )
            else:
                lines.append(f"    candidate {pool.text}: rank-{K} factor U = J^T L ({ad.P}x{K}) per point")
        lines.append("  atoms:")
        lines += ["    " + s for s in rt.describe_atoms(K, self.needs_labels)]
        flops, mem = self.cost()
        lines.append(
            f"  cost: ~{flops:.3g} FLOP per pool point; chunks of {self.chunk_size} points, ~{mem / 2**20:.0f} MiB "
            "working memory per chunk"
        )
        lines.append(f"  better:     {'higher' if self.higher_is_better else 'lower (a raw proxy)'}")
        if "setup" in self.info:
            lines.append(f"  setup:      {self.info['setup']}")
        return "\n".join(lines)

    def cost(self) -> tuple[float, float]:
        """Estimated (FLOPs per pool point, bytes per chunk)."""
        ad = self.adapter
        P, C = ad.P, max(ad.C, 1)
        nq = max(1, len(self.runtime.fixed_matrices()))
        item = 8 if ad.dtype == torch.float64 else 4
        if self.needs_labels:
            return nq * (P**3 / 3 + P * P), self.chunk_size * P * P * item * 3
        if ad.last_layer:
            D1 = ad.D1
            per_point = nq * (2 * D1 * C * C * D1 + 2 * C * C * D1 + 4 * C**3 + C**3 / 3)
            return per_point, self.chunk_size * C * C * D1 * item
        return nq * (2 * P * P * C + 2 * P * C * C) + 2 * P * C * 50, self.chunk_size * P * C * item * 3

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return f"<CompiledAcquisition {self.quantity} on {self.adapter.describe()}>{derivation_chain(self.derivation)}"


def _default_chunk(adapter: ModelAdapter, dense: bool) -> int:
    item = 8 if adapter.dtype == torch.float64 else 4
    P = adapter.P
    if dense:
        per = 3 * P * P * item
    elif adapter.last_layer:
        per = adapter.C * adapter.C * adapter.D1 * item
    else:
        per = 3 * P * max(adapter.C, 1) * item
    return int(max(16, min(8192, CHUNK_BYTES // max(per, 1))))


# -- cache keys ------------------------------------------------------------------------------------
def _obj_key(obj: object, refs: list) -> object:
    if isinstance(obj, torch.Tensor):
        refs.append(weakref.ref(obj))
        return ("T", id(obj), obj._version, obj.data_ptr(), tuple(obj.shape), obj.dtype)
    if isinstance(obj, (tuple, list)):
        return ("L", tuple(_obj_key(o, refs) for o in obj))
    if isinstance(obj, nn.Module):
        refs.append(weakref.ref(obj))
        return ("M", id(obj))
    if isinstance(obj, (str, int, float, bool, type(None), torch.dtype, Expr)):
        return obj
    refs.append(None)  # unhashable or unknown: never cached
    return ("?", id(obj))


def _network_key(network: nn.Module, refs: list) -> object:
    refs.append(weakref.ref(network))
    state = tuple((id(t), t._version, t.data_ptr()) for t in list(network.parameters()) + list(network.buffers()))
    modes = tuple(m.training for m in network.modules())
    return (id(network), state, modes)


def compile(
    expr: str | Expr,
    network: nn.Module,
    likelihood: str = "categorical",
    space: str = "weight",
    last_layer: bool | str | nn.Linear = True,
    prior_precision: float | torch.Tensor = 1.0,
    train: tuple[torch.Tensor, torch.Tensor] | None = None,
    using: Iterable[str] | None = None,
    eval: torch.Tensor | None = None,  # noqa: A002 - the API's name
    sigma: float | None = None,
    dtype: torch.dtype = torch.float64,
    chunk_size: int | None = None,
    progress: bool | None = None,
    candidate: str | None = None,
    curvature: str | None = None,
    rank: int | None = None,
    **bindings: Any,
) -> CompiledAcquisition | StructuredAcquisition:
    """Compile the information quantity ``expr`` into an acquisition function on ``network``.

    The quantity (e.g. ``I[W;Y|x]``, ``I[W;Y_B|x_B]``, ``I[W;y|x]``, ``I[Y_eval;Y|x,X_eval]``, or a weight-space
    matrix expression such as ``1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id)``) is mapped by the approximation
    steps ``using`` (default gaussian, ggn, eig_logdet) to its weight-space form (R19-R25), lowered to a plan and
    bound to the network's curvature: ``H''[w*]`` is the prior ``prior_precision`` or, with ``train=(X, y)``,
    ``H''[w*|D] = sum_i H''[y_i|x_i,w*] + prior_precision`` (R12, Fisher/GGN of each training point).
    ``eval=X_eval`` supplies the evaluation inputs of (J)EPIG quantities.

    With ``last_layer=False`` the parameters are the whole network's and ``curvature`` chooses how ``H''[w*]``,
    ``H''[w*|D]`` are held (:mod:`~infonotation.numeric.structures`): ``"full"`` (dense ``P x P``, at most
    12,000 parameters), ``"diag"`` (the GGN's diagonal), ``"kron"`` (Kronecker factors per ``nn.Linear`` /
    ``nn.Conv2d``, the prior added in their eigenbasis; other parameters diagonal) or ``"lowrank"`` (the top
    ``rank`` GGN eigenpairs, default 100). Default: ``"full"`` up to 4,096 parameters, ``"kron"`` above (``"diag"``
    when the Kronecker factors would not fit in memory). Every
    structure scores a pool point by its ``C x C`` form ``J S J^T`` (``S = H''[w*|D]^-1``) from each layer's inputs
    and output gradients, chunked over the pool.

    Any quantity whose derivation ends in such a matrix expression compiles, e.g. ``I[W; Y | x, y_1, x_1]`` (the
    gain after one more labelled point), ``I[W; Y | x] - I[Y_eval; Y | x, X_eval]`` or
    ``I[W; Y | x] + beta * I[Y_eval; Y | x, X_eval]``. Keywords bind what the quantity leaves open: scalar symbols
    (``beta=0.5``) and other points (``x_1=X1, y_1=y1``: their inputs, and labels where the quantity observes them).
    The pool is the input ``x`` (or ``x_B``); ``candidate="1"`` makes ``x_1`` the pool's input instead (the default
    when it is the one input left unbound).
    """
    refs: list = []
    try:
        key = (
            expr if isinstance(expr, (str, Expr)) else id(expr),
            _network_key(network, refs) if isinstance(network, nn.Module) else ("?", id(network)),
            likelihood, space, _obj_key(last_layer, refs), _obj_key(prior_precision, refs), _obj_key(train, refs),
            tuple(using) if using is not None and not isinstance(using, str) else using,
            _obj_key(eval, refs), sigma, dtype, chunk_size, progress, candidate, curvature, rank,
            tuple(sorted((k, _obj_key(v, refs)) for k, v in bindings.items())),
        )
        hash(key)
    except TypeError:
        key, refs = None, [None]
    if key is not None and None not in refs:
        hit = _CACHE.get(key)
        if hit is not None and all(r() is not None for r in hit[0]):
            _CACHE.move_to_end(key)
            return hit[1]
    with adaptive_threads():
        acq = _compile(expr, network, likelihood, space, last_layer, prior_precision, train, using, eval, sigma,
                       dtype, chunk_size, progress, candidate, bindings, curvature, rank)
    if key is not None and None not in refs:
        _CACHE[key] = (refs, acq)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return acq


def _points(quantity: Expr) -> set[str]:
    """Subscripts of the inputs a quantity names (``""`` for ``x``), the eval set's left out."""
    return {n.sub or "" for n in quantity.walk() if isinstance(n, Name) and n.base in ("x", "X")
            and n.sub != "eval"}


def _bindings(quantity: Expr, bindings: dict[str, Any], candidate: str | None) -> tuple[
        tuple[tuple[str, Fraction], ...], dict[str, dict[str, torch.Tensor]], str | None]:
    """Split the keywords into scalar symbols and bound points; choose the candidate's subscript."""
    symbols_needed = free_symbols(quantity)
    points = _points(quantity)
    symbols: list[tuple[str, Fraction]] = []
    bound: dict[str, dict[str, torch.Tensor]] = {}
    valid = sorted(set(symbols_needed) | {f"x_{p}" for p in points if p and p != "B"} |
                   {f"y_{p}" for p in points if p and p != "B"})
    for name, value in bindings.items():
        base, _, sub = name.partition("_")
        if name in symbols_needed:
            if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)) or value != value:
                raise CompileError(f"{name}={value!r}: a scalar symbol takes a number")
            symbols.append((name, Fraction(value)))
        elif base in ("x", "y") and sub and sub in points:
            if not isinstance(value, torch.Tensor):
                raise CompileError(f"{name}=...: a bound point takes a tensor (its input, or its label)")
            bound.setdefault(sub, {})[base] = value
        else:
            import difflib

            close = difflib.get_close_matches(name, valid + list(_KEYWORDS), n=1, cutoff=0.6)
            hint = f", did you mean {close[0]!r}?" if close else ""
            raise CompileError(
                f"inf.compile got an unknown keyword {name!r}{hint}. The quantity {quantity} leaves open: "
                f"{', '.join(valid) or 'nothing'}; the options are {', '.join(_KEYWORDS)}")
    missing = [s for s in symbols_needed if s not in dict(symbols)]
    if missing:
        raise CompileError(f"the symbol(s) {', '.join(missing)} of {quantity} need values: pass them by keyword, e.g. "
                           f"inf.compile(..., {missing[0]}=0.5)")
    if candidate is None and not ({"", "B"} & points):
        unbound = sorted(points - set(bound))
        if len(unbound) == 1:
            candidate = unbound[0]
        elif unbound:
            names = ", ".join("x_" + p for p in unbound)
            raise CompileError(f"{quantity} has no input x for the pool: bind all but one of {names} by keyword "
                               f"(e.g. x_{unbound[-1]}=X), or name the pool's one with candidate=")
    loose = sorted(points - set(bound) - {"", "B", candidate or ""})
    if loose:
        raise CompileError(f"x_{loose[0]} in {quantity} is neither the pool's input nor bound: pass "
                           f"x_{loose[0]}=tensor")
    return tuple(sorted(symbols)), bound, candidate


#: The keyword options of the weight-space compiler (for the messages about unknown keywords).
_KEYWORDS = ("likelihood", "space", "last_layer", "prior_precision", "train", "using", "eval", "sigma", "dtype",
             "chunk_size", "progress", "candidate", "curvature", "rank")


def _compile(
    expr: Any, network: Any, likelihood: str, space: str, last_layer: Any, prior_precision: Any, train: Any,
    using: Any, eval_: Any, sigma: Any, dtype: Any, chunk_size: Any, progress: Any, candidate: Any = None,
    bindings: dict[str, Any] | None = None, curvature: Any = None, rank: Any = None,
) -> CompiledAcquisition | StructuredAcquisition:
    if space != "weight":
        if space == "prediction":
            raise CompileError(
                "space='prediction' is evaluated from posterior samples by inf.bald / inf.batchbald / inf.epig; "
                "the numeric compiler handles space='weight'"
            )
        raise CompileError(f"unknown space {space!r}; use 'weight' (or 'prediction' through inf.bald/inf.epig)")
    if chunk_size is not None and (not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1):
        raise CompileError(f"chunk_size must be a positive int, got {chunk_size!r}")
    quantity = quantity_of(expr)
    head = make_likelihood(likelihood, sigma) if isinstance(likelihood, str) else None
    if head is None:
        raise CompileError(f"likelihood must be a string, got {type(likelihood).__name__}")
    label_aware = observed_label(quantity)
    if using is None and label_aware and last_layer is False:
        # the default chain's 'ggn' would replace H''[y|x,w*] by the Fisher and so drop the label: keep it exact
        using = LABELLED_USING
    steps = normalise_using(using)
    symbols, bound, candidate = _bindings(quantity, dict(bindings or {}), candidate)
    derived = weight_space_form(quantity, steps, likelihood, candidate)
    form = derived.expr
    adapter = ModelAdapter(network, head, last_layer, dtype)
    structure = _structure(adapter, network, curvature, rank)
    note = training_mode_note(network)
    if note:
        warnings.warn(f"{note}: infonotation evaluates it in evaluation mode (dropout off, BatchNorm with its running "
                      "statistics) for the Fisher information and the scores; call network.eval() to silence this",
                      CompileWarning, stacklevel=4)
    observed_as_fisher = adapter.last_layer or "ggn" in steps or "glm" in steps
    try:
        plan = lower(form, observed_as_fisher, candidate, symbols)
    except NotationError as exc:
        raise type(exc)(f"{exc} (compiling {quantity})") from None
    pool_leaf = plan.pool_leaf
    if label_aware and pool_leaf is not None and not pool_leaf.observed:
        why = ("on the last layer the model is a GLM with canonical link, so the observed information "
               "H''[y|x,w*] equals the Fisher information H''[Y|x,w*] for every label (R14)"
               if adapter.last_layer else
               "'ggn' (or 'glm') in using replaces the observed information H''[y|x,w*] by the Fisher information, "
               "which does not depend on y")
        warnings.warn(
            f"{quantity} is about a known label, but under these steps its score cannot depend on it: {why}. The "
            "scores equal those of the expected quantity (labels are still required and checked). For a "
            "label-dependent score use space='prediction' (posterior samples), or last_layer=False without 'ggn' "
            "(the exact Hessian)", CompileWarning, stacklevel=4)
    if structure not in (None, "full"):
        return compile_structured(
            quantity=quantity, form=form, using=steps, plan=plan, network=network, likelihood=head,
            curvature=structure[0], rank=structure[1], prior_precision=prior_precision, train=train, eval_=eval_,
            bound=bound, dtype=dtype, chunk_size=chunk_size, progress=progress, higher_is_better=not derived.proxy,
            label_aware=label_aware, derivations=derived.derivations)
    t0 = time.perf_counter()
    chunk = chunk_size or _default_chunk(adapter, False)
    info: dict[str, str] = {}
    mats: dict[Leaf, torch.Tensor] = {}
    leaves = plan.leaves
    posterior = None
    if train is not None:
        posterior = posterior_precision(adapter, train, prior_precision, chunk)
        n_train = int(train[0].shape[0])
    else:
        prior = prior_precision_matrix(prior_precision, adapter)
    for leaf in leaves:
        if leaf.kind == "PRIOR":
            if posterior is not None:
                mats[leaf] = posterior
                info[leaf.text] = f"bound to H''[w*|D]: sum of {n_train} training Fishers + prior precision"
            else:
                mats[leaf] = prior
                info[leaf.text] = "prior precision (no training data given)"
                warnings.warn(
                    f"no train= given: {quantity} is scored with the prior alone (H''[w*] = prior precision), as if "
                    "the network had seen no data; pass train=(X_train, y_train) for the posterior H''[w*|D]",
                    CompileWarning, stacklevel=4)
        elif leaf.kind == "POSTERIOR":
            if posterior is None:
                raise CompileError(f"{leaf.text} needs the training data: pass train=(X_train, y_train)")
            mats[leaf] = posterior
            info[leaf.text] = f"sum of {n_train} training Fishers + prior precision"
        elif leaf.kind == "TRAIN":
            if train is None:
                raise CompileError(f"{leaf.text} is the training data's curvature and needs the training data: pass "
                                   "train=(X_train, y_train)")
            mats[leaf] = _curvature(adapter, train[0], train[1], leaf.observed, chunk, "X_train")
            info[leaf.text] = f"sum of {int(train[0].shape[0])} training {_what(leaf)}"
        elif leaf.kind == "BOUND":
            X_b, y_b = bound_point(leaf, bound)
            mats[leaf] = _curvature(adapter, X_b, y_b, leaf.observed, chunk, f"x_{leaf.point}")
            info[leaf.text] = f"{_what(leaf)} of the bound point(s) x_{leaf.point} ({X_b.shape[0]} row(s))"
        elif leaf.kind in ("EVAL_SUM", "EVAL_MEAN"):
            if eval_ is None:
                raise CompileError(f"{leaf.text} needs the evaluation inputs: pass eval=X_eval")
            if not isinstance(eval_, torch.Tensor) or eval_.dim() == 0 or eval_.shape[0] == 0:
                raise CompileError("eval must be a non-empty torch.Tensor of evaluation inputs")
            S = summed_fisher(adapter, eval_, chunk, "X_eval")
            mats[leaf] = S / eval_.shape[0] if leaf.kind == "EVAL_MEAN" else S
            how = "mean" if leaf.kind == "EVAL_MEAN" else "sum"
            info[leaf.text] = f"{how} of {eval_.shape[0]} eval Fishers, {adapter.P}x{adapter.P}"
    if eval_ is not None and not any(leaf.kind.startswith("EVAL") for leaf in leaves):
        warnings.warn(f"eval=... was given but {form} has no eval term; it is ignored", UserWarning, stacklevel=3)
    runtime = Runtime(plan, adapter, mats)
    info["setup"] = f"fixed matrices built in {time.perf_counter() - t0:.3g} s"
    needs_labels = pool_leaf is not None and pool_leaf.observed
    higher = not derived.proxy
    return CompiledAcquisition(quantity, form, steps, plan, runtime, adapter, chunk_size, progress, higher,
                               needs_labels, info, label_aware=label_aware, derivations=derived.derivations)


def _structure(adapter: ModelAdapter, network: nn.Module, curvature: Any, rank: Any) -> Any:
    """``None`` (last layer), ``"full"`` (the dense path) or ``(name, rank)`` of a structured whole network."""
    if adapter.last_layer:
        if curvature not in (None, "full") or rank is not None:
            raise CompileError(
                f"curvature={curvature!r}, rank={rank!r} choose the structure of the whole network's curvature "
                "(last_layer=False); the last layer's curvature is exact (a GLM in its weights): drop them or pass "
                "last_layer=False")
        return None
    from .structured import check_dropout
    from .structures import choose_structure, layout_of

    check_dropout(network)
    name, r = choose_structure(curvature, rank, adapter.P, layout_of(network))
    return "full" if name == "full" else (name, r)


def _what(leaf: Leaf) -> str:
    return "observed information (exact Hessians)" if leaf.observed else "Fishers (GGN)"


def _curvature(adapter: ModelAdapter, X: torch.Tensor, y: torch.Tensor | None, observed: bool, chunk: int,
               where: str) -> torch.Tensor:
    """The summed curvature of fixed points: their Fisher (GGN), or with ``observed`` their exact Hessians."""
    if not isinstance(X, torch.Tensor) or X.dim() == 0 or X.shape[0] == 0:
        raise CompileError(f"{where} must be a non-empty tensor of inputs")
    if not observed:
        return summed_fisher(adapter, X, chunk, where)
    if y is None:
        raise CompileError(f"{where}: the observed information needs the labels too")
    total = None
    for sl in iter_chunks(X.shape[0], max(1, chunk // 8)):
        part = adapter.observed_information(X[sl], y[sl], where).sum(0)
        total = part if total is None else total + part
    return total
