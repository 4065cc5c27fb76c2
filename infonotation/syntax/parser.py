"""Text to syntax tree: the LALR parser, built once and cached, with errors in words.

``parse(text)`` returns an :class:`~infonotation.syntax.tree.Expr` (a :class:`Relation` for
``a = b``) or raises :class:`~infonotation.errors.ParseError` with line, column and a caret.
Parsing checks syntax only; meaning is checked later by ``resolve``.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from importlib import resources
from typing import Any

import lark
from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from ..errors import ParseError
from .tree import (
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

__all__ = ["parse", "grammar_text", "MAX_LENGTH", "MAX_DEPTH"]

#: Longest input accepted, in characters.
MAX_LENGTH = 20_000
#: Deepest syntax tree accepted (nesting of brackets, functions, powers, signs).
MAX_DEPTH = 150

#: Spellings of the parameter that are normalised to ``w``/``W``.
PARAMETER_ALIASES = {"theta": "w", "omega": "w", "θ": "w", "ω": "w",
                     "Theta": "W", "Omega": "W", "Θ": "W", "Ω": "W"}
#: Canonical spellings of relation symbols.
RELATION_SPELLINGS = {"≈": "~=", "≤": "<=", "≥": ">=", "⇒": "=>", "⟹": "=>", "⇔": "<=>", "⟺": "<=>",
                      "≔": ":=", "==": "=", "≲": "<~"}


def grammar_text() -> str:
    """The grammar, read from the package data (``grammar/infonotation.lark``)."""
    return resources.files("infonotation.grammar").joinpath("infonotation.lark").read_text("utf-8")


# -- tree building ---------------------------------------------------------------------------
def _span(*parts: Any) -> tuple[int, int] | None:
    lo = hi = None
    for p in parts:
        if isinstance(p, Token):
            s, e = p.start_pos, p.end_pos
        elif isinstance(p, Expr) and p.span is not None:
            s, e = p.span
        else:
            continue
        if s is None or e is None:
            continue
        lo = s if lo is None else min(lo, s)
        hi = e if hi is None else max(hi, e)
    return None if lo is None else (lo, hi)


class _TooDeep(Exception):
    def __init__(self, offset: int):
        self.offset = offset


def _deep(node: Expr, *children: Any) -> Expr:
    """Record the node's depth; refuse trees deeper than MAX_DEPTH (printing is recursive)."""
    d = 1 + max((getattr(c, "_depth", 1) for c in children if isinstance(c, Expr)), default=0)
    if d > MAX_DEPTH:
        raise _TooDeep(node.span[0] if node.span else 0)
    object.__setattr__(node, "_depth", d)
    return node


def _name(tok: Token) -> Name:
    text = str(tok)
    star = text.endswith("*")
    if star:
        text = text[:-1]
    base, _, sub = text.partition("_")
    if sub.startswith("{"):
        sub = sub[1:-1]
    base = PARAMETER_ALIASES.get(base, base)
    return Name(base, sub or None, star, span=(tok.start_pos, tok.end_pos))


def _names(items: list[Any]) -> tuple[Name, ...]:
    return tuple(i for i in items if isinstance(i, Name))


def _primes(head: str) -> int:
    rest = head[1:]
    return {"": 0, "'": 1, "′": 1, "''": 2, '"': 2, "″": 2, "′′": 2}[rest]


class _Build(Transformer):
    """Callbacks run inline by the LALR parser (no recursion over the tree)."""

    def number(self, c):
        tok = c[0]
        return _deep(Number(Fraction(str(tok)), span=_span(tok)))

    def name(self, c):
        return _deep(_name(c[0]))

    def const(self, c):
        text = "pi" if str(c[0]) == "π" else str(c[0])
        return _deep(Const(text, span=_span(c[0])))

    def identity(self, c):
        return _deep(Identity(span=_span(c[0])))

    def names(self, c):
        return [_name(t) for t in c if isinstance(t, Token) and t.type == "NAME"]

    def _groups(self, c):
        groups, given, seen_bar = [], (), False
        for item in c:
            if isinstance(item, Token) and item.type == "BAR":
                seen_bar = True
            elif isinstance(item, list):
                if seen_bar:
                    given = tuple(item)
                else:
                    groups.append(tuple(item))
        return tuple(groups), given

    def entropy(self, c):
        groups, given = self._groups(c)
        return _deep(Term("H", _primes(str(c[0])), groups, given, span=_span(c[0], c[-1])), *c)

    def information(self, c):
        groups, given = self._groups(c)
        return _deep(Term("I", _primes(str(c[0])), groups, given, span=_span(c[0], c[-1])), *c)

    def prob(self, c):
        groups, given = self._groups(c)
        return _deep(Prob(groups[0], given, span=_span(c[0], c[-1])), *c)

    def info(self, c):
        return _deep(Info(c[2], span=_span(c[0], c[-1])), c[2])

    def inv(self, c):
        minus_one = Neg(Number(Fraction(1)))
        return _deep(Pow(c[2], minus_one, span=_span(c[0], c[-1])), c[2], c[2])

    def expectation(self, c):
        dist, body = c[3], c[6]
        return _deep(Expectation(dist, body, span=_span(c[0], c[-1])), dist, body)

    def group(self, c):
        inner = c[1]
        # keep the brackets in the span so that errors point at them
        object.__setattr__(inner, "span", _span(c[0], c[2]))
        return inner

    def func(self, c):
        return _deep(Func(str(c[0]), c[1], span=_span(c[0], c[1])), c[1])

    def pow(self, c):
        base, exp = c[0], c[2]
        return _deep(Pow(base, exp, span=_span(base, exp)), base, exp)

    def transpose(self, c):
        return _deep(Transpose(c[0], span=_span(c[0], c[1])), c[0])

    def inverse(self, c):
        return _deep(Pow(c[0], Neg(Number(Fraction(1))), span=_span(c[0], c[1])), c[0], c[0])

    def exp_number(self, c):
        return Number(Fraction(str(c[0])), span=_span(c[0]))

    def exp_negative(self, c):
        return Neg(Number(Fraction(str(c[1])), span=_span(c[1])), span=_span(c[0], c[1]))

    def exp_name(self, c):
        return _name(c[0])

    def exp_group(self, c):
        return c[1]

    def neg(self, c):
        return _deep(Neg(c[1], span=_span(c[0], c[1])), c[1])

    def _flat(self, node, left, right):
        object.__setattr__(node, "span", _span(left, right))
        if isinstance(node, type(left)) and len(node.children()) > 2:  # left was flattened into node
            d = max(getattr(left, "_depth", 1), 1 + getattr(right, "_depth", 1))
            object.__setattr__(node, "_depth", d)
            return node
        return _deep(node, left, right)

    def _sum(self, c, op):
        left, right = c[0], c[2]
        return self._flat(sum_of([left, right], [op]), left, right)

    def add(self, c):
        return self._sum(c, "+")

    def sub(self, c):
        return self._sum(c, "-")

    def _product(self, left, op, right):
        return self._flat(product_of([left, right], [op]), left, right)

    def mul(self, c):
        return self._product(c[0], "*", c[2])

    def div(self, c):
        return self._product(c[0], "/", c[2])

    def matmul(self, c):
        return self._product(c[0], "@", c[2])

    def jux(self, c):
        return self._product(c[0], "*", c[1])

    def chain(self, c):
        items = tuple(x for x in c if isinstance(x, Expr))
        ops = tuple(RELATION_SPELLINGS.get(str(t), str(t)) for t in c if isinstance(t, Token))
        return _deep(Relation(items, ops, span=_span(c[0], c[-1])), *items)


@functools.cache
def _parser() -> Lark:
    return Lark(grammar_text(), parser="lalr", lexer="contextual", transformer=_Build(),
                maybe_placeholders=False, cache=False)


# -- errors in words -------------------------------------------------------------------------
_WORDS = {
    "RSQB": "`]`", "LSQB": "`[`", "RPAR": "`)`", "LPAR": "`(`", "RBRACE": "`}`", "LBRACE": "`{`",
    "NAME": "a name", "NUMBER": "a number", "BAR": "`|`", "SEMI": "`;`", "COMMA": "`,`",
    "PLUS": "`+`", "MINUS": "`-`", "STAR": "`*`", "SLASH": "`/`", "AT": "`@`", "CARET": "`^`",
    "CARET_T": "`^T`", "REL": "a relation such as `=`", "FUNC": "a function", "HHEAD": "`H[`",
    "IHEAD": "`I[`", "PHEAD": "`p(`", "EXPECT": "`E_{p(...)}[`", "CONST": "a constant",
    "ID": "`Id`", "INFO": "`h(`", "INV": "`inv(`", "UNDERSCORE": "`_`", "SUP_T": "`ᵀ`",
    "SUP_INV": "`⁻¹`", "$END": "the end of the input",
}
_CLOSERS = {"LSQB": "RSQB", "LPAR": "RPAR", "LBRACE": "RBRACE"}
_OPERAND_STARTS = {"NAME", "NUMBER", "HHEAD", "IHEAD", "PHEAD", "LPAR", "FUNC", "CONST", "ID"}


def _describe(token: Token | None, text: str) -> str:
    if token is None or token.type == "$END":
        return "the end of the input"
    return f"`{token}`"


def _previous_char(text: str, offset: int) -> str:
    i = offset - 1
    while i >= 0 and text[i].isspace():
        i -= 1
    return text[i] if i >= 0 else ""


def _open_brackets(text: str, offset: int) -> list[tuple[str, int]]:
    pairs = {"]": "[", ")": "(", "}": "{"}
    stack: list[tuple[str, int]] = []
    for i, ch in enumerate(text[:offset]):
        if ch in "([{":
            stack.append((ch, i))
        elif ch in pairs and stack and stack[-1][0] == pairs[ch]:
            stack.pop()
    return stack


def _token_message(err: UnexpectedToken, text: str) -> tuple[str, int]:
    tok = err.token
    at_end = tok.type == "$END"
    offset = len(text) if at_end else tok.start_pos
    expected = set(err.expected)
    prev = _previous_char(text, offset)
    got = _describe(tok, text)
    # an empty argument: a separator right after an opening bracket or another separator
    if tok.type in ("COMMA", "SEMI", "BAR", "RSQB", "RPAR") and prev in "[(,;|∣" and "NAME" in expected:
        left = {"[": "`[`", "(": "`(`"}.get(prev, f"`{prev}`")
        return f"empty argument between {left} and {got}", offset
    if "SEMI" in expected and tok.type in ("RSQB", "BAR") and "HHEAD" not in expected:
        return ("mutual information `I[...]` needs at least two groups separated by `;` "
                "(write `I[A; B]` or `I[A; B | C]`)"), offset
    if tok.type == "SEMI" and "RSQB" in expected:
        return "`;` separates the groups of `I[...]`; `H[...]` takes one group (use `,` for a joint)", offset
    if tok.type == "LSQB":
        return ("`[` here follows something that is not an operator: only `H`, `H'`, `H''`, `I`, "
                "`I'`, `I''` take `[...]` (and `E_{p(...)}[...]`)"), offset
    for _opener, closer in _CLOSERS.items():
        if closer in expected and (at_end or tok.type in ("REL", "RPAR", "RSQB", "RBRACE")):
            open_stack = _open_brackets(text, offset)
            if open_stack:
                ch, pos = open_stack[-1]
                want = {"[": "]", "(": ")", "{": "}"}[ch]
                return f"missing `{want}` to close the `{ch}` at column {pos + 1}, found {got}", offset
    if at_end and expected & _OPERAND_STARTS:
        return f"the input ends after `{prev}`: expected an operand (a name, a number, a term or `(`)", offset
    if tok.type in ("RPAR", "RSQB", "RBRACE") and not _open_brackets(text, offset):
        return f"unmatched {got}: there is no opening bracket for it", offset
    if expected & _OPERAND_STARTS and tok.type in ("PLUS", "STAR", "SLASH", "AT", "REL", "CARET"):
        return f"expected an operand before {got}", offset
    if tok.type == "NAME" and "NAME" not in expected and expected <= {"RSQB", "BAR", "SEMI", "COMMA", "RPAR"}:
        return f"expected `,` between names, found {got}", offset
    words = sorted({_WORDS.get(e, e.lower()) for e in expected if not e.startswith("__")})
    if len(words) > 6:
        words = words[:6] + ["..."]
    return f"unexpected {got}; expected {', '.join(words)}", offset


def _char_message(err: UnexpectedCharacters, text: str) -> tuple[str, int]:
    offset = err.pos_in_stream
    ch = text[offset] if offset < len(text) else ""
    if ch == "'" or ch in "′″\"":
        return "a prime belongs to `H` or `I` directly before `[`: write `H''[...]` or `H'[...]`", offset
    if ch == "*":
        return ("`*` needs an operand on both sides (a point estimate is written `w*` "
                "before `,`, `|`, `]` or `)`)"), offset
    if ch == "_":
        return "a subscript follows a name directly, as in `x_1`, `Y_eval` or `x_{acq}`", offset
    if ch == "\\":
        return "this looks like LaTeX: use `parse_latex` (or `--latex-input` on the command line)", offset
    if ch == "!" or ch == "&" or ch == "#" or ch == "$" or ch == "%" or ch == "?":
        return f"unexpected character `{ch}`, which is not part of the notation", offset
    if ch == "~":
        return "`~` only appears in `~=` (approximately equal) and `<~`", offset
    if ch == ":":
        return "`:` only appears in `:=` (definition)", offset
    return f"unexpected character `{ch}`", offset


def _check_limits(text: str) -> None:
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the input is too long ({len(text)} characters; at most {MAX_LENGTH})", text, MAX_LENGTH)
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH // 3:
                raise ParseError(f"brackets are nested too deeply (more than {MAX_DEPTH // 3} levels)", text, i)
        elif ch in ")]}":
            depth -= 1
    if not text.strip():
        raise ParseError("empty input: expected an expression such as `I[W; Y | x]`", text, 0)


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Expr:
    """Parse notation (ASCII or Unicode) into a syntax tree; raise :class:`ParseError` on bad input.

    >>> str(parse("I[W;Y|x]"))
    'I[W; Y | x]'
    """
    if not isinstance(text, str):
        raise ParseError(f"expected a string of notation, got {type(text).__name__}")
    _check_limits(text)
    try:
        return _parser().parse(text)
    except UnexpectedToken as err:
        message, offset = _token_message(err, text)
    except UnexpectedCharacters as err:
        message, offset = _char_message(err, text)
    except _TooDeep as err:
        message, offset = f"the expression is nested too deeply (more than {MAX_DEPTH} levels)", err.offset
    except VisitError as err:
        if isinstance(err.orig_exc, _TooDeep):
            message, offset = f"the expression is nested too deeply (more than {MAX_DEPTH} levels)", err.orig_exc.offset
        else:  # pragma: no cover - a bug in a callback
            raise
    except UnexpectedInput as err:  # pragma: no cover - other lark failures
        message, offset = "unexpected input", getattr(err, "pos_in_stream", 0) or 0
    except lark.exceptions.LarkError as err:  # pragma: no cover
        message, offset = f"could not parse: {err}", 0
    raise ParseError(message, text, offset) from None
