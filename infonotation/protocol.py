"""One acquisition protocol for everything that scores a pool: compiled quantities and named methods alike.

``inf.compile(...)`` (a quantity in weight or prediction space) and ``inf.methods.NAME.compile(...)`` (a named
method) both return an :class:`Acquisition`:

* ``acq.scores(pool, y_pool=None, engine="local", progress=None)`` -> ``Tensor[N]``, one score per pool point
  (``acq(pool, y_pool)`` is the same call);
* ``acq.select(pool, k, strategy=None, y_pool=None, engine="local", progress=None)`` -> :class:`Selection`
  ``(indices, scores)``: ``k`` distinct pool indices in selection order, and for each chosen point its score
  (``"topk"``: its individual score; ``"greedy"``: its gain in the joint objective when it was chosen, so
  ``selection.joint`` is the joint score of every prefix). ``strategy=None`` uses the object's own batch rule
  (``acq.strategies[0]``); ``acq.strategies`` lists what it accepts (``"topk"``, ``"greedy"`` and, for some named
  methods, their published rule: ``"kmeans++"`` for BADGE, ``"forward-backward"`` for BAIT).

Common rules, checked here once for every implementation:

* ``pool``: a ``torch.Tensor`` ``[N, ...]`` of inputs (N >= 1; floating-point inputs finite and cast to the
  network's dtype; a 1-D tensor is refused: one point is ``x[None]``, N scalar inputs ``x[:, None]``), or a pool
  that does not fit in memory: a ``torch.utils.data.Dataset``, a ``DataLoader`` (of inputs or ``(inputs, ...)``
  tuples), any iterable of batches, or (``engine="ray"``) a Ray Dataset (:mod:`infonotation.pools`). Indices count
  from the start of the stream. Such pools are scored in chunks (memory bounded by the chunk size, a progress bar),
  ``"topk"`` keeps a running top-k, and any other strategy (greedy, k-means++, forward-backward) first keeps a
  **shortlist** of the best ``shortlist`` points by individual score (default ``max(10 k, 1000)``) and runs on
  it, on the driver; the result is a :class:`StreamSelection` saying what was kept.
* ``y_pool``: the pool's labels, ``[N]`` (or ``[N, D]`` Gaussian targets) in pool order, or ``"batch"`` (a streamed
  pool's batches are ``(inputs, labels, ...)``); required by label-aware quantities (``I[W;y|x]``, GraNd, EL2N,
  ...), checked and ignored by the others.
* ``k``: an ``int`` with ``0 <= k <= N``.
* ``engine``: ``"local"`` (this process, the pool in chunks) or ``"ray"`` (Ray Data actors that each hold the plan
  once, :mod:`infonotation.engines.ray_engine`; ``address=`` joins a running cluster, ``workers=`` sets the
  number of actors; without an address the running Ray instance, else a new local one). Scores and selections
  equal the local engine's.
* ``checkpoint_dir``: a folder where the scores are written chunk by chunk; a run interrupted half-way resumes
  there without recomputing finished chunks (:mod:`infonotation.checkpoint`).
* ``progress``: ``None`` (a tqdm bar when the work takes more than half a second), ``True`` or ``False``.
* Every error is an :class:`~infonotation.errors.CompileError` saying what was wrong and what to do.

The prediction-space free functions follow the same rules on log-probabilities ``[N, K, C]``: ``inf.bald(lp)``
and ``inf.epig(lp, lp_eval)`` are scores, ``inf.batchbald(lp, k, progress=...)`` is a greedy selection whose
result is a :class:`Selection` too (the :class:`JointSelection` kind: its ``scores`` are the joint score of each
prefix, as the API contract fixes for ``inf.batchbald``; ``.gains`` and ``.joint`` mean the same on both kinds).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .driver import RunningTopK, ScoreCollector, Shortlist, shortlist_size
from .engines import ENGINES, EngineSettings, check_engine_settings
from .errors import CompileError
from .pools import DEFAULT_CHUNK, PoolStream
from .threads import adaptive_threads

__all__ = [
    "Acquisition",
    "Selection",
    "JointSelection",
    "StreamSelection",
    "ENGINES",
    "check_engine",
    "check_k",
    "check_pool",
    "check_progress",
    "map_pool",
    "progress_bar",
]

class Selection(NamedTuple):
    """The result of ``acq.select``: ``indices`` (``LongTensor[k]``, pool order, in selection order) and
    ``scores`` (``Tensor[k]``): for each chosen point its individual score (top-k and other per-point rules) or
    its gain in the joint objective when it was chosen (greedy).

    ``selection.gains`` is ``scores``; ``selection.joint`` is their running sum, the joint objective of every
    prefix (for greedy: ``f(B_i) - f(empty)``). A plain tuple: ``indices, scores = acq.select(...)``.
    """

    indices: Tensor
    scores: Tensor

    @property
    def gains(self) -> Tensor:
        """Each chosen point's score, or its gain when it was chosen."""
        return self.scores

    @property
    def joint(self) -> Tensor:
        """The running sum of the gains: the joint score of each prefix."""
        return torch.cumsum(self.scores, 0)


class StreamSelection(Selection):
    """A :class:`Selection` from a pool scored as a stream (a Dataset, DataLoader, iterable, ``engine="ray"`` or
    ``checkpoint_dir=``), with what the driver kept: ``pool_size`` (the points scored) and ``shortlist`` (for rules
    other than top-k: the pool indices, in pool order, of the points the rule chose from, the best by individual
    score; ``None`` for top-k, which keeps a running top-k of every score).
    """

    shortlist: Tensor | None
    pool_size: int

    def __new__(cls, indices: Tensor, scores: Tensor, shortlist: Tensor | None = None,
                pool_size: int = 0) -> StreamSelection:
        self = super().__new__(cls, indices, scores)
        self.shortlist = shortlist
        self.pool_size = pool_size
        return self

    def __repr__(self) -> str:
        kept = "running top-k" if self.shortlist is None else f"shortlist of {self.shortlist.numel()}"
        return (f"StreamSelection(indices={self.indices!r}, scores={self.scores!r}, pool_size={self.pool_size}, "
                f"{kept})")


class JointSelection(Selection):
    """A :class:`Selection` whose ``scores`` are the joint objective of each prefix ``indices[: i + 1]``.

    ``inf.batchbald`` returns this kind (its contract fixes ``scores`` as prefix scores); ``.joint`` is ``scores``
    and ``.gains`` their differences, so both properties mean the same as on a plain :class:`Selection`.
    """

    __slots__ = ()

    @property
    def gains(self) -> Tensor:
        s = self.scores
        return torch.diff(s, prepend=s.new_zeros(1)) if s.numel() else s

    @property
    def joint(self) -> Tensor:
        return self.scores


# ----------------------------------------------------------------------------------------------------
# validation shared by every implementation


def check_k(k: object, n: int) -> int:
    """``k`` as an int with ``0 <= k <= n`` (:class:`CompileError` otherwise)."""
    if isinstance(k, bool) or not isinstance(k, int):
        raise CompileError(f"k must be an int (the number of points to select), got {type(k).__name__} {k!r}")
    if k < 0:
        raise CompileError(f"k must be >= 0 (the number of points to select), got k = {k}")
    if k > n:
        raise CompileError(f"cannot select k = {k} points from a pool of {n}; use k <= {n}")
    return k


def check_engine(engine: object, address: object = None, workers: object = None) -> str:
    """The engine's name, checked with its settings (:func:`~infonotation.engines.check_engine_settings`)."""
    return check_engine_settings(engine, address, workers).name


def check_progress(progress: object) -> bool | None:
    if progress is not None and not isinstance(progress, bool):
        raise CompileError(f"progress must be True, False or None (automatic), got {progress!r}")
    return progress


def check_pool(pool: object, dtype: torch.dtype | None = None, where: str = "X_pool") -> Tensor:
    """A pool of inputs as a tensor ``[N, ...]``: checked, and floating inputs cast to ``dtype`` when given."""
    if not isinstance(pool, Tensor):
        raise CompileError(
            f"{where} must be a torch.Tensor of inputs whose first dimension indexes the points, got "
            f"{type(pool).__name__}"
        )
    if pool.dim() < 2:
        shape = list(pool.shape)
        raise CompileError(
            f"{where} has shape {shape}, but a pool is [N, features...] with the points along the first dimension; "
            "for a single point use x[None], for N points with one scalar feature each use x[:, None]"
        )
    if pool.shape[0] == 0:
        raise CompileError(f"{where} is empty (shape {list(pool.shape)}); a pool needs at least one point")
    if pool.is_complex():
        raise CompileError(f"{where} is complex ({pool.dtype}); inputs must be real")
    if pool.is_floating_point():
        if not bool(torch.isfinite(pool).all()):
            bad = (~torch.isfinite(pool.reshape(pool.shape[0], -1))).any(1).nonzero()[:5].flatten().tolist()
            raise CompileError(f"{where} holds NaN or infinite values (rows {bad}...)")
        if dtype is not None and pool.dtype != dtype:
            pool = pool.to(dtype)
    return pool


def progress_bar(total: int | None, progress: bool | None, desc: str, unit: str = "pt") -> Any:
    """A tqdm bar: ``progress=True`` always, ``False`` never, ``None`` when the work takes over half a second
    (and not when ``TQDM_DISABLE`` is set). ``total=None``: a stream of unknown length (a counter)."""
    kw: dict[str, Any] = {"total": total, "desc": desc, "unit": unit, "leave": False}
    if progress is None:
        kw["delay"] = 0.5
    else:
        kw["disable"] = not progress
    if total == 0:
        kw["disable"] = True
    return tqdm(**kw)


def map_pool(
    fn: Callable[[Tensor, Tensor | None], Tensor],
    X: Tensor,
    y: Tensor | None,
    chunk_size: int | None,
    *,
    engine: str = "local",
    progress: bool | None = None,
    desc: str = "infonotation",
) -> Tensor:
    """``fn`` over an in-memory pool in chunks of ``chunk_size`` points (all at once for ``None``), in pool order.

    The local engine's loop for a tensor pool; every other pool (a stream, ``engine="ray"``, a checkpointed run)
    goes through :func:`infonotation.engines.run.run_stream`, which uses the same chunks.
    """
    check_engine(engine)
    n = X.shape[0]
    if chunk_size is None or chunk_size >= n:
        out = fn(X, y)
        return out
    parts: list[Tensor] = []
    bar = progress_bar(n, progress, desc)
    try:
        for s in range(0, n, chunk_size):
            sl = slice(s, min(s + chunk_size, n))
            parts.append(fn(X[sl], None if y is None else y[sl]))
            bar.update(sl.stop - sl.start)
    finally:
        bar.close()
    return torch.cat(parts)


# ----------------------------------------------------------------------------------------------------
# the base class


class Acquisition:
    """An acquisition function bound to a model: scores a pool and selects a batch from it (see module docs).

    Subclasses set ``strategies`` (accepted ``strategy`` names, the first is the default), ``label_aware``
    (``y_pool`` required), ``higher_is_better`` (top-k takes the largest scores, else the smallest) and
    ``chunk_size`` (``None``: the whole pool in one call), and implement ``_score(X, y)`` on a chunk and, for
    strategies other than ``"topk"``, ``_select(strategy, X, k, y, progress)``. Streamed pools and other engines
    call ``_score_chunk(X, y, start)`` (default: ``_score``) on chunks of ``_stream_chunk()`` points; the object
    is pickled to Ray's workers. ``positional`` (scores that depend only on the pool index, e.g. random) makes
    the driver compute them whatever the engine; ``pool_dependent`` (a message) refuses streamed pools for
    scores that depend on the whole pool at once.
    """

    strategies: tuple[str, ...] = ("topk",)
    label_aware: bool = False
    higher_is_better: bool = True
    chunk_size: int | None = None
    progress: bool | None = None
    #: how the object names itself in messages
    label: str = "this acquisition function"
    #: scores depend only on the point's index in the pool (computed on the driver, whatever the engine)
    positional: bool = False
    #: an infinite score is an error naming the points, like a NaN one (closed-form scores must be finite)
    finite_scores: bool = False
    #: why per-point scores depend on the whole pool (then streamed pools and other engines are refused), or None
    pool_dependent: str | None = None

    # -- hooks ------------------------------------------------------------------------------------------
    def _score(self, X: Tensor, y: Tensor | None) -> Tensor:
        raise NotImplementedError

    def _select(self, strategy: str, X: Tensor, k: int, y: Tensor | None, progress: bool | None) -> Selection:
        raise CompileError(f"strategy {strategy!r} is not implemented for {self.label}")

    def _input_dtype(self) -> torch.dtype | None:
        """The dtype floating pool inputs are cast to (the network's), or None to keep them."""
        return None

    def _score_chunk(self, X: Tensor, y: Tensor | None, start: int) -> Tensor:
        """Scores of one chunk of a streamed pool whose first point has pool index ``start``."""
        return self._score(X, y)

    def _stream_chunk(self) -> int:
        """Points per chunk of a streamed pool."""
        return self.chunk_size or DEFAULT_CHUNK

    def _check_labels(self, y: Tensor, X: Tensor) -> Tensor:
        """Validate ``y_pool`` for the pool ``X`` (subclasses check against their likelihood)."""
        if y.shape[0] != X.shape[0]:
            raise CompileError(f"y_pool must hold one label per pool point: shape [{X.shape[0]}], got "
                               f"{list(y.shape)}")
        return y

    # -- shared steps -----------------------------------------------------------------------------------
    def _inputs(self, pool: object, y_pool: object, engine: object, progress: object) -> tuple[Tensor, Tensor | None]:
        check_engine(engine)
        check_progress(progress)
        X = check_pool(pool, self._input_dtype())
        if y_pool is None:
            if self.label_aware:
                raise CompileError(
                    f"{self.label} needs the labels of the pool points (it is about an observed y): pass y_pool, "
                    "e.g. acq.scores(X_pool, y_pool=y_pool)"
                )
            return X, None
        if not isinstance(y_pool, Tensor):
            raise CompileError(f"y_pool must be a torch.Tensor of labels, got {type(y_pool).__name__}")
        if y_pool.dim() == 0:
            raise CompileError(f"y_pool must hold one label per pool point (shape [{X.shape[0]}]), got a scalar")
        return X, self._check_labels(y_pool, X)

    def _finish(self, s: Tensor, n: int) -> Tensor:
        if not isinstance(s, Tensor) or s.shape != (n,):
            raise CompileError(f"{self.label} produced scores of the wrong shape; check the network and inputs")
        if bool(torch.isnan(s).any()):
            bad = torch.isnan(s).nonzero().flatten()[:5].tolist()
            raise CompileError(f"{self.label} produced NaN scores at pool points {bad}; check the network, the "
                               "prior and the inputs")
        if self.finite_scores and not bool(torch.isfinite(s).all()):
            bad = (~torch.isfinite(s)).nonzero().flatten()[:5].tolist()
            raise CompileError(f"scores are not finite for pool points {bad}; check the network and the prior")
        return s

    def _progress(self, progress: bool | None) -> bool | None:
        return self.progress if progress is None else progress

    def _scores(self, X: Tensor, y: Tensor | None, engine: str, progress: bool | None) -> Tensor:
        s = map_pool(self._score, X, y, self.chunk_size, engine=engine, progress=self._progress(progress))
        return self._finish(s, X.shape[0])

    # -- the protocol -----------------------------------------------------------------------------------
    def scores(self, pool: Any, y_pool: Tensor | str | None = None, engine: str = "local",
               progress: bool | None = None, *, checkpoint_dir: Any = None, address: str | None = None,
               workers: int | None = None) -> Tensor:
        """One score per pool point, ``Tensor[N]`` (higher is better unless ``higher_is_better`` is False).

        ``pool``: a tensor, Dataset, DataLoader, iterable of batches or (Ray) Ray Dataset; ``engine``: ``"local"``
        or ``"ray"`` (with ``address=``, ``workers=``); ``checkpoint_dir``: write the scores chunk by chunk there and
        resume an interrupted run (see :mod:`infonotation.protocol`).
        """
        settings = check_engine_settings(engine, address, workers)
        check_progress(progress)
        if isinstance(pool, Tensor) and settings.name == "local" and checkpoint_dir is None:
            X, y = self._inputs(pool, y_pool, engine, progress)
            with adaptive_threads():
                return self._scores(X, y, engine, progress)
        return self._stream_scores(pool, y_pool, settings, progress, checkpoint_dir)

    def __call__(self, pool: Any, y_pool: Tensor | str | None = None, engine: str = "local",
                 progress: bool | None = None, **options: Any) -> Tensor:
        """Shorthand for :meth:`scores`."""
        return self.scores(pool, y_pool, engine=engine, progress=progress, **options)

    def select(self, pool: Any, k: int, strategy: str | None = None, y_pool: Tensor | str | None = None,
               engine: str = "local", progress: bool | None = None, *, shortlist: int | None = None,
               checkpoint_dir: Any = None, address: str | None = None, workers: int | None = None) -> Selection:
        """``k`` distinct pool indices chosen by ``strategy`` (default: ``strategies[0]``), as a :class:`Selection`.

        A streamed pool (or ``engine="ray"``, ``checkpoint_dir=``, ``shortlist=``) returns a :class:`StreamSelection`:
        top-k from a running top-k; other strategies on the best ``shortlist`` points by individual score (default
        ``max(10 k, 1000)``), in pool order.
        """
        if isinstance(strategy, Tensor):
            raise CompileError("the third argument of select is the strategy; pass labels by keyword: "
                               "acq.select(X_pool, k, y_pool=y_pool)")
        if strategy is None:
            strategy = self.strategies[0]
        if strategy not in self.strategies:
            raise CompileError(f"unknown selection strategy {strategy!r} for {self.label}; use one of "
                               f"{', '.join(repr(s) for s in self.strategies)}")
        settings = check_engine_settings(engine, address, workers)
        check_progress(progress)
        if isinstance(pool, Tensor) and settings.name == "local" and checkpoint_dir is None and shortlist is None:
            X, y = self._inputs(pool, y_pool, engine, progress)
            k = check_k(k, X.shape[0])
            with adaptive_threads():
                return self._select_checked(X, k, strategy, y, engine, progress)
        return self._stream_select(pool, k, strategy, y_pool, settings, progress, shortlist, checkpoint_dir)

    # -- streamed pools and other engines ---------------------------------------------------------------
    def _stream_scores(self, pool: Any, y_pool: Any, settings: EngineSettings, progress: bool | None,
                       checkpoint_dir: Any) -> Tensor:
        from .engines.run import run_stream

        collect = ScoreCollector()
        with adaptive_threads():
            n = run_stream(self, pool, y_pool, settings, [collect], checkpoint_dir=checkpoint_dir,
                           progress=self._progress(progress), desc=f"scoring ({settings.name})")
        return collect.result(n)

    def _stream_select(self, pool: Any, k: int, strategy: str, y_pool: Any, settings: EngineSettings,
                       progress: bool | None, shortlist: int | None, checkpoint_dir: Any,
                       extra: tuple[Any, ...] = ()) -> StreamSelection:
        """Select from a streamed pool; ``extra`` consumers (e.g. a :class:`~infonotation.driver.ScoreCollector`)
        see every chunk's scores in the same pass."""
        from .engines.run import run_stream

        size = PoolStream(pool, chunk_size=1).size if not _is_ray(pool) else None
        if size == 0:
            raise CompileError("X_pool is empty: the pool holds no points; a pool needs at least one point")
        check_k(k, size if size is not None else 2**62)
        m = shortlist_size(k, shortlist) if strategy != "topk" else k
        if k == 0:
            return StreamSelection(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.float64), None, 0)
        prog = self._progress(progress)
        with adaptive_threads():
            if strategy == "topk":
                top = RunningTopK(k, self.higher_is_better)
                n = run_stream(self, pool, y_pool, settings, [top, *extra], checkpoint_dir=checkpoint_dir,
                               progress=prog, desc=f"scoring ({settings.name})")
                check_k(k, n)
                idx, s = top.result()
                return StreamSelection(idx, s, None, n)
            kept = Shortlist(m, self.higher_is_better)
            n = run_stream(self, pool, y_pool, settings, [kept, *extra], checkpoint_dir=checkpoint_dir,
                           progress=prog, keep_inputs=True, desc=f"scoring ({settings.name}), shortlist of {m}")
            check_k(k, n)
            idx, X, y = kept.pool_order()
            sel = self._select_checked(X, k, strategy, y, "local", progress)
        return StreamSelection(idx[sel.indices], sel.scores, idx, n)

    def _select_checked(self, X: Tensor, k: int, strategy: str, y: Tensor | None, engine: str,
                        progress: bool | None) -> Selection:
        if k == 0:
            empty = torch.zeros(0, dtype=torch.float64)
            return Selection(torch.zeros(0, dtype=torch.long), empty)
        if strategy == "topk":
            s = self._scores(X, y, engine, progress)
            order = torch.sort(s, descending=self.higher_is_better, stable=True).indices[:k]
            return Selection(order.to(torch.long).cpu(), s[order])
        sel = self._select(strategy, X, k, y, self._progress(progress))
        return Selection(sel.indices.to(torch.long).cpu(), sel.gains)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.label}>"


def _is_ray(pool: object) -> bool:
    from .pools import is_ray_dataset

    return is_ray_dataset(pool)

