"""The demo's active-learning loop: start from a few labels, acquire a batch per round, retrain, test."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import torch

from .data import Digits, load_digits_split
from .train import accuracy, train_mlp

__all__ = ["run_loop"]


def run_loop(methods: Sequence[str], seeds: Sequence[int], *, initial: int, per_round: int, rounds: int,
             n_pool: int, n_test: int, epochs: int, num_samples: int, prior_precision: float,
             progress: Callable[[str], None] | None = None) -> dict[str, dict]:
    """Test accuracy against the number of labels, for each method and seed.

    Every method starts from the same initial labels for a seed; the network is retrained from scratch
    after each acquisition (same initialisation seed), so curves differ only through what was acquired.
    """
    from tqdm.auto import tqdm

    from ..acquisition.methods import methods as registry

    out: dict[str, dict] = {m: {"labels": [], "accuracy": []} for m in methods}
    bar = tqdm(total=len(seeds) * len(methods) * rounds, desc="active learning", unit="round", leave=False)
    for seed in seeds:
        data: Digits = load_digits_split(seed, initial, n_pool, n_test)
        X, y = data.X, data.y
        X_eval = X[data.eval]
        for name in methods:
            method = registry[name]
            labelled = data.train.clone()
            pool = data.pool.clone()
            labels, accs = [], []
            for r in range(rounds + 1):
                net = train_mlp(X[labelled], y[labelled], seed=seed, epochs=epochs)
                labels.append(int(labelled.numel()))
                accs.append(accuracy(net, X[data.test], y[data.test]))
                if r == rounds:
                    break
                bar.set_postfix_str(f"{name}, seed {seed}")
                bar.update(1)
                acq = method.compile(net, train=(X[labelled], y[labelled]), eval=X_eval, num_samples=num_samples,
                                     seed=seed * 1000 + r, prior_precision=prior_precision)
                y_pool = y[pool] if method.labels else None
                picked = acq.select(X[pool], per_round, y_pool=y_pool, progress=False).indices
                chosen = pool[picked]
                keep = torch.ones(pool.numel(), dtype=torch.bool)
                keep[picked] = False
                labelled = torch.cat([labelled, chosen])
                pool = pool[keep]
            out[name]["labels"] = labels
            out[name]["accuracy"].append(accs)
            if progress is not None:
                with tqdm.external_write_mode(file=sys.stderr):  # above the bar, not over it
                    progress(f"{name} seed {seed}: {accs[0]:.3f} -> {accs[-1]:.3f}")
    bar.close()
    return out
