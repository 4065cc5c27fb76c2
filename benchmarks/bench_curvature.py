"""Benchmark: whole-network curvature structures on a 1,283,594-parameter CNN (plain script, CPU).

    .venv/bin/python benchmarks/bench_curvature.py [--pool 10000] [--train 1000] [--anchor 8] [--quick]

The network: conv 32-64-128 channels (3x3, padding 1), each followed by ReLU and 2x2 max-pooling, then linear
1152-1024-10, on 1 x 28 x 28 inputs (float32, seeded initialisation, inputs from a seeded normal). Every part runs
in its own process, so that each reports its own peak resident memory (``ru_maxrss``):

* **anchor** -- laplace-torch 0.3, ``subset_of_weights="all"``, ``hessian_structure="kron"``: ``fit`` on the
  training points (one batch), then the EIG ``1/2 logdet(Id + L^T J S J^T L)`` through ``functional_variance`` of
  its per-point Jacobians on ``--anchor`` pool points; the per-point time, extrapolated to the pool;
* **kron** -- ``inf.compile("I[W;Y|x]", net, train=..., last_layer=False, curvature="kron", dtype=float32)``:
  fit, and the EIG of the whole pool (gate: <= 120 s for 10,000 points, >= 70x the anchor, peak RSS <= 4 GB);
  its scores on the anchor's points are compared with laplace-torch's;
* **diag** -- the same with ``curvature="diag"`` (gate: at least as fast as kron);
* **lowrank** -- ``curvature="lowrank", rank=100`` (reported);
* **greedy** -- ``I[W;Y_B|x_B]`` with kron, greedy joint log-det selection of k = 10 from the pool (reported).

The load average before and after is printed with the results: run it on a machine as quiet as you can get.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

HERE = Path(__file__).resolve().parent


def make_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(1152, 1024), nn.ReLU(), nn.Linear(1024, 10),
    ).eval()


def make_data(n_train: int, n_pool: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    X_train = torch.randn(n_train, 1, 28, 28, generator=g)
    y_train = torch.randint(0, 10, (n_train,), generator=g)
    X_pool = torch.randn(n_pool, 1, 28, 28, generator=g)
    return X_train, y_train, X_pool


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


# -- the parts (each in its own process) ---------------------------------------------------------------------
def part_anchor(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from laplace_oracle import import_laplace
    from torch.utils.data import DataLoader, TensorDataset

    laplace = import_laplace()
    net = make_net()
    X_train, y_train, X_pool = make_data(args.train, args.anchor)
    la = laplace.Laplace(net, "classification", subset_of_weights="all", hessian_structure="kron",
                         prior_precision=args.prior)
    t = time.perf_counter()
    la.fit(DataLoader(TensorDataset(X_train, y_train), batch_size=len(X_train)))
    fit_s = time.perf_counter() - t

    def eig_of(x: torch.Tensor) -> torch.Tensor:
        Js, f = la.backend.jacobians(x)
        fv = la.functional_variance(Js)
        p = torch.softmax(f, -1)
        Lam = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
        return 0.5 * torch.logdet(torch.eye(10) + Lam @ fv)  # = 1/2 logdet(Id + L^T fv L) (Sylvester)

    eig_of(X_pool[:1])  # warm-up, not timed
    t = time.perf_counter()
    eig = [eig_of(X_pool[i : i + 1]) for i in range(args.anchor)]
    per_point = (time.perf_counter() - t) / args.anchor
    return {"fit_s": fit_s, "per_point_s": per_point, "eig": torch.cat(eig).tolist(), "rss_gb": rss_gb()}


def _compile(args: argparse.Namespace, curvature: str, quantity: str = "I[W;Y|x]", **kw: object):
    import infonotation as inf

    net = make_net()
    X_train, y_train, X_pool = make_data(args.train, args.pool)
    t = time.perf_counter()
    acq = inf.compile(quantity, net, train=(X_train, y_train), last_layer=False, curvature=curvature,
                      prior_precision=args.prior, dtype=torch.float32, progress=False, **kw)
    return acq, X_pool, time.perf_counter() - t


def part_structure(args: argparse.Namespace) -> dict:
    kw = {"rank": 100} if args.part == "lowrank" else {}
    acq, X_pool, fit_s = _compile(args, args.part, **kw)
    t = time.perf_counter()
    scores = acq(X_pool, progress=False)
    score_s = time.perf_counter() - t
    return {"fit_s": fit_s, "score_s": score_s, "chunk": acq.chunk_size, "n": len(X_pool),
            "anchor_scores": scores[: args.anchor].tolist(), "finite": bool(torch.isfinite(scores).all()),
            "rss_gb": rss_gb()}


def part_greedy(args: argparse.Namespace) -> dict:
    acq, X_pool, fit_s = _compile(args, "kron", "I[W;Y_B|x_B]")
    t = time.perf_counter()
    sel = acq.select(X_pool, 10, strategy="greedy", progress=False)
    return {"fit_s": fit_s, "select_s": time.perf_counter() - t, "indices": sel.indices.tolist(),
            "joint": float(sel.joint[-1]), "rss_gb": rss_gb()}


PARTS = {"anchor": part_anchor, "kron": part_structure, "diag": part_structure, "lowrank": part_structure,
         "greedy": part_greedy}


# -- the driver ---------------------------------------------------------------------------------------------------
def run_part(name: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--part", name, "--pool", str(args.pool), "--train", str(args.train),
           "--anchor", str(args.anchor), "--prior", str(args.prior), "--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"part {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:  # pragma: no cover - not Linux
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=10_000)
    ap.add_argument("--train", type=int, default=1_000)
    ap.add_argument("--anchor", type=int, default=8, help="pool points laplace-torch scores (the anchor's subset)")
    ap.add_argument("--prior", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="1,000 pool points, 200 training points, 2 anchor points")
    ap.add_argument("--part", choices=sorted(PARTS), help=argparse.SUPPRESS)
    ap.add_argument("--only", default="anchor,kron,diag,lowrank,greedy", help="comma-separated parts to run")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.part:
        print(json.dumps(PARTS[args.part](args)))
        return
    if args.quick:
        args.pool, args.train, args.anchor = 1_000, 200, 2
    params = sum(p.numel() for p in make_net().parameters())
    print(f"CNN with {params:,} parameters; {args.train} training points, {args.pool} pool points, "
          f"{args.threads} threads; load average before: {loadavg()}", flush=True)
    res: dict[str, dict] = {}
    for name in args.only.split(","):
        t = time.perf_counter()
        res[name] = run_part(name, args)
        print(f"  {name:8s} done in {time.perf_counter() - t:6.1f} s (load average {loadavg()})", flush=True)
    print()
    if "anchor" in res:
        a = res["anchor"]
        print(f"anchor  laplace-torch kron: fit {a['fit_s']:.1f} s; EIG {a['per_point_s'] * 1e3:.0f} ms per point "
              f"(functional variance of per-point Jacobians, {args.anchor} points) -> "
              f"{a['per_point_s'] * args.pool:.0f} s for {args.pool} points; peak RSS {a['rss_gb']:.2f} GB")
    for name in ("kron", "diag", "lowrank"):
        if name not in res:
            continue
        r = res[name]
        per = r["score_s"] / r["n"]
        line = (f"{name:7s} fit {r['fit_s']:5.1f} s; EIG of {r['n']} points {r['score_s']:6.1f} s "
                f"({per * 1e3:.2f} ms per point, chunks of {r['chunk']}); peak RSS {r['rss_gb']:.2f} GB")
        if "anchor" in res:
            line += f"; {res['anchor']['per_point_s'] / per:.0f}x the anchor per point"
        print(line)
    if "anchor" in res and "kron" in res:
        a = torch.tensor(res["anchor"]["eig"])
        k = torch.tensor(res["kron"]["anchor_scores"][: len(a)])
        rel = float(((a - k).abs() / a.abs().clamp_min(1e-12)).max())
        print(f"agreement of the kron EIG with laplace-torch's on the anchor's {len(a)} points: max relative "
              f"difference {rel:.2e}")
    if "greedy" in res:
        g = res["greedy"]
        print(f"greedy  kron, joint log-det, k = 10 of {args.pool}: {g['select_s']:.1f} s (fit {g['fit_s']:.1f} s); "
              f"joint EIG {g['joint']:.4f}; peak RSS {g['rss_gb']:.2f} GB")
    print(f"load average after: {loadavg()}")
    gates = []
    if "kron" in res:
        r = res["kron"]
        scaled = r["score_s"] * 10_000 / r["n"]
        gates.append(("kron EIG for 10,000 points <= 120 s", scaled <= 120, f"{scaled:.1f} s"))
        gates.append(("kron peak RSS <= 4 GB", r["rss_gb"] <= 4, f"{r['rss_gb']:.2f} GB"))
        if "anchor" in res:
            ratio = res["anchor"]["per_point_s"] / (r["score_s"] / r["n"])
            gates.append(("kron >= 70x the anchor", ratio >= 70, f"{ratio:.0f}x"))
        if "diag" in res:
            gates.append(("diag at least as fast as kron", res["diag"]["score_s"] <= r["score_s"] * 1.05,
                          f"{res['diag']['score_s']:.1f} s vs {r['score_s']:.1f} s"))
    for what, ok, value in gates:
        print(f"  [{'PASS' if ok else 'FAIL'}] {what}: {value}")


if __name__ == "__main__":
    main()
