"""Every derivation the library prints verifies step by step (item 4 of the soundness issue).

* every ``inf.methods[name].derivation()``: ``all(v.holds for v in d.verify())``;
* every derivation block printed in ``docs/*.md`` (a first line, then ``  REL EXPR   [rule]`` lines): each step
  checks with ``inf.check`` under the default model, and every ``inf.derive(...)`` call in the docs' code verifies;
* ``derive`` on the paper's quantities with any selection of the approximations emits only verified steps;
* independently of the engine: every exact (``=``) step of those derivations has no counterexample on the oracle's
  random models, and every expression in them is well-shaped (the oracle's own shape inference).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from enumeration import ERROR, ShapeError, Unsupported, infer_shapes, judge
from hypothesis import given
from hypothesis import strategies as st
from strategies import engine_model, oracle_model, oracle_options
from test_soundness import SETTINGS

import infonotation as inf
from infonotation.syntax.tree import Relation

DOCS = Path(__file__).resolve().parent.parent / "docs"
STEP = re.compile(r"^\s+(=|~=|<=|>=|<~)\s+(.*?)\s+\[([^\]]+)\]\s*$")


def doc_derivations() -> list[tuple[str, int, list[tuple[str, str, str, str]]]]:
    """``(page, block index, [(before, op, after, rule)])`` for every printed derivation in the docs."""
    out = []
    for page in sorted(DOCS.glob("*.md")):
        blocks = re.findall(r"```[a-z]*\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)
        for i, block in enumerate(blocks):
            lines = [ln for ln in block.splitlines() if ln.strip()]
            if len(lines) < 2 or not all(STEP.match(ln) for ln in lines[1:]):
                continue
            steps, before = [], lines[0].strip()
            for ln in lines[1:]:
                op, after, rule = STEP.match(ln).groups()
                steps.append((before, op, after, rule))
                before = after
            out.append((page.name, i, steps))
    return out


def doc_derive_calls() -> list[tuple[str, str, tuple[str, ...]]]:
    """``(page, notation, using)`` for every ``inf.derive("...", using=[...])`` in the docs' code."""
    out = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for m in re.finditer(r"inf\.derive\(\s*\"([^\"]+)\"\s*,\s*using=\[([^\]]*)\]", text):
            using = tuple(u.strip().strip("\"'") for u in m.group(2).split(",") if u.strip())
            out.append((page.name, m.group(1), using))
    return out


def _failures(verdicts) -> str:
    return "\n".join(str(v) for v in verdicts if not v.holds)


# -- the engine verifies its own derivations ----------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(inf.methods))
def test_method_derivation_verifies(name: str) -> None:
    d = inf.methods[name].derivation()
    verdicts = d.verify()
    assert all(v.holds for v in verdicts), f"{name}: steps the checker rejects\n{d}\n{_failures(verdicts)}"


def test_docs_have_derivations() -> None:
    assert doc_derivations(), "no derivation blocks found in docs/"
    assert doc_derive_calls(), "no inf.derive calls found in docs/"


@pytest.mark.parametrize("page,index,steps", doc_derivations(), ids=lambda x: str(x) if not isinstance(x, list) else "")
def test_printed_derivation_verifies(page: str, index: int, steps) -> None:
    bad = []
    for before, op, after, rule in steps:
        v = inf.check(Relation((inf.parse(before), inf.parse(after)), (op,)), inf.Model())
        if not v:
            bad.append(f"[{rule}] {before} {op} {after}\n{v.explanation}")
    assert not bad, f"{page} block {index}: steps the checker rejects\n" + "\n".join(bad)


@pytest.mark.parametrize("page,notation,using", doc_derive_calls())
def test_derive_calls_in_docs_verify(page: str, notation: str, using: tuple[str, ...]) -> None:
    d = inf.derive(notation, using=list(using))
    verdicts = d.verify()
    assert all(v.holds for v in verdicts), f"{page}: derive({notation!r}, {using})\n{d}\n{_failures(verdicts)}"


QUANTITIES = ["I[W;Y|x]", "I[W;y|x]", "I[W;Y_B|x_B]", "I[W;y_B|x_B]", "I[Y_eval;Y|x,X_eval]",
              "I[Y_eval;Y_B|x_B,x_eval]", "I[Y_e;y|x,x_e]", "H[W|D]", "I[W;Y_1,Y_2|x_1,x_2]"]
APPROXIMATIONS = ["gaussian", "ggn", "glm", "eig_logdet", "trace", "last_layer", "empirical_fisher", "flat_prior",
                  "determinant_lemma", "samples"]


@SETTINGS(40)
@given(st.sampled_from(QUANTITIES), st.lists(st.sampled_from(APPROXIMATIONS), max_size=5, unique=True))
def test_derive_emits_only_verified_steps(notation: str, using: list[str]) -> None:
    d = inf.derive(notation, using=using, strict=False)
    verdicts = d.verify()
    assert all(v.holds for v in verdicts), f"derive({notation!r}, {using})\n{d}\n{_failures(verdicts)}"


GLM_DERIVATIONS = [
    ("I[W;y|x]", ("gaussian", "glm"), "linear"),
    ("I[W;Y|x]", ("gaussian", "glm", "eig_logdet"), "linear"),
    ("I[W;y|x]", ("gaussian", "last_layer", "glm"), "categorical"),
    ("I[W;y_B|x_B]", ("gaussian", "last_layer", "glm"), "categorical"),
]


@pytest.mark.parametrize("notation,using,model", GLM_DERIVATIONS)
def test_derivations_under_a_glm_likelihood_verify(notation: str, using: tuple[str, ...], model: str) -> None:
    """The exact ``glm`` step (observed = Fisher information) is emitted only where the model licenses it, and
    then the checker proves it under that model; the oracle (a GLM world) finds no counterexample either."""
    m = engine_model(model)
    d = inf.derive(notation, using=list(using), model=m, strict=False)
    verdicts = d.verify(m)
    assert all(v.holds for v in verdicts), f"derive({notation!r}, {using}, {m})\n{d}\n{_failures(verdicts)}"
    for s in d.steps:
        if s.relation == "=":
            label = judge((s.before, s.after), oracle_model(model), seeds=range(3), **oracle_options(model))
            assert label is not False and label != ERROR, f"[{s.rule}] {s.before} = {s.after}: oracle {label}"


# -- independently of the engine: exact steps and shapes on the oracle's models ------------------------------
def _steps_of_everything() -> list[tuple[str, str, str, str]]:
    """``(source, before, op, after)`` of every method derivation and printed docs derivation, deduplicated."""
    seen, out = set(), []
    for name in sorted(inf.methods):
        for s in inf.methods[name].derivation().steps:
            key = (str(s.before), s.relation, str(s.after))
            if key not in seen:
                seen.add(key)
                out.append((f"{name} [{s.rule}]", *key))
    for page, index, steps in doc_derivations():
        for before, op, after, rule in steps:
            key = (str(inf.parse(before)), op, str(inf.parse(after)))
            if key not in seen:
                seen.add(key)
                out.append((f"{page}#{index} [{rule}]", *key))
    return out


@functools.lru_cache(maxsize=1)
def _all_steps() -> list[tuple[str, str, str, str]]:
    return _steps_of_everything()


def test_every_expression_in_the_derivations_is_well_shaped() -> None:
    bad = []
    for source, before, _op, after in _all_steps():
        for text in (before, after):
            try:
                infer_shapes(inf.parse(text))
            except ShapeError as err:
                bad.append(f"{source}: {text}: {err}")
            except Unsupported:
                pass
    assert not bad, "ill-shaped expressions in derivations:\n" + "\n".join(bad)


def test_exact_steps_have_no_counterexample() -> None:
    bad = []
    for source, before, op, after in _all_steps():
        if op != "=":
            continue
        label = judge((inf.parse(before), inf.parse(after)), True, seeds=range(3))
        if label is False or label == ERROR:
            bad.append(f"{source}: {before} = {after}  (oracle: {label})")
    assert not bad, "exact steps the oracle refutes:\n" + "\n".join(bad)
