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
