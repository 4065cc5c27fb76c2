"""The syntax tree: immutable, hashable, comparable nodes.

Each node is a frozen dataclass. ``span`` (start and end offsets in the source text) and ``depth``
are carried along but ignored by ``==`` and ``hash``, so ``parse("H[ X | Y ]") == parse("H[X|Y]")``.

Sums and products are n-ary and left-associative (``a - b + c`` is one :class:`Sum`); a leading
child of the same kind is flattened into its parent, so ``(a + b) + c`` and ``a + b + c`` are the
same tree. The smart constructors :func:`sum_of` and :func:`product_of` also fold a leading
``number / number`` into one exact rational (``1/2`` and ``0.5`` are the same :class:`Number`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

__all__ = [
    "Expr",
    "Name",
    "Number",
    "Const",
    "Identity",
    "Term",
    "Prob",
    "Info",
    "Expectation",
    "Func",
    "Pow",
    "Transpose",
    "Neg",
    "Sum",
    "Product",
    "Relation",
    "sum_of",
    "product_of",
    "FUNCTIONS",
    "CONSTANTS",
    "RELATIONS",
    "LOGICAL_RELATIONS",
]

#: Matrix and scalar functions that take one argument (``inv`` is parsed as ``^-1``).
FUNCTIONS = ("logdet", "log", "det", "tr", "exp")
#: Named constants: pi, Euler's number and the Gaussian entropy constant ``C_k = k/2 log(2 pi e)``.
CONSTANTS = ("pi", "e", "C_k")
#: Relations, in their canonical ASCII spelling.
RELATIONS = ("=", "~=", "<=", ">=", "<", ">", "<~", ":=", "=>", "<=>")
#: Relations between statements rather than between expressions.
LOGICAL_RELATIONS = ("=>", "<=>")


@dataclass(frozen=True)
class Expr:
    """Base class of every node. ``str(e)`` is canonical ASCII that parses back to ``e``."""

    span: tuple[int, int] | None = field(default=None, compare=False, repr=False, kw_only=True)

    # -- traversal -------------------------------------------------------------------------
    def children(self) -> tuple[Expr, ...]:
        return ()

    def walk(self) -> Iterator[Expr]:
        """Every node of the tree, parents before children (iteratively)."""
        stack: list[Expr] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children()))

    def names(self) -> frozenset[Name]:
        """Every :class:`Name` that occurs in the tree."""
        return frozenset(n for n in self.walk() if isinstance(n, Name))

    @property
    def depth(self) -> int:
        best, stack = 0, [(self, 1)]
        while stack:
            node, d = stack.pop()
            best = max(best, d)
            stack.extend((c, d + 1) for c in node.children())
        return best

    # -- printing --------------------------------------------------------------------------
    def __str__(self) -> str:
        from .printing import AsciiPrinter

        return AsciiPrinter().doprint(self)

    def unicode(self) -> str:
        """Unicode rendering for the terminal; ``parse(e.unicode()) == e``."""
        from .printing import UnicodePrinter

        return UnicodePrinter().doprint(self)

    def latex(self) -> str:
        """LaTeX in the paper's style (``\\mathrm{H}[W \\mid Y, x]``)."""
        from .printing import LatexPrinter

        return LatexPrinter().doprint(self)

    def tree(self) -> str:
        """An indented outline of the tree, one node a line."""
        from .printing import tree_outline

        return tree_outline(self)

    def _repr_latex_(self) -> str:
        """Jupyter renders expressions and relations as LaTeX in the paper's style."""
        return f"${self.latex()}$"

    def to_sympy(self):
        """This expression as a sympy object (information terms as sympy functions, Hessians as ``MatrixSymbol``s,
        ``logdet`` as ``log(Determinant(.))``); ``infonotation.from_sympy`` reads it back."""
        from ..symbolic.sympy_form import to_sympy  # the one call into the symbolic layer, kept lazy

        return to_sympy(self)

    # -- arithmetic sugar, so programs can build trees ----------------------------------------
    def __add__(self, other: Expr) -> Expr:
        return sum_of([self, _coerce(other)], ["+"])

    def __sub__(self, other: Expr) -> Expr:
        return sum_of([self, _coerce(other)], ["-"])

    def __mul__(self, other: Expr) -> Expr:
        return product_of([self, _coerce(other)], ["*"])

    def __rmul__(self, other: object) -> Expr:
        return product_of([_coerce(other), self], ["*"])

    def __truediv__(self, other: Expr) -> Expr:
        return product_of([self, _coerce(other)], ["/"])

    def __matmul__(self, other: Expr) -> Expr:
        return product_of([self, _coerce(other)], ["@"])

    def __neg__(self) -> Expr:
        return Neg(self)


def _coerce(value: object) -> Expr:
    if isinstance(value, Expr):
        return value
    if isinstance(value, (int, Fraction)) and value >= 0:
        return Number(Fraction(value))
    if isinstance(value, (int, Fraction)):
        return Neg(Number(-Fraction(value)))
    raise TypeError(f"cannot use {value!r} in an expression")


@dataclass(frozen=True)
class Name(Expr):
    """A name: ``base``, an optional subscript, an optional ``*`` (point estimate).

    Upper case is a random variable, lower case an observed value (see ``resolve``).
    """

    base: str
    sub: str | None = None
    star: bool = False

    @property
    def text(self) -> str:
        return self.base + (f"_{self.sub}" if self.sub is not None else "") + ("*" if self.star else "")

    @property
    def upper(self) -> bool:
        return self.base[:1].isupper()

    def lower(self) -> Name:
        return Name(self.base[:1].lower() + self.base[1:], self.sub, self.star)

    def capital(self) -> Name:
        return Name(self.base[:1].upper() + self.base[1:], self.sub, False)


@dataclass(frozen=True)
class Number(Expr):
    """A non-negative exact rational. Negative numbers are ``Neg(Number(...))``."""

    value: Fraction

    def __post_init__(self) -> None:
        if not isinstance(self.value, Fraction):
            object.__setattr__(self, "value", Fraction(self.value))
        if self.value < 0:
            raise ValueError("Number holds non-negative values; wrap it in Neg")


@dataclass(frozen=True)
class Const(Expr):
    """``pi``, ``e`` or ``C_k`` (the entropy constant of a k-dimensional Gaussian)."""

    name: str


@dataclass(frozen=True)
class Identity(Expr):
    """``Id``, the identity matrix of whatever size its context needs."""


@dataclass(frozen=True)
class Term(Expr):
    """An entropy-family term ``H[...]`` or a mutual-information term ``I[...;...]``.

    ``order`` is the number of primes: 0 the quantity, 1 its gradient, 2 its Hessian with respect
    to the parameter. ``groups`` holds one group for ``H`` and two or more for ``I``.
    """

    head: str
    order: int
    groups: tuple[tuple[Name, ...], ...]
    given: tuple[Name, ...] = ()

    def __post_init__(self) -> None:
        if self.head not in ("H", "I") or self.order not in (0, 1, 2):
            raise ValueError(f"bad term head {self.head!r} of order {self.order}")
        if (self.head == "H") != (len(self.groups) == 1) or not all(self.groups):
            raise ValueError("H takes one non-empty group, I two or more")

    def children(self) -> tuple[Expr, ...]:
        return tuple(n for g in self.groups for n in g) + self.given


@dataclass(frozen=True)
class Prob(Expr):
    """A probability ``p(event | given)``."""

    event: tuple[Name, ...]
    given: tuple[Name, ...] = ()

    def children(self) -> tuple[Expr, ...]:
        return self.event + self.given


@dataclass(frozen=True)
class Info(Expr):
    """The information content ``h(p) = -log p``."""

    arg: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)


@dataclass(frozen=True)
class Expectation(Expr):
    """``E_{p(a|b)}[body]``: the expectation of ``body`` over the event of ``dist``."""

    dist: Prob
    body: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.dist, self.body)


@dataclass(frozen=True)
class Func(Expr):
    """``log``, ``det``, ``logdet``, ``tr`` or ``exp`` applied to one argument."""

    name: str
    arg: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)


@dataclass(frozen=True)
class Pow(Expr):
    """``base ^ exponent``; ``M^-1`` (and ``inv(M)``) is ``Pow(M, Neg(Number(1)))``."""

    base: Expr
    exponent: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.base, self.exponent)


@dataclass(frozen=True)
class Transpose(Expr):
    """``M^T``."""

    arg: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)


@dataclass(frozen=True)
class Neg(Expr):
    """``-arg``."""

    arg: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)


@dataclass(frozen=True)
class Sum(Expr):
    """``terms[0] ops[0] terms[1] ops[1] ...`` with each op ``+`` or ``-``."""

    terms: tuple[Expr, ...]
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        _flatten(self, Sum, "terms", ("+", "-"))

    def children(self) -> tuple[Expr, ...]:
        return self.terms


@dataclass(frozen=True)
class Product(Expr):
    """``factors[0] ops[0] factors[1] ...`` with each op ``*``, ``/`` or ``@`` (left to right)."""

    factors: tuple[Expr, ...]
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        _flatten(self, Product, "factors", ("*", "/", "@"))

    def children(self) -> tuple[Expr, ...]:
        return self.factors


def _flatten(node: Expr, kind: type, attr: str, allowed: tuple[str, ...]) -> None:
    items, ops = tuple(getattr(node, attr)), tuple(node.ops)  # type: ignore[attr-defined]
    if len(items) < 2 or len(ops) != len(items) - 1 or any(o not in allowed for o in ops):
        raise ValueError(f"{kind.__name__} needs n >= 2 operands and n - 1 operators from {allowed}")
    first = items[0]
    if isinstance(first, kind):  # left-associative: (a + b) + c is a + b + c
        items = getattr(first, attr) + items[1:]
        ops = first.ops + ops  # type: ignore[attr-defined]
    object.__setattr__(node, attr, items)
    object.__setattr__(node, "ops", ops)


@dataclass(frozen=True)
class Relation(Expr):
    """A relation or a chain of them: ``items[0] ops[0] items[1] ...``.

    ``=>`` and ``<=>`` separate statements: ``a = b => c = d`` is two statements.
    """

    items: tuple[Expr, ...]
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.items) < 2 or len(self.ops) != len(self.items) - 1:
            raise ValueError("a relation needs n >= 2 sides and n - 1 relation symbols")
        bad = [o for o in self.ops if o not in RELATIONS]
        if bad:
            raise ValueError(f"unknown relation {bad[0]!r}")

    def children(self) -> tuple[Expr, ...]:
        return self.items

    def steps(self) -> list[tuple[Expr, str, Expr]]:
        """The chain as ``(left, op, right)`` triples, logical connectives included."""
        return [(self.items[i], op, self.items[i + 1]) for i, op in enumerate(self.ops)]

    def statements(self) -> list[Relation | Expr]:
        """Split at ``=>``/``<=>``: each statement is a relation chain (or a lone expression)."""
        out: list[Relation | Expr] = []
        start = 0
        for i, op in enumerate(self.ops + ("=>",)):
            if op in LOGICAL_RELATIONS:
                items = self.items[start : i + 1]
                ops = self.ops[start:i]
                out.append(Relation(items, ops) if len(items) > 1 else items[0])
                start = i + 1
        return out


# -- smart constructors ----------------------------------------------------------------------
def sum_of(terms: list[Expr] | tuple[Expr, ...], ops: list[str] | tuple[str, ...]) -> Expr:
    """A :class:`Sum`, or the single term when there is only one."""
    terms = tuple(terms)
    if len(terms) == 1:
        return terms[0]
    return Sum(terms, tuple(ops))


def product_of(factors: list[Expr] | tuple[Expr, ...], ops: list[str] | tuple[str, ...]) -> Expr:
    """A :class:`Product` with a leading ``number / number`` folded into one :class:`Number`."""
    factors, ops = list(factors), list(ops)
    if factors and isinstance(factors[0], Product):  # left-associative flattening
        first = factors[0]
        factors = list(first.factors) + factors[1:]
        ops = list(first.ops) + ops
    while len(factors) >= 2 and ops[0] == "/" and isinstance(factors[0], Number) and isinstance(factors[1], Number):
        if factors[1].value == 0:
            break
        value = factors[0].value / factors[1].value
        if not fits(value):
            break  # keep huge quotients unfolded, so that they print as the literals they came from
        folded = Number(factors[0].value / factors[1].value, span=_join(factors[0].span, factors[1].span))
        factors[0:2] = [folded]
        ops.pop(0)
    if len(factors) == 1:
        return factors[0]
    return Product(tuple(factors), tuple(ops))


#: Longest number literal, in digits; a folded quotient must fit it too (so that it prints and parses back).
MAX_DIGITS = 300
_LIMIT = 10**MAX_DIGITS


def fits(value: Fraction) -> bool:
    """Whether a rational prints as ``p/q`` with literals the parser accepts."""
    return abs(value.numerator) < _LIMIT and value.denominator < _LIMIT


def _join(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    if a is None or b is None:
        return a or b
    return (min(a[0], b[0]), max(a[1], b[1]))
