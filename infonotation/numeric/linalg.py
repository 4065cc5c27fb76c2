"""Structured linear algebra: Cholesky log-dets with a jitter policy, solves, the determinant lemma.

Jitter policy (one place, used everywhere):

* A matrix that should be positive definite is factorised with ``torch.linalg.cholesky_ex``.
* If that fails, ``jitter * mean(|diag|) * Id`` is added with ``jitter`` starting at ``1e-10`` (float64) or
  ``1e-6`` (float32) and growing tenfold per try, at most :data:`MAX_JITTER_TRIES` times (so at most
  ``1e-4`` resp. ``1`` relative). Whenever jitter was needed a :class:`JitterWarning` says how much and where.
* A matrix that is still not positive definite (or that holds NaN/inf) raises :class:`CompileError`.

The determinant lemma (Sylvester): for ``U`` of shape ``P x m`` and ``H`` positive definite,
``logdet(Id_P + U U^T H^-1) = logdet(Id_m + U^T H^-1 U) = logdet(H + U U^T) - logdet(H)``.
The first form is the *weight side* (``P x P``), the second the *data side* (``m x m``); we evaluate
whichever is smaller, and both are exposed for testing.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch

from ..errors import CompileError
from ..threads import one_thread

__all__ = [
    "JitterWarning",
    "MAX_JITTER_TRIES",
    "cholesky",
    "batched_cholesky",
    "logdet_from_cholesky",
    "logdet_pd",
    "batched_logdet_pd",
    "cholesky_solve",
    "lemma_logdet",
    "choose_side",
    "inverse_from_cholesky",
]

#: How many times the jitter grows tenfold before a matrix is declared not positive definite.
MAX_JITTER_TRIES = 7

Side = Literal["auto", "data", "weight"]


class JitterWarning(UserWarning):
    """A matrix needed diagonal jitter before its Cholesky factorisation succeeded."""


def _first_jitter(dtype: torch.dtype) -> float:
    return 1e-10 if dtype == torch.float64 else 1e-6


def _check_finite(A: torch.Tensor, what: str) -> None:
    if not torch.isfinite(A).all():
        raise CompileError(f"{what} holds NaN or infinite entries; check the network's parameters and inputs")


def cholesky(A: torch.Tensor, what: str = "matrix") -> torch.Tensor:
    """Lower Cholesky factor ``R`` of a symmetric positive definite ``A`` (``A = R R^T``), jitter policy applied.

    ``what`` names the matrix in warnings and errors (e.g. ``"H''[w*|D]"``).
    """
    _check_finite(A, what)
    with one_thread():
        R, info = torch.linalg.cholesky_ex(A)
    if int(info) == 0:
        return R
    scale = A.diagonal().abs().mean().clamp_min(torch.finfo(A.dtype).tiny)
    jitter = _first_jitter(A.dtype)
    eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    for _ in range(MAX_JITTER_TRIES):
        R, info = torch.linalg.cholesky_ex(A + (jitter * scale) * eye)
        if int(info) == 0:
            warnings.warn(
                f"{what} ({A.shape[-1]}x{A.shape[-1]}) was not numerically positive definite; added jitter "
                f"{jitter:.1e} x mean diagonal ({float(jitter * scale):.3e}) before its Cholesky factorisation",
                JitterWarning,
                stacklevel=3,
            )
            return R
        jitter *= 10.0
    raise CompileError(
        f"{what} ({A.shape[-1]}x{A.shape[-1]}) is not positive definite, even with jitter "
        f"{jitter / 10:.1e} x mean diagonal; use a positive prior_precision (or a larger one), or check the inputs"
    )


def batched_cholesky(A: torch.Tensor, what: str = "matrix") -> torch.Tensor:
    """Cholesky factors of a batch ``[..., m, m]`` of positive definite matrices, jitter only where needed."""
    _check_finite(A, what)
    R, info = torch.linalg.cholesky_ex(A)
    bad = info != 0
    if not bool(bad.any()):
        return R
    idx = bad.nonzero(as_tuple=True)
    sub = A[idx]
    R_bad = torch.stack([cholesky(m, f"{what} (batch element {tuple(int(t[k]) for t in idx)})")
                         for k, m in enumerate(sub)])  # only the few failing ones
    R = R.clone()
    R[idx] = R_bad
    return R


def inverse_from_cholesky(R: torch.Tensor) -> torch.Tensor:
    """``A^-1 = R^-T R^-1`` (exactly symmetric) from the lower Cholesky factor ``R`` of ``A``, on one thread (LAPACK
    potri; see :mod:`infonotation.threads`). Used only where ``A^-1`` itself is read many times (``Σ`` in every
    candidate's quadratic form); elsewhere solve against the factor (:func:`cholesky_solve`)."""
    with one_thread():
        S = torch.cholesky_inverse(R)  # potri fills one triangle and mirrors it: exactly symmetric
    if S.is_contiguous():
        return S
    return S.mT if S.mT.is_contiguous() else S.contiguous()  # LAPACK's column-major result: its transpose is S


def logdet_from_cholesky(R: torch.Tensor) -> torch.Tensor:
    """``logdet(R R^T) = 2 sum log diag(R)`` (batched over leading dimensions)."""
    return 2.0 * R.diagonal(dim1=-2, dim2=-1).log().sum(-1)


def logdet_pd(A: torch.Tensor, what: str = "matrix") -> torch.Tensor:
    """``logdet(A)`` of a symmetric positive definite matrix through its Cholesky factor."""
    return logdet_from_cholesky(cholesky(A, what))


def batched_logdet_pd(A: torch.Tensor, what: str = "matrix") -> torch.Tensor:
    """``logdet`` of each matrix in a batch ``[..., m, m]`` of positive definite matrices."""
    return logdet_from_cholesky(batched_cholesky(A, what))


def cholesky_solve(R: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``A^-1 B`` given the lower Cholesky factor ``R`` of ``A`` (two triangular solves, no inverse)."""
    return torch.cholesky_solve(B, R)


def choose_side(P: int, m: int) -> Literal["data", "weight"]:
    """The cheaper side of ``logdet(Id_P + U U^T H^-1)`` for ``U`` of shape ``P x m``."""
    return "data" if m <= P else "weight"


def lemma_logdet(U: torch.Tensor, R_H: torch.Tensor, side: Side = "auto", what: str = "matrix") -> torch.Tensor:
    """``logdet(Id_P + U U^T H^-1)`` for ``U`` of shape ``[P, m]`` and ``H = R_H R_H^T`` (R23, the determinant lemma).

    ``side="data"`` evaluates ``logdet(Id_m + V^T V)`` with ``V = R_H^-1 U`` (an ``m x m`` determinant);
    ``side="weight"`` evaluates ``logdet(H + U U^T) - logdet(H)`` (``P x P``); ``"auto"`` picks the smaller.
    """
    P, m = U.shape
    if side == "auto":
        side = choose_side(P, m)
    if side == "data":
        V = torch.linalg.solve_triangular(R_H, U, upper=False)
        K = V.mT @ V
        K.diagonal().add_(1.0)
        return logdet_pd(K, f"Id + U^T {what}^-1 U")
    if side == "weight":
        H = R_H @ R_H.mT
        return logdet_pd(H + U @ U.mT, f"{what} + U U^T") - logdet_from_cholesky(R_H)
    raise CompileError(f"unknown determinant side {side!r}; use 'auto', 'data' or 'weight'")
