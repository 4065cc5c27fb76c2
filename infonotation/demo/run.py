"""``infonotation demo``: everything the library is for, end to end, on the bundled digits data."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

from ..errors import NotationError
from ..syntax.tree import Relation
from .comparison import compare, compare_whole_network
from .data import load_digits_split
from .loop import run_loop
from .report import write_report
from .train import accuracy, train_cnn, train_mlp

__all__ = ["run_demo", "CONFIGS", "check_output_folder"]

LOOP_METHODS = ("random", "bald", "batchbald", "eig_logdet", "eig_trace", "badge", "bait", "epig")

CONFIGS = {
    "full": dict(n_train=80, n_pool=1000, n_test=400, mc_samples=100, initial=20, per_round=10, rounds=10,
                 seeds=3, epochs=200, loop_samples=20, methods=LOOP_METHODS),
    "quick": dict(n_train=80, n_pool=300, n_test=300, mc_samples=30, initial=20, per_round=10, rounds=2,
                  seeds=1, epochs=100, loop_samples=10, methods=("random", "bald", "eig_logdet", "badge")),
}
PRIOR_PRECISION = 1.0


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _method_info(names: tuple[str, ...]) -> dict:
    from ..acquisition.methods import methods as registry

    info = {}
    for name in names:
        m = registry[name]
        d = m.derivation()
        whole = Relation((d.start, d.result), (d.steps[-1].relation if d.steps else "=",)) if d.steps else d.start
        info[name] = {"notation": m.notation, "using": list(m.using), "derivation": str(d),
                      "derivation_unicode": _unicode(d), "latex": whole.latex(), "space": m.space,
                      "reference": m.reference}
    return info


def _unicode(d) -> str:
    lines = [d.start.unicode()]
    sym = {"=": "=", "~=": "≈", "<=": "≤"}
    for s in d.steps:
        lines.append(f"  {sym.get(s.relation, s.relation)} {s.after.unicode()}    [{s.rule}]")
    return "\n".join(lines)


def run_demo(out: Path, seed: int = 0, quick: bool = False) -> dict:
    """Run the comparison and the active-learning loop; write the report into ``out``; return the results.

    Runs torch on one thread: the demo's matrices are small, and on a busy two-core machine thread
    hand-offs cost far more than they save.
    """
    out = check_output_folder(out)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(out, seed, quick)
    finally:
        torch.set_num_threads(threads)


def check_output_folder(out: object) -> Path:
    """The report folder, created if needed and checked writable *before* the run (which takes minutes).

    An existing, non-empty folder is fine (the report's files are overwritten); a path that is a file, or a folder
    that cannot be created or written, raises :class:`~infonotation.errors.NotationError` at once.
    """
    try:
        path = Path(out)  # type: ignore[arg-type]
    except TypeError:
        raise NotationError(f"--out must be a folder path, got {out!r}") from None
    if path.exists() and not path.is_dir():
        raise NotationError(f"--out {path}: a file of that name exists; the report needs a folder (choose another "
                            "path, or remove the file)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NotationError(f"--out {path}: cannot create the folder ({exc.strerror or exc}); choose a writable "
                            "path") from None
    probe = path / f".infonotation-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise NotationError(f"--out {path}: the folder is not writable ({exc.strerror or exc}); choose a writable "
                            "path") from None
    return path


def _run(out: Path, seed: int, quick: bool) -> dict:
    torch.manual_seed(seed)
    cfg = CONFIGS["quick" if quick else "full"]
    start = time.perf_counter()
    methods = tuple(cfg["methods"])
    results: dict = {"config": {"seed": seed, "quick": quick, "prior_precision": PRIOR_PRECISION,
                                **{k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}}}
    _say("infonotation demo: the methods, their notation and the engine's derivations")
    results["methods"] = _method_info(methods)
    for name, info in results["methods"].items():
        _say(f"\n[{name}]  {info['notation']}\n{info['derivation_unicode']}")

    _say(f"\ncomparison: training an MLP on {cfg['n_train']} digits, scoring {cfg['n_pool']} pool candidates")
    data = load_digits_split(seed, cfg["n_train"], cfg["n_pool"], cfg["n_test"])
    X, y = data.X, data.y
    net = train_mlp(X[data.train], y[data.train], seed=seed, epochs=cfg["epochs"])
    comp = compare(net, X[data.train], y[data.train], X[data.pool], X[data.eval], num_samples=cfg["mc_samples"],
                   prior_precision=PRIOR_PRECISION, seed=seed)
    last = net[-1]
    results["comparison"] = {
        "names": comp.names, "top": comp.top, "spearman_all": comp.spearman_all.tolist(),
        "spearman_top": comp.spearman_top.tolist(), "top_small": comp.top_small,
        "spearman_top_small": comp.spearman_top_small.tolist(),
        "scores": {k: v.tolist() for k, v in comp.scores.items()},
        "n_pool": int(data.pool.numel()), "n_train": int(data.train.numel()), "n_eval": int(data.eval.numel()),
        "num_samples": cfg["mc_samples"], "parameters": int(last.weight.numel() + last.bias.numel()),
        "test_accuracy": accuracy(net, X[data.test], y[data.test]),
    }
    names = comp.names
    _say("Spearman (all candidates), BALD row: " + ", ".join(
        f"{n} {v:.3f}" for n, v in zip(names, comp.spearman_all[names.index("BALD")])))

    _say("\nwhole network: a CNN on the digits as 1 x 8 x 8 images, EIG over all weights (kron) against BALD and "
         "the last-layer EIG")
    images = X.reshape(-1, 1, 8, 8)
    cnn = train_cnn(images[data.train], y[data.train], seed=seed, epochs=cfg["epochs"])
    whole = compare_whole_network(cnn, images[data.train], y[data.train], images[data.pool],
                                  num_samples=cfg["mc_samples"], prior_precision=PRIOR_PRECISION, seed=seed)
    results["whole_network"] = {
        "names": whole.names, "top": whole.top, "spearman_all": whole.spearman_all.tolist(),
        "spearman_top": whole.spearman_top.tolist(), "top_small": whole.top_small,
        "spearman_top_small": whole.spearman_top_small.tolist(),
        "scores": {k: v.tolist() for k, v in whole.scores.items()},
        "parameters": int(sum(p.numel() for p in cnn.parameters())),
        "test_accuracy": accuracy(cnn, images[data.test], y[data.test]),
    }
    _say("Spearman (all candidates), kron row: " + ", ".join(
        f"{n} {v:.3f}" for n, v in zip(whole.names, whole.spearman_all[2])))

    _say(f"\nactive learning: {len(methods)} methods x {cfg['seeds']} seeds x {cfg['rounds']} rounds")
    seeds = [seed + i for i in range(cfg["seeds"])]
    loop = run_loop(methods, seeds, initial=cfg["initial"], per_round=cfg["per_round"], rounds=cfg["rounds"],
                    n_pool=cfg["n_pool"], n_test=cfg["n_test"], epochs=cfg["epochs"], num_samples=cfg["loop_samples"],
                    prior_precision=PRIOR_PRECISION, progress=_say)
    results["active_learning"] = {"seeds": seeds, "methods": loop}
    results["seconds"] = time.perf_counter() - start
    paths = write_report(results, Path(out))
    _say(f"\nwrote {', '.join(str(p) for p in paths)} in {results['seconds']:.1f} s")
    return results
