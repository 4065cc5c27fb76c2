"""The demo's data: scikit-learn's bundled handwritten digits (1,797 8x8 images, 10 classes; no download)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import NotationError

__all__ = ["Digits", "load_digits_split"]


@dataclass(frozen=True)
class Digits:
    """Disjoint index sets into ``X`` (``[1797, 64]`` in [0, 1], float64) and ``y`` (``[1797]`` int64)."""

    X: torch.Tensor
    y: torch.Tensor
    train: torch.Tensor
    pool: torch.Tensor
    eval: torch.Tensor
    test: torch.Tensor


def load_digits_split(seed: int, n_train: int, n_pool: int, n_test: int) -> Digits:
    """Shuffle the digits with ``seed`` and split them into train / pool / test; the rest is the eval set.

    The initial training set is class-balanced where possible (one label of each class first).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - dev and demo extras install it
        raise NotationError("the demo needs scikit-learn: pip install 'infonotation[demo]'") from err
    data = load_digits()
    X = torch.tensor(data.data / 16.0, dtype=torch.float64)
    y = torch.tensor(data.target, dtype=torch.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    test = order[:n_test]
    rest = order[n_test:]
    first = [int(rest[np.flatnonzero(y.numpy()[rest] == c)[0]]) for c in range(10)]
    others = [int(i) for i in rest if int(i) not in set(first)]
    train = (first + others)[:n_train]
    remaining = [i for i in others if i not in set(train)]
    pool = remaining[:n_pool]
    eval_ = remaining[n_pool:]
    if len(pool) < n_pool or not eval_:
        raise NotationError(f"digits has {len(y)} images: too few for train {n_train}, pool {n_pool}, test {n_test}")
    idx = [torch.tensor(list(v), dtype=torch.int64) for v in (train, pool, eval_, test)]
    return Digits(X, y, *idx)
