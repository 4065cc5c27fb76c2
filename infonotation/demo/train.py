"""The demo's model: a small MLP with dropout, trained full-batch and deterministically."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["make_mlp", "train_mlp", "make_cnn", "train_cnn", "accuracy"]


def make_mlp(seed: int, hidden: int = 128, dropout: float = 0.5) -> nn.Module:
    """64 -> hidden -> ReLU -> Dropout -> 10 (logits); the last layer has 10 * (hidden + 1) parameters."""
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 10)).double()
    with torch.no_grad():
        for p in net.parameters():  # a seeded initialisation independent of the global RNG
            bound = 1.0 / (p.shape[-1] ** 0.5) if p.dim() > 1 else 0.1
            p.copy_(torch.empty_like(p).uniform_(-bound, bound, generator=g))
    return net


def train_mlp(X: torch.Tensor, y: torch.Tensor, seed: int, epochs: int = 300, weight_decay: float = 1e-3,
              hidden: int = 128) -> nn.Module:
    """Train from scratch with Adam on the whole (small) labelled set; deterministic for a seed.

    Runs on one thread: the matrices are tiny, and thread hand-offs would cost more than they save.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(X, y, seed, epochs, weight_decay, hidden)
    finally:
        torch.set_num_threads(threads)


def _train(X: torch.Tensor, y: torch.Tensor, seed: int, epochs: int, weight_decay: float, hidden: int) -> nn.Module:
    net = make_mlp(seed, hidden)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed + 1)
    net.train()
    for _ in range(epochs):
        opt.zero_grad()
        # dropout masks from a seeded generator, so that training is reproducible
        h = torch.relu(net[0](X))
        mask = (torch.rand(h.shape, generator=gen, dtype=h.dtype) > net[2].p).to(h.dtype) / (1 - net[2].p)
        loss = nn.functional.cross_entropy(net[3](h * mask), y)
        loss.backward()
        opt.step()
    net.eval()
    return net


def make_cnn(seed: int, dropout: float = 0.5) -> nn.Module:
    """A small CNN for the 1 x 8 x 8 digits: conv 8 -> pool -> conv 16 -> pool -> 64 -> 32 -> dropout -> 10
    (3,658 parameters, every one of them in an nn.Conv2d or nn.Linear)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(64, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, 10),
    ).double()


def train_cnn(X: torch.Tensor, y: torch.Tensor, seed: int, epochs: int = 200, weight_decay: float = 1e-3) -> nn.Module:
    """Train :func:`make_cnn` full-batch with Adam on ``X`` ``[n, 1, 8, 8]``; deterministic for a seed (one thread,
    dropout masks from a forked, seeded generator)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net = make_cnn(seed)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=weight_decay)
        with torch.random.fork_rng():
            torch.manual_seed(seed + 1)
            net.train()
            for _ in range(epochs):
                opt.zero_grad()
                nn.functional.cross_entropy(net(X), y).backward()
                opt.step()
        return net.eval()
    finally:
        torch.set_num_threads(threads)


def accuracy(net: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((net(X).argmax(-1) == y).double().mean())
