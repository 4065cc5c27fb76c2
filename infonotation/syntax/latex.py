r"""LaTeX input: the paper's macros and plain LaTeX, read into the same trees as :func:`parse`.

``parse_latex(r"\MIof{\W; \Y \given \x} = \Hof{\W} - \Hof{\W \given \Y, \x}")`` returns the tree that
``parse("I[W; Y | x] = H[W] - H[W | Y, x]")`` returns. The design is small and one-way (in the manner of
einops' front end): a LaTeX tokenizer, a translator that turns the tokens into the ASCII notation while
remembering, for every ASCII character, the LaTeX offset it came from, and then the ASCII parser.
A :class:`~infonotation.errors.ParseError` raised by the ASCII parser is raised again (``from None``) with
its position (and any column it mentions) mapped back into the LaTeX text; LaTeX-level faults (unknown
commands, unbalanced braces, missing arguments, unclosed environments) are ``ParseError``\ s raised here,
pointing into the LaTeX text. The spans of the returned tree are offsets into the LaTeX text.

What is read (``spec/notation.md``, sections 2 and 7):

* the paper's macros ``\Hof{..}`` (``H[..]``), ``\MIof{..}`` (``I[..]``), ``\HofHessian{..}`` (``H''[..]``),
  ``\HofJacobian{..}`` (``H'[..]``), ``\pof{..}`` (``p(..)``), ``\xICof{..}`` (``h(..)``), ``\E{dist}{body}``
  (``E_{dist}[body]``), ``\given``, and the names ``\W \w \wstar \Y \y \X \x``;
* plain LaTeX: ``\mathrm{H}[..]``, ``\mathrm{H}''[..]``, ``\mathrm{I}[..]``, ``\mathbb{E}_{p(x)}\left[..\right]``,
  ``\log \det`` (one function, ``logdet``), ``\log``, ``\det``, ``\tr``, ``\operatorname{tr}``,
  ``\frac{a}{b}`` (``(a/b)``, also ``\frac12``), ``^{-1}``, ``^\top``/``^{\top}``/``^T`` (transpose),
  ``w^*`` (a point estimate), ``x_{1}``, ``Y_{\mathrm{eval}}``, ``\mathit{abc}``, Greek letters, ``\pi``,
  ``\mathrm{Id}``, ``\cdot``/``\times`` (``*``), relations (``\approx \le \leq \ge \geq \lesssim \implies \iff
  := \coloneqq``), spacing commands, ``\left``/``\right``/``\bigl``/``\Big`` sizes, ``\text{..}``
  annotations (dropped; inside a subscript, ``Y_{\text{eval}}``, the word), the environments ``aligned``,
  ``align*``, ``split`` (and friends) with ``&`` and ``\\`` (a derivation chain runs on across lines), and
  the delimiters ``\[..\]``, ``\(..\)``, ``$..$``, ``$$..$$``.

Conventions, where LaTeX leaves room:

* juxtaposition multiplies (``\frac{1}{2} \log\det A``, ``A B``); a run of letters (``Id``, ``pi``, ``abc``)
  is one word, as in the ASCII notation, so write ``A B`` (with a space) for a product;
* ``\log``, ``\det``, ``\tr`` apply to the next atom (with its powers) when no parenthesis follows;
* a sentence's ``,`` or ``.`` just before ``\\``, ``\end{..}`` or the end of the display is dropped;
* a subscript or superscript without braces takes one character, as in TeX; where that would silently
  split a word or a number (``Y_eval``, ``x_12``, ``A^23``) it is an error that asks for braces instead.
  ``M^-1`` is accepted as ``M^{-1}``; ``\frac12`` is ``1/2``.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass, field, fields

from ..errors import ParseError
from .parser import MAX_DEPTH, MAX_LENGTH, parse
from .tree import Expr

__all__ = ["parse_latex", "latex_to_ascii"]

# -- tokens ------------------------------------------------------------------------------------
_LETTER = "A-Za-zα-οσ-ωΑ-Ω"
_TOKEN_RE = re.compile(
    rf"""(?P<space>\s+)
      |(?P<comment>%[^\n]*)
      |(?P<cmd>\\(?:[A-Za-z]+|[^A-Za-z]))
      |(?P<word>[{_LETTER}][{_LETTER}0-9]*)
      |(?P<num>\d+(?:\.\d+)?)
      |(?P<rel>:=|<=>|<=|>=|=>|==)
      |(?P<char>.)""",
    re.X | re.S,
)


@dataclass
class _Tok:
    kind: str  # "cmd", "word", "num", "rel", "char"
    text: str
    start: int
    end: int


@dataclass
class _Item:
    """A piece of ASCII output and where in the LaTeX text each of its characters came from."""

    text: str
    start: int
    end: int
    kind: str = "op"  # "name", "num", "op"
    starts: list[int] = field(default_factory=list)
    attach: bool = False  # no space before it (primes)
    star: bool = False
    sub: bool = False


def _item(text: str, start: int, end: int, kind: str = "op", exact: bool = False, attach: bool = False) -> _Item:
    starts = [start + i for i in range(len(text))] if exact else [start] * len(text)
    return _Item(text, start, end, kind, starts, attach)


# -- tables ------------------------------------------------------------------------------------
#: The paper's names.
_NAMES = {"\\W": "W", "\\w": "w", "\\Y": "Y", "\\y": "y", "\\X": "X", "\\x": "x"}
_GREEK = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi rho sigma tau upsilon phi chi "
    "psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega"
).split()
_GREEK_VARIANTS = {"\\vartheta": "theta", "\\varepsilon": "epsilon", "\\varphi": "phi", "\\varrho": "rho",
                   "\\varsigma": "sigma", "\\varpi": "pi"}
#: Commands that become one ASCII token: (ASCII, kind).
_SIMPLE: dict[str, tuple[str, str]] = {
    **{k: (v, "name") for k, v in _NAMES.items()},
    **{"\\" + g: (g, "name") for g in _GREEK},
    **{k: (v, "name") for k, v in _GREEK_VARIANTS.items()},
    "\\pi": ("pi", "name"),
    "\\given": ("|", "op"), "\\mid": ("|", "op"), "\\vert": ("|", "op"),
    "\\approx": ("~=", "op"), "\\simeq": ("~=", "op"),
    "\\le": ("<=", "op"), "\\leq": ("<=", "op"), "\\leqslant": ("<=", "op"),
    "\\ge": (">=", "op"), "\\geq": (">=", "op"), "\\geqslant": (">=", "op"),
    "\\lt": ("<", "op"), "\\gt": (">", "op"), "\\lesssim": ("<~", "op"),
    "\\implies": ("=>", "op"), "\\Rightarrow": ("=>", "op"), "\\Longrightarrow": ("=>", "op"),
    "\\iff": ("<=>", "op"), "\\Leftrightarrow": ("<=>", "op"), "\\Longleftrightarrow": ("<=>", "op"),
    "\\coloneqq": (":=", "op"), "\\coloneq": (":=", "op"),
    "\\cdot": ("*", "op"), "\\times": ("*", "op"),
    "\\lbrack": ("[", "op"), "\\rbrack": ("]", "op"),
    "\\det": ("det", "op"), "\\tr": ("tr", "op"), "\\Tr": ("tr", "op"), "\\exp": ("exp", "op"),
    "\\ln": ("log", "op"), "\\logdet": ("logdet", "op"),
}
#: Macros with one argument in braces: ASCII opening and closing.
_WRAP = {"\\Hof": ("H[", "]"), "\\MIof": ("I[", "]"), "\\HofHessian": ("H''[", "]"),
         "\\HofJacobian": ("H'[", "]"), "\\pof": ("p(", ")"), "\\xICof": ("h(", ")")}
#: Font commands: their argument stands for itself (``\mathrm{Id}`` is ``Id``).
_FONTS = {"\\mathrm", "\\mathit", "\\mathbf", "\\mathsf", "\\mathtt", "\\mathbb", "\\mathcal", "\\mathnormal",
          "\\boldsymbol", "\\bm", "\\operatorname", "\\mathscr", "\\mathfrak"}
#: Commands whose braced argument is an annotation and is dropped.
_DROP_ARG = {"\\text", "\\textrm", "\\textit", "\\textbf", "\\textsf", "\\mbox", "\\label", "\\tag", "\\hspace",
             "\\vspace", "\\intertext"}
#: Text commands: annotations, except in a subscript, where ``\text{eval}`` spells a word.
_TEXT = {"\\text", "\\textrm", "\\textit", "\\textbf", "\\textsf", "\\mbox"}
#: Commands that are dropped on their own.
_SPACING = {"\\,", "\\;", "\\:", "\\!", "\\ ", "\\>", "\\quad", "\\qquad", "\\enspace", "\\thinspace",
            "\\medspace", "\\thickspace", "\\negthinspace", "\\negmedspace", "\\negthickspace", "\\nobreak",
            "\\\n", "\\\t"}
_DROP = _SPACING | {"\\nonumber", "\\notag", "\\displaystyle", "\\textstyle", "\\scriptstyle", "\\limits",
                    "\\nolimits", "\\allowbreak"}
_SIZES = {f"\\{b}{s}" for b in ("big", "Big", "bigg", "Bigg") for s in ("", "l", "r", "m")}
_ENVS = {"aligned", "align", "align*", "alignat", "alignat*", "alignedat", "split", "equation", "equation*",
         "gather", "gather*", "gathered", "multline", "multline*", "eqnarray", "eqnarray*"}
_SPECIAL = {"\\E", "\\frac", "\\dfrac", "\\tfrac", "\\log", "\\left", "\\right", "\\middle", "\\begin", "\\end",
            "\\\\", "\\top", "\\intercal", "\\prime", "\\ast", "\\star"}
_KNOWN = sorted(set(_SIMPLE) | set(_WRAP) | _FONTS | _DROP_ARG | _DROP | _SIZES | _SPECIAL | {"\\wstar"})
_DIMENSION = re.compile(r"\s*\[\s*-?\d*\.?\d+\s*(pt|em|ex|mm|cm|in|mu|bp|sp|pc|dd|cc)\s*\]")
_DELIMS = {"$$": "$$", "$": "$", "\\[": "\\]", "\\(": "\\)"}


class _Fail(Exception):
    """A LaTeX-level fault: message and offset into the LaTeX text."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset


# -- the translator ----------------------------------------------------------------------------
class _Context:
    def __init__(self, text: str, tokens: list[_Tok], match: dict[int, int]):
        self.text = text
        self.toks = tokens
        self.match = match


@dataclass
class _Arg:
    lo: int
    hi: int
    first: _Tok | None
    start: int  # LaTeX offset of the argument (its `{`, or the token)
    end: int  # LaTeX offset just past it
    close: int  # LaTeX offset of its `}` (or the token's start)
    braced: bool


class _Translator:
    """Turn the tokens ``toks[lo:hi]`` (after an optional split-off ``first``) into ASCII items."""

    def __init__(self, ctx: _Context, lo: int, hi: int, top: bool = False, first: _Tok | None = None,
                 words: bool = False):
        self.ctx = ctx
        self.words = words  # in a subscript, `\text{eval}` is the word `eval`
        self.i = lo
        self.hi = hi
        self.top = top
        self.pending = first
        self.out: list[_Item] = []
        self.envs: list[tuple[str, _Tok]] = []
        self.index = -1  # index of the token just taken (-1 for a split-off token)

    # -- token access ---------------------------------------------------------------------
    def peek(self) -> _Tok | None:
        if self.pending is not None:
            return self.pending
        return self.ctx.toks[self.i] if self.i < self.hi else None

    def take(self) -> _Tok:
        if self.pending is not None:
            tok, self.pending, self.index = self.pending, None, -1
            return tok
        tok = self.ctx.toks[self.i]
        self.index = self.i
        self.i += 1
        return tok

    def lookahead(self, skip: set[str], annotations: bool = False) -> tuple[_Tok | None, int]:
        """The next token that is not in ``skip`` (by text) and how many tokens come before it.

        With ``annotations``, ``\\text{...}`` and the like (with their argument) are skipped too.
        """
        if self.pending is not None:
            return self.pending, 0
        toks, j = self.ctx.toks, self.i
        while j < self.hi:
            if toks[j].text in skip:
                j += 1
            elif annotations and toks[j].text in _DROP_ARG and j + 1 < self.hi and toks[j + 1].text == "{":
                j = self.ctx.match[j + 1] + 1
            else:
                break
        return (toks[j] if j < self.hi else None), j - self.i

    # -- arguments ------------------------------------------------------------------------
    def arg(self, macro: _Tok, what: str, braced: bool = False, single: str = "split") -> _Arg:
        """Read one argument of ``macro``: a ``{...}`` group, or (unless ``braced``) one token.

        ``single`` says what to do with an unbraced word or number longer than one character: ``"split"``
        takes its first character (TeX's rule, ``\\frac12``), ``"refuse"`` raises (``Y_eval``).
        """
        tok = self.peek()
        if tok is None or (tok.kind == "char" and tok.text == "}"):
            raise _Fail(f"`{macro.text}` is missing {what}", macro.start)
        if tok.kind == "char" and tok.text == "{":
            self.take()
            j = self.ctx.match[self.index]
            close = self.ctx.toks[j]
            self.i = j + 1
            return _Arg(self.index + 1, j, None, tok.start, close.end, close.start, True)
        if braced:
            raise _Fail(f"`{macro.text}` takes {what} in braces, as in `{macro.text}{{...}}`", tok.start)
        if tok.kind in ("word", "num") and len(tok.text) > 1:
            if single == "refuse":
                raise _Fail(f"without braces `{macro.text}` applies to the first character of `{tok.text}` only; "
                            f"write `{macro.text}{{{tok.text}}}` (or `{macro.text}{{{tok.text[0]}}}` and a space)",
                            tok.start)
            self.take()
            head = _Tok(tok.kind, tok.text[0], tok.start, tok.start + 1)
            rest = tok.text[1:]
            self.pending = _Tok("num" if rest[0].isdigit() else "word", rest, tok.start + 1, tok.end)
            return _Arg(0, 0, head, head.start, head.end, head.start, False)
        self.take()
        if self.index < 0:  # a split-off token
            return _Arg(0, 0, tok, tok.start, tok.end, tok.start, False)
        lo, hi = self.index, self.index + 1
        if tok.kind == "cmd" and (tok.text in _FONTS or tok.text in _DROP_ARG):
            nxt = self.peek()
            if nxt is not None and nxt.kind == "char" and nxt.text == "{":
                hi = self.ctx.match[self.i] + 1
                self.i = hi
        end = self.ctx.toks[hi - 1].end
        return _Arg(lo, hi, None, tok.start, end, tok.start, False)

    def sub(self, a: _Arg, words: bool = False) -> list[_Item]:
        return _Translator(self.ctx, a.lo, a.hi, top=False, first=a.first, words=words or self.words).run()

    def arg_tokens(self, a: _Arg) -> list[_Tok]:
        return ([a.first] if a.first is not None else []) + self.ctx.toks[a.lo : a.hi]

    # -- the main loop --------------------------------------------------------------------
    def run(self) -> list[_Item]:
        while self.peek() is not None:
            self.handle(self.take())
        if self.envs:
            name, tok = self.envs[-1]
            raise _Fail(f"`\\begin{{{name}}}` is never closed: add `\\end{{{name}}}`", tok.start)
        return self.out

    def emit(self, text: str, tok: _Tok, kind: str = "op", exact: bool = False) -> None:
        self.out.append(_item(text, tok.start, tok.end, kind, exact))

    def handle(self, tok: _Tok) -> None:
        kind, text = tok.kind, tok.text
        if kind == "word":
            self.emit(text, tok, "name", exact=True)
        elif kind == "num":
            self.emit(text, tok, "num", exact=True)
        elif kind == "rel":
            self.emit(text, tok, exact=True)
        elif kind == "char":
            self.handle_char(tok)
        else:
            self.handle_cmd(tok)

    def handle_char(self, tok: _Tok) -> None:
        text = tok.text
        if text == "{":
            j = self.ctx.match[self.index]
            inner = _Translator(self.ctx, self.index + 1, j, words=self.words).run()
            self.i = j + 1
            if len(inner) > 1:
                close = self.ctx.toks[j]
                self.out.append(_item("(", tok.start, tok.end))
                self.out.extend(inner)
                self.out.append(_item(")", close.start, close.end))
            else:
                self.out.extend(inner)
        elif text == "}":  # pragma: no cover - braces are matched before translation
            raise _Fail("unmatched `}`: there is no `{` for it", tok.start)
        elif text == "^":
            self.superscript(tok)
        elif text == "_":
            self.subscript(tok)
        elif text in ("&", "~"):
            return
        elif text in ("'", "′", "″"):
            self.out.append(_item(text, tok.start, tok.end, attach=True, exact=True))
        elif text == "$":
            raise _Fail("`$` inside the formula: a formula is delimited once, by `$...$`, `\\[...\\]` or nothing",
                        tok.start)
        elif text == "\\":
            raise _Fail("a lone `\\` at the end of the input: finish the command or remove it", tok.start)
        elif text in (",", "."):
            nxt, _ = self.lookahead(_DROP | {"&"}, annotations=True)
            if self.top and (nxt is None or nxt.text in ("\\\\", "\\end")):
                return  # sentence punctuation at the end of a line or of the display
            if text == ".":
                raise _Fail("`.` is only allowed as sentence punctuation at the end of a line or of the display",
                            tok.start)
            self.emit(text, tok, exact=True)
        else:
            self.emit(text, tok, exact=True)

    def handle_cmd(self, tok: _Tok) -> None:
        text = tok.text
        if text in _SIMPLE:
            ascii_text, kind = _SIMPLE[text]
            self.emit(ascii_text, tok, kind)
        elif text == "\\wstar":
            self.out.append(_Item("w*", tok.start, tok.end, "name", [tok.start] * 2, star=True))
        elif text in _DROP or text in _SIZES:
            return
        elif text == "\\\\":
            m = _DIMENSION.match(self.ctx.text, tok.end)
            while m is not None and self.peek() is not None and self.peek().start < m.end():  # type: ignore[union-attr]
                self.take()  # an optional vertical space, `\\[2pt]`
        elif text in _TEXT and self.words:
            self.font(tok)
        elif text in _DROP_ARG:
            nxt = self.peek()
            if nxt is not None and nxt.kind == "char" and nxt.text == "*":
                self.take()  # \tag*{...}
            self.arg(tok, "its argument", braced=True)
        elif text in _FONTS:
            self.font(tok)
        elif text in _WRAP:
            self.wrap(tok)
        elif text == "\\E":
            self.expectation(tok)
        elif text in ("\\frac", "\\dfrac", "\\tfrac"):
            self.fraction(tok)
        elif text == "\\log":
            nxt, skipped = self.lookahead(_SPACING | {"~"})
            if nxt is not None and nxt.text == "\\det":
                for _ in range(skipped + 1):
                    self.take()
                starts = [tok.start + 1 + k for k in range(3)] + [nxt.start + 1 + k for k in range(3)]
                self.out.append(_Item("logdet", tok.start, nxt.end, "op", starts))
            else:
                self.emit("log", tok)
        elif text in ("\\left", "\\right", "\\middle"):
            self.delimiter(tok)
        elif text == "\\begin":
            name = self.environment_name(tok)
            if name not in _ENVS:
                raise _Fail(f"the environment `{name}` is not supported; use `aligned`, `align*` or `split` "
                            "(with `&` and `\\\\`) for a derivation", tok.start)
            if name.startswith("alignat") or name == "alignedat":
                self.arg(tok, "the number of columns", braced=True)
            self.envs.append((name, tok))
        elif text == "\\end":
            name = self.environment_name(tok)
            if not self.envs:
                raise _Fail(f"`\\end{{{name}}}` without a matching `\\begin{{{name}}}`", tok.start)
            open_name, open_tok = self.envs.pop()
            if open_name != name:
                col = _line_col(self.ctx.text, open_tok.start)
                raise _Fail(f"`\\end{{{name}}}` closes `\\begin{{{open_name}}}` (at {col}); "
                            f"write `\\end{{{open_name}}}`", tok.start)
        elif text in ("\\top", "\\intercal", "\\prime", "\\ast", "\\star"):
            raise _Fail(f"`{text}` belongs in a superscript, as in `A^{text}`", tok.start)
        elif text in ("\\[", "\\]", "\\(", "\\)"):
            raise _Fail(f"the display delimiter `{text}` inside the formula: delimit a formula once, "
                        "around all of it", tok.start)
        elif text in ("\\{", "\\}"):
            raise _Fail(f"`{text}` (a literal brace) is not part of the notation; group with parentheses",
                        tok.start)
        else:
            hint = difflib.get_close_matches(text, _KNOWN, n=3, cutoff=0.6)
            also = f"; did you mean {', '.join(f'`{h}`' for h in hint)}?" if hint else ""
            raise _Fail(f"unknown LaTeX command `{text}`{also} (see the list in `infonotation.syntax.latex`)",
                        tok.start)

    # -- the forms --------------------------------------------------------------------------
    def font(self, tok: _Tok) -> None:
        a = self.arg(tok, "its argument")
        inner = self.sub(a)
        if len(inner) > 1:
            self.out.append(_item("(", tok.start, tok.end))
            self.out.extend(inner)
            self.out.append(_item(")", a.close, a.end))
        else:
            self.out.extend(inner)

    def wrap(self, tok: _Tok) -> None:
        opening, closing = _WRAP[tok.text]
        a = self.arg(tok, "its argument", braced=True)
        inner = self.sub(a)
        if not inner:
            raise _Fail(f"`{tok.text}{{}}` is empty: write the names inside, as in `{tok.text}{{\\W \\given \\x}}`",
                        a.start)
        self.out.append(_item(opening, tok.start, tok.end))
        self.out.extend(inner)
        self.out.append(_item(closing, a.close, a.end))

    def expectation(self, tok: _Tok) -> None:
        dist = self.arg(tok, "its distribution (`\\E{\\pof{x}}{...}`)", braced=True)
        body = self.arg(tok, "its second argument, the expression averaged (`\\E{\\pof{x}}{...}`)", braced=True)
        d_items, b_items = self.sub(dist), self.sub(body)
        heads = [i.text for i in d_items[:2]]
        if not (heads[:1] == ["p("] or heads == ["p", "("]):
            where = self.ctx.toks[dist.lo].start if dist.lo < dist.hi else dist.start
            raise _Fail("the first argument of `\\E` is the distribution, written `\\pof{...}` or `p(...)`", where)
        if not b_items:
            raise _Fail("the second argument of `\\E` is empty: write the expression averaged", body.start)
        self.out.append(_item("E_{", tok.start, tok.end))
        self.out.extend(d_items)
        self.out.append(_item("}", dist.close, dist.end))
        self.out.append(_item("[", body.start, body.start + 1))
        self.out.extend(b_items)
        self.out.append(_item("]", body.close, body.end))

    def fraction(self, tok: _Tok) -> None:
        num = self.arg(tok, "its numerator (`\\frac{1}{2}`)")
        den = self.arg(tok, "its denominator, the second argument (`\\frac{1}{2}`)")
        n_items, d_items = self.sub(num), self.sub(den)
        for part, items, a in (("numerator", n_items, num), ("denominator", d_items, den)):
            if not items:
                raise _Fail(f"`{tok.text}` has an empty {part}", a.start)
        self.out.append(_item("(", tok.start, tok.end))
        self._grouped(n_items, num)
        self.out.append(_item("/", den.start, den.start + 1))
        self._grouped(d_items, den)
        self.out.append(_item(")", den.close, den.end))

    def _grouped(self, items: list[_Item], a: _Arg) -> None:
        if len(items) == 1:
            self.out.extend(items)
            return
        self.out.append(_item("(", a.start, a.start + 1))
        self.out.extend(items)
        self.out.append(_item(")", a.close, a.end))

    def delimiter(self, tok: _Tok) -> None:
        nxt = self.peek()
        if nxt is None:
            raise _Fail(f"`{tok.text}` needs a delimiter after it, such as `(` or `[`", tok.start)
        self.take()
        d = nxt.text
        if tok.text == "\\middle":
            if d in ("|", "\\vert", "\\mid"):
                self.out.append(_item("|", tok.start, nxt.end))
                return
        elif d in ("(", ")", "[", "]", "\\lbrack", "\\rbrack"):
            ascii_d = {"\\lbrack": "[", "\\rbrack": "]"}.get(d, d)
            self.out.append(_item(ascii_d, nxt.start, nxt.end))
            return
        elif d == ".":
            return
        raise _Fail(f"`{tok.text}{d}` is not part of the notation: brackets are `\\left(...\\right)` and "
                    "`\\left[...\\right]`", tok.start)

    def environment_name(self, tok: _Tok) -> str:
        nxt = self.peek()
        if nxt is None or not (nxt.kind == "char" and nxt.text == "{"):
            raise _Fail(f"`{tok.text}` needs an environment name in braces, as in `{tok.text}{{aligned}}`",
                        tok.start)
        a = self.arg(tok, "an environment name", braced=True)
        return self.ctx.text[a.start + 1 : a.close].strip()

    def superscript(self, tok: _Tok) -> None:
        nxt = self.peek()
        # `M^-1`: not TeX (which would raise only the minus) but unambiguous, so accepted
        if nxt is not None and nxt.kind == "char" and nxt.text == "-" and self.pending is None:
            after = self.ctx.toks[self.i + 1] if self.i + 1 < self.hi else None
            if after is not None and after.kind == "num":
                self.take()
                self.take()
                self.out.append(_item(f"^-{after.text}", tok.start, after.end))
                return
        a = self.arg(tok, "its exponent", single="refuse")
        toks = self.arg_tokens(a)
        texts = [t.text for t in toks]
        if texts in (["*"], ["\\ast"], ["\\star"]):
            prev = self.out[-1] if self.out else None
            if prev is None or prev.kind != "name" or prev.star:
                raise _Fail("`^*` marks a point estimate and follows a name, as in `w^*`", tok.start)
            prev.text += "*"
            prev.starts.append(tok.start)
            prev.end, prev.star = a.end, True
            return
        if texts in (["\\top"], ["\\intercal"]):
            self.out.append(_item("^T", tok.start, a.end))
            return
        if texts in (["-", "T"], ["-", "\\top"], ["-", "\\intercal"]):
            self.out.append(_item("^-1", tok.start, a.end))
            self.out.append(_item("^T", tok.start, a.end))
            return
        if texts and all(t == "\\prime" for t in texts):
            self.out.append(_item("'" * len(texts), tok.start, a.end, attach=True))
            return
        items = self.sub(a)
        if not items:
            raise _Fail("empty superscript: write the exponent inside `^{...}`", a.start)
        if len(items) == 1 and items[0].kind == "name" and items[0].text == "T":
            self.out.append(_item("^T", tok.start, a.end))
        elif len(items) == 1 and (items[0].kind == "num" or items[0].kind == "name" and not items[0].star):
            self.out.append(_item("^", tok.start, tok.end))
            self.out.extend(items)
        elif len(items) == 2 and items[0].text == "-" and items[1].kind == "num":
            self.out.append(_item(f"^-{items[1].text}", tok.start, a.end))
        else:
            self.out.append(_item("^(", tok.start, a.start + 1))
            self.out.extend(items)
            self.out.append(_item(")", a.close, a.end))

    def subscript(self, tok: _Tok) -> None:
        prev = self.out[-1] if self.out else None
        if prev is None or prev.kind != "name":
            raise _Fail("a subscript `_` follows a name, as in `x_{1}` or `Y_{\\mathrm{eval}}`", tok.start)
        if prev.star:
            raise _Fail("put the subscript before the star: `w_{1}^*`", tok.start)
        if prev.sub:
            raise _Fail("a name takes one subscript (write `x_{12}`, not `x_1_2`)", tok.start)
        a = self.arg(tok, "its subscript", single="refuse")
        items = self.sub(a, words=True)
        if not items:
            raise _Fail("empty subscript: write letters or digits inside `_{...}`", a.start)
        simple = all(i.kind in ("name", "num") and not i.star and not i.sub and i.text.isalnum() for i in items)
        if simple:
            sub = "".join(i.text for i in items)
            prev.text += "_" + sub
            prev.starts.extend([tok.start] + [a.start] * len(sub))
            prev.end, prev.sub = a.end, True
        elif prev.text == "E" and a.braced:  # the expectation's distribution: E_{p(x)}[...]
            prev.text = "E_{"
            prev.starts = [prev.start, tok.start, a.start]
            prev.kind = "op"
            self.out.extend(items)
            self.out.append(_item("}", a.close, a.end))
        else:
            raise _Fail("a subscript is letters or digits, as in `x_{1}` or `Y_{\\mathrm{eval}}`", a.start)


# -- helpers -----------------------------------------------------------------------------------
def _line_col(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"column {col}" if "\n" not in text else f"line {line}, column {col}"


def _tokenize(text: str, lo: int, hi: int) -> list[_Tok]:
    tokens: list[_Tok] = []
    for m in _TOKEN_RE.finditer(text, lo, hi):
        kind = m.lastgroup
        if kind in ("space", "comment"):
            continue
        tokens.append(_Tok(kind or "char", m.group(), m.start(), m.end()))
    return tokens


def _match_braces(text: str, tokens: list[_Tok]) -> dict[int, int]:
    match: dict[int, int] = {}
    stack: list[int] = []
    limit = MAX_DEPTH // 3
    for k, tok in enumerate(tokens):
        if tok.kind != "char":
            continue
        if tok.text == "{":
            stack.append(k)
            if len(stack) > limit:
                raise _Fail(f"braces are nested too deeply (more than {limit} levels)", tok.start)
        elif tok.text == "}":
            if not stack:
                raise _Fail("unmatched `}`: there is no `{` for it", tok.start)
            match[stack.pop()] = k
    if stack:
        tok = tokens[stack[-1]]
        raise _Fail("the `{` here is never closed: add the missing `}`", tok.start)
    return match


def _strip_delimiters(text: str) -> tuple[int, int]:
    """The range of ``text`` inside its display delimiters (all of it when there are none)."""
    lo, hi = 0, len(text)
    while lo < hi and text[lo].isspace():
        lo += 1
    while hi > lo and text[hi - 1].isspace():
        hi -= 1
    for opening, closing in _DELIMS.items():
        if text.startswith(opening, lo):
            if hi - lo >= len(opening) + len(closing) and text.endswith(closing, 0, hi):
                return lo + len(opening), hi - len(closing)
            raise _Fail(f"the formula opens with `{opening}` but does not end with `{closing}`", lo)
    for opening, closing in _DELIMS.items():
        if text.endswith(closing, 0, hi) and not (closing == "$" and text.endswith("\\$", 0, hi)):
            raise _Fail(f"the formula ends with `{closing}` but does not open with `{opening}`", hi - len(closing))
    return lo, hi


def _fix_stars(items: list[_Item]) -> list[_Item]:
    """``w*`` lexes as a point estimate only before a delimiter; elsewhere wrap it: ``(w*)``."""
    out: list[_Item] = []
    for k, it in enumerate(items):
        nxt = items[k + 1] if k + 1 < len(items) else None
        if it.star and nxt is not None and nxt.text[:1] not in ",;|∣])}":
            out.append(_item("(", it.start, it.start))
            out.append(it)
            out.append(_item(")", it.end, it.end))
        else:
            out.append(it)
    return out


def _assemble(items: list[_Item], end: int) -> tuple[str, list[int], list[int]]:
    """Join the items with spaces; per ASCII character, the LaTeX offsets it starts and ends at."""
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    prev_end = None
    for it in items:
        tight = it.attach or it.text[:1] in ",;)]}^/" or (parts and parts[-1][-1:] in "([{/")
        if parts and not tight:
            parts.append(" ")
            starts.append(prev_end if prev_end is not None else it.start)
            ends.append(prev_end if prev_end is not None else it.start)
        parts.append(it.text)
        starts.extend(it.starts)
        ends.extend([it.end] * len(it.text))
        prev_end = it.end
    starts.append(end)
    ends.append(end)
    return "".join(parts), starts, ends


@dataclass
class _Translation:
    ascii: str
    starts: list[int]
    ends: list[int]


def _translate(text: str) -> _Translation:
    if len(text) > MAX_LENGTH:
        raise _Fail(f"the input is too long ({len(text)} characters; at most {MAX_LENGTH})", MAX_LENGTH)
    lo, hi = _strip_delimiters(text)
    tokens = _tokenize(text, lo, hi)
    match = _match_braces(text, tokens)
    items = _Translator(_Context(text, tokens, match), 0, len(tokens), top=True).run()
    end = tokens[-1].end if tokens else lo
    if not items:
        raise _Fail("empty formula: nothing is left once the LaTeX markup is removed; expected an expression "
                    "such as `\\MIof{\\W; \\Y \\given \\x}`", lo)
    ascii_text, starts, ends = _assemble(_fix_stars(items), end)
    return _Translation(ascii_text, starts, ends)


@functools.cache
def _child_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.name != "span" and f.type not in ("str", "int", "bool", "Fraction"))


def _remap_spans(node: Expr, tr: _Translation) -> Expr:
    """A copy of the tree whose spans are offsets into the LaTeX text."""
    changes: dict[str, object] = {}
    for name in _child_fields(type(node)):
        value = getattr(node, name)
        if isinstance(value, Expr):
            changes[name] = _remap_spans(value, tr)
        elif isinstance(value, tuple) and value and isinstance(value[0], Expr):
            changes[name] = tuple(_remap_spans(v, tr) for v in value)
        elif isinstance(value, tuple) and value and isinstance(value[0], tuple):
            changes[name] = tuple(tuple(_remap_spans(v, tr) for v in g) for g in value)
    span = node.span
    if span is not None:
        s, e = span
        last = len(tr.starts) - 1
        span = (tr.starts[min(s, last)], tr.ends[min(max(e - 1, s), last)])
    # a shallow copy with new fields (the tree's invariants already hold; no need to run __init__ again)
    copy = object.__new__(type(node))
    copy.__dict__.update(node.__dict__)
    copy.__dict__.update(changes)
    copy.__dict__["span"] = span
    return copy


_COLUMN = re.compile(r"\bcolumn (\d+)\b")


@functools.lru_cache(maxsize=4096)
def _parse_latex(text: str) -> Expr:
    try:
        tr = _translate(text)
    except _Fail as err:
        raise ParseError(err.message, text, err.offset) from None
    try:
        tree = parse(tr.ascii)
    except ParseError as err:
        last = len(tr.starts) - 1

        def column(m: re.Match[str]) -> str:
            return _line_col(text, tr.starts[min(int(m.group(1)) - 1, last)])

        message = _COLUMN.sub(column, err.reason)
        if len(tr.ascii) <= 80:  # name the ASCII the message's `]` or `|` belong to
            message += f"; the LaTeX reads as `{tr.ascii}`"
        raise ParseError(message, text, tr.starts[min(err.offset, last)]) from None
    return _remap_spans(tree, tr)


def latex_to_ascii(text: str) -> str:
    r"""The ASCII notation that a LaTeX formula stands for (what :func:`parse_latex` hands to :func:`parse`).

    >>> latex_to_ascii(r"\MIof{\W; \Y \given \x}")
    'I[W; Y | x]'
    """
    if not isinstance(text, str):
        raise ParseError(f"expected a string of LaTeX, got {type(text).__name__}")
    try:
        return _translate(text).ascii
    except _Fail as err:
        raise ParseError(err.message, text, err.offset) from None


def parse_latex(text: str) -> Expr:
    r"""Parse LaTeX (the paper's macros or plain LaTeX) into the tree :func:`parse` gives for the ASCII.

    ``\MIof{\W; \Y \given \x}`` is ``I[W; Y | x]``, the expected information gain; the paper's derivation
    ``\MIof{\W ; \Y \given x} &\approx -\frac{1}{2} \log \det \HofHessian{\wstar} + ...`` in an ``aligned``
    environment is the chain ``I[W; Y | x] ~= -1/2 * logdet(H''[w*]) + ...``. Raises only
    :class:`~infonotation.errors.ParseError`, with the position in the LaTeX text.

    >>> str(parse_latex(r"\[ \Hof{\W} \approx -\frac{1}{2} \log \det \HofHessian{\wstar} + C_k, \]"))
    "H[W] ~= -1/2 * logdet(H''[w*]) + C_k"
    """
    if not isinstance(text, str):
        raise ParseError(f"expected a string of LaTeX, got {type(text).__name__}")
    return _parse_latex(text)
