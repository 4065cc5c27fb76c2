"""Small rewrite combinators on syntax trees (in the manner of ``sympy.strategies``).

A rule is a plain function ``node -> node | None``. :func:`map_tree` applies one bottom-up to every
node; :func:`linear_form` and :func:`simplify` put scalar sums into a tidy normal form (like terms
collected with exact rational coefficients, constants pulled out of expectations).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fractions import Fraction

from ..syntax.tree import (
    Expectation,
    Expr,
    Func,
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
    product_of,
    sum_of,
)

__all__ = ["map_tree", "rebuild", "linear_form", "from_linear", "simplify", "mentions"]

Rule = Callable[[Expr], "Expr | None"]


def rebuild(node: Expr, children: list[Expr]) -> Expr:
    """``node`` with its children replaced (same order as ``node.children()``)."""
    if isinstance(node, Sum):
        return sum_of(children, node.ops)
    if isinstance(node, Product):
        return product_of(children, node.ops)
    if isinstance(node, Neg):
        return Neg(children[0])
    if isinstance(node, Func):
        return Func(node.name, children[0])
    if isinstance(node, Pow):
        return Pow(children[0], children[1])
    if isinstance(node, Transpose):
        return Transpose(children[0])
    if isinstance(node, Info):
        return Info(children[0])
    if isinstance(node, Expectation):
        return Expectation(node.dist, children[1])
    if isinstance(node, Relation):
        return Relation(tuple(children), node.ops)
    return node  # leaves and terms are rewritten whole


def map_tree(e: Expr, rule: Rule) -> Expr:
    """Apply ``rule`` bottom-up to every node (a rule returning None leaves the node alone)."""
    kids = e.children()
    if kids and not isinstance(e, Term) and not isinstance(e, Name):
        new = [map_tree(c, rule) for c in kids]
        if isinstance(e, Expectation):
            new[0] = e.dist
        if any(a is not b for a, b in zip(new, kids)):
            e = rebuild(e, new)
    out = rule(e)
    return e if out is None else out


def mentions(e: Expr, bound: Iterable[Name]) -> bool:
    """Whether ``e`` uses one of the observed values ``bound`` (lower-case names, compared whole).

    Binding goes by the whole name: ``E_{p(w)}`` binds ``w`` but not ``w*``, ``E_{p(y)}`` not ``y_1``; and
    ``E_{p(y|x)}[H''[Y|x,w*]]`` does not mention the bound ``y``: its ``Y`` is averaged inside the term.
    """
    names = {Name(n.base, n.sub, n.star) for n in bound}
    return any(isinstance(n, Name) and Name(n.base, n.sub, n.star) in names for n in e.walk())


def linear_form(e: Expr) -> list[tuple[Fraction, Expr]]:
    """``e`` as ``[(coefficient, term)]`` with numbers collected under the term ``Number(1)``."""
    out: list[tuple[Fraction, Expr]] = []

    def go(x: Expr, c: Fraction) -> None:
        if isinstance(x, Sum):
            go(x.terms[0], c)
            for op, t in zip(x.ops, x.terms[1:]):
                go(t, c if op == "+" else -c)
        elif isinstance(x, Neg):
            go(x.arg, -c)
        elif isinstance(x, Number):
            out.append((c * x.value, Number(Fraction(1))))
        elif isinstance(x, Product) and isinstance(x.factors[0], Number) and all(o == "*" for o in x.ops[:1]):
            rest = product_of(list(x.factors[1:]), list(x.ops[1:])) if len(x.factors) > 2 else x.factors[1]
            if len(x.factors) > 2 and x.ops[1] != "*":
                out.append((c, x))
                return
            go(rest, c * x.factors[0].value)
        else:
            out.append((c, x))

    go(e, Fraction(1))
    return out


def from_linear(items: list[tuple[Fraction, Expr]]) -> Expr:
    """Rebuild a sum from ``[(coefficient, term)]``, collecting like terms, dropping zeros."""
    collected: dict[Expr, Fraction] = {}
    order: list[Expr] = []
    for c, t in items:
        if t not in collected:
            collected[t] = Fraction(0)
            order.append(t)
        collected[t] += c
    terms: list[Expr] = []
    ops: list[str] = []
    for t in order:
        c = collected[t]
        if c == 0:
            continue
        mag = abs(c)
        if t == Number(Fraction(1)):
            piece: Expr = Number(mag)
        elif mag == 1:
            piece = t
        else:
            piece = product_of([Number(mag), t], ["*"])
        if not terms:
            terms.append(Neg(piece) if c < 0 else piece)
        else:
            terms.append(piece)
            ops.append("-" if c < 0 else "+")
    if not terms:
        return Number(Fraction(0))
    return sum_of(terms, ops)


def _simplify_expectation(e: Expr) -> Expr | None:
    if not isinstance(e, Expectation):
        return None
    bound = e.dist.event
    unused = [n for n in bound if not mentions(e.body, [n])]
    if unused and len(unused) < len(bound):  # E_{p(a, b|c)}[f(a)] = E_{p(a|c)}[f(a)]: b is summed out
        kept = tuple(n for n in bound if n not in unused)
        return Expectation(Prob(kept, e.dist.given), e.body)
    inside, outside = [], []
    for c, t in linear_form(e.body):
        (inside if mentions(t, bound) else outside).append((c, t))
    if not outside:
        if len(inside) == 1 and inside[0][0] != 1:  # E[c f] = c E[f]
            c, t = inside[0]
            return from_linear([(c, Expectation(e.dist, t))])
        return None
    if inside:
        outside.append((Fraction(1), Expectation(e.dist, from_linear(inside))))
    return from_linear(outside)


def _simplify_sum(e: Expr) -> Expr | None:
    if not isinstance(e, (Sum, Neg, Product)):
        return None
    items = linear_form(e)
    if len(items) == 1 and items[0][1] is e:
        return None
    out = from_linear(items)
    return None if out == e else out


def simplify(e: Expr) -> Expr:
    """Collect like terms, fold numbers, pull constants out of expectations (all exact)."""
    prev = None
    while prev != e:
        prev = e
        e = map_tree(e, _simplify_expectation)
        e = map_tree(e, _simplify_sum)
    return e

