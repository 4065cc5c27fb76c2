"""The command line: ``infonotation parse | check | derive`` and its exit statuses (spec/api.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import infonotation as inf
from infonotation.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse's own errors and --help
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_parse_prints_canonical_ascii_by_default(capsys) -> None:
    code, out, err = run(capsys, "parse", "I[ W ;Y| x ]")
    assert code == 0 and not err
    assert out.strip() == "I[W; Y | x]"
    assert inf.parse(out.strip()) == inf.parse("I[W;Y|x]")


@pytest.mark.parametrize("flag, method", [("--latex", "latex"), ("--unicode", "unicode"), ("--tree", "tree")])
def test_parse_printers(capsys, flag: str, method: str) -> None:
    text = "H''[w*|y,x] = H''[y|x,w*] + H''[w*]"
    code, out, _ = run(capsys, "parse", text, flag)
    assert code == 0
    assert out.rstrip("\n") == getattr(inf.parse(text), method)()
    if flag == "--latex":
        assert "\\mathrm{H}''" in out and "\\mid" in out
    if flag == "--unicode":
        assert "∣" in out and inf.parse(out.strip()) == inf.parse(text)
    if flag == "--tree":
        assert len(out.strip().splitlines()) > 3


def test_parse_reads_latex_input(capsys) -> None:
    code, out, _ = run(capsys, "parse", "--latex-input", r"\MIof{\W; \Y \given \x}")
    assert code == 0 and out.strip() == "I[W; Y | x]"


def test_check_exits_0_when_it_holds(capsys) -> None:
    code, out, _ = run(capsys, "check", "H''[w*|y,x] = H''[y|x,w*] + H''[w*]")  # the api.md example
    assert code == 0 and out.startswith("HOLDS")


def test_check_exits_1_when_it_does_not_hold(capsys) -> None:
    code, out, _ = run(capsys, "check", "H[X,y] = H[X] + H[y|X]", "--no-model")
    assert code == 1 and out.startswith("DOES NOT HOLD")
    assert "difference" in out


def test_check_exits_3_and_says_undecided_when_neither_proven_nor_refuted(capsys) -> None:
    # log of a negative number is undefined: neither side is ever defined, so nothing is proven or refuted
    code, out, _ = run(capsys, "check", "log(-exp(H[X])) = 2 * log(-exp(H[X]))", "--no-model")
    assert code == 3 and out.startswith("UNDECIDED"), out
    assert not inf.check("log(-exp(H[X])) = 2 * log(-exp(H[X]))") and inf.check(
        "log(-exp(H[X])) = 2 * log(-exp(H[X]))").status == "undecided"


def test_check_uses_the_model_unless_told_not_to(capsys) -> None:
    bayes = "H[w|y,x] = H[y|x,w] + H[w] - H[y|x]"
    assert run(capsys, "check", bayes)[0] == 0
    assert run(capsys, "check", bayes, "--no-model")[0] == 1


def test_check_a_chain_names_the_rules(capsys) -> None:
    code, out, _ = run(capsys, "check", "H[W] ~= -1/2 logdet(H''[w*]) + C_k")
    assert code == 0 and "gaussian" in out


def test_derive_prints_the_chain(capsys) -> None:
    code, out, _ = run(capsys, "derive", "I[W;Y|x]", "--using", "gaussian,ggn,eig_logdet,trace")
    assert code == 0
    d = inf.derive("I[W;Y|x]", using=["gaussian", "ggn", "eig_logdet", "trace"])
    assert out.rstrip("\n") == str(d)
    for rule in ("gaussian", "ggn", "eig_logdet", "trace"):
        assert f"[{rule}]" in out
    assert str(inf.parse("1/2 tr(H''[Y|x,w*] @ H''[w*]^-1)")) in out


def test_derive_latex(capsys) -> None:
    code, out, _ = run(capsys, "derive", "I[W;Y|x]", "--latex")
    assert code == 0 and out.strip() == inf.derive("I[W;Y|x]").latex()


@pytest.mark.parametrize("argv", [("parse", "I[W;Y|x"), ("check", "H[X] = H[X"), ("derive", "I[W;;Y]")])
def test_bad_input_exits_2_with_the_caret_message(capsys, argv) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and not out
    with pytest.raises(inf.ParseError) as info:
        inf.parse(argv[1])
    assert str(info.value) in err  # the same message as the ParseError, caret included
    assert "^" in err


@pytest.mark.parametrize("argv", [("check", "H[W|x]"), ("check", "H''[W|x] = 0"), ("derive", "H[W]", "--using",
                                                                                      "trace"),
                                  ("derive", "H[W]", "--using", "nonsense")])
def test_semantic_errors_exit_2(capsys, argv) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and err.startswith(f"infonotation {argv[0]}:")


def test_help_mentions_the_commands(capsys) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("parse", "check", "derive"):
        assert command in out
    assert run(capsys)[0] == 2  # no command: help, and a usage error status


def test_module_entry_point_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "infonotation", "check", "H[X,y] = H[y] + H[X|y]", "--no-model"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("HOLDS")
