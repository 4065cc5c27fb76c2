"""The Ray engine: a pool scored by Ray Data ``map_batches`` over actors that each load the plan once.

The plan (the acquisition function: the network, the posterior factors, the evaluation set) is put into Ray's
object store once; every actor fetches it in its constructor and then scores batches of ``chunk_size`` points.
Results come back to the driver in pool order (``preserve_order``) as they are ready, so selection (a running top-k,
a greedy rule's shortlist) runs on the driver while the cluster is still scoring.

* A **Ray Dataset** pool is mapped directly (the cluster reads it in parallel: ``ray.data.read_numpy``,
  ``read_parquet``, ``read_images``, ...): its first column is the inputs (the second the labels, with
  ``y_pool="batch"``); the actors check each batch (shape, finite values) and the driver counts the points to
  index them.
* A **tensor, Dataset, DataLoader or iterable** is read by the driver as a stream of checked chunks
  (:class:`~infonotation.pools.PoolStream`, the same checks and messages as the local engine), put into the object
  store in blocks of whole chunks (each block carrying the stream indices of its points), and mapped as a Ray
  Dataset. The driver holds one block at a time; the object store holds the pool (and spills to disk beyond its
  capacity). Chunks finished by an earlier run (``checkpoint_dir=``) are not sent.

Actors are restarted by Ray when their process dies, and the batch they held is retried (Ray Data's defaults for
actor pools: ``max_restarts=-1``, ``max_task_retries=-1``); the scores do not depend on which actor computed them.
The cluster: the running Ray instance when ``ray.is_initialized()``; else ``address=`` joins an existing cluster
(``"auto"``, ``"host:port"``, ``"ray://host:port"``; checked to answer within a few seconds), and without an address
``ray.init()`` starts a local one (all CPUs; it stays up for later calls, ``ray.shutdown()`` stops it).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from ..errors import CompileError, NotationError
from ..pools import Chunk, PoolStream, check_inputs
from . import EngineSettings, ScoredChunk

__all__ = ["ray_chunks", "require_ray", "connect", "CONNECT_TIMEOUT"]

#: Seconds to wait for a Ray cluster address to answer before giving up.
CONNECT_TIMEOUT = 5.0
#: Bytes of inputs per block the driver puts into the object store (whole chunks; at least one).
BLOCK_BYTES = 32 * 2**20
#: At most this many chunks per block (so that small pools still spread over the actors).
BLOCK_CHUNKS = 16


def require_ray() -> Any:
    """The ``ray`` module with Ray Data, or a :class:`CompileError` saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as err:
        raise CompileError(
            f"engine='ray' needs Ray Data, which is not installed ({err}); install it with "
            "pip install 'infonotation[ray]' (Ray 2.40), or use engine='local'"
        ) from None
    return ray


def _check_reachable(address: str) -> None:
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise CompileError(f"address={address!r} is not a Ray cluster address; use 'auto', 'host:port' (the head "
                           "node's GCS, e.g. 'head:6379') or 'ray://host:port' (Ray Client, e.g. 'head:10001')")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as err:
        raise CompileError(
            f"cannot reach the Ray cluster at address={address!r} ({err}); start one with `ray start --head` on the "
            "head node and pass its address, or leave address out to start a local cluster"
        ) from None


def connect(settings: EngineSettings) -> Any:
    """Use the running Ray instance, join ``settings.address``, or start a local cluster; returns ``ray``."""
    ray = require_ray()
    if ray.is_initialized():
        address = settings.address
        if address not in (None, "auto", "local") and "://" not in address:  # type: ignore[operator]
            current = ray.get_runtime_context().gcs_address
            if current and current != address:
                raise CompileError(
                    f"Ray is already connected to the cluster at {current}, but address={address!r} asks for another "
                    "one; call ray.shutdown() first, or leave address out to use the running cluster"
                )
        return ray
    if settings.address is not None:
        _check_reachable(settings.address)
    try:
        ray.init(address=settings.address, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING)
    except Exception as err:  # noqa: BLE001 - ray.init raises ConnectionError, RuntimeError, ValueError, ...
        where = f"join the Ray cluster at address={settings.address!r}" if settings.address else "start a local Ray"
        raise CompileError(f"cannot {where}: {type(err).__name__}: {err}") from None
    return ray


# ----------------------------------------------------------------------------------------------------
# the actors


class _PlanActor:
    """A Ray Data actor: loads the plan once (constructor), then scores batches (``__call__``)."""

    def __init__(self, box: list[Any], spec: dict[str, Any]):
        import ray

        self.plan = ray.get(box[0])
        self.spec = spec
        self.dtype = getattr(torch, spec["dtype"]) if spec["dtype"] else None

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        spec = self.spec
        cols = list(batch)
        n = len(batch[cols[0]])
        try:
            if spec["driver_read"]:  # checked and cast by the driver
                X = _tensor(batch["x"])
                y = _tensor(batch["y"]) if "y" in batch else None
                start = int(batch["index"][0])
            else:  # a Ray Dataset: first column inputs, second labels
                X = check_inputs(_tensor(batch[cols[0]], f"{spec['where']} (a Ray Dataset batch)"), self.dtype,
                                 f"a batch of {n} points of the Ray Dataset {spec['where']}", None)
                y = None
                if spec["labels"]:
                    if len(cols) < 2:
                        raise CompileError("y_pool='batch' takes the labels from the second column of the Ray "
                                           f"Dataset, but it has only the column {cols[0]!r}")
                    y = self.plan._check_labels(_tensor(batch[cols[1]]), X)
                start = -1
            s = self.plan._score_chunk(X, y, start)
            if not isinstance(s, torch.Tensor) or s.shape != (n,):
                raise CompileError(f"{self.plan.label} produced scores of the wrong shape "
                                   f"({list(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__} for {n} "
                                   "points); check the network and inputs")
            out: dict[str, np.ndarray] = {"score": s.detach().cpu().numpy(), "error": np.full(n, "", dtype=object)}
        except NotationError as err:  # returned, not raised: the driver re-raises it with its own message
            if "index" in batch:
                first = int(batch["index"][0])
                err = CompileError(f"{err} (in chunk {first // spec['chunk']}: pool points {first}..{first + n - 1})")
            return {"score": np.full(n, np.nan), "error": np.full(n, str(err), dtype=object),
                    **({"index": batch["index"]} if "index" in batch else {})}
        if "index" in batch:
            out["index"] = batch["index"]
        if spec["keep"]:
            out["x"] = X.detach().cpu().numpy()
            if y is not None:
                out["y"] = y.detach().cpu().numpy()
        return out


def _tensor(a: np.ndarray, what: str = "a batch") -> torch.Tensor:
    if isinstance(a, np.ndarray) and a.dtype == object:
        raise CompileError(f"{what} holds objects (ragged or non-numeric inputs); every point needs the same shape")
    if not a.flags.writeable:  # Ray hands out read-only views of its blocks
        a = np.array(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.ascontiguousarray(a))


# ----------------------------------------------------------------------------------------------------
# the driver's side


@contextlib.contextmanager
def _data_context(ray: Any) -> Iterator[Any]:
    """Ray Data settings for one run (restored afterwards): results in pool order, no Ray progress bars or chatter."""
    ctx = ray.data.DataContext.get_current()
    old = (ctx.enable_progress_bars, ctx.execution_options.preserve_order)
    log = logging.getLogger("ray.data")
    level = log.level
    ctx.enable_progress_bars = False
    ctx.execution_options.preserve_order = True
    log.setLevel(logging.ERROR)
    try:
        yield ctx
    finally:
        ctx.enable_progress_bars, ctx.execution_options.preserve_order = old
        log.setLevel(level)


def _put_block(ray: Any, chunks: list[Chunk], labels: bool) -> Any:
    from ray.data.block import BlockAccessor

    X = chunks[0].X if len(chunks) == 1 else torch.cat([c.X for c in chunks])
    index = np.concatenate([np.arange(c.start, c.start + c.X.shape[0], dtype=np.int64) for c in chunks])
    batch = {"x": X.detach().cpu().numpy(), "index": index}
    if labels:
        ys = [c.y for c in chunks]
        if any(v is None for v in ys):
            raise CompileError("internal: labels missing for a chunk")
        batch["y"] = torch.cat(ys).detach().cpu().numpy()  # type: ignore[arg-type]
    return ray.put(BlockAccessor.batch_to_block(batch))


class _Regroup:
    """Rows arriving in pool order, regrouped into the pool's chunks (``chunk_size`` points from the start)."""

    def __init__(self, chunk_size: int, sizes: dict[int, int] | None):
        self.c, self.sizes = chunk_size, sizes
        self.parts: dict[int, list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]] = {}
        self.rows: dict[int, int] = {}
        self.next = 0  # the running count, for pools whose rows carry no index

    def feed(self, batch: dict[str, np.ndarray]) -> list[ScoredChunk]:
        n = len(batch["score"])
        pos = batch["index"] if "index" in batch else np.arange(self.next, self.next + n, dtype=np.int64)
        self.next += n
        cid = pos // self.c
        cuts = np.flatnonzero(np.diff(cid)) + 1
        done: list[ScoredChunk] = []
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, n]):
            i = int(cid[lo])
            piece = (batch["score"][lo:hi], batch["x"][lo:hi] if "x" in batch else None,
                     batch["y"][lo:hi] if "y" in batch else None)
            self.parts.setdefault(i, []).append(piece)
            self.rows[i] = self.rows.get(i, 0) + int(hi - lo)
            want = self.sizes.get(i) if self.sizes is not None else self.c
            if want is not None and self.rows[i] >= want:
                done.append(self._emit(i))
        return done

    def _emit(self, i: int) -> ScoredChunk:
        parts = self.parts.pop(i)
        self.rows.pop(i)
        s = torch.from_numpy(np.concatenate([p[0] for p in parts]))
        X = torch.from_numpy(np.concatenate([p[1] for p in parts])) if parts[0][1] is not None else None
        y = torch.from_numpy(np.concatenate([p[2] for p in parts])) if parts[0][2] is not None else None
        return ScoredChunk(i, i * self.c, s.shape[0], s, X, y)

    def flush(self) -> list[ScoredChunk]:
        if self.sizes is not None and self.parts:
            raise CompileError(f"internal: the Ray engine lost points of chunks {sorted(self.parts)}")
        return [self._emit(i) for i in sorted(self.parts)]


def ray_chunks(
    plan: Any,
    pool: object,
    stream: PoolStream | None,
    settings: EngineSettings,
    *,
    chunk_size: int,
    done: Callable[[int], bool],
    keep_inputs: bool,
    labels: bool,
    where: str = "X_pool",
) -> Iterator[ScoredChunk]:
    """Score ``pool`` on Ray (see the module docstring): a :class:`ScoredChunk` per chunk, finished ones first."""
    ray = connect(settings)
    workers = settings.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    dtype = plan._input_dtype()
    spec = {"driver_read": stream is not None, "keep": keep_inputs, "labels": labels, "where": where,
            "chunk": chunk_size, "dtype": str(dtype).replace("torch.", "") if dtype is not None else None}
    with _data_context(ray):
        if stream is not None:
            refs: list[Any] = []
            sizes: dict[int, int] | None = {}
            block: list[Chunk] = []
            per_block = BLOCK_CHUNKS
            total = stream.size
            for ch in stream:
                n = ch.X.shape[0]
                if done(ch.index):
                    yield ScoredChunk(ch.index, ch.start, n, None, ch.X, ch.y)
                    continue
                if not block:  # blocks of whole chunks: ~BLOCK_BYTES, and at least 4 blocks per actor if known
                    row = max(1, ch.X[:1].numel() * ch.X.element_size())
                    per_block = max(1, min(BLOCK_CHUNKS, BLOCK_BYTES // (row * chunk_size)))
                    if total is not None:
                        per_block = max(1, min(per_block, -(-total // (chunk_size * 4 * workers))))
                block.append(ch)
                sizes[ch.index] = n  # type: ignore[index]
                if len(block) >= per_block:
                    refs.append(_put_block(ray, block, labels))
                    block = []
            if block:
                refs.append(_put_block(ray, block, labels))
            if not refs:
                return
            ds = ray.data.from_arrow_refs(refs)
        else:
            ds, sizes = pool, None
        box = [ray.put(plan)]
        out = ds.map_batches(_PlanActor, fn_constructor_args=(box, spec), batch_size=chunk_size,
                             concurrency=workers, num_cpus=1, batch_format="numpy", zero_copy_batch=True)
        out.context.execution_options.preserve_order = True
        out.context.enable_progress_bars = False
        regroup = _Regroup(chunk_size, sizes)
        try:
            for batch in out.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=2):
                errors = batch["error"]
                if len(errors) and any(errors):
                    raise CompileError(next(str(e) for e in errors if e))
                yield from regroup.feed(batch)
        except NotationError:
            raise
        except Exception as err:  # noqa: BLE001 - a failure inside Ray: report it as the library's error
            lines = [ln for ln in str(err).strip().splitlines() if ln.strip()]
            raise CompileError(f"the Ray engine failed: {type(err).__name__}: {lines[-1] if lines else err}") from err
        yield from regroup.flush()

