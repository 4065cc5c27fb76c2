"""``infonotation score``: score a pool saved to disk with a model from a factory, select a batch, write both.

``infonotation score NOTATION --model module:factory --pool PATH --k K [--engine ray]``

* ``NOTATION``: a quantity in the notation (``"I[W;Y|x]"``, compiled with ``inf.compile``) or the name of a named
  method (``batchbald``, ``badge``, ...; ``inf.methods``).
* ``--model module:factory`` (or ``path/to/file.py:factory``): a function called with no arguments that returns the
  network (an ``nn.Module``), or a dict of ``inf.compile`` / ``method.compile`` keyword arguments with the network
  under ``"network"`` (e.g. ``{"network": net, "train": (X, y), "prior_precision": 1.0}``).
* ``--pool PATH``: a file saved with ``torch.save`` (or a ``.npy``), or a folder of ``.pt`` / ``.npy`` shards
  (:mod:`infonotation.pool_files`), streamed in chunks.
* writes ``OUT/selection.json`` (the selected indices in selection order, their scores, the pool size, the shortlist
  size, the settings) and ``OUT/scores.pt`` (every pool point's score, ``Tensor[N]``, pool order), in one pass.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import CompileError

__all__ = ["add_score_command", "load_factory", "run_score"]


def load_factory(spec: str) -> Any:
    """The object named by ``module:attr`` or ``path/to/file.py:attr`` (the current folder is importable)."""
    if ":" not in spec:
        raise CompileError(f"--model must be module:factory (e.g. mymodels:make_net), got {spec!r}")
    where, _, name = spec.rpartition(":")
    if not where or not name:
        raise CompileError(f"--model must be module:factory (e.g. mymodels:make_net), got {spec!r}")
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise CompileError(f"--model: no file {where!r}")
            loader = importlib.util.spec_from_file_location(path.stem, path)
            assert loader is not None and loader.loader is not None
            module = importlib.util.module_from_spec(loader)
            sys.modules[path.stem] = module
            loader.loader.exec_module(module)
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            module = importlib.import_module(where)
    except CompileError:
        raise
    except Exception as err:  # noqa: BLE001 - the user's module: any failure to import is reported the same way
        raise CompileError(f"--model: cannot import {where!r}: {type(err).__name__}: {err}") from None
    if not hasattr(module, name):
        raise CompileError(f"--model: module {where!r} has no attribute {name!r}")
    return getattr(module, name)


def _acquisition(args: argparse.Namespace) -> Any:
    from . import methods
    from .compiler import compile as compile_quantity

    factory = load_factory(args.model)
    try:
        made = factory()
    except Exception as err:  # noqa: BLE001 - the user's factory
        raise CompileError(f"--model: {args.model}() failed: {type(err).__name__}: {err}") from None
    if isinstance(made, nn.Module):
        options: dict[str, Any] = {"network": made}
    elif isinstance(made, dict) and isinstance(made.get("network"), nn.Module | list):
        options = dict(made)
    else:
        raise CompileError(f"--model: {args.model}() must return an nn.Module or a dict with the network under "
                           f"'network' (and compile keywords such as 'train'), got {type(made).__name__}")
    network = options.pop("network")
    if args.notation in methods:
        return methods[args.notation].compile(network, **options)
    if args.space:
        options["space"] = args.space
    if args.chunk_size:
        options["chunk_size"] = args.chunk_size
    return compile_quantity(args.notation, network, **options)


def run_score(args: argparse.Namespace) -> int:
    from .driver import ScoreCollector
    from .engines import check_engine_settings
    from .pool_files import open_pool

    if args.k < 1:
        raise CompileError(f"--k must be at least 1, got {args.k}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        acq = _acquisition(args)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    strategy = args.strategy or acq.strategies[0]
    if strategy not in acq.strategies:
        raise CompileError(f"--strategy {strategy!r} is not one of {', '.join(acq.strategies)} for {acq.label}")
    settings = check_engine_settings(args.engine, args.address, args.workers)
    pool = open_pool(args.pool)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CompileError(f"--out {str(out)!r} is a file; give a folder")
    collect = ScoreCollector()
    sel = acq._stream_select(pool, args.k, strategy, "batch" if args.labels else None, settings,
                             True if args.progress else None, args.shortlist, args.checkpoint_dir, extra=(collect,))
    scores = collect.result(sel.pool_size)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(scores, out / "scores.pt")
    report = {
        "notation": args.notation, "quantity": acq.label, "k": args.k, "strategy": strategy, "engine": settings.name,
        "pool": str(args.pool), "pool_size": sel.pool_size,
        "shortlist": None if sel.shortlist is None else int(sel.shortlist.numel()),
        "indices": [int(i) for i in sel.indices], "scores": [float(v) for v in sel.scores],
        "higher_is_better": bool(acq.higher_is_better), "scores_file": "scores.pt",
    }
    (out / "selection.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"selected {len(report['indices'])} of {sel.pool_size} pool points ({strategy}, engine {settings.name}): "
          f"{report['indices']}")
    print(f"wrote {out / 'selection.json'} and {out / 'scores.pt'}")
    return 0


def add_score_command(sub: Any) -> None:
    """Register ``score`` on the CLI's subparsers."""
    sp = sub.add_parser(
        "score", help="score a pool saved to disk and select a batch (local or on a Ray cluster)",
        description="Compile NOTATION (or a named method) on the network from --model, score every point of the "
                    "pool at --pool as a stream (memory bounded by the chunk size), select --k points, and write "
                    "OUT/selection.json and OUT/scores.pt.")
    sp.add_argument("notation", help="a quantity (e.g. \"I[W;Y|x]\") or a named method (e.g. batchbald)")
    sp.add_argument("--model", required=True, help="module:factory or file.py:factory returning the network or a "
                                                   "dict of compile keywords with 'network'")
    sp.add_argument("--pool", required=True, help="a torch.save / .npy file, or a folder of .pt/.npy shards")
    sp.add_argument("--k", type=int, required=True, help="the number of points to select")
    sp.add_argument("--strategy", default=None, help="topk, greedy, ... (default: the quantity's or method's own)")
    sp.add_argument("--engine", default="local", choices=["local", "ray"], help="where to score (default: local)")
    sp.add_argument("--address", default=None, help="Ray cluster to join (auto, host:port, ray://host:port)")
    sp.add_argument("--workers", type=int, default=None, help="Ray actors (default: one per CPU of the cluster)")
    sp.add_argument("--shortlist", type=int, default=None, help="points a greedy rule chooses from (default: "
                                                                "max(10 k, 1000))")
    sp.add_argument("--checkpoint-dir", default=None, help="write scores chunk by chunk here; resume a run")
    sp.add_argument("--space", default=None, choices=["weight", "prediction"], help="for a quantity: weight space "
                                                                                      "(default) or prediction space")
    sp.add_argument("--chunk-size", type=int, default=None, help="points per chunk (a quantity's compile option)")
    sp.add_argument("--labels", action="store_true", help="the pool's batches are (inputs, labels): pass the labels "
                                                          "to label-aware quantities (y_pool='batch')")
    sp.add_argument("--progress", action="store_true", help="always show the progress bar")
    sp.add_argument("--out", type=Path, default=Path("scores"), help="output folder (default: scores)")
    sp.set_defaults(func=run_score)
