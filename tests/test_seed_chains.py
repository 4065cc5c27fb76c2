"""The paper's chains as ``check`` calls, and every display equation of the blog post (the seed).

True steps must hold with the right rule named for each ``~=``/``<=`` step; false steps (a wrong
coefficient, a trace bound on observed information, ``=`` where an approximation is needed) must not.
Where the oracle can decide a display (no approximation in it), its truth comes from exact enumeration.
"""

from __future__ import annotations

import re

import pytest
import seed
from enumeration import truth

import infonotation as inf

EIG_CHAIN = ("I[W;Y|x] ~= -1/2 logdet(H''[w*]) + 1/2 logdet(H''[w*|Y,x]) "
             "= 1/2 logdet(H''[Y|x,w*] + H''[w*]) - 1/2 logdet(H''[w*]) "
             "= 1/2 logdet((H''[Y|x,w*] + H''[w*]) @ H''[w*]^-1) "
             "= 1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id) "
             "<= 1/2 tr(H''[Y|x,w*] @ H''[w*]^-1)")
EIG_RULES = ["gaussian", None, None, None, "trace"]


def _rules(v: inf.Verdict) -> list[str | None]:
    return [s.rule for s in v.steps]


def test_posterior_hessian_is_likelihood_plus_prior() -> None:
    v = inf.check("H''[w*|y,x] = H''[y|x,w*] + H''[w*]", inf.Model())
    assert v and v.steps[0].holds
    assert truth(*inf.parse("H''[w*|y,x] = H''[y|x,w*] + H''[w*]").items, model=True)
    assert not inf.check("H''[w*|y,x] = H''[y|x,w*] + H''[w*]", None)  # x may depend on w without the model


def test_eig_chain_holds_step_by_step() -> None:
    v = inf.check(EIG_CHAIN, inf.Model())
    assert v, v.explanation
    assert [s.op for s in v.steps] == ["~=", "=", "=", "=", "<="]
    assert _rules(v) == EIG_RULES
    assert all(s.holds for s in v.steps)
    for s in v.steps[1:4]:  # the exact steps are true on random models with a continuous parameter
        assert truth(s.left, s.right, model=True), str(s)


def test_gaussian_entropy_holds_by_the_gaussian_rule() -> None:
    v = inf.check("H[W] ~= -1/2 logdet(H''[w*]) + C_k", inf.Model())
    assert v and _rules(v) == ["gaussian"]


@pytest.mark.parametrize("index, wrong", [
    (1, "-1/2 logdet(H''[w*]) + 1/2 logdet(H''[w*|Y,x]) = logdet(H''[Y|x,w*] + H''[w*]) - 1/2 logdet(H''[w*])"),
    (2, "1/2 logdet(H''[Y|x,w*] + H''[w*]) - 1/2 logdet(H''[w*]) = 1/2 logdet((H''[Y|x,w*] - H''[w*]) @ H''[w*]^-1)"),
    (3, "1/2 logdet((H''[Y|x,w*] + H''[w*]) @ H''[w*]^-1) = 1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + 2 * Id)"),
    (4, "1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id) <= 1/4 tr(H''[Y|x,w*] @ H''[w*]^-1)"),
    (4, "1/2 logdet(H''[y|x,w*] @ H''[w*]^-1 + Id) <= 1/2 tr(H''[y|x,w*] @ H''[w*]^-1)"),
    (4, "1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id) >= 1/2 tr(H''[Y|x,w*] @ H''[w*]^-1)"),
    (4, "1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id) = 1/2 tr(H''[Y|x,w*] @ H''[w*]^-1)"),
    (0, "I[W;Y|x] = -1/2 logdet(H''[w*]) + 1/2 logdet(H''[w*|Y,x])"),
    (0, "I[W;Y|x] ~= 1/2 logdet(H''[w*]) + 1/2 logdet(H''[w*|Y,x])"),
])
def test_a_false_step_in_the_chain_is_reported(index: int, wrong: str) -> None:
    v = inf.check(wrong, inf.Model())
    assert not v and not v.steps[0].holds
    # spliced into the full chain, exactly that step fails
    parts = re.split(r" (~=|=|<=|>=) ", EIG_CHAIN)
    items, ops = parts[0::2], parts[1::2]
    left, op, right = re.split(r" (~=|=|<=|>=) ", wrong)
    items[index], ops[index], items[index + 1] = left, op, right
    chain = items[0] + "".join(f" {o} {t}" for o, t in zip(ops, items[1:]))
    vc = inf.check(chain, inf.Model())
    assert not vc
    assert not vc.steps[index].holds


def test_false_gaussian_entropy_is_reported() -> None:
    assert not inf.check("H[W] ~= 1/2 logdet(H''[w*]) + C_k", inf.Model())
    assert not inf.check("H[W] = -1/2 logdet(H''[w*]) + C_k", inf.Model())  # = where ~= is needed


# -- the blog post's display equations ---------------------------------------------------------------
def _displays() -> list[str]:
    return [d[2:-2].strip() for d in seed.displays()]


def _parse_latex():
    """``inf.parse_latex``."""
    from infonotation.syntax.latex import parse_latex

    return parse_latex


# (display index, holds under Model(), rules of the ~=/<= steps or None, decidable by enumeration)
SEED_EXPECTED = [
    (0, False, None, True),     # p(y, w | x, w) = p(y | x, w) p(y | x): the post's typo, false
    (1, True, None, True),      # p(y | x) = E_{p(w)}[p(y | x, w)]: true under the model
    (2, True, None, False),     # h(p) := -log p: a definition
    (3, True, None, True),      # H[X] = E_{p(x)}[H[x]] = ...
    (4, True, None, True),      # H[X, y | Z] = E_{p(x, z | y)}[H[x, y | z]]
    (5, False, None, False),    # the Bayes chain with w where w* is meant
    (6, True, ["gaussian"], False),
    (7, True, ["ggn"], False),
    (8, True, EIG_RULES, False),
    (9, True, None, False),     # det(A B + M) = det M det(Id + B M^-1 A)
]


def test_every_display_is_covered() -> None:
    assert len(_displays()) == len(SEED_EXPECTED) == 10


@pytest.mark.parametrize("index, holds, rules, decidable", SEED_EXPECTED)
def test_seed_display(index: int, holds: bool, rules: list | None, decidable: bool) -> None:
    parse_latex = _parse_latex()
    text = _displays()[index]
    tree = parse_latex(text)
    v = inf.check(text, inf.Model(), latex=True)
    assert bool(v) == holds, v.explanation
    if rules is not None:
        assert [s.rule for s in v.steps if s.op != "="] == [r for r in rules if r is not None]
    if decidable:
        for st in tree.statements():
            for left, op, right in st.steps():
                assert truth(left, right, model=True) == holds, f"{left} {op} {right}"


def test_seed_first_display_is_false_not_an_error() -> None:
    _parse_latex()
    v = inf.check(_displays()[0], inf.Model(), latex=True)
    assert not v and v.lhs and v.rhs  # a verdict with canonical forms, not an exception
    assert not inf.check(_displays()[0], None, latex=True)


def test_seed_bayes_chain_is_false_with_a_hint_about_w_star() -> None:
    parse_latex = _parse_latex()
    text = _displays()[5]
    v = inf.check(text, inf.Model(), latex=True)
    assert not v
    assert "w*" in v.hint and "`w`" in v.hint
    # the oracle agrees: w and w* are two values of the parameter
    first = parse_latex(text).statements()[0]
    assert not truth(first.items[0], first.items[1], model=True)
    fixed = inf.check("H[w*|y,x] = H[y|x,w*] + H[w*] - H[y|x] => H''[w*|y,x] = H''[y|x,w*] + H''[w*] - H''[y|x] "
                      "<=> H''[w*|y,x] = H''[y|x,w*] + H''[w*]", inf.Model())
    assert fixed, fixed.explanation


def test_seed_eig_chain_parses_to_the_ascii_chain_up_to_products() -> None:
    parse_latex = _parse_latex()
    latex_chain = parse_latex(_displays()[8])
    assert [op for _, op, _ in latex_chain.steps()] == ["~=", "=", "=", "=", "<="]
    ascii_chain = inf.parse(EIG_CHAIN)
    for a, b in zip(latex_chain.items, ascii_chain.items):  # juxtaposition is the matrix product
        assert inf.equivalent(a, b, inf.Model()), (str(a), str(b))
    assert inf.check(latex_chain, inf.Model())
