"""A whole network's parameters in groups, and the per-point Jacobian data of each group (a :class:`Probe`).

The Jacobian ``J_x = d η(x) / d w`` (``C x P``) of a network is never formed for large ``P``. Instead each
parameter group gives what its structure needs:

* **affine groups** (``nn.Linear``; ``nn.Conv2d`` with ``groups=1`` and numeric zero padding): the layer's inputs
  ``A`` (``[n, T, d_in]``, the unfolded im2col patches of a convolution, ``T`` its output positions; ``T = 1`` for
  a linear layer on ``[n, d_in]``) and the gradients ``G`` (``[n, K, T, d_out]``) of each of ``K`` output
  combinations with respect to the layer's output. The Jacobian of output row ``k`` with respect to the weight is
  ``sum_t G[k, t]^T A[t]`` (``d_out x d_in``; an outer product ``g a^T`` for a linear layer) and with respect to the
  bias ``sum_t G[k, t]``. Parameter order inside a group: ``weight.flatten()`` then ``bias``, as
  ``named_parameters`` gives them.
* **the generic group**: every other parameter that requires grad (BatchNorm, LayerNorm, embeddings, a grouped
  convolution, ...): its per-point Jacobian columns ``[n, K, p]`` by ``torch.func`` (``vmap`` of ``jacrev`` over
  the network with only these parameters free).

:class:`Capture` runs the network once per chunk with hooks on the affine layers and one backward per output row:
each class, or the rows of a basis ``E`` of the output directions the likelihood's curvature sees (``C - 1`` for a
softmax, :meth:`~infonotation.numeric.likelihood.Likelihood.row_basis`). ``Probe.mix(L)`` turns the rows into any
other ``K`` combinations (``J^T L`` for the Fisher factors ``L L^T = Λ``, or the label gradient).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from ...errors import CompileError
from ..adapter import eval_mode
from ..likelihood import Likelihood

__all__ = ["AffineGroup", "GenericGroup", "Layout", "Probe", "Capture", "layout_of"]


@dataclass(frozen=True, eq=False)
class AffineGroup:
    """A linear or convolution layer: weight ``[d_out, d_in]`` (a convolution's flattened) and maybe a bias."""

    name: str
    module: nn.Module
    kind: str  # "linear" | "conv2d"
    d_in: int
    d_out: int
    w_offset: int
    b_offset: int | None

    @property
    def p(self) -> int:
        return self.d_out * self.d_in + (self.d_out if self.b_offset is not None else 0)

    @property
    def has_bias(self) -> bool:
        return self.b_offset is not None

    def describe(self) -> str:
        kind = "Linear" if self.kind == "linear" else "Conv2d"
        return f"{self.name or '<root>'} ({kind} {self.d_out}x{self.d_in}{' + bias' if self.has_bias else ''})"


@dataclass(frozen=True, eq=False)
class GenericGroup:
    """Every trainable parameter outside the affine groups: names, offsets in the flat vector, shapes."""

    names: tuple[str, ...]
    offsets: tuple[int, ...]
    shapes: tuple[torch.Size, ...]
    owners: tuple[str, ...]  # the module type owning each parameter (for messages)

    @property
    def p(self) -> int:
        return sum(math.prod(s) for s in self.shapes)

    def index(self) -> torch.Tensor:
        """Positions of the group's entries in the flat parameter vector."""
        return torch.cat([torch.arange(o, o + math.prod(s)) for o, s in zip(self.offsets, self.shapes)])


@dataclass(frozen=True, eq=False)
class Layout:
    """The trainable parameters of a network (``named_parameters`` order, those that require grad) in groups."""

    names: tuple[str, ...]
    shapes: tuple[torch.Size, ...]
    P: int
    affine: tuple[AffineGroup, ...]
    generic: GenericGroup | None
    skipped: tuple[str, ...] = ()  # affine-looking layers handled in the generic group, with the reason

    def describe(self) -> str:
        parts = [f"{len(self.affine)} affine layer(s)"]
        if self.generic is not None:
            parts.append(f"{self.generic.p} other parameter(s) in {', '.join(sorted(set(self.generic.owners)))}")
        return f"P={self.P}: " + ", ".join(parts)


def _affine_kind(m: nn.Module) -> tuple[str | None, str]:
    """(``"linear"``/``"conv2d"``, "") for a layer the structures read by its inputs, or (None, why not)."""
    if isinstance(m, nn.Linear):
        return "linear", ""
    if type(m) is nn.Conv2d:
        if m.groups != 1:
            return None, f"a grouped convolution (groups={m.groups})"
        if isinstance(m.padding, str) or m.padding_mode != "zeros":
            return None, f"padding {m.padding!r} / padding_mode {m.padding_mode!r} (only numeric zero padding)"
        return "conv2d", ""
    return None, ""


def layout_of(network: nn.Module) -> Layout:
    """The parameter groups of ``network`` (``CompileError`` when no parameter requires grad)."""
    named = [(n, p) for n, p in network.named_parameters() if p.requires_grad]
    if not named:
        raise CompileError(
            f"no parameter of {type(network).__name__} requires grad, so there is nothing to take the curvature of: "
            "call network.requires_grad_(True) (or set requires_grad on the parameters the posterior is over)"
        )
    offset: dict[int, int] = {}
    pos = 0
    for _, p in named:
        offset[id(p)] = pos
        pos += p.numel()
    owner: dict[int, tuple[str, nn.Module]] = {}
    for mname, m in network.named_modules():
        for p in m.parameters(recurse=False):
            owner.setdefault(id(p), (mname, m))
    affine: list[AffineGroup] = []
    covered: set[int] = set()
    skipped: list[str] = []
    for mname, m in network.named_modules():
        kind, why = _affine_kind(m)
        if kind is None:
            if why and any(p.requires_grad for p in m.parameters(recurse=False)):
                skipped.append(f"{mname} ({why})")
            continue
        w = m.weight
        if not w.requires_grad or id(w) in covered or owner.get(id(w), ("", None))[1] is not m:
            continue
        b = m.bias if m.bias is not None and m.bias.requires_grad and id(m.bias) not in covered else None
        d_out = w.shape[0]
        d_in = w[0].numel()
        affine.append(AffineGroup(mname, m, kind, d_in, d_out, offset[id(w)], offset[id(b)] if b is not None else None))
        covered.add(id(w))
        if b is not None:
            covered.add(id(b))
    rest = [(n, p) for n, p in named if id(p) not in covered]
    generic = None
    if rest:
        generic = GenericGroup(
            tuple(n for n, _ in rest), tuple(offset[id(p)] for _, p in rest), tuple(p.shape for _, p in rest),
            tuple(type(owner[id(p)][1]).__name__ if id(p) in owner else "?" for _, p in rest),
        )
    return Layout(tuple(n for n, _ in named), tuple(p.shape for _, p in named), pos, tuple(affine), generic,
                  tuple(skipped))


@dataclass
class Probe:
    """The Jacobian data of ``n`` points for ``K`` output rows (classes, or combinations of them).

    ``A[i]`` ``[n, T, d_in]`` and ``G[i]`` ``[n, K, T, d_out]`` per affine group ``i``; ``J`` ``[n, K, p]`` for the
    generic group (or None); ``eta`` ``[n, C]`` the natural parameters (the network's output).
    """

    eta: torch.Tensor
    A: list[torch.Tensor]
    G: list[torch.Tensor]
    J: torch.Tensor | None
    calls: list[int] = field(default_factory=list)  # forward calls of each affine layer (weight sharing)
    basis: torch.Tensor | None = None  # E [C, K]: the rows are E^T J (None: one row per class)

    @property
    def n(self) -> int:
        return int(self.eta.shape[0])

    @property
    def K(self) -> int:
        if self.G:
            return int(self.G[0].shape[1])
        return int(self.J.shape[1]) if self.J is not None else int(self.eta.shape[1])

    def project(self, L: torch.Tensor) -> torch.Tensor:
        """``E^T L`` (``[n, K, m]``) for output-space factors ``L`` ``[n, C, m]`` whose columns lie in the span of
        the basis ``E`` (``L`` itself without a basis): then ``(E^T J)^T (E^T L) = J^T L``."""
        return L if self.basis is None else self.basis.mT.to(L.dtype) @ L

    def mix(self, L: torch.Tensor) -> Probe:
        """The rows ``L^T J`` (``L`` ``[n, K, K']``): e.g. the Fisher factors ``U = J^T L`` of ``Λ = L L^T``."""
        L = L.to(self.eta.dtype)
        G = [torch.einsum("nktd,nkm->nmtd", g, L) for g in self.G]
        J = torch.einsum("nkp,nkm->nmp", self.J, L) if self.J is not None else None
        return Probe(self.eta, self.A, G, J, self.calls)

    def scale(self, s: float) -> Probe:
        return Probe(self.eta, self.A, [g * s for g in self.G], self.J * s if self.J is not None else None,
                     self.calls, self.basis)

    @staticmethod
    def cat(probes: list[Probe]) -> Probe:
        """The points of several probes (same rows) as one probe."""
        if len(probes) == 1:
            return probes[0]
        J = torch.cat([p.J for p in probes]) if probes[0].J is not None else None  # type: ignore[misc]
        return Probe(torch.cat([p.eta for p in probes]), [torch.cat(a) for a in zip(*(p.A for p in probes))],
                     [torch.cat(g) for g in zip(*(p.G for p in probes))], J, probes[0].calls, probes[0].basis)

    def select(self, idx: torch.Tensor | slice) -> Probe:
        return Probe(self.eta[idx], [a[idx] for a in self.A], [g[idx] for g in self.G],
                     self.J[idx] if self.J is not None else None, self.calls, self.basis)

    def nbytes(self) -> int:
        ts = [self.eta, *self.A, *self.G] + ([self.J] if self.J is not None else [])
        return sum(t.numel() * t.element_size() for t in ts)

    # -- the Jacobian itself, per group ---------------------------------------------------------------
    def weight_jacobian(self, i: int) -> torch.Tensor:
        """``[n, K, d_out, d_in]``: ``sum_t G[k, t]^T A[t]`` (one outer product per position)."""
        A, G = self.A[i], self.G[i]
        if A.shape[1] == 1:
            return G[:, :, 0, :, None] * A[:, None, 0, None, :]
        return torch.einsum("nktd,nti->nkdi", G, A)

    def bias_jacobian(self, i: int) -> torch.Tensor:
        """``[n, K, d_out]``: ``sum_t G[k, t]``."""
        return self.G[i].sum(2)

    def jacobian(self, layout: Layout) -> torch.Tensor:
        """``[n, K, P]`` in the flat parameter order (only for small networks and tests)."""
        out = self.eta.new_zeros(self.n, self.K, layout.P)
        for i, g in enumerate(layout.affine):
            out[:, :, g.w_offset : g.w_offset + g.d_out * g.d_in] = self.weight_jacobian(i).flatten(2)
            if g.b_offset is not None:
                out[:, :, g.b_offset : g.b_offset + g.d_out] = self.bias_jacobian(i)
        if layout.generic is not None and self.J is not None:
            out[:, :, layout.generic.index()] = self.J
        return out


class Capture:
    """Runs a network on chunks of inputs and returns :class:`Probe` objects (inputs and output gradients of the
    affine layers, generic Jacobian columns), in ``dtype``."""

    def __init__(self, network: nn.Module, likelihood: Likelihood, layout: Layout, dtype: torch.dtype):
        self.network, self.likelihood, self.layout, self.dtype = network, likelihood, layout, dtype
        self.C = -1
        self._generic_fn = None

    # -- running ------------------------------------------------------------------------------------
    def probe(self, X: torch.Tensor, where: str = "X", rows: torch.Tensor | str | None = None) -> Probe:
        """The probe of the points ``X``: rows ``J`` (one per class), ``rows^T J`` for a basis ``rows`` ``[C, K]``,
        or with ``rows="auto"`` the likelihood's basis (:meth:`~..likelihood.Likelihood.row_basis`; kept as
        ``probe.basis`` so that :meth:`Probe.project` maps factors into it)."""
        layout = self.layout
        records: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {i: [] for i in range(len(layout.affine))}
        handles = []

        def hook(i: int):
            def fn(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
                if not isinstance(output, torch.Tensor) or not inputs or not isinstance(inputs[0], torch.Tensor):
                    return output
                records[i].append((inputs[0].detach(), output))
                return output.clone()  # later in-place ops (ReLU(inplace=True)) must not touch the saved output

            return fn

        for i, g in enumerate(layout.affine):
            handles.append(g.module.register_forward_hook(hook(i)))
        try:
            with torch.enable_grad(), eval_mode(self.network):
                out = self.network(X)
                eta = self._natural(out, where)
                if isinstance(rows, str):
                    rows = self.likelihood.row_basis(int(eta.shape[1]), eta.dtype)
                grads = self._output_grads(eta, [o for i in records for _, o in records[i]], rows, where)
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise CompileError(
                f"running {type(self.network).__name__} on {where} (shape {list(X.shape)}) with gradients failed: "
                f"{str(exc).splitlines()[0]}; check the inputs' shape and dtype"
            ) from None
        finally:
            for h in handles:
                h.remove()
        n = eta.shape[0]
        K = eta.shape[1] if rows is None else rows.shape[1]
        A_list, G_list, calls = [], [], []
        k = 0
        for i, g in enumerate(layout.affine):
            recs = records[i]
            if not recs:
                raise CompileError(
                    f"the layer {g.describe()} was not called when running the network on {where}; its parameters "
                    "require grad but get no curvature. Freeze them (requires_grad_(False)) or remove the layer"
                )
            As, Gs = [], []
            for inp, _ in recs:
                grad = grads[k]
                k += 1
                a, gg = self._affine_data(g, inp, grad, n, K)
                As.append(a)
                Gs.append(gg)
            A_list.append(torch.cat(As, 1).to(self.dtype) if len(As) > 1 else As[0].to(self.dtype))
            G_list.append(torch.cat(Gs, 2).to(self.dtype) if len(Gs) > 1 else _cast(Gs[0], self.dtype))
            calls.append(len(recs))
        J = self._generic(X, n, eta.shape[1], where) if layout.generic is not None else None
        if J is not None and rows is not None:
            J = torch.einsum("ncp,ck->nkp", J, rows.to(J.dtype))
        basis = rows.to(self.dtype) if isinstance(rows, torch.Tensor) else None
        return Probe(eta.detach().to(self.dtype), A_list, G_list, J, calls, basis)

    def _natural(self, out: object, where: str) -> torch.Tensor:
        if not isinstance(out, torch.Tensor):
            raise CompileError(f"{type(self.network).__name__} returned {type(out).__name__}, not a tensor")
        eta = self.likelihood.natural(out, f"{type(self.network).__name__} on {where}")
        if self.C == -1:
            self.C = int(eta.shape[1])
        elif eta.shape[1] != self.C:
            raise CompileError(f"the network returned {eta.shape[1]} outputs on {where}, {self.C} before")
        if not bool(torch.isfinite(eta).all()):
            raise CompileError(f"the network produced NaN or infinite values on {where}")
        return eta

    def _output_grads(self, eta: torch.Tensor, outs: list[torch.Tensor], rows: torch.Tensor | None,
                      where: str) -> list[torch.Tensor]:
        """``[n, K, ...]``: the gradient of every row ``η^T rows[:, k]`` (each class for ``rows=None``) with respect
        to each saved layer output; one backward per row (measured faster on CPU than
        ``torch.autograd.grad(is_grads_batched=True)``, whose vmapped convolution and pooling backward kernels ran
        5-20x slower on a 1.3M-parameter CNN)."""
        if not outs:
            return []
        n = eta.shape[0]
        K = eta.shape[1] if rows is None else rows.shape[1]
        if any(not o.requires_grad for o in outs):
            raise CompileError("a layer's output does not depend on its parameters through autograd (is the network "
                               "run under torch.no_grad or inference_mode inside its forward?)")
        bufs = [o.new_zeros((n, K) + tuple(o.shape[1:])) for o in outs]  # points first, as the probe keeps them
        for c in range(K):
            row = eta[:, c].sum() if rows is None else (eta @ rows[:, c].to(eta.dtype)).sum()
            gs = torch.autograd.grad(row, outs, retain_graph=c < K - 1, allow_unused=True)
            for buf, g in zip(bufs, gs):
                if g is not None:
                    buf[:, c] = g
        return bufs

    def _affine_data(self, g: AffineGroup, inp: torch.Tensor, grad: torch.Tensor, n: int,
                     K: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``A`` ``[n, T, d_in]`` and ``G`` ``[n, K, T, d_out]`` of one call of an affine layer (``grad`` is
        ``[n, K, *output shape]``; a convolution's ``G`` is a transposed view of a contiguous ``[n, K, d_out, T]``,
        the layout its weight Jacobians ``G^T A`` are multiplied in)."""
        if g.kind == "linear":
            return inp.reshape(n, -1, g.d_in), grad.reshape(n, K, -1, g.d_out)
        m = g.module
        A = F.unfold(inp, m.kernel_size, dilation=m.dilation, padding=m.padding, stride=m.stride)  # [n, d_in, T]
        return A.transpose(1, 2).contiguous(), grad.reshape(n, K, g.d_out, -1).transpose(2, 3)

    def _generic(self, X: torch.Tensor, n: int, K: int, where: str) -> torch.Tensor:
        gen = self.layout.generic
        assert gen is not None
        net = self.network
        params = dict(net.named_parameters())
        free = {name: params[name].detach() for name in gen.names}
        fixed = {k: v.detach() for k, v in params.items() if k not in free}
        buffers = dict(net.named_buffers())

        def f(theta: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            out = torch.func.functional_call(net, ({**fixed, **theta}, buffers), (x.unsqueeze(0),))
            return out.reshape(-1)

        try:
            with eval_mode(net):
                jac = torch.func.vmap(torch.func.jacrev(f), in_dims=(None, 0))(free, X)
        except (RuntimeError, ValueError, TypeError, NotImplementedError) as exc:
            owners = ", ".join(sorted(set(gen.owners)))
            raise CompileError(
                f"unsupported layer: per-point Jacobians of the parameters in {owners} ({', '.join(gen.names[:4])}"
                f"{', ...' if len(gen.names) > 4 else ''}) by torch.func failed on {where}: "
                f"{str(exc).splitlines()[0]}. The whole-network structures read nn.Linear and nn.Conv2d layers "
                "directly and need torch.func for every other parameter: freeze those parameters "
                "(requires_grad_(False)), replace the layer, or use last_layer=True"
            ) from None
        cols = [jac[name].reshape(n, -1, math.prod(s)) for name, s in zip(gen.names, gen.shapes)]
        J = torch.cat(cols, 2)
        if J.shape[1] != K:
            J = J.reshape(n, K, -1)
        return J.to(self.dtype)

    # -- a check that every parameter is used only by its own layer -----------------------------------
    def check_coverage(self, X: torch.Tensor, where: str = "X") -> None:
        """Compare ``sum_n v_n^T J_n`` from the probe with autograd's gradient of ``sum_n v_n^T η_n``.

        Weight tying, or a parameter used outside its own module's forward, would make the per-layer Jacobian
        data miss part of the gradient; this refuses such a network instead of computing a wrong curvature.
        """
        Xs = X[:2]
        pr = self.probe(Xs, where)
        g = torch.Generator().manual_seed(0)
        v = torch.randn(pr.n, pr.K, generator=g, dtype=self.dtype)
        from_probe = torch.einsum("nk,nkp->p", v, pr.jacobian(self.layout))
        params = [p for n, p in self.network.named_parameters() if p.requires_grad]
        with torch.enable_grad(), eval_mode(self.network):
            eta = self.likelihood.natural(self.network(Xs), where)
            grads = torch.autograd.grad((eta * v.to(eta.dtype)).sum(), params, allow_unused=True)
        full = torch.cat([(gr if gr is not None else torch.zeros_like(p)).reshape(-1).to(self.dtype)
                          for gr, p in zip(grads, params)])
        err = (from_probe - full).abs()
        net_dtype = params[0].dtype if params else self.dtype
        tol = 1e-8 if net_dtype == torch.float64 and self.dtype == torch.float64 else 1e-4
        bad = err > tol * (full.abs() + full.abs().max() + 1e-30)
        if bool(bad.any()):
            idx = int(bad.nonzero()[0])
            name = next(n for n, s, o in _offsets(self.layout) if o <= idx < o + math.prod(s))
            raise CompileError(
                f"unsupported layer: the parameter {name!r} gets gradient from outside its own layer's forward "
                "(weight tying, or a parameter used by another module or directly in forward()). The whole-network "
                "structures read each layer's inputs and output gradients, so every parameter must be used by its "
                "own nn.Linear/nn.Conv2d/other module only: untie the weights, freeze that parameter "
                "(requires_grad_(False)), or use last_layer=True"
            )


def _cast(G: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``G.to(dtype)`` keeping a transposed-view layout (a convolution's ``[n, K, d_out, T]`` storage)."""
    if G.dtype == dtype:
        return G
    return G.transpose(2, 3).to(dtype).transpose(2, 3)


def _offsets(layout: Layout) -> list[tuple[str, torch.Size, int]]:
    out, pos = [], 0
    for n, s in zip(layout.names, layout.shapes):
        out.append((n, s, pos))
        pos += math.prod(s)
    return out
