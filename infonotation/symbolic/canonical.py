"""Canonical forms: every expression as a linear combination of atoms with exact rational coefficients.

The meaning (spec/notation.md, section 3): an entropy-family term ``H[S | T]`` is
``E_{p(U | o)}[-log p(S | T)]`` where ``U`` are its upper-case names and ``o`` (its *context*) its
lower-case ones. The point-wise chain rule ``-log p(S | T) = -log p(S, T) + log p(T)`` always holds,
so every term is a combination of joint information contents ``-log p(V)`` averaged under
``p(U_V | o)``. An atom is keyed by its event ``V`` *and* its context ``o``: ``H[X, y] = H[y] + H[X | y]``
is true while ``H[X, y] = H[X] + H[y | X]`` is not, and the canonical forms say so.

Names become *occurrences* ``Occ(variable, tag)``; the tag says how the name is used, and binding and
scoping go by the whole occurrence, never by the letter:

* ``R``: an upper-case name inside ``H[...]``/``I[...]``, averaged over inside that term;
* ``F``: an upper-case name inside ``p(...)`` outside any term, a *free* random variable: the expression is a
  function of its value (``p(Y|x)`` is a random quantity, not ``exp(-H[Y|x])``);
* ``o``: a lower-case observed value (``x``, ``y_1``, the parameter value ``w``), the only kind an
  expectation ``E_{p(y|x)}`` binds;
* ``*``: the point estimate ``w*`` (and its parts ``w_L*``), a fixed value that no expectation binds.

Exact reductions, each a theorem with its precondition:

1. a part of the parameter next to the whole, with the same tag, adds nothing: ``-log p(w, w_L, S) =
   -log p(w, S)`` (``w_L`` is a function of ``w``; a fact of the notation, with or without a model);
2. under a :class:`~infonotation.symbolic.model.Model`: an event factorises by the chain rule in the model's
   fixed order, each factor conditioned only on what it depends on, ``-log p(S) = sum_v -log p(v | R_v)``
   (for a set closed under parents, ``R_v`` is ``v``'s parents); context names that the model makes irrelevant
   (Bayes-ball's requisite set) drop out;
3. Hessians ``H''`` (and gradients ``H'``) act linearly on the integrand at the term's parameter value and
   vanish on atoms without that value;
4. an expectation ``E_{p(a|b)}`` is pushed through linear atoms only (never through ``exp``, ``log``,
   ``logdet``, inverses or products), when the weights combine: ``p(a|b) p(U|c) = p(a, U | b, c)``;
   ``E_{p(a|b)}[p(c|a,g)] = p(c|g,b)`` only when ``c`` is independent of ``b`` given ``(a, g)`` and ``a`` of
   ``g`` given ``b``; an expectation of anything else is an opaque key with its unused bound names summed
   out and its irrelevant conditioning names dropped.

Everything that is not linear in atoms becomes an *opaque key* whose arguments are themselves canonical,
so equal arguments give equal keys; :mod:`~infonotation.symbolic.evaluate` decides the rest numerically.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable
from fractions import Fraction
from typing import NamedTuple

from ..errors import NotationError, ResolveError
from ..syntax.resolve import is_batch, is_random, variable
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
    Relation,
    Sum,
    Term,
    Transpose,
)
from .model import Model, is_parameter_part

__all__ = ["Occ", "Canon", "canonical", "ONE", "occurrences", "key_vars", "format_key", "format_canon",
           "bound_occurrences", "LINEAR_KINDS"]

#: Tags of occurrences that are values (everything but an average inside a term).
VALUE_TAGS = ("F", "o", "*")


class Occ(NamedTuple):
    """An occurrence of a variable: ``tag`` is ``R`` (averaged), ``F`` (free random), ``o`` (observed), ``*``."""

    var: str
    tag: str

    def __str__(self) -> str:
        if self.tag in ("R", "F"):
            return self.var[:1].upper() + self.var[1:] if not self.var.startswith("D") else self.var
        return self.var + ("*" if self.tag == "*" else "")


ONE = ("1",)
#: Integer powers of numbers up to this exponent are folded exactly; larger ones stay symbolic.
MAX_EXPONENT = 64
#: Keys that are linear atoms: two canonical forms that differ only in these differ as quantities.
LINEAR_KINDS = ("ic", "f", "d", "const", "1", "Id", "name", "mat")
Canon = dict  # key -> Fraction


def occ(name: Name, free: bool = False) -> Occ:
    var = variable(name)
    if is_random(name):
        return Occ(var, "F" if free else "R")
    return Occ(var, "*" if name.star else "o")


def occurrences(names: Iterable[Name], free: bool = False) -> frozenset[Occ]:
    return frozenset(occ(n, free) for n in names)


def bound_occurrences(dist: Prob) -> frozenset[Occ]:
    """The occurrences an expectation ``E_{dist}`` binds: the lower-case names of its event, whole."""
    return frozenset(occ(n) for n in dist.event)


def _observed(s: Iterable[Occ]) -> frozenset[Occ]:
    return frozenset(o for o in s if o.tag != "R")


def _random_vars(s: Iterable[Occ]) -> frozenset[str]:
    return frozenset(o.var for o in s if o.tag == "R")


def _vars(s: Iterable[Occ]) -> frozenset[str]:
    return frozenset(o.var for o in s)


def _unique_vars(s: frozenset[Occ]) -> bool:
    return len(_vars(s)) == len(s)


def key_vars(key: object) -> set[Occ]:
    """Every occurrence inside a (nested) key."""
    out: set[Occ] = set()
    stack = [key]
    while stack:
        k = stack.pop()
        if isinstance(k, Occ):
            out.add(k)
        elif isinstance(k, (tuple, frozenset, list)):
            stack.extend(k)
    return out


def _freeze(c: Canon) -> frozenset:
    return frozenset((k, v) for k, v in c.items() if v != 0)


def _add(acc: Canon, c: Canon, scale: Fraction = Fraction(1)) -> Canon:
    for k, v in c.items():
        nv = acc.get(k, Fraction(0)) + scale * v
        if nv:
            acc[k] = nv
        else:
            acc.pop(k, None)
    return acc


def _scale(c: Canon, s: Fraction) -> Canon:
    return {k: v * s for k, v in c.items()} if s else {}


def _number(c: Canon) -> Fraction | None:
    if not c:
        return Fraction(0)
    if len(c) == 1 and ONE in c:
        return c[ONE]
    return None


def _parameter(model: Model | None) -> str:
    return model.parameter if model is not None else "w"


# -- atoms -----------------------------------------------------------------------------------------
def drop_parts(s: frozenset[Occ], parameter: str) -> frozenset[Occ]:
    """Drop parts of the parameter (``w_L``) that stand next to the whole (``w``) with the same tag."""
    parts = [o for o in s if is_parameter_part(o.var, parameter) and Occ(parameter, o.tag) in s]
    return s.difference(parts) if parts else s


def reduce_context(random_vars: frozenset[str], ctx: frozenset[Occ], model: Model | None,
                   universe: frozenset[str] = frozenset()) -> frozenset[Occ]:
    """Drop the context names that ``p(random_vars | context)`` does not depend on under the model."""
    if model is None or not random_vars or not ctx or not _unique_vars(ctx):
        return ctx
    keep = model.requisite(random_vars, _vars(ctx), universe)
    return frozenset(o for o in ctx if o.var in keep)


def _with_context(kind: str, payload: tuple, occs: frozenset[Occ], ctx: frozenset[Occ], model: Model | None,
                  universe: frozenset[str] = frozenset()):
    rv = _random_vars(occs)
    if not rv:  # point-wise: context-free
        return (kind, *payload, None)
    return (kind, *payload, reduce_context(rv, drop_parts(ctx, _parameter(model)), model, universe))


def information_content(s: frozenset[Occ], ctx: frozenset[Occ], model: Model | None) -> Canon:
    """Canonical form of ``E_{p(U|ctx)}[-log p(S)]`` (U: the averaged members of S)."""
    s = drop_parts(s, _parameter(model))
    if not s:
        return {}
    if model is None or not _unique_vars(s) or not all(model.known(o.var) for o in s):
        # no model, or a name it does not know (which may depend on everything): one joint atom
        return {_with_context("ic", (s,), s, ctx, model): Fraction(1)}
    return dict(_information_content(s, ctx, model))


@functools.lru_cache(maxsize=65536)
def _information_content(s: frozenset[Occ], ctx: frozenset[Occ], model: Model) -> tuple:
    """The chain rule in the model's fixed order, ``-log p(S) = sum_v -log p(v | requisite(v))``."""
    by_var = {o.var: o for o in s}
    universe = frozenset(by_var) | _vars(ctx) if _unique_vars(ctx) else frozenset()
    out: Canon = {}
    for v, before in model.factorise(frozenset(by_var)):
        o = by_var[v]
        pa = frozenset(by_var[p] for p in before)
        if model.deterministic(v) and (Occ(model.parameter, o.tag) in pa or
                                       (o.tag == "R" and any(p.var == model.parameter for p in pa))):
            continue  # -log p(w_L | w) = 0, and E_{p(W_L|w*)}[-log p(W_L|w*)] = 0: the part is a function of the whole
        _add(out, {_with_context("f", (o, pa), pa | {o}, ctx, model, universe): Fraction(1)})
    return tuple(out.items())


def _point(t: Term, parameter: str) -> Occ | None:
    """The parameter value a derivative term is taken at: ``w*`` (or ``w``), else its single part ``w_L*``."""
    values = [n for g in t.groups for n in g] + list(t.given)
    values = [occ(n) for n in values if n.base == parameter and not is_random(n)]
    whole = [o for o in values if o.var == parameter]
    if whole:
        return whole[0]
    return values[0] if values else None


def event_of(key: tuple) -> frozenset[Occ]:
    """The event of an information-content atom (its integrand's variables, not its context)."""
    if key[0] == "ic":
        return key[1]
    if key[0] == "f":
        return key[2] | {key[1]}
    return frozenset(key_vars(key))


def _term(t: Term, model: Model | None) -> Canon:
    return dict(_term_cached(t, model))


@functools.lru_cache(maxsize=16384)
def _term_cached(t: Term, model: Model | None) -> tuple:
    if t.head == "I":
        return tuple(_interaction(t, model).items())
    event = occurrences(t.groups[0])
    given = occurrences(t.given)
    everything = event | given
    ctx = _observed(everything)
    out = information_content(everything, ctx, model)
    if given:
        _add(out, information_content(given, ctx, model), Fraction(-1))
    if t.order == 0:
        return tuple(out.items())
    point = _point(t, _parameter(model))
    if point is None:  # no parameter value in the term: its derivative is zero
        return ()
    group = t.groups[0]
    rows = variable(group[0]) if t.order == 1 and len(group) == 1 and is_batch(group[0]) else None
    # the derivative acts on the integrand only, at the term's parameter value
    glm = t.order == 2 and _generalised_linear(point, model)
    return tuple((("d", t.order, point, rows, _fisher(k, point, model) if glm else k), v) for k, v in out.items()
                 if point in event_of(k))


#: Likelihoods that are exponential families with the canonical link in the network's outputs.
GLM_LIKELIHOODS = ("categorical", "bernoulli", "gaussian")


def _generalised_linear(point: Occ, model: Model | None) -> bool:
    """The model is a GLM in the parameter the derivative is taken in: its likelihood is an exponential family with
    the canonical link, and the outputs are linear in that parameter (the last layer ``w_L``, or ``linear=True``)."""
    if model is None or model.likelihood not in GLM_LIKELIHOODS:
        return False
    return is_parameter_part(point.var, model.parameter) or (model.linear and point.var == model.parameter)


def _fisher(key: tuple, point: Occ, model: Model) -> tuple:
    """For a GLM, the Hessian of ``-log p(y | x, w)`` does not depend on ``y``: it is the Fisher information's (R14)."""
    if key[0] != "f" or key[1].tag == "R" or point not in key[2]:
        return key
    parents = model.parents(key[1].var) or ()
    if model.parameter not in parents:  # not an output of the network
        return key
    child = Occ(key[1].var, "R")
    pa = key[2]
    return _with_context("f", (child, pa), pa | {child}, _observed(pa), model)


def _interaction(t: Term, model: Model | None) -> Canon:
    """``I[A_1; ...; A_n | C]`` by inclusion-exclusion over the groups after the first (n >= 2).

    ``I[A;B|C] := H[A|C] - H[A|B,C]`` (each entropy term with its own context) and
    ``I[A_1;...;A_n|C] := I[A_1;...;A_{n-1}|C] - I[A_1;...;A_{n-1}|A_n,C]``, so
    ``I = sum over subsets T of {A_2..A_n} of (-1)^|T| H[A_1 | T, C]``.
    """
    first, rest = t.groups[0], t.groups[1:]
    out: Canon = {}
    for r in range(len(rest) + 1):
        for subset in itertools.combinations(rest, r):
            extra = tuple(n for g in subset for n in g)
            _add(out, _term(Term("H", t.order, (first,), extra + t.given), model), Fraction((-1) ** r))
    return out


# -- expectations ----------------------------------------------------------------------------------
def _consistent(*sets: frozenset[Occ]) -> bool:
    """No variable appears with two different values across the sets."""
    seen: dict[str, str] = {}
    for s in sets:
        for o in s:
            if o.tag == "R":
                continue
            if seen.setdefault(o.var, o.tag) != o.tag:
                return False
    return True


def _push(key: tuple, bound: frozenset[Occ], b: frozenset[Occ], model: Model | None):
    """``E_{p(a|b)}`` of one linear atom (``a``: the bound occurrences), or None when it is not an atom."""
    avars = _vars(bound)
    if key[0] == "d":
        if key[2] in bound:  # the derivative's point itself is averaged over: not an atom
            return None
        inner = _push(key[4], bound, b, model)
        return None if inner is None else ("d", key[1], key[2], key[3], inner)
    kind = key[0]
    if kind == "ic":
        s, ctx = key[1], key[2]
    else:
        s, ctx = key[2] | {key[1]}, key[3]
    old_ctx = ctx if ctx is not None else _observed(s)
    if not (s & bound) and not (old_ctx & bound):
        return key
    if (_vars(s - bound) | _vars(old_ctx - bound)) & avars:
        return None  # another value of a bound variable stays behind
    new_ctx = (old_ctx - bound) | b
    if not _consistent(new_ctx, s - bound):
        return None
    # p(a | b) = p(a | new context): a is independent of the context's other names given b
    extra = _vars(new_ctx) - _vars(b)
    if model is None:
        if extra:
            return None
    elif not model.d_separated(avars, extra, _vars(b)):
        return None
    # p(U | old context) = p(U | new context): the averaged names are independent of what b adds
    rv = _random_vars(s)
    missing = _vars(b) - _vars(old_ctx)
    if rv and missing:
        if model is None or not model.d_separated(rv, missing, _vars(old_ctx)):
            return None

    def retag(o: Occ) -> Occ:
        return Occ(o.var, "R") if o in bound else o

    if kind == "ic":
        ns = frozenset(retag(o) for o in s)
        return _with_context("ic", (ns,), ns, new_ctx, model)
    child, pa = retag(key[1]), frozenset(retag(o) for o in key[2])
    return _with_context("f", (child, pa), pa | {child}, new_ctx, model)


def _mentions(key: object, bound: frozenset[Occ]) -> bool:
    return not bound.isdisjoint(key_vars(key))


def _expectation(e: Expectation, model: Model | None) -> Canon:
    bound = bound_occurrences(e.dist)
    b = occurrences(e.dist.given)
    body = canonical(e.body, model)
    out: Canon = {}
    rest: Canon = {}
    for k, v in body.items():
        if not _mentions(k, bound):  # E[c] = c: the weights sum to one
            _add(out, {k: v})
            continue
        pushed = _push(k, bound, b, model) if k[0] in ("ic", "f", "d") else None
        if pushed is None:
            rest[k] = v
        else:
            _add(out, {pushed: v})
    if rest:
        if len(rest) == 1:
            key = next(iter(rest))
            total = _total_probability(e, key, model) if key[0] == "exp" else None
            if total is not None:
                return _add(out, total, rest[key])
        _add(out, {_opaque_expectation(bound, b, rest, model): Fraction(1)})
    return out


def _opaque_expectation(bound: frozenset[Occ], b: frozenset[Occ], body: Canon, model: Model | None) -> tuple:
    """The key of ``E_{p(a|b)}[body]`` for a body that is not linear in atoms.

    Bound names the body does not use are summed out (``E_{p(a,a'|b)}[f(a)] = E_{p(a|b)}[f(a)]``), and
    conditioning names that ``p(a | b)`` does not depend on under the model are dropped.
    """
    used = bound & frozenset(key_vars(tuple(body)))
    b = drop_parts(b, _parameter(model))
    if model is not None and _unique_vars(b) and _consistent(b, used):
        keep = model.requisite(_vars(used), _vars(b))
        b = frozenset(o for o in b if o.var in keep)
    return ("E", used, b, _freeze(body))


def _total_probability(e: Expectation, key: tuple, model: Model | None) -> Canon | None:
    """``E_{p(a|b)}[p(c | a, g)] = p(c | g, b)``, the law of total probability, with its two conditions.

    ``sum_a p(a|b) p(c|a,g) = sum_a p(a|g,b) p(c|a,g,b)`` needs ``p(a|b) = p(a|g,b)`` (``a`` independent of
    ``g`` given ``b``) and ``p(c|a,g) = p(c|a,g,b)`` (``c`` independent of ``b`` given ``a`` and ``g``). With no
    model these hold only syntactically: ``g`` within ``b``, and ``b`` within ``a`` and ``g``.
    """
    body = e.body
    if not isinstance(body, Prob):
        return None
    a = bound_occurrences(e.dist)
    b = occurrences(e.dist.given)
    c, g = occurrences(body.event, free=True), occurrences(body.given, free=True)
    if not a <= g or c & a or not _consistent(a | b, g, c):
        return None
    g_rest = g - a
    if _vars(c) & (_vars(b) | _vars(g_rest)):
        return None
    if model is None:
        if not (_vars(g_rest) <= _vars(b) and _vars(b) <= _vars(a) | _vars(g_rest)):
            return None
    else:
        if not model.d_separated(_vars(a), _vars(g_rest) - _vars(b), _vars(b)):
            return None
        if not model.d_separated(_vars(c), _vars(b) - _vars(g), _vars(a) | _vars(g_rest)):
            return None
    event = tuple(_name(o) for o in sorted(c))
    given = tuple(_name(o) for o in sorted(g_rest | b))
    return canonical(Prob(event, given), model)


def _name(o: Occ) -> Name:
    base, _, sub = o.var.partition("_")
    if o.tag in ("R", "F") and base != "D":
        base = base[:1].upper() + base[1:]
    return Name(base, sub or None, o.tag == "*")


# -- expressions -----------------------------------------------------------------------------------
def canonical(e: Expr, model: Model | None = None) -> Canon:
    """The canonical form of ``e``: ``{key: Fraction}``. Raises ``ResolveError`` for nonsense."""
    if isinstance(e, Relation):
        raise NotationError("a relation has no canonical form; compare its sides with `check`")
    if isinstance(e, Number):
        return {ONE: e.value} if e.value else {}
    if isinstance(e, Const):
        return {("const", e.name): Fraction(1)}
    if isinstance(e, Identity):
        return {("Id",): Fraction(1)}
    if isinstance(e, Name):
        if e.upper and e.base != "D":
            return {("mat", e.text): Fraction(1)}
        return {("name", occ(e)): Fraction(1)}
    if isinstance(e, Term):
        return _term(e, model)
    if isinstance(e, Prob):
        s, t = occurrences(e.event, free=True), occurrences(e.given, free=True)
        ic = information_content(s | t, _observed(s | t), model)
        if t:
            _add(ic, information_content(t, _observed(s | t), model), Fraction(-1))
        return {("exp", _freeze(_scale(ic, Fraction(-1)))): Fraction(1)}
    if isinstance(e, Info):
        inner = canonical(e.arg, model)
        return _scale(_log(inner), Fraction(-1))
    if isinstance(e, Expectation):
        return _expectation(e, model)
    if isinstance(e, Neg):
        return _scale(canonical(e.arg, model), Fraction(-1))
    if isinstance(e, Sum):
        out = dict(canonical(e.terms[0], model))
        for op, t in zip(e.ops, e.terms[1:]):
            _add(out, canonical(t, model), Fraction(1 if op == "+" else -1))
        return out
    if isinstance(e, Product):
        return _product(e, model)
    if isinstance(e, Func):
        return _func(e.name, canonical(e.arg, model))
    if isinstance(e, Pow):
        base, exp = canonical(e.base, model), canonical(e.exponent, model)
        nb, ne = _number(base), _number(exp)
        small = ne is not None and abs(ne) <= MAX_EXPONENT
        if nb is not None and small and ne.denominator == 1 and (nb != 0 or ne >= 0):
            v = nb ** int(ne)
            return {ONE: Fraction(v)} if v else {}
        if ne == -1:
            return {("inv", _freeze(base)): Fraction(1)}
        return {("pow", _freeze(base), _freeze(exp)): Fraction(1)}
    if isinstance(e, Transpose):
        inner = canonical(e.arg, model)
        if all(k == ONE or k[0] == "Id" or (k[0] == "d" and k[1] == 2) for k in inner):
            return inner  # Hessians and the identity are symmetric
        return {("T", _freeze(inner)): Fraction(1)}
    raise NotationError(f"cannot put {type(e).__name__} into canonical form")


def _log(c: Canon) -> Canon:
    if len(c) == 1:
        (k, v), = c.items()
        if k[0] == "exp" and v == 1:  # log(exp(z)) = z for real z
            return dict(k[1])
        if k[0] == "fn" and k[1] == "det" and v == 1:  # log(det M) = logdet(M), both undefined for det <= 0
            return {("fn", "logdet", k[2]): Fraction(1)}
    return {("fn", "log", _freeze(c)): Fraction(1)}


def _func(name: str, arg: Canon) -> Canon:
    if name == "log":
        return _log(arg)
    if name == "tr":  # the trace is linear
        out: Canon = {}
        for k, v in arg.items():
            _add(out, {("fn", "tr", _freeze({k: Fraction(1)})): v})
        return out
    if name == "exp" and arg:
        return {("exp", _freeze(arg)): Fraction(1)}
    if name == "logdet" and len(arg) == 1:
        (k, v), = arg.items()
        if k[0] == "inv" and v == 1:  # logdet(A^-1) = -logdet(A): det(A^-1) has the sign of det(A)
            return {("fn", "logdet", k[1]): Fraction(-1)}
    return {("fn", name, _freeze(arg)): Fraction(1)}


def _product(e: Product, model: Model | None) -> Canon:
    acc = canonical(e.factors[0], model)
    opaque: list[tuple[str, frozenset]] = []
    scale = Fraction(1)
    for op, f in zip(e.ops, e.factors[1:]):
        c = canonical(f, model)
        n = _number(c)
        if n is not None:
            if op == "/":
                if n == 0:
                    raise ResolveError("division by zero")
                scale /= n
            else:
                scale *= n
            continue
        na = _number(acc) if not opaque else None
        if na is not None and op != "/":
            scale *= na
            acc = c
            continue
        if not opaque and op != "/" and (_is_symbol(acc) or _is_symbol(c)):
            acc = _distribute(acc, c) if _is_symbol(acc) else _distribute(c, acc)
            continue
        if not opaque and _is_exp(acc) and _is_exp(c):  # p(a) p(b) = exp(log p(a) + log p(b)), point-wise
            acc = _combine_exp(acc, c, -1 if op == "/" else 1)
            continue
        if not opaque:
            opaque.append(("*", _freeze(acc)))
        opaque.append(("/" if op == "/" else "*", _freeze(c)))
    if not opaque:
        return _scale(acc, scale)
    return {("prod", tuple(opaque)): scale}


def _is_symbol(c: Canon) -> bool:
    """A scalar symbol times a rational (``beta``, ``1/2 lambda``)."""
    return len(c) == 1 and next(iter(c))[0] == "name"


def _distribute(symbol: Canon, other: Canon) -> Canon:
    """``c * (a + b) = c a + c b`` for a scalar symbol ``c``: the symbol stays an exact coefficient of each atom."""
    (sk, sv), = symbol.items()
    out: Canon = {}
    for k, v in other.items():
        key = sk if k == ONE else ("prod", (("*", _freeze({sk: Fraction(1)})), ("*", _freeze({k: Fraction(1)}))))
        _add(out, {key: sv * v})
    return out


def _is_exp(c: Canon) -> bool:
    return len(c) == 1 and next(iter(c))[0] == "exp"


def _combine_exp(a: Canon, b: Canon, sign: int) -> Canon:
    (ka, va), = a.items()
    (kb, vb), = b.items()
    total = _add(dict(ka[1]), dict(kb[1]), Fraction(sign))
    return {("exp", _freeze(total)): va * (vb if sign > 0 else 1 / vb)}


# -- printing --------------------------------------------------------------------------------------
def _occs(s: Iterable[Occ]) -> str:
    return ", ".join(str(o) for o in sorted(s))


def format_key(k: tuple) -> str:
    kind = k[0]
    if k == ONE:
        return "1"
    if kind == "ic" or kind == "f":
        if kind == "ic":
            s, ctx, inner = k[1], k[2], f"h(p({_occs(k[1])}))"
        else:
            s = k[2] | {k[1]}
            ctx = k[3]
            pa = f" | {_occs(k[2])}" if k[2] else ""
            inner = f"h(p({k[1]}{pa}))"
        if ctx is None:
            return inner
        rv = sorted(o for o in s if o.tag == "R")
        c = f" | {_occs(ctx)}" if ctx else ""
        return f"E_{{p({_occs(rv)}{c})}}[{inner}]"
    if kind == "d":
        at = f"@{k[2]}" + (f", rows {k[3]}" if k[3] else "")
        return f"H{chr(39) * k[1]}{{{format_key(k[4])}}}{at}"
    if kind == "const":
        return k[1]
    if kind == "Id":
        return "Id"
    if kind in ("name", "mat"):
        return str(k[1])
    if kind == "exp":
        return f"exp({format_canon(dict(k[1]))})"
    if kind == "fn":
        return f"{k[1]}({format_canon(dict(k[2]))})"
    if kind == "inv":
        return f"({format_canon(dict(k[1]))})^-1"
    if kind == "T":
        return f"({format_canon(dict(k[1]))})^T"
    if kind == "pow":
        return f"({format_canon(dict(k[1]))})^({format_canon(dict(k[2]))})"
    if kind == "prod":
        parts = [f"({format_canon(dict(c))})" for _, c in k[1]]
        out = parts[0]
        for (op, _), p in zip(k[1][1:], parts[1:]):
            out += f" {'@' if op == '*' else '/'} {p}"
        return out
    if kind == "E":
        g = f" | {_occs(k[2])}" if k[2] else ""
        return f"E_{{p({_occs(k[1])}{g})}}[{format_canon(dict(k[3]))}]"
    return repr(k)


def format_canon(c: Canon) -> str:
    """A readable rendering of a canonical form (sorted, so equal forms print equally)."""
    if not c:
        return "0"
    items = sorted(((format_key(k), v) for k, v in c.items()), key=lambda kv: kv[0])
    out = []
    for i, (text, v) in enumerate(items):
        sign = "-" if v < 0 else "+"
        mag = abs(v)
        coeff = "" if mag == 1 and text != "1" else (f"{mag} " if text != "1" else f"{mag}")
        body = coeff + (text if text != "1" or mag == 1 else "")
        if text == "1" and mag != 1:
            body = f"{mag}"
        out.append((("-" if sign == "-" else "") if i == 0 else f" {sign} ") + body)
    return "".join(out)
