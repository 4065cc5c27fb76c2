"""The grammar ships inside the wheel (package data), so a non-editable install can parse."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_the_grammar_and_every_subpackage(tmp_path):
    pytest.importorskip("setuptools")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    wheel = next(tmp_path.glob("infonotation-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "infonotation/grammar/infonotation.lark" in names
    shipped = (ROOT / "grammar" / "infonotation.lark").read_bytes()
    assert zipfile.ZipFile(wheel).read("infonotation/grammar/infonotation.lark") == shipped
    for package in ("syntax", "symbolic", "numeric", "numeric/structures", "acquisition", "demo", "engines"):
        assert f"infonotation/{package}/__init__.py" in names, package


def test_grammar_is_read_from_the_package():
    from infonotation.syntax.parser import grammar_text

    assert grammar_text() == (ROOT / "grammar" / "infonotation.lark").read_text(encoding="utf-8")
