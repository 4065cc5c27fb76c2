"""Resumable scoring runs: the scores of a pool written chunk by chunk to a folder (``checkpoint_dir=``).

A folder holds one run: ``manifest.json`` (what was scored: the acquisition function, the chunk size, and once the
run is over the pool size) and one file per finished chunk, ``chunk_000000012.pt`` (its start and its scores).
A chunk's file appears only when the chunk is finished and its scores checked (written to a temporary name, then
renamed, which is atomic), so an interrupted run (Ctrl-C, a killed job, a non-finite score) leaves only finished
chunks behind, and the next run with the same folder computes only the others.

Resuming checks that the folder belongs to the same run: the manifest must match, and the first two points of the first
finished chunk the new run meets are recomputed and compared with the stored scores (a different network, posterior
or pool is caught there instead of being mixed in).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .errors import CompileError

__all__ = ["ChunkStore"]

_FORMAT = 1
_NAME = re.compile(r"^chunk_(\d{9})\.pt$")


class ChunkStore:
    """A run's folder: ``done(i)``, ``load(i)``, ``write(i, start, scores)``, ``finish(points)``.

    ``identity`` (JSON-able) names what is scored; a folder written by another identity or chunk size is refused.
    """

    def __init__(self, folder: str | os.PathLike[str], identity: dict[str, Any], chunk_size: int):
        if not isinstance(folder, str | os.PathLike):
            raise CompileError(f"checkpoint_dir must be a path (str or pathlib.Path), got {type(folder).__name__}")
        self.folder = Path(folder)
        self.chunk_size = chunk_size
        self.identity = identity
        if self.folder.exists() and not self.folder.is_dir():
            raise CompileError(f"checkpoint_dir {str(self.folder)!r} is a file; give a folder")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CompileError(f"cannot create checkpoint_dir {str(self.folder)!r}: {err}") from None
        manifest = self.folder / "manifest.json"
        entries = [p.name for p in self.folder.iterdir() if not p.name.startswith(".")]
        want = {"format": _FORMAT, "identity": identity, "chunk_size": chunk_size}
        if manifest.exists():
            try:
                have = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise CompileError(f"checkpoint_dir {str(self.folder)!r}: unreadable manifest.json ({err}); delete "
                                   "the folder to start afresh") from None
            for key in ("format", "identity", "chunk_size"):
                if have.get(key) != want[key]:
                    raise CompileError(
                        f"checkpoint_dir {str(self.folder)!r} holds the scores of another run ({key}: "
                        f"{have.get(key)!r}, this run: {want[key]!r}); use another folder, or delete this one to "
                        "start afresh"
                    )
            self.points: int | None = have.get("points")
        elif entries:
            raise CompileError(f"checkpoint_dir {str(self.folder)!r} is not empty and holds no manifest.json: not a "
                               "folder of this library's checkpoints; give a new or empty folder")
        else:
            self.points = None
            self._write_manifest(want | {"points": None})
        for p in self.folder.glob("*.tmp"):  # a write interrupted before its rename: not a finished chunk
            p.unlink(missing_ok=True)
        self.finished = {int(m.group(1)) for p in self.folder.iterdir() if (m := _NAME.match(p.name))}
        self.verified = not self.finished

    def _write_manifest(self, data: dict[str, Any]) -> None:
        tmp = self.folder / "manifest.json.tmp"
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.folder / "manifest.json")

    def path(self, index: int) -> Path:
        return self.folder / f"chunk_{index:09d}.pt"

    def done(self, index: int) -> bool:
        return index in self.finished

    def load(self, index: int, start: int) -> Tensor:
        try:
            data = torch.load(self.path(index), weights_only=True)
            scores, at = data["scores"], int(data["start"])
        except Exception as err:  # noqa: BLE001 - any unreadable file is reported the same way
            raise CompileError(f"checkpoint_dir: chunk file {self.path(index).name} is unreadable ({err}); delete it "
                               "and resume to recompute that chunk") from None
        if at != start or not isinstance(scores, Tensor) or scores.dim() != 1:
            raise CompileError(f"checkpoint_dir: chunk file {self.path(index).name} does not hold the scores of pool "
                               f"points from {start}; delete it and resume")
        return scores

    def write(self, index: int, start: int, scores: Tensor) -> None:
        tmp = self.folder / f"chunk_{index:09d}.pt.tmp"
        torch.save({"start": start, "scores": scores.detach().cpu().clone()}, tmp)
        os.replace(tmp, self.path(index))
        self.finished.add(index)

    def check_reproduced(self, index: int, start: int, fresh: Tensor) -> None:
        """Compare the recomputed first points of a finished chunk with their stored scores: the guard against
        resuming another run in this folder."""
        stored = self.load(index, start)[: fresh.shape[0]]
        if stored.shape != fresh.shape or not torch.allclose(stored.to(fresh.dtype), fresh, rtol=1e-6, atol=1e-9):
            raise CompileError(
                f"checkpoint_dir {str(self.folder)!r}: the stored scores of chunk {index} (pool points {start}.."
                f"{start + stored.shape[0] - 1}) differ from what this acquisition function computes now: the folder "
                "belongs to another network, posterior or pool; use another folder, or delete this one"
            )
        self.verified = True

    def finish(self, points: int, chunks: int) -> None:
        beyond = sorted(i for i in self.finished if i >= chunks)
        if beyond or (self.points is not None and self.points != points):
            raise CompileError(
                f"checkpoint_dir {str(self.folder)!r} holds scores for a pool of "
                f"{self.points if self.points is not None else 'more than ' + str(points)} points, but this pool has "
                f"{points}; use another folder for another pool"
            )
        self.points = points
        self._write_manifest({"format": _FORMAT, "identity": self.identity, "chunk_size": self.chunk_size,
                              "points": points})
