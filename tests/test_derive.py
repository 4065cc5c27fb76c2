"""``derive``: the paper's chain for the expected information gain, step by step, each step checkable."""

from __future__ import annotations

import pytest
from enumeration import truth

import infonotation as inf
from infonotation.symbolic.rules import RULES, check_step

EIG_RESULT = "1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id)"


@pytest.fixture(scope="module")
def eig() -> inf.Derivation:
    return inf.derive("I[W;Y|x]", using=["gaussian", "ggn", "eig_logdet"])


def test_eig_ends_at_the_papers_log_determinant(eig: inf.Derivation) -> None:
    assert eig.result == inf.parse(EIG_RESULT)
    assert eig.start == inf.parse("I[W;Y|x]")
    assert eig.steps[0].before == eig.start
    for a, b in zip(eig.steps, eig.steps[1:]):
        assert a.after == b.before


def test_step_relations_match_the_rules(eig: inf.Derivation) -> None:
    expected = {"gaussian": "~=", "ggn": "~=", "eig_logdet": "~=", "trace": "<="}
    names = [s.rule for s in eig.steps]
    assert {"gaussian", "ggn", "eig_logdet"} <= set(names)
    for s in eig.steps:
        assert s.relation == expected.get(s.rule, "="), s
        assert s.relation == RULES[s.rule].relation


def test_every_exact_step_is_proven_under_the_model(eig: inf.Derivation) -> None:
    model = inf.Model()
    for s in eig.steps:
        v = check_step(s.before, s.relation, s.after, model)
        assert v.holds, str(v)
        if s.relation == "=":
            assert inf.equivalent(s.before, s.after, model), s
        else:
            assert v.rule == s.rule, (v.rule, s.rule)
    assert all(v.holds for v in eig.verify())


def test_exact_steps_without_hessians_are_true_by_enumeration(eig: inf.Derivation) -> None:
    """The Shannon part of the chain (before the Gaussian step) preserves the value on random models."""
    for s in eig.steps:
        if s.rule == "gaussian":
            break
        assert s.relation == "="
        assert truth(s.before, s.after, model=True), s


def test_approximate_steps_are_not_exact(eig: inf.Derivation) -> None:
    model = inf.Model()
    for s in eig.steps:
        if s.relation != "=":
            assert not inf.equivalent(s.before, s.after, model), f"{s.rule} would be exact: {s}"


def test_trace_adds_a_bound() -> None:
    d = inf.derive("I[W;Y|x]", using=["gaussian", "ggn", "eig_logdet", "trace"])
    assert d.steps[-1].rule == "trace" and d.steps[-1].relation == "<="
    assert d.result == inf.parse("1/2 tr(H''[Y|x,w*] @ H''[w*]^-1)")
    assert [op for _, op, _ in d.relation.steps()] == [s.relation for s in d.steps]
    assert inf.check(d.relation, inf.Model())  # the whole chain checks, step by step


def test_a_named_rule_that_never_fires_raises() -> None:
    with pytest.raises(inf.RuleError, match="trace"):
        inf.derive("H[W]", using=["trace"])
    with pytest.raises(inf.RuleError, match="ggn"):
        inf.derive("H[W]", using=["gaussian", "ggn"])
    with pytest.raises(inf.RuleError, match="unknown rule"):
        inf.derive("I[W;Y|x]", using=["no_such_rule"])


def test_printing_contains_every_step(eig: inf.Derivation) -> None:
    text, tex = str(eig), eig.latex()
    assert text.splitlines()[0] == str(eig.start)
    for s in eig.steps:
        assert str(s.after) in text and s.rule in text
        assert s.after.latex() in tex and s.rule.replace("_", " ") in tex
    assert tex.count("\\approx") == sum(s.relation == "~=" for s in eig.steps)
    assert tex.startswith("\\begin{aligned}") and tex.rstrip().endswith("\\end{aligned}")


def test_gaussian_entropy_of_the_parameter() -> None:
    d = inf.derive("H[W]", using=["gaussian"])
    assert d.result == inf.parse("-1/2 logdet(H''[w*]) + C_k")
    assert [s.relation for s in d.steps] == ["~="]


def test_derive_accepts_trees_and_is_cached_by_value() -> None:
    a = inf.derive(inf.parse("I[W;Y|x]"), using=["gaussian", "ggn", "eig_logdet"])
    b = inf.derive("I[ W ; Y | x ]", using=("gaussian", "ggn", "eig_logdet"))
    assert a.result == b.result and len(a.steps) == len(b.steps)


def test_derive_reports_bad_input_in_the_hierarchy() -> None:
    with pytest.raises(inf.ParseError):
        inf.derive("I[W;Y|x", using=["gaussian"])
    with pytest.raises(inf.NotationError):
        inf.derive("H''[W|x]", using=["gaussian"])
