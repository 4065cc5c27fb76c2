"""Benchmark of the numeric compiler on a digits-sized MLP (64-128-10, last layer: 1,290 parameters).

Run: ``python benchmarks/bench_compile.py``. Prints, from one run:

1. compiled EIG scoring of 10,000 pool points vs the straightforward per-point recipe (build each point's
   1290 x 1290 GGN, then a 1290 x 1290 log-det of ``F Σ + Id``, as the paper's code does), timed on a subset and
   extrapolated; both checked equal on the subset; the speed-up (gate: >= 300x);
2. the achieved FLOP rate of the main contraction (``[n, D1] @ [D1, C^2 D1]``) as a fraction of a large matmul's
   rate measured in the same run (gate: >= 30%);
3. the peak memory (ru_maxrss of a subprocess) of scoring 200,000 pool points (gate: < 2 GB);
4. the time of a second, cached ``compile`` of the same arguments.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from infonotation.numeric import compile  # noqa: E402
from infonotation.numeric.factors import KronFactors  # noqa: E402

N_POOL = 10_000
N_NAIVE = 50
N_BIG = 200_000


def digits_model(seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A 64-128-10 MLP trained briefly on sklearn's digits (float64), and the data."""
    from sklearn.datasets import load_digits

    torch.manual_seed(seed)
    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16.0, dtype=torch.float64)
    y = torch.tensor(y, dtype=torch.long)
    net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).double()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(net(X), y).backward()
        opt.step()
    return net, X, y


def pool_of(X: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, X.shape[0], (n,), generator=g)
    return X[idx] + 0.05 * torch.randn(n, X.shape[1], generator=g, dtype=X.dtype)


def naive_eig(net: nn.Module, Xp: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
    """Per point: the P x P last-layer GGN (Λ ⊗ [z;1][z;1]^T), then 1/2 logdet(F H^-1 + Id) (paper's recipe)."""
    H_inv = torch.linalg.inv(H)  # once, in the naive recipe's favour (the paper's code inverts per point)
    eye = torch.eye(H.shape[0], dtype=H.dtype)
    out = []
    with torch.no_grad():
        for x in Xp:
            z = torch.cat([net[1](net[0](x[None]))[0], torch.ones(1, dtype=x.dtype)])
            p = torch.softmax(net(x[None])[0], -1)
            Lam = torch.diag(p) - torch.outer(p, p)
            F = torch.kron(Lam, torch.outer(z, z))  # 1290 x 1290, (class, feature) order
            out.append(0.5 * torch.linalg.slogdet(F @ H_inv + eye)[1])
    return torch.stack(out)


def naive_posterior(net: nn.Module, Xtr: torch.Tensor, prior: float) -> torch.Tensor:
    with torch.no_grad():
        Z = net[1](net[0](Xtr))
        Z = torch.cat([Z, torch.ones(len(Z), 1, dtype=Z.dtype)], 1)
        p = torch.softmax(net(Xtr), -1)
    H = prior * torch.eye(10 * 129, dtype=torch.float64)
    for zi, pi in zip(Z, p):
        H += torch.kron(torch.diag(pi) - torch.outer(pi, pi), torch.outer(zi, zi))
    return H


def big_pool_memory() -> dict:
    """Child process: compile and score N_BIG points; report peak RSS."""
    net, X, y = digits_model()
    acq = compile("I[W;Y|x]", net, prior_precision=1.0, train=(X[:80], y[:80]), progress=False)
    Xp = pool_of(X, N_BIG, 2)
    t = time.perf_counter()
    s = acq(Xp)
    dt = time.perf_counter() - t
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": dt, "maxrss_mb": rss_kb / 1024, "finite": bool(torch.isfinite(s).all()), "n": int(s.numel())}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-big":
        print(json.dumps(big_pool_memory()))
        return
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    net, X, y = digits_model()
    Xtr, ytr = X[:80], y[:80]
    Xp = pool_of(X, N_POOL, 1)
    with torch.no_grad():
        acc = (net(X).argmax(1) == y).double().mean().item()
    print(f"digits MLP 64-128-10 (train accuracy {acc:.3f}); last layer P = 1290; 80 training points; pool {N_POOL}")

    t = time.perf_counter()
    acq = compile("I[W;Y|x]", net, prior_precision=1.0, train=(Xtr, ytr), progress=False)
    t_compile = time.perf_counter() - t
    print(acq)
    acq(Xp[:500])  # warm up
    t = time.perf_counter()
    scores = acq(Xp)
    t_fast = time.perf_counter() - t

    H = naive_posterior(net, Xtr, 1.0)
    naive_eig(net, Xp[:2], H)  # warm up
    t = time.perf_counter()
    slow = naive_eig(net, Xp[:N_NAIVE], H)
    t_naive_sub = time.perf_counter() - t
    t_naive = t_naive_sub / N_NAIVE * N_POOL
    err = (slow - scores[:N_NAIVE]).abs().max().item()
    speedup = t_naive / t_fast
    print("\n== 1. compiled EIG vs per-point P x P recipe ==")
    print(f"first compile (posterior precision from 80 points, Cholesky): {t_compile * 1e3:.1f} ms")
    print(f"compiled scoring of {N_POOL} points: {t_fast:.3f} s ({N_POOL / t_fast:,.0f} points/s)")
    print(f"naive recipe: {t_naive_sub:.2f} s for {N_NAIVE} points -> extrapolated {t_naive:.0f} s for {N_POOL}")
    print(f"max |compiled - naive| on the {N_NAIVE}-point subset: {err:.2e}  (equal: {err < 1e-8})")
    print(f"speed-up: {speedup:,.0f}x  (gate >= 300x: {'PASS' if speedup >= 300 else 'FAIL'})")

    # 2. FLOP rate of the main contraction vs a large matmul
    print("\n== 2. FLOP rate of the main contraction ==")
    n_mm = 3000
    A = torch.randn(n_mm, n_mm, dtype=torch.float64)
    A @ A
    reps = 3
    t = time.perf_counter()
    for _ in range(reps):
        A @ A
    rate_mm = reps * 2 * n_mm**3 / (time.perf_counter() - t)
    fixed = acq.runtime.fixed_matrices()[0]
    f_all = acq.adapter.factors(Xp)
    assert isinstance(f_all, KronFactors)
    prep = f_all.prepare(fixed.Sigma)
    chunk = acq.chunk_size
    z = f_all.z
    for s in range(0, min(N_POOL, chunk), chunk):
        z[s : s + chunk] @ prep.layout  # warm up
    t = time.perf_counter()
    for s in range(0, N_POOL, chunk):
        z[s : s + chunk] @ prep.layout
    t_main = time.perf_counter() - t
    flops_main = f_all.quad_flops()  # the C (C + 1) / 2 upper blocks, 2 D1^2 each per point
    rate_main = flops_main / t_main
    frac = rate_main / rate_mm
    print(f"large matmul {n_mm}x{n_mm} float64: {rate_mm / 1e9:.1f} GFLOP/s")
    print(f"main contraction [{chunk}, {f_all.D1}] @ {list(prep.layout.shape)} over {N_POOL} points: "
          f"{flops_main / 1e9:.1f} GFLOP in {t_main:.3f} s = {rate_main / 1e9:.1f} GFLOP/s")
    flops_total = acq.cost()[0] * N_POOL
    print(f"whole scoring (estimated {flops_total / 1e9:.1f} GFLOP): {flops_total / t_fast / 1e9:.1f} GFLOP/s")
    print(f"fraction of the large matmul's rate: {frac:.0%}  (gate >= 30%: {'PASS' if frac >= 0.3 else 'FAIL'})")

    # 3. peak memory for 200,000 points
    print(f"\n== 3. peak memory scoring {N_BIG:,} points (subprocess, ru_maxrss) ==")
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child-big"], capture_output=True, text=True,
                         check=True)
    info = json.loads(out.stdout.strip().splitlines()[-1])
    gb = info["maxrss_mb"] / 1024
    print(f"scored {info['n']:,} points in {info['seconds']:.2f} s, all finite: {info['finite']}")
    print(f"peak RSS of the whole process: {info['maxrss_mb']:.0f} MB  (gate < 2 GB: {'PASS' if gb < 2 else 'FAIL'})")

    # 4. cached compile
    print("\n== 4. second compile of the same arguments ==")
    times = []
    for _ in range(2000):
        t = time.perf_counter()
        again = compile("I[W;Y|x]", net, prior_precision=1.0, train=(Xtr, ytr), progress=False)
        times.append(time.perf_counter() - t)
    times.sort()
    print(f"cached compile: median {times[len(times) // 2] * 1e6:.1f} us, same object: {again is acq}")


if __name__ == "__main__":
    main()
