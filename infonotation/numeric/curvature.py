"""Curvature of a network's negative log-likelihood: Fisher, observed information, gradients, priors, posteriors.

* ``H''[Y|x,w*] = J^T Λ J`` (Fisher = GGN, exact for exponential-family heads, R14).
* ``H''[y|x,w*]`` the observed information (exact Hessian via ``torch.func``; equal to the Fisher for the last layer).
* ``H'[y|x,w*]`` per-sample gradients; the empirical Fisher is ``sum_i H'_i^T H'_i``.
* ``H''[w*]`` the prior precision (scalar ``λ``: ``λ Id``; a vector: its diagonal; a matrix: itself).
* ``H''[w*|D] = sum_i H''[y_i|x_i,w*] + H''[w*]`` (R12) with the GGN/Fisher for each training point, summed in chunks.

Functions taking ``network`` return matrices in the public parameter order (``[weight.flatten(), bias]`` for the
last layer, ``named_parameters`` order for the whole network); those taking an adapter use its internal order.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import CompileError
from .adapter import ModelAdapter
from .factors import Factors, KronFactors
from .likelihood import make_likelihood

__all__ = [
    "adapter_for",
    "fisher_information",
    "observed_information",
    "gradients",
    "empirical_fisher",
    "prior_precision_matrix",
    "add_prior_",
    "summed_fisher",
    "posterior_precision",
    "iter_chunks",
]


def adapter_for(
    network: nn.Module,
    likelihood: str = "categorical",
    *,
    last_layer: bool | str | nn.Linear = True,
    sigma: float | None = None,
    dtype: torch.dtype = torch.float64,
) -> ModelAdapter:
    """A :class:`ModelAdapter` for ``network`` under ``likelihood``."""
    return ModelAdapter(network, make_likelihood(likelihood, sigma), last_layer, dtype)


def fisher_information(
    network: nn.Module, X: torch.Tensor, likelihood: str = "categorical", **kw: object
) -> torch.Tensor:
    """``H''[Y|x_i,w*] = J_i^T Λ_i J_i`` for every row of ``X``: ``[n, P, P]`` (public order; for small ``P``)."""
    ad = adapter_for(network, likelihood, **kw)  # type: ignore[arg-type]
    U = ad.factors(X).dense()
    return ad.to_public(U @ U.mT, dims=(-1, -2))


def observed_information(
    network: nn.Module, X: torch.Tensor, y: torch.Tensor, likelihood: str = "categorical", **kw: object
) -> torch.Tensor:
    """``H''[y_i|x_i,w*]``, the Hessian of ``-log p(y_i|x_i,w)`` at ``w*``: ``[n, P, P]`` (public order)."""
    ad = adapter_for(network, likelihood, **kw)  # type: ignore[arg-type]
    return ad.to_public(ad.observed_information(X, y), dims=(-1, -2))


def gradients(
    network: nn.Module, X: torch.Tensor, y: torch.Tensor, likelihood: str = "categorical", **kw: object
) -> torch.Tensor:
    """``H'[y_i|x_i,w*]``, per-sample gradients of the negative log-likelihood: ``[n, P]`` (public order)."""
    ad = adapter_for(network, likelihood, **kw)  # type: ignore[arg-type]
    return ad.to_public(ad.gradients(X, y))


def empirical_fisher(
    network: nn.Module, X: torch.Tensor, y: torch.Tensor, likelihood: str = "categorical", **kw: object
) -> torch.Tensor:
    """``sum_i H'[y_i|x_i,w*]^T H'[y_i|x_i,w*]`` (R13 with the true labels): ``[P, P]`` (public order)."""
    G = gradients(network, X, y, likelihood, **kw)
    return G.mT @ G


def _prior_spec(prior: object, adapter: ModelAdapter) -> tuple[str, float | torch.Tensor]:
    """The checked prior: ``("scalar", λ)``, ``("diag", d)`` or ``("full", M)`` (internal order)."""
    P, dtype, device = adapter.P, adapter.dtype, adapter.device
    if isinstance(prior, torch.Tensor) and prior.dim() == 0:
        prior = float(prior)
    if isinstance(prior, (int, float)) and not isinstance(prior, bool):
        if not (math.isfinite(prior) and prior > 0):
            raise CompileError(
                f"prior_precision must be positive (H''[w*] = λ Id must be positive definite), got {prior!r}"
            )
        return "scalar", float(prior)
    if not isinstance(prior, torch.Tensor):
        raise CompileError(f"prior_precision must be a number or a tensor, got {type(prior).__name__}")
    prior = prior.to(device=device, dtype=dtype)
    if not bool(torch.isfinite(prior).all()):
        raise CompileError("prior_precision holds NaN or infinite values")
    if prior.shape == (P,):
        if not bool((prior > 0).all()):
            raise CompileError("a diagonal prior_precision must be positive in every entry")
        return "diag", adapter.from_public(prior)
    if prior.shape == (P, P):
        if not torch.allclose(prior, prior.mT, rtol=1e-8, atol=1e-10 * float(prior.abs().max())):
            raise CompileError("a full prior_precision must be symmetric")
        if int(torch.linalg.cholesky_ex(prior).info) != 0:
            raise CompileError("prior_precision is not positive definite (its Cholesky factorisation fails)")
        return "full", adapter.from_public(prior, dims=(0, 1))
    raise CompileError(
        f"prior_precision must be a number, a vector [{P}] or a matrix [{P}, {P}] for {adapter.describe()}, "
        f"got shape {list(prior.shape)}"
    )


def prior_precision_matrix(prior: object, adapter: ModelAdapter) -> torch.Tensor:
    """``H''[w*]`` as a ``P x P`` matrix in the adapter's internal order.

    ``prior`` is a positive number (``λ Id``), a positive vector ``[P]`` (diagonal) or a symmetric positive
    definite ``[P, P]`` matrix, the last two in the public parameter order.
    """
    return add_prior_(torch.zeros(adapter.P, adapter.P, dtype=adapter.dtype, device=adapter.device), prior, adapter)


def add_prior_(S: torch.Tensor, prior: object, adapter: ModelAdapter) -> torch.Tensor:
    """``S += H''[w*]`` in place (a scalar or diagonal prior touches only the diagonal); returns ``S``."""
    kind, value = _prior_spec(prior, adapter)
    if kind == "full":
        return S.add_(value)  # type: ignore[arg-type]
    S.diagonal().add_(value)  # type: ignore[arg-type]
    return S


def iter_chunks(n: int, chunk: int) -> list[slice]:
    return [slice(s, min(s + chunk, n)) for s in range(0, n, chunk)]


def summed_fisher(adapter: ModelAdapter, X: torch.Tensor, chunk_size: int, where: str = "X") -> torch.Tensor:
    """``sum_i H''[Y|x_i,w*]`` over the rows of ``X``, in chunks: ``[P, P]`` (internal order)."""
    if not isinstance(X, torch.Tensor):
        raise CompileError(f"{where} must be a torch.Tensor, got {type(X).__name__}")
    S: torch.Tensor | None = None
    last: Factors | None = None
    for sl in iter_chunks(X.shape[0], chunk_size):
        f: Factors = adapter.factors(X[sl], where)
        part = f.outer_blocks() if isinstance(f, KronFactors) else f.outer_sum()
        S = part if S is None else S + part
        last = f
    if S is None:
        return torch.zeros(adapter.P, adapter.P, dtype=adapter.dtype, device=adapter.device)
    return last.assemble(S) if isinstance(last, KronFactors) else S


def posterior_precision(
    adapter: ModelAdapter, train: object, prior: object, chunk_size: int
) -> torch.Tensor:
    """``H''[w*|D] = sum_i H''[Y|x_i,w*] + H''[w*]`` (GGN/Fisher per training point; R12), internal order."""
    if not (isinstance(train, (tuple, list)) and len(train) == 2):
        raise CompileError("train must be a pair (X_train, y_train) of tensors")
    X, y = train
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise CompileError("train must be a pair (X_train, y_train) of tensors")
    if y.shape[0] != X.shape[0]:
        raise CompileError(f"train: X_train has {X.shape[0]} rows but y_train has {y.shape[0]}")
    eta, _ = adapter.forward(X[:1], "X_train") if X.shape[0] else (None, None)
    if eta is not None:
        adapter.likelihood.labels(y, y.shape[0], eta.shape[1], "y_train")
    return add_prior_(summed_fisher(adapter, X, chunk_size, "X_train"), prior, adapter)
