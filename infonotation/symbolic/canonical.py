"""Canonical forms: every expression as a linear combination of atoms with exact rational coefficients.

The meaning (spec/notation.md, section 3): an entropy-family term ``H[S | T]`` is
``E_{p(U | o)}[-log p(S | T)]`` where ``U`` are its upper-case names and ``o`` (its *context*) its
lower-case ones. The point-wise chain rule ``-log p(S | T) = -log p(S, T) + log p(T)`` always holds,
so every term is a combination of joint information contents ``-log p(V)`` averaged under
``p(U_V | o)``. An atom is keyed by its event ``V`` *and* its context ``o``: ``H[X, y] = H[y] + H[X | y]``
is true while ``H[X, y] = H[X] + H[y | X]`` is not, and the canonical forms say so.

Under a :class:`~infonotation.symbolic.model.Model` three exact reductions apply:

1. an event splits into blocks that are independent in the model (``-log p(A, B) = -log p(A) - log p(B)``);
2. a block that is closed under parents factorises, ``-log p(S) = sum_v -log p(v | pa(v))``;
3. context names d-separated from an atom's random names drop out (``p(w | x) = p(w)``).

Hessians ``H''`` (and gradients ``H'``) act linearly and vanish on atoms without the parameter.
Everything that is not linear in atoms (``logdet``, ``tr``, products of matrices, expectations of
non-linear bodies) becomes an *opaque key* whose arguments are themselves canonical, so equal
arguments give equal keys; :mod:`~infonotation.symbolic.evaluate` decides the rest numerically.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import NamedTuple

from ..errors import NotationError, ResolveError
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
    Relation,
    Sum,
    Term,
    Transpose,
)
from .model import Model

__all__ = ["Occ", "Canon", "canonical", "ONE", "occurrences", "key_vars", "format_key", "format_canon"]


class Occ(NamedTuple):
    """An occurrence of a variable: ``tag`` is ``R`` (random), ``o`` (observed) or ``*`` (point estimate)."""

    var: str
    tag: str

    def __str__(self) -> str:
        if self.tag == "R":
            return self.var[:1].upper() + self.var[1:] if not self.var.startswith("D") else self.var
        return self.var + ("*" if self.tag == "*" else "")


ONE = ("1",)
#: Integer powers of numbers up to this exponent are folded exactly; larger ones stay symbolic.
MAX_EXPONENT = 64
Canon = dict  # key -> Fraction


def occ(name: Name) -> Occ:
    var = variable(name)
    if var == "w_L":  # the last layer's parameter is the parameter, restricted (rule last_layer)
        var = "w"
    if is_random(name):
        return Occ(var, "R")
    return Occ(var, "*" if name.star else "o")


def occurrences(names: Iterable[Name]) -> frozenset[Occ]:
    return frozenset(occ(n) for n in names)


def _observed(s: Iterable[Occ]) -> frozenset[Occ]:
    return frozenset(o for o in s if o.tag != "R")


def _random_vars(s: Iterable[Occ]) -> frozenset[str]:
    return frozenset(o.var for o in s if o.tag == "R")


def _vars(s: Iterable[Occ]) -> frozenset[str]:
    return frozenset(o.var for o in s)


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


# -- atoms -----------------------------------------------------------------------------------------
def reduce_context(random_vars: frozenset[str], ctx: frozenset[Occ], model: Model | None) -> frozenset[Occ]:
    """Drop context names that are d-separated from the random names given the rest."""
    if model is None or not random_vars:
        return ctx
    kept = set(ctx)
    for c in sorted(ctx):
        rest = _vars(kept - {c})
        if model.d_separated(random_vars, frozenset({c.var}), rest):
            kept.discard(c)
    return frozenset(kept)


def _with_context(kind: str, payload: tuple, occs: frozenset[Occ], ctx: frozenset[Occ], model: Model | None):
    rv = _random_vars(occs)
    if not rv:  # point-wise: context-free
        return (kind, *payload, None)
    return (kind, *payload, reduce_context(rv, ctx, model))


def _blocks(s: frozenset[Occ], model: Model) -> list[frozenset[Occ]]:
    items = sorted(s)
    if len(items) <= 1:
        return [s]
    parent = {o: o for o in items}

    def find(o):
        while parent[o] != o:
            parent[o] = parent[parent[o]]
            o = parent[o]
        return o

    empty = frozenset()
    for i, a in enumerate(items):
        for b in items[i + 1 :]:
            if not model.d_separated(frozenset({a.var}), frozenset({b.var}), empty):
                parent[find(a)] = find(b)
    groups: dict[Occ, set[Occ]] = {}
    for o in items:
        groups.setdefault(find(o), set()).add(o)
    blocks = [frozenset(g) for g in groups.values()]
    if len(blocks) > 1:
        for b in blocks:  # pairwise independence is not joint independence: check each block as a set
            if not model.d_separated(_vars(b), _vars(s - b), empty):
                return [s]
    return blocks


def information_content(s: frozenset[Occ], ctx: frozenset[Occ], model: Model | None) -> Canon:
    """Canonical form of ``E_{p(U|ctx)}[-log p(S)]`` (U: the random members of S)."""
    if not s:
        return {}
    if model is None:
        return {_with_context("ic", (s,), s, ctx, None): Fraction(1)}
    out: Canon = {}
    for block in _blocks(s, model):
        bvars = _vars(block)
        if model.is_ancestral(bvars):
            by_var = {o.var: o for o in block}
            for o in block:
                pa = frozenset(by_var[p] for p in model.parents(o.var) or ())
                key = _with_context("f", (o, pa), pa | {o}, ctx, model)
                _add(out, {key: Fraction(1)})
        elif (pieces := _pieces_given_parameter(block, model)) is not None:
            # -log p(w, B_1, ..., B_n) = sum_i -log p(w, B_i) - (n - 1) (-log p(w)) when the B_i are
            # conditionally independent given the parameter (e.g. outputs of different points)
            point, parts = pieces
            for piece in parts:
                _add(out, information_content(piece | {point}, ctx, model))
            _add(out, information_content(frozenset({point}), ctx, model), Fraction(1 - len(parts)))
        else:
            _add(out, {_with_context("ic", (block,), block, ctx, model): Fraction(1)})
    return out


def _pieces_given_parameter(s: frozenset[Occ], model: Model) -> tuple[Occ, list[frozenset[Occ]]] | None:
    """Split ``s`` minus its parameter into blocks independent given the parameter (None: no split)."""
    points = [o for o in s if o.var == model.parameter]
    if len(points) != 1 or len(s) < 3:
        return None
    point = points[0]
    rest = sorted(s - {point})
    given = frozenset({point.var})
    parts: list[set[Occ]] = []
    for o in rest:
        joined = [p for p in parts if not all(model.d_separated(frozenset({o.var}), frozenset({q.var}), given)
                                              for q in p)]
        merged = {o}.union(*joined) if joined else {o}
        parts = [p for p in parts if p not in joined] + [merged]
    if len(parts) < 2:
        return None
    out = [frozenset(p) for p in parts]
    for p in out:  # pairwise is not joint independence: check each piece against the others as a set
        if not model.d_separated(_vars(p), _vars(s - p - {point}), given):
            return None
    return point, out


def _term(t: Term, model: Model | None) -> Canon:
    if t.head == "I":
        a, b, rest = t.groups[0], t.groups[1], t.groups[2:]
        if rest:  # interaction information: I[A;B;C|D] = I[A;B|D] - I[A;B|C,D]
            first = Term("I", t.order, t.groups[:-1], t.given)
            second = Term("I", t.order, t.groups[:-1], t.given + t.groups[-1])
            return _add(_term(first, model), _term(second, model), Fraction(-1))
        # I[A;B|C] := H[A|C] - H[A|B,C], each entropy term with its own context
        h1 = Term("H", t.order, (a,), t.given)
        h2 = Term("H", t.order, (a,), b + t.given)
        return _add(_term(h1, model), _term(h2, model), Fraction(-1))
    event = occurrences(t.groups[0])
    given = occurrences(t.given)
    everything = event | given
    ctx = _observed(everything)
    out = information_content(everything, ctx, model)
    if given:
        _add(out, information_content(given, ctx, model), Fraction(-1))
    if t.order == 0:
        return out
    parameter = model.parameter if model is not None else "w"
    # the Hessian acts on the integrand only: atoms whose event has no parameter vanish
    return {("d", t.order, k): v for k, v in out.items() if any(_is_param(o, parameter) for o in event_of(k))}


def _is_param(o: Occ, parameter: str) -> bool:
    """``w``, ``w*`` and the restricted parameters ``w_L*`` (last layer) are values of the parameter."""
    return o.var.partition("_")[0] == parameter


def event_of(key: tuple) -> frozenset[Occ]:
    """The event of an information-content atom (its integrand's variables, not its context)."""
    if key[0] == "ic":
        return key[1]
    if key[0] == "f":
        return key[2] | {key[1]}
    return frozenset(key_vars(key))


# -- expectations ----------------------------------------------------------------------------------
def _push(key: tuple, a: frozenset[Occ], b: frozenset[Occ], model: Model | None):
    """``E_{p(a|b)}`` of one linear atom, or None when the result is not an atom (kept opaque)."""
    avars = _vars(a)
    if key[0] == "d":
        parameter = model.parameter if model is not None else "w"
        if any(v.partition("_")[0] == parameter for v in avars):
            return None
        inner = _push(key[2], a, b, model)
        return None if inner is None else ("d", key[1], inner)
    kind = key[0]
    if kind == "ic":
        s, ctx = key[1], key[2]
    else:
        s, ctx = key[2] | {key[1]}, key[3]
    inside = {o for o in s if o.var in avars and o.tag != "R"}
    old_ctx = ctx if ctx is not None else _observed(s)
    in_ctx = {o for o in old_ctx if o.var in avars}
    if not inside and not in_ctx:
        return key
    new_ctx = (old_ctx - a) | b
    extra = _vars(new_ctx) - _vars(b)
    if model is None:
        if extra:
            return None
    elif not model.d_separated(avars, extra, _vars(b)):
        return None
    if ctx is not None:
        rv = _random_vars(s)
        missing = _vars(b) - _vars(old_ctx)
        if model is None:
            if missing:
                return None
        elif not model.d_separated(rv, missing, _vars(old_ctx)):
            return None

    def retag(o: Occ) -> Occ:
        return Occ(o.var, "R") if o.var in avars and o.tag != "R" else o

    if kind == "ic":
        ns = frozenset(retag(o) for o in s)
        return _with_context("ic", (ns,), ns, new_ctx, model)
    child, pa = retag(key[1]), frozenset(retag(o) for o in key[2])
    return _with_context("f", (child, pa), pa | {child}, new_ctx, model)


def _expectation(e: Expectation, model: Model | None) -> Canon:
    a, b = occurrences(e.dist.event), occurrences(e.dist.given)
    body = canonical(e.body, model)
    avars = _vars(a)
    out: Canon = {}
    rest: Canon = {}
    for k, v in body.items():
        mentions = any(o.var in avars for o in key_vars(k))
        if not mentions:
            _add(out, {k: v})
            continue
        pushed = _push(k, a, b, model) if k[0] in ("ic", "f", "d") else None
        if pushed is None:
            rest[k] = v
        else:
            _add(out, {pushed: v})
    if rest:
        if all(k[0] == "exp" for k in rest) and len(rest) == 1:
            total = _total_probability(e, next(iter(rest)), model)
            if total is not None:
                return _add(out, total, rest[next(iter(rest))])
        _add(out, {("E", a, b, _freeze(rest)): Fraction(1)})
    return out


def _total_probability(e: Expectation, key: tuple, model: Model | None) -> Canon | None:
    """``E_{p(a|b)}[p(c | a, b')] = p(c | b)`` when ``p(a | b) = p(a | b, b')`` (law of total probability)."""
    body = e.body
    if not isinstance(body, Prob):
        return None
    a, b = occurrences(e.dist.event), occurrences(e.dist.given)
    c, g = occurrences(body.event), occurrences(body.given)
    if not a <= g or c & a:
        return None
    extra = _vars(g - a) - _vars(b)
    if extra:
        if model is None or not model.d_separated(_vars(a), extra, _vars(b)):
            return None
    new_given = (g - a) | b
    if not _vars(b) <= _vars(g - a) | _vars(b):
        return None
    return canonical(Prob(tuple(_names(c)), tuple(_names(new_given))), model)


def _names(s: frozenset[Occ]) -> list[Name]:
    out = []
    for o in sorted(s):
        base, _, sub = o.var.partition("_")
        out.append(Name(base, sub or None, o.tag == "*"))
    return out


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
        return {("name", occ(e)): Fraction(1)}
    if isinstance(e, Term):
        return _term(e, model)
    if isinstance(e, Prob):
        s, t = occurrences(e.event), occurrences(e.given)
        ic = information_content(s | t, _observed(s | t), model)
        if t:
            _add(ic, information_content(t, _observed(s | t), model), Fraction(-1))
        return {("exp", _freeze(_scale(ic, Fraction(-1)))): Fraction(1)}
    if isinstance(e, Info):
        inner = canonical(e.arg, model)
        return _scale(_log(inner, model), Fraction(-1))
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
        return _func(e.name, canonical(e.arg, model), model)
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


def _log(c: Canon, model: Model | None) -> Canon:
    if len(c) == 1:
        (k, v), = c.items()
        if k[0] == "exp" and v == 1:
            return dict(k[1])
        if k[0] == "fn" and k[1] == "det" and v == 1:
            return {("fn", "logdet", k[2]): Fraction(1)}
    return {("fn", "log", _freeze(c)): Fraction(1)}


def _func(name: str, arg: Canon, model: Model | None) -> Canon:
    if name == "log":
        return _log(arg, model)
    if name == "tr":  # the trace is linear
        out: Canon = {}
        for k, v in arg.items():
            _add(out, {("fn", "tr", _freeze({k: Fraction(1)})): v})
        return out
    if name == "exp" and arg:
        return {("exp", _freeze(arg)): Fraction(1)}
    if name == "logdet" and len(arg) == 1:
        (k, v), = arg.items()
        if k[0] == "inv" and v == 1:  # logdet(A^-1) = -logdet(A)
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
        if not opaque and _is_exp(acc) and _is_exp(c):
            acc = _combine_exp(acc, c, -1 if op == "/" else 1)
            continue
        if not opaque:
            opaque.append(("*", _freeze(acc)))
        opaque.append(("/" if op == "/" else "*", _freeze(c)))
    if not opaque:
        return _scale(acc, scale)
    return {("prod", tuple(opaque)): scale}


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
        return f"H{chr(39) * k[1]}{{{format_key(k[2])}}}"
    if kind == "const":
        return k[1]
    if kind == "Id":
        return "Id"
    if kind == "name":
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
