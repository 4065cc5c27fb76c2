"""Curvature structures for whole networks: ``full``, ``diag``, ``kron`` and ``lowrank``, with one interface.

``inf.compile(..., last_layer=False, curvature=S, rank=r)`` chooses how the prior and posterior precision
``H''[w*]``, ``H''[w*|D] = sum_i H''[Y|x_i,w*] + δ Id`` (GGN per training point, ``δ = prior_precision``) are held:

=========== ====================================================================== ==========================
structure   ``H''[w*|D]``                                                          per point ``J S J^T``
=========== ====================================================================== ==========================
``full``    dense ``P x P`` (the compiler's dense path; at most                    Jacobian ``C x P``
            :data:`FULL_MAX_PARAMS` parameters)
``diag``    ``diag(GGN) + δ``                                                      per layer, rotated-diag kernel
``kron``    per ``nn.Linear``/``nn.Conv2d``: ``B ⊗ A + δ`` in the factors'         per layer, from the layer's
            eigenbasis (KFAC-expand, as laplace-torch); other parameters diag      inputs and output gradients
``lowrank`` top-``r`` GGN eigenpairs (randomised Nyström) ``+ δ``                  ``(J J^T - JV D (JV)^T) / δ``
=========== ====================================================================== ==========================

Default for ``last_layer=False``: ``"full"`` up to :data:`FULL_DEFAULT_PARAMS` parameters, else ``"kron"`` (or
``"diag"`` when the network has no ``nn.Linear``/``nn.Conv2d`` layer, or when its Kronecker factors would exceed
:data:`STRUCTURE_BYTES`). Every structure follows
:class:`~.base.CurvatureStructure`: ``with_prior``, ``logdet``, ``solve``, ``quad`` and ``cross``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ...errors import CompileError
from ...protocol import progress_bar
from .base import CurvatureStructure
from .diag import DiagStructure, fit_diag
from .full import FullStructure, fit_full
from .groups import Capture, Layout, Probe, layout_of
from .kron import KronStructure, fit_kron
from .lowrank import LowRankStructure, fit_lowrank

__all__ = [
    "STRUCTURES",
    "FULL_MAX_PARAMS",
    "FULL_DEFAULT_PARAMS",
    "DEFAULT_RANK",
    "CurvatureStructure",
    "FullStructure",
    "DiagStructure",
    "KronStructure",
    "LowRankStructure",
    "Capture",
    "Layout",
    "Probe",
    "layout_of",
    "choose_structure",
    "fit_structure",
    "fisher_probes",
]

#: The structure names ``curvature=`` accepts.
STRUCTURES = ("full", "diag", "kron", "lowrank")
#: ``curvature="full"`` is refused above this many parameters (its ``P x P`` float64 matrices: ~1 GiB each).
FULL_MAX_PARAMS = 12_000
#: Up to this many parameters the whole network's default structure is ``"full"``; above it ``"kron"``.
FULL_DEFAULT_PARAMS = 4_096
#: The default rank of ``curvature="lowrank"`` (capped at ``P``).
DEFAULT_RANK = 100
#: Largest memory a structure may hold (its Kronecker factors and eigenvectors, or its low-rank basis).
STRUCTURE_BYTES = 8 * 2**30


def choose_structure(curvature: object, rank: object, P: int, layout: Layout | None) -> tuple[str, int | None]:
    """The checked ``(structure, rank)``: the default by size for ``None``; ``CompileError`` for bad names."""
    if curvature is not None and curvature not in STRUCTURES:
        import difflib

        close = difflib.get_close_matches(str(curvature), STRUCTURES, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise CompileError(
            f"unknown curvature structure {curvature!r}{hint}; use one of {', '.join(repr(s) for s in STRUCTURES)} "
            "(or None for the default by size)"
        )
    if curvature is None:
        if P <= FULL_DEFAULT_PARAMS:
            curvature = "full"
        elif layout is not None and layout.affine and _structure_bytes("kron", layout, None) <= STRUCTURE_BYTES:
            curvature = "kron"
        else:
            curvature = "diag"
    if rank is not None and curvature != "lowrank":
        raise CompileError(f"rank={rank!r} is the rank of curvature='lowrank'; it means nothing for {curvature!r}")
    if curvature == "lowrank":
        if rank is None:
            rank = min(DEFAULT_RANK, P)
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= P:
            raise CompileError(f"rank must be an int with 1 <= rank <= P = {P} for curvature='lowrank', got {rank!r}")
    if layout is not None and curvature in ("kron", "lowrank"):
        need = _structure_bytes(str(curvature), layout, rank)
        if need > STRUCTURE_BYTES:
            what = ("its per-layer Kronecker factors and their eigenvectors" if curvature == "kron" else
                    f"a {P} x {rank} basis (and the eigensolver's sketches)")
            raise CompileError(
                f"curvature={curvature!r} on this network needs ~{need / 2**30:.1f} GiB for {what}, above the "
                f"{STRUCTURE_BYTES / 2**30:.0f} GiB budget. Use curvature='diag'"
                + (" or a smaller rank" if curvature == "lowrank" else " (or 'lowrank' with a small rank)")
            )
    if curvature == "full" and P > FULL_MAX_PARAMS:
        gb = P * P * 8 / 2**30
        raise CompileError(
            f"curvature='full' over the whole network needs dense {P}x{P} matrices (~{gb:.1f} GiB each in float64); "
            f"it is refused above {FULL_MAX_PARAMS} parameters. Use curvature='kron' (Kronecker factors per layer), "
            "'diag' (the GGN's diagonal) or 'lowrank' (top-r eigenpairs, rank=r), or last_layer=True"
        )
    return str(curvature), rank  # type: ignore[return-value]


def _structure_bytes(name: str, layout: Layout, rank: object) -> int:
    """float64 bytes the structure's own matrices take (factors, eigenvectors; or the basis and sketches)."""
    if name == "kron":
        return sum(3 * (g.d_in**2 + g.d_out**2) + 2 * g.d_out * g.d_in for g in layout.affine) * 8
    return 4 * layout.P * (int(rank) + 10) * 8  # type: ignore[call-overload]


def fisher_probes(capture: Capture, X: torch.Tensor, chunk: int, progress: bool | None,
                  where: str = "X_train") -> Iterator[Probe]:
    """The Fisher-factor probes ``U_i = J_i^T L_i`` (``L L^T = Λ``) of the rows of ``X``, chunk by chunk."""
    N = int(X.shape[0])
    bar = progress_bar(N, progress, f"curvature ({where})")
    try:
        for s in range(0, N, chunk):
            pr = capture.probe(X[s : s + chunk], where, rows="auto")
            yield pr.mix(pr.project(capture.likelihood.factor(pr.eta)))
            bar.update(min(chunk, N - s))
    finally:
        bar.close()


def fit_structure(name: str, capture: Capture, X: torch.Tensor | None, delta: float | torch.Tensor, chunk: int,
                  progress: bool | None, rank: int | None = None, power: int = 1) -> CurvatureStructure:
    """``H''[w*|D] = GGN(X) + δ Id`` in structure ``name`` (``X=None``: the prior alone, ``δ Id``)."""
    layout, dtype = capture.layout, capture.dtype
    rows = X if X is not None else torch.zeros(0)

    def probes() -> Iterator[Probe]:
        if X is None or X.shape[0] == 0:
            return iter(())
        return fisher_probes(capture, rows, chunk, progress)

    if name == "diag":
        return fit_diag(layout, probes(), delta, dtype)
    if name == "kron":
        if isinstance(delta, torch.Tensor):
            raise CompileError("curvature='kron' takes a scalar prior_precision (δ Id, added in the factors' "
                               "eigenbasis); a per-parameter prior needs curvature='diag' or 'full'")
        return fit_kron(layout, probes(), delta, dtype)
    if name == "lowrank":
        if isinstance(delta, torch.Tensor):
            raise CompileError("curvature='lowrank' takes a scalar prior_precision (δ Id); a per-parameter prior "
                               "needs curvature='diag' or 'full'")
        assert rank is not None
        return fit_lowrank(layout, probes, rank, delta, dtype, power=power)
    if name == "full":
        return fit_full(layout, probes(), delta, dtype)
    raise CompileError(f"unknown curvature structure {name!r}; use one of {', '.join(STRUCTURES)}")
