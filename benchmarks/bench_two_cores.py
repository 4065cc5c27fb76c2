"""Two-core benchmark: the acquisition cases of a busy laptop, quiet and with a second process burning a core.

    .venv/bin/python benchmarks/bench_two_cores.py [--quick] [--only NAME ...]

Every case runs twice in one process: on a quiet machine, and while a CPU-burning subprocess (a pure-Python loop,
one core) runs beside it, as a training job next to the acquisition would. Gates (2 cores):

1. ``compile``: ``inf.compile("I[W;Y|x]", cnn, train=...)`` with a 2,570-parameter last layer (256 -> 10) and 500
   training points: <= 1 s (1,000 points printed too). Baseline in the same run: the explicit inverse
   ``torch.cholesky_inverse`` on torch's default threads (what the compiler did before; the library now forms
   ``Σ`` on one thread, see ``infonotation/threads.py``).
2. ``bait``: ``inf.methods.bait`` k = 10 on 5,000 pool points (same CNN, 500 eval points): the selection <= 5 s.
   The compile (once per trained network; it forms ``H''[w*|D]``, ``F_eval``, ``Σ_0 = H^-1`` and their layouts, which
   no pool changes) is printed beside it, and the two together.
3. ``batchbald_full``: BatchBALD with k equal to a 300-point pool, posterior samples (K = 20 MC-dropout masks) of
   a trained digits network: <= 10 s.
4. ``batchbald_peer``: BatchBALD b = 10 on 2,000 x 20 x 10 MC-dropout samples of a trained digits network against
   batchbald-redux's ``get_batchbald_batch`` (10,000 configurations) in the same run: >= 20x, same picks.
5. ``bald``: BALD on 10,000 x 20 x 10 (float32) with its input validation against the bare formula: <= 1.2x.

The peer is optional: ``.venv/bin/pip install --no-deps batchbald-redux toma psutil`` (with its dependencies
pip would replace the CPU build of torch by a CUDA one; the peer needs none of them for ``get_batchbald_batch``).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import infonotation as inf  # noqa: E402
from infonotation.acquisition import bald, batchbald, mc_dropout_log_probs  # noqa: E402
from infonotation.acquisition.samples import validate_log_probs  # noqa: E402

try:
    from batchbald_redux.batchbald import get_batchbald_batch
except ImportError:  # pragma: no cover - the peer is optional
    get_batchbald_batch = None

BURN = "import time\nt = time.time()\nx = 0\nwhile time.time() - t < {s}:\n    x += 1\n"


class Busy:
    """A subprocess burning one core for the duration of the block."""

    def __init__(self, on: bool, seconds: float = 600.0):
        self.on, self.seconds, self.proc = on, seconds, None

    def __enter__(self) -> Busy:
        if self.on:
            self.proc = subprocess.Popen([sys.executable, "-c", BURN.format(s=self.seconds)])
            time.sleep(0.3)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


# ---------------------------------------------------------------------------------------------------------
# models


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return torch.tensor(X / 16.0, dtype=torch.float32), torch.tensor(y)


def cnn() -> nn.Module:
    """A small CNN on 8x8 digits whose last layer is 256 -> 10 (2,570 parameters)."""
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 16, 256), nn.ReLU(), nn.Linear(256, 10),
    )


def dropout_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))


def train(net: nn.Module, X: torch.Tensor, y: torch.Tensor, epochs: int = 100) -> nn.Module:
    """Deterministic: seeded, on one thread (float32 sums in another order would give another network)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(net, X, y, epochs)
    finally:
        torch.set_num_threads(threads)


def _train(net: nn.Module, X: torch.Tensor, y: torch.Tensor, epochs: int) -> nn.Module:
    torch.manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    net.train()
    for _ in range(epochs):
        opt.zero_grad()
        nn.functional.cross_entropy(net(X), y).backward()
        opt.step()
    return net.eval()


def pool(X: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, X.shape[0], (n,), generator=g)
    return (X[idx] + 0.05 * torch.randn(n, X.shape[1], generator=g)).clamp(0, 1)


# ---------------------------------------------------------------------------------------------------------
# cases: each returns lines to print and (measured, gate, ok)


def case_compile(ctx: dict, repeats: int) -> tuple[str, bool]:
    net, X, y = ctx["cnn"], ctx["X"], ctx["y"]

    def run(n: int) -> object:
        inf.numeric.clear_cache()
        return inf.compile("I[W;Y|x]", net, train=(X[:n], y[:n]), progress=False)

    run(500)  # warm-up: the parser builds its grammar on the first use in a process
    t, acq = timed(lambda: run(500), repeats)
    t_1000, _ = timed(lambda: run(1000), 1)
    R = acq.runtime.fixed_matrices()[0].R
    threads = torch.get_num_threads()
    t_inv, _ = timed(lambda: torch.cholesky_inverse(R), 1)  # the old explicit inverse on the default threads
    ok = t <= 1.0
    return (f"compile, last layer P = {acq.adapter.P}, 500 training points: {t:.3f} s (gate <= 1 s: "
            f"{'PASS' if ok else 'FAIL'}); with 1,000 training points {t_1000:.3f} s; baseline: "
            f"torch.cholesky_inverse on {threads} threads alone {t_inv:.3f} s"), ok


def case_bait(ctx: dict, repeats: int) -> tuple[str, bool]:
    net, X, y = ctx["cnn"], ctx["X"], ctx["y"]
    def build() -> object:
        return inf.methods.bait.compile(net, train=(X[:1000], y[:1000]), eval=X[1000:1500])

    build()  # warm-up: first-call costs of the process (allocator, lazy imports)
    t_compile, acq = timed(build, repeats)
    Xp = pool(X, 5000, 1)
    acq.select(Xp[:50], 2, progress=False)  # warm-up
    t, sel = timed(lambda: acq.select(Xp, 10, progress=False), repeats)
    ok = t <= 5.0
    return (f"BAIT k = 10 on 5,000 points (P = 2,570): select {t:.2f} s (gate <= 5 s: {'PASS' if ok else 'FAIL'}); "
            f"compile {t_compile:.2f} s (once per trained network: H''[w*|D] from 1,000 training points, F_eval from "
            f"500 eval points, Sigma_0 = H^-1 and its layouts); both {t + t_compile:.2f} s"), ok


def case_batchbald_full(ctx: dict, repeats: int) -> tuple[str, bool]:
    lp = ctx["lp300"]
    t, res = timed(lambda: batchbald(lp, lp.shape[0]), repeats)
    ok = t <= 10.0
    return (f"BatchBALD k = N = 300 (300 x 20 x 10 MC-dropout samples of a trained digits MLP): {t:.2f} s "
            f"(gate <= 10 s: {'PASS' if ok else 'FAIL'}); joint score of the whole pool {float(res.scores[-1]):.4f} "
            f"<= log K = {torch.log(torch.tensor(20.0)):.4f}"), ok


def case_batchbald_peer(ctx: dict, repeats: int) -> tuple[str, bool]:
    lp = ctx["lp2000"]
    if get_batchbald_batch is None:
        return ("BatchBALD vs batchbald-redux: peer not installed (pip install --no-deps batchbald-redux toma "
                "psutil)"), True
    t_peer, t_ours = [], []
    for _ in range(repeats):  # interleaved, so that load hits both alike
        t0 = time.perf_counter()
        peer = get_batchbald_batch(lp, 10, 10_000, dtype=torch.double)
        t_peer.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours = batchbald(lp, 10)
        t_ours.append(time.perf_counter() - t0)
    tp, to = statistics.median(t_peer), statistics.median(t_ours)
    mine, theirs = ours.indices.tolist(), [int(i) for i in peer.indices]
    # both enumerate every label configuration while C^(picks so far) <= 10,000: the first 5 picks are exact in
    # both and must agree; later picks come from sampled configurations (the peer's unseeded), so they are noise
    same = mine[:5] == theirs[:5]
    ok = tp / to >= 20 and same
    return (f"BatchBALD b = 10 on 2,000 x 20 x 10 (trained digits MLP, MC dropout): ours {to:.3f} s, "
            f"batchbald-redux {tp:.2f} s: {tp / to:.1f}x (gate >= 20x), same exact picks (first 5): {same}, "
            f"sampled picks in common {len(set(mine[5:]) & set(theirs[5:]))} of 5 -> {'PASS' if ok else 'FAIL'}"
            f"\n    ours {mine}\n    peer {theirs}"
            f"\n    ours prefix scores (fresh configurations once sampled) {[round(float(x), 5) for x in ours.scores]}"
            f"; log K = {math.log(lp.shape[1]):.5f}"), ok


def case_bald(ctx: dict, repeats: int) -> tuple[str, bool]:
    g = torch.Generator().manual_seed(0)
    logits = 3.0 * torch.randn(10_000, 1, 10, generator=g) + torch.randn(10_000, 20, 10, generator=g)
    lp = torch.log_softmax(logits, -1)

    def bare() -> torch.Tensor:
        p = lp.exp()
        m = p.mean(1)
        return -torch.special.xlogy(m, m).sum(-1) + torch.special.xlogy(p, p).sum(-1).mean(-1)

    t_bare, t_ours = [], []
    for _ in range(max(repeats, 15)):  # interleaved medians of many short runs
        t0 = time.perf_counter()
        ref = bare()
        t_bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours = bald(lp)
        t_ours.append(time.perf_counter() - t0)
    tb, to = statistics.median(t_bare), statistics.median(t_ours)
    t_val, _ = timed(lambda: validate_log_probs(lp), 7)
    err = float((ours - ref.clamp_min(0)).abs().max())
    ok = to <= 1.2 * tb
    return (f"BALD 10,000 x 20 x 10 float32: ours (validation included) {to * 1e3:.1f} ms, bare formula "
            f"{tb * 1e3:.1f} ms: {to / tb:.2f}x (gate <= 1.2x: {'PASS' if ok else 'FAIL'}); validate_log_probs "
            f"alone {t_val * 1e3:.1f} ms; max |ours - bare| = {err:.1e}"), ok


CASES = {"compile": case_compile, "bait": case_bait, "batchbald_full": case_batchbald_full,
         "batchbald_peer": case_batchbald_peer, "bald": case_bald}


def setup(names: list[str]) -> dict:
    X, y = digits()
    ctx: dict = {"X": X, "y": y}
    if {"compile", "bait"} & set(names):
        torch.manual_seed(0)
        ctx["cnn"] = train(cnn(), X, y, epochs=60)
    if {"batchbald_full", "batchbald_peer"} & set(names):
        torch.manual_seed(0)
        mlp = train(dropout_mlp(), X[:1000], y[:1000], epochs=200)
        ctx["lp300"] = mc_dropout_log_probs(mlp, X[1000:1300], 20, seed=0)
        ctx["lp2000"] = mc_dropout_log_probs(mlp, pool(X, 2000, 3), 20, seed=1)
    return ctx


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one repeat per case")
    ap.add_argument("--only", nargs="*", default=list(CASES), choices=list(CASES))
    args = ap.parse_args()
    repeats = 1 if args.quick else 3
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cores {os.cpu_count()}, "
          f"peer: {'batchbald-redux' if get_batchbald_batch else 'not installed'}")
    ctx = setup(args.only)
    failed = []
    for busy in (False, True):
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"\n== {'with a second process burning one core' if busy else 'quiet'} (load average before: {load}) ==")
        with Busy(busy):
            for name in args.only:
                line, ok = CASES[name](ctx, repeats)
                print(f"[{name}] {line}", flush=True)
                if not ok:
                    failed.append(f"{name} ({'busy' if busy else 'quiet'})")
    print("\nall gates pass" if not failed else f"\nfailed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
