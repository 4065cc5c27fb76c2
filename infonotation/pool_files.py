"""Pools saved to disk, read lazily: one ``torch.save`` / ``.npy`` file, or a folder of ``.pt`` / ``.npy`` shards.

:func:`open_pool` returns something :class:`~infonotation.pools.PoolStream` reads as a stream of batches, so a pool
larger than memory is never loaded whole: ``.npy`` files are memory-mapped (``np.load(mmap_mode="r")``), ``.pt``
files are loaded with ``torch.load(mmap=True)`` where their format allows (files written by ``torch.save`` since
PyTorch 1.6), and both are read in slices of :data:`SLICE_ROWS` rows.

A file holds the inputs ``[N, ...]``, or a tuple/list ``(inputs, labels, ...)``, or a dict with the inputs under
``"X"``, ``"x"`` or ``"inputs"`` (and labels under ``"y"`` or ``"labels"``). A folder's shards are read in the
lexicographic order of their file names (``shard_00000.npy``, ``shard_00001.npy``, ...), which is the pool order;
other files in the folder are ignored, and a folder without shards is an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import CompileError

__all__ = ["open_pool", "SLICE_ROWS", "SHARD_SUFFIXES"]

#: Rows per batch read from a file.
SLICE_ROWS = 65536
SHARD_SUFFIXES = (".pt", ".pth", ".npy")


def _load(path: Path) -> tuple[Any, Any]:
    """(inputs, labels or None) of one file, memory-mapped where possible."""
    try:
        if path.suffix == ".npy":
            return np.load(path, mmap_mode="r"), None
        try:
            obj = torch.load(path, mmap=True, weights_only=True)
        except RuntimeError:  # an old (non-zip) file cannot be memory-mapped
            obj = torch.load(path, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is reported the same way
        raise CompileError(f"cannot read the pool file {str(path)!r}: {type(err).__name__}: {err}") from None
    if isinstance(obj, tuple | list) and obj:
        return obj[0], (obj[1] if len(obj) > 1 else None)
    if isinstance(obj, dict):
        x = next((obj[k] for k in ("X", "x", "inputs") if k in obj), None)
        if x is None:
            raise CompileError(f"the pool file {str(path)!r} holds a dict without 'X', 'x' or 'inputs' (keys: "
                               f"{', '.join(map(str, obj))})")
        return x, next((obj[k] for k in ("y", "labels") if k in obj), None)
    return obj, None


class _Files:
    """The batches of one or more files, in order: slices of :data:`SLICE_ROWS` rows, ``(X, y)`` when labelled."""

    def __init__(self, files: list[Path]):
        self.files = files

    def __iter__(self) -> Iterator[Any]:
        for path in self.files:
            X, y = _load(path)
            if not isinstance(X, torch.Tensor | np.ndarray) or X.ndim < 1:
                raise CompileError(f"the pool file {str(path)!r} holds {type(X).__name__}, not an array of inputs")
            for s in range(0, X.shape[0], SLICE_ROWS):
                xs = X[s : s + SLICE_ROWS]
                yield xs if y is None else (xs, y[s : s + SLICE_ROWS])


def open_pool(path: str | os.PathLike[str]) -> Any:
    """The pool saved at ``path`` (a file or a folder of shards), as a lazily read iterable of batches."""
    p = Path(path)
    if not p.exists():
        raise CompileError(f"the pool {str(p)!r} does not exist; give a file saved with torch.save (or .npy) or a "
                           "folder of .pt/.npy shards")
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix in SHARD_SUFFIXES)
        if not files:
            raise CompileError(f"the folder {str(p)!r} holds no .pt or .npy shards")
        return _Files(files)
    return _Files([p])
