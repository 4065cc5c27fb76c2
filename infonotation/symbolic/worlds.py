"""Explicit small worlds in which expressions have values: the ground the counterexamples stand on.

A :class:`FiniteWorld` is a discrete joint distribution over named variables with exact rational
probabilities, values for the observed names, the free random variables and the scalar symbols. It gives
every expression over ``H``, ``I``, ``p``, ``E``, ``log``, ``exp`` and arithmetic its value straight from the
semantics (spec/notation.md, section 3), either exactly (sympy: rationals and logarithms of rationals) or as a
float (for a quick search):

* ``H[S | T]`` is ``sum_u p(u | o) (-log p(s, t) + log p(t))`` over the values ``u`` of its upper-case names,
  with its lower-case names ``o`` held at their values;
* ``I[A; B | C] = H[A | C] - H[A | B, C]``, interaction information by the same definition, one group at a time;
* ``p(A | B)`` at the values of its names (an upper-case one outside a term is a free random variable with a
  value of its own); ``E_{p(a | b)}[f] = sum_a p(a | b) f``.

Matrices, Hessians and the constant ``C_k`` have no value here (:class:`NoValue`). Nothing in this module
decides identities: the checker does; a world only evaluates.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from fractions import Fraction

import sympy

from ..syntax.resolve import is_random, variable
from ..syntax.tree import (
    Const,
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
    Sum,
    Term,
    Transpose,
)
from .model import Model, is_parameter_part

__all__ = ["FiniteWorld", "NoValue", "Undefined", "random_world", "display_name", "variables_of"]


class NoValue(Exception):
    """The expression has no value in this kind of world (a matrix, a Hessian, ``C_k``)."""


class Undefined(Exception):
    """The expression is undefined here (``log`` of a non-positive number, a probability conditioned on zero)."""


def display_name(var: str) -> str:
    """The upper-case name a variable is shown under: ``y_1 -> Y_1``, ``w_L -> W_L``; data sets ``D`` stay, and a
    lower-case ``d`` (whose capital would be a data set's name) is shown as ``d``."""
    if var.startswith("D") or var.partition("_")[0] == "d":
        return var
    return var[:1].upper() + var[1:]


def _key(n: Name) -> tuple[str, str]:
    """How a name reads its value: ``(variable, tag)`` with tag ``o`` (observed), ``*`` or ``F`` (free random)."""
    return variable(n), ("F" if is_random(n) else "*" if n.star else "o")


def variables_of(exprs: list[Expr]) -> tuple[set[str], set[tuple[str, str]], set[str]]:
    """The variables, the value keys ``(variable, tag)`` outside averages, and the scalar symbols of ``exprs``."""
    vars_: set[str] = set()
    keys: set[tuple[str, str]] = set()
    symbols: set[str] = set()

    def visit(e: Expr, bound: frozenset[tuple[str, str]], inside_term: bool) -> None:
        if isinstance(e, Term):
            for n in [m for g in e.groups for m in g] + list(e.given):
                vars_.add(variable(n))
                if not is_random(n) and _key(n) not in bound:
                    keys.add(_key(n))
            return
        if isinstance(e, Prob):
            for n in e.event + e.given:
                vars_.add(variable(n))
                if _key(n) not in bound:
                    keys.add(_key(n))
            return
        if isinstance(e, Expectation):
            visit(e.dist, bound, inside_term)
            visit(e.body, bound | {_key(n) for n in e.dist.event}, inside_term)
            return
        if isinstance(e, Name):
            if e.upper and e.base != "D":
                raise NoValue(f"`{e.text}` is a matrix")
            symbols.add(e.text)
            return
        for c in e.children():
            visit(c, bound, inside_term)

    for e in exprs:
        visit(e, frozenset(), False)
    return vars_, keys, symbols


@dataclass
class FiniteWorld:
    """A discrete joint distribution with exact probabilities, and values for what the expressions leave open.

    ``order``: the variables (``"x"``, ``"y_1"``, ``"w"``, ``"w_L"``, ``"D"``); ``card``: how many values each
    takes (``0 .. card - 1``); ``joint``: value tuples (in ``order``) to probabilities summing to one;
    ``values``: ``(variable, tag) -> value`` for observed names (tag ``o``), the point estimate (``*``) and free
    random variables (``F``); ``symbols``: lower-case scalar names (``beta``) to rationals.
    """

    order: list[str]
    card: dict[str, int]
    joint: dict[tuple[int, ...], Fraction]
    values: dict[tuple[str, str], int] = field(default_factory=dict)
    symbols: dict[str, Fraction] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._axis = {v: i for i, v in enumerate(self.order)}
        self._marginals: dict[tuple[str, ...], dict[tuple[int, ...], Fraction]] = {}

    # -- probabilities ---------------------------------------------------------------------------------
    def marginal(self, vs: tuple[str, ...]) -> dict[tuple[int, ...], Fraction]:
        if vs not in self._marginals:
            idx = [self._axis[v] for v in vs]
            m: dict[tuple[int, ...], Fraction] = {}
            for assignment, p in self.joint.items():
                k = tuple(assignment[i] for i in idx)
                m[k] = m.get(k, Fraction(0)) + p
            self._marginals[vs] = m
        return self._marginals[vs]

    def prob(self, assignment: dict[str, int]) -> Fraction:
        """``p(assignment)``; two different values of one variable give 0."""
        vs = tuple(sorted(assignment))
        return self.marginal(vs).get(tuple(assignment[v] for v in vs), Fraction(0))

    # -- values ------------------------------------------------------------------------------------------
    def value(self, e: Expr, exact: bool = True):
        """The value of ``e``: a sympy expression (``exact``) or a float. Raises ``NoValue`` or ``Undefined``."""
        return _Evaluator(self, exact).value(e, dict(self.values))


class _Evaluator:
    def __init__(self, world: FiniteWorld, exact: bool):
        self.w = world
        self.exact = exact

    def num(self, q: Fraction):
        return sympy.Rational(q.numerator, q.denominator) if self.exact else q.numerator / q.denominator

    def log(self, q: Fraction):
        if q <= 0:
            raise Undefined("log of a non-positive probability")
        return sympy.log(sympy.Rational(q.numerator, q.denominator)) if self.exact else math.log(q)

    def log_value(self, x):
        if self.exact:
            if x.is_nonpositive or (x.is_number and float(x) <= 0):
                raise Undefined("log of a non-positive number")
            return sympy.log(x)
        if x <= 0:
            raise Undefined("log of a non-positive number")
        return math.log(x)

    def lookup(self, n: Name, env: dict) -> int:
        k = _key(n)
        if k not in env:
            raise NoValue(f"no value for `{n.text}`")
        return env[k]

    def term(self, t: Term, env: dict):
        if t.order > 0:
            raise NoValue("a derivative has no value in a finite world")
        if t.head == "I":
            g = t.groups
            if len(g) > 2:
                return self.term(Term("I", 0, g[:-1], t.given), env) - \
                    self.term(Term("I", 0, g[:-1], t.given + g[-1]), env)
            first = self.term(Term("H", 0, (g[0],), t.given), env)
            return first - self.term(Term("H", 0, (g[0],), g[1] + t.given), env)
        event, given = t.groups[0], t.given
        names = list(event) + list(given)
        random_vars = sorted({variable(n) for n in names if is_random(n)})
        fixed = {variable(n): self.lookup(n, env) for n in names if not is_random(n)}
        p_fixed = self.w.prob(fixed) if fixed else Fraction(1)
        if p_fixed == 0:
            raise Undefined("a term conditioned on values of probability zero")
        total = self.num(Fraction(0))
        ev = {variable(n) for n in event}
        gv = {variable(n) for n in given}
        for vals in itertools.product(*(range(self.w.card[v]) for v in random_vars)):
            full = dict(fixed)
            full.update(zip(random_vars, vals))
            weight = self.w.prob(full) / p_fixed
            if weight == 0:
                continue
            both = self.w.prob({v: full[v] for v in ev | gv})
            cond = self.w.prob({v: full[v] for v in gv}) if gv else Fraction(1)
            total = total + self.num(weight) * (self.log(cond) - self.log(both))
        return total

    def prob(self, p: Prob, env: dict):
        a = {variable(n): self.lookup(n, env) for n in p.event}
        b = {variable(n): self.lookup(n, env) for n in p.given}
        for v in set(a) & set(b):
            if a[v] != b[v]:
                return self.num(Fraction(0))
        pb = self.w.prob(b) if b else Fraction(1)
        if pb == 0:
            raise Undefined("a probability conditioned on values of probability zero")
        return self.num(self.w.prob({**b, **a}) / pb)

    def expectation(self, e: Expectation, env: dict):
        bound = sorted({variable(n) for n in e.dist.event})
        b = {variable(n): self.lookup(n, env) for n in e.dist.given}
        pb = self.w.prob(b) if b else Fraction(1)
        if pb == 0:
            raise Undefined("an expectation conditioned on values of probability zero")
        total = self.num(Fraction(0))
        for vals in itertools.product(*(range(self.w.card[v]) for v in bound)):
            weight = self.w.prob({**b, **dict(zip(bound, vals))}) / pb
            if weight == 0:
                continue
            inner = dict(env)
            for n in e.dist.event:
                inner[_key(n)] = dict(zip(bound, vals))[variable(n)]
            total = total + self.num(weight) * self.value(e.body, inner)
        return total

    def value(self, e: Expr, env: dict):
        if isinstance(e, Number):
            return self.num(e.value)
        if isinstance(e, Const):
            if e.name == "pi":
                return sympy.pi if self.exact else math.pi
            if e.name == "e":
                return sympy.E if self.exact else math.e
            raise NoValue("C_k depends on the parameter's dimension")
        if isinstance(e, Name):
            if e.upper and e.base != "D":
                raise NoValue(f"`{e.text}` is a matrix")
            if e.text not in self.w.symbols:
                raise NoValue(f"no value for `{e.text}`")
            return self.num(self.w.symbols[e.text])
        if isinstance(e, Term):
            return self.term(e, env)
        if isinstance(e, Prob):
            return self.prob(e, env)
        if isinstance(e, Info):
            return -self.log_value(self.value(e.arg, env))
        if isinstance(e, Expectation):
            return self.expectation(e, env)
        if isinstance(e, Neg):
            return -self.value(e.arg, env)
        if isinstance(e, Sum):
            acc = self.value(e.terms[0], env)
            for op, t in zip(e.ops, e.terms[1:]):
                v = self.value(t, env)
                acc = acc + v if op == "+" else acc - v
            return acc
        if isinstance(e, Product):
            acc = self.value(e.factors[0], env)
            for op, f in zip(e.ops, e.factors[1:]):
                v = self.value(f, env)
                if op == "/":
                    if v == 0:
                        raise Undefined("division by zero")
                    acc = acc / v
                else:
                    acc = acc * v
            return acc
        if isinstance(e, Pow):
            base, ex = self.value(e.base, env), self.value(e.exponent, env)
            if base == 0 and ex <= 0:
                raise Undefined("a non-positive power of zero")
            if (base < 0) and not (sympy.Integer(ex) == ex if self.exact else float(ex).is_integer()):
                raise Undefined("a fractional power of a negative number")
            if not self.exact and abs(float(ex)) > 1000:
                raise NoValue("a huge power")
            return base ** ex
        if isinstance(e, Transpose):
            return self.value(e.arg, env)
        if isinstance(e, Func):
            v = self.value(e.arg, env)
            if e.name in ("log", "logdet"):
                return self.log_value(v)
            if e.name == "exp":
                if not self.exact and v > 700:
                    raise NoValue("exp overflows a float")
                return sympy.exp(v) if self.exact else math.exp(v)
            if e.name in ("det", "tr"):
                return v  # of a scalar
        raise NoValue(f"no value for {type(e).__name__} in a finite world")


def random_world(vars_: set[str], keys: set[tuple[str, str]], symbols: set[str], model: Model | None, card: int,
                 seed: int) -> FiniteWorld:
    """A random world over ``vars_`` (closed under the model's parents): small-denominator CPTs that factorise as
    the model says (no model: a full joint), a part of the parameter a function of the whole (``w_L = w mod 2``)."""
    r = random.Random(seed)
    parameter = model.parameter if model is not None else "w"
    names = set(vars_)
    if model is not None:
        for v in list(names):
            if model.known(v):
                names |= model.ancestors(v)
    parts = sorted(v for v in names if is_parameter_part(v, parameter))
    if parts:
        names.add(parameter)
    if model is not None:
        known = [v for v in names if model.known(v)]
        order = model.order(known) + sorted(v for v in names if not model.known(v))
    else:
        order = sorted(names, key=lambda v: (v in parts, v))
    cards = {v: card for v in order}
    if parts:
        cards[parameter] = max(card, 4)
        for p in parts:
            cards[p] = 2
    cpts = []
    for i, v in enumerate(order):
        if v in parts:
            cpts.append(([order.index(parameter)], None))  # deterministic: v = w mod 2
            continue
        pa = model.parents(v) if model is not None else None
        pa_list = [p for p in pa] if pa is not None else [p for p in order[:i] if p not in parts]
        table = {}
        for pv in itertools.product(*(range(cards[p]) for p in pa_list)):
            ws = [r.randint(1, 4) for _ in range(cards[v])]
            table[pv] = [Fraction(x, sum(ws)) for x in ws]
        cpts.append(([order.index(p) for p in pa_list], table))
    joint: dict[tuple[int, ...], Fraction] = {}
    for assignment in itertools.product(*(range(cards[v]) for v in order)):
        p = Fraction(1)
        for i, (idx, table) in enumerate(cpts):
            if table is None:
                p *= 1 if assignment[i] == assignment[idx[0]] % 2 else 0
            else:
                p *= table[tuple(assignment[j] for j in idx)][assignment[i]]
            if p == 0:
                break
        if p:
            joint[assignment] = p
    values: dict[tuple[str, str], int] = {}
    for var, tag in sorted(keys):
        taken = {values[(var, t)] for t in ("o", "*", "F") if (var, t) in values}
        choices = [c for c in range(cards[var]) if c not in taken] or list(range(cards[var]))
        values[(var, tag)] = r.choice(choices)
    for (var, tag) in list(values):  # a part of the point estimate is the part of that point: w_L* = w* mod 2
        if var in parts and (parameter, tag) in values:
            values[(var, tag)] = values[(parameter, tag)] % 2
    syms = {s: Fraction(r.randint(1, 5), r.randint(1, 3)) for s in sorted(symbols)}
    return FiniteWorld(order, cards, joint, values, syms)
