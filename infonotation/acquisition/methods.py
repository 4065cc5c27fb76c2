"""The named acquisition methods of the literature, each as a line of the notation: ``inf.methods``.

``inf.methods`` is a small read-only mapping from names to :class:`Method` objects (``inf.methods.bald``,
``inf.methods["bald"]``, ``list(inf.methods)``). A method states its quantity (``notation``), the approximation
steps that turn it into what the method computes (``using``; ``method.derivation()`` replays them with
``inf.derive``), the space it is evaluated in, whether it needs labels (active sampling), its reference and a
one-line summary. ``method.compile(network, ...)`` binds it to a network and returns an :class:`Acquirer` with
``scores(X_pool, y_pool=None)`` (one number per pool point, higher is better) and ``select(X_pool, k, y_pool=None)``
(``k`` distinct pool indices).

Posterior samples for the prediction-space methods (``posterior="auto"``): a list of networks is an ensemble;
otherwise MC dropout when the network has dropout modules, else samples ``w ~ N(w*, H''[w*|D]^-1)`` of the last
layer, with ``H''[w*|D] = sum_i H''[Y|x_i,w*] + prior_precision Id`` over ``train`` (R12, R17).

=============  ===========  ======================================================================================
method         batch        what is computed
=============  ===========  ======================================================================================
random         uniform      seeded uniform scores; top-k of them is a uniformly random batch
bald           top-k        ``I[W;Y|x]`` from posterior samples (Houlsby et al., 2011)
batchbald      greedy       joint ``I[W;Y_B|x_B]`` from posterior samples (Kirsch et al., 2019)
eig_logdet     greedy       ``1/2 logdet(H''[Y_B|x_B,w*] H''[w*|D]^-1 + Id)`` (R20), via ``inf.compile``
eig_trace      top-k        ``1/2 tr(H''[Y_B|x_B,w*] H''[w*|D]^-1)`` (R21): additive, so greedy == top-k (R22)
epig           top-k        ``I[Y_eval;Y|x,X_eval]`` from posterior samples (Kirsch et al., 2021)
jepig          greedy       weight-space JEPIG gain (R25) via ``inf.compile`` (or ``space="prediction"``: top-k)
badge          k-means++    gradient embeddings at hard pseudo-labels, k-means++ seeding (Ash et al., 2020)
badge_logdet   greedy       ``logdet(S_A + eps Id)``, ``S = G G^T`` (flat-prior joint EIG, R23/R24)
bait           fwd-bwd      ``tr((H''[w*|D] + F_B)^-1 F_eval)`` minimised, forward 2k / backward k (Ash et al., 2021)
logdet         greedy       PRISM/SIMILAR LogDet ``logdet(S_A + lambda Id)`` on gradient similarities
logdetmi       greedy       PRISM/SIMILAR LogDetMI with query set Q = the eval set (= 2 JEPIG, R28)
grand          top-k        ``||H'[y|x,w*]||`` (GraNd, Paul et al., 2021)
el2n           top-k        ``||softmax(f(x)) - e_y||`` (EL2N, Paul et al., 2021)
ig             top-k        ``I[W;y|x] ~= 1/2 logdet(H''[y|x,w*] H''[w*|D]^-1 + Id)`` (R19) via ``inf.compile``
pig            top-k        ``I[Y_eval;y|x,X_eval]`` from posterior samples
=============  ===========  ======================================================================================
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ..errors import CompileError
from ..numeric.compile import compile as compile_quantity
from ..numeric.curvature import posterior_precision, prior_precision_matrix, summed_fisher
from ..symbolic.derivation import Derivation, derive
from ..syntax.parser import parse
from ..syntax.tree import Expr
from .batch import (
    _check_k,
    bait_scores,
    bait_select,
    greedy_logdet,
    greedy_logdet_mi,
    kmeans_pp,
    logdet_mi_scores,
    logdet_scores,
)
from .embeddings import badge_embeddings, check_class_labels, classifier_adapter, last_layer_outputs
from .samples import (
    _DROPOUT_TYPES,
    ensemble_log_probs,
    last_layer_gaussian_log_probs,
    mc_dropout_log_probs,
)
from .scores import bald, batchbald, epig, jepig, predictive_information_gain

__all__ = ["Method", "Acquirer", "Methods", "methods", "UnknownMethodError"]

Space = Literal["prediction", "weight", "none"]
_CHUNK = 256


class UnknownMethodError(CompileError, KeyError):
    """``inf.methods[name]`` for a name that is not registered (a :class:`CompileError` and a ``KeyError``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# ----------------------------------------------------------------------------------------------------
# the compile-time context


@dataclass
class _Context:
    method: Method
    network: nn.Module | list[nn.Module]
    train: tuple[Tensor, Tensor] | None
    eval: Tensor | str | None
    prior_precision: float | Tensor
    num_samples: int
    seed: int
    posterior: str
    last_layer: bool | str | nn.Linear
    options: dict[str, Any]

    @property
    def single(self) -> nn.Module:
        """The network, for methods that need one network (weight space)."""
        if not isinstance(self.network, nn.Module):
            raise CompileError(
                f"method {self.method.name!r} works on one network's weights; an ensemble (a list of networks) is "
                "supported by the prediction-space methods (bald, batchbald, epig, jepig with space='prediction', "
                "pig) and by grand/el2n"
            )
        return self.network

    def eval_set(self) -> Tensor:
        ev = self.eval
        if ev is None or isinstance(ev, str):
            raise CompileError(
                f"method {self.method.name!r} needs an evaluation set: pass eval=X_eval (inputs whose predictions "
                "should become more certain)"
            )
        return ev

    def option(self, name: str, default: Any) -> Any:
        return self.options.get(name, default)


def _check_inputs(X: object, where: str) -> Tensor:
    if not isinstance(X, Tensor):
        raise CompileError(f"{where} must be a torch.Tensor whose first dimension indexes the points, got "
                           f"{type(X).__name__}")
    if X.dim() == 0 or X.shape[0] == 0:
        raise CompileError(f"{where} must hold at least one point (shape [N, ...] with N >= 1), got {list(X.shape)}")
    if X.is_floating_point() and not bool(torch.isfinite(X).all()):
        raise CompileError(f"{where} holds NaN or infinite values")
    return X


# ----------------------------------------------------------------------------------------------------
# posterior samples for prediction-space methods


class _Posterior:
    """``log p(y | x, w_k)`` ``[N, K, C]`` (float64) for K posterior samples shared by every call."""

    def __init__(self, ctx: _Context):
        self.ctx = ctx
        net, kind = ctx.network, ctx.posterior
        if kind not in ("auto", "dropout", "laplace", "ensemble"):
            raise CompileError(f"posterior must be 'auto', 'dropout', 'laplace' or 'ensemble', got {kind!r}")
        if not isinstance(net, nn.Module):
            if kind not in ("auto", "ensemble"):
                raise CompileError(f"posterior={kind!r} needs one network; a list of networks is an ensemble")
            self.kind = "ensemble"
            return
        if kind == "ensemble":
            raise CompileError("posterior='ensemble' needs a list of networks (the ensemble members)")
        has_dropout = any(isinstance(m, _DROPOUT_TYPES) for m in net.modules())
        if kind == "auto":
            kind = "dropout" if has_dropout else "laplace"
        if kind == "dropout" and not has_dropout:
            raise CompileError("posterior='dropout' needs nn.Dropout modules in the network; use 'laplace'")
        self.kind = kind
        if kind == "laplace":
            if ctx.last_layer is False:
                raise CompileError(
                    "the Gaussian posterior samples are over the last layer: pass last_layer=True (or a layer), "
                    "a network with dropout, or an ensemble"
                )
            self.adapter = classifier_adapter(net, ctx.last_layer)
            prior = prior_precision_matrix(ctx.prior_precision, self.adapter)
            self.precision = prior if ctx.train is None else posterior_precision(self.adapter, ctx.train, prior, _CHUNK)

    def log_probs(self, X: Tensor) -> Tensor:
        ctx = self.ctx
        if self.kind == "ensemble":
            lp = ensemble_log_probs(ctx.network, X)  # type: ignore[arg-type]
        elif self.kind == "dropout":
            lp = mc_dropout_log_probs(ctx.network, X, ctx.num_samples, seed=ctx.seed)  # type: ignore[arg-type]
        else:
            ad = self.adapter
            out = last_layer_outputs(ad, X)
            lp = last_layer_gaussian_log_probs(out.features, ad.Wt, precision=self.precision,
                                               num_samples=ctx.num_samples, seed=ctx.seed, bias=ad.has_bias)
        return lp.to(torch.float64)


# ----------------------------------------------------------------------------------------------------
# the acquirer


ScoreFn = Callable[[Tensor, "Tensor | None"], Tensor]
SelectFn = Callable[[Tensor, int, "Tensor | None"], Tensor]


class Acquirer:
    """A method bound to a network: ``scores(X_pool, y_pool=None) -> [N]`` and ``select(X_pool, k, y_pool=None)``.

    ``scores`` are per-point (higher is better); for batch-only methods they are the method's documented per-point
    proxy (``method.batch`` says how a batch is chosen). ``select`` returns ``LongTensor[k]`` of distinct pool
    indices in selection order. Methods with ``method.labels`` need ``y_pool``; other methods ignore it.
    """

    def __init__(self, method: Method, score: ScoreFn, select: SelectFn | None, detail: str = ""):
        self.method = method
        self._score = score
        self._select = select
        self.detail = detail

    def _labels(self, X: Tensor, y: object) -> Tensor | None:
        if not self.method.labels:
            return None
        if y is None:
            raise CompileError(
                f"method {self.method.name!r} ({self.method.notation}) scores points with known labels (active "
                "sampling): pass y_pool, e.g. acq.scores(X_pool, y_pool)"
            )
        if not isinstance(y, Tensor) or y.shape != (X.shape[0],):
            shape = list(y.shape) if isinstance(y, Tensor) else type(y).__name__
            raise CompileError(f"y_pool must be a tensor of {X.shape[0]} class labels (shape [{X.shape[0]}]), "
                               f"got {shape}")
        return y

    def scores(self, X_pool: Tensor, y_pool: Tensor | None = None) -> Tensor:
        """One score per pool point, ``[N]`` float64 (higher is better)."""
        X = _check_inputs(X_pool, "X_pool")
        y = self._labels(X, y_pool)
        out = self._score(X, y).to(torch.float64)
        if out.shape != (X.shape[0],) or bool(torch.isnan(out).any()):
            raise CompileError(f"method {self.method.name!r} produced invalid scores; check the network and inputs")
        return out

    __call__ = scores

    def select(self, X_pool: Tensor, k: int, y_pool: Tensor | None = None) -> Tensor:
        """``k`` distinct pool indices (``LongTensor[k]``, in selection order) chosen by the method's batch rule."""
        X = _check_inputs(X_pool, "X_pool")
        _check_k(k, X.shape[0])
        y = self._labels(X, y_pool)
        if self._select is None:
            s = self._score(X, y).to(torch.float64)
            return torch.sort(s, descending=True, stable=True).indices[:k].to(torch.long)
        return self._select(X, k, y).to(torch.long).cpu()

    def __repr__(self) -> str:
        return f"<Acquirer {self.method.name}: {self.method.notation} ({self.method.batch}){self.detail}>"


# ----------------------------------------------------------------------------------------------------
# the methods


Builder = Callable[[_Context], Acquirer]


@dataclass(frozen=True)
class Method:
    """A named acquisition method: its quantity in the notation, the approximations, and how to run it.

    ``name``; ``notation`` (one line of the notation); ``using`` (approximation steps for ``inf.derive``);
    ``space`` (``"prediction"``, ``"weight"`` or ``"none"``); ``labels`` (needs the pool's labels: active
    sampling); ``reference`` (paper, year); ``summary`` (one sentence); ``batch`` (how a batch is chosen);
    ``needs_eval`` (needs ``eval=``); ``options`` (method-specific keyword arguments of :meth:`compile` with
    their defaults).
    """

    name: str
    notation: str
    using: tuple[str, ...]
    space: Space
    labels: bool
    reference: str
    summary: str
    batch: str
    needs_eval: bool = False
    options: Mapping[str, Any] = field(default_factory=dict, compare=False)
    ensembles: bool = False
    _build: Builder | None = field(default=None, repr=False, compare=False)

    @property
    def quantity(self) -> Expr:
        """``inf.parse(self.notation)``."""
        return parse(self.notation)

    def derivation(self) -> Derivation:
        """``inf.derive(self.notation, using=self.using)``: the chain from the quantity to what the method computes."""
        return derive(self.notation, using=self.using)

    def compile(
        self,
        network: nn.Module | Sequence[nn.Module],
        *,
        train: tuple[Tensor, Tensor] | None = None,
        eval: Tensor | str | None = None,  # noqa: A002 - the API's name
        prior_precision: float | Tensor = 1.0,
        num_samples: int = 20,
        seed: int = 0,
        posterior: str = "auto",
        last_layer: bool | str | nn.Linear = True,
        **options: Any,
    ) -> Acquirer:
        """Bind the method to ``network`` (a classifier returning logits; a list of networks is an ensemble).

        ``train=(X, y)``: the labelled data behind ``H''[w*|D]`` (weight space) and the Gaussian posterior samples;
        ``eval``: evaluation inputs (EPIG, JEPIG, BAIT, LogDetMI, PIG; BAIT also takes ``"pool"``);
        ``prior_precision``: ``lambda`` in ``H''[w*] = lambda Id``; ``num_samples``/``seed``: posterior samples
        (and the seed of random choices); ``posterior``: ``"auto"``, ``"dropout"``, ``"laplace"`` or
        ``"ensemble"``; ``last_layer``: the parameters of weight-space methods (``True``: the last ``nn.Linear``,
        ``False``: the whole network); ``options``: see ``method.options``. Raises :class:`CompileError` on bad input.
        """
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(sorted(self.options)) or "none"
            raise CompileError(f"method {self.name!r} has no option(s) {', '.join(unknown)}; its options: {known}")
        opts = {**self.options, **options}
        if isinstance(network, nn.Module):
            net: nn.Module | list[nn.Module] = network
        elif isinstance(network, Sequence) and not isinstance(network, str) and len(network) > 0 and all(
            isinstance(m, nn.Module) for m in network
        ):
            if not self.ensembles:
                raise CompileError(
                    f"method {self.name!r} works on one network; a list of networks (an ensemble) is supported by "
                    f"{', '.join(m.name for m in methods.values() if m.ensembles)}"
                )
            net = list(network)
        else:
            raise CompileError(
                f"network must be a torch.nn.Module (or a non-empty list of them: an ensemble), got "
                f"{type(network).__name__}"
            )
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise CompileError(f"num_samples must be a positive integer, got {num_samples!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise CompileError(f"seed must be an int, got {seed!r}")
        if train is not None:
            if not (isinstance(train, tuple | list) and len(train) == 2
                    and all(isinstance(t, Tensor) for t in train)):
                raise CompileError("train must be a pair (X_train, y_train) of tensors")
            if train[0].shape[0] != train[1].shape[0]:
                raise CompileError(f"train: X_train has {train[0].shape[0]} rows but y_train has {train[1].shape[0]}")
            train = (train[0], train[1])
        if eval is not None and not isinstance(eval, str):
            _check_inputs(eval, "eval")
        if isinstance(eval, str) and not (eval == "pool" and self.name == "bait"):
            raise CompileError(f"eval must be a tensor of evaluation inputs, got the string {eval!r} (only bait "
                               "takes eval='pool')")
        ctx = _Context(self, net, train, eval, prior_precision, num_samples, seed, posterior, last_layer, opts)
        if self.needs_eval:
            if self.name == "bait" and eval is None:
                raise CompileError(
                    "method 'bait' needs F_eval: pass eval=X_eval, or eval='pool' to use the pool's Fisher "
                    "information as Ash et al. (2021) do"
                )
            if eval is None:
                ctx.eval_set()
        assert self._build is not None
        return self._build(ctx)

    def __str__(self) -> str:
        return f"{self.name}: {self.notation}  using {', '.join(self.using) or '(exact rules only)'}"


class Methods(Mapping[str, Method]):
    """The registry: ``methods.bald``, ``methods["bald"]``, ``list(methods)``, ``len(methods)``, ``"x" in methods``."""

    def __init__(self, items: Sequence[Method]):
        self._items = {m.name: m for m in items}

    def __getitem__(self, name: str) -> Method:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            close = difflib.get_close_matches(str(name), list(self._items), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownMethodError(
                f"no acquisition method named {name!r}{hint} Known methods: {', '.join(self._items)}"
            ) from None

    def __getattr__(self, name: str) -> Method:
        if name.startswith("_"):
            raise AttributeError(name)
        items = self.__dict__.get("_items", {})
        if name in items:
            return items[name]
        close = difflib.get_close_matches(name, list(items), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise AttributeError(f"no acquisition method named {name!r}{hint} Known methods: {', '.join(items)}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._items))

    def __repr__(self) -> str:
        return "inf.methods: " + ", ".join(self._items)

    def table(self) -> str:
        """A plain-text table: name, notation, space, labels, batch rule, reference."""
        rows = [(m.name, m.notation, m.space, "yes" if m.labels else "no", m.batch, m.reference)
                for m in self._items.values()]
        head = ("method", "notation", "space", "labels", "batch", "reference")
        widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        return "\n".join(fmt.format(*r).rstrip() for r in [head] + rows)


# ----------------------------------------------------------------------------------------------------
# builders


def _build_random(ctx: _Context) -> Acquirer:
    seed = ctx.seed

    def score(X: Tensor, y: Tensor | None) -> Tensor:
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(X.shape[0], generator=gen, dtype=torch.float64)

    return Acquirer(ctx.method, score, None, f", seed {seed}")


def _build_bald(ctx: _Context) -> Acquirer:
    post = _Posterior(ctx)
    return Acquirer(ctx.method, lambda X, y: bald(post.log_probs(X)), None, f", {post.kind} samples")


def _build_batchbald(ctx: _Context) -> Acquirer:
    post = _Posterior(ctx)
    budget = int(ctx.option("configurations", 10_000))

    def select(X: Tensor, k: int, y: Tensor | None) -> Tensor:
        return batchbald(post.log_probs(X), k, num_samples=budget, seed=ctx.seed).indices

    return Acquirer(ctx.method, lambda X, y: bald(post.log_probs(X)), select, f", {post.kind} samples")


def _build_epig(ctx: _Context) -> Acquirer:
    post = _Posterior(ctx)
    lp_eval = post.log_probs(ctx.eval_set())
    return Acquirer(ctx.method, lambda X, y: epig(post.log_probs(X), lp_eval), None, f", {post.kind} samples")


def _build_pig(ctx: _Context) -> Acquirer:
    post = _Posterior(ctx)
    lp_eval = post.log_probs(ctx.eval_set())

    def score(X: Tensor, y: Tensor | None) -> Tensor:
        assert y is not None
        lp = post.log_probs(X)
        return predictive_information_gain(lp, check_class_labels(y, X.shape[0], lp.shape[2]), lp_eval)

    return Acquirer(ctx.method, score, None, f", {post.kind} samples")


def _compiled(ctx: _Context, text: str, using: Sequence[str], with_eval: bool = False) -> Any:
    return compile_quantity(
        text, ctx.single, last_layer=ctx.last_layer, prior_precision=ctx.prior_precision, train=ctx.train,
        using=list(using), eval=ctx.eval_set() if with_eval else None, progress=False,
    )


def _build_weight(ctx: _Context, greedy: bool, with_eval: bool = False, using: Sequence[str] | None = None) -> Acquirer:
    m = ctx.method
    acq = _compiled(ctx, m.notation, m.using if using is None else using, with_eval)

    def select(X: Tensor, k: int, y: Tensor | None) -> Tensor:
        return acq.select(X, k, "greedy")

    return Acquirer(m, lambda X, y: acq(X), select if greedy else None, f", compiled: {acq.form}")


def _build_jepig(ctx: _Context) -> Acquirer:
    space = ctx.option("space", "weight")
    if space == "weight":
        return _build_weight(ctx, greedy=True, with_eval=True)
    if space != "prediction":
        raise CompileError(f"jepig: space must be 'weight' or 'prediction', got {space!r}")
    post = _Posterior(ctx)
    lp_eval = post.log_probs(ctx.eval_set())
    budget = int(ctx.option("configurations", 10_000))
    return Acquirer(ctx.method, lambda X, y: jepig(post.log_probs(X), lp_eval, num_samples=budget, seed=ctx.seed),
                    None, f", {post.kind} samples")


def _build_ig(ctx: _Context) -> Acquirer:
    m = ctx.method
    # the numeric compiler takes the log-det through eig_logdet (which has no expectation to move when y is known)
    acq = _compiled(ctx, m.notation, list(m.using) + ["eig_logdet"])
    return Acquirer(m, lambda X, y: acq(X, y), None, f", compiled: {acq.form}")


def _embeddings(ctx: _Context) -> Callable[[Tensor], Tensor]:
    adapter = classifier_adapter(ctx.single, ctx.last_layer)
    return lambda X: badge_embeddings(adapter, X)


def _build_badge(ctx: _Context) -> Acquirer:
    emb = _embeddings(ctx)

    def select(X: Tensor, k: int, y: Tensor | None) -> Tensor:
        return kmeans_pp(emb(X), k, seed=ctx.seed)

    return Acquirer(ctx.method, lambda X, y: emb(X).norm(dim=1), select, ", k-means++ on gradient embeddings")


def _eps(ctx: _Context, G: Tensor) -> float:
    eps = ctx.option("eps", None)
    if eps is None:  # the flat-prior limit, relative to the embeddings' scale
        return 1e-6 * max(float(G.square().sum(1).mean()), 1e-12)
    return eps


def _build_badge_logdet(ctx: _Context) -> Acquirer:
    emb = _embeddings(ctx)

    def score(X: Tensor, y: Tensor | None) -> Tensor:
        G = emb(X)
        return logdet_scores(embeddings=G, eps=_eps(ctx, G))

    def select(X: Tensor, k: int, y: Tensor | None) -> Tensor:
        G = emb(X)
        return greedy_logdet(k, embeddings=G, eps=_eps(ctx, G)).indices

    return Acquirer(ctx.method, score, select, ", greedy log-det on gradient embeddings")


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
    return Acquirer(ctx.method, lambda X, y: logdet_scores(embeddings=emb(X), eps=eps),
                    lambda X, k, y: greedy_logdet(k, embeddings=emb(X), eps=eps).indices, f", ridge {eps:g}")


def _build_logdetmi(ctx: _Context) -> Acquirer:
    emb = _embeddings(ctx)
    eps, eta = _ridge(ctx), ctx.option("eta", 1.0)
    G_q = emb(ctx.eval_set())
    return Acquirer(
        ctx.method,
        lambda X, y: logdet_mi_scores(embeddings=emb(X), query=G_q, eps=eps, eta=eta),
        lambda X, k, y: greedy_logdet_mi(k, embeddings=emb(X), query=G_q, eps=eps, eta=eta).indices,
        f", ridge {eps:g}, |Q| = {G_q.shape[0]}",
    )


def _build_bait(ctx: _Context) -> Acquirer:
    adapter = classifier_adapter(ctx.single, ctx.last_layer)
    prior = prior_precision_matrix(ctx.prior_precision, adapter)
    H = prior if ctx.train is None else posterior_precision(adapter, ctx.train, prior, _CHUNK)
    use_pool = isinstance(ctx.eval, str)
    F_fixed = None if use_pool else summed_fisher(adapter, ctx.eval_set(), _CHUNK, "eval")
    oversample = ctx.option("oversample", 2)

    def parts(X: Tensor) -> tuple[Any, Tensor]:
        f = adapter.factors(X, "X_pool")
        return f, (f.outer_sum() if F_fixed is None else F_fixed)

    def score(X: Tensor, y: Tensor | None) -> Tensor:
        f, F = parts(X)
        return bait_scores(f, precision=H, eval_fisher=F)

    def select(X: Tensor, k: int, y: Tensor | None) -> Tensor:
        f, F = parts(X)
        return bait_select(f, k, precision=H, eval_fisher=F, oversample=oversample).indices

    return Acquirer(ctx.method, score, select, f", F_eval from {'the pool' if use_pool else 'eval'}")


def _networks(ctx: _Context) -> list[nn.Module]:
    return list(ctx.network) if isinstance(ctx.network, list) else [ctx.network]


def _build_el2n(ctx: _Context) -> Acquirer:
    adapters = [classifier_adapter(n, False) for n in _networks(ctx)]  # only the outputs are needed

    def score(X: Tensor, y: Tensor | None) -> Tensor:
        assert y is not None
        total = torch.zeros(X.shape[0], dtype=torch.float64)
        for ad in adapters:
            p = torch.softmax(ad.forward(X, "X_pool")[0], dim=-1)
            yy = check_class_labels(y, X.shape[0], p.shape[1])
            total += (p - nn.functional.one_hot(yy, p.shape[1]).to(p.dtype)).norm(dim=1).cpu()
        return total / len(adapters)

    return Acquirer(ctx.method, score, None)


def _build_grand(ctx: _Context) -> Acquirer:
    adapters = [classifier_adapter(n, ctx.last_layer) for n in _networks(ctx)]

    def score(X: Tensor, y: Tensor | None) -> Tensor:
        assert y is not None
        total = torch.zeros(X.shape[0], dtype=torch.float64)
        for ad in adapters:
            total += badge_embeddings(ad, X, y).norm(dim=1).cpu()
        return total / len(adapters)

    return Acquirer(ctx.method, score, None, f", {'last layer' if ctx.last_layer is not False else 'whole network'}")


# ----------------------------------------------------------------------------------------------------
# the registry

_FLAT_GRAM = ("gaussian", "last_layer", "empirical_fisher", "flat_prior", "determinant_lemma")

_METHODS = (
    Method(
        "random", "0", (), "none", False, "(baseline)",
        "Every pool point is equally informative, so a batch is drawn uniformly at random (seeded).",
        "uniform", _build=_build_random,
    ),
    Method(
        "bald", "I[W;Y|x]", ("samples",), "prediction", False, "Houlsby et al., 2011",
        "The expected information gain about the weights, estimated from posterior samples; the batch is the "
        "top-k individual scores.",
        "top-k", ensembles=True, _build=_build_bald,
    ),
    Method(
        "batchbald", "I[W;Y_B|x_B]", ("samples",), "prediction", False, "Kirsch et al., 2019",
        "The joint expected information gain of the whole batch from posterior samples, maximised greedily so "
        "redundant points stop adding value.",
        "greedy", options={"configurations": 10_000}, ensembles=True, _build=_build_batchbald,
    ),
    Method(
        "eig_logdet", "I[W;Y_B|x_B]", ("gaussian", "ggn", "eig_logdet"), "weight", False, "Kirsch & Gal, 2022",
        "The joint expected information gain under a Gaussian posterior, a log-determinant of the batch Fisher "
        "against the posterior precision, maximised greedily.",
        "greedy", _build=lambda ctx: _build_weight(ctx, greedy=True),
    ),
    Method(
        "eig_trace", "I[W;Y_B|x_B]", ("gaussian", "ggn", "eig_logdet", "trace"), "weight", False,
        "Kirsch & Gal, 2022",
        "The trace upper bound of the weight-space information gain; it is additive over the batch, so greedy "
        "selection is the top-k of the individual scores.",
        "top-k", _build=lambda ctx: _build_weight(ctx, greedy=False),
    ),
    Method(
        "epig", "I[Y_eval;Y|x,X_eval]", ("samples",), "prediction", False, "Kirsch, Rainforth & Gal, 2021",
        "How much a label would tell about predictions at evaluation inputs, on average over them, from "
        "posterior samples; top-k.",
        "top-k", needs_eval=True, ensembles=True, _build=_build_epig,
    ),
    Method(
        "jepig", "I[Y_eval;Y_B|x_B,x_eval]", ("gaussian", "ggn", "eig_logdet"), "weight", False,
        "Kirsch, Rainforth & Gal, 2021",
        "The information the batch's labels carry about the joint predictions on the evaluation set, in the "
        "weight-space Gaussian approximation, maximised greedily.",
        "greedy", needs_eval=True, options={"space": "weight", "configurations": 10_000}, ensembles=True,
        _build=_build_jepig,
    ),
    Method(
        "badge", "I[W;y_B|x_B]", _FLAT_GRAM, "weight", False, "Ash et al., 2020",
        "Last-layer loss gradients at the predicted labels, spread out by k-means++ seeding as a cheap sampler "
        "for a large log-determinant of their similarity matrix (the per-point score is the embedding norm).",
        "k-means++", _build=_build_badge,
    ),
    Method(
        "badge_logdet", "I[W;y_B|x_B]", _FLAT_GRAM, "weight", False, "Ash et al., 2020",
        "BADGE's objective maximised directly: the greedy log-determinant of the gradient similarity matrix with "
        "a vanishing ridge (the flat-prior limit).",
        "greedy", options={"eps": None}, _build=_build_badge_logdet,
    ),
    Method(
        "bait", "I[Y_eval;Y_B|x_B,x_eval]", ("gaussian", "last_layer", "trace"), "weight", False,
        "Ash et al., 2021",
        "Choose the batch whose last-layer Fisher most lowers tr((F_train + F_batch + lambda Id)^-1 F_eval), the "
        "trace form of the predictive information gain, by forward then backward greedy steps.",
        "forward-backward", needs_eval=True, options={"oversample": 2}, _build=_build_bait,
    ),
    Method(
        "logdet", "I[W;y_B|x_B]", _FLAT_GRAM, "weight", False, "Kothawade et al., 2021 (SIMILAR); 2022 (PRISM)",
        "The submodular LogDet of the gradient similarity matrix with a ridge equal to the prior precision, which "
        "is twice the joint information gain under that isotropic prior, maximised greedily.",
        "greedy", options={"eps": None}, _build=_build_logdet,
    ),
    Method(
        "logdetmi", "I[Y_eval;Y_B|x_B,x_eval]", ("gaussian", "ggn", "eig_logdet", "last_layer", "flat_prior"),
        "weight", False, "Kothawade et al., 2021 (SIMILAR); 2022 (PRISM)",
        "The submodular LogDetMI between the batch and the evaluation (query) set on gradient similarities, twice "
        "the batch's predictive information about the query labels under an isotropic prior and pseudo-labels.",
        "greedy", needs_eval=True, options={"eps": None, "eta": 1.0}, _build=_build_logdetmi,
    ),
    Method(
        "grand", "I[W;y|x]", ("gaussian", "empirical_fisher", "flat_prior", "trace"), "weight", True,
        "Paul et al., 2021",
        "The norm of a labelled point's loss gradient, the square root of the trace bound of its information gain "
        "under an isotropic prior; keep the largest.",
        "top-k", ensembles=True, _build=_build_grand,
    ),
    Method(
        "el2n", "I[W;y|x]", ("gaussian", "last_layer", "empirical_fisher", "flat_prior", "trace"), "weight", True,
        "Paul et al., 2021",
        "The distance between the predicted probabilities and the one-hot label, the last-layer gradient norm "
        "with the feature norm divided out; keep the largest.",
        "top-k", ensembles=True, _build=_build_el2n,
    ),
    Method(
        "ig", "I[W;y|x]", ("gaussian",), "weight", True, "Kirsch & Gal, 2022",
        "The information gain from a known label under a Gaussian posterior, a log-determinant of the observed "
        "information against the posterior precision; top-k.",
        "top-k", _build=_build_ig,
    ),
    Method(
        "pig", "I[Y_eval;y|x,X_eval]", (), "prediction", True, "Kirsch & Gal, 2022",
        "How much a known label changes the predictive entropy at evaluation inputs, from posterior samples; "
        "top-k.",
        "top-k", needs_eval=True, ensembles=True, _build=_build_pig,
    ),
)

#: The registry of named acquisition methods (``inf.methods``).
methods = Methods(_METHODS)
