"""Thread policy: how many threads torch may use for the library's work, chosen deliberately.

Measured on two cores with another process keeping one core busy (a training job beside the acquisition): MKL's
threaded Cholesky inverse (``potri``) of a 2,570 x 2,570 matrix took 8-14 s on two threads against 0.4 s on one,
and loops of small kernels (greedy selection steps) ran 20x slower on two threads than on one, because every
parallel region waits at a barrier for a thread the OS has descheduled. Two rules:

* :func:`one_thread` -- LAPACK factorisations and inverses of ``P x P`` matrices always run on one thread: at the
  sizes met here MKL's threaded versions gain little even on a quiet machine and collapse on a busy one.
* :func:`adaptive_threads` -- everything else (GEMM-heavy scoring, Fisher sums, greedy selection) uses the
  caller's ``torch.get_num_threads()`` capped at the number of *idle* cores: the cores minus the other processes'
  runnable tasks, read from ``/proc/loadavg`` (the instantaneous count, minimum of a few reads) less this
  process's own runnable threads (``/proc/self/task``), where they exist. On a quiet
  machine nothing changes; beside a busy process the work runs on the cores that are actually free.

Both restore the caller's setting afterwards, and nest (an inner block inside an outer one changes nothing more).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

__all__ = ["one_thread", "adaptive_threads", "idle_cores", "adaptive"]

_state = threading.local()
F = TypeVar("F")


_cache: dict[str, float] = {"t": -1.0, "idle": 0.0}
#: How long a reading of the idle cores is reused (seconds).
CACHE_SECONDS = 1.0
#: Seconds between the reads of one reading: a kernel thread that runs for a millisecond is not a busy process
#: (at 0.5 ms apart, 2 of 300 readings on a quiet machine said "busy"; at 2 ms, none; a real CPU hog is seen in all).
SAMPLE_GAP = 0.002


def _running_tasks() -> int:
    """Runnable tasks of the whole system now (the fourth field of ``/proc/loadavg``, before the slash)."""
    with open("/proc/loadavg", encoding="ascii") as f:
        return int(f.read().split()[3].split("/")[0])


def _own_running() -> int:
    """Threads of this process that are runnable now (``R`` in ``/proc/self/task/*/stat``), this one included."""
    n = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:  # the thread ended between the listing and the read
            continue
        if stat[stat.rindex(")") + 2 : stat.rindex(")") + 3] == "R":
            n += 1
    return n


def idle_cores(samples: int = 3) -> int | None:
    """Cores not used by *other* processes' runnable tasks right now (``None`` when the system does not say).

    ``/proc/loadavg`` counts every runnable task, this process's own threads included: torch's OpenMP workers
    stay runnable (spinning) for a while after each parallel region, so they are subtracted (read from
    ``/proc/self/task``); counting them would halve the threads on a quiet machine. The minimum over ``samples``
    reads :data:`SAMPLE_GAP` apart (a busy process is runnable in every read, a short-lived one is not), reused for
    :data:`CACHE_SECONDS`.
    """
    now = time.monotonic()
    if now - _cache["t"] < CACHE_SECONDS:
        return int(_cache["idle"]) if _cache["idle"] > 0 else None
    cores = os.cpu_count() or 1
    try:
        others = []
        for k in range(samples):
            if k:
                time.sleep(SAMPLE_GAP)
            before = _own_running()  # read on both sides: a worker that stops spinning in between is still ours
            running = _running_tasks()
            others.append(max(running - max(before, _own_running()), 0))
    except (OSError, ValueError, IndexError):
        _cache.update(t=now, idle=0.0)
        return None
    idle = max(cores - min(others), 1)
    _cache.update(t=now, idle=float(idle))
    return idle


@contextmanager
def _threads(n: int) -> Iterator[None]:
    old = torch.get_num_threads()
    if n == old:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(1)``, restoring the caller's setting afterwards."""
    with _threads(1):
        yield


@contextmanager
def adaptive_threads() -> Iterator[None]:
    """Run the block on at most as many threads as there are idle cores (see the module docstring)."""
    if getattr(_state, "active", False):
        yield
        return
    n = torch.get_num_threads()
    idle = idle_cores() if n > 1 else None
    _state.active = True
    try:
        with _threads(min(n, idle) if idle is not None else n):
            yield
    finally:
        _state.active = False


def adaptive(fn: F) -> F:
    """Decorator: run ``fn`` inside :func:`adaptive_threads`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with adaptive_threads():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
