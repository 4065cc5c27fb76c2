"""Expressions as sympy objects and back (``Expr.to_sympy()``, ``inf.from_sympy``).

* Round trips over generated well-formed expressions (scalar expressions over ``H``, ``I``, ``p``, ``E``, ``h``,
  ``log``, ``exp``, numbers, ``pi``, ``e`` and the symbols ``beta``/``lambda``; matrix expressions over Hessians,
  gradients and ``Id`` with ``+``, ``@``, ``^T``, ``^-1`` and scalar factors; scalars of them by ``logdet``,
  ``tr``, ``det``): ``inf.equivalent(inf.from_sympy(e.to_sympy()), e, inf.Model())`` whenever the engine proves
  ``e = e`` at all, and a second trip changes nothing.
* The sympy objects are what the docstring of ``infonotation/symbolic/sympy_form.py`` says: information terms
  are applications of sympy functions named by their head with ``;`` and ``|`` symbols between the groups,
  Hessians ``P x P`` and gradients ``1 x P`` (``N_B x P`` for a batch) matrix symbols named by their text,
  ``logdet`` is ``log(Determinant(.))``, and so on (each expected object is built here with sympy by hand).
* Symbolic coefficients stay exact: rationals stay ``Rational``, and statements linear in ``beta`` are decided
  exactly by the canonical forms.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import infonotation as inf
from infonotation.syntax.tree import (
    Const,
    Expectation,
    Func,
    Identity,
    Info,
    Name,
    Neg,
    Number,
    Pow,
    Prob,
    Term,
    Transpose,
    product_of,
    sum_of,
)

P = inf.parse
M = inf.Model()


def SETTINGS(n: int) -> settings:  # noqa: N802 - reads as a decorator
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


# -- well-formed expressions -------------------------------------------------------------------------------------
#: Variables of the default model and one it does not know (``z``); each appears at most once per term.
VARIABLES = [("x", None), ("y", None), ("x", "1"), ("y", "1"), ("x", "eval"), ("y", "eval"), ("w", None),
             ("z", None)]


@st.composite
def _names(draw: st.DrawFn, lower_only: bool = False, no_star: bool = False) -> list[Name]:
    chosen = draw(st.lists(st.sampled_from(VARIABLES), min_size=1, max_size=4, unique=True))
    out = []
    for base, sub in chosen:
        upper = False if lower_only else draw(st.booleans())
        star = base == "w" and not upper and not no_star and draw(st.booleans())
        out.append(Name(base.upper() if upper else base, sub, star))
    return out


@st.composite
def info_terms(draw: st.DrawFn) -> Term:
    """``H[A|B]``, ``I[A;B|C]``, ``I[A;B;C]`` (order 0) over distinct variables."""
    names = draw(_names())
    head = draw(st.sampled_from("HHI")) if len(names) >= 2 else "H"
    if head == "H":
        cut = draw(st.integers(1, len(names)))
        return Term("H", 0, (tuple(names[:cut]),), tuple(names[cut:]))
    k = draw(st.integers(2, min(3, len(names))))
    groups = tuple((n,) for n in names[:k])
    return Term("I", 0, groups, tuple(names[k:]))


@st.composite
def probabilities(draw: st.DrawFn) -> Prob:
    names = draw(_names(lower_only=True))
    cut = draw(st.integers(1, len(names)))
    return Prob(tuple(names[:cut]), tuple(names[cut:]))


NUMBERS = st.sampled_from([Fraction(1), Fraction(2), Fraction(1, 2), Fraction(2, 3), Fraction(7, 4),
                           Fraction(1, 10)]).map(Number)
SYMBOLS = st.sampled_from([Name("beta", None, False), Name("lambda", None, False)])
SCALAR_LEAVES = st.one_of(info_terms(), info_terms(), probabilities(), NUMBERS, SYMBOLS,
                          st.sampled_from([Const("pi"), Const("e")]), probabilities().map(Info))


def _no_exp_of_log(e) -> bool:
    """sympy rewrites ``exp(log(u))`` to ``u`` on its own: see test_exp_of_log_of_a_symbol_survives below."""
    return not (isinstance(e, Func) and e.name == "exp" and isinstance(e.arg, Func) and e.arg.name == "log")


@st.composite
def _expectation(draw: st.DrawFn, body: st.SearchStrategy) -> Expectation:
    names = draw(_names(lower_only=True, no_star=True))
    cut = draw(st.integers(1, len(names)))
    return Expectation(Prob(tuple(names[:cut]), tuple(names[cut:])), draw(body))


def _extend_scalars(children: st.SearchStrategy) -> st.SearchStrategy:
    operands = st.lists(children, min_size=2, max_size=3)
    return st.one_of(
        st.builds(Neg, children),
        st.builds(Func, st.sampled_from(["log", "exp"]), children).filter(_no_exp_of_log),
        st.builds(Pow, children, st.sampled_from([Number(Fraction(2)), Number(Fraction(3)), Neg(Number(Fraction(1))),
                                                  Number(Fraction(1, 2))])),
        _expectation(children),
        operands.flatmap(lambda xs: st.lists(st.sampled_from("+-"), min_size=len(xs) - 1, max_size=len(xs) - 1)
                         .map(lambda ops, xs=xs: sum_of(xs, ops))),
        operands.flatmap(lambda xs: st.lists(st.sampled_from("**/"), min_size=len(xs) - 1, max_size=len(xs) - 1)
                         .map(lambda ops, xs=xs: product_of(xs, ops))),
    )


scalar_exprs = st.recursive(SCALAR_LEAVES, _extend_scalars, max_leaves=8)

#: P x P matrices of the default model (the observed information and the Fisher of a point, priors, posteriors).
MATRIX_LEAVES = st.sampled_from(["H''[w*]", "H''[Y|x,w*]", "H''[y|x,w*]", "H''[w*|D]", "H''[Y_1|x_1,w*]",
                                  "H''[w*|y,x]", "H'[y|x,w*]^T @ H'[y|x,w*]", "E_{p(y|x,w*)}[H''[y|x,w*]]",
                                  "H'[y_B|x_B,w*]^T @ H'[y_B|x_B,w*]"]).map(P)


def _extend_matrices(children: st.SearchStrategy) -> st.SearchStrategy:
    # Left out while they are library bugs (each has a strict expected failure below): ``Id`` in a sum
    # (test_a_sum_that_starts_with_id, test_identity_takes_the_size_it_meets) and ``A - A``
    # (test_a_zero_matrix_reads_back); ``Id`` in a product stays.
    pair = st.tuples(children, children)
    return st.one_of(
        pair.filter(lambda ab: ab[0] != ab[1]).flatmap(
            lambda ab: st.sampled_from("+-").map(lambda op, ab=ab: sum_of(list(ab), [op]))),
        pair.map(lambda ab: product_of(list(ab), ["@"])),
        st.builds(lambda a, left: product_of([Identity(), a] if left else [a, Identity()], ["@"]), children,
                  st.booleans()),
        st.builds(lambda c, a: product_of([c, a], ["*"]), st.one_of(NUMBERS, SYMBOLS), children),
        st.builds(Transpose, children),
        st.builds(lambda a: Pow(a, Neg(Number(Fraction(1)))), children),
        st.builds(Neg, children),
    )


matrix_exprs = st.recursive(MATRIX_LEAVES, _extend_matrices, max_leaves=5)
matrix_scalars = st.builds(Func, st.sampled_from(["logdet", "tr", "det"]), matrix_exprs)


def _provable(e) -> bool:
    """Whether the engine proves ``e = e`` (an expression undefined everywhere is undecided, and skipped)."""
    try:
        return inf.equivalent(e, e, M)
    except inf.NotationError:
        return False


def _round_trip(e) -> None:
    assume(_provable(e))
    s = e.to_sympy()
    # sympy cancels A - A (also A @ Id - A) to ZeroMatrix, which does not read back yet: a library bug kept as
    # test_a_zero_matrix_reads_back below
    assume(not any(isinstance(a, sympy.ZeroMatrix) for a in sympy.preorder_traversal(s)))
    back = inf.from_sympy(s)
    assert inf.equivalent(back, e, M), f"{e}\n  -> {s}\n  -> {back}"
    again = back.to_sympy()
    assert again.doit() == s.doit(), f"a second trip changes {s} into {again}"
    assert inf.parse(str(back)) == back


@SETTINGS(200)
@given(scalar_exprs)
def test_scalar_expressions_round_trip(e) -> None:
    _round_trip(e)


@SETTINGS(150)
@given(matrix_exprs)
def test_matrix_expressions_round_trip(e) -> None:
    _round_trip(e)


@SETTINGS(100)
@given(st.tuples(matrix_scalars, scalar_exprs, st.sampled_from("+-*")))
def test_mixed_expressions_round_trip(parts) -> None:
    a, b, op = parts
    _round_trip(sum_of([a, b], [op]) if op in "+-" else product_of([a, b], [op]))


# -- the objects, as the module's docstring describes them ------------------------------------------------------
SEMI, BAR = sympy.Symbol(";"), sympy.Symbol("|")
Hf, If, pf, Ef = (sympy.Function(n) for n in ("H", "I", "p", "E"))
S = sympy.Symbol


def _dim(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, positive=True, integer=True)


def test_information_terms_are_applied_functions() -> None:
    assert P("H[Y|x]").to_sympy() == Hf(S("Y"), BAR, S("x"))
    assert P("I[W;Y|x]").to_sympy() == If(S("W"), SEMI, S("Y"), BAR, S("x"))
    assert P("I[A;B;C]").to_sympy() == If(S("A"), SEMI, S("B"), SEMI, S("C"))
    assert P("H[X,Y]").to_sympy() == Hf(S("X"), S("Y"))
    assert P("p(y|x)").to_sympy() == pf(S("y"), BAR, S("x"))
    assert P("p(y)").to_sympy() == pf(S("y"))
    assert P("h(p(y|x))").to_sympy() == -sympy.log(pf(S("y"), BAR, S("x")))
    assert P("E_{p(y|x)}[H[W|y,x]]").to_sympy() == Ef(pf(S("y"), BAR, S("x")), Hf(S("W"), BAR, S("y"), S("x")))
    assert isinstance(P("H[Y|x]").to_sympy(), sympy.core.function.AppliedUndef)


def test_hessians_and_gradients_are_matrix_symbols_of_their_shapes() -> None:
    p, pl, nb = _dim("P"), _dim("P_L"), _dim("N_B")
    prior = P("H''[w*]").to_sympy()
    assert isinstance(prior, sympy.MatrixSymbol)
    assert prior.shape == (p, p) and prior.name == "H''[w*]"
    fisher = P("H''[Y|x,w*]").to_sympy()
    assert isinstance(fisher, sympy.MatrixSymbol) and fisher.shape == (p, p)
    grad = P("H'[y|x,w*]").to_sympy()
    assert isinstance(grad, sympy.MatrixSymbol) and grad.shape == (1, p)
    assert grad.name == str(P("H'[y|x,w*]"))
    assert P("H'[y_B|x_B,w*]").to_sympy().shape == (nb, p)
    assert P("H''[w_L*]").to_sympy().shape == (pl, pl)
    assert P("H'[y|x,w_L*]").to_sympy().shape == (1, pl)
    # the gradient's outer product is P x P, its inner product 1 x 1
    assert P("H'[y|x,w*]^T @ H'[y|x,w*]").to_sympy().shape == (p, p)
    assert P("H'[y|x,w*] @ H'[y|x,w*]^T").to_sympy().shape == (1, 1)
    # the expectation of a matrix is a matrix symbol of the body's shape
    assert P("E_{p(y|x,w*)}[H''[y|x,w*]]").to_sympy().shape == (p, p)


def test_matrix_functions_are_sympy_matrix_expressions() -> None:
    p = _dim("P")
    h, f = sympy.MatrixSymbol("H''[w*]", p, p), sympy.MatrixSymbol(str(P("H''[Y|x,w*]")), p, p)
    assert P("logdet(H''[w*])").to_sympy() == sympy.log(sympy.Determinant(h))
    assert P("det(H''[w*])").to_sympy() == sympy.Determinant(h)
    assert P("tr(H''[w*])").to_sympy() == sympy.Trace(h)
    assert P("H''[w*]^-1").to_sympy() == sympy.Inverse(h)
    assert P("H''[w*]^T").to_sympy() == sympy.Transpose(h)
    assert P("H''[Y|x,w*] @ H''[w*]^-1").to_sympy() == sympy.MatMul(f, sympy.Inverse(h))
    eig = P("1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id)").to_sympy()
    assert eig == sympy.Rational(1, 2) * sympy.log(sympy.Determinant(sympy.MatMul(f, sympy.Inverse(h))
                                                                      + sympy.Identity(p)))
    assert P("H''[w*] + Id").to_sympy() == h + sympy.Identity(p)
    assert P("H''[w*] @ Id").to_sympy() == sympy.MatMul(h, sympy.Identity(p))
    a, b = P("A @ B").to_sympy().args
    assert isinstance(a, sympy.MatrixSymbol) and isinstance(b, sympy.MatrixSymbol)
    assert (a.name, b.name) == ("A", "B")


def test_numbers_and_constants() -> None:
    assert P("1/3").to_sympy() == sympy.Rational(1, 3)
    assert P("0.1 * H[X]").to_sympy() == sympy.Rational(1, 10) * Hf(S("X"))
    assert P("2.5e-3").to_sympy() == sympy.Rational(1, 400)
    assert P("pi").to_sympy() is sympy.pi
    assert P("e").to_sympy() is sympy.E
    assert P("C_k").to_sympy() == S("C_k")
    for text in ["1/3 * beta * H[X] - 0.25 * lambda * I[X;Y]", "3/7 * logdet(H''[w*]) + 1/2 * tr(H''[w*])"]:
        s = P(text).to_sympy()
        assert not s.atoms(sympy.Float), f"{text} -> {s}"
        assert inf.equivalent(inf.from_sympy(s), text, M)


def test_from_sympy_reads_hand_built_objects() -> None:
    """What a user writes with sympy after the hand-over reads back into the notation."""
    p = _dim("P")
    h, f = sympy.MatrixSymbol("H''[w*]", p, p), sympy.MatrixSymbol("H''[Y | x, w*]", p, p)
    beta = S("beta")
    cases = [
        (If(S("W"), SEMI, S("Y"), BAR, S("x")), "I[W;Y|x]"),
        (Hf(S("Y"), BAR, S("x")) - Hf(S("Y"), BAR, S("x"), S("W")), "H[Y|x] - H[Y|x,W]"),
        (beta * (Hf(S("X")) + Hf(S("Y"))), "beta * (H[X] + H[Y])"),
        (sympy.Rational(1, 2) * sympy.log(sympy.Determinant(f + h)) - sympy.Rational(1, 2)
         * sympy.log(sympy.Determinant(h)), "1/2 logdet(H''[Y|x,w*] + H''[w*]) - 1/2 logdet(H''[w*])"),
        (sympy.Trace(sympy.MatMul(f, sympy.Inverse(h))), "tr(H''[Y|x,w*] @ H''[w*]^-1)"),
        (sympy.exp(-Hf(S("Y"), BAR, S("x"))), "exp(-H[Y|x])"),
        (Ef(pf(S("y"), BAR, S("x")), -sympy.log(pf(S("y"), BAR, S("x")))), "H[Y|x]"),
    ]
    for obj, text in cases:
        assert inf.equivalent(inf.from_sympy(obj), text, M), (obj, inf.from_sympy(obj), text)
    with pytest.raises(inf.NotationError):
        inf.from_sympy(sympy.Function("f")(S("x")))
    with pytest.raises(inf.NotationError):
        inf.from_sympy(sympy.I)


def test_sympy_algebra_after_the_hand_over() -> None:
    """The point of the hand-over: sympy's own algebra on the objects gives equivalent expressions back."""
    e = P("beta * (I[W;Y|x] + 2 * H[Y|x]) - beta * H[Y|x]")
    s = sympy.expand(e.to_sympy())
    assert s == S("beta") * If(S("W"), SEMI, S("Y"), BAR, S("x")) + S("beta") * Hf(S("Y"), BAR, S("x"))
    assert inf.equivalent(inf.from_sympy(s), e, M)
    d = sympy.diff(e.to_sympy(), S("beta"))
    assert inf.equivalent(inf.from_sympy(d), "I[W;Y|x] + H[Y|x]", M)


# -- symbolic coefficients stay exact ---------------------------------------------------------------------------
EXACT = [
    "beta*H[X] + beta*H[Y] = beta*(H[X]+H[Y])",
    "(1/3)*beta*H[X] + (2/3)*beta*H[X] = beta*H[X]",
    "beta/3*H[X] = beta*H[X]/3",
    "beta*(H[X] - H[X|Y]) = beta*I[X;Y]",
    "2*beta*H[X] - beta*H[X] = beta*H[X]",
    "I[W;Y|x] + beta*I[Y_eval;Y|x,X_eval] = beta*(I[Y_eval;Y|x,X_eval] - H[Y|x]) + I[W;Y|x] + beta*H[Y|x]",
]


@pytest.mark.parametrize("text", EXACT)
def test_symbolic_coefficients_are_decided_exactly(text: str) -> None:
    v = inf.check(text, M)
    assert v.status == "holds", v.explanation
    assert v.method.startswith("exact"), v.method
    assert v.difference == "0"


@pytest.mark.parametrize("text", ["beta*H[X] = H[X]", "beta*H[X] + H[Y] = beta*(H[X]+H[Y])",
                                  "beta*H[X] = lambda*H[X]", "(1/3)*beta*H[X] = (1/4)*beta*H[X]"])
def test_symbolic_coefficients_do_not_collapse(text: str) -> None:
    v = inf.check(text, M)
    assert v.status == "does not hold", v.explanation
    assert "beta" in v.difference


def test_the_sympy_form_keeps_beta_exact() -> None:
    s = P("1/3 * beta * H[X] + 2/3 * beta * H[X]").to_sympy()
    assert s == S("beta") * Hf(S("X"))
    s = P("beta * (H[X] + H[Y])").to_sympy()
    assert sympy.expand(s) == S("beta") * Hf(S("X")) + S("beta") * Hf(S("Y"))
    assert not s.atoms(sympy.Float)


# -- library bugs these tests found (fixed), kept as regression tests --------------------------------------
def test_a_sum_that_starts_with_id() -> None:
    e = P("Id + H''[w*]")
    assert inf.equivalent(inf.from_sympy(e.to_sympy()), e, M)


def test_exp_of_log_of_a_symbol_survives() -> None:
    e = P("exp(log(beta))")
    assert inf.equivalent(e, e, M)
    assert inf.equivalent(inf.from_sympy(e.to_sympy()), e, M)


def test_identity_takes_the_size_it_meets() -> None:
    p = _dim("P")
    h = sympy.MatrixSymbol("H''[w*]", p, p)
    assert P("H''[w*] + Id").to_sympy() == h + sympy.Identity(p)
    assert P("H''[w*] + lambda * Id").to_sympy() == h + S("lambda") * sympy.Identity(p)


def test_a_sum_with_id_survives_two_trips() -> None:
    s = P("H''[w*] + Id").to_sympy()
    assert inf.from_sympy(s).to_sympy() == s


def test_a_zero_matrix_reads_back() -> None:
    e = P("H''[w*] - H''[w*]")
    assert inf.equivalent(inf.from_sympy(e.to_sympy()), "0", M)


def test_capital_names_get_the_inferred_shapes() -> None:
    a, b = P("A @ B").to_sympy().args
    assert a.shape[1] == b.shape[0]
    g = P("tr(G @ H''[w*])").to_sympy().arg.args[0]
    assert g.shape == (_dim("P"), _dim("P"))
