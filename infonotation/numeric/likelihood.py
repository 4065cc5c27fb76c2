"""Likelihood heads: the natural parameters a network outputs and the curvature ``Λ`` of the negative log-likelihood.

For an exponential-family head with natural parameter ``η = f(x; w)`` the Fisher information is
``H''[Y|x,w*] = J^T Λ J`` with ``Λ = Hess_η A(η)`` (R14). Each head gives a factor ``L`` with ``L L^T = Λ``:

* ``categorical`` (logits ``η ∈ R^C``): ``Λ = diag(π) - π π^T``, ``L = diag(√π) - π √π^T``.
* ``bernoulli`` (one logit): ``Λ = p (1 - p)``, ``L = √(p (1 - p))``.
* ``gaussian`` (mean ``μ ∈ R^D``, known noise scale ``σ``): ``Λ = σ^-2 Id``, ``L = σ^-1 Id``.
"""

from __future__ import annotations

import math

import torch

from ..errors import CompileError

__all__ = ["Likelihood", "make_likelihood", "LIKELIHOODS"]

LIKELIHOODS = ("categorical", "bernoulli", "gaussian")


class Likelihood:
    """A likelihood head: shapes, ``Λ`` factors, negative log-likelihood and its gradient in ``η``."""

    name: str = ""

    def natural(self, out: torch.Tensor, where: str) -> torch.Tensor:
        """The network output as natural parameters ``[n, C]`` (raises if the shape does not fit the head)."""
        raise NotImplementedError

    def factor(self, eta: torch.Tensor) -> torch.Tensor:
        """``L`` of shape ``[n, C, C]`` with ``L L^T = Λ``."""
        raise NotImplementedError

    def nll(self, eta: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``H[y|x,w] = -log p(y|x,w)`` per point, ``[n]`` (differentiable in ``eta``)."""
        raise NotImplementedError

    def nll_grad(self, eta: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``d H[y|x,w] / d η``, ``[n, C]``."""
        raise NotImplementedError

    def labels(self, y: object, n: int, C: int, where: str) -> torch.Tensor:
        """Validate labels for ``n`` points and return them as a tensor."""
        raise NotImplementedError

    def pseudo_label(self, eta: torch.Tensor) -> torch.Tensor:
        """A label standing in for an unknown one in a one-sample gradient (BADGE's hard pseudo-label)."""
        raise NotImplementedError

    def row_basis(self, C: int, dtype: torch.dtype) -> torch.Tensor | None:
        """An orthonormal basis ``E`` (``[C, K]``) of the output directions the curvature can see (``E E^T L = L``
        for the factor ``L`` and ``E E^T g = g`` for the gradient), or None for all ``C``."""
        return None


def _as_tensor(y: object, where: str) -> torch.Tensor:
    if not isinstance(y, torch.Tensor):
        raise CompileError(f"{where}: labels must be a torch.Tensor, got {type(y).__name__}")
    return y


class Categorical(Likelihood):
    name = "categorical"

    def natural(self, out: torch.Tensor, where: str) -> torch.Tensor:
        if out.dim() != 2 or out.shape[1] < 2:
            raise CompileError(
                f"likelihood 'categorical' needs logits of shape [N, C] with C >= 2, but {where} returned shape "
                f"{list(out.shape)}; use likelihood='bernoulli' for one logit or 'gaussian' for regression"
            )
        if out.shape[0] > 0 and bool((out >= 0).all()) and bool(((out.sum(1) - 1).abs() < 1e-6).all()):
            raise CompileError(
                f"{where} seems to return probabilities (non-negative rows summing to 1), but likelihood "
                "'categorical' needs logits (or log-probabilities); remove the final softmax or take its log"
            )
        return out

    def factor(self, eta: torch.Tensor) -> torch.Tensor:
        pi = torch.softmax(eta, dim=-1)
        s = pi.sqrt()
        return torch.diag_embed(s) - pi.unsqueeze(-1) * s.unsqueeze(-2)

    def nll(self, eta: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -torch.log_softmax(eta, dim=-1).gather(-1, y.long().unsqueeze(-1)).squeeze(-1)

    def nll_grad(self, eta: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        g = torch.softmax(eta, dim=-1)
        return g - torch.nn.functional.one_hot(y.long(), eta.shape[-1]).to(g.dtype)

    def labels(self, y: object, n: int, C: int, where: str) -> torch.Tensor:
        y = _as_tensor(y, where)
        if y.shape != (n,):
            raise CompileError(f"{where}: categorical labels must have shape [{n}], got {list(y.shape)}")
        if y.is_floating_point():
            if not bool(torch.isfinite(y).all()) or not bool((y == y.round()).all()):
                raise CompileError(f"{where}: categorical labels must be whole class indices")
        if n and (int(y.min()) < 0 or int(y.max()) >= C):
            raise CompileError(f"{where}: class labels must lie in [0, {C - 1}], got [{int(y.min())}, {int(y.max())}]")
        return y.long()

    def pseudo_label(self, eta: torch.Tensor) -> torch.Tensor:
        """The most probable class ``argmax_c η_c`` (Ash et al., 2020)."""
        return eta.argmax(-1)

    def row_basis(self, C: int, dtype: torch.dtype) -> torch.Tensor | None:
        """The Helmert basis of ``1^⊥`` (``[C, C - 1]``): softmax ignores a shift of all logits, so ``Λ 1 = 0`` and
        the columns of ``L`` (and ``π - e_y``) sum to zero; ``C - 1`` rows of ``J`` carry all the curvature."""
        E = torch.zeros(C, C - 1, dtype=dtype)
        for k in range(1, C):
            E[:k, k - 1] = 1.0
            E[k, k - 1] = -float(k)
            E[:, k - 1] /= math.sqrt(k * (k + 1))
        return E


class Bernoulli(Likelihood):
    name = "bernoulli"

    def natural(self, out: torch.Tensor, where: str) -> torch.Tensor:
        if out.dim() == 1:
            out = out.unsqueeze(-1)
        if out.dim() != 2 or out.shape[1] != 1:
            raise CompileError(
                f"likelihood 'bernoulli' needs one logit per point (shape [N] or [N, 1]), but {where} returned "
                f"shape {list(out.shape)}; use likelihood='categorical' for several classes"
            )
        return out

    def factor(self, eta: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(eta)
        return (p * (1 - p)).sqrt().unsqueeze(-1)

    def nll(self, eta: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.binary_cross_entropy_with_logits(
            eta.squeeze(-1), y.to(eta.dtype), reduction="none"
        )

    def nll_grad(self, eta: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(eta) - y.to(eta.dtype).reshape(-1, 1)

    def labels(self, y: object, n: int, C: int, where: str) -> torch.Tensor:
        y = _as_tensor(y, where)
        if y.dim() == 2 and y.shape[1] == 1:
            y = y.squeeze(1)
        if y.shape != (n,):
            raise CompileError(f"{where}: bernoulli labels must have shape [{n}], got {list(y.shape)}")
        if n and not bool(((y == 0) | (y == 1)).all()):
            raise CompileError(f"{where}: bernoulli labels must be 0 or 1")
        return y

    def pseudo_label(self, eta: torch.Tensor) -> torch.Tensor:
        """The more probable label, ``1[η > 0]``."""
        return (eta.squeeze(-1) > 0).to(eta.dtype)


class Gaussian(Likelihood):
    name = "gaussian"

    def __init__(self, sigma: float):
        self.sigma = sigma

    def natural(self, out: torch.Tensor, where: str) -> torch.Tensor:
        if out.dim() == 1:
            out = out.unsqueeze(-1)
        if out.dim() != 2:
            raise CompileError(
                f"likelihood 'gaussian' needs means of shape [N] or [N, D], but {where} returned shape "
                f"{list(out.shape)}"
            )
        return out

    def factor(self, eta: torch.Tensor) -> torch.Tensor:
        n, D = eta.shape
        eye = torch.eye(D, dtype=eta.dtype, device=eta.device) / self.sigma
        return eye.expand(n, D, D)

    def nll(self, eta: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r = (y.reshape(eta.shape).to(eta.dtype) - eta) / self.sigma
        D = eta.shape[-1]
        return 0.5 * r.square().sum(-1) + D * math.log(self.sigma) + 0.5 * D * math.log(2 * math.pi)

    def nll_grad(self, eta: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (eta - y.reshape(eta.shape).to(eta.dtype)) / self.sigma**2

    def labels(self, y: object, n: int, C: int, where: str) -> torch.Tensor:
        y = _as_tensor(y, where)
        if y.numel() != n * C or y.shape[0] != n:
            raise CompileError(f"{where}: gaussian targets must have shape [{n}] or [{n}, {C}], got {list(y.shape)}")
        if not y.is_floating_point():
            y = y.to(torch.float64)
        if not bool(torch.isfinite(y).all()):
            raise CompileError(f"{where}: targets hold NaN or infinite values")
        return y.reshape(n, C)

    def pseudo_label(self, eta: torch.Tensor) -> torch.Tensor:
        """``μ - σ``: a target one noise scale from the mean, so that ``d H[y|x,w] / d η = 1/σ`` per output and the
        one-sample gradient ``J^T (μ - y) / σ^2 = J^T / σ`` is the Fisher factor (``F = J^T J / σ^2``)."""
        return eta - self.sigma


def make_likelihood(name: str, sigma: float | None) -> Likelihood:
    """The head called ``name``; ``sigma`` is the Gaussian noise scale (required for ``gaussian`` only)."""
    if name == "categorical":
        head: Likelihood = Categorical()
    elif name == "bernoulli":
        head = Bernoulli()
    elif name == "gaussian":
        if sigma is None:
            raise CompileError("likelihood 'gaussian' needs the noise scale: pass sigma=... (a positive number)")
        try:
            s = float(sigma)
        except (TypeError, ValueError):
            raise CompileError(f"sigma must be a positive number, got {sigma!r}") from None
        if not (math.isfinite(s) and s > 0):
            raise CompileError(f"sigma must be a positive finite number, got {sigma!r}")
        head = Gaussian(s)
    else:
        raise CompileError(f"unknown likelihood {name!r}; use one of {', '.join(LIKELIHOODS)}")
    if sigma is not None and name != "gaussian":
        raise CompileError(f"sigma is the noise scale of likelihood 'gaussian'; it means nothing for {name!r}")
    return head
