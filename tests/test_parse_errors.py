"""Malformed notation: every fault is a ParseError at the right line and column, in words.

Each row is ``(text, line, column, words)``: the 1-based position of the fault and a phrase the
message must contain. No message may leak lark's or the driver's internal names.
"""

from __future__ import annotations

import time

import pytest

import infonotation as inf
from infonotation.errors import NotationError, ParseError

INTERNAL = ("RSQB", "LSQB", "LPAR", "RPAR", "LBRACE", "RBRACE", "__ANON", "$END", "Token(", "_Tok", "NAME",
            "HHEAD", "IHEAD", "PHEAD", "CARET", "SEMI", "COMMA", "UNDERSCORE", "__")

MALFORMED = [
    # missing closers
    ("H[A", 1, 4, "missing `]`"),
    ("H[A|B", 1, 6, "missing `]`"),
    ("I[W;Y|x", 1, 8, "missing `]`"),
    ("H''[w* | y, x = H[x]", 1, 15, "missing `]`"),
    ("E_{p(x)}[H[Y|x]", 1, 16, "missing `]`"),
    ("p(y|x", 1, 6, "missing `)`"),
    ("(a + b", 1, 7, "missing `)`"),
    ("logdet(A", 1, 9, "missing `)`"),
    ("E_{p(x}[y]", 1, 7, "missing `)`"),
    ("1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id", 1, 41, "missing `)`"),
    # unbalanced closers
    ("a + b)", 1, 6, "unmatched `)`"),
    ("H[A]]", 1, 5, "unmatched `]`"),
    ("]", 1, 1, "unmatched `]`"),
    ("a)", 1, 2, "unmatched `)`"),
    # empty arguments
    ("I[A;;B]", 1, 5, "empty argument between `;` and `;`"),
    ("I[A;]", 1, 5, "empty argument between `;` and `]`"),
    ("I[;A]", 1, 3, "empty argument between `[` and `;`"),
    ("H[]", 1, 3, "empty argument between `[` and `]`"),
    ("H[A,]", 1, 5, "empty argument between `,` and `]`"),
    ("H[A|]", 1, 5, "empty argument between `|` and `]`"),
    ("H[A||B]", 1, 5, "empty argument between `|` and `|`"),
    ("p()", 1, 3, "empty argument between `(` and `)`"),
    ("logdet()", 1, 8, "empty argument between `(` and `)`"),
    # groups
    ("I[A]", 1, 4, "at least two groups"),
    ("I[A|B]", 1, 4, "at least two groups"),
    ("H[A;B]", 1, 4, "`H[...]` takes one group"),
    ("I[A;B|C;D]", 1, 8, "groups come first"),
    ("H[A|B|C]", 1, 6, "a second `|`"),
    ("H[A B]", 1, 5, "expected `,` between names"),
    # brackets after something that is not a head
    ("Q[X]", 1, 2, "only `H`"),
    ("E[x]", 1, 2, "only `H`"),
    ("x[1]", 1, 2, "only `H`"),
    # trailing and leading operators
    ("a +", 1, 4, "the input ends after `+`"),
    ("a *", 1, 4, "the input ends after `*`"),
    ("a = b =", 1, 8, "the input ends after `=`"),
    ("-", 1, 2, "the input ends after `-`"),
    ("logdet", 1, 7, "the input ends after `logdet`"),
    ("+ a", 1, 1, "the input starts with `+`"),
    ("= a", 1, 1, "the input starts with `=`"),
    ("a + * b", 1, 5, "expected an operand between `+` and `*`"),
    ("a**b", 1, 3, "operand"),
    ("A^", 1, 3, "`^` needs an exponent"),
    ("A^*", 1, 3, "`^` needs an exponent"),
    # characters and spellings that are not notation
    ("x_", 1, 2, "a subscript"),
    ("x_{}", 1, 2, "a subscript"),
    ("E_{q(x)}[y]", 1, 2, "`E_{p(...)}[...]`"),
    ("E_{p(x)}", 1, 9, "expected `[`"),
    ("H'''[x]", 1, 2, "a prime belongs to `H` or `I`"),
    ("x'", 1, 2, "a prime belongs to `H` or `I`"),
    ("a $ b", 1, 3, "not part of the notation"),
    ("a ! b", 1, 3, "not part of the notation"),
    ("a ~ b", 1, 3, "`~=`"),
    ("a : b", 1, 3, "`:=`"),
    (".5", 1, 1, "`0.5`"),
    ("1.", 1, 2, "`0.5`"),
    (r"\frac{1}{2}", 1, 1, "LaTeX"),
    ("inv(A, B)", 1, 6, "a function takes one argument"),
    # empty input
    ("", 1, 1, "empty input"),
    ("   \n  ", 1, 1, "empty input"),
    # multi-line input: the line and the column within it
    ("H[A|B]\n+ I[A", 2, 6, "missing `]` to close the `[` at column 4"),
    ("a = b\n\n  c +", 3, 6, "the input ends after `+`"),
    ("a = b\n  + Q[X]", 2, 6, "only `H`"),
    ("I[W;Y|x]\n  = H[Y|x]\n  - H[Y|x,W", 3, 12, "missing `]`"),
    ("(a\n+b", 2, 3, "to close the `(` at line 1, column 1"),
]


def test_there_are_at_least_40_malformed_inputs():
    assert len(MALFORMED) >= 40


@pytest.mark.parametrize(("text", "line", "column", "words"), MALFORMED, ids=[repr(m[0]) for m in MALFORMED])
def test_malformed_input_is_a_parse_error_in_words(text: str, line: int, column: int, words: str):
    with pytest.raises(ParseError) as info:
        inf.parse(text)
    err = info.value
    assert (err.line, err.column) == (line, column), f"{text!r}: {err}"
    assert words in err.reason, f"{text!r}: {err.reason}"
    assert err.text == text
    for internal in INTERNAL:
        assert internal not in err.reason, f"{text!r} leaks {internal}: {err.reason}"


def test_parse_error_is_a_notation_error_and_a_value_error():
    assert issubclass(ParseError, NotationError) and issubclass(ParseError, ValueError)
    assert inf.ParseError is ParseError
    with pytest.raises(ValueError):
        inf.parse("I[A]")


def test_message_shows_the_line_and_a_caret_under_the_fault():
    with pytest.raises(ParseError) as info:
        inf.parse("I[W;Y|x] = H[Y|x] - H[Y|x,W")
    lines = str(info.value).split("\n")
    assert "line 1, column 28" in lines[0]
    assert lines[1] == "    I[W;Y|x] = H[Y|x] - H[Y|x,W"
    assert lines[2] == "    " + " " * 27 + "^"


def test_caret_on_the_faulty_line_of_a_multi_line_input():
    text = "I[W;Y|x]\n  = H[Y|x] + Q[X]"
    with pytest.raises(ParseError) as info:
        inf.parse(text)
    err = info.value
    lines = str(err).split("\n")
    assert (err.line, err.column) == (2, 15)
    assert lines[1] == "      = H[Y|x] + Q[X]"
    assert lines[2].index("^") == 4 + 14  # under the `[` of Q[X]


@pytest.mark.parametrize("bad", [None, 3, b"I[W;Y|x]", ["I[W;Y|x]"]])
def test_non_string_input_is_a_parse_error(bad: object):
    with pytest.raises(ParseError, match="expected a string"):
        inf.parse(bad)  # type: ignore[arg-type]


# -- huge and deeply nested inputs --------------------------------------------------------------------
NASTY = {
    "long name": "x" * 50_000,
    "long sum": "a+" * 10_000 + "a",
    "open brackets": "(" * 5_000,
    "nested brackets": "(" * 5_000 + "x" + ")" * 5_000,
    "signs": "-" * 5_000 + "x",
    "logs": "log " * 3_000 + "x",
    "powers": "x^2" * 3_000,
    "juxtaposed groups": "(x)" * 5_000,
    "over the length limit": "a+" * 60_000 + "a",
    "deep terms": "H[" * 2_000 + "x" + "]" * 2_000,
    "long chain": "a = " * 5_000 + "a",
    "many names": "H[" + ",".join(f"x_{i}" for i in range(5_000)) + "]",
}


@pytest.mark.parametrize("kind", list(NASTY))
def test_huge_or_deep_inputs_fail_cleanly_or_parse_quickly(kind: str):
    text = NASTY[kind]
    start = time.perf_counter()
    try:
        e = inf.parse(text)
    except ParseError as err:
        assert err.reason and "RecursionError" not in err.reason
    else:
        # what parses prints and reads back (printing is recursive: the depth limit protects it)
        assert inf.parse(str(e)) == e
    assert time.perf_counter() - start < 5.0, f"{kind} took too long"


def test_depth_limits_are_reported_in_words():
    with pytest.raises(ParseError, match="nested too deeply"):
        inf.parse("-" * 5_000 + "x")
    with pytest.raises(ParseError, match="brackets are nested too deeply"):
        inf.parse("(" * 5_000)
    with pytest.raises(ParseError, match="too long"):
        inf.parse("a+" * 60_000 + "a")


def test_five_thousand_malformed_inputs_fail_fast():
    texts = [m[0] for m in MALFORMED if m[0].strip()]
    inputs = [f"{texts[i % len(texts)]}{' ' * (i // len(texts))}" for i in range(5_000)]  # distinct: no caching
    start = time.perf_counter()
    failures = 0
    for text in inputs:
        try:
            inf.parse(text)
        except ParseError:
            failures += 1
    elapsed = time.perf_counter() - start
    assert failures == 5_000
    assert elapsed < 10.0, f"{elapsed / 5_000 * 1e6:.0f} µs per malformed input"
