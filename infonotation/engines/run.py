"""One streamed scoring run: pool -> engine -> checked scores -> checkpoint -> the driver's consumers.

:func:`run_stream` is what ``acq.scores`` and ``acq.select`` call for every pool that is not an in-memory tensor
scored locally (a Dataset, DataLoader, iterable or Ray Dataset; ``engine="ray"``; ``checkpoint_dir=``). It checks
every chunk's scores (one finite number per point, else a :class:`CompileError` naming the chunk and its points,
raised before anything of that chunk is written), writes finished chunks to the checkpoint folder, and hands the
scores (with the inputs, when a shortlist needs them) to the consumers of :mod:`infonotation.driver`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..checkpoint import ChunkStore
from ..errors import CompileError
from ..pools import PoolStream, is_ray_dataset
from . import EngineSettings, ScoredChunk

__all__ = ["run_stream", "make_stream", "PROBE"]

#: Points of a finished chunk recomputed when a checkpointed run resumes (the check that the folder is this run's).
PROBE = 2


def make_stream(acq: Any, pool: object, y_pool: object, where: str = "X_pool") -> PoolStream:
    """``pool`` as a :class:`PoolStream` in ``acq``'s chunks, inputs cast to its dtype, labels checked by it."""
    return PoolStream(pool, chunk_size=acq._stream_chunk(), dtype=acq._input_dtype(), y_pool=y_pool,
                      check_labels=acq._check_labels if (y_pool is not None and acq.label_aware) else None,
                      where=where)


def _identity(acq: Any) -> dict[str, Any]:
    from .. import __version__

    return {"acquisition": type(acq).__name__, "label": acq.label, "repr": repr(acq), "version": __version__}


def _checked(acq: Any, sc: ScoredChunk) -> Tensor:
    s = sc.scores
    if not isinstance(s, Tensor) or s.shape != (sc.n,):
        got = list(s.shape) if isinstance(s, Tensor) else type(s).__name__
        raise CompileError(f"{acq.label} produced scores of the wrong shape ({got} for the {sc.n} points of chunk "
                           f"{sc.index}); check the network and inputs")
    s = s.detach().cpu()
    if not s.is_floating_point():
        s = s.to(torch.float64)
    bad = ~torch.isfinite(s)
    if bool(bad.any()):
        pts = (sc.start + bad.nonzero().flatten()[:5]).tolist()
        raise CompileError(
            f"{acq.label} produced non-finite scores (NaN or infinite) for pool points {pts} in chunk {sc.index} "
            f"(points {sc.start}..{sc.start + sc.n - 1}); nothing of this chunk was kept or written; check the "
            "network, the prior and those inputs"
        )
    return s


def run_stream(
    acq: Any,
    pool: object,
    y_pool: object,
    settings: EngineSettings,
    consumers: Sequence[Any],
    *,
    checkpoint_dir: object = None,
    progress: bool | None = None,
    keep_inputs: bool = False,
    desc: str | None = None,
) -> int:
    """Score ``pool`` with ``acq`` on ``settings``' engine, feeding ``consumers``; returns the number of points."""
    from ..protocol import progress_bar

    if acq.pool_dependent:
        raise CompileError(acq.pool_dependent)
    if acq.label_aware and y_pool is None:
        raise CompileError(
            f"{acq.label} needs the labels of the pool points (it is about an observed y): pass y_pool (a tensor in "
            "stream order, or y_pool='batch' for the second element of every batch)"
        )
    ray_pool = is_ray_dataset(pool)
    engine = "local" if acq.positional else settings.name  # positional scores need no network: the driver's job
    if ray_pool and engine == "ray":
        if isinstance(y_pool, Tensor):
            raise CompileError("a Ray Dataset pool carries its labels as a column: put them in its second column and "
                               "pass y_pool='batch'")
        if checkpoint_dir is not None:
            raise CompileError(
                "checkpoint_dir= needs the driver to know where each chunk starts, which a Ray Dataset pool does not "
                "say up front; pass the pool as a Dataset or DataLoader (engine='ray' still scores it on the cluster), "
                "or run without checkpoint_dir"
            )
        stream = None
    else:
        stream = make_stream(acq, pool, y_pool)
    if engine == "ray":  # Ray installed and the cluster reachable, before anything is written
        from .ray_engine import connect

        connect(settings)
    chunk = acq._stream_chunk()
    store = ChunkStore(checkpoint_dir, _identity(acq), chunk) if checkpoint_dir is not None else None  # type: ignore[arg-type]
    done = store.done if store is not None else (lambda i: False)
    if engine == "ray":
        from .ray_engine import ray_chunks

        chunks = ray_chunks(acq, pool, stream, settings, chunk_size=chunk, done=done, keep_inputs=keep_inputs,
                            labels=y_pool is not None and acq.label_aware)
    else:
        from .local import local_chunks

        assert stream is not None
        chunks = local_chunks(acq, stream, done)
    total = stream.size if stream is not None else None
    bar = progress_bar(total if total is not None else 0, progress, desc or f"scoring ({engine})")
    if total is None:
        bar.total = None
    points, count = 0, 0
    try:
        for sc in chunks:
            if sc.scores is None:
                assert store is not None
                scores = store.load(sc.index, sc.start)
                if scores.shape[0] != sc.n:
                    raise CompileError(
                        f"checkpoint_dir {str(store.folder)!r} holds {scores.shape[0]} scores for chunk {sc.index}, "
                        f"but this pool has {sc.n} points there: it belongs to another pool; use another folder"
                    )
                if not store.verified:  # the first finished chunk met: recompute its first points and compare
                    assert sc.X is not None
                    m = min(PROBE, sc.n)
                    probe = acq._score_chunk(sc.X[:m], None if sc.y is None else sc.y[:m], sc.start)
                    store.check_reproduced(sc.index, sc.start, _checked(acq, sc._replace(n=m, scores=probe)))
            else:
                scores = _checked(acq, sc)
                if store is not None:
                    store.write(sc.index, sc.start, scores)
            for c in consumers:
                c.add(sc.start, scores, sc.X, sc.y)
            points = max(points, sc.start + sc.n)
            count = max(count, sc.index + 1)
            bar.update(sc.n)
    finally:
        bar.close()
    if points == 0:
        raise CompileError("X_pool is empty: the pool yielded no points; a pool needs at least one point")
    if store is not None:
        store.finish(points, count)
    return points
