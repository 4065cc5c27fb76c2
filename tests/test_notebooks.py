"""The example notebooks run, top to bottom, and show what they say they show.

``examples/infonotation_tour.ipynb`` is kept with its outputs cleared; this test executes it with nbclient in a
fresh kernel (one thread, offline) and reads the outputs: the derivation renders as an aligned LaTeX block with
the rules named, the refutation's markdown says "Does not hold" and carries a counterexample table whose
probabilities sum to one, the check under the model holds, and the five selected pool indices are distinct
integers in the pool. (``pytest --nbmake examples/`` runs it too, without these checks.)
"""

from __future__ import annotations

import ast
import re
from fractions import Fraction
from pathlib import Path

import nbclient
import nbformat
import pytest

import infonotation as inf

TOUR = Path(__file__).resolve().parent.parent / "examples" / "infonotation_tour.ipynb"
POOL_SIZE = 1000  # the tour's pool: digits 200 .. 1199 of a fixed permutation


def _by_tag(nb) -> dict[str, dict]:
    out = {}
    for cell in nb.cells:
        for tag in cell.get("metadata", {}).get("tags", []):
            out[tag] = cell
    return out


def _data(cell, mime: str) -> str:
    found = [o["data"][mime] for o in cell.outputs if "data" in o and mime in o["data"]]
    assert found, f"no {mime} output in cell {cell.get('metadata', {}).get('tags')}"
    return found[-1]


def _stream(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


def test_the_tour_is_saved_without_outputs() -> None:
    nb = nbformat.read(TOUR, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(c.outputs == [] and c.execution_count is None for c in code), "save the notebook with outputs cleared"


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    nb = nbformat.read(TOUR, as_version=4)
    mp = pytest.MonkeyPatch()
    mp.setenv("OMP_NUM_THREADS", "1")  # the kernel inherits it: one core, as the README promises
    mp.setenv("MKL_NUM_THREADS", "1")
    try:
        client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                         resources={"metadata": {"path": str(tmp_path_factory.mktemp("tour"))}})
        client.execute()
    finally:
        mp.undo()
    return _by_tag(nb)


def test_expressions_render_as_latex(tour) -> None:
    latex = _data(tour["expression"], "text/latex")
    assert latex == f"${inf.parse('I[W;Y|x]').latex()}$"


def test_the_derivation_renders_with_its_rules(tour) -> None:
    text = _data(tour["derivation"], "text/markdown")
    assert text.startswith("$$") and text.rstrip().endswith("$$")
    assert "\\begin{aligned}" in text and "\\end{aligned}" in text
    for rule in ("gaussian", "ggn", "eig logdet", "trace"):
        assert f"\\text{{({rule})}}" in text, rule
    assert "\\approx" in text and "\\le" in text  # approximation steps and the trace bound


def test_the_refutation_shows_a_counterexample_table(tour) -> None:
    text = _data(tour["refutation"], "text/markdown")
    assert "Does not hold" in text
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| `X`"))
    assert set(lines[header + 1]) <= set("|-")
    rows = [line for line in lines[header + 2:] if line.startswith("|")]
    assert len(rows) >= 2
    probabilities = [Fraction(row.strip("|").split("|")[-1].strip()) for row in rows]
    assert sum(probabilities) == 1 and all(p > 0 for p in probabilities)
    left, right = (float(x) for x in re.findall(r"side: .* = ([-0-9.e]+)$", _stream(tour["counterexample"]), re.M))
    assert abs(left - right) > 1e-6


def test_the_checks_under_and_without_the_model(tour) -> None:
    assert _data(tour["holds"], "text/markdown").startswith("**Holds**")
    text = _data(tour["no-model"], "text/markdown")
    assert text.startswith("**Does not hold**") and "inf.Model()" in text


def test_sympy_keeps_beta(tour) -> None:
    assert "beta*I(" in _data(tour["sympy"], "text/plain")


def test_training_learns_something(tour) -> None:
    accuracy = float(re.search(r"test accuracy ([0-9.]+)%", _stream(tour["train"])).group(1))
    assert accuracy > 50


def test_five_distinct_pool_indices_are_selected(tour) -> None:
    assert "I[W; Y | x]" in _stream(tour["compile"])
    selected = ast.literal_eval(_data(tour["selection"], "text/plain"))
    assert isinstance(selected, list) and len(selected) == 5
    assert all(isinstance(i, int) and 0 <= i < POOL_SIZE for i in selected)
    assert len(set(selected)) == 5
