"""An exact-enumeration oracle for the notation, written independently of the symbolic engine.

It gives every expression the identity checker accepts a number (or a matrix) on an explicit random
distribution, straight from the semantics in spec/notation.md sections 3, 4 and 7:

* ``H[S | T]`` is ``E_{p(U | o)}[-log p(S | T)]`` with ``U`` the upper-case names of the term and ``o``
  its lower-case ones (values held fixed); ``-log p(S | T) = -log p(S u T) + log p(T)``;
* ``I[A; B | C] := H[A | C] - H[A | B, C]`` (each term with its own context), and
  ``I[A; B; C | D] := I[A; B | D] - I[A; B | C, D]``;
* ``E_{p(a | b)}[f]`` sums ``f`` over the values of the lower-case names ``a`` with weights ``p(a | b)``;
* ``p(A | B)`` is a probability, ``h(p) = -log p``;
* ``H'[...]``/``H''[...]`` are the gradient/Hessian in the parameter ``w`` of the integrand
  ``-log p(S | T)`` at the parameter value of the term (``w*``), the expectation's weights held at that
  value; an integrand without the parameter has derivative 0.

Two kinds of world:

* :class:`DiscreteWorld`: every variable discrete (2-3 values, the parameter ``w`` has ``K`` values); with
  ``model=False`` a random full joint table over the variables that occur, with ``model=True`` a random
  Bayesian network of the default model ``p(y_s | x_s, w) p(x_s) p(w)``, ``p(D | w)``, unknown names
  children of everything else.
* :class:`SmoothWorld`: the parameter ``w`` in ``R^k`` with a Gaussian prior, the other variables discrete
  with ``p(v | pa(v), w) = softmax(A w + b + c tanh(G w))`` (``glm=True`` drops the non-linear part, which
  makes observed and Fisher information equal); Hessians by ``torch.autograd.functional.hessian`` in float64.
  Quantities that need ``p(...)`` integrated over ``w`` raise :class:`Unsupported`.

Nothing here imports from ``infonotation.symbolic``; only the syntax tree classes are used.

    from enumeration import DiscreteWorld, SmoothWorld, evaluate, truth
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Iterable

import numpy as np
import torch

import infonotation as inf
from infonotation.syntax.tree import (
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

__all__ = ["Unsupported", "DiscreteWorld", "SmoothWorld", "evaluate", "truth", "make_world", "sides",
           "var_of", "close"]

Value = float | np.ndarray


class Unsupported(Exception):
    """The oracle cannot give this expression a value in this world."""


# -- names -----------------------------------------------------------------------------------------
def var_of(n: Name) -> str:
    """The variable of a name: ``Y_1``, ``y_1`` -> ``y_1``; ``D_train`` stays; ``w*`` -> ``w``."""
    base = n.base if n.base == "D" else n.base[:1].lower() + n.base[1:]
    return base + (f"_{n.sub}" if n.sub is not None else "")


def is_rand(n: Name) -> bool:
    return n.base[:1].isupper() and n.base != "D" and not n.star


def key_of(n: Name) -> tuple[str, str]:
    """The key of an observed value: ``w`` and ``w*`` are two values of one variable."""
    return var_of(n), ("*" if n.star else "o")


def _prob_names(e: Expr) -> Iterable[Name]:
    for node in e.walk():
        if isinstance(node, Term):
            yield from (m for g in node.groups for m in g)
            yield from node.given
        elif isinstance(node, Prob):
            yield from node.event
            yield from node.given


def model_parents(v: str) -> tuple[str, ...] | None:
    """Parents in the default model, or None for a name the model does not know."""
    base, _, sub = v.partition("_")
    if v == "w" or base == "x":
        return ()
    if base == "y":
        return (f"x_{sub}" if sub else "x", "w")
    if base == "D":
        return ("w",)
    return None


def _closure(vs: set[str], model: bool) -> list[str]:
    out = set(vs)
    if model:
        todo = list(vs)
        while todo:
            v = todo.pop()
            for p in model_parents(v) or ():
                if p not in out:
                    out.add(p)
                    todo.append(p)
    rank = {"w": 0, "x": 1, "y": 2, "D": 3}

    def order(v: str) -> tuple:
        base = v.partition("_")[0]
        known = model and model_parents(v) is not None
        return (rank.get(base, 4) if known else 5, v)

    return sorted(out, key=order)


def close(a: Value, b: Value, rtol: float = 1e-8, atol: float = 1e-9) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        if a.ndim == 0 and not np.any(a):
            return not np.any(np.abs(b) > atol)
        if b.ndim == 0 and not np.any(b):
            return not np.any(np.abs(a) > atol)
        return False
    return bool(np.allclose(a, b, rtol=rtol, atol=atol))


# -- worlds ----------------------------------------------------------------------------------------
class _World:
    k: int
    rng: np.random.Generator
    env: dict[tuple[str, str], object]
    card: dict[str, int]

    def symbol(self, n: Name) -> Value:
        """A free name outside any term (``A``, ``M``, ``lambda``): a random matrix or a positive scalar."""
        r = np.random.default_rng(zlib.crc32(n.text.encode()) + 7919 * self.seed)
        if n.base[:1].isupper():
            return r.normal(size=(self.k, self.k))
        return float(r.uniform(0.3, 2.0))

    def values(self, vs: list[str]) -> list[tuple[int, ...]]:
        return list(itertools.product(*(range(self.card[v]) for v in vs)))


class DiscreteWorld(_World):
    """A random discrete joint distribution over the variables of ``exprs``."""

    def __init__(self, exprs: Iterable[Expr], *, model: bool, seed: int, K: int = 3):
        exprs = list(exprs)
        self.seed, self.k, self.model = seed, 3, model
        self.rng = rng = np.random.default_rng(seed)
        names = [n for e in exprs for n in _prob_names(e)]
        self.vars = _closure({var_of(n) for n in names}, model)
        self.card = {v: (K if v == "w" else int(rng.integers(2, 4))) for v in self.vars}
        self.axis = {v: i for i, v in enumerate(self.vars)}
        shape = tuple(self.card[v] for v in self.vars)
        if not model:
            table = rng.uniform(0.05, 1.0, size=shape)
        else:
            table = np.ones(shape)
            for i, v in enumerate(self.vars):
                pa = model_parents(v)
                pa = list(pa) if pa is not None else self.vars[:i]  # unknown: depends on everything before
                cpt = rng.uniform(0.05, 1.0, size=tuple(self.card[p] for p in pa) + (self.card[v],))
                cpt /= cpt.sum(-1, keepdims=True)
                idx = [self.axis[p] for p in pa] + [i]
                view = [1] * len(self.vars)
                perm = np.argsort(idx)
                cpt = np.transpose(cpt, perm)
                for a, s in zip(sorted(idx), cpt.shape):
                    view[a] = s
                table = table * cpt.reshape(view)
        self.table = table / table.sum()
        self._marg: dict[tuple[str, ...], np.ndarray] = {}
        # fixed observed values; w and w* get different values
        self.env = {}
        for n in sorted({key_of(n) for n in names if not is_rand(n)}):
            v, tag = n
            taken = {self.env[(v, t)] for t in ("o", "*") if (v, t) in self.env}
            choices = [c for c in range(self.card[v]) if c not in taken] or list(range(self.card[v]))
            self.env[n] = int(rng.choice(choices))

    def marginal(self, vs: tuple[str, ...]) -> np.ndarray:
        if vs not in self._marg:
            keep = sorted(self.axis[v] for v in vs)
            drop = tuple(a for a in range(len(self.vars)) if a not in keep)
            m = self.table.sum(axis=drop) if drop else self.table
            order = [keep.index(self.axis[v]) for v in vs]
            self._marg[vs] = np.transpose(m, order)
        return self._marg[vs]

    def log_p(self, vs: set[str], fixed: dict[str, int], rand: list[str]) -> np.ndarray:
        """``log p(V)`` with the observed members of ``V`` at ``fixed``, as an array over ``rand``."""
        if not vs:
            return np.zeros([1] * len(rand))
        order = tuple(sorted(vs))
        m = self.marginal(order)
        m = m[tuple(fixed[v] if v in fixed else slice(None) for v in order)]
        free = [v for v in order if v not in fixed]
        m = np.transpose(m, [free.index(v) for v in rand if v in free]) if free else m
        shape = [self.card[v] if v in vs else 1 for v in rand]
        return np.log(np.reshape(m, shape))

    def term_value(self, t: Term, env: dict) -> Value:
        if t.order > 0:
            raise Unsupported("derivatives need a SmoothWorld")
        fixed, rand, ev, gv = _split(t, env)
        weights = np.exp(self.log_p(set(rand) | set(fixed), fixed, rand))
        weights = weights / weights.sum()
        integrand = -(self.log_p(ev | gv, fixed, rand) - self.log_p(gv, fixed, rand))
        return float(np.sum(weights * integrand))

    def prob_value(self, p: Prob, env: dict) -> float:
        fixed = _fixed(p.event + p.given, env)
        ev, gv = {var_of(n) for n in p.event}, {var_of(n) for n in p.given}
        return float(np.exp(self.log_p(ev | gv, fixed, []) - self.log_p(gv, fixed, [])))

    def weights(self, dist: Prob, env: dict) -> list[tuple[dict, float]]:
        a = sorted({var_of(n) for n in dist.event})
        fixed = _fixed(dist.given, env)
        w = np.exp(self.log_p(set(a) | set(fixed), fixed, a))
        w = w / w.sum()
        return [(dict(zip(a, vals)), float(w[vals])) for vals in self.values(a)]


class SmoothWorld(_World):
    """A continuous parameter ``w`` in ``R^k`` (Gaussian prior) and discrete other variables."""

    def __init__(self, exprs: Iterable[Expr], *, model: bool, seed: int, k: int | None = None, glm: bool = False):
        k = 2 + seed % 2 if k is None else k
        exprs = list(exprs)
        self.seed, self.k, self.model, self.glm = seed, k, model, glm
        self.rng = rng = np.random.default_rng(seed)
        names = [n for e in exprs for n in _prob_names(e)]
        allv = _closure({var_of(n) for n in names} | {"w"}, model)
        self.vars = [v for v in allv if v != "w"]  # the discrete ones
        self.card = {v: int(rng.integers(2, 4)) for v in self.vars}
        self.axis = {v: i for i, v in enumerate(self.vars)}
        b = rng.normal(size=(k, k))
        self.prior_prec = torch.tensor(b @ b.T + 0.5 * np.eye(k), dtype=torch.float64)
        self.prior_mean = torch.tensor(rng.normal(size=k), dtype=torch.float64)
        self.cpts = []
        self.uses_w: dict[str, bool] = {}
        for i, v in enumerate(self.vars):
            pa = model_parents(v) if model else None
            if pa is None:  # unknown name, or no model: depends on every earlier variable and on w
                dpa, uses_w = self.vars[:i], True
            else:
                dpa, uses_w = [p for p in pa if p != "w"], "w" in pa
            shape = tuple(self.card[p] for p in dpa) + (self.card[v],)
            a, b0, c, g = (torch.tensor(rng.normal(size=shape + s), dtype=torch.float64)
                           for s in ((k,), (), (), (k,)))
            self.uses_w[v] = uses_w
            if not uses_w:
                a, c = a * 0, c * 0
            if glm:
                c = c * 0
            self.cpts.append((v, dpa, a, b0, 0.7 * c, g))
        self.env = {}
        for key in sorted({key_of(n) for n in names if not is_rand(n)}):
            v, tag = key
            if v == "w":
                self.env[key] = torch.tensor(rng.normal(size=k), dtype=torch.float64)
            else:
                taken = {self.env[(v, t)] for t in ("o", "*") if (v, t) in self.env}
                choices = [c for c in range(self.card[v]) if c not in taken] or list(range(self.card[v]))
                self.env[key] = int(rng.choice(choices))

    # log p(d | w) over all discrete variables, a function of w
    def log_joint(self, w: torch.Tensor) -> torch.Tensor:
        n = len(self.vars)
        total = torch.zeros([self.card[v] for v in self.vars], dtype=torch.float64)
        for i, (_v, dpa, a, b0, c, g) in enumerate(self.cpts):
            logits = a @ w + b0 + c * torch.tanh(g @ w)
            logp = torch.log_softmax(logits, dim=-1)
            idx = [self.axis[p] for p in dpa] + [i]
            perm = sorted(range(len(idx)), key=lambda j: idx[j])
            logp = logp.permute(perm)
            view = [1] * n
            for ax, s in zip(sorted(idx), logp.shape):
                view[ax] = s
            total = total + logp.reshape(view)
        return total

    def log_prior(self, w: torch.Tensor) -> torch.Tensor:
        d = w - self.prior_mean
        return -0.5 * d @ self.prior_prec @ d + 0.5 * torch.logdet(self.prior_prec) - self.k / 2 * math.log(2 * math.pi)

    def _depends_on_w(self, vs: set[str]) -> bool:
        return any(self.uses_w[v] for v in vs)

    def log_p(self, vs: set[str], fixed: dict, rand: list[str], w: torch.Tensor | None) -> torch.Tensor:
        """``log p(V)`` (``V`` may contain ``w``, then ``w`` is the value ``w``) as a tensor over ``rand``."""
        disc = sorted(vs - {"w"})
        if "w" in vs:
            lj = self.log_joint(w)
            out = self.log_prior(w)
        else:
            if disc and self._depends_on_w(set(disc)):
                raise Unsupported(f"p({', '.join(disc)}) needs an integral over the parameter")
            lj = self.log_joint(torch.zeros(self.k, dtype=torch.float64))
            out = torch.zeros((), dtype=torch.float64)
        drop = [self.axis[v] for v in self.vars if v not in disc]
        m = torch.logsumexp(lj, dim=drop) if drop else lj  # remaining axes in self.vars order
        order = [v for v in self.vars if v in disc]
        m = m[tuple(fixed[v] if v in fixed else slice(None) for v in order)]
        free = [v for v in order if v not in fixed]
        if free:
            m = m.permute([free.index(v) for v in rand if v in free])
        shape = [self.card[v] if v in disc else 1 for v in rand]
        return out + m.reshape(shape)

    def term_value(self, t: Term, env: dict) -> Value:
        fixed, rand, ev, gv = _split(t, env)
        if "w" in rand:
            raise Unsupported("an average over the continuous parameter")
        w0 = fixed.pop("w", None)

        def integrand(w: torch.Tensor, drop_constant: bool) -> torch.Tensor:
            parts = []
            for vs, sign in ((ev | gv, -1.0), (gv, 1.0)):
                if not vs:
                    continue
                if "w" not in vs and drop_constant:
                    continue  # no parameter in it: a constant of w
                parts.append(sign * self.log_p(vs, fixed, rand, w))
            return sum(parts) if parts else torch.zeros([1] * len(rand), dtype=torch.float64)

        if w0 is None:
            if t.order > 0:
                return np.zeros((self.k, self.k)) if t.order == 2 else np.zeros((self.k, 1))
            if rand and self._depends_on_w(set(rand) | set(fixed)):
                raise Unsupported("weights that need an integral over the parameter")
        with torch.no_grad():
            wts = torch.exp(self.log_p(set(rand) | set(fixed) | ({"w"} if w0 is not None else set()), fixed, rand,
                                       w0))
            wts = wts / wts.sum()
        if t.order == 0:
            with torch.no_grad():
                return float(torch.sum(wts * integrand(w0, False)))

        def f(w: torch.Tensor) -> torch.Tensor:
            return torch.sum(wts * integrand(w, True))

        if t.order == 2:
            return torch.autograd.functional.hessian(f, w0.clone()).numpy()
        return torch.autograd.functional.jacobian(f, w0.clone()).numpy().reshape(self.k, 1)

    def prob_value(self, p: Prob, env: dict) -> float:
        fixed = _fixed(p.event + p.given, env)
        w0 = fixed.pop("w", None)
        ev, gv = {var_of(n) for n in p.event}, {var_of(n) for n in p.given}
        with torch.no_grad():
            num = self.log_p(ev | gv, fixed, [], w0)
            den = self.log_p(gv, fixed, [], w0) if gv else torch.zeros(())
        return float(torch.exp(num - den))

    def weights(self, dist: Prob, env: dict) -> list[tuple[dict, float]]:
        a = sorted({var_of(n) for n in dist.event})
        if "w" in a:
            raise Unsupported("an expectation over the continuous parameter")
        fixed = _fixed(dist.given, env)
        w0 = fixed.pop("w", None)
        with torch.no_grad():
            lw = self.log_p(set(a) | set(fixed) | ({"w"} if w0 is not None else set()), fixed, a, w0)
        w = torch.exp(lw - torch.logsumexp(lw.reshape(-1), 0)).numpy()
        return [(dict(zip(a, vals)), float(w[vals])) for vals in self.values(a)]


def _fixed(names: Iterable[Name], env: dict) -> dict:
    out = {}
    for n in names:
        if is_rand(n):
            raise Unsupported(f"`{n.text}`: an upper-case name inside p(...) or an expectation's distribution")
        v = env[key_of(n)]
        if var_of(n) in out and _differs(out[var_of(n)], v):
            raise Unsupported(f"two values of `{var_of(n)}` in one event")
        out[var_of(n)] = v
    return out


def _differs(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return not torch.equal(torch.as_tensor(a), torch.as_tensor(b))
    return a != b


def _split(t: Term, env: dict) -> tuple[dict, list[str], set[str], set[str]]:
    names = [n for g in t.groups for n in g] + list(t.given)
    rand = sorted({var_of(n) for n in names if is_rand(n)})
    fixed = _fixed([n for n in names if not is_rand(n)], env)
    if set(rand) & set(fixed):
        raise Unsupported("a variable both random and observed in one term")
    ev = {var_of(n) for n in t.groups[0]}
    gv = {var_of(n) for n in t.given}
    return fixed, rand, ev, gv


# -- evaluation ------------------------------------------------------------------------------------
def _scalar(x: Value) -> bool:
    return np.ndim(x) == 0


def evaluate(e: Expr, world: _World, env: dict | None = None) -> Value:
    """The value of ``e`` in ``world`` (a float, or a numpy matrix for matrix expressions)."""
    env = dict(world.env) if env is None else env
    ev = lambda x: evaluate(x, world, env)  # noqa: E731
    if isinstance(e, Number):
        return float(e.value)
    if isinstance(e, Const):
        if e.name == "pi":
            return math.pi
        if e.name == "e":
            return math.e
        return world.k / 2 * math.log(2 * math.pi * math.e)
    if isinstance(e, Identity):
        return np.eye(world.k)
    if isinstance(e, Name):
        return world.symbol(e)
    if isinstance(e, Term):
        if e.head == "I":
            g = e.groups
            if len(g) > 2:
                return ev(Term("I", e.order, g[:-1], e.given)) - ev(Term("I", e.order, g[:-1], e.given + g[-1]))
            return ev(Term("H", e.order, (g[0],), e.given)) - ev(Term("H", e.order, (g[0],), g[1] + e.given))
        return world.term_value(e, env)
    if isinstance(e, Prob):
        return world.prob_value(e, env)
    if isinstance(e, Info):
        return -_log(ev(e.arg))
    if isinstance(e, Expectation):
        total: Value = 0.0
        for assignment, weight in world.weights(e.dist, env):
            inner = dict(env)
            for n in e.dist.event:
                inner[key_of(n)] = assignment[var_of(n)]
            total = total + weight * evaluate(e.body, world, inner)
        return total
    if isinstance(e, Neg):
        return -ev(e.arg)
    if isinstance(e, Sum):
        acc = ev(e.terms[0])
        for op, t in zip(e.ops, e.terms[1:]):
            v = ev(t)
            if _scalar(acc) != _scalar(v):
                raise Unsupported("adding a scalar and a matrix")
            acc = acc + v if op == "+" else acc - v
        return acc
    if isinstance(e, Product):
        acc = ev(e.factors[0])
        for op, f in zip(e.ops, e.factors[1:]):
            v = ev(f)
            if op == "/":
                if not _scalar(v) or v == 0:
                    raise Unsupported("division by a matrix or by zero")
                acc = acc / v
            elif _scalar(acc) or _scalar(v):
                acc = acc * v
            else:
                acc = acc @ v
        return acc
    if isinstance(e, Pow):
        base, ex = ev(e.base), ev(e.exponent)
        if not _scalar(ex):
            raise Unsupported("a matrix exponent")
        if _scalar(base):
            return float(base) ** float(ex)
        if float(ex) != int(ex):
            raise Unsupported("a fractional power of a matrix")
        return np.linalg.matrix_power(base, int(ex))
    if isinstance(e, Transpose):
        v = ev(e.arg)
        return v if _scalar(v) else v.T
    if isinstance(e, Func):
        v = ev(e.arg)
        if e.name == "log":
            return _log(v)
        if e.name == "exp":
            if not _scalar(v):
                raise Unsupported("exp of a matrix")
            return math.exp(v)
        if e.name == "tr":
            return float(v) if _scalar(v) else float(np.trace(v))
        if e.name == "det":
            return float(v) if _scalar(v) else float(np.linalg.det(v))
        if e.name == "logdet":
            if _scalar(v):
                return _log(v)
            sign, ld = np.linalg.slogdet(v)
            if sign <= 0:
                raise Unsupported("logdet of a matrix whose determinant is not positive")
            return float(ld)
        raise Unsupported(f"function {e.name}")
    raise Unsupported(f"cannot evaluate {type(e).__name__}")


def _log(v: Value) -> float:
    if not _scalar(v):
        raise Unsupported("log of a matrix")
    if v <= 0:
        raise Unsupported("log of a non-positive number")
    return math.log(v)


# -- truth of a statement ----------------------------------------------------------------------------
def _as_expr(x: Expr | str) -> Expr:
    return inf.parse(x) if isinstance(x, str) else x


def sides(statement: Expr | str) -> tuple[Expr, Expr]:
    r = _as_expr(statement)
    if not isinstance(r, Relation) or len(r.items) != 2:
        raise ValueError(f"not a two-sided relation: {r}")
    return r.items[0], r.items[1]


def needs_smooth(*exprs: Expr) -> bool:
    """Derivatives or matrices need the continuous parameter."""
    return any(isinstance(n, Term) and n.order > 0 or isinstance(n, Identity) for e in exprs for n in e.walk())


def make_world(exprs: list[Expr], model: bool, seed: int, smooth: bool | None = None, **kw) -> _World:
    smooth = needs_smooth(*exprs) if smooth is None else smooth
    cls = SmoothWorld if smooth else DiscreteWorld
    return cls(exprs, model=model, seed=seed, **kw)


def truth(a: Expr | str, b: Expr | str, model: bool, seeds: Iterable[int] = (0, 1, 2), **kw) -> bool:
    """Whether ``a = b`` on several random distributions of the model (``model=False``: any joint)."""
    a, b = _as_expr(a), _as_expr(b)
    for s in seeds:
        w = make_world([a, b], model, s, **kw)
        if not close(evaluate(a, w), evaluate(b, w)):
            return False
    return True


