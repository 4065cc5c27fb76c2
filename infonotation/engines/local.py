"""The local engine: the chunks of a pool scored one after the other in this process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..errors import CompileError, NotationError
from ..pools import PoolStream
from . import ScoredChunk

__all__ = ["local_chunks"]


def local_chunks(plan: object, stream: PoolStream, done: Callable[[int], bool]) -> Iterator[ScoredChunk]:
    """Score every chunk of ``stream`` not ``done`` with ``plan._score_chunk(X, y, start)``; inputs are kept."""
    for ch in stream:
        n = ch.X.shape[0]
        if done(ch.index):
            yield ScoredChunk(ch.index, ch.start, n, None, ch.X, ch.y)
        else:
            try:
                scores = plan._score_chunk(ch.X, ch.y, ch.start)  # type: ignore[attr-defined]
            except NotationError as err:
                raise CompileError(f"{err} (in chunk {ch.index}: pool points {ch.start}..{ch.start + n - 1})") from None
            yield ScoredChunk(ch.index, ch.start, n, scores, ch.X, ch.y)
