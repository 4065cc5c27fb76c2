"""Expressions as sympy objects and back, for users who continue by hand.

``to_sympy(expr)`` maps the notation onto sympy:

* information terms are applications of sympy functions named by their head, the groups separated by the
  symbols ``;`` and ``|``: ``H[Y|x]`` is ``H(Y, |, x)``, ``I[W;Y|x]`` is ``I(W, ;, Y, |, x)``; a probability
  ``p(y|x)`` is ``p(y, |, x)``; an expectation of a scalar ``E(p(y, |, x), body)``;
* gradients and Hessians are matrix symbols named by their text, ``H''[w*]`` a ``P x P`` ``MatrixSymbol``
  (``P`` the parameter's size, ``P_L`` a part's, ``N_B`` a batch's rows), ``H'[y|x,w*]`` a ``1 x P`` one; capital
  names are matrix symbols of the shapes the checker infers; ``Id`` is ``Identity`` of the size it meets;
* ``logdet(M)`` is ``log(Determinant(M))``, ``tr`` ``Trace``, ``M^-1`` ``Inverse``, ``M^T`` ``Transpose``,
  ``@`` ``MatMul``; numbers are exact ``Rational``; ``pi``, ``e`` are sympy's; ``C_k`` a symbol.

``from_sympy(obj)`` reads back what ``to_sympy`` produced (and sympy's rewrites of it), so
``equivalent(from_sympy(to_sympy(e)), e)`` holds.

sympy does not serve as the canonical form of information terms (spec/notation.md, section 3): an entropy's
meaning depends on which of its names are averaged and which are held fixed, which sympy's algebra knows
nothing about, so sympy is used for exact values and for this hand-over, not for deciding identities.
"""

from __future__ import annotations

from fractions import Fraction

import sympy

from ..errors import NotationError
from ..syntax.parser import parse
from ..syntax.tree import (
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
    Sum,
    Term,
    Transpose,
    product_of,
    sum_of,
)

__all__ = ["to_sympy", "from_sympy"]

_SEMI, _BAR = sympy.Symbol(";"), sympy.Symbol("|")
_HEADS = {f"{h}{chr(39) * o}" for h in ("H", "I") for o in (0, 1, 2)}


def _dim(label: str) -> sympy.Symbol:
    return sympy.Symbol(label, positive=True, integer=True)


def _names(names: tuple[Name, ...]) -> list[sympy.Symbol]:
    return [sympy.Symbol(n.text) for n in names]


def _term_args(t: Term) -> list[sympy.Symbol]:
    args: list[sympy.Symbol] = []
    for i, g in enumerate(t.groups):
        if i:
            args.append(_SEMI)
        args += _names(g)
    if t.given:
        args += [_BAR] + _names(t.given)
    return args


class _ToSympy:
    def __init__(self, shapes) -> None:
        self.shapes = shapes

    def dim(self, d) -> object:
        """A dimension of the checker's shape inference as a sympy size: 1, ``P``, ``P_L``, ``N_B`` or ``n_k``."""
        root = d.find()
        if root.label == "1":
            return 1
        if root.label is None:
            return _dim(f"n_{root.serial}")
        kind, _, var = root.label.partition(":")
        if kind == "P":
            return _dim("P" if var == "w" else "P_" + var.partition("_")[2])
        return _dim(f"N_{var.partition('_')[2] or var}")

    def size(self, e: Expr) -> tuple:
        r, c, _ = self.shapes.nodes[id(e)]
        return self.dim(r), self.dim(c)

    def matrix_name(self, e: Name):
        return sympy.MatrixSymbol(e.text, *self.size(e))

    def convert(self, e: Expr):
        if isinstance(e, Number):
            return sympy.Rational(e.value.numerator, e.value.denominator)
        if isinstance(e, Const):
            return {"pi": sympy.pi, "e": sympy.E}.get(e.name, sympy.Symbol("C_k"))
        if isinstance(e, Name):
            return self.matrix_name(e) if e.upper and e.base != "D" else sympy.Symbol(e.text)
        if isinstance(e, Identity):
            return sympy.Identity(self.size(e)[0])
        if isinstance(e, Term):
            if e.order == 0:
                return sympy.Function(e.head)(*_term_args(e))
            return sympy.MatrixSymbol(str(e), *self.size(e))
        if isinstance(e, Prob):
            return sympy.Function("p")(*(_names(e.event) + ([_BAR] + _names(e.given) if e.given else [])))
        if isinstance(e, Info):
            return -sympy.log(self.convert(e.arg), evaluate=False)
        if isinstance(e, Expectation):
            body = self.convert(e.body)
            if isinstance(body, (sympy.MatrixBase, sympy.MatrixExpr)):
                rows, cols = body.shape
                return sympy.MatrixSymbol(str(e), rows, cols)
            return sympy.Function("E")(self.convert(e.dist), body)
        if isinstance(e, Neg):
            return -self.convert(e.arg)
        if isinstance(e, Sum):
            parts = [self.convert(t) for t in e.terms]
            acc = parts[0]
            for op, p in zip(e.ops, parts[1:]):
                acc = acc + p if op == "+" else acc - p
            return acc
        if isinstance(e, Product):
            parts = [self.convert(f) for f in e.factors]
            acc = parts[0]
            for op, p in zip(e.ops, parts[1:]):
                if op == "/":
                    acc = acc / p
                elif _is_matrix(acc) and _is_matrix(p):
                    acc = sympy.MatMul(acc, p)
                else:
                    acc = acc * p
            return acc
        if isinstance(e, Pow):
            base, ex = self.convert(e.base), self.convert(e.exponent)
            if _is_matrix(base):
                return sympy.Inverse(base) if ex == -1 else sympy.MatPow(base, ex)
            return sympy.Pow(base, ex, evaluate=False)
        if isinstance(e, Transpose):
            v = self.convert(e.arg)
            return sympy.Transpose(v) if _is_matrix(v) else v
        if isinstance(e, Func):
            v = self.convert(e.arg)
            if e.name == "log":
                return sympy.log(v, evaluate=False)
            if e.name == "exp":
                return sympy.exp(v, evaluate=False)
            if e.name == "tr":
                return sympy.Trace(v) if _is_matrix(v) else v
            if e.name == "det":
                return sympy.Determinant(v) if _is_matrix(v) else v
            return sympy.log(sympy.Determinant(v) if _is_matrix(v) else v, evaluate=False)
        raise NotationError(f"no sympy form for {type(e).__name__}")


def _is_matrix(v) -> bool:
    return isinstance(v, (sympy.MatrixBase, sympy.MatrixExpr))


def to_sympy(e: Expr):
    """``e`` as a sympy expression (scalars) or matrix expression (see the module's docstring); the sizes are the
    checker's shape inference (:mod:`~infonotation.symbolic.shapes`), so ``Id`` gets the size it meets."""
    from .shapes import infer_shapes

    return _ToSympy(infer_shapes([e])).convert(e)


# -- back ------------------------------------------------------------------------------------------------
def _split(args: tuple) -> tuple[list[list[Name]], list[Name]]:
    groups: list[list[Name]] = [[]]
    given: list[Name] = []
    target = groups[0]
    for a in args:
        if a == _SEMI:
            groups.append([])
            target = groups[-1]
        elif a == _BAR:
            target = given
        else:
            n = parse(str(a))
            if not isinstance(n, Name):
                raise NotationError(f"`{a}` is not a name")
            target.append(n)
    return groups, given


def _number(q) -> Expr:
    f = Fraction(int(q.p), int(q.q))
    return Number(f) if f >= 0 else Neg(Number(-f))


def from_sympy(s) -> Expr:
    """The expression a sympy object made by :func:`to_sympy` stands for."""
    if isinstance(s, sympy.Rational):
        return _number(s)
    if s is sympy.pi:
        return Const("pi")
    if s is sympy.E:
        return Const("e")
    if isinstance(s, sympy.Symbol):
        return Const("C_k") if s.name == "C_k" else parse(s.name)
    if isinstance(s, sympy.MatrixSymbol):
        return parse(s.name)
    if isinstance(s, sympy.Identity):
        return Identity()
    if isinstance(s, sympy.ZeroMatrix):
        return Number(Fraction(0))
    if isinstance(s, sympy.Determinant):
        return Func("det", from_sympy(s.arg))
    if isinstance(s, sympy.Trace):
        return Func("tr", from_sympy(s.arg))
    if isinstance(s, sympy.Inverse):
        return Pow(from_sympy(s.arg), Neg(Number(Fraction(1))))
    if isinstance(s, sympy.Transpose):
        return Transpose(from_sympy(s.arg))
    if isinstance(s, sympy.MatPow):
        return Pow(from_sympy(s.base), from_sympy(s.exp))
    if isinstance(s, sympy.log):
        arg = s.args[0]
        if isinstance(arg, sympy.Determinant):
            return Func("logdet", from_sympy(arg.arg))
        return Func("log", from_sympy(arg))
    if isinstance(s, sympy.exp):
        return Func("exp", from_sympy(s.args[0]))
    if isinstance(s, sympy.core.function.AppliedUndef):
        name = s.func.__name__
        if name in _HEADS:
            groups, given = _split(s.args)
            return Term(name[0], len(name) - 1, tuple(tuple(g) for g in groups), tuple(given))
        if name == "p":
            groups, given = _split(s.args)
            return Prob(tuple(groups[0]), tuple(given))
        if name == "E" and len(s.args) == 2:
            dist = from_sympy(s.args[0])
            if not isinstance(dist, Prob):
                raise NotationError(f"`{s}`: the expectation's distribution is not a probability")
            return Expectation(dist, from_sympy(s.args[1]))
        raise NotationError(f"`{s}` is not a function infonotation made")
    if isinstance(s, (sympy.Add, sympy.MatAdd)):
        terms = [from_sympy(a) for a in s.args]
        return sum_of(terms, ["+"] * (len(terms) - 1))
    if isinstance(s, sympy.MatMul):
        factors = [from_sympy(a) for a in s.args]
        ops, left = [], isinstance(s.args[0], sympy.MatrixExpr)
        for a in s.args[1:]:  # @ between two matrices, * when a scalar scales
            right = isinstance(a, sympy.MatrixExpr)
            ops.append("@" if left and right else "*")
            left = left or right
        return product_of(factors, ops)
    if isinstance(s, sympy.Mul):
        factors = [from_sympy(a) for a in s.args]
        return product_of(factors, ["*"] * (len(factors) - 1))
    if isinstance(s, sympy.Pow):
        return Pow(from_sympy(s.base), from_sympy(s.exp))
    if isinstance(s, sympy.Integer):
        return _number(s)
    raise NotationError(f"`{s}` ({type(s).__name__}) has no form in the notation")
