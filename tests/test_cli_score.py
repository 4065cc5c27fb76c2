"""``infonotation score``: a pool saved to disk, a model from a factory, the selection and scores written out.

The truth is the same quantity compiled on the factory's network and evaluated on the pool held in memory.
"""

from __future__ import annotations

import json
import textwrap
import warnings

import numpy as np
import pytest
import torch

import infonotation as inf
from infonotation.cli import main
from infonotation.cli_score import load_factory

MODEL = textwrap.dedent("""
    import torch
    from torch import nn

    def make():
        g = torch.Generator().manual_seed(5)
        net = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 3)).double().eval()
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
        X = torch.randn(30, 6, generator=g, dtype=torch.float64)
        return {"network": net, "train": (X, torch.randint(0, 3, (30,), generator=g))}

    def broken():
        return 42
""")


@pytest.fixture()
def setup(tmp_path) -> dict:
    (tmp_path / "cli_model.py").write_text(MODEL)
    X = torch.randn(90, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    torch.save(X, tmp_path / "pool.pt")
    shards = tmp_path / "shards"
    shards.mkdir()
    for i, part in enumerate((X[:40], X[40:75], X[75:])):
        np.save(shards / f"shard_{i:03d}.npy", part.numpy())
    (shards / "README.txt").write_text("not a shard")
    return {"dir": tmp_path, "X": X, "model": f"{tmp_path / 'cli_model.py'}:make"}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def truth(model: str, notation: str) -> inf.Acquisition:
    made = load_factory(model)()
    net = made.pop("network")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", inf.CompileWarning)
        if notation in inf.methods:
            return inf.methods[notation].compile(net, **made)
        return inf.compile(notation, net, **made)


def test_score_a_saved_pool_topk(setup: dict, capsys) -> None:
    out = setup["dir"] / "out"
    code, stdout, err = run(capsys, "score", "I[W;Y|x]", "--model", setup["model"], "--pool",
                            str(setup["dir"] / "pool.pt"), "--k", "6", "--strategy", "topk", "--out", str(out))
    assert code == 0, err
    report = json.loads((out / "selection.json").read_text())
    want = truth(setup["model"], "I[W;Y|x]").scores(setup["X"])
    order = torch.sort(want, descending=True, stable=True).indices[:6]
    assert report["indices"] == order.tolist() and report["pool_size"] == 90 and report["shortlist"] is None
    np.testing.assert_allclose(report["scores"], want[order].numpy(), rtol=1e-12)
    torch.testing.assert_close(torch.load(out / "scores.pt"), want, rtol=1e-12, atol=0)
    assert "selected 6 of 90" in stdout


def test_score_a_folder_of_shards_with_a_greedy_method(setup: dict, capsys) -> None:
    out = setup["dir"] / "out"
    code, _, err = run(capsys, "score", "eig_logdet", "--model", setup["model"], "--pool",
                       str(setup["dir"] / "shards"), "--k", "4", "--out", str(out))
    assert code == 0, err
    report = json.loads((out / "selection.json").read_text())
    acq = truth(setup["model"], "eig_logdet")
    want = acq.select(setup["X"], 4)  # greedy on the whole pool (the shortlist, 1000 > 90, is the whole pool)
    assert report["strategy"] == "greedy" and report["shortlist"] == 90
    assert report["indices"] == want.indices.tolist()
    torch.testing.assert_close(torch.load(out / "scores.pt"), acq.scores(setup["X"]), rtol=1e-12, atol=0)


def test_score_bad_input_exits_2_with_the_library_error(setup: dict, capsys) -> None:
    d = setup["dir"]
    cases = [
        (["--model", "no_colon", "--pool", str(d / "pool.pt")], "--model must be module:factory"),
        (["--model", f"{d / 'cli_model.py'}:broken", "--pool", str(d / "pool.pt")], "must return an nn.Module"),
        (["--model", f"{d / 'cli_model.py'}:nope", "--pool", str(d / "pool.pt")], "has no attribute 'nope'"),
        (["--model", setup["model"], "--pool", str(d / "missing.pt")], "does not exist"),
        (["--model", setup["model"], "--pool", str(d / "out_empty")], "does not exist"),
        (["--model", setup["model"], "--pool", str(d / "pool.pt"), "--k", "91"], "from a pool of 90"),
    ]
    (d / "empty").mkdir()
    cases.append((["--model", setup["model"], "--pool", str(d / "empty")], "holds no .pt or .npy shards"))
    for extra, message in cases:
        argv = ["score", "I[W;Y|x]", *extra]
        if "--k" not in extra:
            argv += ["--k", "3"]
        code, _, err = run(capsys, *argv, "--out", str(d / "out"))
        assert code == 2 and message in err, (extra, err)
