"""What the driver does with streamed scores, whatever engine computed them: collect, keep a top-k, keep a shortlist.

Engines deliver the scores of a pool chunk by chunk, each chunk with the stream index of its first point, in any
order (a resumed run delivers its finished chunks first). The consumers here never depend on that order: ties are
broken by the lower pool index, as ``torch.sort(..., stable=True)`` does on the whole score vector, so a running
top-k equals the top-k of all scores at once.

* :class:`ScoreCollector` -- every score, in pool order (memory: one number per point).
* :class:`RunningTopK` -- the best ``k`` points seen so far (memory: ``k`` + one chunk).
* :class:`Shortlist` -- the best ``m`` points by their individual scores *with their inputs and labels*, for the
  greedy step of a batch rule (joint log-det, BatchBALD, BAIT, BADGE) run on the driver afterwards.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .errors import CompileError

__all__ = ["ScoreCollector", "RunningTopK", "Shortlist", "shortlist_size", "SHORTLIST_FACTOR", "SHORTLIST_MIN"]

#: The default shortlist of a greedy rule on a streamed pool keeps max(SHORTLIST_FACTOR * k, SHORTLIST_MIN) points.
SHORTLIST_FACTOR = 10
SHORTLIST_MIN = 1000


def shortlist_size(k: int, shortlist: object) -> int:
    """The shortlist size for a batch of ``k``: ``shortlist`` when given (an int >= k), else the default."""
    if shortlist is None:
        return max(SHORTLIST_FACTOR * k, SHORTLIST_MIN)
    if isinstance(shortlist, bool) or not isinstance(shortlist, int) or shortlist < max(k, 1):
        raise CompileError(f"shortlist must be an int >= k = {k} (the points the greedy step chooses from), "
                           f"got {shortlist!r}")
    return shortlist


def _best(scores: Tensor, index: Tensor, m: int, higher: bool) -> Tensor:
    """Positions of the best ``m`` entries, best first; ties: the lower pool index first."""
    by_index = torch.argsort(index, stable=True)
    order = torch.sort(scores[by_index], descending=higher, stable=True).indices
    return by_index[order[:m]]


class ScoreCollector:
    """Every score of the pool, assembled in pool order at the end."""

    def __init__(self) -> None:
        self.parts: dict[int, Tensor] = {}

    def add(self, start: int, scores: Tensor, X: Tensor | None = None, y: Tensor | None = None) -> None:
        self.parts[start] = scores

    def result(self, n: int) -> Tensor:
        out: list[Tensor] = []
        at = 0
        for start in sorted(self.parts):
            if start != at:
                raise CompileError(f"internal: the scores of pool points {at}..{start - 1} are missing")
            out.append(self.parts[start])
            at += self.parts[start].shape[0]
        if at != n:
            raise CompileError(f"internal: {at} scores for a pool of {n} points")
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


class RunningTopK:
    """The ``k`` best points seen so far (``higher``: largest scores first), as top-k of all scores would pick."""

    def __init__(self, k: int, higher: bool = True):
        self.k, self.higher = k, higher
        self.scores = torch.zeros(0, dtype=torch.float64)
        self.index = torch.zeros(0, dtype=torch.long)

    def _candidates(self, start: int, scores: Tensor) -> tuple[Tensor, Tensor]:
        idx = torch.arange(start, start + scores.shape[0])
        if self.scores.shape[0] >= self.k > 0:  # only points that could enter: at least as good as the k-th
            worst = self.scores[-1]
            keep = scores >= worst if self.higher else scores <= worst
            return scores[keep], idx[keep]
        return scores, idx

    def add(self, start: int, scores: Tensor, X: Tensor | None = None, y: Tensor | None = None) -> None:
        if self.k == 0:
            return
        s, idx = self._candidates(start, scores)
        if s.numel() == 0:
            return
        if self.scores.dtype != s.dtype:
            self.scores = self.scores.to(s.dtype)
        alls, alli = torch.cat([self.scores, s]), torch.cat([self.index, idx])
        pick = _best(alls, alli, self.k, self.higher)
        self.scores, self.index = alls[pick], alli[pick]

    def result(self) -> tuple[Tensor, Tensor]:
        """``(indices, scores)``, best first."""
        return self.index.clone(), self.scores.clone()


class Shortlist(RunningTopK):
    """The ``m`` best points by individual score, with their inputs (and labels): what a greedy rule runs on.

    :meth:`result` returns them in pool order, so that a shortlist holding the whole pool reproduces the pool.
    """

    def __init__(self, m: int, higher: bool = True):
        super().__init__(m, higher)
        self.X: Tensor | None = None
        self.y: Tensor | None = None
        self.has_labels: bool | None = None

    def add(self, start: int, scores: Tensor, X: Tensor | None = None, y: Tensor | None = None) -> None:
        if X is None:
            raise CompileError("internal: a shortlist needs the inputs of every chunk")
        if self.has_labels is None:
            self.has_labels = y is not None
        idx_all = torch.arange(start, start + scores.shape[0])
        if self.scores.shape[0] >= self.k:
            worst = self.scores[-1]
            keep = (scores >= worst if self.higher else scores <= worst).nonzero().flatten()
        else:
            keep = torch.arange(scores.shape[0])
        if keep.numel() == 0:
            return
        s, idx, Xn = scores[keep], idx_all[keep], X[keep]
        yn = y[keep] if (self.has_labels and y is not None) else None
        if self.scores.dtype != s.dtype:
            self.scores = self.scores.to(s.dtype)
        alls, alli = torch.cat([self.scores, s]), torch.cat([self.index, idx])
        allX = Xn if self.X is None else torch.cat([self.X, Xn])
        ally = yn if self.y is None else (torch.cat([self.y, yn]) if yn is not None else self.y)
        pick = _best(alls, alli, self.k, self.higher)
        self.scores, self.index, self.X = alls[pick], alli[pick], allX[pick]
        self.y = ally[pick] if ally is not None else None

    def pool_order(self) -> tuple[Tensor, Tensor, Tensor | None]:
        """``(indices, X, y)`` of the shortlisted points, in pool order."""
        if self.X is None:
            raise CompileError("internal: an empty shortlist")
        order = torch.argsort(self.index)
        return self.index[order], self.X[order], None if self.y is None else self.y[order]
