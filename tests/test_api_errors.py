"""Every error a user provokes in the acquisition API is the library's own, saying what to do; demo checks --out."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import infonotation as inf
from infonotation.errors import CompileError

f64 = torch.float64


def nets() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {
        "mlp32": nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).eval(),
        "dropout32": nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 3)).eval(),
    }


@pytest.mark.parametrize("method", sorted(inf.methods))
def test_bad_pools_raise_compile_errors_for_every_method(method: str) -> None:
    m = inf.methods[method]
    n = nets()
    X = torch.randn(10, 6)
    y = torch.randint(0, 3, (10,)) if m.labels else None
    for name, net in n.items():
        if name == "dropout32" and m.space != "prediction":
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", inf.CompileWarning)
            acq = m.compile(net, train=(torch.randn(8, 6), torch.randint(0, 3, (8,))),
                            eval=torch.randn(3, 6) if m.needs_eval else None, num_samples=4)
        if method != "random":  # the uniform baseline never runs the network
            with pytest.raises(CompileError, match=r"X_pool \(shape \[10, 5\]\)|pool points of shape \[5\]"):
                acq.scores(torch.randn(10, 5), y_pool=y)  # wrong feature count
        with pytest.raises(CompileError, match=r"x\[None\]"):
            acq.scores(torch.randn(6), y_pool=None if y is None else y[:1])  # a 1-D pool
        # a float64 pool on a float32 network is cast, and scores as the float32 pool does
        s32 = acq.scores(X, y_pool=y)
        s64 = acq.scores(X.double(), y_pool=y)
        torch.testing.assert_close(s32, s64)


def test_mistyped_keywords_name_the_valid_options_and_the_closest() -> None:
    net = nets()["mlp32"]
    with pytest.raises(CompileError, match=r"'prior_precison'.*did you mean 'prior_precision'\?.*Valid keywords"):
        inf.compile("I[W;Y|x]", net, prior_precison=2.0)
    with pytest.raises(CompileError, match=r"'num_sample'.*did you mean 'num_samples'"):
        inf.compile("I[W;Y|x]", net, space="prediction", num_sample=3)
    with pytest.raises(CompileError, match=r"'num_samples' \(an option of space='prediction'\)"):
        inf.compile("I[W;Y|x]", net, num_samples=3)
    with pytest.raises(CompileError, match=r"'trian'.*did you mean 'train'"):
        inf.methods.bald.compile(net, trian=None)
    with pytest.raises(CompileError, match="unknown space"):
        inf.compile("I[W;Y|x]", net, space="weights")


def test_demo_checks_its_output_folder_before_running(tmp_path, monkeypatch) -> None:
    from infonotation.cli import main
    from infonotation.demo import run as demo_run

    def never(*args, **kwargs):  # the demo itself must not start
        raise AssertionError("the demo ran before its output folder was checked")

    monkeypatch.setattr(demo_run, "_run", never)
    a_file = tmp_path / "report.txt"
    a_file.write_text("not a folder")
    assert main(["demo", "--out", str(a_file), "--quick"]) == 2
    assert main(["demo", "--out", str(a_file / "sub"), "--quick"]) == 2  # a folder under a file cannot be made
    with pytest.raises(inf.NotationError, match="a file of that name exists"):
        demo_run.run_demo(a_file, quick=True)
    with pytest.raises(inf.NotationError, match="cannot create the folder"):
        demo_run.run_demo(a_file / "sub", quick=True)
