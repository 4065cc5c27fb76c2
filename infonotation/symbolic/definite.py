"""Which matrix expressions are positive (semi-)definite, read off their syntax: the preconditions of the bounds.

Conservative judgements (``True`` only with a reason that holds for every model the notation describes):

* positive definite: the prior's and posterior's Hessians ``H''[w*]``, ``H''[w*|D]`` (a Gaussian prior and a
  Laplace posterior at its mode, the paper's setting), ``c * Id`` and ``lambda * Id`` (``c > 0``; ``lambda``
  is a prior precision, positive), inverses and expectations of positive-definite matrices, and sums of a
  positive-definite matrix with positive semi-definite ones (non-negative coefficients);
* positive semi-definite: everything positive definite, the Fisher information ``H''[Y|x,w*]`` (an
  expectation over the outputs, written upper case), Gram and outer products ``G^T @ G``, ``G @ G^T``,
  ``G @ S @ G^T`` and ``G^T @ S @ G`` with ``S`` positive semi-definite, and non-negative sums of these.

Observed information ``H''[y|x,w*]`` and ``H''[D|w*]`` (a data set is observed) are neither: away from a mode
they can be indefinite.
"""

from __future__ import annotations

from fractions import Fraction

from ..syntax.resolve import is_random
from ..syntax.tree import Expectation, Expr, Identity, Name, Number, Pow, Product, Term, Transpose
from .rewrite import linear_form

__all__ = ["positive_definite", "positive_semidefinite", "POSITIVE_NAMES"]

#: Lower-case names that denote positive numbers by convention (the prior precision).
POSITIVE_NAMES = frozenset({"lambda"})


def _positive_scalar(e: Expr) -> bool:
    return (isinstance(e, Number) and e.value > 0) or (isinstance(e, Name) and e.text in POSITIVE_NAMES)


def _atom(e: Expr, strict: bool) -> bool:
    """One term of a sum (coefficient removed)."""
    if isinstance(e, Expectation):
        return _combination(e.body, strict)
    if isinstance(e, Term):
        if e.head != "H" or e.order != 2:
            return False
        event = e.groups[0]
        if len(event) == 1 and event[0].star:
            return True  # H''[w*], H''[w*|D]: prior and posterior precision
        # a Fisher information (every output averaged, written upper case) is semi-definite; a data set D is
        # observed: H''[D|w*] is observed information, which need not be
        return not strict and all(is_random(n) for n in event)
    if isinstance(e, Identity):
        return True
    if isinstance(e, Pow):
        minus_one = linear_form(e.exponent) == [(Fraction(-1), Number(Fraction(1)))]
        return minus_one and _combination(e.base, True)
    if isinstance(e, Product):
        factors, ops = list(e.factors), list(e.ops)
        if all(o == "*" for o in ops[:1]) and _positive_scalar(factors[0]):
            rest = factors[1:]
            if len(rest) == 1:
                return _combination(rest[0], strict)
            return _atom(Product(tuple(rest), tuple(ops[1:])), strict)
        if strict or not set(ops) <= {"@", "*"}:
            return False
        first, last = factors[0], factors[-1]
        middle = factors[1:-1]
        outer = last == Transpose(first) or first == Transpose(last)
        if not outer:
            return False
        if not middle:
            return True
        inner = middle[0] if len(middle) == 1 else Product(tuple(middle), tuple(ops[1:-1]))
        return _combination(inner, False)
    return False


def _combination(e: Expr, strict: bool) -> bool:
    items = linear_form(e)
    if not items or any(c < 0 for c, _ in items):
        return False
    if any(t == Number(Fraction(1)) for _, t in items):
        return False  # a matrix plus a scalar is not a matrix
    if strict:
        return any(_atom(t, True) for _, t in items) and all(_atom(t, False) for _, t in items)
    return all(_atom(t, False) for _, t in items)


def positive_definite(e: Expr) -> bool:
    """``e`` is positive definite for every model of the notation (a sufficient, syntactic test)."""
    return _combination(e, True)


def positive_semidefinite(e: Expr) -> bool:
    """``e`` is positive semi-definite for every model of the notation (a sufficient, syntactic test)."""
    return _combination(e, False)
