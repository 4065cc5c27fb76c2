"""The thread policy: LAPACK inverses on one thread, everything else capped at the idle cores, settings restored."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

import infonotation as inf
from infonotation import threads
from infonotation.numeric import run as numeric_run


@pytest.fixture()
def two_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


def test_the_explicit_inverse_runs_on_one_thread(two_threads, monkeypatch) -> None:
    seen: list[int] = []
    real = torch.cholesky_inverse

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "cholesky_inverse", spy)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double().eval()
    inf.numeric.clear_cache()
    inf.compile("I[W;Y|x]", net, train=(torch.randn(8, 4, dtype=torch.float64), torch.randint(0, 3, (8,))))
    assert seen == [1]
    assert torch.get_num_threads() == 2  # restored


def test_scoring_uses_no_more_threads_than_idle_cores(two_threads, monkeypatch) -> None:
    monkeypatch.setattr(threads, "idle_cores", lambda samples=3: 1)
    seen: list[int] = []
    real = numeric_run.Runtime.score

    def spy(self, term):
        seen.append(torch.get_num_threads())
        return real(self, term)

    monkeypatch.setattr(numeric_run.Runtime, "score", spy)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double().eval()
    acq = inf.compile("I[W;Y|x]", net, train=(torch.randn(8, 4, dtype=torch.float64), torch.randint(0, 3, (8,))))
    acq(torch.randn(5, 4, dtype=torch.float64))
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == 2
    monkeypatch.setattr(threads, "idle_cores", lambda samples=3: 2)
    seen.clear()
    acq(torch.randn(5, 4, dtype=torch.float64))
    assert set(seen) == {2}  # a quiet machine keeps the caller's setting


def test_idle_cores_reads_the_system_and_nests(two_threads) -> None:
    idle = threads.idle_cores()
    assert idle is None or 1 <= idle <= (os.cpu_count() or 1)
    with threads.one_thread():
        assert torch.get_num_threads() == 1
        with threads.adaptive_threads():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_idle_cores_does_not_count_this_process_own_threads(monkeypatch) -> None:
    """torch's OpenMP workers stay runnable after a parallel region; they are ours, not another process's load."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)

    def reading(running: int, own: list[int]) -> int | None:
        seq = iter(own)
        monkeypatch.setattr(threads, "_running_tasks", lambda: running)
        monkeypatch.setattr(threads, "_own_running", lambda: next(seq))
        monkeypatch.setattr(threads, "SAMPLE_GAP", 0.0)
        threads._cache.update(t=-1.0)
        return threads.idle_cores(samples=1)

    assert reading(2, [2, 2]) == 2  # this thread and its spinning worker: the machine is quiet
    assert reading(3, [2, 2]) == 1  # one more runnable task belongs to someone else
    assert reading(2, [2, 1]) == 2  # the worker went to sleep between the reads: still ours
    assert reading(4, [1, 1]) == 1  # never fewer than one core
    threads._cache.update(t=-1.0)


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="no /proc on this system")
def test_own_running_sees_at_least_this_thread() -> None:
    assert threads._own_running() >= 1
