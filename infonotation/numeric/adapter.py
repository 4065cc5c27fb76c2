"""Model adapters: a user's ``torch.nn.Module`` seen as ``η = f(x; w)`` with ``w`` the whole network or its last layer.

* Last layer (``last_layer=True``, a module name, or the ``nn.Linear`` itself): ``w = (weight, bias)`` of the last
  ``nn.Linear``; its input features ``z`` are read by a forward hook. The model is then a GLM in ``w`` (R16):
  the Jacobian is ``Id_C ⊗ [z; 1]^T`` and the Fisher information of a point is ``Λ ⊗ [z;1][z;1]^T``.
  Internally the parameters are ordered ``(class c, feature j)`` (bias as feature ``d``); the public order is
  ``[weight.flatten(), bias]`` and :meth:`ModelAdapter.to_public` converts.
* Whole network (``last_layer=False``): ``w`` is every parameter that requires grad, in ``named_parameters``
  order; per-sample Jacobians and Hessians come from ``torch.func`` (``vmap`` of ``jacrev``/``hessian`` around
  ``functional_call``), never from a Python loop over samples.

The network runs in evaluation mode (dropout off); its train/eval flags are restored afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..errors import CompileError
from .factors import DenseFactors, Factors, KronFactors
from .likelihood import Likelihood

__all__ = ["ModelAdapter", "find_last_linear", "training_mode_note"]

#: Largest number of entries of a per-chunk ``n x P x P`` tensor built by the exact-Hessian path.
HESSIAN_BUDGET = 2**24


@contextmanager
def eval_mode(network: nn.Module) -> Iterator[None]:
    modes = [(m, m.training) for m in network.modules()]
    network.eval()
    try:
        yield
    finally:
        for m, flag in modes:
            m.training = flag


_MODE_MODULES = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._NormBase)


def training_mode_note(network: object) -> str | None:
    """A sentence naming the dropout/BatchNorm modules of ``network`` left in training mode, or None."""
    nets = network if isinstance(network, (list, tuple)) else [network]
    found = sorted({type(m).__name__ for net in nets if isinstance(net, nn.Module) for m in net.modules()
                    if isinstance(m, _MODE_MODULES) and m.training})
    if not found:
        return None
    return f"the network is in training mode and has {', '.join(found)} modules"


def find_last_linear(network: nn.Module) -> tuple[str, nn.Linear]:
    """The last ``nn.Linear`` in registration order (what ``last_layer=True`` uses)."""
    found = [(name, m) for name, m in network.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise CompileError(
            f"last_layer=True looks for the last nn.Linear, but {type(network).__name__} has none; name the "
            "layer (last_layer='name') or use last_layer=False for the whole network"
        )
    return found[-1]


class ModelAdapter:
    """``network`` under ``likelihood`` with parameters ``last_layer`` (True, False, a name or an ``nn.Linear``)."""

    def __init__(
        self,
        network: nn.Module,
        likelihood: Likelihood,
        last_layer: bool | str | nn.Linear = True,
        dtype: torch.dtype = torch.float64,
    ):
        if not isinstance(network, nn.Module):
            raise CompileError(f"network must be a torch.nn.Module, got {type(network).__name__}")
        if dtype not in (torch.float64, torch.float32):
            raise CompileError(f"dtype must be torch.float64 or torch.float32, got {dtype}")
        self.network, self.likelihood, self.dtype = network, likelihood, dtype
        params = [p for p in network.parameters()]
        if not params:
            raise CompileError(f"{type(network).__name__} has no parameters to take the Fisher information of")
        for name, p in network.named_parameters():
            if not torch.isfinite(p).all():
                raise CompileError(f"parameter {name!r} of {type(network).__name__} holds NaN or infinite values")
        self._versions = self._param_versions()
        self.net_dtype = params[0].dtype
        self.device = params[0].device
        self.last_layer = last_layer is not False
        if self.last_layer:
            if last_layer is True:
                self.layer_name, self.layer = find_last_linear(network)
            elif isinstance(last_layer, str):
                try:
                    layer = network.get_submodule(last_layer)
                except AttributeError:
                    name = type(network).__name__
                    raise CompileError(f"last_layer={last_layer!r}: {name} has no such module") from None
                if not isinstance(layer, nn.Linear):
                    raise CompileError(
                        f"last_layer={last_layer!r} is a {type(layer).__name__}, not an nn.Linear; the last-layer "
                        "closed forms need a linear layer (or use last_layer=False)"
                    )
                self.layer_name, self.layer = last_layer, layer
            elif isinstance(last_layer, nn.Linear):
                names = [n for n, m in network.named_modules() if m is last_layer]
                if not names:
                    raise CompileError("last_layer is an nn.Linear that is not part of the network")
                self.layer_name, self.layer = names[0], last_layer
            else:
                raise CompileError(
                    f"last_layer must be True, False, a module name or an nn.Linear, got {type(last_layer).__name__}"
                )
            self.C = self.layer.out_features
            self.d = self.layer.in_features
            self.has_bias = self.layer.bias is not None
            self.D1 = self.d + int(self.has_bias)
            self.P = self.C * self.D1
            W = self.layer.weight.detach().to(dtype)
            self.Wt = torch.cat([W, self.layer.bias.detach().to(dtype)[:, None]], 1) if self.has_bias else W
        else:
            self.layer_name, self.layer = "", None
            self.names = [n for n, p in network.named_parameters() if p.requires_grad]
            if not self.names:
                raise CompileError(f"no parameter of {type(network).__name__} requires grad")
            named = dict(network.named_parameters())
            self.shapes = [named[n].shape for n in self.names]
            self.numels = [named[n].numel() for n in self.names]
            self.theta = torch.cat([named[n].detach().reshape(-1) for n in self.names])
            self.buffers = dict(network.named_buffers())
            self.P = int(self.theta.numel())
            self.C = -1  # known after the first forward pass

    def _param_versions(self) -> tuple[tuple[int, int], ...]:
        return tuple((id(p), p._version) for p in self.network.parameters())

    def __getstate__(self) -> dict:
        """Pickling (the Ray engine ships compiled plans to its workers): parameter identities and version counters
        mean nothing in another process, so the state says only whether the parameters had changed since compile."""
        state = self.__dict__.copy()
        state["_versions"] = None if self._param_versions() == self._versions else "changed"
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self._versions is None:  # unchanged when pickled: the unpickled parameters are the reference
            self._versions = self._param_versions()

    def check_unchanged(self) -> None:
        """Raise if the network's parameters changed (in place) since this adapter was built."""
        if self._param_versions() != self._versions:
            raise CompileError(
                f"the parameters of {type(self.network).__name__} changed since compile (e.g. by training); "
                "call compile again (it is cached on the parameters' versions, so this is cheap when nothing changed)"
            )

    # -- description ------------------------------------------------------------------------------
    def describe(self) -> str:
        if self.last_layer:
            return f"last layer {self.layer_name!r} ({self.C}x{self.d}{' + bias' if self.has_bias else ''}, P={self.P})"
        return f"whole network ({len(self.names)} tensors, P={self.P})"

    def parameter_order(self) -> torch.Tensor:
        """``perm`` with ``internal[i] = public[perm[i]]`` (identity for the whole network)."""
        if not self.last_layer:
            return torch.arange(self.P)
        c = torch.arange(self.C).repeat_interleave(self.D1)
        j = torch.arange(self.D1).repeat(self.C)
        perm = c * self.d + j
        if self.has_bias:
            perm = torch.where(j == self.d, self.C * self.d + c, perm)
        return perm

    def to_public(self, M: torch.Tensor, dims: tuple[int, ...] = (-1,)) -> torch.Tensor:
        """Reorder parameter axes ``dims`` of ``M`` from the internal to the public order."""
        if not self.last_layer:
            return M
        inv = torch.argsort(self.parameter_order()).to(M.device)
        for d in dims:
            M = M.index_select(d, inv)
        return M

    def from_public(self, M: torch.Tensor, dims: tuple[int, ...] = (-1,)) -> torch.Tensor:
        if not self.last_layer:
            return M
        perm = self.parameter_order().to(M.device)
        for d in dims:
            M = M.index_select(d, perm)
        return M

    # -- forward ------------------------------------------------------------------------------------
    def _inputs(self, X: object, where: str) -> torch.Tensor:
        if not isinstance(X, torch.Tensor):
            raise CompileError(f"{where} must be a torch.Tensor, got {type(X).__name__}")
        if X.dim() == 0:
            raise CompileError(f"{where} must have a leading dimension of points, got a scalar")
        if X.is_floating_point():
            if not bool(torch.isfinite(X).all()):
                bad = (~torch.isfinite(X.reshape(X.shape[0], -1))).any(1).nonzero()[:5].flatten().tolist()
                raise CompileError(f"{where} holds NaN or infinite values (rows {bad}...)")
            X = X.to(device=self.device, dtype=self.net_dtype)
        return X

    def _run(self, X: torch.Tensor, where: str) -> torch.Tensor:
        try:
            with torch.no_grad(), eval_mode(self.network):
                return self.network(X)
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise CompileError(
                f"running {type(self.network).__name__} on {where} (shape {list(X.shape)}) failed: "
                f"{str(exc).splitlines()[0]}; check that the inputs have the shape and dtype the network expects"
            ) from None

    def forward(self, X: object, where: str = "X") -> tuple[torch.Tensor, torch.Tensor | None]:
        """Natural parameters ``η`` ``[n, C]`` and (last layer) bias-augmented features ``z`` ``[n, D1]``."""
        X = self._inputs(X, where)
        self.check_unchanged()
        if not self.last_layer:
            out = self._run(X, where)
            if not isinstance(out, torch.Tensor):
                raise CompileError(f"{type(self.network).__name__} returned {type(out).__name__}, not a tensor")
            eta = self.likelihood.natural(out, f"{type(self.network).__name__} on {where}")
            if self.C == -1:
                self.C = eta.shape[1]
            elif eta.shape[1] != self.C:
                raise CompileError(f"the network returned {eta.shape[1]} outputs on {where}, {self.C} before")
            self._check_finite(eta, where)
            return eta.to(self.dtype), None
        seen: dict[str, torch.Tensor] = {}

        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            seen["z"], seen["out"] = inputs[0], output

        handle = self.layer.register_forward_hook(hook)
        try:
            out = self._run(X, where)
        finally:
            handle.remove()
        if "z" not in seen:
            raise CompileError(
                f"the last layer {self.layer_name!r} was not called when running the network on {where}; name the "
                "layer that produces the outputs with last_layer='name'"
            )
        z, lin = seen["z"], seen["out"]
        if z.dim() != 2 or z.shape[0] != X.shape[0]:
            raise CompileError(
                f"the last layer {self.layer_name!r} received features of shape {list(z.shape)}; the last-layer "
                "closed forms need one feature vector per point ([N, d]); use last_layer=False"
            )
        self._check_output(out, lin, where)
        self._check_finite(z, f"the features of {where}")
        z = z.to(self.dtype)
        if self.has_bias:
            z = torch.cat([z, torch.ones(z.shape[0], 1, dtype=self.dtype, device=z.device)], 1)
        eta = self.likelihood.natural(z @ self.Wt.mT, f"the last layer {self.layer_name!r} on {where}")
        return eta, z

    def _check_output(self, out: object, lin: torch.Tensor, where: str) -> None:
        if not isinstance(out, torch.Tensor):
            raise CompileError(f"{type(self.network).__name__} returned {type(out).__name__}, not a tensor")
        ok = out.shape == lin.shape and torch.allclose(out, lin)
        if not ok and out.numel() == lin.numel() and self.likelihood.name != "categorical":
            ok = torch.allclose(out.reshape(lin.shape), lin)
        if not ok and self.likelihood.name == "categorical" and out.shape == lin.shape:
            ok = torch.allclose(out, torch.log_softmax(lin, -1), atol=1e-5)
        if not ok:
            raise CompileError(
                f"the network's output on {where} is not the output of its last nn.Linear {self.layer_name!r} "
                f"(nor its log-softmax): something after that layer transforms it. The last-layer closed forms "
                "need the logits/means to come straight from that layer: name the right layer with "
                "last_layer='name', drop the trailing transform, or use last_layer=False"
            )

    def _check_finite(self, t: torch.Tensor, where: str) -> None:
        if not bool(torch.isfinite(t).all()):
            raise CompileError(f"the network produced NaN or infinite values on {where}")

    # -- curvature ----------------------------------------------------------------------------------
    def factors(self, X: object, where: str = "X") -> Factors:
        """Fisher factors ``U_i`` (``F_i = U_i U_i^T``) of the points in ``X``."""
        eta, z = self.forward(X, where)
        L = self.likelihood.factor(eta)
        if self.last_layer:
            return KronFactors(z, L)
        J = self.jacobian(X, where)
        return DenseFactors(J.mT @ L)

    def _functional(self) -> tuple[object, torch.Tensor]:
        names, shapes, numels = self.names, self.shapes, self.numels
        network, buffers = self.network, self.buffers

        def f(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            parts = torch.split(theta, numels)
            params = {n: p.reshape(s) for n, p, s in zip(names, parts, shapes)}
            params.update(buffers)
            out = torch.func.functional_call(network, params, (x.unsqueeze(0),))
            return out.reshape(-1)

        return f, self.theta

    def jacobian(self, X: object, where: str = "X") -> torch.Tensor:
        """``[n, C, P]``: ``d η / d w`` per point (whole network: ``vmap(jacrev)``; last layer: closed form)."""
        if self.last_layer:
            eta, z = self.forward(X, where)
            eye = torch.eye(self.C, dtype=self.dtype, device=z.device)
            return torch.einsum("ca,nj->ncaj", eye, z).reshape(z.shape[0], self.C, self.P)
        X = self._inputs(X, where)
        if self.C == -1:
            self.forward(X[:1], where)
        f, theta = self._functional()
        try:
            with eval_mode(self.network):
                J = torch.func.vmap(torch.func.jacrev(f), in_dims=(None, 0))(theta, X)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise CompileError(
                f"per-sample Jacobians of {type(self.network).__name__} with torch.func failed: "
                f"{str(exc).splitlines()[0]}; use last_layer=True, or a network torch.func.vmap supports"
            ) from None
        return J.reshape(X.shape[0], self.C, self.P).to(self.dtype)

    def gradients(self, X: object, y: object, where: str = "X") -> torch.Tensor:
        """``H'[y|x,w*]`` per point, ``[n, P]`` (internal order): the gradient of ``-log p(y|x,w)`` at ``w*``."""
        eta, z = self.forward(X, where)
        y = self.likelihood.labels(y, eta.shape[0], eta.shape[1], f"labels of {where}")
        g = self.likelihood.nll_grad(eta, y.to(eta.device))
        if self.last_layer:
            return (g.unsqueeze(-1) * z.unsqueeze(-2)).reshape(eta.shape[0], self.P)
        return (g.unsqueeze(1) @ self.jacobian(X, where)).squeeze(1)

    def observed_information(self, X: object, y: object, where: str = "X") -> torch.Tensor:
        """``H''[y|x,w*]`` per point, ``[n, P, P]`` (internal order).

        Last layer: equal to the Fisher information for every label (the model is a GLM with canonical link,
        R14). Whole network: the exact Hessian of ``-log p(y|x,w)`` by ``vmap(hessian)``.
        """
        eta, z = self.forward(X, where)
        y = self.likelihood.labels(y, eta.shape[0], eta.shape[1], f"labels of {where}")
        if self.last_layer:
            U = KronFactors(z, self.likelihood.factor(eta)).dense()
            return U @ U.mT
        if self.P * self.P > HESSIAN_BUDGET:
            raise CompileError(
                f"the exact observed information of {self.P} parameters needs {self.P}x{self.P} per point; too large. "
                "Add 'ggn' to using (Fisher for the observed information) or use last_layer=True"
            )
        X = self._inputs(X, where)
        f, theta = self._functional()
        head = self.likelihood

        def nll(th: torch.Tensor, x: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
            return head.nll(f(th, x).unsqueeze(0), yy.unsqueeze(0)).sum()

        per = max(1, HESSIAN_BUDGET // (self.P * self.P))
        out = []
        try:
            with eval_mode(self.network):
                for s in range(0, X.shape[0], per):
                    hess = torch.func.vmap(torch.func.hessian(nll), in_dims=(None, 0, 0))
                    out.append(hess(theta, X[s : s + per], y[s : s + per].to(X.device)).to(self.dtype))
        except (RuntimeError, ValueError, TypeError) as exc:
            raise CompileError(
                f"per-sample Hessians of {type(self.network).__name__} with torch.func failed: "
                f"{str(exc).splitlines()[0]}; add 'ggn' to using or use last_layer=True"
            ) from None
        H = torch.cat(out) if out else torch.zeros(0, self.P, self.P, dtype=self.dtype)
        return 0.5 * (H + H.mT)
