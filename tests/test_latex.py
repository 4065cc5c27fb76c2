r"""LaTeX input: ``parse_latex`` gives the trees ``parse`` gives for the equivalent ASCII.

The expected ASCII in every table is written by hand from the meaning of the LaTeX (the paper's macros,
``spec/notation.md`` sections 2 and 7), never produced by the code under test. Trees are compared with
``==`` (which ignores source positions); round trips through the LaTeX printer compare up to the
product operator, since LaTeX has no ``@``.
"""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
import seed
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import infonotation as inf
from infonotation.errors import ParseError
from infonotation.syntax.latex import latex_to_ascii, parse_latex
from infonotation.syntax.parser import parse
from infonotation.syntax.tree import (
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
    Product,
    Relation,
    Sum,
    Term,
    Transpose,
)


def star_to_mul(e: Expr) -> Expr:
    """The same tree with every ``@`` replaced by ``*`` (LaTeX writes both as juxtaposition)."""
    if isinstance(e, Product):
        return Product(tuple(star_to_mul(f) for f in e.factors), tuple("*" if o == "@" else o for o in e.ops))
    if isinstance(e, Sum):
        return Sum(tuple(star_to_mul(t) for t in e.terms), e.ops)
    if isinstance(e, Relation):
        return Relation(tuple(star_to_mul(t) for t in e.items), e.ops)
    if isinstance(e, Neg):
        return Neg(star_to_mul(e.arg))
    if isinstance(e, Func):
        return Func(e.name, star_to_mul(e.arg))
    if isinstance(e, Pow):
        return Pow(star_to_mul(e.base), star_to_mul(e.exponent))
    if isinstance(e, Transpose):
        return Transpose(star_to_mul(e.arg))
    if isinstance(e, Info):
        return Info(star_to_mul(e.arg))
    if isinstance(e, Expectation):
        return Expectation(e.dist, star_to_mul(e.body))
    return e


# -- golden tables: (latex, expected ASCII) -------------------------------------------------------
PAPER_MACROS = [
    (r"\Hof{\W}", "H[W]"),
    (r"\Hof{\W \given \x}", "H[W | x]"),
    (r"\Hof{\W \mid \Y, \x}", "H[W | Y, x]"),
    (r"\Hof{\y \given \x, \wstar}", "H[y | x, w*]"),
    (r"\Hof{X, y \given Z}", "H[X, y | Z]"),
    (r"\MIof{\W; \Y \given \x}", "I[W; Y | x]"),
    (r"\MIof{\W ; \Y_{B} \given \x_{B}}", "I[W; Y_B | x_B]"),
    (r"\MIof{A; B; C}", "I[A; B; C]"),
    (r"\MIof{\W; \y \given \x}", "I[W; y | x]"),
    (r"\HofHessian{\y \given \x, \wstar}", "H''[y | x, w*]"),
    (r"\HofHessian{\wstar}", "H''[w*]"),
    (r"\HofJacobian{\y \given \x, \wstar}", "H'[y | x, w*]"),
    (r"\pof{\y \given \x, \w}", "p(y | x, w)"),
    (r"\pof{\w}", "p(w)"),
    (r"\E{\pof{\w}}{\pof{\y \given \x, \w}}", "E_{p(w)}[p(y | x, w)]"),
    (r"\E{p(x)}{\Hof{x}}", "E_{p(x)}[H[x]]"),
    (r"\xICof{\pof{\x}}", "h(p(x))"),
    (r"\xICof{p} := -\log p", "h(p) := -log(p)"),
    (r"\Hof{\W} - \Hof{\W \given \Y, \x}", "H[W] - H[W | Y, x]"),
    (r"\MIof{\Y_{\mathrm{eval}}; \Y \given \x, \X_{\mathrm{eval}}}", "I[Y_eval; Y | x, X_eval]"),
    (r"\Hof{w^*}", "H[w*]"),
    (r"\Hof{w^{*} \given \mathcal{D}}", "H[w* | D]"),
    (r"\Hof{\theta}", "H[w]"),
    (r"\pof{\Theta \given \omega}", "p(W | w)"),
]
PLAIN = [
    (r"\mathrm{H}[W \mid Y, x]", "H[W | Y, x]"),
    (r"\mathrm{H}''[w^* \mid y, x]", "H''[w* | y, x]"),
    (r"\mathrm{H}^{\prime\prime}[w^*]", "H''[w*]"),
    (r"\mathrm{I}[W; Y \mid x]", "I[W; Y | x]"),
    (r"\mathrm{H}'[y \mid x, w^*]", "H'[y | x, w*]"),
    (r"\mathrm{I}''[W; Y \mid x]", "I''[W; Y | x]"),
    (r"\mathbb{E}_{p(x)}\left[\mathrm{H}[Y \mid x]\right]", "E_{p(x)}[H[Y | x]]"),
    (r"\mathbb{E}_{p(x_{\mathrm{eval}})}\left[\mathrm{I}[Y_{\mathrm{eval}}; Y \mid x, x_{\mathrm{eval}}]\right]",
     "E_{p(x_eval)}[I[Y_eval; Y | x, x_eval]]"),
    (r"\mathbb{E}_{\pof{\x}}[\Hof{\Y \given \x}]", "E_{p(x)}[H[Y | x]]"),
    (r"H[X]", "H[X]"),
    (r"I[W;Y|x]", "I[W; Y | x]"),
    (r"H''[w^*]", "H''[w*]"),
    (r"\mathrm{Id}", "Id"),
    (r"Id", "Id"),
    (r"I", "I"),
    (r"I + \mathrm{Id}", "I + Id"),
]
FUNCTIONS = [
    (r"\log \det A", "logdet(A)"),
    (r"\log\det A", "logdet(A)"),
    (r"\log\,\det A", "logdet(A)"),
    (r"\log \pof{\x}", "log(p(x))"),
    (r"\log(\det A)", "log(det(A))"),
    (r"\det A", "det(A)"),
    (r"\tr A", "tr(A)"),
    (r"\exp x", "exp(x)"),
    (r"\operatorname{tr}(A B)", "tr(A * B)"),
    (r"\operatorname{tr}\left(A B\right)", "tr(A * B)"),
    (r"\log\det\left(\mathrm{Id} + A\right)", "logdet(Id + A)"),
    (r"\log \det (X + Id) \le \tr X", "logdet(X + Id) <= tr(X)"),
    (r"\det M \det (Id + B M^{-1} A)", "det(M) * det(Id + B * M^-1 * A)"),
    (r"\log \det \HofHessian{\wstar}^{-1}", "logdet(H''[w*]^-1)"),
    (r"\tr X Y", "tr(X) * Y"),
]
ARITHMETIC = [
    (r"\frac{1}{2}", "1/2"),
    (r"\frac12", "1/2"),
    (r"\dfrac{3}{4}", "3/4"),
    (r"0.5", "1/2"),
    (r"\frac{\frac{1}{2}}{3}", "1/6"),
    (r"\frac{1}{2} \log\det A", "1/2 * logdet(A)"),
    (r"-\frac{1}{2} \log \det A", "-1/2 * logdet(A)"),
    (r"\frac{k}{2} \log(2 \pi e)", "k/2 * log(2 * pi * e)"),
    (r"\frac{a + b}{c}", "(a + b)/c"),
    (r"\frac{a}{b + c}", "a/(b + c)"),
    (r"x \frac{1}{2}", "x * (1/2)"),
    (r"2 \cdot 3", "2 * 3"),
    (r"A \times B", "A * B"),
    (r"A B", "A * B"),
    (r"A B C - D", "A * B * C - D"),
    (r"a - (b + c)", "a - (b + c)"),
    (r"A @ B", "A @ B"),
]
POWERS = [
    (r"A^{-1}", "A^-1"),
    (r"A^-1", "A^-1"),
    (r"A^{\top}", "A^T"),
    (r"A^\top", "A^T"),
    (r"A^T", "A^T"),
    (r"A^{T}", "A^T"),
    (r"A^\intercal", "A^T"),
    (r"A^{2}", "A^2"),
    (r"A^2", "A^2"),
    (r"A^{k}", "A^k"),
    (r"A^{12}", "A^12"),
    (r"A^{\frac{1}{2}}", "A^(1/2)"),
    (r"A^{-\top}", "A^-1^T"),
    (r"(A B)^{-1}", "(A * B)^-1"),
    (r"\left(A B\right)^\top", "(A * B)^T"),
    (r"J^\top \Lambda J", "J^T * Lambda * J"),
    (r"\HofHessian{\wstar}^{-1}", "H''[w*]^-1"),
]
NAMES = [
    (r"x_{1}", "x_1"),
    (r"x_1", "x_1"),
    (r"Y_{\mathrm{eval}}", "Y_eval"),
    (r"Y_{\text{eval}}", "Y_eval"),
    (r"Y_\mathrm{eval}", "Y_eval"),
    (r"x_{acq}", "x_acq"),
    (r"x_{12}", "x_12"),
    (r"\mathit{abc}", "abc"),
    (r"\lambda", "lambda"),
    (r"\lambda_{1}", "lambda_1"),
    (r"\lambda \mathrm{Id}", "lambda * Id"),
    (r"\omega + \Omega", "w + W"),
    (r"C_k", "C_k"),
    (r"\pi", "pi"),
    (r"w^* x", "(w*) * x"),
    (r"\wstar + 1", "(w*) + 1"),
    (r"\X + \x - \Y + \y", "X + x - Y + y"),
    (r"\W \w", "W * w"),
]
RELATIONS = [
    (r"a \approx b", "a ~= b"),
    (r"a \le b", "a <= b"),
    (r"a \leq b", "a <= b"),
    (r"a \ge b", "a >= b"),
    (r"a \geq b", "a >= b"),
    (r"a < b", "a < b"),
    (r"a > b", "a > b"),
    (r"a \lesssim b", "a <~ b"),
    (r"a := b", "a := b"),
    (r"a \coloneqq b", "a := b"),
    (r"a = b \implies c = d", "a = b => c = d"),
    (r"a = b \iff c = d", "a = b <=> c = d"),
    (r"a = b \approx c \le d", "a = b ~= c <= d"),
]
LAYOUT = [
    (r"\Hof{\W} \, \Hof{\Y}", "H[W] * H[Y]"),
    (r"a \; + \: b \! \quad - \qquad c ~", "a + b - c"),
    (r"\bigl( a + b \bigr) c", "(a + b) * c"),
    (r"\Big( a \Big)", "a"),
    (r"\[ \Hof{\W} \]", "H[W]"),
    (r"$\Hof{\W}$", "H[W]"),
    (r"$$\Hof{\W}$$", "H[W]"),
    (r"\( \Hof{\W} \)", "H[W]"),
    (r"\Hof{\W} \quad\text{(the entropy)}", "H[W]"),
    (r"\Hof{\W}, \quad \text{the entropy of the parameter.}", "H[W]"),
    (r"x_{\text{a}1}", "x_a1"),
    (r"\Hof{\W}.", "H[W]"),
    (r"\[ \Hof{\W}, \]", "H[W]"),
    (r"\begin{aligned} a &= b \\ &= c \end{aligned}", "a = b = c"),
    (r"\begin{align*} a &= b, \\ &\le c. \end{align*}", "a = b <= c"),
    (r"\begin{split} a &\approx b \\ &= c \end{split}", "a ~= b = c"),
    (r"\begin{aligned} a &= b \\[2pt] &= c \end{aligned}", "a = b = c"),
    (r"\begin{aligned} a &= b + c \\ &\quad + d \end{aligned}", "a = b + c + d"),
    ("a = b % a comment\n = c", "a = b = c"),
    (r"\Hof{\W} \label{eq:h} \nonumber", "H[W]"),
    (r"{A}^{-1} + {A B}", "A^-1 + (A * B)"),
]
GOLDEN = PAPER_MACROS + PLAIN + FUNCTIONS + ARITHMETIC + POWERS + NAMES + RELATIONS + LAYOUT


def test_golden_table_is_large_enough():
    assert len(GOLDEN) >= 60
    assert len({latex for latex, _ in GOLDEN}) == len(GOLDEN)


@pytest.mark.parametrize(("latex", "ascii_text"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(latex: str, ascii_text: str):
    assert parse_latex(latex) == parse(ascii_text)


@pytest.mark.parametrize(("latex", "ascii_text"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_translation_parses_to_the_same_tree(latex: str, ascii_text: str):
    # the intermediate ASCII is itself valid notation for the same tree
    assert parse(latex_to_ascii(latex)) == parse(ascii_text)


# -- the blog post's display equations, verbatim ------------------------------------------------------
SEED_EXPECTED = [
    "p(y, w | x, w) = p(y | x, w) * p(y | x)",
    "p(y | x) = E_{p(w)}[p(y | x, w)]",
    "h(p) := -log(p)",
    "H[X] = E_{p(x)}[H[x]] = E_{p(x)}[h(p(x))] = E_{p(x)}[-log(p(x))]",
    "H[X, y | Z] = E_{p(x, z | y)}[H[x, y | z]]",
    "H[w* | y, x] = H[y | x, w*] + H[w] - H[y | x]"
    " => H''[w* | y, x] = H''[y | x, w*] + H''[w] - H''[y | x]"
    " <=> H''[w* | y, x] = H''[y | x, w*] + H''[w]",
    "H[W] ~= -1/2 * logdet(H''[w*]) + C_k",
    "H''[y | x, w*] ~= H''[Y | x, w*]",
    "I[W; Y | x] ~= -1/2 * logdet(H''[w*]) + 1/2 * logdet(H''[w* | Y, x])"
    " = 1/2 * logdet(H''[Y | x, w*] + H''[w*]) - 1/2 * logdet(H''[w*])"
    " = 1/2 * logdet((H''[Y | x, w*] + H''[w*]) * H''[w*]^-1)"
    " = 1/2 * logdet(H''[Y | x, w*] * H''[w*]^-1 + Id)"
    " <= 1/2 * tr(H''[Y | x, w*] * H''[w*]^-1)",
    "det(A * B + M) = det(M) * det(Id + B * M^-1 * A)",
]


def seed_displays() -> list[str]:
    return seed.displays()


def test_kept_displays_are_the_posts_displays():
    source = seed.displays_in_source()
    assert source is None or source == seed.displays()


def test_every_seed_display_is_covered():
    displays = seed_displays()
    assert len(displays) == len(SEED_EXPECTED) == 10


@pytest.mark.parametrize("index", range(len(SEED_EXPECTED)))
def test_seed_display(index: int):
    display = seed_displays()[index]
    assert parse_latex(display) == parse(SEED_EXPECTED[index])


def test_seed_derivation_is_one_chain():
    chain = parse_latex(seed_displays()[8])
    assert isinstance(chain, Relation)
    assert chain.ops == ("~=", "=", "=", "=", "<=")
    # -1/2 logdet H''[w*]: a negated product of the exact rational 1/2 and a log-determinant
    second = chain.items[1]
    assert isinstance(second, Sum) and isinstance(second.terms[0], Neg)
    half = second.terms[0].arg.factors[0]
    assert half == Number(Fraction(1, 2))


def test_seed_bayes_chain_splits_into_statements():
    chain = parse_latex(seed_displays()[5])
    assert isinstance(chain, Relation)
    assert chain.ops == ("=", "=>", "=", "<=>", "=")
    assert len(chain.statements()) == 3


# -- printing round trips --------------------------------------------------------------------------
@pytest.mark.parametrize("ascii_text", [a for _, a in GOLDEN] + SEED_EXPECTED)
def test_printer_round_trip_on_golden(ascii_text: str):
    e = parse(ascii_text)
    assert star_to_mul(parse_latex(e.latex())) == star_to_mul(e)


NAME_BASES = ["x", "y", "w", "W", "Y", "X", "A", "B", "M", "Z", "lambda", "abc", "Sigma"]
SUBS = [None, "1", "2", "eval", "B", "acq", "k"]


@st.composite
def names(draw, star: bool = True) -> Name:
    base = draw(st.sampled_from(NAME_BASES))
    sub = draw(st.sampled_from(SUBS))
    if base == "C" and sub == "k":
        sub = None
    return Name(base, sub, draw(st.booleans()) if star else False)


@st.composite
def terms(draw) -> Expr:
    head = draw(st.sampled_from(["H", "I", "p"]))
    given = tuple(draw(st.lists(names(), max_size=2)))
    if head == "p":
        return Prob(tuple(draw(st.lists(names(), min_size=1, max_size=2))), given)
    n_groups = 1 if head == "H" else draw(st.integers(2, 3))
    groups = tuple(tuple(draw(st.lists(names(), min_size=1, max_size=2))) for _ in range(n_groups))
    return Term(head, draw(st.integers(0, 2)), groups, given)


numbers = st.builds(lambda n, d: Number(Fraction(n, d)), st.integers(0, 20), st.sampled_from([1, 1, 2, 3, 4]))
atoms = st.one_of(
    names(),
    numbers,
    st.sampled_from([Const("pi"), Const("e"), Const("C_k"), Identity()]),
    terms(),
)
exponents = st.one_of(
    st.just(Neg(Number(1))),
    st.builds(Number, st.integers(0, 9)),
    names(star=False).filter(lambda n: n.text != "T"),
    st.just(Number(Fraction(1, 2))),
)


def extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    probs = terms().filter(lambda t: isinstance(t, Prob))
    return st.one_of(
        st.builds(Neg, children),
        st.builds(lambda f, a: Func(f, a), st.sampled_from(["log", "det", "logdet", "tr", "exp"]), children),
        st.builds(Pow, children, exponents),
        st.builds(Transpose, children),
        st.builds(Info, children),
        st.builds(Expectation, probs, children),
        st.builds(lambda ts, ops: Sum(tuple(ts), tuple(ops[: len(ts) - 1])),
                  st.lists(children, min_size=2, max_size=3), st.lists(st.sampled_from("+-"), min_size=2,
                                                                        max_size=2)),
        st.builds(lambda fs, ops: Product(tuple(fs), tuple(ops[: len(fs) - 1])),
                  st.lists(children, min_size=2, max_size=3), st.lists(st.sampled_from("*/@"), min_size=2,
                                                                        max_size=2)),
    )


expressions = st.recursive(atoms, extend, max_leaves=8)


@st.composite
def statements(draw) -> Expr:
    items = draw(st.lists(expressions, min_size=1, max_size=3))
    if len(items) == 1:
        return items[0]
    ops = draw(st.lists(st.sampled_from(["=", "~=", "<=", ">=", "<", ">", "<~", ":=", "=>", "<=>"]),
                        min_size=len(items) - 1, max_size=len(items) - 1))
    return Relation(tuple(items), tuple(ops))


def ascii_round_trips(e: Expr) -> bool:
    try:
        return parse(str(e)) == e
    except ParseError:
        return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(statements())
def test_printer_round_trip_hypothesis(e: Expr):
    assume(ascii_round_trips(e))  # trees the ASCII notation itself can spell
    assert star_to_mul(parse_latex(e.latex())) == star_to_mul(e)


# -- malformed input: (latex, column, words the message must contain) ---------------------------------
MALFORMED = [
    (r"\Hof{\W} + \foo", 12, "unknown LaTeX command `\\foo`"),
    (r"a \neq b", 3, "unknown LaTeX command `\\neq`"),
    (r"\Hof{\W \given \x", 5, "never closed"),
    (r"\Hof{\W}}", 9, "unmatched `}`"),
    (r"x^{2", 3, "never closed"),
    (r"\frac{1}", 1, "denominator"),
    (r"\frac", 1, "numerator"),
    (r"\frac{1}{}", 9, "empty denominator"),
    (r"\begin{aligned} a &= b \\ &= c", 1, "never closed"),
    (r"a = b \end{aligned}", 7, "without a matching `\\begin{aligned}`"),
    (r"\begin{aligned} a = b \end{split}", 23, "closes `\\begin{aligned}`"),
    (r"\begin{pmatrix} a \end{pmatrix}", 1, "not supported"),
    (r"\[ \Hof{\W}", 1, "does not end with `\\]`"),
    (r"$\Hof{\W}", 1, "does not end with `$`"),
    (r"\Hof{\W}$", 9, "does not open with `$`"),
    (r"\left| A \right|", 1, "not part of the notation"),
    (r"Y_eval", 3, "braces"),
    (r"A^23", 3, "braces"),
    (r"x_{a,b}", 3, "letters or digits"),
    (r"\MIof{\W}", 9, "at least two groups"),
    (r"\Hof{\W \given}", 15, "empty argument"),
    (r"\Hof{}", 5, "empty"),
    (r"\Hof{\W,}", 9, "empty argument"),  # a comma inside a term is not sentence punctuation
    (r"\pof{\x,}.", 9, "empty argument"),
    (r"\E{x}{\Hof{x}}", 4, "distribution"),
    (r"\E{\pof{x}}", 1, "second argument"),
    (r"\Hof{X}^*", 8, "point estimate"),
    (r"\Hof \W", 6, "in braces"),
    (r"\Hof{\W} + \\", 14, "ends after"),
    (r"\Hof{\W} \approx", 17, "ends after"),
    (r"a . b", 3, "sentence punctuation"),
    (r"\text{only words}", 1, "empty formula"),
    (r"+ \Hof{\W}", 1, "operand"),
    (r"\wstar_1", 7, "before the star"),
    (r"\{ a \}", 1, "literal brace"),
    (r"a = \Hof{\W} \] b", 14, "display delimiter"),
    (r"\Hof{\W} \to 0", 10, "unknown LaTeX command `\\to`"),
    ("{" * 60 + "x" + "}" * 60, 51, "nested too deeply"),
]


@pytest.mark.parametrize(("latex", "column", "words"), MALFORMED, ids=[m[0][:40] for m in MALFORMED])
def test_malformed(latex: str, column: int, words: str | None):
    with pytest.raises(ParseError) as info:
        parse_latex(latex)
    err = info.value
    assert (err.line, err.column) == (1, column), str(err)
    assert err.text == latex
    if words is not None:
        assert words in err.reason, err.reason
    assert "^" in str(err)  # a caret under the fault


def test_lone_backslash_at_the_end():
    with pytest.raises(ParseError) as info:
        parse_latex("\\Hof{\\W} + \\")
    assert info.value.column == 12 and "lone `\\`" in info.value.reason


def test_error_column_mentioned_in_message_is_mapped_back():
    text = r"\log\det\left( A"
    with pytest.raises(ParseError) as info:
        parse_latex(text)
    assert info.value.column == len(text) + 1
    # the ASCII parser reports the unclosed `(`; its column must point at the `(` of `\left(`
    assert f"column {text.index('(') + 1}" in info.value.reason, info.value.reason


def test_error_on_a_later_line():
    text = "\\begin{aligned}\n a &= \\Hof{\\W \\given}\n &= b\n\\end{aligned}"
    with pytest.raises(ParseError) as info:
        parse_latex(text)
    err = info.value
    assert (err.line, err.column) == (2, text.split("\n")[1].index("}") + 1)


@pytest.mark.parametrize("bad", [None, 3, b"\\Hof{W}"])
def test_non_string_input(bad):
    with pytest.raises(ParseError):
        parse_latex(bad)  # type: ignore[arg-type]


FRAGMENTS = [r"\Hof{", r"\MIof{", r"\HofHessian{", r"\pof{", r"\E{", r"\frac{", "}", "{", r"\W", r"\x", r"\wstar",
             r"\given", ";", ",", ".", "^", "_", "^{-1}", r"^\top", "^*", r"\log", r"\det", r"\tr", r"\left(",
             r"\right)", "(", ")", "[", "]", "&", r"\\", r"\begin{aligned}", r"\end{aligned}", "=", r"\approx",
             "+", "-", "1", "2", "A", "B", "x", "Id", r"\mathrm{H}", "''", r"\mathbb{E}_{", "$", r"\[", r"\]",
             r"\foo", r"\,", "~", r"\text{a}", "%", "\n", " ", "\\"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=14).map("".join))
def test_arbitrary_latex_raises_only_parse_error(text: str):
    try:
        e = parse_latex(text)
    except ParseError as err:
        assert err.text == text and 1 <= err.column
    else:
        assert isinstance(e, Expr)


# -- spans, API, speed ---------------------------------------------------------------------------
def test_spans_point_into_the_latex_text():
    text = r"\Hof{\W} + \MIof{\W; \Y \given \x}"
    e = parse_latex(text)
    assert isinstance(e, Sum)
    first, second = e.terms
    assert text[first.span[0] : first.span[1]] == r"\Hof{\W}"
    assert text[second.span[0] : second.span[1]] == r"\MIof{\W; \Y \given \x}"
    y = second.groups[1][0]
    assert text[y.span[0] : y.span[1]] == r"\Y"


def test_public_api():
    assert "parse_latex" in inf.__all__
    assert inf.parse_latex(r"\MIof{\W; \Y \given \x} = \Hof{\W} - \Hof{\W \given \Y, \x}") == inf.parse(
        "I[W;Y|x] = H[W] - H[W|Y,x]")


def test_speed():
    good = [latex for latex, _ in GOLDEN]
    bad = [m[0] for m in MALFORMED]
    start = time.perf_counter()
    for k in range(5000):  # distinct strings, so the cache does not help
        try:
            parse_latex(bad[k % len(bad)] + " " * (k // len(bad)))
        except ParseError:
            pass
    per_error = (time.perf_counter() - start) / 5000
    start = time.perf_counter()
    for k in range(1000):
        parse_latex(good[k % len(good)] + " " * (k // len(good) + 1))
    per_parse = (time.perf_counter() - start) / 1000
    assert per_error < 2e-3 and per_parse < 2e-3, (per_error, per_parse)
