"""Benchmark: pools that do not fit in memory, streamed locally and scored on a local Ray cluster (plain script, CPU).

    .venv/bin/python benchmarks/bench_pools.py                 # 1,000,000 points (about 5 minutes on 2 cores)
    .venv/bin/python benchmarks/bench_pools.py --points 100000 # a quicker run

The quantity is the digits MLP's last-layer EIG ``I[W;Y|x]`` (64 -> 128 -> 10, trained on the demo's digits split,
``H''[w*|D]`` over its training set). The pool is ``--points`` rows of 64 features (digits images with noise),
float32 in a memory-mapped ``.npy`` file. Three runs, each in a fresh process (so that peak memory is its own):

1. **in memory** (the baseline): the whole file read into one tensor, then ``acq.scores(X)`` chunk by chunk; the
   time counts the scoring only.
2. **stream**: ``acq.scores(loader)`` on a ``DataLoader`` over the memory map (``__getitems__``, 4,096 rows per
   batch); the time counts reading and scoring. Gate: peak RSS <= 1.5 GB, time <= 1.3 x the baseline.
3. **ray**: ``acq.scores(loader, engine="ray", workers=2)`` on a local Ray cluster started before the clock
   (``ray.init(num_cpus=2)``); the time counts the driver reading the loader, shipping it and the actors' scoring,
   actor start-up included. Gate: time <= 1.5 x the stream. A second, tiny Ray run measures the fixed cost of a run
   (actor start-up), from which the per-point cost of one actor and an estimate for 10^8 points on a 32-node
   cluster follow.

The scores of the three runs are compared (max relative difference). Load average is printed before and after:
on a shared machine the ratios are the meaningful figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _setup(folder: Path):
    """The trained digits MLP and its training set, saved once by the parent and loaded by every run."""
    import infonotation as inf
    from infonotation.demo.train import make_mlp

    state = torch.load(folder / "model.pt", weights_only=True)
    net = make_mlp(0)
    net.load_state_dict(state["net"])
    net.eval()
    return inf.compile("I[W;Y|x]", net, train=(state["X"], state["y"]))


class PoolFile(torch.utils.data.Dataset):
    """Rows of a memory-mapped .npy file, a batch of rows per read."""

    def __init__(self, path: str):
        self.path, self.rows = path, None

    def __len__(self) -> int:
        return int(np.load(self.path, mmap_mode="r").shape[0])

    def __getitems__(self, indices: list[int]) -> np.ndarray:
        if self.rows is None:
            self.rows = np.load(self.path, mmap_mode="r")
        return self.rows[indices[0] : indices[-1] + 1] if indices[-1] - indices[0] == len(indices) - 1 else \
            self.rows[indices]


def _loader(path: str):
    from torch.utils.data import DataLoader, default_convert

    return DataLoader(PoolFile(path), batch_size=4096, collate_fn=default_convert)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, folder: Path, workers: int) -> None:
    acq = _setup(folder)
    path = str(folder / "pool.npy")
    out: dict = {"mode": mode}
    if mode == "inmemory":
        X = torch.from_numpy(np.load(path))
        t = time.perf_counter()
        s = acq.scores(X, progress=False)
        out["seconds"] = time.perf_counter() - t
    elif mode == "stream":
        t = time.perf_counter()
        s = acq.scores(_loader(path), progress=False)
        out["seconds"] = time.perf_counter() - t
    else:
        import logging

        import ray

        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        tiny = np.load(path, mmap_mode="r")[: 2 * acq.chunk_size * workers]
        t = time.perf_counter()
        acq.scores(torch.from_numpy(np.array(tiny)), engine="ray", workers=workers, progress=False)
        out["fixed_seconds"] = time.perf_counter() - t
        out["tiny_points"] = int(tiny.shape[0])
        t = time.perf_counter()
        s = acq.scores(_loader(path), engine="ray", workers=workers, progress=False)
        out["seconds"] = time.perf_counter() - t
        ray.shutdown()
    out["points"] = int(s.shape[0])
    out["peak_rss_mb"] = _peak_rss_mb()
    torch.save(s, folder / f"scores_{mode}.pt")
    print(json.dumps(out))


def driver_cost(points: int = 1_000_000, chunk: int = 650, k: int = 10) -> float:
    """Seconds per point the driver spends on Ray's results for ``select(..., "topk")``: regrouping the result
    blocks into chunks, checking the scores, the running top-k (no scoring: the actors' work is not in it)."""
    from infonotation.driver import RunningTopK
    from infonotation.engines import ScoredChunk
    from infonotation.engines.ray_engine import _Regroup
    from infonotation.engines.run import _checked

    class _Acq:
        label = "bench"

    rng = np.random.default_rng(0)
    block = 16 * chunk
    sizes = {i: min(chunk, points - i * chunk) for i in range(-(-points // chunk))}
    blocks = [{"index": np.arange(s, min(s + block, points)), "score": rng.random(min(block, points - s))}
              for s in range(0, points, block)]
    regroup, top = _Regroup(chunk, sizes), RunningTopK(k)
    t = time.perf_counter()
    for b in blocks:
        for sc in regroup.feed(b):
            s = _checked(_Acq, ScoredChunk(sc.index, sc.start, sc.n, sc.scores, None, None))
            top.add(sc.start, s)
    return (time.perf_counter() - t) / points


def _make(folder: Path, points: int) -> None:
    from infonotation.demo.data import load_digits_split
    from infonotation.demo.train import train_mlp

    d = load_digits_split(0, n_train=200, n_pool=500, n_test=300)
    X, y = d.X[d.train], d.y[d.train]
    net = train_mlp(X, y, seed=0)
    torch.save({"net": net.state_dict(), "X": X, "y": y}, folder / "model.pt")
    rows = d.X.numpy().astype(np.float32)
    pool = np.lib.format.open_memmap(folder / "pool.npy", mode="w+", dtype=np.float32, shape=(points, 64))
    rng = np.random.default_rng(0)
    step = 100_000
    for s in range(0, points, step):
        n = min(step, points - s)
        pool[s : s + n] = np.clip(rows[rng.integers(0, len(rows), n)] + 0.05 * rng.standard_normal((n, 64)), 0, 1)
    pool.flush()
    del pool


def _run(mode: str, folder: Path, workers: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", mode, "--folder", str(folder), "--workers",
                           str(workers)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--nodes", type=int, default=32, help="cluster size for the 10^8-point estimate")
    ap.add_argument("--cores-per-node", type=int, default=16, help="CPU cores per node for the estimate")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.folder), args.workers)
        return
    print(f"load average before: {os.getloadavg()}; {os.cpu_count()} CPUs; torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        _make(folder, args.points)
        print(f"pool: {args.points:,} x 64 float32 memory-mapped .npy ({args.points * 256 / 2**20:.0f} MiB), made in "
              f"{time.perf_counter() - t:.1f} s")
        runs = {m: _run(m, folder, args.workers) for m in (["inmemory", "stream"] + ([] if args.skip_ray else
                                                                                     ["ray"]))}
        base = torch.load(folder / "scores_inmemory.pt")
        for m, r in runs.items():
            s = torch.load(folder / f"scores_{m}.pt")
            r["max_rel_diff"] = float(((s - base).abs() / base.abs().clamp_min(1e-300)).max())
    n = args.points
    print(f"load average after:  {os.getloadavg()}")
    print(f"{'run':<10}{'seconds':>10}{'points/s':>12}{'peak RSS MB':>14}{'max rel diff':>15}")
    for m, r in runs.items():
        print(f"{m:<10}{r['seconds']:>10.1f}{n / r['seconds']:>12.0f}{r['peak_rss_mb']:>14.0f}"
              f"{r['max_rel_diff']:>15.2e}")
    stream, inmem = runs["stream"], runs["inmemory"]
    ratio = stream["seconds"] / inmem["seconds"]
    print(f"stream / in-memory time: {ratio:.2f} (gate <= 1.3)   stream peak RSS {stream['peak_rss_mb']:.0f} MB "
          "(gate <= 1536)")
    if "ray" in runs:
        r = runs["ray"]
        print(f"ray / stream time: {r['seconds'] / stream['seconds']:.2f} (gate <= 1.5; {args.workers} actors on "
              f"{os.cpu_count()} cores, actor start-up included)")
        fixed = r["fixed_seconds"]
        per_actor = (r["seconds"] - fixed) * args.workers / n  # seconds per point on one actor (one core)
        cores = args.nodes * args.cores_per_node
        driver = driver_cost()
        cluster, drv = 1e8 * per_actor / cores, 1e8 * driver
        est = fixed + max(cluster, drv)
        print(f"fixed cost of a Ray run (actors start, plan loaded; {r['tiny_points']} points): {fixed:.1f} s; "
              f"per point on one actor: {per_actor * 1e6:.1f} us; driver per point (results regrouped, checked, "
              f"running top-k): {driver * 1e6:.2f} us")
        print(f"estimate, 10^8 points on {args.nodes} nodes x {args.cores_per_node} cores ({cores} actors, the pool "
              f"read by the cluster as a Ray Dataset, Ray Data scaling linearly for this embarrassingly parallel "
              f"map): start {fixed:.0f} s + max(cluster 1e8 x {per_actor * 1e6:.1f} us / {cores} = {cluster:.0f} s, "
              f"driver 1e8 x {driver * 1e6:.2f} us = {drv:.0f} s) = {est / 60:.1f} minutes")


if __name__ == "__main__":
    main()
