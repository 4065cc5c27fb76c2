"""Soundness of the identity checker against exact enumeration (tests/enumeration.py).

Hypothesis builds random linear combinations of random entropy/MI terms over three or four variables
(random case, subscripts, contexts) and rewrites each term into a form that is *sometimes* equal
(chain rules with and without the context trap, swapped mutual information, dropped context names,
flipped case, explicit expectations). Whenever ``equivalent(lhs, rhs, model)`` says True, the two
sides must agree on several random distributions of the model. Without a model the canonical form is
claimed to be a decision procedure, so the converse is asserted too.
"""

from __future__ import annotations

from fractions import Fraction

from enumeration import DiscreteWorld, SmoothWorld, Unsupported, close, evaluate, truth
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

import infonotation as inf
from infonotation.syntax.tree import Expectation, Expr, Name, Number, Prob, Term, product_of, sum_of

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# variables: (base, subscript); the parameter is "w" and may be written w*
FREE_VARS = [("a", None), ("b", None), ("c", None), ("w", None)]
MODEL_VARS = [("w", None), ("x", None), ("y", None), ("x", "e"), ("y", "e")]


def _name(base: str, sub: str | None, upper: bool, star: bool) -> Name:
    if upper:
        return Name(base.upper(), sub)
    return Name(base, sub, star and base == "w")


@st.composite
def terms(draw: st.DrawFn, pool: list[tuple[str, str | None]]) -> Term:
    n = draw(st.integers(2, min(4, len(pool))))
    chosen = draw(st.permutations(pool))[:n]
    star = draw(st.booleans())
    names = [_name(b, s, draw(st.booleans()), star) for b, s in chosen]
    if draw(st.integers(0, 2)) == 0:  # mutual information
        k = draw(st.integers(2, len(names)))
        groups_end = draw(st.integers(2, k)) if k > 2 else 2
        first = draw(st.integers(1, groups_end - 1))
        a, b = tuple(names[:first]), tuple(names[first:groups_end])
        given = tuple(names[groups_end:k])
        return Term("I", 0, (a, b), given)
    k = draw(st.integers(1, len(names)))
    return Term("H", 0, (tuple(names[:k]),), tuple(names[k:]))


def _flip(n: Name) -> Name:
    return Name(n.base.lower(), n.sub) if n.upper else Name(n.base.upper(), n.sub)


@st.composite
def rewrite(draw: st.DrawFn, t: Term) -> Expr:
    """A form of ``t`` that is equal for some cases and contexts and not for others."""
    how = draw(st.integers(0, 6))
    if t.head == "I":
        a, b = t.groups
        if how <= 1:
            return Term("I", 0, (b, a), t.given)
        if how == 2:
            return sum_of([Term("H", 0, (b,), t.given), Term("H", 0, (b,), a + t.given)], ["-"])
        if how == 3:
            return sum_of([Term("H", 0, (a,), t.given), Term("H", 0, (b,), t.given), Term("H", 0, (a + b,), t.given)],
                          ["+", "-"])
        if how == 4 and len(b) > 1:  # chain rule of mutual information, in a random order
            i = draw(st.integers(1, len(b) - 1))
            return sum_of([Term("I", 0, (a, b[:i]), t.given), Term("I", 0, (a, b[i:]), b[:i] + t.given)], ["+"])
        if how == 5 and t.given:
            j = draw(st.integers(0, len(t.given) - 1))
            return Term("I", 0, (a, b), t.given[:j] + t.given[j + 1:])
        return Term("I", 0, (a, b), t.given)
    s, g = t.groups[0], t.given
    if how <= 1 and len(s) > 1:  # chain rule H[S1,S2|G] -> H[S1|G] + H[S2|S1,G]
        perm = draw(st.permutations(s))
        i = draw(st.integers(1, len(s) - 1))
        return sum_of([Term("H", 0, (tuple(perm[:i]),), g), Term("H", 0, (tuple(perm[i:]),), tuple(perm[:i]) + g)],
                      ["+"])
    if how == 2 and g:  # drop a context name
        j = draw(st.integers(0, len(g) - 1))
        return Term("H", 0, (s,), g[:j] + g[j + 1:])
    if how == 3:  # flip the case of one name
        allnames = s + g
        j = draw(st.integers(0, len(allnames) - 1))
        flipped = tuple(_flip(n) if i == j else n for i, n in enumerate(allnames))
        return Term("H", 0, (flipped[: len(s)],), flipped[len(s):])
    uppers = [n for n in g if n.upper]
    if how in (4, 5) and uppers:  # H[S|B,o] -> E_{p(b|o')}[H[S|b,o]], right when o' is every observed name
        n = draw(st.sampled_from(uppers))
        lowered = n.lower()
        observed = [m for m in s + g if not m.upper]
        if how == 5 and observed:
            observed = observed[1:]
        inner = Term("H", 0, (s,), tuple(lowered if m == n else m for m in g))
        return Expectation(Prob((lowered,), tuple(observed)), inner)
    return t


@st.composite
def pairs(draw: st.DrawFn, pool: list[tuple[str, str | None]]) -> tuple[Expr, Expr]:
    ts = draw(st.lists(terms(pool), min_size=1, max_size=3))
    coeffs = draw(st.lists(st.sampled_from([1, 2, 3]), min_size=len(ts), max_size=len(ts)))
    signs = draw(st.lists(st.sampled_from(["+", "-"]), min_size=len(ts) - 1, max_size=len(ts) - 1))
    rs = [draw(rewrite(t)) for t in ts]

    def combo(items: list[Expr]) -> Expr:
        scaled = [x if c == 1 else product_of([Number(Fraction(c)), x], ["*"]) for c, x in zip(coeffs, items)]
        return sum_of(scaled, signs)

    return combo(ts), combo(rs)


def _report(lhs: Expr, rhs: Expr, model) -> str:
    return f"\n  lhs: {lhs}\n  rhs: {rhs}\n  {inf.check(inf.parse(f'{lhs} = {rhs}'), model).explanation}"


@SETTINGS
@given(pairs(FREE_VARS))
def test_no_model_checker_is_sound_and_complete(pair: tuple[Expr, Expr]) -> None:
    lhs, rhs = pair
    said = inf.equivalent(lhs, rhs, None)
    true = truth(lhs, rhs, model=False)
    assert said == true, ("SOUNDNESS BUG" if said else "incompleteness") + _report(lhs, rhs, None)


@SETTINGS
@given(pairs(MODEL_VARS))
def test_model_checker_is_sound(pair: tuple[Expr, Expr]) -> None:
    lhs, rhs = pair
    model = inf.Model()
    if inf.equivalent(lhs, rhs, model):
        assert truth(lhs, rhs, model=True), "SOUNDNESS BUG" + _report(lhs, rhs, model)


@SETTINGS
@given(pairs(MODEL_VARS))
def test_model_checker_is_complete_on_generated_pairs(pair: tuple[Expr, Expr]) -> None:
    """Under the default model the canonical form uses d-separation; true identities should be found."""
    lhs, rhs = pair
    if truth(lhs, rhs, model=True, seeds=(0, 1, 2, 3)):
        assert inf.equivalent(lhs, rhs, inf.Model()), "incompleteness" + _report(lhs, rhs, inf.Model())


@SETTINGS
@given(pairs(MODEL_VARS))
def test_a_model_only_adds_identities(pair: tuple[Expr, Expr]) -> None:
    """Everything true for every joint distribution is true for the model's distributions too."""
    lhs, rhs = pair
    if inf.equivalent(lhs, rhs, None):
        assert inf.equivalent(lhs, rhs, inf.Model()), _report(lhs, rhs, inf.Model())


# -- Hessian combinations under the model, checked with autograd --------------------------------------
HESS_EVENTS = ["w*", "y", "Y", "y, w*", "Y, w*", "y_e", "Y_e", "y, y_e", "Y, Y_e", "D", "w*, D"]
HESS_GIVEN = ["x, w*", "x", "x, x_e, w*", "y, x", "Y, x", "x_e, y_e", "D", "y, x, D", "Y, x, w*", "x_e, w*, y, x"]


@st.composite
def hessian_pairs(draw: st.DrawFn) -> tuple[Expr, Expr]:
    def term() -> Expr:
        ev = draw(st.sampled_from(HESS_EVENTS))
        gv = draw(st.sampled_from(HESS_GIVEN))
        text = f"H''[{ev}|{gv}]"
        e = inf.parse(text)
        names = [n.text for n in e.names()]
        if ("w*" not in names) or len(set(names)) < len(names):
            e = inf.parse(f"H''[{ev}|{gv}, w*]" if "w*" not in names else f"H''[{ev}]")
        return e

    def well_formed(e: Term) -> bool:
        vs = {}
        for n in e.names():
            vs.setdefault((n.base.lower(), n.sub), set()).add(n.upper)
        return all(len(v) == 1 for v in vs.values()) and len({(n.base.lower(), n.sub) for n in e.names()}) == len(
            e.names())

    ts = [t for t in (term() for _ in range(draw(st.integers(2, 4)))) if well_formed(t)]
    if len(ts) < 2:
        ts = [inf.parse("H''[w*|y,x]"), inf.parse("H''[y|x,w*]"), inf.parse("H''[w*]")]
    cut = draw(st.integers(1, len(ts) - 1))
    signs = draw(st.lists(st.sampled_from(["+", "-"]), min_size=len(ts), max_size=len(ts)))
    left = sum_of(ts[:cut], signs[1:cut]) if cut > 1 else ts[0]
    right = sum_of(ts[cut:], signs[cut + 1:]) if len(ts) - cut > 1 else ts[cut]
    return left, right


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hessian_pairs())
def test_hessian_checker_is_sound_under_the_model(pair: tuple[Expr, Expr]) -> None:
    lhs, rhs = pair
    model = inf.Model()
    said = inf.equivalent(lhs, rhs, model)
    try:
        true = truth(lhs, rhs, model=True, seeds=(0, 1))
    except Unsupported:  # pragma: no cover - every generated term has w* in it
        reject()
    if said:
        assert true, "SOUNDNESS BUG" + _report(lhs, rhs, model)
    else:
        assert not true, "incompleteness" + _report(lhs, rhs, model)


# -- the oracle itself, against closed forms ---------------------------------------------------------
def test_oracle_entropy_of_a_marginal_matches_the_formula() -> None:
    w = DiscreteWorld([inf.parse("H[A,B]")], model=False, seed=3)
    pa = w.table.sum(axis=1)
    expected = -(pa * __import__("numpy").log(pa)).sum()
    assert close(evaluate(inf.parse("H[A]"), w), expected)


def test_oracle_mutual_information_is_a_kl_divergence() -> None:
    import numpy as np

    w = DiscreteWorld([inf.parse("I[A;B]")], model=False, seed=4)
    pab = w.table
    pa, pb = pab.sum(1, keepdims=True), pab.sum(0, keepdims=True)
    assert close(evaluate(inf.parse("I[A;B]"), w), float((pab * np.log(pab / (pa * pb))).sum()))


def test_oracle_information_gain_of_a_label_is_not_a_kl_divergence() -> None:
    """I[W;y|x] = H[W] - H[W|y,x] can be negative (spec/paper-reference 1.3); find a world where it is."""
    values = [evaluate(inf.parse("I[W;y|x]"), DiscreteWorld([inf.parse("I[W;y|x]")], model=True, seed=s))
              for s in range(30)]
    assert min(values) < 0 < max(values)


def test_oracle_fisher_information_matches_the_softmax_closed_form() -> None:
    """With glm=True, H''[y|x,w*] = A^T (diag(pi) - pi pi^T) A for every label y (R14)."""
    import numpy as np
    import torch

    e = inf.parse("H''[y|x,w*]")
    w = SmoothWorld([e], model=True, seed=5, glm=True)
    v, dpa, a, b0, c, g = next(cp for cp in w.cpts if cp[0] == "y")
    xv, wv = w.env[("x", "o")], w.env[("w", "*")]
    A = a[xv].numpy()
    pi = torch.softmax(a[xv] @ wv + b0[xv], -1).numpy()
    expected = A.T @ (np.diag(pi) - np.outer(pi, pi)) @ A
    assert close(evaluate(e, w), expected)
    assert close(evaluate(inf.parse("H''[w*]"), w), w.prior_prec.numpy())
