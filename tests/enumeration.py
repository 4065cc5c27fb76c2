"""An exact-enumeration oracle for the notation, written independently of the symbolic engine.

It gives every expression the identity checker accepts a number (or a matrix) on an explicit random
distribution, straight from the semantics in spec/notation.md sections 3, 4 and 7 and the lead's fixed
semantics S1-S8 of the soundness issue:

* ``H[S | T]`` is ``E_{p(U | o)}[-log p(S | T)]`` with ``U`` the upper-case names of the term and ``o``
  its lower-case ones (values held fixed); ``-log p(S | T) = -log p(S u T) + log p(T)``;
* ``I[A; B | C] := H[A | C] - H[A | B, C]`` (each term with its own context), and
  ``I[A; B; C | D] := I[A; B | D] - I[A; B | C, D]``;
* ``E_{p(a | b)}[f]`` sums ``f`` over the values of the lower-case names ``a`` with weights ``p(a | b)``; it
  binds exactly the names written in ``a``, by whole name (``E_{p(w)}`` binds ``w``, not ``w*``; ``E_{p(y)}``
  does not bind ``y_1``) (S2);
* ``p(A | B)`` is a probability, ``h(p) = -log p``. An upper-case name inside ``p(...)`` that is not inside an
  ``H``/``I`` term is a *free random variable* (S1): the side is a function of its value, and a relation
  holds iff both sides agree for every value in the support (:func:`judge` enumerates them);
* ``H'[...]``/``H''[...]`` are the gradient/Hessian in the parameter ``w`` of the integrand
  ``-log p(S | T)`` at the parameter value of the term (``w*``), the expectation's weights held at that
  value; an integrand without the parameter has derivative 0. The gradient is a *row* (S4): ``1 x P`` for a
  single point, ``B x P`` when the event is a single batch name (``y_B``, ``Y_B``, a data set ``D``);
* a parameter name with a subscript (``w_L``, ``W_L``, ``w_L*``) is a deterministic, non-injective part of the
  parameter (S3): in a :class:`DiscreteWorld` ``w`` has 4 values and ``w_L = w mod 2``; in a
  :class:`SmoothWorld` it is the block of the first ``k - 1`` coordinates, and ``H''[... w_L* ...]`` is the
  Hessian in that block (the other coordinates held at ``w*``), a ``P_L x P_L`` matrix;
* a capital name outside any term (``A``, ``G``) is a general real matrix whose shape is inferred from its use
  by a small unification pass written for the tests (:func:`infer_shapes`); ``Id`` is the identity of the size
  its context needs; lower-case plain names are positive scalars (S4). A sum of a matrix and a scalar, or a
  product of mismatched shapes, is a shape error (:data:`ERROR`); two sides of different shapes are unequal;
* ``log(x)`` for ``x <= 0``, ``logdet(M)`` for ``det(M) <= 0`` and the inverse of a singular matrix are
  undefined (S5): :class:`Undefined` is raised, and :func:`judge` calls a relation False when one side is
  defined and the other is not for some admissible values.

Two kinds of world:

* :class:`DiscreteWorld`: every variable discrete (2-3 values, the parameter ``w`` has ``K`` values); with
  ``model=False`` a random full joint table over the variables that occur, with ``model=True`` a random
  Bayesian network of the default model ``p(y_s | x_s, w) p(x_s) p(w)``, ``p(D | w)``, unknown names
  children of everything else; ``model`` may also be a dict of declared parents (they override the default
  pattern, as ``inf.Model(parents=...)`` does).
* :class:`SmoothWorld`: the parameter ``w`` in ``R^k`` with a Gaussian prior, the other variables discrete
  with ``p(v | pa(v), w) = softmax(A w + b + c tanh(G w))`` (``glm=True`` drops the non-linear part, which
  makes observed and Fisher information equal; ``head_glm=True`` keeps the block ``w_L`` out of the non-linear
  part: a network whose last layer is a GLM); Hessians by ``torch.autograd.functional.hessian`` in float64.
  Quantities that need ``p(...)`` integrated over ``w`` raise :class:`Unsupported`, unless ``mixture=S``: then
  marginals of the discrete variables are averages over ``S`` fixed draws ``w_s`` from the prior (a valid joint
  distribution of the discrete variables with the model's independences; the density of ``w`` itself stays
  Gaussian, which only integrals over ``w`` could tell apart, and the oracle never takes those).
  The gradient of a batch (``H'[y_B|...]``, ``B x P``) is a random stand-in keyed by the term and the values of
  its names: only statements true for every ``B x P`` matrix may be judged with it.

Nothing here imports from ``infonotation.symbolic``; only the syntax tree classes and ``inf.parse`` are used.

    from enumeration import DiscreteWorld, SmoothWorld, evaluate, truth, judge
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

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

__all__ = ["Unsupported", "Undefined", "ShapeError", "DiscreteWorld", "SmoothWorld", "evaluate", "truth",
           "make_world", "sides", "var_of", "close", "judge", "ERROR", "infer_shapes", "free_random",
           "is_restricted", "restrict_map"]

Value = float | np.ndarray

#: The label :func:`judge` gives a statement with an ill-shaped side (a matrix plus a scalar, ...).
ERROR = "error"


class Unsupported(Exception):
    """The oracle cannot give this expression a value in this world."""


class Undefined(Unsupported):
    """The expression has no value here (log of a non-positive number, logdet of det <= 0, a singular inverse)."""


class ShapeError(Exception):
    """A side is ill-shaped: a matrix plus a scalar, a product of mismatched shapes, tr of a non-square matrix."""


# -- names -----------------------------------------------------------------------------------------
def var_of(n: Name) -> str:
    """The variable of a name: ``Y_1``, ``y_1`` -> ``y_1``; ``D_train`` stays; ``w*`` -> ``w``; ``W_L`` -> ``w_L``."""
    base = n.base if n.base == "D" else n.base[:1].lower() + n.base[1:]
    return base + (f"_{n.sub}" if n.sub is not None else "")


def is_rand(n: Name) -> bool:
    return n.base[:1].isupper() and n.base != "D" and not n.star


def key_of(n: Name) -> tuple[str, str]:
    """The key of an observed value: ``w`` and ``w*`` are two values of one variable."""
    return var_of(n), ("*" if n.star else "o")


def free_key(v: str) -> tuple[str, str]:
    """The key of the value of a free random variable (S1) in an environment."""
    return v, "R"


def is_param_var(v: str) -> bool:
    return v == "w" or v.startswith("w_")


def is_restricted(v: str) -> bool:
    """``w_L``, ``w_1``: a deterministic part of the parameter (S3)."""
    return v.startswith("w_")


def is_batch(n: Name) -> bool:
    """A batch of points (``y_B``, ``Y_B``) or a data set (``D``, ``D_train``): its gradient has one row per point."""
    return n.base == "D" or n.sub == "B"


def restrict_map(v: str, K: int) -> list[int]:
    """The deterministic, non-injective map ``w -> w_s`` of a restricted parameter in a discrete world."""
    sub = v.partition("_")[2]
    if sub == "L":
        return [i % 2 for i in range(K)]
    perm = np.random.default_rng(zlib.crc32(sub.encode())).permutation(K)
    return [int(perm[i]) % 2 for i in range(K)]


def _prob_names(e: Expr) -> Iterable[Name]:
    for node in e.walk():
        if isinstance(node, Term):
            yield from (m for g in node.groups for m in g)
            yield from node.given
        elif isinstance(node, Prob):
            yield from node.event
            yield from node.given


def free_random(*exprs: Expr) -> list[str]:
    """The free random variables (S1): upper-case names inside ``p(...)`` outside any ``H``/``I`` term."""
    out = set()
    for e in exprs:
        for node in e.walk():
            if isinstance(node, Prob):
                out |= {var_of(n) for n in node.given + node.event if is_rand(n)}
    return sorted(out)


def model_parents(v: str, model: bool | dict = True) -> tuple[str, ...] | None:
    """Parents in the model (the default pattern, overridden by declared parents), or None for an unknown name."""
    if isinstance(model, dict) and v in model:
        return tuple(model[v])
    base, _, sub = v.partition("_")
    if v == "w" or base == "x":
        return ()
    if is_restricted(v):
        return ("w",)
    if base == "y":
        return (f"x_{sub}" if sub else "x", "w")
    if base == "D":
        return ("w",)
    return None


def _closure(vs: set[str], model: bool | dict) -> list[str]:
    out = set(vs)
    if any(is_restricted(v) for v in out):
        out.add("w")
    if model:
        todo = list(out)
        while todo:
            v = todo.pop()
            for p in model_parents(v, model) or ():
                if p not in out:
                    out.add(p)
                    todo.append(p)
    rank = {"w": 0, "x": 1, "y": 2, "D": 3}

    def order(v: str) -> tuple:
        base = v.partition("_")[0]
        known = bool(model) and model_parents(v, model) is not None
        if is_restricted(v):
            return (0, 1, v)
        return (rank.get(base, 4) if known else 5, 0, v)

    ranked = sorted(out, key=order)
    if not model:
        return ranked
    # a topological order of the known variables (declared parents may point anywhere), unknown ones last
    known = [v for v in ranked if model_parents(v, model) is not None]
    unknown = [v for v in ranked if model_parents(v, model) is None]
    done: list[str] = []
    todo = list(known)
    while todo:
        for v in todo:
            if all(p in done or p not in out for p in model_parents(v, model) or ()):
                done.append(v)
                todo.remove(v)
                break
        else:
            raise Unsupported("the declared parents have a cycle")
    return done + unknown


def close(a: Value, b: Value, rtol: float = 1e-8, atol: float = 1e-9) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        if a.ndim == 0 and not np.any(a):
            return not np.any(np.abs(b) > atol)
        if b.ndim == 0 and not np.any(b):
            return not np.any(np.abs(a) > atol)
        return False
    return bool(np.allclose(a, b, rtol=rtol, atol=atol))


# -- shapes (S4): a unification pass written for the tests --------------------------------------------
Shape = tuple[int, int] | None  # None: a scalar; else two dimension ids


@dataclass
class Shapes:
    """Dimension variables with union-find; rigid ones (``1``, ``P``, ``P_L``, batch sizes) never merge."""

    parent: list[int] = field(default_factory=list)
    rigid: list[str | None] = field(default_factory=list)
    names: dict[str, tuple[int, int]] = field(default_factory=dict)  # capital name -> its shape
    at: dict[tuple, Shape] = field(default_factory=dict)  # path -> shape, for Id and capital names
    _rigid_ids: dict[str, int] = field(default_factory=dict)

    def new(self, rigid: str | None = None) -> int:
        if rigid is not None and rigid in self._rigid_ids:
            return self._rigid_ids[rigid]
        self.parent.append(len(self.parent))
        self.rigid.append(rigid)
        if rigid is not None:
            self._rigid_ids[rigid] = len(self.parent) - 1
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> bool:
        a, b = self.find(a), self.find(b)
        if a == b:
            return True
        if self.rigid[a] is not None and self.rigid[b] is not None:
            return False
        if self.rigid[a] is not None:
            a, b = b, a
        self.parent[a] = b
        return True

    def concrete(self, world: _World, free: int | None = None) -> dict[int, int]:
        """A size for every class: rigid ones from the world, free ones random in 1..4 (or ``free``)."""
        rng = np.random.default_rng(1000003 * world.seed + 17)
        sizes: dict[int, int] = {}
        out = {}
        for i in range(len(self.parent)):
            r = self.find(i)
            if r not in sizes:
                rig = self.rigid[r]
                if rig is None:
                    sizes[r] = free if free is not None else int(rng.integers(1, 5))
                else:
                    sizes[r] = world.rigid_size(rig)
            out[i] = sizes[r]
        return out


def _block_of(t: Term) -> str:
    """The rigid dimension a derivative term differentiates in: ``P`` or ``P:<sub>`` for ``w_<sub>*``."""
    blocks = {var_of(n) for g in t.groups for n in g + t.given if n.star and is_param_var(var_of(n))}
    if len(blocks) > 1:
        raise Unsupported("two parameter points in one derivative")
    v = next(iter(blocks), "w")
    return "P" if v == "w" else f"P:{v.partition('_')[2]}"


def _infer(e: Expr, s: Shapes, path: tuple) -> Shape:
    if isinstance(e, (Number, Const, Prob)):
        return None
    if isinstance(e, Identity):
        n = s.new()
        s.at[path] = (n, n)
        return (n, n)
    if isinstance(e, Name):
        if not e.base[:1].isupper() or e.star:
            return None
        if e.text not in s.names:
            s.names[e.text] = (s.new(), s.new())
        s.at[path] = s.names[e.text]
        return s.names[e.text]
    if isinstance(e, Term):
        if e.order == 0:
            return None
        p = s.new(_block_of(e))
        if e.order == 2:
            return (p, p)
        ev = e.groups[0]
        rows = s.new(f"B:{var_of(ev[0])}") if e.head == "H" and len(ev) == 1 and is_batch(ev[0]) else s.new("1")
        return (rows, p)
    if isinstance(e, Info):
        if _infer(e.arg, s, path + (0,)) is not None:
            raise Unsupported("h(...) of a matrix")
        return None
    if isinstance(e, Expectation):
        if any(is_rand(n) for n in e.dist.event):
            raise Unsupported("an upper-case name in an expectation's event")
        return _infer(e.body, s, path + (1,))
    if isinstance(e, (Neg, Transpose)):
        a = _infer(e.arg, s, path + (0,))
        return (a[1], a[0]) if isinstance(e, Transpose) and a is not None else a
    if isinstance(e, Sum):
        shapes = [_infer(t, s, path + (i,)) for i, t in enumerate(e.terms)]
        if all(x is None for x in shapes):
            return None
        if any(x is None for x in shapes):
            raise ShapeError("a sum of a matrix and a scalar")
        first = shapes[0]
        for x in shapes[1:]:
            if not (s.union(first[0], x[0]) and s.union(first[1], x[1])):
                raise ShapeError("a sum of matrices of different shapes")
        return first
    if isinstance(e, Product):
        acc = _infer(e.factors[0], s, path + (0,))
        for i, (op, f) in enumerate(zip(e.ops, e.factors[1:]), start=1):
            x = _infer(f, s, path + (i,))
            if op == "/":
                if x is not None:
                    raise Unsupported("division by a matrix")
                continue
            if op == "@" and (acc is None or x is None):
                raise Unsupported("@ with a scalar operand")
            if acc is None or x is None:
                acc = acc if x is None else x
                continue
            if not s.union(acc[1], x[0]):
                raise ShapeError("a product of matrices whose inner sizes differ")
            acc = (acc[0], x[1])
        return acc
    if isinstance(e, Pow):
        if _infer(e.exponent, s, path + (1,)) is not None:
            raise Unsupported("a matrix exponent")
        a = _infer(e.base, s, path + (0,))
        if a is not None and not s.union(a[0], a[1]):
            raise ShapeError("a power (or inverse) of a non-square matrix")
        return a
    if isinstance(e, Func):
        a = _infer(e.arg, s, path + (0,))
        if e.name in ("log", "exp"):
            if a is not None:
                raise Unsupported(f"{e.name} of a matrix")
            return None
        if a is not None and not s.union(a[0], a[1]):
            raise ShapeError(f"{e.name} of a non-square matrix")
        return None
    raise Unsupported(f"cannot infer the shape of {type(e).__name__}")


def infer_shapes(*sides_: Expr) -> tuple[Shapes, list[Shape], bool]:
    """Shapes of the sides of a relation (names shared); whether the sides can have one shape.

    Raises :class:`ShapeError` for an ill-shaped side. A literal ``0`` equals a zero matrix of any shape.
    """
    s = Shapes()
    shapes = [_infer(e, s, (i,)) for i, e in enumerate(sides_)]
    same = True
    for e, x in zip(sides_[1:], shapes[1:]):
        y, first = shapes[0], sides_[0]
        if (x is None) != (y is None):
            zero = Number(0)
            same = same and (e == zero or first == zero)
        elif x is not None:
            same = same and s.union(x[0], y[0]) and s.union(x[1], y[1])
    return s, shapes, same


# -- worlds ----------------------------------------------------------------------------------------
class _World:
    k: int
    kL: int
    seed: int
    rng: np.random.Generator
    env: dict[tuple[str, str], object]
    card: dict[str, int]

    def symbol(self, n: Name, shape: tuple[int, int] | None = None) -> Value:
        """A free name outside any term (``A``, ``M``, ``lambda``): a random matrix or a positive scalar."""
        r = np.random.default_rng(zlib.crc32(n.text.encode()) + 7919 * self.seed)
        if n.base[:1].isupper() and not n.star:
            return r.normal(size=shape if shape is not None else (self.k, self.k))
        return float(r.uniform(0.3, 2.0))

    def values(self, vs: list[str]) -> list[tuple[int, ...]]:
        return list(itertools.product(*(range(self.card[v]) for v in vs)))

    def rigid_size(self, rigid: str) -> int:
        if rigid == "1":
            return 1
        if rigid == "P":
            return self.k
        if rigid.startswith("P:"):
            return self.kL
        if rigid.startswith("B:"):
            return 2 + zlib.crc32(f"{rigid}{self.seed}".encode()) % 2
        raise Unsupported(f"dimension {rigid}")

    def free_assignments(self, free: list[str]) -> list[dict[str, int]]:
        """Every value of the free random variables in the support of their joint distribution."""
        if not free:
            return [{}]
        for v in free:
            if v not in self.card:
                raise Unsupported(f"free random variable `{v}` is not discrete here")
        return [dict(zip(free, vals)) for vals in self.values(free) if self._support(dict(zip(free, vals)))]

    def _support(self, assignment: dict[str, int]) -> bool:
        return True


class DiscreteWorld(_World):
    """A random discrete joint distribution over the variables of ``exprs``."""

    def __init__(self, exprs: Iterable[Expr], *, model: bool | dict, seed: int, K: int | None = None, **_: object):
        exprs = list(exprs)
        self.seed, self.k, self.kL, self.model = seed, 3, 2, model
        self.rng = rng = np.random.default_rng(seed)
        names = [n for e in exprs for n in _prob_names(e)]
        self.vars = _closure({var_of(n) for n in names}, model)
        restricted = [v for v in self.vars if is_restricted(v)]
        if K is None:
            K = 4 if restricted else 3
        self.K = K
        self.card = {v: (K if v == "w" else 2 if is_restricted(v) else int(rng.integers(2, 4))) for v in self.vars}
        self.axis = {v: i for i, v in enumerate(self.vars)}
        self.maps = {v: restrict_map(v, K) for v in restricted}
        shape = tuple(self.card[v] for v in self.vars)
        if not model:
            table = rng.uniform(0.05, 1.0, size=shape)
            for v in restricted:
                table = table * self._indicator(v)
        else:
            table = np.ones(shape)
            for i, v in enumerate(self.vars):
                if is_restricted(v):
                    table = table * self._indicator(v)
                    continue
                pa = model_parents(v, model)
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
        # fixed observed values; w and w* get different values; w_L (w_L*) is the part of w (w*)
        keys = {key_of(n) for n in names if not is_rand(n)}
        keys |= {("w", tag) for v, tag in keys if is_restricted(v)}
        self.env = {}
        for n in sorted(k for k in keys if not is_restricted(k[0])):
            v, tag = n
            taken = {self.env[(v, t)] for t in ("o", "*") if (v, t) in self.env}
            choices = [c for c in range(self.card[v]) if c not in taken] or list(range(self.card[v]))
            self.env[n] = int(rng.choice(choices))
        for v, tag in sorted(k for k in keys if is_restricted(k[0])):
            self.env[(v, tag)] = self.maps[v][self.env[("w", tag)]]

    def _indicator(self, v: str) -> np.ndarray:
        """``1[v = f(w)]`` broadcast over the table's axes."""
        ind = np.zeros((self.card["w"], self.card[v]))
        for i, j in enumerate(self.maps[v]):
            ind[i, j] = 1.0
        view = [1] * len(self.vars)
        view[self.axis["w"]], view[self.axis[v]] = ind.shape
        if self.axis["w"] > self.axis[v]:
            ind = ind.T
            view[self.axis["w"]], view[self.axis[v]] = ind.shape[1], ind.shape[0]
        return ind.reshape(view)

    def marginal(self, vs: tuple[str, ...]) -> np.ndarray:
        if vs not in self._marg:
            keep = sorted(self.axis[v] for v in vs)
            drop = tuple(a for a in range(len(self.vars)) if a not in keep)
            m = self.table.sum(axis=drop) if drop else self.table
            order = [keep.index(self.axis[v]) for v in vs]
            self._marg[vs] = np.transpose(m, order)
        return self._marg[vs]

    def _support(self, assignment: dict[str, int]) -> bool:
        order = tuple(sorted(assignment))
        return bool(self.marginal(order)[tuple(assignment[v] for v in order)] > 0)

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
        with np.errstate(divide="ignore"):
            return np.log(np.reshape(m, shape))

    def term_value(self, t: Term, env: dict) -> Value:
        if t.order > 0:
            raise Unsupported("derivatives need a SmoothWorld")
        fixed, rand, ev, gv = _split(t, env)
        full = [self.card[v] for v in rand]
        weights = np.broadcast_to(np.exp(self.log_p(set(rand) | set(fixed), fixed, rand)), full)
        total = weights.sum()
        if not total > 0:
            raise Undefined("a term conditioned on an event of probability 0")
        weights = weights / total
        with np.errstate(invalid="ignore"):
            integrand = np.broadcast_to(-(self.log_p(ev | gv, fixed, rand) - self.log_p(gv, fixed, rand)), full)
        mask = weights > 0
        if not np.all(np.isfinite(integrand[mask])):
            raise Undefined("the information content of an event of probability 0")
        return float(np.sum(weights[mask] * integrand[mask]))

    def prob_value(self, p: Prob, env: dict) -> float:
        fixed = _fixed(p.event + p.given, env)
        ev, gv = {var_of(n) for n in p.event}, {var_of(n) for n in p.given}
        den = self.log_p(gv, fixed, [])
        if not np.isfinite(den).all():
            raise Undefined("a probability conditioned on an event of probability 0")
        return float(np.exp(self.log_p(ev | gv, fixed, []) - den))

    def weights(self, dist: Prob, env: dict) -> list[tuple[dict, float]]:
        if any(is_rand(n) for n in dist.event):
            raise Unsupported("an upper-case name in an expectation's event")
        a = sorted({var_of(n) for n in dist.event})
        fixed = _fixed(dist.given, env)
        if set(a) & set(fixed):
            raise Unsupported("an expectation's event is also in its condition")
        w = np.exp(self.log_p(set(a) | set(fixed), fixed, a))
        if not w.sum() > 0:
            raise Undefined("an expectation conditioned on an event of probability 0")
        w = w / w.sum()
        return [(dict(zip(a, vals)), float(w[vals])) for vals in self.values(a)]


class SmoothWorld(_World):
    """A continuous parameter ``w`` in ``R^k`` (Gaussian prior) and discrete other variables."""

    def __init__(self, exprs: Iterable[Expr], *, model: bool | dict, seed: int, k: int | None = None,
                 glm: bool = False, head_glm: bool = False, mixture: int = 0, **_: object):
        k = 2 + seed % 2 if k is None else k
        exprs = list(exprs)
        self.seed, self.k, self.kL, self.model, self.glm = seed, k, max(k - 1, 1), model, glm
        self.rng = rng = np.random.default_rng(seed)
        names = [n for e in exprs for n in _prob_names(e)]
        allv = _closure({var_of(n) for n in names} | {"w"}, model)
        self.vars = [v for v in allv if not is_param_var(v)]  # the discrete ones
        self.card = {v: int(rng.integers(2, 4)) for v in self.vars}
        self.axis = {v: i for i, v in enumerate(self.vars)}
        b = rng.normal(size=(k, k))
        self.prior_prec = torch.tensor(b @ b.T + 0.5 * np.eye(k), dtype=torch.float64)
        self.prior_mean = torch.tensor(rng.normal(size=k), dtype=torch.float64)
        self.cpts = []
        self.uses_w: dict[str, bool] = {}
        for i, v in enumerate(self.vars):
            pa = model_parents(v, model) if model else None
            if pa is None:  # unknown name, or no model: depends on every earlier variable and on w
                dpa, uses_w = self.vars[:i], True
            else:
                dpa, uses_w = [p for p in pa if not is_param_var(p)], any(is_param_var(p) for p in pa)
            shape = tuple(self.card[p] for p in dpa) + (self.card[v],)
            a, b0, c, g = (torch.tensor(rng.normal(size=shape + s), dtype=torch.float64)
                           for s in ((k,), (), (), (k,)))
            self.uses_w[v] = uses_w
            if not uses_w:
                a, c = a * 0, c * 0
            if glm:
                c = c * 0
            if head_glm:  # the last layer (the block w_L) enters linearly: a GLM in w_L
                g = torch.cat([g[..., : self.kL] * 0, g[..., self.kL:]], dim=-1)
            self.cpts.append((v, dpa, a, b0, 0.7 * c, g))
        self.env = {}
        keys = {key_of(n) for n in names if not is_rand(n)}
        keys |= {("w", tag) for v, tag in keys if is_restricted(v)}
        for key in sorted(k_ for k_ in keys if not is_restricted(k_[0])):
            v, tag = key
            if v == "w":
                self.env[key] = torch.tensor(rng.normal(size=k), dtype=torch.float64)
            else:
                taken = {self.env[(v, t)] for t in ("o", "*") if (v, t) in self.env}
                choices = [c for c in range(self.card[v]) if c not in taken] or list(range(self.card[v]))
                self.env[key] = int(rng.choice(choices))
        for v, tag in sorted(k_ for k_ in keys if is_restricted(k_[0])):
            self.env[(v, tag)] = self.env[("w", tag)][: self.kL]
        self.mixture = mixture
        if mixture:
            chol = torch.linalg.cholesky(torch.linalg.inv(self.prior_prec))
            draws = torch.tensor(rng.normal(size=(mixture, k)), dtype=torch.float64) @ chol.T + self.prior_mean
            with torch.no_grad():
                self.mix = torch.logsumexp(torch.stack([self.log_joint(d) for d in draws]), 0) - math.log(mixture)

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
                if not self.mixture:
                    raise Unsupported(f"p({', '.join(disc)}) needs an integral over the parameter")
                lj = self.mix
            else:
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

    def _stand_in(self, t: Term, env: dict, rows: int, cols: int) -> np.ndarray:
        """A ``B x P`` batch gradient: a random matrix keyed by the term and the values of its names."""
        names = [n for g in t.groups for n in g] + list(t.given)
        parts = [f"{rows}x{cols}"] + sorted(n.text for n in t.groups[0]) + ["|"] + sorted(n.text for n in t.given)
        for n in sorted(names, key=lambda m: m.text):
            if not is_rand(n):
                v = env.get(key_of(n))
                parts.append(repr(v.tolist() if isinstance(v, torch.Tensor) else v))
        r = np.random.default_rng(zlib.crc32(" ".join(parts).encode()) + 104729 * self.seed)
        return r.normal(size=(rows, cols))

    def term_value(self, t: Term, env: dict) -> Value:
        names = [n for g in t.groups for n in g] + list(t.given)
        blocks = {var_of(n) for n in names if is_restricted(var_of(n))}
        part = None
        if blocks:  # w_L*: the block of the first kL coordinates, the rest held at w*
            if t.order == 0 or len(blocks) > 1 or any(var_of(n) == "w" for n in names):
                raise Unsupported("a restricted parameter outside a derivative, or two parameter blocks")
            if not all(n.star for n in names if is_restricted(var_of(n))):
                raise Unsupported("a derivative at an unstarred restricted parameter")

            def to_w(n: Name) -> Name:
                return Name("w", None, True) if is_restricted(var_of(n)) else n
            groups = tuple(tuple(to_w(n) for n in g) for g in t.groups)
            t = Term(t.head, t.order, groups, tuple(to_w(n) for n in t.given))
            part = self.kL
        fixed, rand, ev, gv = _split(t, env)
        if "w" in rand:
            raise Unsupported("an average over the continuous parameter")
        w0 = fixed.pop("w", None)
        size = self.k if part is None else part
        event = t.groups[0]
        if t.order == 1 and t.head == "H" and len(event) == 1 and is_batch(event[0]):
            rows = self.rigid_size(f"B:{var_of(event[0])}")
            if w0 is None:
                return np.zeros((rows, size))
            return self._stand_in(t, env, rows, size)

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
                return np.zeros((size, size)) if t.order == 2 else np.zeros((1, size))
            if rand and self._depends_on_w(set(rand) | set(fixed)) and not self.mixture:
                raise Unsupported("weights that need an integral over the parameter")
        with torch.no_grad():
            wts = torch.exp(self.log_p(set(rand) | set(fixed) | ({"w"} if w0 is not None else set()), fixed, rand,
                                       w0))
            wts = wts / wts.sum()
        if t.order == 0:
            with torch.no_grad():
                return float(torch.sum(wts * integrand(w0, False)))

        rest = w0.clone()

        def f(u: torch.Tensor) -> torch.Tensor:
            w = u if part is None else torch.cat([u, rest[part:]])
            return torch.sum(wts * integrand(w, True))

        start = w0.clone() if part is None else w0[:part].clone()
        if t.order == 2:
            return torch.autograd.functional.hessian(f, start).numpy()
        return torch.autograd.functional.jacobian(f, start).numpy().reshape(1, size)

    def prob_value(self, p: Prob, env: dict) -> float:
        if any(is_restricted(var_of(n)) for n in p.event + p.given):
            raise Unsupported("a probability of a restricted parameter in a SmoothWorld")
        fixed = _fixed(p.event + p.given, env)
        w0 = fixed.pop("w", None)
        ev, gv = {var_of(n) for n in p.event}, {var_of(n) for n in p.given}
        with torch.no_grad():
            num = self.log_p(ev | gv, fixed, [], w0)
            den = self.log_p(gv, fixed, [], w0) if gv else torch.zeros(())
        return float(torch.exp(num - den))

    def weights(self, dist: Prob, env: dict) -> list[tuple[dict, float]]:
        if any(is_rand(n) for n in dist.event):
            raise Unsupported("an upper-case name in an expectation's event")
        a = sorted({var_of(n) for n in dist.event})
        if any(is_param_var(v) for v in a):
            raise Unsupported("an expectation over the continuous parameter")
        if any(is_restricted(var_of(n)) for n in dist.given):
            raise Unsupported("an expectation given a restricted parameter in a SmoothWorld")
        fixed = _fixed(dist.given, env)
        w0 = fixed.pop("w", None)
        with torch.no_grad():
            lw = self.log_p(set(a) | set(fixed) | ({"w"} if w0 is not None else set()), fixed, a, w0)
        w = torch.exp(lw - torch.logsumexp(lw.reshape(-1), 0)).numpy()
        return [(dict(zip(a, vals)), float(w[vals])) for vals in self.values(a)]


def _fixed(names: Iterable[Name], env: dict) -> dict:
    out = {}
    for n in names:
        key = free_key(var_of(n)) if is_rand(n) else key_of(n)
        if key not in env:
            if is_rand(n):
                raise Unsupported(f"`{n.text}`: an upper-case name inside p(...) with no value")
            raise Unsupported(f"`{n.text}`: no value")
        v = env[key]
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


def _singular(m: np.ndarray) -> bool:
    return m.shape[0] == 0 or not np.all(np.isfinite(m)) or np.linalg.cond(m) > 1e12


class _Evaluator:
    def __init__(self, world: _World, shapes: Shapes, sizes: dict[int, int]):
        self.world, self.shapes, self.sizes = world, shapes, sizes

    def shape_at(self, path: tuple) -> tuple[int, int]:
        r, c = self.shapes.at[path]
        return self.sizes[r], self.sizes[c]

    def ev(self, e: Expr, env: dict, path: tuple) -> Value:
        world = self.world
        if isinstance(e, Number):
            return float(e.value)
        if isinstance(e, Const):
            if e.name == "pi":
                return math.pi
            if e.name == "e":
                return math.e
            return world.k / 2 * math.log(2 * math.pi * math.e)
        if isinstance(e, Identity):
            return np.eye(self.shape_at(path)[0])
        if isinstance(e, Name):
            if e.base[:1].isupper() and not e.star:
                return world.symbol(e, self.shape_at(path))
            return world.symbol(e)
        if isinstance(e, Term):
            if e.head == "I":
                g = e.groups
                if len(g) > 2:
                    return (self.ev(Term("I", e.order, g[:-1], e.given), env, path)
                            - self.ev(Term("I", e.order, g[:-1], e.given + g[-1]), env, path))
                return (self.ev(Term("H", e.order, (g[0],), e.given), env, path)
                        - self.ev(Term("H", e.order, (g[0],), g[1] + e.given), env, path))
            return world.term_value(e, env)
        if isinstance(e, Prob):
            return world.prob_value(e, env)
        if isinstance(e, Info):
            return -_log(self.ev(e.arg, env, path + (0,)))
        if isinstance(e, Expectation):
            total: Value = 0.0
            for assignment, weight in world.weights(e.dist, env):
                if weight == 0:
                    continue
                inner = dict(env)
                for n in e.dist.event:
                    inner[key_of(n)] = assignment[var_of(n)]
                total = total + weight * self.ev(e.body, inner, path + (1,))
            return total
        if isinstance(e, Neg):
            return -self.ev(e.arg, env, path + (0,))
        if isinstance(e, Sum):
            acc = self.ev(e.terms[0], env, path + (0,))
            for i, (op, t) in enumerate(zip(e.ops, e.terms[1:]), start=1):
                v = self.ev(t, env, path + (i,))
                if _scalar(acc) != _scalar(v):
                    raise Unsupported("adding a scalar and a matrix")
                acc = acc + v if op == "+" else acc - v
            return acc
        if isinstance(e, Product):
            acc = self.ev(e.factors[0], env, path + (0,))
            for i, (op, f) in enumerate(zip(e.ops, e.factors[1:]), start=1):
                v = self.ev(f, env, path + (i,))
                if op == "/":
                    if not _scalar(v):
                        raise Unsupported("division by a matrix")
                    if v == 0:
                        raise Undefined("division by zero")
                    acc = acc / v
                elif _scalar(acc) or _scalar(v):
                    acc = acc * v
                else:
                    acc = acc @ v
            return acc
        if isinstance(e, Pow):
            base, ex = self.ev(e.base, env, path + (0,)), self.ev(e.exponent, env, path + (1,))
            if not _scalar(ex):
                raise Unsupported("a matrix exponent")
            if _scalar(base):
                if base == 0 and ex < 0:
                    raise Undefined("a power of zero with a negative exponent")
                if base < 0 and float(ex) != int(ex):
                    raise Undefined("a fractional power of a negative number")
                return float(base) ** float(ex)
            if float(ex) != int(ex):
                raise Unsupported("a fractional power of a matrix")
            if ex < 0:
                if _singular(base):
                    raise Undefined("the inverse of a singular matrix")
                base, ex = np.linalg.inv(base), -ex
            return np.linalg.matrix_power(base, int(ex))
        if isinstance(e, Transpose):
            v = self.ev(e.arg, env, path + (0,))
            return v if _scalar(v) else v.T
        if isinstance(e, Func):
            v = self.ev(e.arg, env, path + (0,))
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
                if sign <= 0 or _singular(v):
                    raise Undefined("logdet of a matrix whose determinant is not positive")
                return float(ld)
            raise Unsupported(f"function {e.name}")
        raise Unsupported(f"cannot evaluate {type(e).__name__}")


def _log(v: Value) -> float:
    if not _scalar(v):
        raise Unsupported("log of a matrix")
    if not v > 1e-300 or abs(v) < 1e-12:
        raise Undefined("log of a non-positive number")
    return math.log(v)


def evaluate(e: Expr, world: _World, env: dict | None = None) -> Value:
    """The value of ``e`` in ``world`` (a float, or a numpy matrix for matrix expressions).

    Shapes are inferred from ``e`` alone; dimensions it leaves free (a lone ``Id``, a lone ``A``) take the size
    ``world.k``. Raises :class:`Unsupported` (also for an ill-shaped ``e``) or :class:`Undefined`.
    """
    env = dict(world.env) if env is None else env
    try:
        shapes, _, _ = infer_shapes(e)
    except ShapeError as err:
        raise Unsupported(str(err)) from err
    return _Evaluator(world, shapes, shapes.concrete(world, free=world.k)).ev(e, env, (0,))


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


def make_world(exprs: list[Expr], model: bool | dict, seed: int, smooth: bool | None = None, **kw) -> _World:
    smooth = needs_smooth(*exprs) if smooth is None else smooth
    cls = SmoothWorld if smooth else DiscreteWorld
    return cls(exprs, model=model, seed=seed, **kw)


def truth(a: Expr | str, b: Expr | str, model: bool | dict, seeds: Iterable[int] = (0, 1, 2), **kw) -> bool:
    """Whether ``a = b`` on several random distributions of the model (``model=False``: any joint).

    The original oracle's interface: it raises :class:`Unsupported` where it cannot decide. :func:`judge` is the
    full one (free random variables, undefined values, shapes).
    """
    a, b = _as_expr(a), _as_expr(b)
    for s in seeds:
        w = make_world([a, b], model, s, **kw)
        if not close(evaluate(a, w), evaluate(b, w)):
            return False
    return True


def _model_arg(model: object) -> bool | dict:
    if model is None or model is False:
        return False
    if model is True or isinstance(model, dict):
        return model
    raise TypeError("model: None/False (no model), True (the default model) or a dict of declared parents")


def _equal(a: Value, b: Value) -> bool:
    return close(a, b, rtol=1e-6, atol=1e-7)


def judge(statement: Expr | str, model: bool | dict | None = None, seeds: Iterable[int] | None = None,
          mixture: int = 16, smooth: bool | None = None, relation: str = "=", **kw) -> bool | str | None:
    """The oracle's label of a two-sided ``=`` statement (or of ``(lhs, rhs)``).

    ``True``: the sides agree (as values, or as matrices of one shape) on every world tried, for every value of
    the free random variables in the support, wherever either side is defined, and both are defined somewhere.
    ``False``: a counterexample (different values, different shapes, or one side defined where the other is
    not). :data:`ERROR`: a side is ill-shaped. ``None``: the oracle cannot decide (outside what it evaluates,
    or both sides undefined everywhere). ``model``: None/False (any joint), True (the default model), or a
    dict of declared parents on top of the default pattern. ``seeds``: by default 24 worlds for statements
    about plain matrices and numbers, 8 for discrete distributions, 5 for autograd worlds. ``relation="<="``
    judges ``lhs <= rhs`` instead (scalar sides).
    """
    lhs, rhs = statement if isinstance(statement, tuple) else sides(statement)
    lhs, rhs = _as_expr(lhs), _as_expr(rhs)
    m = _model_arg(model)
    try:
        shapes, _, same = infer_shapes(lhs, rhs)
    except ShapeError:
        return ERROR
    except Unsupported:
        return None
    if not same:
        return False
    if smooth is None:  # derivatives need the continuous parameter; everything else is discrete
        smooth = any(isinstance(n, Term) and n.order > 0 for x in (lhs, rhs) for n in x.walk())
    if seeds is None:
        plain = not any(isinstance(n, (Term, Prob)) for x in (lhs, rhs) for n in x.walk())
        seeds = range(24) if plain else range(5) if smooth else range(8)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead (and the machine is shared)
    try:
        return _judge(lhs, rhs, m, shapes, smooth, seeds, mixture, kw, _equal if relation == "=" else _at_most)
    finally:
        torch.set_num_threads(threads)


def _at_most(a: Value, b: Value) -> bool:
    if not (_scalar(a) and _scalar(b)):
        raise Unsupported("an inequality between matrices")
    return bool(a <= b + 1e-7 * max(1.0, abs(b)))


def _judge(lhs: Expr, rhs: Expr, m: bool | dict, shapes: Shapes, smooth: bool, seeds: Iterable[int], mixture: int,
           kw: dict, holds=_equal) -> bool | None:
    free = free_random(lhs, rhs)
    both_defined = False
    try:
        for s in seeds:
            world = make_world([lhs, rhs], m, s, smooth=smooth, mixture=mixture, **kw)
            ev = _Evaluator(world, shapes, shapes.concrete(world))
            for assignment in world.free_assignments(free):
                env = dict(world.env)
                env.update({free_key(v): val for v, val in assignment.items()})
                values = []
                for i, side in enumerate((lhs, rhs)):
                    try:
                        values.append(ev.ev(side, env, (i,)))
                    except Undefined:
                        values.append(None)
                a, b = values
                if a is None and b is None:
                    continue
                if a is None or b is None or not holds(a, b):
                    return False
                both_defined = True
    except Undefined:
        return None
    except Unsupported:
        return None
    return True if both_defined else None
