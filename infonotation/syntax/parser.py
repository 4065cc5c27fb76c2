"""Text to syntax tree: the LALR parser, built once and cached, with errors in words.

``parse(text)`` returns an :class:`~infonotation.syntax.tree.Expr` (a :class:`Relation` for
``a = b``) or raises :class:`~infonotation.errors.ParseError` with line, column and a caret.
Parsing checks syntax only; meaning is checked later by ``resolve``.

How it works: lark reads ``grammar/infonotation.lark`` (the single source of truth) and computes
the LALR(1) tables once. A small driver in this module then runs those tables directly: a
contextual lexer (one compiled regular expression per set of terminals a parser state accepts,
exactly as lark's contextual lexer does) feeds a shift/reduce loop whose reductions build the
frozen tree nodes of :mod:`~infonotation.syntax.tree` at once. Unit reductions (``sum -> expr``
and the like) pass their value through without a call, and sums and products are collected in a
mutable buffer and frozen once, so parsing is linear in the input and costs tens of microseconds
for a typical expression. Both loops are iterative: no input can raise ``RecursionError``.
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction
from importlib import resources
from typing import Any

from lark import Lark
from lark.parsers.lalr_analysis import Shift

from ..errors import ParseError
from .tree import (
    MAX_DIGITS,
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
    fits,
)

__all__ = ["parse", "grammar_text", "MAX_LENGTH", "MAX_DEPTH"]

#: Longest input accepted, in characters.
MAX_LENGTH = 100_000
_NUMBER_LITERAL = re.compile(r"(?<![A-Za-z0-9_.\u0370-\u03ff])\d+(?:\.\d+)?")
#: A literal in scientific notation (``1e-3``, ``2.5E4``): its value must fit the digit limit too.
_SCIENTIFIC = re.compile(r"(?<![A-Za-z0-9_.\u0370-\u03ff])(\d+(?:\.\d+)?)[eE]([+-]?\d+)")
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


# -- tokens and internal failures --------------------------------------------------------------
class _Tok:
    """A lexed token: its terminal ``type``, its text and its offsets in the input."""

    __slots__ = ("type", "value", "start_pos", "end_pos")

    def __init__(self, type_: str, value: str, start: int, end: int):
        self.type = type_
        self.value = value
        self.start_pos = start
        self.end_pos = end

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"_Tok({self.type}, {self.value!r}, {self.start_pos})"


class _Unexpected(Exception):
    """The parser state cannot take ``token``; ``expected`` are the terminals it could take."""

    def __init__(self, token: _Tok, expected: set[str]):
        self.token = token
        self.expected = expected


class _BadChar(Exception):
    """No terminal of the grammar matches the text at ``offset``."""

    def __init__(self, offset: int):
        self.offset = offset


class _TooDeep(Exception):
    def __init__(self, offset: int):
        self.offset = offset


# -- tree building ---------------------------------------------------------------------------
# The reductions below make nodes with ``_make``, which fills a node's fields directly instead of
# running the dataclass ``__init__``: the grammar already guarantees what ``__post_init__`` checks
# (one group for H, two or more for I, non-negative numbers, flat sums and products), and parsing
# is dominated by node construction. Every node also records ``_depth`` (its height), which bounds
# the recursion of the printers and of ``==``.
_new = object.__new__


def _make(cls: type, fields: dict, span: tuple[int, int] | None, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise _TooDeep(span[0] if span else 0)
    node = _new(cls)
    fields["span"] = span
    fields["_depth"] = depth
    node.__dict__.update(fields)
    return node


def _depth_of(node: Any) -> int:
    return getattr(node, "_depth", 1)


def _tspan(first: _Tok, last: _Tok) -> tuple[int, int]:
    return (first.start_pos, last.end_pos)


def _join(a: Any, b: Any) -> tuple[int, int] | None:
    """The span from the start of ``a`` to the end of ``b`` (tokens or nodes)."""
    sa = (a.start_pos, a.end_pos) if type(a) is _Tok else a.span
    sb = (b.start_pos, b.end_pos) if type(b) is _Tok else b.span
    if sa is None or sb is None:
        return sa or sb
    return (min(sa[0], sb[0]), max(sa[1], sb[1]))


class _Chain:
    """A sum or product being read: operands and operators, frozen into a node once complete.

    Reading ``a + b + c + ...`` this way costs linear time; building a new n-ary node at each
    ``+`` would copy the operands every time.
    """

    __slots__ = ("kind", "items", "ops", "span", "_depth")

    def __init__(self, kind: type, first: Expr):
        self.kind = kind
        if type(first) is kind:  # left-associative: (a + b) + c is a + b + c
            self.items = list(first.terms if kind is Sum else first.factors)  # type: ignore[attr-defined]
            self.ops = list(first.ops)  # type: ignore[attr-defined]
            self._depth = _depth_of(first)
        else:
            self.items, self.ops = [first], []
            self._depth = 1 + _depth_of(first)
        self.span = first.span

    def push(self, op: str, item: Any) -> _Chain:
        if type(item) is _Chain:
            item = item.freeze()
        self.items.append(item)
        self.ops.append(op)
        d = 1 + _depth_of(item)
        if d > self._depth:
            if d > MAX_DEPTH:
                raise _TooDeep(item.span[0] if item.span else 0)
            self._depth = d
        if item.span is not None and self.span is not None:
            self.span = (min(self.span[0], item.span[0]), max(self.span[1], item.span[1]))
        return self

    def freeze(self) -> Expr:
        items, ops = self.items, self.ops
        if self.kind is Sum:
            return _make(Sum, {"terms": tuple(items), "ops": tuple(ops)}, self.span, self._depth)
        if ops[0] == "/" and type(items[0]) is Number and type(items[1]) is Number:
            items, ops = _fold(items, ops)  # a leading 1/2 is one exact Number, as in product_of
            if len(items) == 1:
                return items[0]
        return _make(Product, {"factors": tuple(items), "ops": tuple(ops)}, self.span, self._depth)


def _fold(items: list, ops: list) -> tuple[list, list]:
    """Fold a leading ``number / number`` (repeatedly) into one :class:`Number`, as ``product_of`` does."""
    items, ops = list(items), list(ops)
    while len(items) >= 2 and ops[0] == "/" and type(items[0]) is Number and type(items[1]) is Number:
        p, q = items[0].value, items[1].value
        if not q:
            break
        value = Fraction(p.numerator * q.denominator, p.denominator * q.numerator)
        if not fits(value):
            break  # as product_of: huge quotients stay unfolded
        items[0:2] = [_make(Number, {"value": value}, _join(items[0], items[1]), 1)]
        del ops[0]
    return items, ops


def _frozen(value: Any) -> Any:
    return value.freeze() if type(value) is _Chain else value


def _fraction(digits: str) -> Fraction:
    """An exact rational from ``12``, ``0.25`` or ``2.5e-3`` (so ``0.5`` is ``1/2`` and ``1e3`` is ``1000``)."""
    return Fraction(int(digits)) if digits.isdigit() else Fraction(digits)


def _name(tok: _Tok) -> Name:
    text = tok.value
    star = text[-1] == "*"
    if star:
        text = text[:-1]
    base, _, sub = text.partition("_")
    if sub[:1] == "{":
        sub = sub[1:-1]
    base = PARAMETER_ALIASES.get(base, base)
    return _make(Name, {"base": base, "sub": sub or None, "star": star}, (tok.start_pos, tok.end_pos), 1)


_PRIMES = {"": 0, "'": 1, "′": 1, "''": 2, '"': 2, "″": 2, "′′": 2}


def _minus_one() -> Neg:
    return Neg(Number(Fraction(1)))


def _groups(c: list) -> tuple[tuple[tuple[Name, ...], ...], tuple[Name, ...]]:
    """The name groups of ``H[...]``, ``I[...]`` or ``p(...)``: before the bar, and after it."""
    groups, given, seen_bar = [], (), False
    for item in c:
        if type(item) is list:
            if seen_bar:
                given = tuple(item)
            else:
                groups.append(tuple(item))
        elif item.type == "BAR":
            seen_bar = True
    return tuple(groups), given


class _Build:
    """Reductions: one method per aliased grammar rule, called with the rule's children."""

    def number(self, c):
        tok = c[0]
        return _make(Number, {"value": _fraction(tok.value)}, (tok.start_pos, tok.end_pos), 1)

    def name(self, c):
        return _name(c[0])

    def const(self, c):
        text = "pi" if c[0].value == "π" else c[0].value
        return _make(Const, {"name": text}, _tspan(c[0], c[0]), 1)

    def identity(self, c):
        return _make(Identity, {}, _tspan(c[0], c[0]), 1)

    def names(self, c):
        return [_name(t) for t in c if type(t) is _Tok and t.type == "NAME"]

    def entropy(self, c):
        groups, given = _groups(c)
        fields = {"head": "H", "order": _PRIMES[c[0].value[1:]], "groups": groups, "given": given}
        return _make(Term, fields, _tspan(c[0], c[-1]), 2)

    def information(self, c):
        groups, given = _groups(c)
        fields = {"head": "I", "order": _PRIMES[c[0].value[1:]], "groups": groups, "given": given}
        return _make(Term, fields, _tspan(c[0], c[-1]), 2)

    def prob(self, c):
        groups, given = _groups(c)
        return _make(Prob, {"event": groups[0], "given": given}, _tspan(c[0], c[-1]), 2)

    def info(self, c):
        arg = _frozen(c[2])
        return _make(Info, {"arg": arg}, _tspan(c[0], c[-1]), 1 + _depth_of(arg))

    def inv(self, c):
        arg = _frozen(c[2])
        return _make(Pow, {"base": arg, "exponent": _minus_one()}, _tspan(c[0], c[-1]), 1 + max(_depth_of(arg), 3))

    def expectation(self, c):
        dist, body = c[3], _frozen(c[6])
        depth = 1 + max(_depth_of(dist), _depth_of(body))
        return _make(Expectation, {"dist": dist, "body": body}, _tspan(c[0], c[-1]), depth)

    def group(self, c):
        inner = _frozen(c[1])
        # keep the brackets in the span so that errors point at them
        object.__setattr__(inner, "span", _tspan(c[0], c[2]))
        return inner

    def func(self, c):
        arg = c[1]
        return _make(Func, {"name": c[0].value, "arg": arg}, _join(c[0], arg), 1 + _depth_of(arg))

    def pow(self, c):
        base, exp = c[0], c[2]
        return _make(Pow, {"base": base, "exponent": exp}, _join(base, exp), 1 + max(_depth_of(base), _depth_of(exp)))

    def transpose(self, c):
        return _make(Transpose, {"arg": c[0]}, _join(c[0], c[1]), 1 + _depth_of(c[0]))

    def inverse(self, c):
        base = c[0]
        return _make(Pow, {"base": base, "exponent": _minus_one()}, _join(base, c[1]), 1 + max(_depth_of(base), 3))

    def exp_number(self, c):
        return Number(_fraction(c[0].value), span=_tspan(c[0], c[0]))

    def exp_negative(self, c):
        return Neg(Number(_fraction(c[1].value), span=_tspan(c[1], c[1])), span=_tspan(c[0], c[1]))

    def exp_name(self, c):
        return _name(c[0])

    def exp_group(self, c):
        return _frozen(c[1])

    def neg(self, c):
        arg = _frozen(c[1])
        return _make(Neg, {"arg": arg}, _join(c[0], arg), 1 + _depth_of(arg))

    def add(self, c):
        left = c[0]
        return (left if type(left) is _Chain else _Chain(Sum, left)).push("+", c[2])

    def sub(self, c):
        left = c[0]
        return (left if type(left) is _Chain else _Chain(Sum, left)).push("-", c[2])

    def mul(self, c):
        left = c[0]
        return (left if type(left) is _Chain else _Chain(Product, left)).push("*", c[2])

    def div(self, c):
        left = c[0]
        return (left if type(left) is _Chain else _Chain(Product, left)).push("/", c[2])

    def matmul(self, c):
        left = c[0]
        return (left if type(left) is _Chain else _Chain(Product, left)).push("@", c[2])

    def jux(self, c):
        left = c[0]
        return (left if type(left) is _Chain else _Chain(Product, left)).push("*", c[1])

    def chain(self, c):
        items = tuple(_frozen(x) for x in c if type(x) is not _Tok)
        ops = tuple(RELATION_SPELLINGS.get(t.value, t.value) for t in c if type(t) is _Tok)
        depth = 1 + max(_depth_of(x) for x in items)
        return _make(Relation, {"items": items, "ops": ops}, _join(items[0], items[-1]), depth)


class _Splice(list):
    """The children of a helper rule lark made for ``(...)*``/``(...)+``; spliced into the parent."""


def _helper(c: list) -> _Splice:
    first = c[0]
    if type(first) is _Splice:  # the left-recursive form: extend in place (linear time)
        first.extend(c[1:])
        return first
    return _Splice(c)


def _splicing(method):
    def call(c: list) -> Any:
        flat: list = []
        for x in c:
            if type(x) is _Splice:
                flat.extend(x)
            else:
                flat.append(x)
        return method(flat)

    return call


#: Nonterminals whose values are :class:`_Chain` buffers while they are being read.
_CHAIN_SYMBOLS = ("sum", "product")
_CHAIN_METHODS = ("add", "sub", "mul", "div", "matmul", "jux")


def _freezing(method):
    def call(c: list) -> Any:
        return method([_frozen(x) for x in c])

    return call


def _pattern(terminals: list) -> str:
    """One alternation of the terminals, in lark's order (priority, then longest first)."""
    terminals = sorted(terminals, key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name))
    body = "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in terminals)
    return rf"\s*(?:{body})"


class _Machine:
    """The LALR tables of the grammar and a driver that runs them with a contextual lexer."""

    def __init__(self, lark: Lark):
        table = lark.parser.parser.parser.parse_table
        build = _Build()
        self.ignore = set(lark.ignore_tokens)
        self.terminals = {t.name: t for t in lark.terminals if t.name not in self.ignore}
        self.start = table.start_states["start"]
        self.end = table.end_states["start"]
        reductions: dict[Any, tuple] = {}
        for rule in lark.rules:
            symbols = [str(s.name) for s in rule.expansion]  # plain str: lark's Token compares slowly
            origin = str(rule.origin.name)
            if origin.startswith("__"):
                callback: Any = _helper
            elif rule.alias is None and rule.options.expand1 and len(symbols) == 1:
                callback = None  # passes its value through (run() freezes a sum or product here)
            else:
                method = getattr(build, rule.alias or origin, None)
                if method is None:
                    raise RuntimeError(f"the grammar rule {origin} -> {rule.alias} has no reduction in parser.py")
                if any(s.startswith("__") for s in symbols):
                    method = _splicing(method)
                if rule.alias not in _CHAIN_METHODS and any(s in _CHAIN_SYMBOLS for s in symbols):
                    method = _freezing(method)
                callback = method
            reductions[rule] = (len(symbols), origin, callback)
        # actions[state][terminal] = (True, next state) or (False, size, nonterminal, callback)
        self.actions: dict[int, dict[str, tuple]] = {}
        self.gotos: dict[int, dict[str, int]] = {}
        for state, row in table.states.items():
            acts, gotos = {}, {}
            for symbol, (action, arg) in row.items():
                symbol = str(symbol)
                if symbol.isupper() or symbol == "$END":
                    acts[symbol] = (True, arg) if action is Shift else (False, *reductions[arg])
                else:
                    gotos[symbol] = arg
            self.actions[state] = acts
            self.gotos[state] = gotos
        self._by_accepts: dict[frozenset, re.Pattern] = {}
        self._lexers = {state: self.lexer(state).match for state in self.actions}
        self._unit_runs: dict[tuple[int, int, str], int] = {}
        self.root = re.compile(_pattern(list(self.terminals.values())))
        self.space = re.compile(r"\s*")
        self.single = self._single_characters()
        self.fast = self._term_patterns()
        name = self.terminals["NAME"].pattern.to_regexp()
        self._inside = re.compile(rf"\s*(?:(?P<name>{name})|(?P<sep>[,;|∣]))")
        #: Read simple terms (``H''[y | x, w*]``, ``p(y | x)``) with one regular expression each.
        self.fast_terms = True

    def _single_characters(self) -> dict[str, str]:
        """Characters that are a whole token on their own in every context (brackets, ``+``, ``;`` ...).

        A character qualifies when exactly one terminal matches it, that terminal is one character
        wide, and no terminal matches a longer text that starts with it; the driver then skips the
        regular expressions for it, which is what the contextual lexer would find anyway.
        """
        probes = ["", " ", "a", "T", "1", "=", "-", "~", "(", "[", "{", "'", "*", ">", "¹"]
        out: dict[str, str] = {}
        for ch in "[](){};,|∣+@/-−*·×⋅_ᵀ":
            hits = [t for t in self.terminals.values()
                    if any(re.match(t.pattern.to_regexp(), ch + p) for p in probes)]
            if len(hits) == 1 and hits[0].pattern.max_width == 1:
                out[ch] = hits[0].name
        return out

    def lexer(self, state: int) -> re.Pattern:
        """The contextual lexer of a state: only the terminals the state can take."""
        accepts = frozenset(t for t in self.actions[state] if t in self.terminals)
        rx = self._by_accepts.get(accepts)
        if rx is None:
            rx = self._by_accepts[accepts] = re.compile(_pattern([self.terminals[t] for t in accepts]))
        return rx

    def expected(self, state: int) -> set[str]:
        return {t for t in self.actions[state] if t.isupper() or t == "$END"}

    def run(self, text: str) -> Expr:
        actions, gotos, lexers, end, units = self.actions, self.gotos, self._lexers, self.end, self._unit_runs
        states: list[int] = [self.start]
        values: list[Any] = []
        pos, n = 0, len(text)
        single, fast = self.single, self.fast
        built: Expr | None = None
        while True:
            while pos < n and text[pos] == " ":
                pos += 1
            if pos == n:
                tok = _Tok("$END", "", n, n)
            else:
                kind = single.get(text[pos])
                if kind is not None:  # a one-character token that no other terminal can start with
                    tok = _Tok(kind, text[pos], pos, pos + 1)
                    pos += 1
                else:
                    m = lexers[states[-1]](text, pos)
                    if m is None:
                        tok = self._no_token(text, pos, states[-1])
                    else:
                        kind = m.lastgroup
                        start = m.start(kind)
                        pos = m.end()
                        tok = _Tok(kind, text[start:pos], start, pos)
                        if kind in fast and self.fast_terms:
                            made = self._whole_term(kind, text, start)
                            if made is not None:
                                built, pos = made
            ttype = tok.type
            while True:
                top = states[-1]
                act = actions[top].get(ttype)
                if act is None:
                    raise _Unexpected(tok, self.expected(top))
                if act[0]:
                    if built is not None:  # a whole term read at once: as if shifted and reduced
                        states.append(gotos[top][fast[ttype][0]])
                        values.append(built)
                        built = None
                        break
                    states.append(act[1])
                    values.append(tok)
                    break
                _, size, origin, callback = act
                if callback is None:  # unit rules (atom -> postfix -> ... -> expr): the value passes through
                    if type(values[-1]) is _Chain:  # signed -> product or expr -> sum: the chain is complete
                        values[-1] = values[-1].freeze()
                    below = states[-2]
                    key = (below, top, ttype)
                    top = units.get(key, -1)
                    if top < 0:
                        top = self._units(below, *key[1:])
                    states[-1] = top
                else:
                    children = values[-size:]
                    del states[-size:]
                    del values[-size:]
                    values.append(callback(children))
                    top = gotos[states[-1]][origin]
                    states.append(top)
                if top == end:
                    return _frozen(values[-1])

    def _term_patterns(self) -> dict[str, tuple[str, re.Pattern]]:
        """For each head terminal: the nonterminal it starts and a pattern of the whole simple term.

        ``H[...]``, ``I[...]`` and ``p(...)`` hold only names, so one regular expression (built from
        the grammar's own NAME and head terminals) reads all of one; the driver then pushes the
        finished node as the parser would after shifting its tokens and reducing them. Anything the
        pattern does not match (a malformed term, say) goes through the tokens one by one as usual.
        """
        name = self.terminals["NAME"].pattern.to_regexp()
        names = rf"(?:{name})(?:\s*,\s*(?:{name}))*"
        given = rf"(?:\s*[|∣]\s*{names})?"
        h = self.terminals["HHEAD"].pattern.to_regexp()
        i = self.terminals["IHEAD"].pattern.to_regexp()
        p = self.terminals["PHEAD"].pattern.to_regexp()
        return {
            "HHEAD": ("term", re.compile(rf"(?:{h})\s*\[\s*{names}{given}\s*\]")),
            "IHEAD": ("term", re.compile(rf"(?:{i})\s*\[\s*{names}(?:\s*;\s*{names})+{given}\s*\]")),
            "PHEAD": ("prob", re.compile(rf"(?:{p})\s*\(\s*{names}{given}\s*\)")),
        }

    def _whole_term(self, kind: str, text: str, start: int) -> tuple[Expr, int] | None:
        m = self.fast[kind][1].match(text, start)
        if m is None:
            return None
        end = m.end()
        groups: list[list[Name]] = [[]]
        given: list[Name] | None = None
        current = groups[0]
        head_end = text.index("[" if kind != "PHEAD" else "(", start)
        for part in self._inside.finditer(text, head_end + 1, end - 1):
            sep = part.group("sep")
            if sep is None:
                current.append(_name(_Tok("NAME", part.group("name"), part.start("name"), part.end("name"))))
            elif sep == ";":
                current = []
                groups.append(current)
            elif sep in "|∣":
                current = given = []
        span = (start, end)
        rest = tuple(given) if given is not None else ()
        if kind == "PHEAD":
            return _make(Prob, {"event": tuple(groups[0]), "given": rest}, span, 2), end
        head = text[start:head_end].rstrip()
        fields = {"head": head[0], "order": _PRIMES[head[1:]], "groups": tuple(map(tuple, groups)), "given": rest}
        return _make(Term, fields, span, 2), end

    def _no_token(self, text: str, pos: int, state: int) -> _Tok:
        """No terminal the state can take matches at ``pos``: the end of the input, or an error."""
        start = self.space.match(text, pos).end()
        if start == len(text):
            return _Tok("$END", "", start, start)
        m = self.root.match(text, pos)  # ask the whole grammar what this is, for the message
        if m is None:
            raise _BadChar(start)
        kind = m.lastgroup
        raise _Unexpected(_Tok(kind, m.group(kind), m.start(kind), m.end()), self.expected(state))

    def _units(self, below: int, top: int, ttype: str) -> int:
        """Where a run of unit reductions from ``top`` (above ``below``) ends, for lookahead ``ttype``."""
        state = top
        while True:
            act = self.actions[state].get(ttype)
            if act is None or act[0] or act[3] is not None:
                break
            state = self.gotos[below][act[2]]
            if state == self.end:
                break
        self._unit_runs[(below, top, ttype)] = state
        return state


@functools.cache
def _parser() -> Lark:
    """The lark object: grammar analysis and LALR tables (its own parse loop is not used)."""
    return Lark(grammar_text(), parser="lalr", lexer="contextual", maybe_placeholders=False, cache=False)


@functools.cache
def _machine() -> _Machine:
    return _Machine(_parser())


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
_PREVIOUS = re.compile(r"(?:[A-Za-z0-9_*'″′α-ωΑ-Ω]+|[<>=~:≈≤≥⇒⟹⇔⟺≔≲]+|⁻¹|.)\s*\Z", re.S)


def _describe(token: _Tok | None, text: str) -> str:
    if token is None or token.type == "$END":
        return "the end of the input"
    return f"`{token}`"


def _previous_char(text: str, offset: int) -> str:
    i = offset - 1
    while i >= 0 and text[i].isspace():
        i -= 1
    return text[i] if i >= 0 else ""


def _previous_word(text: str, offset: int) -> str:
    """The word or operator just before ``offset`` (``logdet``, ``<=``, ``+``)."""
    m = _PREVIOUS.search(text[max(0, offset - 60) : offset])
    return m.group(0).strip() if m else ""


def _where(text: str, offset: int, at: int) -> str:
    """``column 5`` for a bracket on the fault's line, else ``line 2, column 5``."""
    line, col = text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
    return f"column {col}" if line == text.count("\n", 0, offset) + 1 else f"line {line}, column {col}"


def _open_brackets(text: str, offset: int) -> list[tuple[str, int]]:
    pairs = {"]": "[", ")": "(", "}": "{"}
    stack: list[tuple[str, int]] = []
    for i, ch in enumerate(text[:offset]):
        if ch in "([{":
            stack.append((ch, i))
        elif ch in pairs and stack and stack[-1][0] == pairs[ch]:
            stack.pop()
    return stack


def _head_of_bracket(text: str, offset: int) -> str:
    """The head before the innermost open ``[`` or ``(`` (``H``, ``I``, ``p`` ...), or ``""``."""
    stack = _open_brackets(text, offset)
    if not stack:
        return ""
    m = re.search(r"([A-Za-z_]+)['″′\"]*\s*\Z", text[: stack[-1][1]])
    return m.group(1) if m else ""


def _token_message(err: _Unexpected, text: str) -> tuple[str, int]:
    tok = err.token
    at_end = tok.type == "$END"
    offset = len(text.rstrip()) if at_end else tok.start_pos  # at the end: just after the last character
    expected = set(err.expected)
    prev = _previous_char(text, offset)
    got = _describe(tok, text)
    # an empty argument: a separator right after an opening bracket or another separator
    if tok.type in ("COMMA", "SEMI", "BAR", "RSQB", "RPAR") and prev and prev in "[(,;|∣" and "NAME" in expected:
        left = {"[": "`[`", "(": "`(`"}.get(prev, f"`{prev}`")
        what = "an expression" if "NUMBER" in expected else "a name"
        return f"empty argument between {left} and {got}: write {what} there, or remove the separator", offset
    if tok.type == "UNDERSCORE":
        if prev == "E":
            return "an expectation is written `E_{p(...)}[...]`, with a probability `p(...)` under the `E_`", offset
        return ("a subscript follows a name directly and is letters or digits, or letters or digits in braces "
                "(`x_1`, `Y_eval`, `x_{acq}`)"), offset
    if prev == "^" and "NUMBER" in expected and "CARET" not in expected:
        return f"`^` needs an exponent (a number, `-1`, `T`, a name or `(...)`), found {got}", offset
    if "SEMI" in expected and tok.type in ("RSQB", "BAR") and "HHEAD" not in expected:
        return ("mutual information `I[...]` needs at least two groups separated by `;` "
                "(write `I[A; B]` or `I[A; B | C]`)"), offset
    if tok.type == "SEMI" and "RSQB" in expected:
        if _head_of_bracket(text, offset) == "I":
            return "`;` after the `|` of `I[...]`: the groups come first, then one `|` and the condition", offset
        return "`;` separates the groups of `I[...]`; `H[...]` takes one group (use `,` for a joint)", offset
    if tok.type == "BAR" and "RSQB" in expected | {"RPAR"} and "NAME" not in expected:
        return f"a second `|`: {got} may appear once, between the names and the condition", offset
    if tok.type == "LSQB":
        return ("`[` here follows something that is not an operator: only `H`, `H'`, `H''`, `I`, "
                "`I'`, `I''` take `[...]` (and `E_{p(...)}[...]`)"), offset
    for _opener, closer in _CLOSERS.items():
        if closer in expected and (at_end or tok.type in ("REL", "RPAR", "RSQB", "RBRACE")):
            open_stack = _open_brackets(text, offset)
            if open_stack:
                ch, pos = open_stack[-1]
                want = {"[": "]", "(": ")", "{": "}"}[ch]
                return f"missing `{want}` to close the `{ch}` at {_where(text, offset, pos)}, found {got}", offset
    if at_end and expected & _OPERAND_STARTS:
        return (f"the input ends after `{_previous_word(text, offset)}`: expected an operand "
                "(a name, a number, a term or `(`)"), offset
    if tok.type in ("RPAR", "RSQB", "RBRACE") and not _open_brackets(text, offset):
        return f"unmatched {got}: there is no opening bracket for it", offset
    if expected & _OPERAND_STARTS and tok.type in ("PLUS", "STAR", "SLASH", "AT", "REL", "CARET"):
        if not prev:
            return f"the input starts with {got}: expected an operand before it", offset
        return f"expected an operand between `{_previous_word(text, offset)}` and {got}", offset
    if tok.type == "NAME" and "NAME" not in expected and expected <= {"RSQB", "BAR", "SEMI", "COMMA", "RPAR"}:
        return f"expected `,` between names, found {got}", offset
    if tok.type == "COMMA" and "RPAR" in expected:
        return ("`,` separates names inside `H[...]`, `I[...]` and `p(...)`; a function takes one argument"), offset
    words = sorted({_WORDS.get(e, e.lower()) for e in expected if not e.startswith("__")})
    if len(words) > 6:
        words = words[:6] + ["..."]
    if at_end:
        return f"the input ends too early: expected {', '.join(words)}", offset
    return f"unexpected {got}; expected {', '.join(words)}", offset


def _char_message(err: _BadChar, text: str) -> tuple[str, int]:
    offset = err.offset
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
    if ch == ".":
        return "unexpected `.`: a number is written with digits on both sides of the point (`0.5`) or as `1/2`", offset
    if ch in "!&#$%?":
        return f"unexpected character `{ch}`, which is not part of the notation", offset
    if ch == "~":
        return "`~` only appears in `~=` (approximately equal) and `<~`", offset
    if ch == ":":
        return "`:` only appears in `:=` (definition)", offset
    return f"unexpected character `{ch}`, which is not part of the notation", offset


def _check_limits(text: str) -> None:
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the input is too long ({len(text)} characters; at most {MAX_LENGTH})", text, MAX_LENGTH)
    limit = MAX_DEPTH  # printing adds no more bracket levels than the tree has, so printed trees fit
    if text.count("(") + text.count("[") + text.count("{") > limit:  # only then can brackets nest too deeply
        depth = 0
        for i, ch in enumerate(text):
            if ch in "([{":
                depth += 1
                if depth > limit:
                    raise ParseError(f"brackets are nested too deeply (more than {limit} levels)", text, i)
            elif ch in ")]}":
                depth -= 1
    if not text.strip():
        raise ParseError("empty input: expected an expression such as `I[W; Y | x]`", text, 0)
    if "e" in text or "E" in text:
        for m in _SCIENTIFIC.finditer(text):
            exponent = int(m.group(2)) if len(m.group(2)) < 8 else 10**8
            if abs(exponent) + len(m.group(1)) >= MAX_DIGITS or not fits(Fraction(m.group(0))):
                raise ParseError(f"the number `{m.group(0)}` has {MAX_DIGITS} or more digits; write it as a power, "
                                 f"e.g. `10^{m.group(2).lstrip('+')}`", text, m.start())
    if len(text) > MAX_DIGITS:  # only then can a literal be too long
        for m in _NUMBER_LITERAL.finditer(text):
            if m.end() - m.start() >= MAX_DIGITS:  # so that p/q of every folded literal fits MAX_DIGITS too
                raise ParseError(f"a number with {MAX_DIGITS} or more digits; write it with fewer digits", text,
                                 m.start())


def parse(text: str) -> Expr:
    """Parse notation (ASCII or Unicode) into a syntax tree; raise :class:`ParseError` on bad input.

    Trees are cached by text (``parse.cache_clear()`` empties the cache); errors are not.

    >>> str(parse("I[W;Y|x]"))
    'I[W; Y | x]'
    """
    if not isinstance(text, str):
        raise ParseError(f"expected a string of notation, got {type(text).__name__}")
    return _parse_text(text)


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> Expr:
    _check_limits(text)
    try:
        return _machine().run(text)
    except _Unexpected as err:
        message, offset = _token_message(err, text)
    except _BadChar as err:
        message, offset = _char_message(err, text)
    except _TooDeep as err:
        message, offset = f"the expression is nested too deeply (more than {MAX_DEPTH} levels)", err.offset
    raise ParseError(message, text, offset) from None


parse.cache_clear = _parse_text.cache_clear  # type: ignore[attr-defined]
parse.cache_info = _parse_text.cache_info  # type: ignore[attr-defined]
