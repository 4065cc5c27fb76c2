"""The named acquisition methods of the literature, each as a line of the notation: ``inf.methods``.

``inf.methods`` is a small read-only mapping from names to :class:`Method` objects (``inf.methods.bald``,
``inf.methods["bald"]``, ``list(inf.methods)``). A method states its quantity (``notation``), the approximation
steps that turn it into what the method computes (``using``; ``method.derivation()`` replays them with
``inf.derive``), the space it is evaluated in, whether it needs labels (active sampling), its reference and a
one-line summary. ``method.compile(network, ...)`` binds it to a network and returns an :class:`Acquirer` that
follows the acquisition protocol (:mod:`infonotation.protocol`): ``scores(X_pool, y_pool=None)`` (one number per
pool point, higher is better) and ``select(X_pool, k, strategy=None, y_pool=None)`` (a ``Selection``: ``k``
distinct pool indices and their scores; ``strategy=None`` is the method's own batch rule).

Every method takes ``likelihood="categorical"`` (logits), ``"bernoulli"`` (one logit) or ``"gaussian"``
(regression, with ``sigma``) where it is defined (``method.likelihoods``; EL2N compares class probabilities, so
it has no Gaussian version). Posterior samples for the prediction-space methods (``posterior="auto"``): a list
of networks is an ensemble; otherwise MC dropout when the network has dropout modules, else samples
``w ~ N(w*, H''[w*|D]^-1)`` of the last layer, with ``H''[w*|D] = sum_i H''[Y|x_i,w*] + prior_precision Id`` over
``train`` (R12, R17). For a Gaussian likelihood the prediction-space methods use the closed forms under the
linearised Gaussian posterior instead (BALD ``1/2 log(1 + var_f(x)/sigma^2)``, BatchBALD the joint log-det, EPIG
and PIG from the joint predictive covariance).

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
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import Tensor, nn

from ..errors import CompileError, CompileWarning
from ..numeric.adapter import training_mode_note
from ..numeric.likelihood import LIKELIHOODS, make_likelihood
from ..protocol import check_pool
from ..symbolic.derivation import Derivation, derive
from ..syntax.parser import parse
from ..syntax.tree import Expr
from ..threads import adaptive_threads
from .acquirer import Acquirer, _Context, _Posterior
from .builders import BUILDERS

__all__ = ["Method", "Acquirer", "Methods", "methods", "UnknownMethodError", "_Context", "_Posterior"]

Space = Literal["prediction", "weight", "none"]


class UnknownMethodError(CompileError, KeyError):
    """``inf.methods[name]`` for a name that is not registered (a :class:`CompileError` and a ``KeyError``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# ----------------------------------------------------------------------------------------------------
# the methods


_COMPILE_KEYWORDS = ("train", "eval", "prior_precision", "num_samples", "seed", "posterior", "last_layer",
                     "likelihood", "sigma")
#: methods whose scores need a training set (a posterior precision) unless they sample another posterior
_USES_POSTERIOR = ("bald", "batchbald", "eig_logdet", "eig_trace", "epig", "jepig", "bait", "ig", "pig")


@dataclass(frozen=True)
class Method:
    """A named acquisition method: its quantity in the notation, the approximations, and how to run it.

    ``name``; ``notation`` (one line of the notation); ``using`` (approximation steps for ``inf.derive``);
    ``space`` (``"prediction"``, ``"weight"`` or ``"none"``); ``labels`` (needs the pool's labels: active
    sampling); ``reference`` (paper, year); ``summary`` (one sentence); ``batch`` (how a batch is chosen);
    ``needs_eval`` (needs ``eval=``); ``options`` (method-specific keyword arguments of :meth:`compile` with
    their defaults); ``ensembles`` (accepts a list of networks); ``likelihoods`` (the likelihoods it is defined for).
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
    likelihoods: tuple[str, ...] = LIKELIHOODS

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
        likelihood: str = "categorical",
        sigma: float | None = None,
        **options: Any,
    ) -> Acquirer:
        """Bind the method to ``network`` (a list of networks is an ensemble) and return an :class:`Acquirer`.

        ``likelihood``: ``"categorical"`` (logits ``[N, C]``), ``"bernoulli"`` (one logit per point) or
        ``"gaussian"`` (regression means, noise scale ``sigma``); ``method.likelihoods`` lists those the method is
        defined for. ``train=(X, y)``: the labelled data behind ``H''[w*|D]`` (weight space, the Laplace posterior
        and the Gaussian closed forms); ``eval``: evaluation inputs (EPIG, JEPIG, BAIT, LogDetMI, PIG; BAIT also
        takes ``"pool"``); ``prior_precision``: ``lambda`` in ``H''[w*] = lambda Id``; ``num_samples``/``seed``:
        posterior samples (and the seed of random choices); ``posterior``: ``"auto"``, ``"dropout"``, ``"laplace"``
        or ``"ensemble"``; ``last_layer``: the parameters of weight-space methods (``True``: the last ``nn.Linear``,
        ``False``: the whole network); ``options``: see ``method.options``. Raises :class:`CompileError` on bad
        input; warns (:class:`~infonotation.errors.CompileWarning`) when the posterior is the prior alone (no
        ``train``) or the network is in training mode with dropout/BatchNorm (the mode used is named).
        """
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            valid = sorted(set(self.options) | set(_COMPILE_KEYWORDS))
            hints = []
            for u in unknown:
                close = difflib.get_close_matches(u, valid, n=1)
                hints.append(f"{u!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            own = ", ".join(sorted(self.options)) or "none"
            raise CompileError(
                f"method {self.name!r} has no option(s) {', '.join(hints)}; its own options: {own}; every method "
                f"takes {', '.join(_COMPILE_KEYWORDS)}"
            )
        opts = {**self.options, **options}
        if not isinstance(likelihood, str) or likelihood not in LIKELIHOODS:
            raise CompileError(f"likelihood must be one of {', '.join(map(repr, LIKELIHOODS))}, got {likelihood!r}")
        if likelihood not in self.likelihoods:
            defined = [m.name for m in methods.values() if likelihood in m.likelihoods]
            raise CompileError(
                f"method {self.name!r} ({self.notation}) is not defined for likelihood={likelihood!r} (it is defined "
                f"for {', '.join(self.likelihoods)}); methods defined for likelihood={likelihood!r}: "
                f"{', '.join(defined)}"
            )
        head = make_likelihood(likelihood, sigma)
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
        first = net[0] if isinstance(net, list) else net
        dtype = next((p.dtype for p in first.parameters()), None)
        if eval is not None and not isinstance(eval, str):
            eval = check_pool(eval, dtype, "eval")
        if isinstance(eval, str) and not (eval == "pool" and self.name == "bait"):
            raise CompileError(f"eval must be a tensor of evaluation inputs, got the string {eval!r} (only bait "
                               "takes eval='pool')")
        if train is not None and train[0].is_floating_point() and dtype is not None:
            train = (check_pool(train[0], dtype, "X_train"), train[1])
        ctx = _Context(self, net, train, eval, prior_precision, num_samples, seed, posterior, last_layer, opts, head)
        if self.needs_eval:
            if self.name == "bait" and eval is None:
                raise CompileError(
                    "method 'bait' needs F_eval: pass eval=X_eval, or eval='pool' to use the pool's Fisher "
                    "information as Ash et al. (2021) do"
                )
            if eval is None:
                ctx.eval_set()
        with adaptive_threads():  # the builders' Fisher sums and factorisations: no more threads than idle cores
            acq = BUILDERS[self.name](ctx)
        self._warn(ctx, acq)
        return acq

    def _warn(self, ctx: _Context, acq: Acquirer) -> None:
        """Say what the user may not have meant: the prior alone, or a network left in training mode."""
        sampled = "samples" in acq.detail and "laplace" not in acq.detail
        if ctx.train is None and self.name in _USES_POSTERIOR and not sampled:
            warnings.warn(
                f"no train= given: method {self.name!r} uses the prior alone as the posterior (H''[w*] = "
                "prior_precision Id), as if the network had seen no data; pass train=(X_train, y_train)",
                CompileWarning, stacklevel=3)
        note = training_mode_note(ctx.network)
        if note:
            how = ("dropout layers give the MC-dropout posterior samples (fixed masks), every other layer runs in "
                   "evaluation mode (BatchNorm with its running statistics)" if "dropout samples" in acq.detail else
                   "infonotation evaluates it in evaluation mode (dropout off, BatchNorm with its running statistics)")
            warnings.warn(f"{note}: {how}; call network.eval() to silence this", CompileWarning, stacklevel=3)

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


# the registry

_FLAT_GRAM = ("gaussian", "last_layer", "empirical_fisher", "flat_prior", "determinant_lemma")

_METHODS = (
    Method(
        "random", "0", (), "none", False, "(baseline)",
        "Every pool point is equally informative, so a batch is drawn uniformly at random (seeded).",
        "uniform",
    ),
    Method(
        "bald", "I[W;Y|x]", ("samples",), "prediction", False, "Houlsby et al., 2011",
        "The expected information gain about the weights, estimated from posterior samples; the batch is the "
        "top-k individual scores.",
        "top-k", ensembles=True,
    ),
    Method(
        "batchbald", "I[W;Y_B|x_B]", ("samples",), "prediction", False, "Kirsch et al., 2019",
        "The joint expected information gain of the whole batch from posterior samples, maximised greedily so "
        "redundant points stop adding value.",
        "greedy", options={"configurations": 10_000}, ensembles=True,
    ),
    Method(
        "eig_logdet", "I[W;Y_B|x_B]", ("gaussian", "ggn", "eig_logdet"), "weight", False, "Kirsch & Gal, 2022",
        "The joint expected information gain under a Gaussian posterior, a log-determinant of the batch Fisher "
        "against the posterior precision, maximised greedily.",
        "greedy",
    ),
    Method(
        "eig_trace", "I[W;Y_B|x_B]", ("gaussian", "ggn", "eig_logdet", "trace"), "weight", False,
        "Kirsch & Gal, 2022",
        "The trace upper bound of the weight-space information gain; it is additive over the batch, so greedy "
        "selection is the top-k of the individual scores.",
        "top-k",
    ),
    Method(
        "epig", "I[Y_eval;Y|x,X_eval]", ("samples",), "prediction", False, "Kirsch, Rainforth & Gal, 2021",
        "How much a label would tell about predictions at evaluation inputs, on average over them, from "
        "posterior samples; top-k.",
        "top-k", needs_eval=True, ensembles=True,
    ),
    Method(
        "jepig", "I[Y_eval;Y_B|x_B,x_eval]", ("gaussian", "ggn", "eig_logdet"), "weight", False,
        "Kirsch, Rainforth & Gal, 2021",
        "The information the batch's labels carry about the joint predictions on the evaluation set, in the "
        "weight-space Gaussian approximation, maximised greedily.",
        "greedy", needs_eval=True, options={"space": "weight", "configurations": 10_000}, ensembles=True,
    ),
    Method(
        "badge", "I[W;y_B|x_B]", _FLAT_GRAM, "weight", False, "Ash et al., 2020",
        "Last-layer loss gradients at the predicted labels, spread out by k-means++ seeding as a cheap sampler "
        "for a large log-determinant of their similarity matrix (the per-point score is the embedding norm).",
        "k-means++",
    ),
    Method(
        "badge_logdet", "I[W;y_B|x_B]", _FLAT_GRAM, "weight", False, "Ash et al., 2020",
        "BADGE's objective maximised directly: the greedy log-determinant of the gradient similarity matrix with "
        "a vanishing ridge (the flat-prior limit).",
        "greedy", options={"eps": None},
    ),
    Method(
        "bait", "I[Y_eval;Y_B|x_B,x_eval]", ("gaussian", "last_layer", "trace"), "weight", False,
        "Ash et al., 2021",
        "Choose the batch whose last-layer Fisher most lowers tr((F_train + F_batch + lambda Id)^-1 F_eval), the "
        "trace form of the predictive information gain, by forward then backward greedy steps.",
        "forward-backward", needs_eval=True, options={"oversample": 2},
    ),
    Method(
        "logdet", "I[W;y_B|x_B]", _FLAT_GRAM, "weight", False, "Kothawade et al., 2021 (SIMILAR); 2022 (PRISM)",
        "The submodular LogDet of the gradient similarity matrix with a ridge equal to the prior precision, which "
        "is twice the joint information gain under that isotropic prior, maximised greedily.",
        "greedy", options={"eps": None},
    ),
    Method(
        "logdetmi", "I[Y_eval;Y_B|x_B,x_eval]", ("gaussian", "ggn", "eig_logdet", "last_layer", "flat_prior"),
        "weight", False, "Kothawade et al., 2021 (SIMILAR); 2022 (PRISM)",
        "The submodular LogDetMI between the batch and the evaluation (query) set on gradient similarities, twice "
        "the batch's predictive information about the query labels under an isotropic prior and pseudo-labels.",
        "greedy", needs_eval=True, options={"eps": None, "eta": 1.0},
    ),
    Method(
        "grand", "I[W;y|x]", ("gaussian", "empirical_fisher", "flat_prior", "trace"), "weight", True,
        "Paul et al., 2021",
        "The norm of a labelled point's loss gradient, the square root of the trace bound of its information gain "
        "under an isotropic prior; keep the largest.",
        "top-k", ensembles=True,
    ),
    Method(
        "el2n", "I[W;y|x]", ("gaussian", "last_layer", "empirical_fisher", "flat_prior", "trace"), "weight", True,
        "Paul et al., 2021",
        "The distance between the predicted probabilities and the one-hot label, the last-layer gradient norm "
        "with the feature norm divided out; keep the largest.",
        "top-k", ensembles=True, likelihoods=("categorical", "bernoulli"),
    ),
    Method(
        "ig", "I[W;y|x]", ("gaussian",), "weight", True, "Kirsch & Gal, 2022",
        "The information gain from a known label under a Gaussian posterior, a log-determinant of the observed "
        "information against the posterior precision; top-k.",
        "top-k",
    ),
    Method(
        "pig", "I[Y_eval;y|x,X_eval]", (), "prediction", True, "Kirsch & Gal, 2022",
        "How much a known label changes the predictive entropy at evaluation inputs, from posterior samples; "
        "top-k.",
        "top-k", needs_eval=True, ensembles=True,
    ),
)

#: The registry of named acquisition methods (``inf.methods``).
methods = Methods(_METHODS)
