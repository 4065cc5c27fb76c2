"""Any pool -> a stream of checked chunks of inputs: how the library reads a pool it does not hold in memory.

A pool is a ``torch.Tensor`` ``[N, ...]`` (or a numpy array, memory-mapped or not), a ``torch.utils.data.Dataset``
(map-style or iterable; each item one point, or a tuple whose first element is the point), a ``DataLoader``, or
any iterable of batches. A batch is a tensor (or numpy array) of inputs ``[n, ...]``, or a tuple/list whose first
element is the inputs (and whose second element is the labels, used with ``y_pool="batch"``). Indices count from
the start of the stream.

:class:`PoolStream` cuts the stream into **chunks** of exactly ``chunk_size`` points counted from the start of the
stream (the last may be shorter), whatever the batching of the source: chunk ``i`` covers the points
``[i * chunk_size, (i + 1) * chunk_size)``. Small batches are joined, large ones split, so memory holds at most one
source batch and one chunk, and the chunks (and their scores) are the same for a tensor, a ``DataLoader`` of any
batch size and a checkpointed run resumed half-way.

Every batch is checked as it arrives, and an error names the batch and its points: inputs of at least two
dimensions (points along the first), one feature shape and one dtype for the whole stream, real and finite values;
floating inputs are cast to the network's dtype. An empty pool, a shuffling ``DataLoader`` (its order, and so its
indices, change from one pass to the next) and labels that do not line up with the points are errors too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, IterableDataset, RandomSampler

from .errors import CompileError

__all__ = ["Chunk", "PoolStream", "check_inputs", "is_ray_dataset", "is_stream_pool", "describe_pool", "DEFAULT_CHUNK"]

#: Points per chunk when the acquisition function does not fix its own chunk size.
DEFAULT_CHUNK = 1024


class Chunk(NamedTuple):
    """``index``: the chunk's number; ``start``: the stream index of its first point; ``X`` its inputs;
    ``y`` its labels (or None)."""

    index: int
    start: int
    X: Tensor
    y: Tensor | None


def is_ray_dataset(pool: object) -> bool:
    """Whether ``pool`` is a Ray Dataset (checked without importing Ray)."""
    return any(c.__module__.startswith("ray.data") and c.__name__ in ("Dataset", "MaterializedDataset")
               for c in type(pool).__mro__)


def is_stream_pool(pool: object) -> bool:
    """Whether ``pool`` is a pool other than an in-memory tensor (a Dataset, DataLoader, iterable, Ray Dataset)."""
    return not isinstance(pool, Tensor)


def describe_pool(pool: object) -> str:
    """A few words naming the kind of pool, for messages."""
    if isinstance(pool, Tensor):
        return f"a tensor {list(pool.shape)}"
    if isinstance(pool, np.ndarray):
        return f"a numpy array {list(pool.shape)}"
    if isinstance(pool, DataLoader):
        return "a DataLoader"
    if isinstance(pool, Dataset):
        return f"a {type(pool).__name__} dataset"
    if is_ray_dataset(pool):
        return "a Ray Dataset"
    return f"an iterable of batches ({type(pool).__name__})"


def _shape(t: Tensor) -> str:
    return "[" + ", ".join(["n"] + [str(s) for s in t.shape[1:]]) + "]"


class PoolStream:
    """A pool read as a stream of checked :class:`Chunk` s of ``chunk_size`` points (see the module docstring).

    ``dtype``: floating inputs are cast to it (the network's dtype). ``y_pool``: ``None``, a tensor of labels in
    stream order (``[N]`` or ``[N, D]``), or ``"batch"`` (the second element of every batch). ``check_labels``:
    ``(y, X) -> y``, the acquisition function's label check, applied to every chunk. ``where`` names the pool in
    messages. Iterating twice reads the source twice (a generator can be read once only).
    """

    def __init__(self, pool: object, *, chunk_size: int, dtype: torch.dtype | None = None, y_pool: object = None,
                 check_labels: Callable[[Tensor, Tensor], Tensor] | None = None, where: str = "X_pool"):
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise CompileError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        self.pool, self.chunk_size, self.dtype, self.where = pool, chunk_size, dtype, where
        self.check_labels = check_labels
        if isinstance(pool, str | bytes | dict | int | float) or pool is None:
            raise CompileError(
                f"{where} must be a tensor, a torch Dataset, a DataLoader or an iterable of batches (tensors of inputs "
                f"or (inputs, ...) tuples), got {type(pool).__name__}"
            )
        if not (isinstance(pool, Tensor | np.ndarray | Dataset | DataLoader) or is_ray_dataset(pool)
                or isinstance(pool, Iterable)):
            raise CompileError(
                f"{where} must be a tensor, a torch Dataset, a DataLoader or an iterable of batches, got "
                f"{type(pool).__name__}"
            )
        if isinstance(pool, DataLoader):
            sampler = pool.batch_sampler.sampler if pool.batch_sampler is not None else pool.sampler
            if isinstance(sampler, RandomSampler) or isinstance(pool.sampler, RandomSampler):
                raise CompileError(
                    f"{where} is a DataLoader that shuffles (shuffle=True): indices count from the start of the "
                    "stream, so they would not name the same points from one pass to the next; build it with "
                    "shuffle=False"
                )
        if isinstance(y_pool, str) and y_pool != "batch":
            raise CompileError(f"y_pool must be a tensor of labels or 'batch' (the second element of every batch), "
                               f"got {y_pool!r}")
        if y_pool is not None and not isinstance(y_pool, str | Tensor):
            raise CompileError(f"y_pool must be a torch.Tensor of labels or 'batch', got {type(y_pool).__name__}")
        if isinstance(y_pool, Tensor) and y_pool.dim() == 0:
            raise CompileError("y_pool must hold one label per pool point, got a scalar")
        self.y_pool = y_pool
        self.feature_shape: tuple[int, ...] | None = None
        self.source_dtype: torch.dtype | None = None
        self.points = 0  # points read so far (the pool size once the stream is exhausted)

    # -- size --------------------------------------------------------------------------------------------
    @property
    def size(self) -> int | None:
        """The number of points when the source says so up front (tensors, sized datasets), else None."""
        p = self.pool
        try:
            if isinstance(p, Tensor | np.ndarray):
                return int(p.shape[0]) if p.ndim >= 1 else None
            if isinstance(p, DataLoader):
                ds = p.dataset
                if not isinstance(ds, IterableDataset) and hasattr(ds, "__len__") and not p.drop_last:
                    return len(ds)  # type: ignore[arg-type]
                return None
            if isinstance(p, Dataset) and not isinstance(p, IterableDataset) and hasattr(p, "__len__"):
                return len(p)  # type: ignore[arg-type]
        except TypeError:
            return None
        return None

    # -- batches -----------------------------------------------------------------------------------------
    def _source(self) -> Iterator[Any]:
        p = self.pool
        if isinstance(p, Tensor | np.ndarray):
            if p.ndim < 2:
                raise CompileError(
                    f"{self.where} has shape {list(p.shape)}, but a pool is [N, features...] with the points along the "
                    "first dimension; for a single point use x[None], for N points with one scalar feature each use "
                    "x[:, None]"
                )
            step = self.chunk_size
            return (p[s : s + step] for s in range(0, p.shape[0], step))
        if isinstance(p, DataLoader):
            return iter(p)
        if isinstance(p, Dataset):
            if not isinstance(p, IterableDataset) and not hasattr(p, "__len__"):
                raise CompileError(f"{self.where}: a map-style Dataset needs __len__ to be read as a pool")
            return iter(DataLoader(p, batch_size=self.chunk_size, shuffle=False))
        if is_ray_dataset(p):
            return (_first_columns(b) for b in p.iter_batches(batch_size=self.chunk_size, batch_format="numpy"))
        return iter(p)  # type: ignore[call-overload]

    def _split(self, batch: object, number: int) -> tuple[Tensor, Tensor | None]:
        """Inputs and (with ``y_pool='batch'``) labels of one source batch, checked."""
        y = None
        if isinstance(batch, tuple | list):
            if len(batch) == 0:
                raise CompileError(f"{self.where} batch {number} is an empty tuple; a batch is a tensor of inputs or "
                                   "an (inputs, ...) tuple")
            if self.y_pool == "batch":
                if len(batch) < 2:
                    raise CompileError(f"y_pool='batch' takes the labels from the second element of every batch, but "
                                       f"{self.where} batch {number} has only the inputs")
                y = _as_tensor(batch[1], f"the labels of {self.where} batch {number}")
            batch = batch[0]
        elif self.y_pool == "batch":
            raise CompileError(f"y_pool='batch' takes the labels from the second element of every batch, but "
                               f"{self.where} batch {number} is a single {type(batch).__name__}")
        X = _as_tensor(batch, f"{self.where} batch {number}")
        return X, y

    def _check(self, X: Tensor, number: int, start: int) -> Tensor:
        where = f"{self.where} batch {number} (points {start}..{start + X.shape[0] - 1})"
        if X.dim() >= 2 and not X.is_complex():
            if self.feature_shape is None:
                self.feature_shape, self.source_dtype = tuple(X.shape[1:]), X.dtype
            elif tuple(X.shape[1:]) != self.feature_shape:
                raise CompileError(
                    f"{where} has inputs of shape {list(X.shape)}, but the earlier batches had "
                    f"{_shape(torch.empty(0, *self.feature_shape))}: every point of a pool has the same shape"
                )
            elif X.dtype != self.source_dtype:
                raise CompileError(
                    f"{where} has dtype {str(X.dtype).replace('torch.', '')}, but the earlier batches had "
                    f"{str(self.source_dtype).replace('torch.', '')}: a pool has one dtype (convert it in the "
                    "Dataset or the DataLoader's collate_fn)"
                )
        return check_inputs(X, self.dtype, where, start)

    def batches(self) -> Iterator[tuple[int, int, Tensor, Tensor | None]]:
        """``(batch number, start, X, y)`` for every non-empty source batch, checked (labels not yet attached)."""
        start = 0
        for number, batch in enumerate(self._source()):
            X, y = self._split(batch, number)
            if X.shape[0] == 0 and X.dim() >= 1:
                continue
            X = self._check(X, number, start)
            if y is not None and y.shape[0] != X.shape[0]:
                raise CompileError(f"{self.where} batch {number} has {X.shape[0]} inputs but {y.shape[0]} labels")
            yield number, start, X, y
            start += X.shape[0]

    # -- chunks ------------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Chunk]:
        c = self.chunk_size
        pending: list[tuple[Tensor, Tensor | None]] = []
        held = 0
        index = 0
        self.points = 0
        last_batch = -1
        for number, _start, X, y in self.batches():
            last_batch = number
            pending.append((X, y))
            held += X.shape[0]
            while held >= c:
                Xc, yc, pending, held = _take(pending, c, held)
                yield self._chunk(index, Xc, yc, number)
                index += 1
        if held:
            Xc, yc, pending, held = _take(pending, held, held)
            yield self._chunk(index, Xc, yc, last_batch)
            index += 1
        if self.points == 0:
            raise CompileError(f"{self.where} is empty: {describe_pool(self.pool)} that yielded no points; a pool "
                               "needs at least one point")
        if isinstance(self.y_pool, Tensor) and self.y_pool.shape[0] != self.points:
            raise CompileError(f"y_pool holds {self.y_pool.shape[0]} labels but the pool has {self.points} points; "
                               "give one label per pool point, in stream order")

    def _chunk(self, index: int, X: Tensor, y: Tensor | None, number: int) -> Chunk:
        start = self.points
        n = X.shape[0]
        if isinstance(self.y_pool, Tensor):
            if self.y_pool.shape[0] < start + n:
                raise CompileError(
                    f"y_pool holds {self.y_pool.shape[0]} labels but the pool has more points (batch {number} reaches "
                    f"point {start + n - 1}); give one label per pool point, in stream order"
                )
            y = self.y_pool[start : start + n]
        if y is not None and self.check_labels is not None:
            y = self.check_labels(y, X)
        self.points += n
        return Chunk(index, start, X, y)


def check_inputs(X: Tensor, dtype: torch.dtype | None, where: str, start: int | None) -> Tensor:
    """One batch of inputs checked on its own: at least 2-D, real, finite; floating inputs cast to ``dtype``.

    ``where`` names the batch in messages; ``start`` (its first point's pool index, if known) names bad points.
    """
    if X.dim() < 2:
        raise CompileError(
            f"{where} has shape {list(X.shape)}, but a batch is [n, features...] with the points along the first "
            "dimension (a Dataset's items are single points; scalars need a feature dimension: x[:, None])"
        )
    if X.is_complex():
        raise CompileError(f"{where} is complex ({X.dtype}); inputs must be real")
    if X.is_floating_point():
        finite = torch.isfinite(X.reshape(X.shape[0], -1)).all(1)
        if not bool(finite.all()):
            rows = (~finite).nonzero().flatten()[:5]
            what = f"pool points {(start + rows).tolist()}" if start is not None else f"rows {rows.tolist()} of it"
            raise CompileError(f"{where} holds NaN or infinite values ({what}...)")
        if dtype is not None and X.dtype != dtype:
            X = X.to(dtype)
    return X


def _take(pending: list[tuple[Tensor, Tensor | None]], n: int, held: int
          ) -> tuple[Tensor, Tensor | None, list[tuple[Tensor, Tensor | None]], int]:
    """The first ``n`` points of the pending batches (joined), and what is left."""
    xs: list[Tensor] = []
    ys: list[Tensor | None] = []
    need = n
    rest: list[tuple[Tensor, Tensor | None]] = []
    for i, (X, y) in enumerate(pending):
        if need == 0:
            rest = pending[i:]
            break
        m = X.shape[0]
        if m <= need:
            xs.append(X)
            ys.append(y)
            need -= m
        else:
            xs.append(X[:need])
            ys.append(None if y is None else y[:need])
            rest = [(X[need:], None if y is None else y[need:])] + pending[i + 1 :]
            need = 0
            break
    Xc = xs[0] if len(xs) == 1 else torch.cat(xs)
    yc = None if any(v is None for v in ys) else (ys[0] if len(ys) == 1 else torch.cat(ys))  # type: ignore[arg-type]
    return Xc, yc, rest, held - n


def _as_tensor(v: object, what: str) -> Tensor:
    if isinstance(v, Tensor):
        return v
    if isinstance(v, np.ndarray):
        if v.dtype.kind not in "biuf":
            raise CompileError(f"{what} is a numpy array of dtype {v.dtype}; inputs must be numbers")
        if not v.flags.writeable:  # a read-only memory map: copy the slice (torch tensors may be written to)
            v = np.array(v)
        return torch.from_numpy(np.ascontiguousarray(v))
    raise CompileError(
        f"{what} is a {type(v).__name__}; a batch is a torch.Tensor (or numpy array) of inputs, or a tuple/list "
        "whose first element is the inputs (numbers in nested lists: convert them with torch.tensor first)"
    )


def _first_columns(batch: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """A Ray Dataset batch (columns) as a tuple: the first column is the inputs, the second the labels."""
    return tuple(batch.values())
