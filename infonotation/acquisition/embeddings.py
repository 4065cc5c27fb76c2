"""Last-layer features, class probabilities, gradient embeddings and Fisher factors of a classifier.

The batch methods of the literature (BADGE, BAIT, PRISM/SIMILAR) work with the last layer of a network
``f(x) = W z(x) + b``: the features ``z = z(x)`` (the input of the last ``nn.Linear``, read by a forward
hook), the predictive ``pi = softmax(W z + b)``, and

* the loss gradient at a label ``y`` with respect to the last layer (R16):
  ``H'[y|x,w*] = vec((pi - e_y) [z; 1]^T) = (pi - e_y) ⊗ [z; 1]``, with ``||H'|| = ||pi - e_y|| ||[z; 1]||`` (T19);
  BADGE uses the hard pseudo-label ``y = argmax pi`` (a biased one-sample Fisher estimate, R13);
* the Fisher information of a point (exact expectation over ``Y``, R14/R16):
  ``H''[Y|x,w*] = (diag(pi) - pi pi^T) ⊗ [z; 1][z; 1]^T = U U^T`` with ``U = L ⊗ [z; 1]`` and
  ``L L^T = diag(pi) - pi pi^T``.

Parameter order (the same as :mod:`infonotation.numeric`'s internal order and
:func:`~infonotation.acquisition.samples.last_layer_gaussian_log_probs`): ``(class c, feature j)`` with index
``c * D1 + j``, where ``D1 = d + 1`` and feature ``d`` is the bias; i.e. ``g.reshape(C, D1) = [dW | db]``.
With ``last_layer=False`` the whole network's per-sample gradients come from ``torch.func`` (parameters in
``named_parameters`` order).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import CompileError
from ..numeric.adapter import ModelAdapter
from ..numeric.factors import Factors
from ..numeric.likelihood import make_likelihood

__all__ = [
    "LastLayerOutputs",
    "classifier_adapter",
    "last_layer_outputs",
    "gradient_embeddings",
    "badge_embeddings",
    "fisher_factors",
    "check_class_labels",
]


@dataclass(frozen=True)
class LastLayerOutputs:
    """What the last layer sees and says for ``n`` points.

    ``features``: ``z`` ``[n, d]`` (no bias column); ``logits`` ``[n, C]``; ``probs`` ``pi = softmax(logits)``
    ``[n, C]``; ``bias``: whether the last layer has a bias (then the embedding uses ``[z; 1]``).
    """

    features: Tensor
    logits: Tensor
    probs: Tensor
    bias: bool

    @property
    def augmented(self) -> Tensor:
        """``[z; 1]`` ``[n, D1]`` (``z`` itself without a bias)."""
        if not self.bias:
            return self.features
        ones = torch.ones(self.features.shape[0], 1, dtype=self.features.dtype, device=self.features.device)
        return torch.cat([self.features, ones], 1)


def classifier_adapter(
    network: nn.Module, last_layer: bool | str | nn.Linear = True, dtype: torch.dtype = torch.float64
) -> ModelAdapter:
    """The numeric layer's view of ``network`` as a categorical classifier (logits from its last ``nn.Linear``)."""
    return ModelAdapter(network, make_likelihood("categorical", None), last_layer, dtype)


def last_layer_outputs(
    network: nn.Module | ModelAdapter, X: Tensor, *, last_layer: bool | str | nn.Linear = True
) -> LastLayerOutputs:
    """Features, logits and probabilities of the last linear layer for the inputs ``X`` (float64).

    The network runs once, in evaluation mode and without gradients; its output must be the last layer's
    logits (or their log-softmax). Raises :class:`CompileError` otherwise.
    """
    ad = network if isinstance(network, ModelAdapter) else classifier_adapter(network, last_layer)
    if not ad.last_layer:
        raise CompileError("last_layer_outputs needs the last layer (last_layer=True, a name or an nn.Linear)")
    eta, z = ad.forward(X, "X")
    assert z is not None
    feats = z[:, : ad.d]
    return LastLayerOutputs(feats, eta, torch.softmax(eta, dim=-1), ad.has_bias)


def check_class_labels(y: object, n: int, c: int, where: str = "y_pool") -> Tensor:
    """``y`` as a ``LongTensor[n]`` of class indices in ``[0, c)`` (:class:`CompileError` otherwise)."""
    if not isinstance(y, Tensor):
        raise CompileError(f"{where} must be a torch.Tensor of class indices, got {type(y).__name__}")
    if y.shape != (n,):
        raise CompileError(f"{where} must have shape [{n}] (one label per point), got {list(y.shape)}")
    if y.is_floating_point() or y.is_complex():
        if not bool(torch.isfinite(y).all()) or not bool((y == y.round()).all()):
            raise CompileError(f"{where} must hold whole class indices")
    elif y.dtype == torch.bool:
        raise CompileError(f"{where} must hold class indices, got a boolean tensor")
    if n and (int(y.min()) < 0 or int(y.max()) >= c):
        raise CompileError(f"{where}: class labels must lie in [0, {c - 1}], got [{int(y.min())}, {int(y.max())}]")
    return y.long()


def gradient_embeddings(probs: Tensor, features: Tensor, labels: Tensor | None = None, *, bias: bool = True) -> Tensor:
    """``H'[y|x,w*] = (pi - e_y) ⊗ [z; 1]`` for every point: the last-layer loss gradient, ``[n, C * D1]``.

    ``probs`` ``pi`` ``[n, C]``, ``features`` ``z`` ``[n, d]``; ``labels`` ``y`` ``[n]`` or ``None`` for BADGE's hard
    pseudo-labels ``y = argmax pi``. The gradient of ``-log softmax(W z + b)_y`` with respect to ``W`` is
    ``(pi - e_y) z^T`` and with respect to ``b`` is ``pi - e_y`` (R16); row ``i`` is their row-major
    concatenation ``[dW | db].flatten()``.
    """
    if not (isinstance(probs, Tensor) and isinstance(features, Tensor)) or probs.dim() != 2 or features.dim() != 2:
        raise CompileError("probs must be [n, C] and features [n, d] tensors")
    if probs.shape[0] != features.shape[0]:
        raise CompileError(f"probs has {probs.shape[0]} rows but features has {features.shape[0]}")
    n, c = probs.shape
    y = probs.argmax(-1) if labels is None else check_class_labels(labels, n, c, "labels")
    err = probs - nn.functional.one_hot(y.to(probs.device), c).to(probs.dtype)
    z = features.to(probs.dtype)
    if bias:
        z = torch.cat([z, torch.ones(n, 1, dtype=z.dtype, device=z.device)], 1)
    return (err.unsqueeze(-1) * z.unsqueeze(-2)).reshape(n, -1)


def badge_embeddings(
    network: nn.Module | ModelAdapter,
    X: Tensor,
    labels: Tensor | None = None,
    *,
    last_layer: bool | str | nn.Linear = True,
) -> Tensor:
    """BADGE's gradient embeddings ``g_i = H'[y_i|x_i,w*]`` at hard pseudo-labels (or the given ``labels``).

    Last layer (default): :func:`gradient_embeddings` of the network's features and probabilities. With
    ``last_layer=False``: the whole network's per-sample gradient of ``-log p(y|x,w)`` (``torch.func``), at
    ``y = argmax p(y|x,w*)`` unless ``labels`` are given. Returns ``[n, P]`` float64.
    """
    ad = network if isinstance(network, ModelAdapter) else classifier_adapter(network, last_layer)
    if ad.last_layer:
        out = last_layer_outputs(ad, X)
        return gradient_embeddings(out.probs, out.features, labels, bias=out.bias)
    eta, _ = ad.forward(X, "X")
    y = eta.argmax(-1) if labels is None else check_class_labels(labels, eta.shape[0], eta.shape[1], "labels")
    return ad.gradients(X, y, "X")


def fisher_factors(
    network: nn.Module | ModelAdapter, X: Tensor, *, last_layer: bool | str | nn.Linear = True
) -> Factors:
    """Per-point Fisher factors ``U_i`` with ``H''[Y|x_i,w*] = U_i U_i^T`` (``P x C`` each, R14/R16).

    Last layer: ``U_i = L_i ⊗ [z_i; 1]`` kept in Kronecker form (no ``P x P`` matrix per point); whole network:
    ``U_i = J_i^T L_i`` from per-sample Jacobians.
    """
    ad = network if isinstance(network, ModelAdapter) else classifier_adapter(network, last_layer)
    return ad.factors(X, "X")
