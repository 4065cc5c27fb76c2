"""A named method bound to a network (:class:`Acquirer`), its compile-time context and its posterior samples.

The :class:`Acquirer` follows the acquisition protocol of :mod:`infonotation.protocol` (``scores``/``select``/
``__call__``); the builders in :mod:`.builders` give it a score function and its batch rules.
Posterior samples for prediction-space methods (:class:`_Posterior`): a list of networks is an ensemble;
otherwise MC dropout when the network has dropout modules, else samples ``w ~ N(w*, H''[w*|D]^-1)`` of the last
layer, ``H''[w*|D] = sum_i H''[Y|x_i,w*] + prior_precision Id`` over ``train`` (R12, R17).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from ..errors import CompileError
from ..numeric.adapter import ModelAdapter
from ..numeric.curvature import posterior_precision, prior_precision_matrix
from ..numeric.likelihood import Likelihood
from ..protocol import Acquisition, Selection
from .samples import _DROPOUT_TYPES, ensemble_log_probs, last_layer_gaussian_log_probs, mc_dropout_log_probs

if TYPE_CHECKING:
    from .methods import Method

__all__ = ["Acquirer", "ScoreFn", "SelectFn", "ChunkFn"]

_CHUNK = 256

#: ``score(X, y, progress) -> Tensor[N]`` on a checked pool
ScoreFn = Callable[[Tensor, "Tensor | None", "bool | None"], Tensor]
#: ``select(X, k, y, progress) -> Selection`` (indices and each chosen point's score or gain)
SelectFn = Callable[[Tensor, int, "Tensor | None", "bool | None"], Selection]
#: ``score(X, y, start) -> Tensor[n]`` on one chunk of a streamed pool whose first point has pool index ``start``
ChunkFn = Callable[[Tensor, "Tensor | None", int], Tensor]


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
    head: Likelihood

    @property
    def single(self) -> nn.Module:
        """The network, for methods that need one network (weight space)."""
        if not isinstance(self.network, nn.Module):
            from .methods import methods

            raise CompileError(
                f"method {self.method.name!r} works on one network's weights; an ensemble (a list of networks) is "
                f"supported by {', '.join(m.name for m in methods.values() if m.ensembles)}"
            )
        return self.network

    @property
    def networks(self) -> list[nn.Module]:
        return list(self.network) if isinstance(self.network, list) else [self.network]

    def adapter(self, last_layer: bool | str | nn.Linear | None = None, network: nn.Module | None = None,
                ) -> ModelAdapter:
        """The numeric layer's view of the network under the method's likelihood (float64)."""
        net = self.single if network is None else network
        return ModelAdapter(net, self.head, self.last_layer if last_layer is None else last_layer, torch.float64)

    def precision(self, adapter: ModelAdapter) -> Tensor:
        """``H''[w*|D]`` (or the prior ``H''[w*]`` without ``train``), in the adapter's internal order."""
        if self.train is None:
            return prior_precision_matrix(self.prior_precision, adapter)
        return posterior_precision(adapter, self.train, self.prior_precision, _CHUNK)

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

    def input_dtype(self) -> torch.dtype | None:
        for p in self.networks[0].parameters():
            return p.dtype
        return None


# ----------------------------------------------------------------------------------------------------
# posterior samples for prediction-space methods


class _Posterior:
    """``log p(y | x, w_k)`` ``[N, K, C]`` (float64) for K posterior samples shared by every call.

    A Bernoulli network (one logit) gives ``C = 2`` (labels 0 and 1). A Gaussian likelihood has no finite label
    set: its prediction-space quantities are the closed forms of :mod:`infonotation.numeric.gaussian` instead.
    """

    def __init__(self, ctx: _Context):
        self.ctx = ctx
        net, kind = ctx.network, ctx.posterior
        if ctx.head.name == "gaussian":  # pragma: no cover - the builders route Gaussian methods elsewhere
            raise CompileError("posterior samples of a Gaussian likelihood are not enumerable; use the closed forms")
        self.output = "binary_logits" if ctx.head.name == "bernoulli" else "logits"
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
            self.adapter = ctx.adapter()
            self.precision = ctx.precision(self.adapter)

    @property
    def uses_train(self) -> bool:
        return self.kind == "laplace"

    def log_probs(self, X: Tensor) -> Tensor:
        ctx = self.ctx
        if self.kind == "ensemble":
            lp = ensemble_log_probs(ctx.network, X, output=self.output)  # type: ignore[arg-type]
        elif self.kind == "dropout":
            lp = mc_dropout_log_probs(ctx.network, X, ctx.num_samples, seed=ctx.seed,  # type: ignore[arg-type]
                                      output=self.output)
        else:
            ad = self.adapter
            _, z = ad.forward(X, "X_pool")
            assert z is not None
            lp = last_layer_gaussian_log_probs(z[:, : ad.d], ad.Wt, precision=self.precision,
                                               num_samples=ctx.num_samples, seed=ctx.seed, bias=ad.has_bias,
                                               binary=self.output == "binary_logits")
        return lp.to(torch.float64)

    def labels(self, y: Tensor) -> Tensor:
        """Labels as class indices of the ``[N, K, C]`` tensor (Bernoulli 0/1 -> classes 0/1)."""
        return y.long()


# ----------------------------------------------------------------------------------------------------
# the acquirer


class Acquirer(Acquisition):
    """A named method bound to a network, following the acquisition protocol (:mod:`infonotation.protocol`).

    ``scores(X_pool, y_pool=None)`` are per-point (higher is better); for batch-only methods they are the method's
    documented per-point proxy. ``select(X_pool, k, strategy=None, y_pool=None)`` returns a
    :class:`~infonotation.protocol.Selection`; ``strategy=None`` is the method's own batch rule
    (``acq.strategies[0]``: ``"topk"``, ``"greedy"``, ``"kmeans++"`` or ``"forward-backward"``). Methods with
    ``method.labels`` need ``y_pool``; other methods check it and ignore it.
    """

    def __init__(self, method: Method, score: ScoreFn, rules: dict[str, SelectFn] | None = None, detail: str = "",
                 *, ctx: _Context | None = None, default: str | None = None, chunk_score: ChunkFn | None = None,
                 positional: bool = False, pool_dependent: str | None = None):
        self.method = method
        self._score_fn = score
        self._chunk_fn = chunk_score
        self.positional = positional
        self.pool_dependent = pool_dependent
        self._rules = dict(rules or {})
        names = list(self._rules) + (["topk"] if "topk" not in self._rules else [])
        if default is not None:
            names.remove(default)
            names.insert(0, default)
        self.strategies = tuple(names)
        self.detail = detail
        self.label_aware = method.labels
        self.label = f"method {method.name!r} ({method.notation})"
        self._ctx = ctx
        self._outputs: int | None = None

    # -- hooks ----------------------------------------------------------------------------------------
    def _input_dtype(self) -> torch.dtype | None:
        return self._ctx.input_dtype() if self._ctx is not None else None

    def _check_labels(self, y: Tensor, X: Tensor) -> Tensor:
        if self._ctx is None:
            return super()._check_labels(y, X)
        head = self._ctx.head
        C = 1 if head.name == "bernoulli" else self._num_outputs(X)
        return head.labels(y, X.shape[0], C, "y_pool")

    def _num_outputs(self, X: Tensor) -> int:
        if self._outputs is None:
            from .samples import _call

            net = self._ctx.networks[0]  # type: ignore[union-attr]
            with torch.no_grad():
                mode = net.training
                net.eval()
                try:
                    out = _call(net, X[:1], "the network")
                finally:
                    net.train(mode)
            if not isinstance(out, Tensor) or out.dim() not in (1, 2):
                raise CompileError(f"the network must return [batch, C] outputs, got "
                                   f"{list(out.shape) if isinstance(out, Tensor) else type(out).__name__}")
            self._outputs = int(out.shape[1]) if out.dim() == 2 else 1
        return self._outputs

    def _score(self, X: Tensor, y: Tensor | None) -> Tensor:  # pragma: no cover - _scores is overridden
        return self._score_fn(X, y, None).to(torch.float64)

    def _scores(self, X: Tensor, y: Tensor | None, engine: str, progress: bool | None) -> Tensor:
        out = self._score_fn(X, y, self._progress(progress))
        return self._finish(out.to(torch.float64).cpu(), X.shape[0])

    def _score_chunk(self, X: Tensor, y: Tensor | None, start: int) -> Tensor:
        out = self._chunk_fn(X, y, start) if self._chunk_fn is not None else self._score_fn(X, y, False)
        return out.to(torch.float64).cpu()

    def _select(self, strategy: str, X: Tensor, k: int, y: Tensor | None, progress: bool | None) -> Selection:
        return self._rules[strategy](X, k, y, progress)

    def __repr__(self) -> str:
        return (f"<Acquirer {self.method.name}: {self.method.notation} (strategies "
                f"{', '.join(self.strategies)}){self.detail}>")
