"""``engine="ray"``: Ray Data actors score the pool; the results equal the local engine's, also when a worker dies.

One local Ray cluster for the module (``num_cpus=2``), small pools, one actor per run except where the order of
results from parallel actors is the point (starting actors is what a Ray run costs here). The truth is always the
local engine on the in-memory tensor: its scores, ``torch.sort`` of them for top-k, its greedy selection (the pools
are smaller than the shortlist, so the shortlist is the pool).
"""

from __future__ import annotations

import copy
import logging
import os
import signal
import sys
import time

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import infonotation as inf
from infonotation.errors import CompileError

f64 = torch.float64
N, C = 150, 32


@pytest.fixture(scope="module")
def s() -> dict:
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 4)).double().eval()
    drop = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 4)).double().eval()
    train = (torch.randn(40, 6, dtype=f64), torch.randint(0, 4, (40,)))
    X = torch.randn(N, 6, dtype=f64)
    acq = inf.compile("I[W;Y|x]", net, train=train, chunk_size=C)
    return {"net": net, "drop": drop, "train": train, "X": X, "acq": acq, "truth": acq.scores(X)}


def _stop_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


# -- before the cluster: the settings that fail ------------------------------------------------------------------


def test_ray_not_installed_is_a_library_error(s: dict, monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(CompileError, match=r"engine='ray' needs Ray Data.*pip install 'infonotation\[ray\]'"):
        s["acq"].scores(s["X"], engine="ray", checkpoint_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()  # nothing written that a resume could mistake for work


def test_an_unreachable_address_is_a_library_error(s: dict, tmp_path) -> None:
    import ray

    _stop_ray()
    t = time.perf_counter()
    with pytest.raises(CompileError, match=r"cannot reach the Ray cluster at address='127\.0\.0\.1:9'"):
        s["acq"].select(s["X"], 3, engine="ray", address="127.0.0.1:9", checkpoint_dir=tmp_path / "run")
    assert time.perf_counter() - t < 10 and not ray.is_initialized() and not (tmp_path / "run").exists()
    with pytest.raises(CompileError, match="is not a Ray cluster address"):
        s["acq"].scores(s["X"], engine="ray", address="no-port-here")
    with pytest.raises(CompileError, match="workers must be a positive int"):
        s["acq"].scores(s["X"], engine="ray", workers=0)


# -- on one local cluster ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    import ray

    _stop_ray()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


def test_ray_scores_a_dataloader_like_local_and_resumes_a_local_run(s: dict, cluster, tmp_path) -> None:
    folder = tmp_path / "run"
    interrupted = copy.copy(s["acq"])
    inner = s["acq"]._score_chunk

    def stop_at_chunk_2(X, y, start):
        if start == 2 * C:
            raise KeyboardInterrupt
        return inner(X, y, start)

    interrupted._score_chunk = stop_at_chunk_2
    with pytest.raises(KeyboardInterrupt):
        interrupted.scores(DataLoader(TensorDataset(s["X"]), batch_size=40), checkpoint_dir=folder)
    before = {p.name: p.stat().st_mtime_ns for p in folder.glob("chunk_*.pt")}
    assert sorted(before) == ["chunk_000000000.pt", "chunk_000000001.pt"]
    got = s["acq"].scores(DataLoader(TensorDataset(s["X"]), batch_size=40), engine="ray", workers=1,
                          checkpoint_dir=folder)
    torch.testing.assert_close(got, s["truth"], rtol=1e-6, atol=0)
    after = {p.name: p.stat().st_mtime_ns for p in folder.glob("chunk_*.pt")}
    assert len(after) == 5 and all(after[name] == t for name, t in before.items())  # finished chunks not redone


def test_ray_dataset_pool_greedy_equals_local(s: dict, cluster) -> None:
    blocks = [s["X"][i : i + 30].numpy() for i in range(0, N, 30)]  # five blocks read by the cluster, two actors:
    ds = cluster.data.from_numpy(blocks)  # the pool order (hence the indices) survives the parallel scoring
    got = s["acq"].select(ds, 5, "greedy", engine="ray", workers=2)
    want = s["acq"].select(s["X"], 5, "greedy")
    assert got.indices.tolist() == want.indices.tolist() and got.pool_size == N
    torch.testing.assert_close(got.scores, want.scores, rtol=1e-6, atol=1e-12)
    torch.testing.assert_close(s["acq"].scores(ds), s["truth"], rtol=1e-12, atol=0)  # a Ray Dataset, read locally
    with pytest.raises(CompileError, match="already connected to the cluster"):
        s["acq"].scores(s["X"], engine="ray", address="127.0.0.1:9")


def test_a_named_method_on_ray_equals_local(s: dict, cluster) -> None:
    bb = inf.methods.batchbald.compile(s["drop"], num_samples=8, seed=3)
    got = bb.select(s["X"], 4, engine="ray", workers=1)
    want = bb.select(s["X"], 4)
    assert got.indices.tolist() == want.indices.tolist()
    torch.testing.assert_close(got.scores, want.scores, rtol=1e-6, atol=1e-12)


def test_a_worker_killed_mid_run_is_retried_and_the_result_is_unchanged(s: dict, cluster, tmp_path) -> None:
    driver = os.getpid()
    marker, log = str(tmp_path / "killed"), str(tmp_path / "pids")

    class KillOnce(nn.Module):
        """Identity; the worker process that reaches its third batch kills itself (SIGKILL), once."""

        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def forward(self, h: torch.Tensor) -> torch.Tensor:
            if os.getpid() != driver:
                self.calls += 1
                with open(log, "a") as f:
                    f.write(f"{os.getpid()}\n")
                if self.calls == 3:
                    try:
                        open(marker, "x").close()
                    except FileExistsError:
                        return h
                    os.kill(os.getpid(), signal.SIGKILL)
            return h

    net = copy.deepcopy(s["net"])
    net = nn.Sequential(net[0], net[1], KillOnce(), net[2]).eval()
    acq = inf.compile("I[W;Y|x]", net, train=s["train"], chunk_size=16)
    X = torch.cat([s["X"], s["X"][:10] + 0.5])  # 160 points: 10 chunks
    truth = acq.scores(X)
    got = acq.select(DataLoader(TensorDataset(X), batch_size=16), 10, "topk", engine="ray", workers=1)
    assert os.path.exists(marker)  # the worker did die
    assert len(set(open(log).read().split())) >= 2  # the actor and the one Ray restarted in its place
    assert got.indices.tolist() == torch.sort(truth, descending=True, stable=True).indices[:10].tolist()
    torch.testing.assert_close(got.scores, truth[got.indices], rtol=1e-6, atol=0)


def test_bad_batches_of_a_ray_dataset_are_library_errors(s: dict, cluster) -> None:
    X = s["X"].numpy().copy()
    X[77, 1] = np.nan
    with pytest.raises(CompileError, match=r"Ray Dataset X_pool holds NaN or infinite values"):
        s["acq"].scores(cluster.data.from_numpy(X), engine="ray", workers=1)
