"""Property tests: printing and parsing are inverse, and nothing but ParseError escapes ``parse``.

Trees come from ``tests/strategies.py`` (built with the node constructors, never parsed). The truth
for each property is the generated tree itself.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import infonotation as inf
from infonotation.syntax.tree import Name, Neg, Number, Pow, Product, Sum, product_of, sum_of

try:
    from strategies import ALPHABET, exprs, grammar_strings, names, statements
except ImportError:  # pragma: no cover - when tests/ is a package
    from tests.strategies import ALPHABET, exprs, grammar_strings, names, statements

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INTERNAL = ("RSQB", "LSQB", "LPAR", "RPAR", "__ANON", "$END", "Token(", "_Tok", "HHEAD", "UNDERSCORE")


@FAST
@given(statements)
def test_ascii_round_trip(e):
    text = str(e)
    assert inf.parse(text) == e, text
    assert str(inf.parse(text)) == text


@FAST
@given(statements)
def test_unicode_round_trip(e):
    text = e.unicode()
    assert inf.parse(text) == e, text
    assert inf.parse(text).unicode() == text


@FAST
@given(statements)
def test_printers_agree_through_the_tree(e):
    # the ASCII and Unicode spellings are two names for one tree, and LaTeX always renders
    assert inf.parse(e.unicode()) == inf.parse(str(e))
    assert e.latex()


@FAST
@given(exprs, exprs)
def test_equal_trees_hash_equal_and_spans_do_not_matter(a, b):
    pa, pb = inf.parse(str(a)), inf.parse(" " + str(a) + " ")
    assert pa == pb and hash(pa) == hash(pb)
    assert (pa == inf.parse(str(b))) == (a == b)


@FAST
@given(names)
def test_names_round_trip_alone_and_inside_terms(n: Name):
    assert inf.parse(n.text) == n
    assert inf.parse(f"H[{n.text} | x]").groups[0] == (n,)
    assert inf.parse(f"{n.text} + 1") == Sum((n, Number(1)), ("+",))


@FAST
@given(st.lists(exprs, min_size=2, max_size=5), st.data())
def test_sums_and_products_stay_n_ary(items, data):
    ops = data.draw(st.lists(st.sampled_from("+-"), min_size=len(items) - 1, max_size=len(items) - 1))
    s = sum_of(items, ops)
    parsed = inf.parse(str(s))
    assert parsed == s
    if isinstance(s, Sum):
        assert len(parsed.terms) == len(s.terms)
    mops = data.draw(st.lists(st.sampled_from("*/@"), min_size=len(items) - 1, max_size=len(items) - 1))
    p = product_of(items, mops)
    assert inf.parse(str(p)) == p


@FAST
@given(st.fractions(min_value=0, max_value=1000, max_denominator=64))
def test_numbers_are_exact_rationals(q):
    n = Number(q)
    assert inf.parse(str(n)) == n
    if q.denominator in (1, 2, 4, 5, 8, 10, 16, 20, 25, 40, 50):  # terminating decimals
        decimal = f"{float(q):.6f}".rstrip("0")
        decimal = decimal + "0" if decimal.endswith(".") else decimal
        assert inf.parse(decimal) == n
    # inv(M) and M^-1 are one tree
    assert inf.parse("inv(A)") == inf.parse("A^-1") == Pow(Name("A"), Neg(Number(1)))


# -- fuzzing: random strings over the notation's alphabet ---------------------------------------------
def _parse_or_error(text: str):
    try:
        return inf.parse(text)
    except inf.ParseError as err:
        assert err.reason, text
        assert 1 <= err.line <= text.count("\n") + 1
        assert err.column >= 1
        for internal in INTERNAL:
            assert internal not in err.reason, (text, err.reason)
        return None


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grammar_strings)
@example("H[w* |x] -")
@example("((((((")
@example("pi*0")
@example("e*")
@example("w**a")
def test_fuzz_only_parse_errors_escape_and_successes_round_trip(text: str):
    e = _parse_or_error(text)
    if e is not None:
        assert inf.parse(str(e)) == e, (text, str(e))
        assert inf.parse(e.unicode()) == e, (text, e.unicode())


@settings(max_examples=500, deadline=None)
@given(st.text(ALPHABET, max_size=40))
def test_fuzz_raw_characters(text: str):
    e = _parse_or_error(text)
    if e is not None:
        assert inf.parse(str(e)) == e


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_fuzz_any_unicode(text: str):
    _parse_or_error(text)


@pytest.mark.parametrize("depth", [10, 40, 49])
def test_nested_brackets_below_the_limit_round_trip(depth: int):
    text = "(" * depth + "a + b" + ")" * depth + " * c"
    e = inf.parse(text)
    assert e == Product((Sum((Name("a"), Name("b")), ("+",)), Name("c")), ("*",))
    assert inf.parse(str(e)) == e


@pytest.fixture
def slow_terms():
    """The driver with its whole-term shortcut switched off: every token goes through the tables."""
    from infonotation.syntax.parser import _machine

    machine = _machine()
    machine.fast_terms = False
    inf.parse.cache_clear()
    yield machine
    machine.fast_terms = True
    inf.parse.cache_clear()


def _spans(e):
    return [(type(n).__name__, n.span) for n in e.walk()]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(statements, st.sampled_from([str, lambda e: e.unicode(), lambda e: str(e).replace(" ", "")]))
def test_whole_term_shortcut_agrees_with_the_tables(slow_terms, e, spell):
    text = spell(e)
    try:
        slow = slow_terms.run(text)
    except Exception as err:  # the shortcut must fail in the same way
        slow = type(err)
    slow_terms.fast_terms = True
    try:
        fast = slow_terms.run(text)
    except Exception as err:
        fast = type(err)
    finally:
        slow_terms.fast_terms = False
    assert fast == slow, text
    if isinstance(fast, inf.Expr):
        assert _spans(fast) == _spans(slow), text


DEEP = ["log " * 148 + "x", "-" * 148 + "x", "x" + "^2" * 148, "h(" * 74 + "x" + ")" * 74,
        "-(" * 70 + "a + b" + ")" * 70, "inv(" * 140 + "M" + ")" * 140, "(" * 150 + "x" + ")" * 150,
        "E_{p(x)}[" * 40 + "x" + "]" * 40]


@pytest.mark.parametrize("text", DEEP, ids=lambda t: t[:12])
def test_deep_trees_below_the_limit_print_and_parse_back(text: str):
    e = inf.parse(text)
    assert inf.parse(str(e)) == e
    assert inf.parse(e.unicode()) == e
    assert hash(e) == hash(inf.parse(str(e)))
    assert e.latex()
