"""Printers, one class per target (in the manner of sympy's printers).

* :class:`AsciiPrinter`: canonical ASCII, ``parse(str(e)) == e`` for every tree.
* :class:`UnicodePrinter`: the same layout with ``″ ∣ ≈ ≤ ⁻¹ ᵀ ·``; ``parse(e.unicode()) == e``.
* :class:`LatexPrinter`: LaTeX in the paper's style (``\\mathrm{H}[W \\mid Y, x]``).

Each printer dispatches on the node class (``_print_<Class>``) and inserts the fewest parentheses
that keep the tree: sums and products are left-associative, unary minus binds looser than a
product (``-1/2 logdet A`` is ``-(1/2 logdet A)``), and a function applies to the next power.
"""

from __future__ import annotations

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
    Product,
    Relation,
    Sum,
    Term,
    Transpose,
)

__all__ = ["AsciiPrinter", "UnicodePrinter", "LatexPrinter", "tree_outline", "precedence"]

# precedence levels (higher binds tighter)
REL, SUM, NEG, PROD, FUNC, POSTFIX, ATOM = range(7)


def precedence(e: Expr) -> int:
    if isinstance(e, Relation):
        return REL
    if isinstance(e, Sum):
        return SUM
    if isinstance(e, Neg):
        return NEG
    if isinstance(e, Product):
        return PROD
    if isinstance(e, Number) and e.value.denominator != 1:
        return PROD  # 1/2 prints as a quotient
    if isinstance(e, Func):
        return FUNC
    if isinstance(e, (Pow, Transpose)):
        return POSTFIX
    return ATOM


class Printer:
    """Base printer: dispatch on the node's class name."""

    def doprint(self, e: Expr) -> str:
        return self._print(e)

    def _print(self, e: Expr) -> str:
        method = getattr(self, f"_print_{type(e).__name__}", None)
        if method is None:
            raise TypeError(f"{type(self).__name__} cannot print {type(e).__name__}")
        return method(e)


class AsciiPrinter(Printer):
    """Canonical ASCII: the form ``str(e)`` returns, which ``parse`` reads back to ``e``."""

    given = " | "
    mul_ops = {"*": " * ", "/": " / ", "@": " @ "}
    relations = {o: o for o in ("=", "~=", "<=", ">=", "<", ">", "<~", ":=", "=>", "<=>")}
    primes = {0: "", 1: "'", 2: "''"}
    consts = {"pi": "pi", "e": "e", "C_k": "C_k"}
    inverse = "^-1"
    transpose = "^T"

    def paren(self, s: str) -> str:
        return f"({s})"

    def _print_Name(self, e: Name) -> str:
        return e.text

    def _print_Number(self, e: Number) -> str:
        v = e.value
        return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"

    def _print_Const(self, e: Const) -> str:
        return self.consts[e.name]

    def _print_Identity(self, e: Identity) -> str:
        return "Id"

    def _names(self, names: tuple[Name, ...]) -> str:
        return ", ".join(self._print(n) for n in names)

    def _print_Term(self, e: Term) -> str:
        body = "; ".join(self._names(g) for g in e.groups)
        if e.given:
            body += self.given + self._names(e.given)
        return f"{e.head}{self.primes[e.order]}[{body}]"

    def _print_Prob(self, e: Prob) -> str:
        body = self._names(e.event)
        if e.given:
            body += self.given + self._names(e.given)
        return f"p({body})"

    def _print_Info(self, e: Info) -> str:
        return f"h({self._print(e.arg)})"

    def _print_Expectation(self, e: Expectation) -> str:
        return f"E_{{{self._print(e.dist)}}}[{self._print(e.body)}]"

    def _print_Func(self, e: Func) -> str:
        return f"{e.name}({self._print(e.arg)})"

    def _base(self, b: Expr) -> str:
        s = self._print(b)
        return s if precedence(b) >= POSTFIX else self.paren(s)

    def _print_Pow(self, e: Pow) -> str:
        x = e.exponent
        if isinstance(x, Neg) and isinstance(x.arg, Number) and x.arg.value == 1:
            return self._base(e.base) + self.inverse
        if isinstance(x, Number) and x.value.denominator == 1:
            exp = self._print(x)
        elif isinstance(x, Neg) and isinstance(x.arg, Number) and x.arg.value.denominator == 1:
            exp = "-" + self._print(x.arg)
        elif isinstance(x, Name) and not x.star and x.text != "T":
            exp = self._print(x)
        else:
            exp = self.paren(self._print(x))
        return f"{self._base(e.base)}^{exp}"

    def _print_Transpose(self, e: Transpose) -> str:
        return self._base(e.arg) + self.transpose

    def _print_Neg(self, e: Neg) -> str:
        s = self._print(e.arg)
        return "-" + (s if precedence(e.arg) > SUM else self.paren(s))

    def _print_Sum(self, e: Sum) -> str:
        parts = [self._term(e.terms[0])]
        for op, t in zip(e.ops, e.terms[1:]):
            parts.append(f" {op} {self._term(t)}")
        return "".join(parts)

    def _term(self, t: Expr) -> str:
        s = self._print(t)
        return s if precedence(t) > SUM else self.paren(s)

    def _print_Product(self, e: Product) -> str:
        first = e.factors[0]
        s = self._print(first)
        parts = [s if precedence(first) >= PROD else self.paren(s)]
        for op, f in zip(e.ops, e.factors[1:]):
            fs = self._print(f)
            if precedence(f) <= PROD:
                fs = self.paren(fs)
            parts.append(self.mul_ops[op] + fs)
        return "".join(parts)

    def _print_Relation(self, e: Relation) -> str:
        parts = [self._print(e.items[0])]
        for op, item in zip(e.ops, e.items[1:]):
            parts.append(f" {self.relations[op]} {self._print(item)}")
        return "".join(parts)


class UnicodePrinter(AsciiPrinter):
    """Terminal rendering with Unicode symbols; the parser reads it back."""

    given = " ∣ "
    mul_ops = {"*": " · ", "/": " / ", "@": " @ "}
    relations = {"=": "=", "~=": "≈", "<=": "≤", ">=": "≥", "<": "<", ">": ">", "<~": "≲",
                 ":=": "≔", "=>": "⇒", "<=>": "⇔"}
    primes = {0: "", 1: "′", 2: "″"}
    consts = {"pi": "π", "e": "e", "C_k": "C_k"}
    inverse = "⁻¹"
    transpose = "ᵀ"


_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "eta", "kappa", "lambda", "mu", "nu", "xi",
          "rho", "sigma", "tau", "phi", "chi", "psi", "Gamma", "Delta", "Lambda", "Sigma", "Phi", "Psi"}
_GREEK_CHARS = {"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "η": "eta",
                "κ": "kappa", "λ": "lambda", "μ": "mu", "ν": "nu", "ξ": "xi", "ρ": "rho", "σ": "sigma",
                "τ": "tau", "φ": "phi", "χ": "chi", "ψ": "psi", "Γ": "Gamma", "Δ": "Delta",
                "Λ": "Lambda", "Σ": "Sigma", "Φ": "Phi", "Ψ": "Psi"}


class LatexPrinter(Printer):
    """LaTeX in the paper's style: ``\\mathrm{H}''[w^* \\mid y, x]``, ``\\log\\det``, ``\\operatorname{tr}``."""

    relations = {"=": "=", "~=": "\\approx", "<=": "\\le", ">=": "\\ge", "<": "<", ">": ">",
                 "<~": "\\lesssim", ":=": ":=", "=>": "\\implies", "<=>": "\\iff"}
    funcs = {"log": "\\log", "det": "\\det", "logdet": "\\log\\det", "tr": "\\operatorname{tr}",
             "exp": "\\exp"}

    def paren(self, s: str) -> str:
        return f"\\left({s}\\right)"

    def _print_Name(self, e: Name) -> str:
        base = e.base
        if base in _GREEK_CHARS:
            base = _GREEK_CHARS[base]
        if base in _GREEK:
            base = "\\" + base
        elif len(base) > 1:
            base = f"\\mathit{{{base}}}"
        out = base
        if e.sub is not None:
            sub = e.sub if len(e.sub) == 1 or e.sub.isdigit() else f"\\mathrm{{{e.sub}}}"
            out += f"_{{{sub}}}"
        if e.star:
            out += "^*"
        return out

    def _print_Number(self, e: Number) -> str:
        v = e.value
        return str(v.numerator) if v.denominator == 1 else f"\\frac{{{v.numerator}}}{{{v.denominator}}}"

    def _print_Const(self, e: Const) -> str:
        return {"pi": "\\pi", "e": "e", "C_k": "C_k"}[e.name]

    def _print_Identity(self, e: Identity) -> str:
        return "\\mathrm{Id}"

    def _names(self, names: tuple[Name, ...]) -> str:
        return ", ".join(self._print(n) for n in names)

    def _print_Term(self, e: Term) -> str:
        body = "; ".join(self._names(g) for g in e.groups)
        if e.given:
            body += " \\mid " + self._names(e.given)
        return f"\\mathrm{{{e.head}}}{chr(39) * e.order}[{body}]"

    def _print_Prob(self, e: Prob) -> str:
        body = self._names(e.event)
        if e.given:
            body += " \\mid " + self._names(e.given)
        return f"p({body})"

    def _print_Info(self, e: Info) -> str:
        return f"h({self._print(e.arg)})"

    def _print_Expectation(self, e: Expectation) -> str:
        return f"\\mathbb{{E}}_{{{self._print(e.dist)}}}\\left[{self._print(e.body)}\\right]"

    def _print_Func(self, e: Func) -> str:
        # the paper applies log, det and tr to a single term without brackets: \log\det \mathrm{H}''[w^*]
        arg, s = e.arg, self._print(e.arg)
        if isinstance(arg, (Name, Term, Prob, Const, Identity, Info, Expectation)) or (
            isinstance(arg, Number) and arg.value.denominator == 1
        ):
            return f"{self.funcs[e.name]} {s}"
        return f"{self.funcs[e.name]}{self.paren(s)}"

    def _base(self, b: Expr) -> str:
        s = self._print(b)
        if isinstance(b, Name) and b.star:  # w^* carries a superscript already: {w^*}^{-1}
            return f"{{{s}}}"
        return s if precedence(b) >= POSTFIX and not isinstance(b, (Pow, Transpose)) else self.paren(s)

    def _print_Pow(self, e: Pow) -> str:
        x = e.exponent
        exp = self._print(x)
        if isinstance(x, Name) and x.text == "T":  # a name T, not the transpose
            exp = self.paren(exp)
        return f"{self._base(e.base)}^{{{exp}}}"

    def _print_Transpose(self, e: Transpose) -> str:
        return f"{self._base(e.arg)}^\\top"

    def _print_Neg(self, e: Neg) -> str:
        s = self._print(e.arg)
        return "-" + (s if precedence(e.arg) > SUM else self.paren(s))

    def _print_Sum(self, e: Sum) -> str:
        parts = [self._term(e.terms[0])]
        for op, t in zip(e.ops, e.terms[1:]):
            parts.append(f" {op} {self._term(t, first=False)}")
        return "".join(parts)

    def _term(self, t: Expr, first: bool = True) -> str:
        s = self._print(t)
        if not first and isinstance(t, Neg):  # a + (-b), not a + -b
            return self.paren(s)
        return s if precedence(t) > SUM else self.paren(s)

    def _factor(self, f: Expr, first: bool) -> str:
        s = self._print(f)
        if first:
            return s if precedence(f) >= PROD else self.paren(s)
        return s if precedence(f) > PROD else self.paren(s)

    def _print_Product(self, e: Product) -> str:
        acc = self._factor(e.factors[0], True)
        prev = e.factors[0]
        for op, f in zip(e.ops, e.factors[1:]):
            if op == "/":
                acc = f"\\frac{{{acc}}}{{{self._print(f)}}}"
            else:
                numeric = isinstance(f, Number) or (isinstance(prev, Number) and _starts_with_digit(f))
                # a name that is also a head (h, p, inv) before a bracket would read as an application
                head = isinstance(prev, Name) and prev.text in ("h", "p", "inv") and precedence(f) <= PROD
                sep = " \\cdot " if numeric or head else " "
                acc = f"{acc}{sep}{self._factor(f, False)}"
            prev = f
        return acc

    def _print_Relation(self, e: Relation) -> str:
        parts = [self._print(e.items[0])]
        for op, item in zip(e.ops, e.items[1:]):
            parts.append(f" {self.relations[op]} {self._print(item)}")
        return "".join(parts)


def _starts_with_digit(e: Expr) -> bool:
    return isinstance(e, Number) or (isinstance(e, Product) and isinstance(e.factors[0], Number))


def tree_outline(e: Expr) -> str:
    """An indented outline of a tree (``infonotation parse --tree``)."""
    lines: list[str] = []
    stack: list[tuple[Expr, int, str]] = [(e, 0, "")]
    while stack:
        node, depth, label = stack.pop()
        kind = type(node).__name__
        if isinstance(node, Name):
            desc = f"Name {node.text}"
        elif isinstance(node, Number):
            desc = f"Number {node.value}"
        elif isinstance(node, Const):
            desc = f"Const {node.name}"
        elif isinstance(node, Term):
            desc = f"Term {node.head}{chr(39) * node.order}  {AsciiPrinter().doprint(node)}"
        elif isinstance(node, Prob):
            desc = f"Prob  {AsciiPrinter().doprint(node)}"
        elif isinstance(node, Func):
            desc = f"Func {node.name}"
        elif isinstance(node, (Sum, Product)):
            desc = f"{kind} {' '.join(node.ops)}"
        elif isinstance(node, Relation):
            desc = f"Relation {' '.join(node.ops)}"
        else:
            desc = kind
        lines.append("  " * depth + label + desc)
        if isinstance(node, (Term, Prob, Name, Number, Const)):
            continue
        for child in reversed(node.children()):
            stack.append((child, depth + 1, ""))
    return "\n".join(lines)

