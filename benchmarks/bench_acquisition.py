"""Benchmark of the prediction-space acquisition scores (plain script, CPU).

    .venv/bin/python benchmarks/bench_acquisition.py [--quick]

1. BALD on 10,000 x 20 x 10 log-probabilities.
2. BatchBALD, batch 10, on 2,000 x 20 x 10: ours (``infonotation.acquisition.batchbald``) against the peer
   batchbald-redux (``get_batchbald_batch`` with 10,000 sampled configurations) on the same tensor in the same
   run; agreement of the selected batches, the exact joint score of each selected prefix (independent brute
   force) and the speed ratio (acceptance gate: >= 20x).
3. Accuracy of both joint-entropy estimators H[Y_1..Y_b] against exact enumeration for b = 5..7 (RMSE over
   several batches and seeds).
4. EPIG with 1,000 evaluation points on 10,000 pool points, checked on a subset against a float64 reference.

batchbald-redux is an optional peer (``pip install --no-deps batchbald_redux toma psutil``); without it the
script times a re-implementation of its algorithm (exact/sampled joint entropy, per-candidate matmuls,
10,000 samples) written below from its published description.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402

from infonotation.acquisition import bald, batchbald, epig, joint_entropy  # noqa: E402

try:  # the optional peer
    from batchbald_redux import joint_entropy as redux_je  # noqa: E402
    from batchbald_redux.batchbald import get_batchbald_batch  # noqa: E402

    PEER = "batchbald_redux (installed)"
except ImportError:  # pragma: no cover - exercised only without the peer
    redux_je = None
    PEER = "re-implementation of batchbald_redux's algorithm"

    def get_batchbald_batch(log_probs, batch_size, num_samples, dtype=None, device=None):  # type: ignore[no-redef]
        return _reimpl_batchbald(log_probs, batch_size, num_samples)


def make_log_probs(n: int, k: int, c: int, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Synthetic posterior samples: per-point mean logits plus per-sample noise of per-point scale."""
    g = torch.Generator().manual_seed(seed)
    mean = 3.0 * torch.randn(n, 1, c, generator=g, dtype=torch.float64)
    scale = 2.0 * torch.rand(n, 1, 1, generator=g, dtype=torch.float64)
    logits = mean + scale * torch.randn(n, k, c, generator=g, dtype=torch.float64)
    return torch.log_softmax(logits, dim=-1).to(dtype)


def timed(fn, repeats: int = 3):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


# ---------------------------------------------------------------------------------------------------------
# independent references


def exact_joint_entropy(log_probs_b: torch.Tensor) -> float:
    """H[Y_1..Y_b] by brute-force enumeration of all C^b configurations (float64, chunked over y_1, y_2)."""
    p = log_probs_b.double().exp()
    b, k, c = p.shape
    lead = min(2, b - 1)
    total = 0.0
    for head in range(c**lead):
        ys = [(head // c**j) % c for j in range(lead)]
        t = torch.ones(k, 1, dtype=torch.float64)
        for i, y in enumerate(ys):
            t = t * p[i, :, y : y + 1]
        for i in range(lead, b):
            t = (t.unsqueeze(2) * p[i].unsqueeze(1)).reshape(k, -1)
        joint = t.mean(0)
        total -= float(torch.special.xlogy(joint, joint).sum())
    return total


def exact_joint_mi(log_probs_b: torch.Tensor) -> float:
    p = log_probs_b.double().exp()
    cond = float(-torch.special.xlogy(p, p).sum(-1).mean(-1).sum())
    return exact_joint_entropy(log_probs_b) - cond


def reference_epig(lp_pool: torch.Tensor, lp_eval: torch.Tensor) -> torch.Tensor:
    """EPIG as H[Y] + H[Y_e] - H[Y, Y_e] averaged over eval points, float64, one eval point at a time."""
    pa, pe = lp_pool.double().exp(), lp_eval.double().exp()
    k = pa.shape[1]

    def ent(q, dims):
        return -torch.special.xlogy(q, q).sum(dims)

    h_a = ent(pa.mean(1), -1)
    out = torch.zeros(pa.shape[0], dtype=torch.float64)
    for m in range(pe.shape[0]):
        joint = torch.einsum("nkc,kd->ncd", pa, pe[m]) / k
        out += h_a + ent(pe[m].mean(0), -1) - ent(joint, (1, 2))
    return out / pe.shape[0]


# ---------------------------------------------------------------------------------------------------------
# a re-implementation of batchbald_redux's algorithm (used only when the package is missing)


def _reimpl_joint_entropies(joint_m_k: torch.Tensor, probs: torch.Tensor, sampled: bool) -> torch.Tensor:
    n, k, c = probs.shape
    out = torch.empty(n, dtype=torch.double)
    q = joint_m_k.mean(1, keepdim=True)
    for i in range(n):  # one matmul per candidate, as in the original
        pj = joint_m_k @ probs[i].double() / k
        out[i] = (-(pj * pj.log()) / q).sum() / pj.shape[0] if sampled else -(pj * pj.log()).nansum()
    return out


def _reimpl_batchbald(log_probs: torch.Tensor, batch_size: int, num_samples: int):
    n, k, c = log_probs.shape
    probs = log_probs.double().exp()
    cond = -(probs * log_probs.double()).sum(-1).mean(-1)
    chosen, scores = [], []
    joint = torch.ones(1, k, dtype=torch.double)
    sampled = False
    for i in range(batch_size):
        if i:
            if c ** len(chosen) > num_samples:
                s = num_samples // k
                ch = torch.stack([torch.multinomial(probs[j], s, replacement=True) for j in chosen])  # [b, K, s]
                picked = torch.stack([probs[j][:, ch[i]] for i, j in enumerate(chosen)])  # [b, K', K, s]
                joint = picked.log().sum(0).exp().reshape(k, -1).T  # [K s, K']: p(y_B^m | w_k')
                sampled = True
            else:
                p_new = probs[chosen[-1]]
                joint = (joint.T.unsqueeze(2) * p_new.unsqueeze(1)).reshape(k, -1).T
        ent = _reimpl_joint_entropies(joint, probs, sampled)
        sc = ent - cond - cond[chosen].sum()
        sc[chosen] = -math.inf
        j = int(sc.argmax())
        chosen.append(j)
        scores.append(float(sc[j]))

    class _Batch:
        pass

    r = _Batch()
    r.indices, r.scores = chosen, scores
    return r


def redux_joint_entropy(log_probs_b: torch.Tensor, num_samples: int) -> float:
    """batchbald_redux's estimate of H[Y_1..Y_b]: DynamicJointEntropy over b-1 points, compute_batch on the last."""
    b, k, c = log_probs_b.shape
    dj = redux_je.DynamicJointEntropy(num_samples, b - 1, k, c, dtype=torch.double)
    dj.add_variables(log_probs_b[:-1].double())
    return float(dj.compute_batch(log_probs_b[-1:].double())[0])


# ---------------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer accuracy trials")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, peer: {PEER}")

    # 1. BALD -------------------------------------------------------------------------------------------
    lp = make_log_probs(10_000, 20, 10, seed=0)
    t, scores = timed(lambda: bald(lp), 5)
    p = lp.double().exp()
    ref = -torch.special.xlogy(p.mean(1), p.mean(1)).sum(-1) + torch.special.xlogy(p, p).sum(-1).mean(-1)
    print(f"\n[BALD] 10,000 x 20 x 10 float32: {t * 1e3:.1f} ms; max |ours - float64 formula| = "
          f"{float((scores.double() - ref).abs().max()):.2e}")

    # 2. BatchBALD ----------------------------------------------------------------------------------------
    # Runs are interleaved (peer, ours, ours-100k, ...) so that load from other processes hits both alike.
    lp = make_log_probs(2_000, 20, 10, seed=1)
    runs = 1 if args.quick else 3
    t_peer, t_ours, t_big, t_64, t_re = [], [], [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        peer = get_batchbald_batch(lp, 10, 10_000, dtype=torch.double)
        t_peer.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours = batchbald(lp, 10)
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        big = batchbald(lp, 10, num_samples=100_000)
        t_big.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours64 = batchbald(lp.double(), 10)
        t_64.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        _reimpl_batchbald(lp, 10, 10_000)  # the peer's algorithm without toma/tqdm (a lower bound on its cost)
        t_re.append(time.perf_counter() - t0)
    tp, to, tb, t6, tr = (statistics.median(t) for t in (t_peer, t_ours, t_big, t_64, t_re))
    peer_idx = [int(i) for i in peer.indices]
    print(f"\n[BatchBALD] 2,000 x 20 x 10 float32, batch 10; median of {runs} interleaved run(s)")
    print(f"  peer (10,000 samples):      {tp:7.3f} s")
    print(f"  ours (default, 10,000):     {to:7.3f} s   speed-up {tp / to:5.1f}x")
    print(f"  ours (num_samples=100,000): {tb:7.3f} s   speed-up {tp / tb:5.1f}x")
    print(f"  ours (default, float64 in): {t6:7.3f} s   speed-up {tp / t6:5.1f}x")
    print(f"  peer algorithm re-implemented without toma/tqdm: {tr:.3f} s  (ours is {tr / to:.1f}x faster)")
    pairs = (("ours", ours.indices.tolist()), ("ours 100k", big.indices.tolist()),
             ("ours f64", ours64.indices.tolist()), ("peer", peer_idx))
    for name, idx in pairs:
        print(f"  {name:>9} indices: {idx}")
    same = 0
    while same < 10 and ours.indices[same] == peer_idx[same]:
        same += 1
    print(f"  identical prefix ours/peer: {same} of 10 (both exact for prefixes of up to 5)")
    print("  b   ours score  exact(ours)  ours100k  exact(100k)  peer score  exact(peer)")
    for b in range(1, 11):
        ex = [exact_joint_mi(lp[list(map(int, i[:b]))]) if b <= 7 else float("nan")
              for i in (ours.indices, big.indices, peer_idx)]
        print(f"  {b:2d}  {float(ours.scores[b - 1]):10.5f}  {ex[0]:10.5f}  {float(big.scores[b - 1]):9.5f}  "
              f"{ex[1]:10.5f}  {peer.scores[b - 1]:10.5f}  {ex[2]:10.5f}")

    # 3. accuracy of the joint-entropy estimates ------------------------------------------------------------
    trials = 4 if args.quick else 10
    print(f"\n[joint entropy accuracy] RMSE against exact enumeration, {trials} batches per b "
          "(half BatchBALD-selected prefixes of fresh pools, half random)")
    print("  b   exact H    RMSE peer(10k)  RMSE ours(10k)  RMSE ours(100k)   t peer   t ours(10k)")
    for b in (5, 6, 7):
        errs = {"peer": [], "ours": [], "ours100k": []}
        tp, to, hs = 0.0, 0.0, []
        for trial in range(trials):
            pool = make_log_probs(300, 20, 10, seed=100 + trial)
            if trial % 2 == 0:
                idx = batchbald(pool, b, num_samples=1000, seed=trial).indices
            else:
                idx = torch.randperm(300, generator=torch.Generator().manual_seed(trial))[:b]
            batch = pool[idx].double()  # both estimators in float64 (the peer always computes in float64)
            h = exact_joint_entropy(batch)
            hs.append(h)
            torch.manual_seed(trial)
            t0 = time.perf_counter()
            errs["peer"].append(redux_joint_entropy(batch, 10_000) - h if redux_je else float("nan"))
            tp += time.perf_counter() - t0
            t0 = time.perf_counter()
            errs["ours"].append(float(joint_entropy(batch, seed=trial)) - h)
            to += time.perf_counter() - t0
            errs["ours100k"].append(float(joint_entropy(batch, num_samples=100_000, seed=trial)) - h)

        def rmse(v):
            return math.sqrt(sum(e * e for e in v) / len(v))

        print(f"  {b}  {statistics.mean(hs):8.4f}   {rmse(errs['peer']):.2e}        {rmse(errs['ours']):.2e}"
              f"        {rmse(errs['ours100k']):.2e}   {tp / trials:.3f} s  {to / trials:.3f} s")

    # 4. EPIG ---------------------------------------------------------------------------------------------
    lp_pool = make_log_probs(10_000, 20, 10, seed=2)
    lp_eval = make_log_probs(1_000, 20, 10, seed=3)
    t, scores = timed(lambda: epig(lp_pool, lp_eval), 1)
    ref = reference_epig(lp_pool[:200], lp_eval)
    err = float((scores[:200].double() - ref).abs().max())
    print(f"\n[EPIG] pool 10,000 x 20 x 10, eval 1,000 points, float32: {t:.2f} s; "
          f"max |ours - float64 reference| on 200 points = {err:.2e} (EPIG range {float(ref.min()):.2e}.."
          f"{float(ref.max()):.2e})")

    weight_space_greedy()


def weight_space_greedy() -> None:
    """Greedy joint log-det (``I[W;Y_B|x_B]`` in weight space), batch 10 from 10,000 points, last layer P = 1,290.

    Baseline: the same greedy maximisation that recomputes each candidate's joint log-det from scratch at every
    step (``acq.joint`` of the batch so far plus the candidate), timed on a 200-point subset and extrapolated
    linearly in the pool size; both must pick the same batch on that subset.
    """
    from torch import nn

    import infonotation as inf

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).double()
    X_train = torch.rand(80, 64, dtype=torch.float64)
    y_train = torch.randint(0, 10, (80,))
    X_pool = torch.rand(10_000, 64, dtype=torch.float64)
    acq = inf.compile("I[W;Y_B|x_B]", net, train=(X_train, y_train), prior_precision=1.0, progress=False)
    t_inc, batch = timed(lambda: acq.select(X_pool, 10, "greedy").indices, 1)
    sub = X_pool[:200]

    def from_scratch(X: torch.Tensor, k: int) -> list[int]:
        chosen: list[int] = []
        for _ in range(k):
            best, best_v = -1, -float("inf")
            for i in range(X.shape[0]):
                if i in chosen:
                    continue
                v = float(acq.joint(X[chosen + [i]]))
                if v > best_v:
                    best, best_v = i, v
            chosen.append(best)
        return chosen

    t_sub, naive = timed(lambda: from_scratch(sub, 10), 1)
    same = naive == acq.select(sub, 10, "greedy").indices.tolist()
    t_naive = t_sub * X_pool.shape[0] / sub.shape[0]
    print(f"\n[weight-space greedy log-det] batch 10 from 10,000 points, last layer P=1,290: incremental "
          f"{t_inc:.2f} s; recompute-from-scratch greedy {t_sub:.2f} s on 200 points -> ~{t_naive:.0f} s for 10,000 "
          f"(extrapolated): {t_naive / t_inc:.0f}x; same batch on the subset: {same}; picked {batch.tolist()}")


if __name__ == "__main__":
    main()
