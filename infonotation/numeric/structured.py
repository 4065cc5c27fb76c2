"""Compiled quantities on a whole network with a structured curvature (``last_layer=False``, ``curvature`` in
``"diag"``, ``"kron"``, ``"lowrank"``).

``inf.compile("I[W;Y|x]", net, train=(X, y), last_layer=False, curvature="kron")`` lowers the quantity to a plan as
usual (:mod:`~infonotation.numeric.plan`), fits the posterior precision ``H''[w*|D] = GGN + δ Id`` in the chosen
structure (:mod:`~infonotation.numeric.structures`) and evaluates every atom on the data side
(:mod:`~infonotation.numeric.structured_run`): per pool point only the ``C x C`` form ``J_x S J_x^T``, from each
layer's inputs and output gradients, chunked over the pool. E.g. the EIG (R20, R23)

    I[W;Y|x] ~= 1/2 logdet(Id_C + L_x^T J_x S J_x^T L_x),     S = H''[w*|D]^-1,  L_x L_x^T = Λ_x.

Memory is bounded in the pool size: a chunk's layer data, never a ``P x P`` matrix or a ``C x P`` Jacobian per point
(except the per-layer weight Jacobians of convolutions, which their structure needs).

A quantity about a known label (``I[W;y|x]``) without ``ggn`` asks for the candidate's exact observed information
``H''[y|x,w*]``, a ``P x P`` matrix per point; with a structured curvature it is replaced by the empirical Fisher
``H'[y|x,w*]^T H'[y|x,w*]`` of the labelled point (R13 with the true label, what the paper's code uses for active
sampling), and a warning says so.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import torch
from torch import nn

from ..errors import CompileError, CompileWarning
from ..protocol import Acquisition, Selection
from ..syntax.tree import Expr
from .forms import as_derivation, derivation_chain, derivation_lines
from .likelihood import Likelihood
from .plan import Plan, bound_point
from .structured_run import FixedColumns, StructuredRuntime, greedy_structured
from .structures import Capture, CurvatureStructure, Probe, choose_structure, fit_structure, layout_of

__all__ = ["StructuredAcquisition", "compile_structured", "STRUCTURED_CHUNK_BYTES"]

#: Working memory per pool chunk the structured compiler's default chunk size aims at.
STRUCTURED_CHUNK_BYTES = 256 * 2**20


class StructuredAcquisition(Acquisition):
    """A compiled quantity on a whole network with a structured curvature, following the acquisition protocol.

    ``acq.scores(X_pool)``, ``acq.select(X_pool, k, strategy="greedy"|"topk")`` (greedy: the gain of each point in
    the joint quantity, lazily when the joint quantity is submodular), ``acq.joint(X_batch)``; ``acq.structure`` is
    the posterior precision (``logdet()``, ``solve(v)``, ``quad(probe)``); ``str(acq)`` prints the plan.
    """

    finite_scores = True

    def __init__(self, *, quantity: Expr, form: Expr, using: tuple[str, ...], plan: Plan, capture: Capture,
                 structure: CurvatureStructure, has_train: bool, delta: float | torch.Tensor,
                 blocks: list[FixedColumns], chunk_size: int | None, progress: bool | None, higher_is_better: bool,
                 needs_labels: bool, label_aware: bool, info: dict[str, str], derivations: tuple = (),
                 net_dtype: torch.dtype = torch.float32):
        self.quantity, self.form, self.using, self.plan = quantity, form, using, plan
        self.derivation = as_derivation(derivations)
        self.capture, self.structure, self.curvature = capture, structure, structure.name
        self._has_train, self._delta, self._blocks = has_train, delta, blocks
        self.runtime = self._new_runtime()
        self.chunk_size = chunk_size or 64
        self.progress = progress
        self.higher_is_better = higher_is_better
        self.needs_labels = needs_labels
        self.label_aware = label_aware or needs_labels
        self.strategies = ("topk",) if needs_labels else ("greedy", "topk")
        self.label = str(quantity)
        self.info = info
        self._net_dtype = net_dtype
        self._checked = False

    def _new_runtime(self) -> StructuredRuntime:
        return StructuredRuntime(self.plan, self.structure, self._has_train, self._delta, self._blocks,
                                 self.structure.P, self.capture.dtype)

    # -- the protocol's hooks ---------------------------------------------------------------------------
    def _input_dtype(self) -> torch.dtype | None:
        return self._net_dtype

    def _check_labels(self, y: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        C = self.capture.C if self.capture.C > 0 else int(self.capture.probe(X[:1], "X_pool").eta.shape[1])
        return self.capture.likelihood.labels(y, X.shape[0], C, "y_pool")

    def _probe(self, X: torch.Tensor, y: torch.Tensor | None, where: str) -> tuple[Probe, torch.Tensor]:
        """The points' class-row probe and the rows' mixing ``L`` ``[n, C, K]``: the Fisher factor (``L L^T = Λ``)
        or, for an observed label, the gradient of ``-log p(y|x,w)`` in the network's output (``K = 1``)."""
        if not self._checked:
            self.capture.check_coverage(X, where)
            self._checked = True
        pr = self.capture.probe(X, where, rows="auto")
        if self.needs_labels:
            assert y is not None
            r = self.capture.likelihood.nll_grad(pr.eta, y.to(pr.eta.device))
            return pr, pr.project(r[:, :, None].to(pr.eta.dtype))
        return pr, pr.project(self.capture.likelihood.factor(pr.eta))

    def _score(self, X: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.runtime.score(*self._probe(X, y, "X_pool"))

    def _select(self, strategy: str, X: torch.Tensor, k: int, y: torch.Tensor | None,
                progress: bool | None) -> Selection:
        rt = self._new_runtime()

        def probe_of(idx: torch.Tensor) -> tuple[Probe, torch.Tensor]:
            return self._probe(X[idx], None if y is None else y[idx], "X_pool")

        idx, gains = greedy_structured(rt, probe_of, X.shape[0], k, self.chunk_size, self.higher_is_better,
                                       progress)
        return Selection(idx, gains)

    def joint(self, X_batch: torch.Tensor, y_batch: torch.Tensor | None = None, side: str = "auto") -> torch.Tensor:
        """The quantity for the whole batch jointly (its curvature is the sum of the members', R11): 0-dim tensor.

        With a structured curvature every determinant is evaluated on the data side (``nK x nK``); ``side`` may be
        ``"auto"`` or ``"data"``.
        """
        X, y = self._inputs(X_batch, y_batch, "local", None)
        if side not in ("auto", "data", "weight"):
            raise CompileError(f"side must be 'auto', 'data' or 'weight', got {side!r}")
        if side == "weight":
            raise CompileError(f"side='weight' needs {self.structure.P}x{self.structure.P} matrices; with "
                               f"curvature={self.curvature!r} the joint quantity is evaluated on the data side")
        return self.runtime.joint(*self._probe(X, y, "X_batch"))

    def functional_variance(self, X: torch.Tensor) -> torch.Tensor:
        """``[n, C, C]``: ``J_x S J_x^T`` per point, the linearised network's output covariance under the posterior
        ``N(w*, S)``, ``S = H''[w*|D]^-1`` in this structure (laplace-torch's ``functional_variance``)."""
        X, _ = self._inputs(X, None, "local", None)
        out = []
        for s in range(0, X.shape[0], self.chunk_size):
            pr = self.capture.probe(X[s : s + self.chunk_size], "X")
            out.append(self.structure.quad(pr))
        return torch.cat(out)

    # -- description ------------------------------------------------------------------------------------
    def describe(self) -> str:
        lay = self.structure.layout
        lines = [
            "infonotation compiled plan",
            f"  quantity:   {self.quantity}",
            f"  form:       {self.form}   (using {', '.join(self.using)})",
        ]
        lines += derivation_lines(self.derivation)
        lines += [
            f"  parameters: whole network, {lay.describe()}; likelihood {self.capture.likelihood.name}; "
            f"dtype {str(self.capture.dtype).split('.')[-1]}",
            f"  curvature:  {self.structure.describe()} ({self.structure.nbytes() / 2**20:.1f} MiB)",
            "  matrices:",
        ]
        for leaf, text in sorted(self.info.items()):
            if leaf != "setup":
                lines.append(f"    {leaf}: {text}")
        pool = self.plan.pool_leaf
        if pool is not None:
            rows = "the label gradient (empirical Fisher, 1 row)" if self.needs_labels else "L^T J (Fisher factor)"
            lines.append(f"    candidate {pool.text}: {rows}; J S J^T per layer from the layer's inputs and output "
                         "gradients, no P x P matrix and no C x P Jacobian of a linear layer")
        lines.append("  atoms:")
        lines += ["    " + s for s in self.runtime.describe()]
        flops, mem = self.cost()
        lines.append(f"  cost: ~{flops:.3g} FLOP per pool point (besides the network's backward passes); chunks of "
                     f"{self.chunk_size} points, ~{mem / 2**20:.0f} MiB working memory per chunk")
        lines.append(f"  better:     {'higher' if self.higher_is_better else 'lower (a raw proxy)'}")
        if "setup" in self.info:
            lines.append(f"  setup:      {self.info['setup']}")
        return "\n".join(lines)

    def cost(self) -> tuple[float, float]:
        """Estimated (FLOPs per pool point for ``J S J^T``, bytes per chunk)."""
        C = max(self.capture.C, 1)
        rot = self.curvature == "kron"
        flops = 0.0
        for g in self.structure.layout.affine:
            T = self._positions.get(g.name, 1)
            if T == 1:
                flops += 2 * (g.d_out * g.d_in + C * C * g.d_out + (g.d_in**2 + C * g.d_out**2 if rot else 0))
            else:
                flops += 2 * (C * T * g.d_out * g.d_in + C * C * g.d_out * g.d_in
                              + (T * g.d_in**2 + C * T * g.d_out**2 if rot else 0))
        if self.curvature == "lowrank":
            flops += 2 * self.structure.P * getattr(self.structure, "r", 0)
        if self.structure.layout.generic is not None:
            flops += 2 * C * C * self.structure.layout.generic.p
        return flops, self.chunk_size * self._point_bytes

    _positions: dict[str, int] = {}
    _point_bytes: int = 0

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return (f"<StructuredAcquisition {self.quantity} on the whole network, curvature={self.curvature!r}>"
                f"{derivation_chain(self.derivation)}")


# -- compiling ------------------------------------------------------------------------------------------
def _delta(prior: object, P: int, structure: str, dtype: torch.dtype) -> float | torch.Tensor:
    """The checked prior precision: a positive number, or (``diag``) a positive vector ``[P]``."""
    if isinstance(prior, torch.Tensor) and prior.dim() == 0:
        prior = float(prior)
    if isinstance(prior, (int, float)) and not isinstance(prior, bool):
        if not (math.isfinite(prior) and prior > 0):
            raise CompileError(f"prior_precision must be a positive number (δ Id), got {prior!r}")
        return float(prior)
    if not isinstance(prior, torch.Tensor):
        raise CompileError(f"prior_precision must be a number or a tensor, got {type(prior).__name__}")
    if prior.shape == (P,) and structure == "diag":
        d = prior.to(dtype)
        if not bool(torch.isfinite(d).all()) or not bool((d > 0).all()):
            raise CompileError("a per-parameter prior_precision must be finite and positive in every entry")
        return d
    allowed = f"a number (δ Id) or, for curvature='diag', a vector [{P}]" if structure == "diag" else "a number (δ Id)"
    raise CompileError(
        f"prior_precision of shape {list(prior.shape)} does not fit curvature={structure!r} over the whole network "
        f"(P = {P}): it takes {allowed}, the prior precision on every parameter covered. Pass a float, or use "
        "curvature='diag' (per-parameter vector) or 'full' (vector or matrix, small networks)"
    )


def check_dropout(network: nn.Module) -> None:
    active = sorted({type(m).__name__ for m in network.modules()
                     if isinstance(m, nn.modules.dropout._DropoutNd) and m.training and m.p > 0})
    if active:
        raise CompileError(
            f"the network is in training mode with active {', '.join(active)}: its Jacobians would change from call "
            "to call. Call network.eval() before inf.compile(..., last_layer=False) (for MC-dropout samples use "
            "space='prediction')"
        )


def _chunk(capture: Capture, probe: Probe) -> tuple[int, int, dict[str, int]]:
    """A chunk size from the bytes one point's layer data and per-layer features take."""
    item = torch.finfo(capture.dtype).bits // 8
    K = probe.K
    per = 2 * probe.nbytes() // max(probe.n, 1)  # the layer data, and the autograd graph that produced it
    positions = {}
    for i, g in enumerate(capture.layout.affine):
        T = int(probe.A[i].shape[1])
        positions[g.name] = T
        if T > 1:
            per += K * (g.d_out * g.d_in) * item  # the layer's weight Jacobians, scaled in place
    return int(max(1, min(512, STRUCTURED_CHUNK_BYTES // max(per, 1)))), per, positions


def compile_structured(*, quantity: Expr, form: Expr, using: tuple[str, ...], plan: Plan, network: nn.Module,
                       likelihood: Likelihood, curvature: str, rank: int | None, prior_precision: object,
                       train: Any, eval_: Any, bound: dict[str, dict[str, torch.Tensor]], dtype: torch.dtype,
                       chunk_size: int | None, progress: bool | None, higher_is_better: bool, label_aware: bool,
                       derivations: tuple = ()) -> StructuredAcquisition:
    """Bind ``plan`` to ``network`` with the structured curvature ``curvature`` (``diag``, ``kron``, ``lowrank``)."""
    t0 = time.perf_counter()
    check_dropout(network)
    layout = layout_of(network)
    name, rank = choose_structure(curvature, rank, layout.P, layout)
    delta = _delta(prior_precision, layout.P, name, dtype)
    capture = Capture(network, likelihood, layout, dtype)
    net_dtype = next(p.dtype for p in network.parameters())
    if name == "kron" and layout.generic is not None:
        owners = ", ".join(sorted(set(layout.generic.owners)))
        skipped = "; " + ", ".join(layout.skipped) if layout.skipped else ""
        warnings.warn(
            f"curvature='kron' covers nn.Linear and nn.Conv2d layers; the other {layout.generic.p} parameter(s) "
            f"({owners}{skipped}) get their exact GGN diagonal (diag). Use curvature='lowrank' to couple them, or "
            "freeze them (requires_grad_(False)) to leave them out", CompileWarning, stacklevel=5)
    info: dict[str, str] = {}
    X_train = None
    if train is not None:
        if not (isinstance(train, (tuple, list)) and len(train) == 2
                and all(isinstance(t, torch.Tensor) for t in train)):
            raise CompileError("train must be a pair (X_train, y_train) of tensors")
        X_train, y_train = train
        if y_train.shape[0] != X_train.shape[0]:
            raise CompileError(f"train: X_train has {X_train.shape[0]} rows but y_train has {y_train.shape[0]}")
        X_train = _inputs(X_train, net_dtype, "X_train")
    sample = X_train if X_train is not None and X_train.shape[0] else None
    if sample is None and isinstance(eval_, torch.Tensor) and eval_.dim() > 1 and eval_.shape[0]:
        sample = _inputs(eval_, net_dtype, "X_eval")
    positions: dict[str, int] = {}
    point_bytes = 0
    checked = False
    chunk = chunk_size
    if sample is not None:
        capture.check_coverage(sample, "X_train" if sample is X_train else "X_eval")
        checked = True
        first = capture.probe(sample[:2], "X_train")
        auto, point_bytes, positions = _chunk(capture, first)
        chunk = chunk_size or auto
        if X_train is not None:
            capture.likelihood.labels(y_train, y_train.shape[0], first.eta.shape[1], "y_train")
    fit_chunk = chunk or 64
    t_fit = time.perf_counter()
    try:
        structure = fit_structure(name, capture, X_train, delta, fit_chunk, progress, rank)
    except (MemoryError, RuntimeError) as exc:  # torch.OutOfMemoryError is a RuntimeError
        if isinstance(exc, RuntimeError) and not any(w in str(exc).lower() for w in ("alloc", "memory")):
            raise
        raise CompileError(
            f"fitting curvature={name!r} ran out of memory ({str(exc).splitlines()[0][:120]}); use "
            "curvature='diag', a smaller rank, or a smaller chunk_size"
        ) from None
    fit_s = time.perf_counter() - t_fit
    leaves = plan.leaves
    blocks: list[FixedColumns] = []
    has_train = X_train is not None
    for leaf in sorted(leaves):
        if leaf.kind in ("PRIOR", "POSTERIOR", "TRAIN") and not has_train:
            if leaf.kind == "PRIOR":
                info[leaf.text] = "prior precision δ Id (no training data given)"
                warnings.warn(
                    f"no train= given: {quantity} is scored with the prior alone (H''[w*] = prior precision), as if "
                    "the network had seen no data; pass train=(X_train, y_train) for the posterior H''[w*|D]",
                    CompileWarning, stacklevel=5)
            else:
                raise CompileError(f"{leaf.text} needs the training data: pass train=(X_train, y_train)")
        elif leaf.kind in ("PRIOR", "POSTERIOR"):
            info[leaf.text] = (f"H''[w*|D] in structure {name!r}: GGN of {X_train.shape[0]} training points "  # type: ignore[union-attr]
                               f"+ prior precision, fitted in {fit_s:.3g} s")
        elif leaf.kind == "TRAIN":
            if leaf.observed:
                warnings.warn(f"{leaf.text}: with curvature={name!r} the training curvature is the GGN (Fisher), "
                              "not the exact observed information", CompileWarning, stacklevel=5)
            info[leaf.text] = f"GGN of the training points in structure {name!r}"
        elif leaf.kind in ("EVAL_SUM", "EVAL_MEAN"):
            if not isinstance(eval_, torch.Tensor) or eval_.dim() == 0 or eval_.shape[0] == 0:
                raise CompileError(f"{leaf.text} needs the evaluation inputs: pass eval=X_eval (a non-empty tensor)")
            Xe = _inputs(eval_, net_dtype, "X_eval")
            M = Xe.shape[0]
            scale = 1.0 / math.sqrt(M) if leaf.kind == "EVAL_MEAN" else 1.0
            probes = _fixed_probes(capture, Xe, None, fit_chunk, scale, "X_eval")
            blocks.append(FixedColumns(leaf, probes))
            how = "mean" if leaf.kind == "EVAL_MEAN" else "sum"
            info[leaf.text] = f"{how} of {M} eval Fishers: {M * probes[0].K} columns U_e = J_e^T L_e"
        elif leaf.kind == "BOUND":
            Xb, yb = bound_point(leaf, bound)
            Xb = _inputs(Xb, net_dtype, f"x_{leaf.point}")
            if yb is not None:
                yb = yb.reshape(Xb.shape[0], *yb.shape[1:]) if yb.dim() else yb.reshape(1)
                warnings.warn(_EF_NOTE.format(what=leaf.text, name=name), CompileWarning, stacklevel=5)
            blocks.append(FixedColumns(leaf, _fixed_probes(capture, Xb, yb, fit_chunk, 1.0, f"x_{leaf.point}")))
            info[leaf.text] = f"the bound point(s) x_{leaf.point} ({Xb.shape[0]} row(s))"
    if isinstance(eval_, torch.Tensor) and not any(leaf.kind.startswith("EVAL") for leaf in leaves):
        warnings.warn(f"eval=... was given but {form} has no eval term; it is ignored", UserWarning, stacklevel=5)
    pool = plan.pool_leaf
    needs_labels = pool is not None and pool.observed
    if needs_labels:
        warnings.warn(_EF_NOTE.format(what=pool.text, name=name), CompileWarning, stacklevel=5)  # type: ignore[union-attr]
    acq = StructuredAcquisition(
        quantity=quantity, form=form, using=using, plan=plan, capture=capture, structure=structure,
        has_train=has_train, delta=delta, blocks=blocks, chunk_size=chunk, progress=progress,
        higher_is_better=higher_is_better, needs_labels=needs_labels, label_aware=label_aware, info=info,
        derivations=derivations, net_dtype=net_dtype)
    acq._checked = checked
    acq._positions = positions
    acq._point_bytes = point_bytes
    info["setup"] = f"structure fitted in {fit_s:.3g} s, compiled in {time.perf_counter() - t0:.3g} s"
    return acq


_EF_NOTE = (
    "{what} is the exact observed information, a P x P matrix per point; with curvature={name!r} it is replaced by "
    "the empirical Fisher H'[y|x,w*]^T H'[y|x,w*] of the labelled point (R13 with the true label; rank one, "
    "label-dependent). For the exact Hessian use curvature='full' on a small network; with 'ggn' in using the "
    "Fisher H''[Y|x,w*] is used instead"
)


def _inputs(X: object, dtype: torch.dtype, where: str) -> torch.Tensor:
    if not isinstance(X, torch.Tensor) or X.dim() == 0:
        raise CompileError(f"{where} must be a torch.Tensor with a leading dimension of points")
    if X.is_floating_point():
        if not bool(torch.isfinite(X).all()):
            raise CompileError(f"{where} holds NaN or infinite values")
        X = X.to(dtype)
    return X


def _fixed_probes(capture: Capture, X: torch.Tensor, y: torch.Tensor | None, chunk: int, scale: float,
                  where: str) -> list[Probe]:
    """The fixed points' columns: Fisher factors ``J^T L`` (or, with labels, the label gradients), scaled."""
    out = []
    for s in range(0, X.shape[0], chunk):
        pr = capture.probe(X[s : s + chunk], where, rows="auto")
        if y is not None:
            yy = capture.likelihood.labels(y[s : s + chunk], pr.n, pr.eta.shape[1], f"labels of {where}")
            mixed = pr.mix(pr.project(capture.likelihood.nll_grad(pr.eta, yy.to(pr.eta.device))[:, :, None]))
        else:
            mixed = pr.mix(pr.project(capture.likelihood.factor(pr.eta)))
        out.append(mixed.scale(scale) if scale != 1.0 else mixed)
    return out
