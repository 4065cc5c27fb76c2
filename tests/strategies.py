"""Hypothesis strategies for syntax trees, reusable by every test module.

The trees are built from the node constructors of :mod:`infonotation.syntax.tree` and the smart
constructors :func:`sum_of` / :func:`product_of` (never by parsing), so that the parser and the
printers can be checked against them. They stay inside the language: no reserved word is used as a
name (spec/notation.md, section 7), relations appear only at the top, and trees stay well below
the parser's depth limit.

    from strategies import exprs, statements, names   # tests/ is on sys.path under pytest
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st

from infonotation.syntax.tree import (
    CONSTANTS,
    FUNCTIONS,
    RELATIONS,
    Const,
    Expectation,
    Expr,
    Func,
    Identity,
    Info,
    Name,
    Neg,
    Number,
    Pow,
    Prob,
    Relation,
    Term,
    Transpose,
    product_of,
    sum_of,
)

__all__ = [
    "RESERVED",
    "name_texts",
    "names",
    "plain_names",
    "numbers",
    "leaves",
    "terms",
    "probs",
    "exprs",
    "statements",
    "ALPHABET",
    "grammar_strings",
]

#: Words that are not names (heads, functions, constants, the parameter's aliases).
RESERVED = frozenset(
    {"H", "I", "E", "p", "h", "inv", "Id", *FUNCTIONS, *CONSTANTS, "theta", "Theta", "omega", "Omega",
     "θ", "Θ", "ω", "Ω", "π"}
)

_FIRST = "abcdfgkmnqrstuvxyzABCDFGKLMNPQRSTUVWXYZ" + "αβγδλμσρΔΣΛ"
_REST = "abcxyz019" + "αλ"
_SUB = "abceilnvpqrtx0123456789"


@st.composite
def _name(draw: st.DrawFn, star: bool | None = None) -> Name:
    base = draw(st.text(_FIRST, min_size=1, max_size=1)) + draw(st.text(_REST, max_size=3))
    sub = draw(st.none() | st.text(_SUB, min_size=1, max_size=4))
    if base in RESERVED or (base == "C" and sub == "k") or (base, sub) in {("C", "k")}:
        base = base + "q"
    starred = draw(st.booleans()) if star is None else star
    return Name(base, sub, starred)


#: Any name: random or observed, subscripted or not, possibly a point estimate ``w*``.
names = _name()
#: Names without ``*``.
plain_names = _name(star=False)


def name_texts() -> st.SearchStrategy[str]:
    """Names as text (``x_1``, ``Y_eval``, ``w*``), for building input strings."""
    return names.map(lambda n: n.text)


#: Exact non-negative rationals: integers and proper fractions (printed as ``p/q``).
numbers = st.one_of(
    st.integers(0, 1000).map(lambda k: Number(Fraction(k))),
    st.builds(lambda a, b: Number(Fraction(a, b)), st.integers(0, 50), st.integers(1, 12)),
)

_groups = st.lists(names, min_size=1, max_size=3).map(tuple)
_given = st.lists(names, max_size=3).map(tuple)


@st.composite
def _term(draw: st.DrawFn) -> Term:
    head = draw(st.sampled_from("HI"))
    order = draw(st.integers(0, 2))
    k = 1 if head == "H" else draw(st.integers(2, 3))
    groups = tuple(draw(_groups) for _ in range(k))
    return Term(head, order, groups, draw(_given))


#: ``H[...]``, ``H'[...]``, ``H''[...]``, ``I[...;...]`` (two or three groups) and ``I''[...]``.
terms = _term()
#: ``p(A, b | C)``.
probs = st.builds(Prob, _groups, _given)

#: Leaves of the expression language.
leaves = st.one_of(
    names,
    numbers,
    st.sampled_from(CONSTANTS).map(Const),
    st.just(Identity()),
    terms,
    probs,
)

_SUM_OPS = st.sampled_from(["+", "-"])
_PRODUCT_OPS = st.sampled_from(["*", "/", "@"])


def _extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    operands = st.lists(children, min_size=2, max_size=4)
    return st.one_of(
        st.builds(Neg, children),
        st.builds(Func, st.sampled_from(FUNCTIONS), children),
        st.builds(Pow, children, children),
        st.builds(lambda b: Pow(b, Neg(Number(1))), children),
        st.builds(Transpose, children),
        st.builds(Info, children),
        st.builds(Expectation, probs, children),
        operands.flatmap(lambda xs: st.lists(_SUM_OPS, min_size=len(xs) - 1, max_size=len(xs) - 1)
                         .map(lambda ops, xs=xs: sum_of(xs, ops))),
        operands.flatmap(lambda xs: st.lists(_PRODUCT_OPS, min_size=len(xs) - 1, max_size=len(xs) - 1)
                         .map(lambda ops, xs=xs: product_of(xs, ops))),
    )


#: Any expression (no relation), of modest size and depth.
exprs = st.recursive(leaves, _extend, max_leaves=24)


@st.composite
def _statement(draw: st.DrawFn) -> Expr:
    items = draw(st.lists(exprs, min_size=1, max_size=4))
    if len(items) == 1:
        return items[0]
    ops = draw(st.lists(st.sampled_from(RELATIONS), min_size=len(items) - 1, max_size=len(items) - 1))
    return Relation(tuple(items), tuple(ops))


#: What ``parse`` returns: an expression, or a relation chain of expressions.
statements = _statement()

#: The characters of the notation: letters, digits, punctuation, and the Unicode symbols.
ALPHABET = (
    "HIEphwxyzWXYZabAB01259 _{}[]()|;,^*/@+-=<>~:'\"."
    "≈≤≥θΘωΩ∣⁻¹ᵀ·×−′″πρ⇒⇔≔≲"
)
_WORDS = ["H[", "H''[", "I[", "p(", "h(", "E_{p(", "logdet", "log ", "det", "tr", "inv(", "Id", "pi", "C_k",
          "w*", "x_1", "Y_eval", "x_{acq}", "1/2", "0.5", "~=", "<=", ":=", "=>", "<=>", "<~", "^-1", "^T", "\n"]

#: Random strings over the alphabet, with whole keywords mixed in so that some of them parse.
grammar_strings = st.lists(st.one_of(st.text(ALPHABET, min_size=1, max_size=3), st.sampled_from(_WORDS)),
                           max_size=25).map("".join)


# ==================================================================================================
# Soundness suites (tests/test_soundness*.py): statements as text, each from a named family.
#
# Every generated statement is labelled by the independent oracle (tests/enumeration.py) at test time;
# the family only says which statements the issue calls obviously true (``complete``: the checker must
# prove them when the oracle agrees). Dressing (swapping sides, rational coefficients, sums with a common
# extra term) keeps a statement's truth, so every variant is a fair test of both directions.
# ==================================================================================================
from dataclasses import dataclass as _dataclass  # noqa: E402

import infonotation as _inf  # noqa: E402


@_dataclass(frozen=True)
class Case:
    """A generated statement: its text, the model it is checked under, its family, and whether it is one of
    the obviously true variants the checker must prove (when the oracle confirms it)."""

    text: str
    model: str
    family: str
    complete: bool = False
    parts: tuple = ()  # total probability: (a, b, c, g, the right side's condition), for the d-separation test

    def __str__(self) -> str:
        return f"[{self.family}, model={self.model}] {self.text}"


#: The models a case may be checked under: (the engine's model, the oracle's model, the oracle's world options).
MODEL_SPECS: dict[str, tuple[object, object, dict]] = {
    "none": (None, False, {}),
    "default": (_inf.Model(), True, {}),
    # z -> x: an input with a declared cause (the total-probability example becomes true)
    "z_causes_x": (_inf.Model(parents={"z": (), "x": ("z",)}), {"z": (), "x": ("z",)}, {}),
    # x -> z: a declared child of the input
    "z_of_x": (_inf.Model(parents={"z": ("x",)}), {"z": ("x",)}, {}),
    # w -> z: something else the parameter explains (like a data set)
    "z_of_w": (_inf.Model(parents={"z": ("w",)}), {"z": ("w",)}, {}),
    # a categorical head: the last layer w_L is a GLM, the network below it is not
    "categorical": (_inf.Model(likelihood="categorical"), True, {"head_glm": True}),
    # outputs linear in the whole parameter (logistic regression): a GLM in w
    "linear": (_inf.Model(likelihood="categorical", linear=True), True, {"glm": True}),
    # models that break a default independence (for rules that need it)
    "x_of_w": (_inf.Model(parents={"x": ("w",)}), {"x": ("w",)}, {}),
    "y_e_of_y": (_inf.Model(parents={"y_e": ("x_e", "w", "y")}), {"y_e": ("x_e", "w", "y")}, {}),
    "y_2_of_y_1": (_inf.Model(parents={"y_2": ("x_2", "w", "y_1")}), {"y_2": ("x_2", "w", "y_1")}, {}),
}


def engine_model(key: str):
    return MODEL_SPECS[key][0]


def oracle_model(key: str):
    return MODEL_SPECS[key][1]


def oracle_options(key: str) -> dict:
    return MODEL_SPECS[key][2]


COEFFS = ["2", "3", "1/2", "2/3", "5/4", "7"]


@st.composite
def dressed(draw: st.DrawFn, lhs: str, rhs: str, extras: tuple[str, ...] = ()) -> str:
    """``lhs = rhs`` in a random presentation of the same truth: sides swapped, both sides scaled by a rational,
    one side split into rational parts, or the same extra term added to both sides (scalar sides only)."""
    if draw(st.booleans()):
        lhs, rhs = rhs, lhs
    how = draw(st.sampled_from(["plain", "scale", "split", "add"] if extras else ["plain", "scale", "split"]))
    if how == "scale":
        c = draw(st.sampled_from(COEFFS))
        lhs, rhs = f"{c} * ({lhs})", f"{c} * ({rhs})"
    elif how == "split":
        p, q = draw(st.sampled_from([(1, 2), (1, 3), (2, 3), (3, 4), (2, 5)]))
        lhs = f"{p}/{q} * ({lhs}) + {q - p}/{q} * ({lhs})"
    elif how == "add":
        extra = draw(st.sampled_from(extras))
        c = draw(st.sampled_from(["", "1/3 * ", "2 * "]))
        lhs, rhs = f"{lhs} + {c}{extra}", f"{c}{extra} + {rhs}"
    return f"{lhs} = {rhs}"


def _cap(n: str) -> str:
    return n[:1].upper() + n[1:]


def _join(names) -> str:
    return ", ".join(names)


def _p(event, given=()) -> str:
    return f"p({_join(event)}|{_join(given)})" if given else f"p({_join(event)})"


# -- class 1: total probability ---------------------------------------------------------------------
#: Observed names for statements without a model, and for statements under the default model.
FREE_POOL = ["a", "b", "c", "d", "g", "u", "a_1", "b_2"]
MODEL_POOL = ["x", "x_1", "x_e", "y", "y_1", "y_e", "w", "z"]


@st.composite
def total_probability(draw: st.DrawFn) -> Case:
    """``E_{p(a|b)}[p(c|a,g)] = p(c|...)``: the law of total probability, with and without its conditions."""
    model = draw(st.sampled_from(["none", "default", "z_causes_x", "z_of_x", "z_of_w"]))
    pool = draw(st.permutations(FREE_POOL if model == "none" else MODEL_POOL))
    na = draw(st.integers(1, 2))
    a, c, rest = pool[:na], pool[na], pool[na + 1:]
    nb = draw(st.integers(0, 2))
    b = rest[:nb]
    mode = draw(st.sampled_from(["g=b", "free", "free", "overlap"]))
    if mode == "g=b":
        g = list(b)
    else:
        g = list(rest[nb:nb + draw(st.integers(0, 2))])
        if mode == "overlap" and b:
            g.append(b[0])
    g = list(dict.fromkeys(draw(st.permutations(g)))) if g else []
    target = draw(st.sampled_from(["gb", "gb", "g", "b", "none", "a"]))
    given = {"gb": list(dict.fromkeys(g + list(b))), "g": g, "b": list(b), "none": [],
             "a": list(a) + g}[target]
    lhs = f"E_{{{_p(a, b)}}}[{_p([c], list(a) + g)}]"
    rhs = _p([c], given)
    from_conditions = target == "gb" and set(b) <= set(a) | set(g) and set(g) - set(a) <= set(b)
    text = draw(dressed(lhs, rhs, extras=("H[A]", "p(c)" if c != "c" else "p(d)", "log(2)")))
    parts = (tuple(a), tuple(b), c, tuple(g), tuple(given), target == "gb")
    return Case(text, model, f"total_probability:{target}:{mode}",
                complete=from_conditions and model == "none", parts=parts)


# -- class 2: a probability of a random variable is not exp(-entropy) --------------------------------
#: (event variable, its context) pairs: the event's lower-case spelling and observed context names.
EVENTS = [("y", ["x"]), ("y_1", ["x_1"]), ("y_e", ["x_e", "x"]), ("a", []), ("a", ["b"]), ("z_2", ["u", "v"]),
          ("y", ["x", "w*"])]

NONLINEAR_TEMPLATES = {
    # name: (lhs, rhs, obviously true)
    "p_is_exp_minus_H": ("p({S}{C}) = exp(-H[{S}{C}])", False),
    "minus_log_p_is_H": ("-log(p({S}{C})) = H[{S}{C}]", False),
    "log_p_is_minus_H": ("log(p({S}{C})) = -H[{S}{C}]", False),
    "h_p_is_H": ("h(p({S}{C})) = H[{S}{C}]", False),
    "p_of_value_is_exp": ("p({s}{C}) = exp(-H[{s}{C}])", True),
    "h_of_value_is_H": ("h(p({s}{C})) = H[{s}{C}]", True),
    "expected_h_is_H": ("E_{{p({s}{C})}}[-log(p({s}{C}))] = H[{S}{C}]", True),
    "H_is_expected_H": ("H[{S}{C}] = E_{{p({s}{C})}}[H[{s}{C}]]", True),
    "exp_through_E": ("exp(-E_{{p({s}{C})}}[h(p({s}{C}))]) = E_{{p({s}{C})}}[p({s}{C})]", False),
    "log_through_E": ("E_{{p({s}{C})}}[log(p({s}{C}))] = log(E_{{p({s}{C})}}[p({s}{C})])", False),
    "exp_of_H_through_E": ("exp(-H[{S}{C}]) = E_{{p({s}{C})}}[exp(-H[{s}{C}])]", False),
    "square_through_E": ("E_{{p({s}{C})}}[h(p({s}{C})) * h(p({s}{C}))] = H[{S}{C}] * H[{S}{C}]", False),
    "product_through_E": ("E_{{p({s}{C})}}[p({s}{C}) * p({s}{C})] = E_{{p({s}{C})}}[p({s}{C})] * "
                          "E_{{p({s}{C})}}[p({s}{C})]", False),
    "inverse_through_E": ("E_{{p({s}{C})}}[1 / p({s}{C})] = 1 / E_{{p({s}{C})}}[p({s}{C})]", False),
    "exp_minus_H_is_E_p": ("exp(-H[{S}{C}]) = E_{{p({s}{C})}}[p({s}{C})]", False),
}

#: Non-linear functions of matrices moved through an expectation over a label (autograd worlds).
MATRIX_NONLINEAR = {
    "logdet_through_E": ("E_{{p({y}|{x},w*)}}[logdet(H''[{y}|{x},w*] + H''[w*])] = "
                         "logdet(E_{{p({y}|{x},w*)}}[H''[{y}|{x},w*]] + H''[w*])", False),
    "logdet_to_fisher": ("E_{{p({y}|{x},w*)}}[logdet(H''[{y}|{x},w*] + H''[w*])] = logdet(H''[{Y}|{x},w*] + H''[w*])",
                         False),
    "inverse_through_E": ("E_{{p({y}|{x},w*)}}[(H''[{y}|{x},w*] + H''[w*])^-1] = (H''[{Y}|{x},w*] + H''[w*])^-1",
                          False),
    "square_through_E": ("E_{{p({y}|{x},w*)}}[H''[{y}|{x},w*] @ H''[{y}|{x},w*]] = H''[{Y}|{x},w*] @ H''[{Y}|{x},w*]",
                         False),
    "linear_through_E": ("E_{{p({y}|{x},w*)}}[H''[{y}|{x},w*]] = H''[{Y}|{x},w*]", True),
    "trace_through_E": ("E_{{p({y}|{x},w*)}}[tr(H''[{y}|{x},w*] @ H''[w*]^-1)] = tr(H''[{Y}|{x},w*] @ H''[w*]^-1)",
                        True),
}

POINTS = [("y", "x"), ("y_1", "x_1"), ("y_e", "x_e")]


@st.composite
def nonlinear(draw: st.DrawFn) -> Case:
    """Class 2: a probability of a random variable versus exp(-entropy), and expectations moved through
    non-linear functions (exp, log, products of random terms, inverses, logdet)."""
    if draw(st.integers(0, 3)) == 0:
        name = draw(st.sampled_from(sorted(MATRIX_NONLINEAR)))
        template, obvious = MATRIX_NONLINEAR[name]
        y, x = draw(st.sampled_from(POINTS))
        text = template.format(y=y, Y=_cap(y), x=x)
        lhs, rhs = text.split(" = ")
        model = draw(st.sampled_from(["default", "none"]))
        return Case(draw(dressed(lhs, rhs)), model, f"nonlinear_matrix:{name}", complete=False)
    name = draw(st.sampled_from(sorted(NONLINEAR_TEMPLATES)))
    template, obvious = NONLINEAR_TEMPLATES[name]
    s, ctx = draw(st.sampled_from(EVENTS))
    c = f"|{_join(ctx)}" if ctx else ""
    text = template.format(S=_cap(s), s=s, C=c)
    lhs, rhs = text.split(" = ")
    model = draw(st.sampled_from(["none", "default", "z_of_x"]))
    named = name in ("p_of_value_is_exp", "expected_h_is_H")
    return Case(draw(dressed(lhs, rhs, extras=("H[B]", "p(u)", "I[B;V]"))), model, f"nonlinear:{name}",
                complete=named)


# -- class 3: point estimates are not bound variables ------------------------------------------------
POINT_TEMPLATES = {
    "E_w_of_point": ("E_{{p(w{g})}}[H[Y|x,w*]] = H[Y|x,w*]", True),
    "E_w_of_point_p": ("E_{{p(w{g})}}[p(y|x,w*)] = p(y|x,w*)", True),
    "E_w_of_point_h": ("E_{{p(w{g})}}[-log(p(y_1|x_1,w*))] = -log(p(y_1|x_1,w*))", True),
    "E_w_nested": ("E_{{p(w{g})}}[E_{{p(y|x,w*)}}[H[y|x,w*]]] = H[Y|x,w*]", True),
    "E_w_of_value": ("E_{{p(w{g})}}[H[Y|x,w]] = H[Y|x,w]", False),
    "E_w_point_vs_random": ("E_{{p(w{g})}}[H[Y|x,w*]] = H[Y|x,W]", False),
    "E_w_point_vs_value": ("E_{{p(w{g})}}[H[Y|x,w*]] = E_{{p(w{g})}}[H[Y|x,w]]", False),
    "E_w_mixed": ("E_{{p(w{g})}}[H[Y|x,w*] - H[Y|x,w]] = H[Y|x,w*] - E_{{p(w{g})}}[H[Y|x,w]]", True),
    "E_y_of_y1": ("E_{{p({b}{g})}}[p({b}_1|{c})] = p({b}_1|{c})", True),
    "E_y_of_y1_H": ("E_{{p({b}{g})}}[H[{B}_1|{c}]] = H[{B}_1|{c}]", True),
    "E_y_of_y": ("E_{{p({b}{g})}}[p({b}|{c})] = p({b}|{c})", False),
    "E_y1_of_y": ("E_{{p({b}_1{g})}}[h(p({b}|{c}))] = h(p({b}|{c}))", True),
}


@st.composite
def point_estimates(draw: st.DrawFn) -> Case:
    """Class 3: binding by whole name: ``E_{p(w)}`` binds ``w``, not ``w*``; ``E_{p(y)}`` does not bind ``y_1``."""
    name = draw(st.sampled_from(sorted(POINT_TEMPLATES)))
    template, obvious = POINT_TEMPLATES[name]
    b = draw(st.sampled_from(["y", "a", "u"]))
    c = draw(st.sampled_from(["x", "x_2", "d"]))
    g = draw(st.sampled_from(["", "", "|x", "|d"]))
    if g == "|x" and (c == "x" or name.startswith("E_w")):  # keep the context distinct from the body's names
        g = "|d" if c != "d" else ""
    text = template.format(b=b, B=_cap(b), c=c, g=g)
    lhs, rhs = text.split(" = ", 1)
    model = draw(st.sampled_from(["none", "default", "z_of_w"]))
    return Case(draw(dressed(lhs, rhs, extras=("H[Z]", "p(u)"))), model, f"point:{name}", complete=obvious)


# -- class 4: marginalisation, also with matrix bodies -------------------------------------------------
BODIES = {
    # name: (body in y_i/x_i, needs autograd)
    "H": ("H[{y}|{x}]", False),
    "p": ("p({y}|{x})", False),
    "h_point": ("-log(p({y}|{x},w*))", False),
    "logdet": ("logdet(H''[{y}|{x},w*] + H''[w*])", True),
    "trace": ("tr(H''[{y}|{x},w*] @ H''[w*]^-1)", True),
    "eig": ("1/2 * logdet(H''[{y}|{x},w*] @ H''[w*]^-1 + Id)", True),
}

MARGINAL_TEMPLATES = {
    # name: (statement, which models make it obviously true)
    "joint_to_marginal": ("E_{{p({yi},{yj}|{xi},{xj})}}[{f}] = E_{{p({yi}|{xi},{xj})}}[{f}]", ("none", "default")),
    "joint_order": ("E_{{p({yj},{yi}|{xj},{xi})}}[{f}] = E_{{p({yi}|{xi},{xj})}}[{f}]", ("none", "default")),
    "drop_other_input": ("E_{{p({yi}|{xi},{xj})}}[{f}] = E_{{p({yi}|{xi})}}[{f}]", ("default",)),
    "joint_to_own_input": ("E_{{p({yi},{yj}|{xi},{xj})}}[{f}] = E_{{p({yi}|{xi})}}[{f}]", ("default",)),
    "two_bodies": ("E_{{p({yi},{yj}|{xi},{xj})}}[{f} + {fj}] = E_{{p({yi}|{xi})}}[{f}] + E_{{p({yj}|{xj})}}[{fj}]",
                   ("default",)),
    "wrong_variable": ("E_{{p({yi}|{xi},{xj})}}[{f}] = E_{{p({yj}|{xi},{xj})}}[{f}]", ()),
    "wrong_input": ("E_{{p({yi}|{xi})}}[{f}] = E_{{p({yi}|{xj})}}[{f}]", ()),
}


@st.composite
def marginalisation(draw: st.DrawFn, matrix: bool | None = None) -> Case:
    """Class 4: ``E_{p(y_1,y_2|x_1,x_2)}[f(y_1)] = E_{p(y_1|x_1,x_2)}[f(y_1)]`` and the model's independences,
    with scalar and matrix (logdet, tr) bodies."""
    name = draw(st.sampled_from(sorted(MARGINAL_TEMPLATES)))
    template, obvious_under = MARGINAL_TEMPLATES[name]
    bodies = sorted(b for b, (_, m) in BODIES.items() if matrix is None or m == matrix)
    body = draw(st.sampled_from(bodies))
    (yi, xi), (yj, xj) = draw(st.permutations(POINTS))[:2]
    f = BODIES[body][0].format(y=yi, x=xi)
    fj = BODIES[body][0].format(y=yj, x=xj)
    text = template.format(yi=yi, yj=yj, xi=xi, xj=xj, f=f, fj=fj)
    lhs, rhs = text.split(" = ", 1)
    model = draw(st.sampled_from(["none", "default"]))
    return Case(draw(dressed(lhs, rhs)), model, f"marginal:{name}:{body}", complete=model in obvious_under)


# -- class 5: evaluator conventions -------------------------------------------------------------------
MATRIX_NAMES = ["A", "B", "G", "M", "K", "Q"]

GENERAL_MATRIX_TEMPLATES = {
    # name: (statement, named in the issue/spec as true)
    "transpose_of_product": ("({A} @ {B})^T = {B}^T @ {A}^T", True),
    "trace_cyclic_2": ("tr({A} @ {B}) = tr({B} @ {A})", True),
    "trace_cyclic_3": ("tr({A} @ {B} @ {C}) = tr({C} @ {A} @ {B})", False),
    "transpose_of_sum": ("({A} + {B})^T = {A}^T + {B}^T", False),
    "trace_of_transpose": ("tr({A}) = tr({A}^T)", False),
    "det_of_product": ("det({A} @ {B}) = det({A}) * det({B}) + 0 * tr({A} @ {B})", False),
    "det_of_transpose": ("det({A}) = det({A}^T)", False),
    "inverse_of_transpose": ("({A}^-1)^T = ({A}^T)^-1", False),
    "inverse_of_product": ("({A} @ {B})^-1 = {B}^-1 @ {A}^-1", False),
    "sylvester_general": ("logdet(Id + {A} @ {B}) = logdet(Id + {B} @ {A})", False),
    "double_transpose": ("{A}^T^T = {A}", False),
    "distributive": ("{A} @ ({B} + {C}) = {A} @ {B} + {A} @ {C}", False),
    "logdet_of_inverse": ("logdet({A}^-1) = -logdet({A})", False),
    "logdet_of_transpose": ("logdet({A}^T) = logdet({A})", False),
    # false ones
    "symmetric": ("{A}^T = {A}", False),
    "commute": ("{A} @ {B} = {B} @ {A}", False),
    "trace_not_any_order": ("tr({A} @ {B} @ {C}) = tr({B} @ {A} @ {C})", False),
    "det_of_sum": ("det({A} + {B}) = det({A}) + det({B})", False),
    "transpose_same_order": ("({A} @ {B})^T = {A}^T @ {B}^T", False),
    "inverse_same_order": ("({A} @ {B})^-1 = {A}^-1 @ {B}^-1", False),
    "trace_of_product": ("tr({A} @ {B}) = tr({A}) * tr({B})", False),
    "sym_part": ("{A} + {A}^T = 2 * {A}", False),
    "logdet_abs_product": ("logdet({A} @ {B}) = logdet({A}) + logdet({B})", False),
    "logdet_gram": ("logdet({A} @ {A}^T) = 2 * logdet({A})", False),
    "logdet_square": ("logdet({A} @ {A}) = 2 * logdet({A})", False),
    "logdet_split": ("logdet(Id + {A} @ {B}) = logdet(Id + {A}) + logdet(Id + {B})", False),
}

UNDEFINED_TEMPLATES = {
    "log_negative": ("log(-{n}) = log({n})", False),
    "log_negative_twice": ("2 * log(-{n}) = log({n}^2)", False),
    "log_negative_sum": ("log({n} - {m}) = log({m} - {n})", False),
    "log_of_negative_probability": ("log(p(a|b) - 1) = log(1 - p(a|b))", False),
    "log_of_negative_entropy": ("log(-H[A|b] - 1) = 0", False),
    "logdet_minus_identity": ("logdet(-Id) = 0", False),
    "logdet_minus_prior": ("logdet(-H''[w*]) = logdet(H''[w*])", False),
    "logdet_minus_prior_inv": ("logdet(-H''[w*]^-1) = -logdet(H''[w*])", False),
    "logdet_observed_square": ("logdet(H''[y|x,w*] @ H''[y|x,w*]) = 2 * logdet(H''[y|x,w*])", False),
    "logdet_prior_square": ("logdet(H''[w*] @ H''[w*]) = 2 * logdet(H''[w*])", False),
    "logdet_scaled_prior": ("logdet({n} * H''[w*]) = logdet(H''[w*]) + tr(0 * H''[w*]) + logdet({n} * Id)", False),
}

SHAPE_ERROR_TEMPLATES = {
    "matrix_plus_scalar": "{A} + 1 = {A} + 1",
    "matrix_plus_name": "{A} + lambda = {B}",
    "trace_of_matrix_plus_scalar": "tr({A} + 2) = 3",
    "identity_plus_scalar": "Id + 1 = 2 * Id",
    "hessian_plus_scalar": "H''[w*] + 1 = H''[w*] + 1",
    "hessian_plus_gradient": "H''[w*] + H'[y|x,w*] = H''[w*]",
    "gradient_sandwich": "H'[y|x,w*] @ H''[w*] @ H'[y|x,w*] = 0",
    "row_times_column_space": "H'[y|x,w*]^T @ H''[w*] = H'[y|x,w*]^T",
    "logdet_of_row": "logdet(H'[y|x,w*]) = 0",
    "batch_gradient_plus_hessian": "H'[y_B|x_B,w*] + H''[w*] = H''[w*]",
    "entropy_plus_matrix": "H[Y|x] + H''[w*] = H''[w*] + H[Y|x]",
}

#: Gradient orientation (S4): 1 x P rows, B x P for a batch; H'^T @ H' the P x P empirical Fisher.
GRADIENT_TEMPLATES = {
    "gram_trace": ("tr({G}^T @ {G}) = tr({G} @ {G}^T)", False),
    "sylvester_prior": ("logdet(Id + {G}^T @ {G} @ {H}^-1) = logdet(Id + {G} @ {H}^-1 @ {G}^T)", True),
    "sylvester_printed": ("logdet({G}^T @ {G} @ {H}^-1 + Id) = logdet({G} @ {H}^-1 @ {G}^T + Id)", True),
    "outer_vs_inner": ("{G}^T @ {G} = {G} @ {G}^T", False),
    "fisher_is_psd_sum": ("tr({G}^T @ {G} + {H}) = tr({G} @ {G}^T) + tr({H})", False),
    "empirical_fisher_shape": ("{G}^T @ {G} @ {H}^-1 = {G}^T @ ({G} @ {H}^-1)", False),
    "fisher_vs_observed": ("{G}^T @ {G} = H''[{y}|{x},w*]", False),
}
GRADIENTS = [("H'[y|x,w*]", "y", "x"), ("H'[y_1|x_1,w*]", "y_1", "x_1"), ("H'[y_B|x_B,w*]", "y_B", "x_B")]
PRECISIONS = ["H''[w*]", "(lambda * Id)", "(H''[Y|x,w*] + H''[w*])", "(2 * H''[w*])"]


@st.composite
def conventions(draw: st.DrawFn, kind: str | None = None) -> Case:
    """Class 5: undefined values, general (rectangular) matrices, shape errors, the gradient's orientation."""
    kind = kind or draw(st.sampled_from(["general", "undefined", "shape", "gradient"]))
    a, b, c = draw(st.permutations(MATRIX_NAMES))[:3]
    n, m = draw(st.sampled_from([("2", "3"), ("1/2", "5"), ("3", "1"), ("7/3", "2")]))
    if kind == "general":
        name = draw(st.sampled_from(sorted(GENERAL_MATRIX_TEMPLATES)))
        template, named = GENERAL_MATRIX_TEMPLATES[name]
        text = template.format(A=a, B=b, C=c)
        model = "none"
    elif kind == "undefined":
        name = draw(st.sampled_from(sorted(UNDEFINED_TEMPLATES)))
        template, named = UNDEFINED_TEMPLATES[name]
        text = template.format(n=n, m=m)
        model = draw(st.sampled_from(["none", "default"]))
    elif kind == "shape":
        name = draw(st.sampled_from(sorted(SHAPE_ERROR_TEMPLATES)))
        text, named = SHAPE_ERROR_TEMPLATES[name].format(A=a, B=b), False
        model = draw(st.sampled_from(["none", "default"]))
        return Case(text, model, f"shape:{name}")
    else:
        name = draw(st.sampled_from(sorted(GRADIENT_TEMPLATES)))
        template, named = GRADIENT_TEMPLATES[name]
        g, y, x = draw(st.sampled_from(GRADIENTS))
        text = template.format(G=g, H=draw(st.sampled_from(PRECISIONS)), y=y, x=x)
        model = "default"
    lhs, rhs = text.split(" = ", 1)
    return Case(draw(dressed(lhs, rhs)), model, f"{kind}:{name}", complete=named)


# -- class 6: restricted parameters ----------------------------------------------------------------------
RESTRICTED_TEMPLATES = {
    # name: (statement, named as obviously true)
    "joint_with_part": ("H[W, W_{s}] = H[W]", True),
    "joint_with_part_ctx": ("H[W_{s}, W|{c}] = H[W|{c}]", False),
    "mi_with_part": ("I[W;W_{s}] = H[W_{s}]", True),
    "mi_with_part_swapped": ("I[W_{s};W] = H[W_{s}]", True),
    "part_given_whole": ("H[W_{s}|W] = 0", False),
    "whole_given_part": ("H[W|W_{s}] = H[W] - H[W_{s}]", False),
    "redundant_context": ("H[Y|x,W,W_{s}] = H[Y|x,W]", False),
    "mi_chain": ("I[W;Y|x] = I[W_{s};Y|x] + I[W;Y|W_{s},x]", False),
    # false ones
    "part_is_whole": ("H[W_{s}] = H[W]", False),
    "mi_is_whole": ("I[W;W_{s}] = H[W]", False),
    "whole_given_part_zero": ("H[W|W_{s}] = 0", False),
    "whole_given_part_unchanged": ("H[W|W_{s}] = H[W]", False),
    "context_part_for_whole": ("H[Y|x,W_{s}] = H[Y|x,W]", False),
    "mi_part_for_whole": ("I[W_{s};Y|x] = I[W;Y|x]", False),
    "mi_part_zero": ("I[W;W_{s}] = 0", False),
}
RESTRICTED_HESSIANS = {
    "prior_block": ("H''[w_{s}*] = H''[w*]", False),
    "observed_block": ("H''[y|x,w_{s}*] = H''[y|x,w*]", False),
    "fisher_block": ("H''[Y|x,w_{s}*] = H''[Y|x,w*]", False),
    "logdet_block": ("logdet(H''[w_{s}*]) = logdet(H''[w*])", False),
    "trace_block": ("tr(H''[Y|x,w_{s}*] @ H''[w_{s}*]^-1) = tr(H''[Y|x,w*] @ H''[w*]^-1)", False),
    "bayes_mixed": ("H''[w_{s}*|y,x] = H''[y|x,w*] + H''[w*]", False),
    "bayes_block": ("H''[w_{s}*|y,x] = H''[y|x,w_{s}*] + H''[w_{s}*]", False),
    "eig_block": ("logdet(H''[Y|x,w_{s}*] @ H''[w_{s}*]^-1 + Id) = logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id)", False),
}


@st.composite
def restricted(draw: st.DrawFn) -> Case:
    """Class 6: ``w_L`` is a deterministic part of ``w`` (any subscript), never the same variable."""
    s = draw(st.sampled_from(["L", "L", "1", "last", "head"]))
    if draw(st.integers(0, 2)) == 0:
        name = draw(st.sampled_from(sorted(RESTRICTED_HESSIANS)))
        template, named = RESTRICTED_HESSIANS[name]
        model = draw(st.sampled_from(["default", "none"]))
    else:
        name = draw(st.sampled_from(sorted(RESTRICTED_TEMPLATES)))
        template, named = RESTRICTED_TEMPLATES[name]
        model = draw(st.sampled_from(["none", "default", "z_of_w"]))
    text = template.format(s=s, c=draw(st.sampled_from(["x", "z", "x_1"])))
    lhs, rhs = text.split(" = ", 1)
    extras = ("H[Y|x]", "I[W;Y|x]") if "''" not in text else ()
    return Case(draw(dressed(lhs, rhs, extras=extras)), model, f"restricted:{name}", complete=named)
