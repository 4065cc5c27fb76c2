"""Posterior samples in prediction space: log-probabilities ``[N, K, C]`` from K posterior samples.

Every prediction-space estimator in :mod:`infonotation.acquisition.scores` works on a tensor
``log_probs[n, k, c] = log p(y = c | x_n, w_k)`` with ``w_k ~ p(w | D)`` (k = 1..K), i.e. on the
uniform mixture over K posterior samples that approximates ``p(y | x) = E_{p(w|D)} p(y | x, w)``.
This module produces that tensor from

* a deep ensemble (a list of modules): :func:`ensemble_log_probs`,
* MC dropout with the *same* K dropout masks for every pool point: :func:`mc_dropout_log_probs`,
* a Gaussian over the last layer, ``w ~ N(w*, Sigma)``: :func:`last_layer_gaussian_log_probs`,
* any user function: :func:`function_log_probs`,

and checks it (:func:`validate_log_probs`). Bad input raises :class:`~infonotation.errors.CompileError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from ..errors import CompileError

__all__ = [
    "validate_log_probs",
    "checked_probs",
    "to_log_probs",
    "ensemble_log_probs",
    "mc_dropout_log_probs",
    "last_layer_gaussian_log_probs",
    "function_log_probs",
]

OutputKind = Literal["logits", "log_probs", "probs", "binary_logits"]

_DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)


def _normalisation_tolerance(dtype: torch.dtype) -> float:
    # A sanity check, not an exactness test: probabilities normalised in float32 and cast to
    # float64 must pass, a tensor of raw logits must not.
    return {torch.float64: 1e-5, torch.float32: 1e-3}.get(dtype, 2e-2)


def validate_log_probs(log_probs: Tensor, name: str = "log_probs") -> Tensor:
    """Check that ``log_probs[n, k, c] = log p(y=c | x_n, w_k)`` is a valid ``[N, K, C]`` tensor.

    Requirements: a floating-point ``torch.Tensor`` with three dimensions, K >= 1 and C >= 1, no NaN and
    no ``+inf`` (``-inf`` is allowed: probability 0), and ``sum_c exp(log_probs) = 1`` for every (n, k)
    up to a dtype-dependent tolerance. Returns the tensor unchanged; raises :class:`CompileError`.
    """
    if not isinstance(log_probs, Tensor):
        raise CompileError(
            f"{name} must be a torch.Tensor of shape [N, K, C] (pool points, posterior samples, classes), "
            f"got {type(log_probs).__name__}"
        )
    if log_probs.dim() != 3:
        raise CompileError(
            f"{name} must have shape [N, K, C] (pool points, posterior samples, classes), got shape "
            f"{tuple(log_probs.shape)}; for a single posterior sample use log_probs.unsqueeze(1)"
        )
    if not log_probs.is_floating_point():
        raise CompileError(f"{name} must be a floating-point tensor of log-probabilities, got dtype {log_probs.dtype}")
    _, k, c = log_probs.shape
    if k == 0 or c == 0:
        raise CompileError(
            f"{name} needs at least one posterior sample and one class, got shape {tuple(log_probs.shape)}"
        )
    if log_probs.numel() == 0:
        return log_probs
    if torch.isnan(log_probs).any():
        bad = torch.isnan(log_probs).flatten(1).any(1).nonzero().flatten()[:5].tolist()
        raise CompileError(f"{name} contains NaN (pool points {bad} ...); check the model outputs")
    if (log_probs == math.inf).any():
        raise CompileError(f"{name} contains +inf; log-probabilities must be <= 0 (did you pass logits?)")
    total = torch.logsumexp(log_probs, dim=-1)
    err = total.abs()
    err = torch.where(torch.isfinite(err), err, torch.full_like(err, math.inf))
    worst = err.max().item()
    if worst > _normalisation_tolerance(log_probs.dtype):
        n_bad, k_bad = divmod(int(err.argmax().item()), k)
        raise CompileError(
            f"{name} does not hold normalised log-probabilities: at pool point {n_bad}, sample {k_bad}, "
            f"sum_c exp(log_probs) = {math.exp(min(total.flatten()[n_bad * k + k_bad].item(), 700.0)):.6g} "
            f"(should be 1). Pass log_softmax(logits), or use to_log_probs(x, kind='logits'|'probs')"
        )
    return log_probs


def checked_probs(log_probs: Tensor, name: str = "log_probs") -> Tensor:
    """``exp(log_probs)``, checked as :func:`validate_log_probs` does, at the cost of one reduction.

    The probabilities are needed by every estimator anyway; their row sums catch NaN, ``+inf`` and unnormalised
    rows at once. Only when a check fails does :func:`validate_log_probs` run, to say precisely what is wrong.
    """
    if not isinstance(log_probs, Tensor) or log_probs.dim() != 3 or not log_probs.is_floating_point() or (
            0 in log_probs.shape[1:]):
        validate_log_probs(log_probs, name)
    p = log_probs.exp()
    if p.numel():
        err = (p.sum(-1) - 1.0).abs().max()
        if not bool(err <= _normalisation_tolerance(log_probs.dtype)):  # NaN compares False
            validate_log_probs(log_probs, name)
    return p


def to_log_probs(values: Tensor, kind: OutputKind = "log_probs", name: str = "values") -> Tensor:
    """Turn logits, probabilities or log-probabilities ``[..., C]`` into log-probabilities ``[..., C]``.

    ``kind="logits"``: ``log_softmax(values)``; ``"probs"``: ``log(values)`` (entries must lie in [0, 1]);
    ``"log_probs"``: unchanged; ``"binary_logits"``: one logit ``l`` per point (``[..., 1]``) of a Bernoulli
    likelihood, as the two classes ``[log sigmoid(-l), log sigmoid(l)]`` (label 0, label 1). Non-finite logits and
    negative probabilities raise :class:`CompileError`.
    """
    if not isinstance(values, Tensor) or not values.is_floating_point():
        raise CompileError(f"{name} must be a floating-point torch.Tensor, got {type(values).__name__}")
    if kind == "binary_logits":
        if values.shape[-1] != 1:
            raise CompileError(f"{name}: a Bernoulli likelihood needs one logit per point, got {values.shape[-1]}")
        if not torch.isfinite(values).all():
            raise CompileError(f"{name}: logits contain NaN or inf")
        return torch.cat([nn.functional.logsigmoid(-values), nn.functional.logsigmoid(values)], dim=-1)
    if kind == "logits":
        if not torch.isfinite(values).all():
            raise CompileError(f"{name}: logits contain NaN or inf")
        return torch.log_softmax(values, dim=-1)
    if kind == "probs":
        if torch.isnan(values).any() or (values < 0).any() or (values > 1 + 1e-6).any():
            raise CompileError(f"{name}: probabilities must lie in [0, 1] (no NaN)")
        return torch.log(values)
    if kind == "log_probs":
        return values
    raise CompileError(f"unknown output kind {kind!r}; use 'logits', 'log_probs', 'probs' or 'binary_logits'")


def _call(model: nn.Module, x: Tensor, what: str) -> object:
    """``model(x)``, with a failure of the network (wrong shape or dtype of the inputs) as a :class:`CompileError`."""
    try:
        return model(x)
    except CompileError:
        raise
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise CompileError(
            f"running {what} ({type(model).__name__}) on pool points of shape {list(x.shape[1:])} and dtype "
            f"{str(x.dtype).replace('torch.', '')} failed: {str(exc).splitlines()[0]}; check that the pool has the "
            "shape and dtype the network expects"
        ) from None


def _as_2d(out: object, rows: int, output: OutputKind) -> object:
    """A Bernoulli network may return one logit per point as ``[n]``: make it ``[n, 1]``."""
    if output == "binary_logits" and isinstance(out, Tensor) and out.dim() == 1 and out.shape[0] == rows:
        return out.unsqueeze(-1)
    return out


def _check_pool(x: Tensor, name: str = "x") -> None:
    if not isinstance(x, Tensor):
        raise CompileError(f"{name} must be a torch.Tensor whose first dimension indexes the pool points")
    if x.dim() == 0:
        raise CompileError(f"{name} must have a pool dimension first (shape [N, ...]), got a scalar")


def _chunks(n: int, chunk_size: int | None) -> list[tuple[int, int]]:
    if chunk_size is None:
        return [(0, n)] if n else []
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise CompileError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    return [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]


def _finish(parts: list[Tensor], n: int, name: str) -> Tensor:
    if not parts:
        raise CompileError(f"{name}: the pool is empty (N = 0)")
    out = torch.cat(parts, dim=0)
    if out.shape[0] != n:
        raise CompileError(f"{name}: the model returned {out.shape[0]} rows for {n} pool points")
    return validate_log_probs(out, name)


def _eval_mode(modules: Sequence[nn.Module]) -> list[bool]:
    states = [m.training for m in modules]
    for m in modules:
        m.eval()
    return states


def ensemble_log_probs(
    models: Sequence[nn.Module],
    x: Tensor,
    *,
    output: OutputKind = "logits",
    chunk_size: int | None = None,
) -> Tensor:
    """Deep ensemble: ``log_probs[n, k, c] = log p(y=c | x_n, w_k)`` with ``w_k`` the k-th member.

    Each member maps ``x[a:b]`` to ``[b - a, C]`` (``output`` says whether logits, log-probabilities or
    probabilities). Members run in eval mode under ``torch.no_grad()`` (modes are restored afterwards);
    ``chunk_size`` bounds the pool points per forward pass. Returns ``[N, K, C]``.
    """
    if isinstance(models, nn.Module) or not isinstance(models, Sequence) or len(models) == 0:
        raise CompileError("models must be a non-empty list of torch.nn.Module (the ensemble members)")
    if not all(isinstance(m, nn.Module) for m in models):
        raise CompileError("every ensemble member must be a torch.nn.Module")
    _check_pool(x)
    states = _eval_mode(models)
    try:
        parts = []
        with torch.no_grad():
            for a, b in _chunks(x.shape[0], chunk_size):
                outs = []
                for j, m in enumerate(models):
                    out = _as_2d(_call(m, x[a:b], f"ensemble member {j}"), b - a, output)
                    if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[0] != b - a:
                        raise CompileError(
                            f"ensemble member {j} must return a [batch, C] tensor, got "
                            f"{tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__}"
                        )
                    outs.append(to_log_probs(out, output, name=f"ensemble member {j} output"))
                if len({o.shape[1] for o in outs}) != 1:
                    raise CompileError("ensemble members disagree on the number of classes C")
                parts.append(torch.stack(outs, dim=1))
    finally:
        for m, s in zip(models, states):
            m.train(s)
    return _finish(parts, x.shape[0], "ensemble log_probs")


class _ConsistentDropout:
    """Forward hooks that replace every dropout layer by K fixed masks (one per posterior sample).

    The pool chunk is repeated K times along the batch dimension (sample-major); the mask of sample k
    has the layer's feature shape without the batch dimension and is drawn from a generator seeded by
    ``(seed, layer index)``, so it does not depend on which pool points are in the chunk.
    """

    def __init__(self, model: nn.Module, num_samples: int, seed: int):
        self.k = num_samples
        self.seed = seed
        self.masks: dict[int, Tensor] = {}
        self.layers = [(i, m) for i, m in enumerate(model.modules()) if isinstance(m, _DROPOUT_TYPES)]
        self.handles: list = []

    def _mask(self, idx: int, layer: nn.Module, inp: Tensor) -> Tensor:
        feat = inp.shape[1:]
        if isinstance(layer, nn.Dropout):
            shape = tuple(feat)
        else:  # channel dropout: one Bernoulli per channel
            shape = (feat[0],) + (1,) * (len(feat) - 1)
        mask = self.masks.get(idx)
        if mask is None or mask.shape[1:] != shape:
            gen = torch.Generator().manual_seed(int(self.seed) * 1_000_003 + idx)
            keep = 1.0 - layer.p
            bern = torch.rand((self.k,) + shape, generator=gen) < keep
            mask = bern.to(inp.dtype) / keep if keep > 0 else torch.zeros((self.k,) + shape, dtype=inp.dtype)
            self.masks[idx] = mask
        return mask.to(device=inp.device, dtype=inp.dtype)

    def __enter__(self) -> _ConsistentDropout:
        for idx, layer in self.layers:

            def hook(mod: nn.Module, args: tuple, out: Tensor, idx: int = idx) -> Tensor:
                inp = args[0]
                if inp.shape[0] % self.k:
                    raise CompileError("MC dropout: a layer changed the batch dimension; cannot keep masks consistent")
                mask = self._mask(idx, mod, inp)
                view = inp.reshape((self.k, inp.shape[0] // self.k) + tuple(inp.shape[1:]))
                return (view * mask.unsqueeze(1)).reshape(inp.shape)

            self.handles.append(layer.register_forward_hook(hook))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self.handles:
            h.remove()


def mc_dropout_log_probs(
    model: nn.Module,
    x: Tensor,
    num_samples: int,
    *,
    seed: int = 0,
    output: OutputKind = "logits",
    chunk_size: int | None = None,
) -> Tensor:
    """MC dropout: ``log_probs[n, k, c] = log p(y=c | x_n, w_k)``, ``w_k`` = the weights under dropout mask k.

    The K masks are drawn once (from ``seed``) and shared by every pool point, so the K columns are K
    genuine posterior samples (consistent MC dropout) and the result does not depend on ``chunk_size``.
    Every ``nn.Dropout``/``Dropout1d/2d/3d`` module is replaced by its masks; other layers run in eval
    mode (batch norm uses its running statistics). Dropout called functionally inside ``forward`` is
    not seen: use the module form. The K samples run as one forward pass on a ``[K * chunk, ...]``
    batch. Returns ``[N, K, C]``.
    """
    if not isinstance(model, nn.Module):
        raise CompileError("model must be a torch.nn.Module")
    if not isinstance(num_samples, int) or num_samples < 1:
        raise CompileError(f"num_samples must be a positive integer, got {num_samples!r}")
    _check_pool(x)
    dropout = _ConsistentDropout(model, num_samples, seed)
    if not dropout.layers:
        raise CompileError(
            "MC dropout: the model has no nn.Dropout modules, so all samples would be identical; "
            "add dropout layers or use ensemble_log_probs / function_log_probs"
        )
    state = model.training
    model.eval()
    parts = []
    try:
        with torch.no_grad(), dropout:
            for a, b in _chunks(x.shape[0], chunk_size):
                xb = x[a:b]
                rep = xb.unsqueeze(0).expand((num_samples,) + tuple(xb.shape)).reshape((-1,) + tuple(xb.shape[1:]))
                out = _as_2d(_call(model, rep, "the network"), rep.shape[0], output)
                if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[0] != rep.shape[0]:
                    raise CompileError(
                        f"the model must return a [batch, C] tensor, got "
                        f"{tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__}"
                    )
                lp = to_log_probs(out, output, name="model output")
                parts.append(lp.reshape(num_samples, b - a, -1).transpose(0, 1))
    finally:
        model.train(state)
    return _finish(parts, x.shape[0], "MC dropout log_probs")


def last_layer_gaussian_log_probs(
    features: Tensor,
    mean: Tensor,
    *,
    covariance: Tensor | None = None,
    precision: Tensor | None = None,
    num_samples: int,
    seed: int = 0,
    bias: bool = True,
    binary: bool = False,
) -> Tensor:
    """Last-layer Gaussian posterior samples: ``w_k ~ N(w*, Sigma)``, ``log p(y | x_n, w_k) = log_softmax(W_k z_n)``.

    ``features`` ``z`` is ``[N, D]`` (penultimate activations, computed once and reused for every sample).
    The last layer is ``W = [weight | bias]`` of shape ``[C, D + 1]`` (``[C, D]`` with ``bias=False``);
    the parameter vector is its row-major flattening ``theta[c * (D + 1) + d] = W[c, d]`` (so the bias of
    class c is the last entry of row c), matching the Kronecker order of the last-layer Fisher
    ``(diag(pi) - pi pi^T) kron [z; 1][z; 1]^T``. ``mean`` is ``W*`` as ``[C, D(+1)]`` or flattened.
    Give exactly one of ``covariance`` ``Sigma`` or ``precision`` ``Sigma^-1`` (``[P, P]``, P = C (D+1)),
    symmetric positive definite. Samples: ``theta_k = theta* + L eps`` with ``Sigma = L L^T`` (or
    ``theta* + L^-T eps`` with ``Sigma^-1 = L L^T``), ``eps ~ N(0, Id)`` from ``seed``. Returns ``[N, K, C]``;
    with ``binary=True`` the layer has one output, a Bernoulli logit ``l``, and the result is ``[N, K, 2]``
    (``[log sigmoid(-l), log sigmoid(l)]``, labels 0 and 1).
    """
    for nm, t in (("features", features), ("mean", mean)):
        if not isinstance(t, Tensor) or not t.is_floating_point():
            raise CompileError(f"{nm} must be a floating-point torch.Tensor")
    if features.dim() != 2:
        raise CompileError(f"features must have shape [N, D], got {tuple(features.shape)}")
    if not isinstance(num_samples, int) or num_samples < 1:
        raise CompileError(f"num_samples must be a positive integer, got {num_samples!r}")
    n, d = features.shape
    da = d + 1 if bias else d
    if mean.dim() == 1:
        if mean.numel() % da:
            raise CompileError(
                f"mean has {mean.numel()} entries, not a multiple of {da} (= D{' + 1 for the bias' if bias else ''})"
            )
        mean = mean.reshape(-1, da)
    if mean.dim() != 2 or mean.shape[1] != da:
        raise CompileError(
            f"mean must be [C, {da}] (weight{' and bias' if bias else ''} of the last layer) for features of "
            f"dimension D = {d}, got {tuple(mean.shape)}"
        )
    c = mean.shape[0]
    p = c * da
    if (covariance is None) == (precision is None):
        raise CompileError("give exactly one of covariance= or precision= for the last-layer Gaussian")
    mat = covariance if covariance is not None else precision
    which = "covariance" if covariance is not None else "precision"
    if not isinstance(mat, Tensor) or mat.shape != (p, p):
        raise CompileError(
            f"{which} must be a [{p}, {p}] tensor (P = C * {da} = {p} last-layer parameters), got "
            f"{tuple(mat.shape) if isinstance(mat, Tensor) else type(mat).__name__}"
        )
    for nm, t in (("features", features), ("mean", mean), (which, mat)):
        if not torch.isfinite(t).all():
            raise CompileError(f"{nm} contains NaN or inf")
    dtype = torch.promote_types(features.dtype, mean.dtype)
    mat = mat.to(dtype)
    if not torch.allclose(mat, mat.T, rtol=1e-5, atol=1e-8 * float(mat.abs().max().clamp_min(1.0))):
        raise CompileError(f"{which} must be symmetric")
    chol, info = torch.linalg.cholesky_ex(0.5 * (mat + mat.T))
    if int(info) != 0:
        raise CompileError(f"{which} is not positive definite (Cholesky failed at column {int(info)})")
    gen = torch.Generator(device=features.device).manual_seed(int(seed))
    eps = torch.randn((p, num_samples), generator=gen, dtype=dtype, device=features.device)
    if covariance is not None:
        delta = chol @ eps
    else:  # Sigma = (L L^T)^-1  ->  L^-T eps has covariance Sigma
        delta = torch.linalg.solve_triangular(chol.T, eps, upper=True)
    thetas = mean.to(dtype).reshape(1, c, da) + delta.T.reshape(num_samples, c, da)  # [K, C, D(+1)]
    z = features.to(dtype)
    logits = torch.einsum("nd,kcd->nkc", z, thetas[..., :d])
    if bias:
        logits = logits + thetas[..., d].unsqueeze(0)
    lp = to_log_probs(logits, "binary_logits") if binary else torch.log_softmax(logits, dim=-1)
    return validate_log_probs(lp, "last-layer Gaussian log_probs")


def function_log_probs(
    fn: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    output: OutputKind = "log_probs",
    chunk_size: int | None = None,
) -> Tensor:
    """A user function ``fn(x[a:b]) -> [b - a, K, C]`` (logits, log-probabilities or probabilities).

    Evaluated chunk by chunk (``chunk_size`` pool points at a time) under ``torch.no_grad()``; the result
    is checked like any other ``[N, K, C]`` log-probability tensor.
    """
    if not callable(fn):
        raise CompileError("fn must be callable: fn(x_chunk) -> [chunk, K, C]")
    _check_pool(x)
    parts = []
    with torch.no_grad():
        for a, b in _chunks(x.shape[0], chunk_size):
            out = fn(x[a:b])
            if not isinstance(out, Tensor) or out.dim() != 3 or out.shape[0] != b - a:
                raise CompileError(
                    f"fn must return a [chunk, K, C] tensor for a chunk of {b - a} points, got "
                    f"{tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__}"
                )
            if parts and out.shape[1:] != parts[0].shape[1:]:
                raise CompileError("fn returned different K or C for different chunks")
            parts.append(to_log_probs(out, output, name="fn output"))
    return _finish(parts, x.shape[0], "function log_probs")
