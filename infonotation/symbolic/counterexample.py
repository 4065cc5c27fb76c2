"""Counterexamples: a small explicit distribution on which the two sides of a refuted statement differ.

``find_counterexample(left, right, model)`` searches small random worlds (two, then three values per variable;
probabilities with small denominators, factorising as the model says) for one where the sides differ, and
returns a :class:`Counterexample` with both sides' exact values (sympy: rationals and logarithms of them).
Statements with derivatives or matrices get a :class:`~infonotation.symbolic.smooth.ParameterCounterexample`
(a tiny explicit model with a real parameter) where one can be built.

The search only *illustrates* a refutation the checker has already made; it decides nothing.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from fractions import Fraction

import sympy

from ..syntax.parser import parse
from ..syntax.tree import Expr, Term
from .model import Model
from .worlds import FiniteWorld, NoValue, Undefined, display_name, random_world, variables_of

__all__ = ["Counterexample", "find_counterexample"]

#: Worlds tried per number of values before giving up, and the seconds the search may take.
TRIES = 40
BUDGET = 3.0


def _observed_name(var: str, tag: str) -> str:
    if tag == "F":
        return display_name(var)
    return var + ("*" if tag == "*" else "")


@dataclass(frozen=True)
class Counterexample:
    """A distribution on which ``lhs_value != rhs_value``.

    ``variables``: each random variable's upper-case name (``X``, ``Y_1``, ``W``) to its values; ``observed``: each
    lower-case name of the statement (``y``, ``x_1``, ``w*``) to its value (a free random variable of a
    probability, such as the ``Y`` of ``p(Y|x)``, appears under its upper-case name with the value at which the
    sides differ); ``symbols``: scalar names (``beta``) to numbers; ``joint``: value tuples, in the order of
    ``variables``, to exact probabilities summing to one; ``lhs_value``/``rhs_value``: both sides, exact.
    ``evaluate(text)`` gives any other expression's value on the same distribution.
    """

    variables: dict[str, list[int]]
    observed: dict[str, int]
    joint: dict[tuple[int, ...], Fraction]
    lhs_value: sympy.Expr
    rhs_value: sympy.Expr
    symbols: dict[str, Fraction] = field(default_factory=dict)
    statement: str = ""
    world: FiniteWorld | None = field(default=None, repr=False, compare=False)

    def evaluate(self, text: str | Expr) -> sympy.Expr:
        """The exact value of another expression on this distribution (names must be the counterexample's)."""
        from ..errors import NotationError
        from ..syntax.resolve import resolve

        e = parse(text) if isinstance(text, str) else text
        resolve(e)
        try:
            return _simplify(self.world.value(e, exact=True))
        except (NoValue, Undefined) as err:
            raise NotationError(f"`{e}` has no value on this counterexample: {err}") from None

    def table(self) -> str:
        """The distribution and both sides, as plain text."""
        names = list(self.variables)
        lines = []
        if self.observed:
            lines.append("observed: " + ", ".join(f"{k} = {v}" for k, v in self.observed.items()))
        if self.symbols:
            lines.append("symbols: " + ", ".join(f"{k} = {v}" for k, v in self.symbols.items()))
        width = max([len(n) for n in names] + [1])
        lines.append("  ".join(n.rjust(width) for n in names) + "  p")
        for values, p in sorted(self.joint.items()):
            lines.append("  ".join(str(v).rjust(width) for v in values) + f"  {p}")
        lines.append(f"left side  = {self.lhs_value} = {float(self.lhs_value):.6g}")
        lines.append(f"right side = {self.rhs_value} = {float(self.rhs_value):.6g}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def _repr_markdown_(self) -> str:
        names = list(self.variables)
        out = []
        if self.observed or self.symbols:
            values = [f"`{k}` = {v}" for k, v in {**self.observed, **self.symbols}.items()]
            out.append("Observed: " + ", ".join(values) + "\n")
        out.append("| " + " | ".join(f"`{n}`" for n in names) + " | p |")
        out.append("|" + "---|" * (len(names) + 1))
        for values, p in sorted(self.joint.items()):
            out.append("| " + " | ".join(str(v) for v in values) + f" | {p} |")
        out.append(f"\nLeft side: ${sympy.latex(self.lhs_value)}$ ≈ {float(self.lhs_value):.6g}; "
                   f"right side: ${sympy.latex(self.rhs_value)}$ ≈ {float(self.rhs_value):.6g}.")
        return "\n".join(out)


def _simplify(v) -> sympy.Expr:
    v = sympy.sympify(v)
    return sympy.expand_log(v, force=True)


def _differ(a, b) -> bool:
    d = sympy.N(sympy.sympify(a) - sympy.sympify(b), 40)
    return bool(abs(d) > sympy.Float("1e-25"))


def _from_world(world: FiniteWorld, left: Expr, right: Expr, lhs, rhs) -> Counterexample:
    variables = {display_name(v): list(range(world.card[v])) for v in world.order}
    observed = {_observed_name(var, tag): val for (var, tag), val in sorted(world.values.items())}
    return Counterexample(variables, observed, dict(sorted(world.joint.items())), lhs, rhs, dict(world.symbols),
                          f"{left} = {right}", world)


def find_counterexample(left: Expr, right: Expr, model: Model | None):
    """A small distribution (or explicit parametric model) on which ``left != right``, or None."""
    if any(isinstance(n, Term) and n.order > 0 for e in (left, right) for n in e.walk()):
        from .smooth import find_parameter_counterexample

        return find_parameter_counterexample(left, right, model)
    try:
        vars_, keys, symbols = variables_of([left, right])
    except NoValue:
        return None
    deadline = time.perf_counter() + BUDGET
    for card, seed in itertools.product((2, 3), range(TRIES)):
        if time.perf_counter() > deadline:
            return None
        world = random_world(vars_, keys, symbols, model, card, seed)
        try:
            a, b = world.value(left, exact=False), world.value(right, exact=False)
        except (Undefined, OverflowError, ZeroDivisionError):
            continue
        except NoValue:
            return None
        if abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b)):
            continue
        try:
            lhs, rhs = _simplify(world.value(left)), _simplify(world.value(right))
        except (Undefined, NoValue):
            continue
        if _differ(lhs, rhs):
            return _from_world(world, left, right, lhs, rhs)
    return None
