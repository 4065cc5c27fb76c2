"""Counterexamples with a real parameter: a tiny explicit model in which derivative statements have values.

A :class:`ParametricWorld` has a parameter ``w`` in ``R^k`` (``k`` = 1 or 2) with a Gaussian prior, discrete
inputs and outputs with small tables, and outputs that depend on ``w`` through a softmax of logits
``a . w + b + c |w|^2`` (the squared term makes the likelihood non-linear in ``w``, so observed and Fisher
information differ; a GLM model drops it). With no model, the prior's mean depends on the inputs too. Every
density is a sympy expression in ``w``, so gradients and Hessians are exact symbolic derivatives; an
expression's value is read off at the point estimate ``w*`` (and at ``w`` when it also appears), to 30
significant digits.

Only what needs no integral over the parameter has a value: terms and probabilities that name a value of
the parameter, or whose variables do not depend on it. Parts of the parameter (``w_L``) are left out.
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass, field

import sympy

from ..syntax.parser import parse
from ..syntax.resolve import is_random, variable
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
)
from .model import Model, is_parameter_part
from .worlds import NoValue, Undefined, display_name

__all__ = ["ParametricWorld", "ParameterCounterexample", "find_parameter_counterexample", "BUDGET"]

#: Seconds the search for a parametric counterexample may take before it gives up.
BUDGET = 3.0


class _Eye:
    """``c * Id`` of the size it meets."""

    def __init__(self, c):
        self.c = c


@dataclass
class ParametricWorld:
    """A parameter ``w`` in ``R^k`` and discrete variables; ``log_terms`` holds ``log p(d | w)`` (no model: with the
    input-dependent part of the prior) for every discrete tuple, ``log_prior`` is ``log p(w)``'s Gaussian part."""

    k: int
    order: list[str]  # discrete variables
    card: dict[str, int]
    w: tuple  # the sympy symbols of the parameter
    log_terms: dict[tuple[int, ...], sympy.Expr]  # discrete values -> log p(d | w) (a function of w)
    log_prior: sympy.Expr  # log p(w) (no model: may depend on inputs, folded into log_terms)
    points: dict[str, tuple] = field(default_factory=dict)  # "*" -> w*, "o" -> w
    values: dict[tuple[str, str], int] = field(default_factory=dict)
    symbols: dict[str, sympy.Rational] = field(default_factory=dict)
    description: str = ""

    def log_p(self, fixed: dict[str, int]) -> sympy.Expr:
        """``log p(w, fixed)`` as a function of ``w`` (the other discrete variables summed out)."""
        free = [v for v in self.order if v not in fixed]
        terms = []
        for vals in itertools.product(*(range(self.card[v]) for v in free)):
            full = dict(fixed)
            full.update(zip(free, vals))
            terms.append(self.log_terms[tuple(full[v] for v in self.order)])
        return self.log_prior + (terms[0] if len(terms) == 1 else sympy.log(sum(sympy.exp(t) for t in terms)))

    def value(self, e: Expr):
        return _Evaluator(self).value(e, dict(self.values))


class _Evaluator:
    def __init__(self, world: ParametricWorld):
        self.wd = world

    def at(self, expr, tag: str):
        """``expr`` at the parameter value ``tag`` (``*`` or ``o``), to 30 significant digits."""
        return sympy.N(expr.subs(dict(zip(self.wd.w, self.wd.points[tag]))), 30)

    def depends(self, vars_: set[str]) -> bool:
        """Whether the joint law of these discrete variables involves the parameter (then it needs an integral)."""
        marg = self.wd.log_p({}) - self.wd.log_prior
        return bool(vars_) and any(s in marg.free_symbols for s in self.wd.w)

    def lookup(self, n: Name, env: dict) -> int:
        k = (variable(n), "F" if is_random(n) else "*" if n.star else "o")
        if k not in env:
            raise NoValue(f"no value for `{n.text}`")
        return env[k]

    def term(self, t: Term, env: dict):
        if t.head == "I":
            g = t.groups
            if len(g) > 2:
                return self.sub(self.term(Term("I", t.order, g[:-1], t.given), env),
                                self.term(Term("I", t.order, g[:-1], t.given + g[-1]), env))
            return self.sub(self.term(Term("H", t.order, (g[0],), t.given), env),
                            self.term(Term("H", t.order, (g[0],), g[1] + t.given), env))
        names = list(t.groups[0]) + list(t.given)
        if any(is_parameter_part(variable(n)) for n in names):
            raise NoValue("a part of the parameter")
        point = [n for n in names if variable(n) == "w"]
        if any(is_random(n) for n in point):
            raise NoValue("an average over the parameter needs an integral")
        tag = ("*" if point[0].star else "o") if point else None
        disc = [n for n in names if variable(n) != "w"]
        rand = sorted({variable(n) for n in disc if is_random(n)})
        fixed = {variable(n): self.lookup(n, env) for n in disc if not is_random(n)}
        ev = {variable(n) for n in t.groups[0] if variable(n) != "w"}
        gv = {variable(n) for n in t.given if variable(n) != "w"}
        w_in_given = any(variable(n) == "w" for n in t.given)
        zero = dict(zip(self.wd.w, [0] * self.wd.k))
        if tag is None:
            if t.order > 0:
                return _Eye(0)  # no parameter in the term: its derivative is zero
            if self.depends(set(rand) | set(fixed)):
                raise NoValue("a probability that needs an integral over the parameter")
        total = None
        for vals in itertools.product(*(range(self.wd.card[v]) for v in rand)):
            full = dict(fixed)
            full.update(zip(rand, vals))
            if tag is None:  # no parameter anywhere, and nothing here depends on it
                joint = (self.wd.log_p(full) - self.wd.log_prior).subs(zero)
                cond = (self.wd.log_p(fixed) - self.wd.log_prior).subs(zero) if fixed else 0
                both = (self.wd.log_p({v: full[v] for v in ev | gv}) - self.wd.log_prior).subs(zero)
                given = (self.wd.log_p({v: full[v] for v in gv}) - self.wd.log_prior).subs(zero) if gv else 0
                weight = sympy.exp(joint - cond)
                total = (given - both) * weight if total is None else total + (given - both) * weight
                continue
            # the weights p(u | o, w) at the term's parameter value, held fixed there
            weight = sympy.exp(self.at(self.wd.log_p(full) - self.wd.log_p(fixed), tag))
            integrand = -self.wd.log_p({v: full[v] for v in ev | gv})  # -log p(w, s, t): w is in the term
            if w_in_given:
                integrand += self.wd.log_p({v: full[v] for v in gv})
            elif gv:
                if t.order == 0:
                    raise NoValue("a probability that needs an integral over the parameter")
                # log p(t) does not depend on w: its derivatives vanish
            if t.order == 0:
                v = self.at(integrand, tag)
            elif t.order == 1:
                v = sympy.Matrix([[self.at(sympy.diff(integrand, s), tag) for s in self.wd.w]])
            else:
                v = sympy.Matrix([[self.at(sympy.diff(integrand, a, b), tag) for b in self.wd.w] for a in self.wd.w])
            total = v * weight if total is None else total + v * weight
        return total

    def sub(self, a, b):
        return self.add(a, self.scale(b, -1))

    def scale(self, a, c):
        return _Eye(a.c * c) if isinstance(a, _Eye) else a * c

    def add(self, a, b):
        if isinstance(a, _Eye) and isinstance(b, _Eye):
            return _Eye(a.c + b.c)
        if isinstance(a, _Eye):
            a, b = b, a
        if isinstance(b, _Eye):
            return a + b.c * (sympy.eye(a.shape[0]) if isinstance(a, sympy.MatrixBase) else 1)
        return a + b

    def mul(self, a, b):
        if isinstance(a, _Eye):
            return _Eye(a.c * b.c) if isinstance(b, _Eye) else b * a.c
        if isinstance(b, _Eye):
            return a * b.c
        return a * b

    def value(self, e: Expr, env: dict):
        if isinstance(e, Number):
            return sympy.Rational(e.value.numerator, e.value.denominator)
        if isinstance(e, Const):
            return {"pi": sympy.pi, "e": sympy.E}.get(e.name, sympy.Rational(self.wd.k, 2) *
                                                       sympy.log(2 * sympy.pi * sympy.E))
        if isinstance(e, Identity):
            return _Eye(1)
        if isinstance(e, Name):
            if e.upper and e.base != "D":
                raise NoValue(f"`{e.text}` is a matrix")
            if e.text not in self.wd.symbols:
                raise NoValue(f"no value for `{e.text}`")
            return self.wd.symbols[e.text]
        if isinstance(e, Term):
            return self.term(e, env)
        if isinstance(e, Prob):
            names = list(e.event) + list(e.given)
            point = [n for n in names if variable(n) == "w"]
            if any(is_random(n) for n in point) or any(is_parameter_part(variable(n)) for n in names):
                raise NoValue("a density of the parameter")
            a = {variable(n): self.lookup(n, env) for n in e.event if variable(n) != "w"}
            b = {variable(n): self.lookup(n, env) for n in e.given if variable(n) != "w"}
            if point and any(variable(n) == "w" for n in e.event):
                raise NoValue("a density of the parameter")
            if point:
                tag = "*" if point[0].star else "o"
                return sympy.exp(self.at(self.wd.log_p({**b, **a}) - self.wd.log_p(b), tag))
            if self.depends(set(a) | set(b)):
                raise NoValue("a probability that needs an integral over the parameter")
            zero = dict(zip(self.wd.w, [0] * self.wd.k))
            return sympy.exp((self.wd.log_p({**b, **a}) - self.wd.log_p(b)).subs(zero))
        if isinstance(e, Info):
            return -sympy.log(self.value(e.arg, env))
        if isinstance(e, Expectation):
            raise NoValue("an expectation in a parametric counterexample")
        if isinstance(e, Neg):
            return self.scale(self.value(e.arg, env), -1)
        if isinstance(e, Sum):
            acc = self.value(e.terms[0], env)
            for op, t in zip(e.ops, e.terms[1:]):
                v = self.value(t, env)
                acc = self.add(acc, v) if op == "+" else self.sub(acc, v)
            return acc
        if isinstance(e, Product):
            acc = self.value(e.factors[0], env)
            for op, f in zip(e.ops, e.factors[1:]):
                v = self.value(f, env)
                acc = self.mul(acc, 1 / v) if op == "/" else self.mul(acc, v)
            return acc
        if isinstance(e, Pow):
            base, ex = self.value(e.base, env), self.value(e.exponent, env)
            if isinstance(base, _Eye):
                return _Eye(base.c ** ex)
            if isinstance(base, sympy.MatrixBase):
                if base.det() == 0 and ex < 0:
                    raise Undefined("the inverse of a singular matrix")
                return base ** int(ex)
            return base ** ex
        if isinstance(e, Transpose):
            v = self.value(e.arg, env)
            return v.T if isinstance(v, sympy.MatrixBase) else v
        if isinstance(e, Func):
            v = self.value(e.arg, env)
            if isinstance(v, _Eye):
                raise NoValue("a function of Id of undetermined size")
            if isinstance(v, sympy.MatrixBase):
                if e.name == "tr":
                    return v.trace()
                d = v.det()
                if e.name == "det":
                    return d
                if e.name == "logdet":
                    if sympy.N(d) <= 0:
                        raise Undefined("logdet of a matrix with a non-positive determinant")
                    return sympy.log(d)
                raise NoValue(f"{e.name} of a matrix")
            if e.name in ("log", "logdet"):
                if sympy.N(v) <= 0:
                    raise Undefined("log of a non-positive number")
                return sympy.log(v)
            if e.name == "exp":
                return sympy.exp(v)
            return v
        raise NoValue(f"no value for {type(e).__name__}")


def _world(names: set[str], keys: set[tuple[str, str]], symbols: set[str], model: Model | None, k: int, seed: int,
           glm: bool) -> ParametricWorld:
    r = random.Random(seed)
    w = sympy.symbols(f"w_1:{k + 1}", real=True)
    order = sorted(n for n in names if n != "w")
    card = {v: 2 for v in order}
    inputs = [v for v in order if v.partition("_")[0] == "x"]

    def half() -> sympy.Rational:
        return sympy.Rational(r.randint(-4, 4), 2)

    diag = [sympy.Rational(r.randint(2, 6), 2) for _ in range(k)]
    precision = sympy.diag(*diag)
    if k == 2:
        precision[0, 1] = precision[1, 0] = sympy.Rational(r.choice((-1, 1)), 2)
    wv = sympy.Matrix(w)
    prior = -(wv.T * precision * wv)[0, 0] / 2 + sympy.log(precision.det()) / 2 - sympy.Rational(k, 2) * sympy.log(
        2 * sympy.pi)
    log_terms: dict[tuple[int, ...], sympy.Expr] = {}
    tables: dict[str, dict] = {}
    lines = [f"w in R^{k} with prior N(0, A^-1), precision A = {precision.tolist()}" if model is not None else
             f"w in R^{k}; given the inputs, w ~ N(m, A^-1) with A = {precision.tolist()} and m depending on the "
             "inputs"]
    for v in order:
        base = v.partition("_")[0]
        if base in ("y", "D") or (model is None and base not in ("x",)) or (model is not None and not model.known(v)):
            a = [[half() for _ in range(k)] for _ in range(2)]
            b = [half() for _ in range(2)]
            c = [0, 0] if glm else [sympy.Rational(r.randint(1, 3), 2) * r.choice((-1, 1)) for _ in range(2)]
            tables[v] = {"a": a, "b": b, "c": c}
            lines.append(f"p({v} | ..., w) = softmax_{v}(a . w + b + c |w|^2) with a = {a}, b = {b}, c = {c}")
        else:
            ps = [r.randint(1, 4) for _ in range(2)]
            tables[v] = {"p": [sympy.Rational(p, sum(ps)) for p in ps]}
            lines.append(f"p({v}) = {tables[v]['p']}")
    shift = {x: [half() for _ in range(k)] for x in inputs} if model is None else {}
    # the inputs each variable depends on: its parents under the model, every input without one
    feeds = {v: [x for x in inputs if x != v and (model is None or model.parents(v) is None or x in model.parents(v))]
             for v in order}
    if model is None:  # no model: every variable may also depend on the ones before it
        feeds = {v: [u for u in order[:i]] + [x for x in inputs if x not in order[:i] and x != v]
                 for i, v in enumerate(order)}
    if shift:
        lines[0] += f", m = sum over the inputs x of x * {shift}"
    for v in order:
        if feeds[v] and "a" in tables[v]:
            lines.append(f"  (the logit of {v} = 1 also adds 1/2 for each of {', '.join(feeds[v])} that is 1)")
    for vals in itertools.product(*(range(2) for _ in order)):
        assign = dict(zip(order, vals))
        total = sympy.Integer(0)
        mean = [sum((shift[x][i] * assign[x] for x in inputs), sympy.Integer(0)) for i in range(k)] if shift else None
        if mean is not None:  # no model: the prior's mean depends on the inputs
            mv = sympy.Matrix(mean)
            total += (wv.T * precision * mv)[0, 0] - (mv.T * precision * mv)[0, 0] / 2
        for v in order:
            t = tables[v]
            if "p" in t:
                total += sympy.log(t["p"][assign[v]])
                continue
            logits = [sum(ai * s for ai, s in zip(t["a"][y], w)) + t["b"][y] + t["c"][y] * sum(s ** 2 for s in w)
                      + sum(sympy.Rational(assign[x], 2) * y for x in feeds[v]) for y in range(2)]
            total += logits[assign[v]] - sympy.log(sympy.exp(logits[0]) + sympy.exp(logits[1]))
        log_terms[vals] = total
    points = {"*": tuple(sympy.Rational(r.choice((-2, -1, 1, 2)), 2) for _ in range(k)),
              "o": tuple(sympy.Rational(r.choice((-3, 3)), 2) for _ in range(k))}
    values = {}
    for var, tag in sorted(keys):
        if var != "w":
            values[(var, tag)] = r.randint(0, 1)
    syms = {s: sympy.Rational(r.randint(1, 5), r.randint(1, 3)) for s in sorted(symbols)}
    return ParametricWorld(k, order, card, w, log_terms, prior, points, values, syms, "\n".join(lines))


@dataclass(frozen=True)
class ParameterCounterexample:
    """An explicit model with a real parameter on which the two sides of a derivative statement differ.

    ``variables``: the discrete variables' values and ``"W"`` (``R^k``); ``observed``: the observed values and the
    points ``w*`` (and ``w``); ``model``: the densities in words; ``lhs_value``, ``rhs_value``: both sides (sympy,
    exact; matrices for matrix statements). ``evaluate(text)`` evaluates another expression in the same model.
    """

    variables: dict[str, object]
    observed: dict[str, object]
    model: str
    lhs_value: object
    rhs_value: object
    statement: str = ""
    world: ParametricWorld | None = field(default=None, repr=False, compare=False)

    @property
    def joint(self) -> dict:
        """``log p(w, d)`` for every discrete tuple, as sympy expressions in the parameter (prior included)."""
        if not self.world:
            return {}
        return {k: self.world.log_prior + v for k, v in self.world.log_terms.items()}

    def evaluate(self, text: str | Expr):
        from ..errors import NotationError

        e = parse(text) if isinstance(text, str) else text
        try:
            return self.world.value(e)
        except (NoValue, Undefined) as err:
            raise NotationError(f"`{e}` has no value in this model: {err}") from None

    def table(self) -> str:
        lines = [self.model, "observed: " + ", ".join(f"{k} = {v}" for k, v in self.observed.items())]
        lines.append(f"left side  = {_show(self.lhs_value)}")
        lines.append(f"right side = {_show(self.rhs_value)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def _repr_markdown_(self) -> str:
        return "```\n" + self.table() + "\n```"


def _show(v) -> str:
    if isinstance(v, sympy.MatrixBase):
        return str(v.evalf(6).tolist())
    return f"{sympy.N(v, 6)}"


def _numbers(v):
    if isinstance(v, _Eye):
        return None
    if isinstance(v, sympy.MatrixBase):
        return [complex(sympy.N(x, 30)) for x in v]
    return [complex(sympy.N(v, 30))]


def _differ(a, b) -> bool:
    if isinstance(a, _Eye) and isinstance(b, _Eye):
        return a.c != b.c
    if isinstance(a, _Eye):
        a, b = b, a
    if isinstance(b, _Eye):
        b = b.c * (sympy.eye(a.shape[0]) if isinstance(a, sympy.MatrixBase) else 1)
    na, nb = _numbers(a), _numbers(b)
    if na is None or nb is None or len(na) != len(nb):
        return True
    return any(abs(x - y) > 1e-12 * max(1.0, abs(x), abs(y)) for x, y in zip(na, nb))


def find_parameter_counterexample(left: Expr, right: Expr, model: Model | None):
    """A tiny parametric model on which ``left != right`` (derivative statements), or None."""
    from .worlds import variables_of

    try:
        names, keys, symbols = variables_of([left, right])
    except NoValue:
        return None
    if any(is_parameter_part(v) for v in names):
        return None
    glm = model is not None and model.likelihood is not None and model.linear
    deadline = time.perf_counter() + BUDGET
    for seed, k in itertools.product(range(6), (1, 2)):
        if time.perf_counter() > deadline:
            return None
        world = _world(names, keys, symbols, model, k, seed, glm)
        try:
            a, b = world.value(left), world.value(right)
            if not _differ(a, b):
                continue
        except Undefined:
            continue
        except (NoValue, TypeError, ValueError, ZeroDivisionError):
            return None
        variables = {display_name(v): [0, 1] for v in world.order}
        variables["W"] = f"R^{k}"
        observed = {(display_name(v) if t == "F" else v + ("*" if t == "*" else "")): val
                    for (v, t), val in world.values.items()}
        observed["w*"] = tuple(world.points["*"])
        if ("w", "o") in keys:
            observed["w"] = tuple(world.points["o"])
        return ParameterCounterexample(variables, observed, world.description, a, b, f"{left} = {right}", world)
    return None
