"""Resumable scoring runs (``checkpoint_dir=``): interrupt a run, resume it, and compute only what was left.

The truth is the in-memory tensor's scores (and ``torch.sort`` of them for top-k); which chunks a run computes is
observed by counting the calls of the plan's chunk function.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import infonotation as inf
from infonotation.engines.run import PROBE
from infonotation.errors import CompileError

f64 = torch.float64
N, C = 150, 32  # five chunks: 4 x 32 + 22


@pytest.fixture(scope="module")
def s() -> dict:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 4)).double().eval()
    train = (torch.randn(40, 6, dtype=f64), torch.randint(0, 4, (40,)))
    X = torch.randn(N, 6, dtype=f64)
    acq = inf.compile("I[W;Y|x]", net, train=train, chunk_size=C)
    return {"net": net, "train": train, "X": X, "acq": acq, "truth": acq.scores(X)}


class Stop(Exception):
    pass


def watched(acq: inf.Acquisition, calls: list, stop_at: int | None = None, nan_at: int | None = None):
    """A copy of ``acq`` that records (start, points) of every chunk it scores, and stops or poisons on request."""
    out = copy.copy(acq)
    inner = acq._score_chunk

    def score(X: torch.Tensor, y, start: int) -> torch.Tensor:
        if stop_at is not None and start == stop_at:
            raise Stop  # an interruption (Ctrl-C, a killed job) half-way
        calls.append((start, X.shape[0]))
        s = inner(X, y, start)
        if nan_at is not None and start <= nan_at < start + X.shape[0]:
            s = s.clone()
            s[nan_at - start] = float("nan")
        return s

    out._score_chunk = score
    return out


def loader(X: torch.Tensor) -> DataLoader:
    return DataLoader(TensorDataset(X), batch_size=50)


def chunk_files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("chunk_"))


def test_an_interrupted_run_resumes_without_recomputing_finished_chunks(s: dict, tmp_path) -> None:
    folder = tmp_path / "run"
    first: list = []
    with pytest.raises(Stop):
        watched(s["acq"], first, stop_at=3 * C).scores(loader(s["X"]), checkpoint_dir=folder)
    assert first == [(0, C), (C, C), (2 * C, C)]
    assert chunk_files(folder) == [f"chunk_{i:09d}.pt" for i in range(3)]
    assert json.loads((folder / "manifest.json").read_text())["points"] is None  # not finished
    second: list = []
    got = watched(s["acq"], second).scores(loader(s["X"]), checkpoint_dir=folder)
    torch.testing.assert_close(got, s["truth"], rtol=1e-12, atol=0)
    # only chunks 3 and 4 are computed, plus the first points of chunk 0 (the check that the folder is this run's)
    assert sorted(second) == [(0, PROBE), (3 * C, C), (4 * C, N - 4 * C)]
    assert json.loads((folder / "manifest.json").read_text())["points"] == N
    third: list = []
    top = watched(s["acq"], third).select(loader(s["X"]), 7, "topk", checkpoint_dir=folder)
    assert third == [(0, PROBE)]  # a finished run is read back, not recomputed
    assert top.indices.tolist() == torch.sort(s["truth"], descending=True, stable=True).indices[:7].tolist()


def test_non_finite_scores_leave_only_finished_chunks(s: dict, tmp_path) -> None:
    folder = tmp_path / "run"
    with pytest.raises(CompileError, match=r"non-finite scores.*\[100\] in chunk 3 .*nothing of this chunk"):
        watched(s["acq"], [], nan_at=100).scores(loader(s["X"]), checkpoint_dir=folder)
    assert chunk_files(folder) == [f"chunk_{i:09d}.pt" for i in range(3)]  # chunk 3 was not written
    calls: list = []
    got = watched(s["acq"], calls).scores(loader(s["X"]), checkpoint_dir=folder)
    torch.testing.assert_close(got, s["truth"], rtol=1e-12, atol=0)
    assert sorted(calls) == [(0, PROBE), (3 * C, C), (4 * C, N - 4 * C)]


def test_a_write_cut_short_is_not_mistaken_for_a_finished_chunk(s: dict, tmp_path) -> None:
    folder = tmp_path / "run"
    with pytest.raises(Stop):
        watched(s["acq"], [], stop_at=2 * C).scores(loader(s["X"]), checkpoint_dir=folder)
    (folder / "chunk_000000002.pt.tmp").write_bytes(b"half a file")  # a crash between write and rename
    calls: list = []
    got = watched(s["acq"], calls).scores(loader(s["X"]), checkpoint_dir=folder)
    torch.testing.assert_close(got, s["truth"], rtol=1e-12, atol=0)
    assert (2 * C, C) in calls and not list(folder.glob("*.tmp"))


def test_a_folder_of_another_run_is_refused(s: dict, tmp_path) -> None:
    folder = tmp_path / "run"
    s["acq"].scores(loader(s["X"]), checkpoint_dir=folder)
    other_net = copy.deepcopy(s["net"])
    with torch.no_grad():
        other_net[2].weight.mul_(2.0)
    other = inf.compile("I[W;Y|x]", other_net, train=s["train"], chunk_size=C)  # same description, other weights
    with pytest.raises(CompileError, match="differ from what this acquisition function computes now"):
        other.scores(loader(s["X"]), checkpoint_dir=folder)
    wider = inf.compile("I[W;Y|x]", s["net"], train=s["train"], chunk_size=2 * C)
    with pytest.raises(CompileError, match="holds the scores of another run \\(chunk_size"):
        wider.scores(loader(s["X"]), checkpoint_dir=folder)
    with pytest.raises(CompileError, match="holds 32 scores for chunk 3, but this pool has 4 points there"):
        s["acq"].scores(loader(s["X"][:100]), checkpoint_dir=folder)
    with pytest.raises(CompileError, match="pool of 150 points, but this pool has 64"):
        s["acq"].scores(loader(s["X"][:64]), checkpoint_dir=folder)
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(CompileError, match="not empty and holds no manifest.json"):
        s["acq"].scores(loader(s["X"]), checkpoint_dir=stranger)
    with pytest.raises(CompileError, match="checkpoint_dir must be a path"):
        s["acq"].scores(loader(s["X"]), checkpoint_dir=3)


def test_a_tensor_pool_can_be_checkpointed_too(s: dict, tmp_path) -> None:
    sel = s["acq"].select(s["X"], 4, "greedy", checkpoint_dir=tmp_path / "run", shortlist=N)
    assert sel.indices.tolist() == s["acq"].select(s["X"], 4, "greedy").indices.tolist()
    assert len(chunk_files(tmp_path / "run")) == 5
