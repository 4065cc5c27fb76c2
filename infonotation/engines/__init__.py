"""Engines: where the chunks of a pool are scored. One interface, so that the code that uses them never asks which.

An engine takes the plan (the acquisition function, with its network and posterior factors), a pool, and which
chunks are already finished (a resumed run), and yields a :class:`ScoredChunk` for every chunk of the pool: its
number, the stream index of its first point, its scores (``None`` for a finished chunk, whose scores the driver
reads back) and, when asked, its inputs and labels (for a greedy rule's shortlist). Selection stays engine-free on
the driver (:mod:`infonotation.driver`); :mod:`.run` ties pool, engine, checks, checkpoints and selection together.

* ``"local"`` (:mod:`.local`): this process, chunk after chunk, the pool read as a stream.
* ``"ray"`` (:mod:`.ray_engine`): Ray Data ``map_batches`` over actors that each load the plan once; the pool is a
  Ray Dataset, or a tensor / Dataset / DataLoader / iterable that the driver reads and turns into one. Settings:
  ``address`` (join a running cluster: ``"auto"``, ``"host:port"`` or ``"ray://host:port"``; by default the running
  Ray instance when ``ray.is_initialized()``, else a new local one) and ``workers`` (actors; default one per CPU of
  the cluster).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor

from ..errors import CompileError

__all__ = ["ENGINES", "EngineSettings", "ScoredChunk", "check_engine_settings"]

#: The engines that exist.
ENGINES = ("local", "ray")


@dataclass(frozen=True)
class EngineSettings:
    """Which engine, and its settings (``address``, ``workers``: Ray only)."""

    name: str = "local"
    address: str | None = None
    workers: int | None = None


class ScoredChunk(NamedTuple):
    """One chunk's result: ``index`` (chunk number), ``start`` (stream index of its first point), ``scores``
    (``None``: a chunk finished by an earlier run), ``X`` and ``y`` (its inputs and labels, when kept)."""

    index: int
    start: int
    n: int
    scores: Tensor | None
    X: Tensor | None
    y: Tensor | None


def check_engine_settings(engine: object, address: object = None, workers: object = None) -> EngineSettings:
    """The engine and its settings, checked (:class:`CompileError` naming the bad setting otherwise)."""
    if engine not in ENGINES:
        raise CompileError(
            f"engine must be 'local' (this process, the pool in chunks) or 'ray' (Ray Data actors, on a local or "
            f"remote Ray cluster), got {engine!r}"
        )
    if engine != "ray" and (address is not None or workers is not None):
        which = "address" if address is not None else "workers"
        raise CompileError(f"{which}= is a setting of engine='ray' (the Ray cluster to join and its actors); "
                           f"engine={engine!r} runs in this process")
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise CompileError(f"address must be a Ray cluster address such as 'auto', 'host:6379' or "
                           f"'ray://host:10001', got {address!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise CompileError(f"workers must be a positive int (the number of Ray actors), got {workers!r}")
    return EngineSettings(str(engine), address, workers)  # type: ignore[arg-type]
