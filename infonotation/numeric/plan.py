"""Lowering a weight-space matrix expression to a plan: a linear combination of structured atoms.

Leaves (``Term`` nodes of order 2, and the mean of one over the evaluation inputs):

=====================================  ===================================================================
``H''[w*]``                            ``PRIOR``: the prior precision, or ``H''[w*|D]`` when training data is given
``H''[w*|D]``                          ``POSTERIOR``: ``sum_train H''[y_i|x_i,w*] + H''[w*]`` (needs ``train``)
``H''[D|w*]``                          ``TRAIN``: the training data's curvature ``sum_train H''[y_i|x_i,w*]``
``H''[Y|x,w*]``, ``Y_B|x_B``           ``POOL`` Fisher of the candidate point (or batch), low rank ``U U^T``
``H''[y|x,w*]``                        ``POOL`` observed information (the Fisher under ``ggn``/``glm`` or last layer)
``H''[Y_1|x_1,w*]``, ``y_1|x_1``       ``BOUND``: a point bound by keyword at compile time (``x_1=...``, ``y_1=...``)
``H''[Y_eval|x_eval,w*]``              ``EVAL_SUM``: the eval set's Fisher, summed (joint, JEPIG)
``H''[Y_eval|X_eval,w*]``,             ``EVAL_MEAN``: its mean (expectation over eval inputs, EPIG)
``E_{p(x_eval)}[H''[Y_eval|x_eval,w*]]``
=====================================  ===================================================================

The candidate is the input ``x`` (or ``x_B``) unless another subscript is named; scalar symbols (``beta``) take
the values bound at compile time.

Atoms (each evaluated per pool point with the candidate's ``U`` of rank ``K``):

* ``LogDet(S)``: ``logdet(Q + w F)`` with ``Q`` the fixed part of the sum ``S`` and ``w F`` the candidate's;
  ``= logdet(Q) + logdet(Id_K + w U^T Q^-1 U)`` (determinant lemma, data side ``K x K`` when ``K <= P``).
  ``logdet(A @ B^-1 + Id)`` lowers to ``LogDet(B + A) - LogDet(B)``; ``log(det(M))`` is ``logdet(M)``.
* ``Trace(A, B)``: ``tr(A @ B^-1)`` (``B=None``: ``tr(A)``). With the candidate in ``A``: ``tr(A_0 Q^-1) +
  w tr(U^T Q^-1 U)``; with it in ``B`` (Woodbury): ``tr(A Q^-1) - w tr((Id + w U^T Q^-1 U)^-1 U^T Q^-1 A Q^-1 U)``.
* ``CK``: the constant ``C_k = k/2 log(2 pi e)`` with ``k = P``.

:func:`lower` is cached (``functools.lru_cache``) on the hashable expression and options.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from ..errors import CompileError
from ..syntax.tree import Const, Expectation, Expr, Func, Identity, Name, Neg, Number, Pow, Product, Sum, Term

__all__ = ["bound_point", "Leaf", "WeightedSum", "LogDet", "Trace", "CK", "Plan", "lower", "classify_leaf"]


@dataclass(frozen=True, order=True)
class Leaf:
    """A matrix leaf. ``kind`` in PRIOR, POSTERIOR, TRAIN, POOL, BOUND, EVAL_SUM, EVAL_MEAN; ``observed`` for
    ``H''[y|...]``; ``point`` the subscript of a bound point."""

    kind: str
    observed: bool = False
    text: str = ""
    point: str = ""

    @property
    def fixed(self) -> bool:
        return self.kind != "POOL"


#: A weighted sum of leaves: ``((leaf, weight), ...)``, sorted.
WeightedSum = tuple[tuple[Leaf, Fraction], ...]


@dataclass(frozen=True)
class LogDet:
    """``logdet(sum_l w_l M_l)``."""

    matrix: WeightedSum


@dataclass(frozen=True)
class Trace:
    """``tr(A @ B^-1)``, or ``tr(A)`` when ``B`` is None."""

    A: WeightedSum
    B: WeightedSum | None


@dataclass(frozen=True)
class CK:
    """``C_k = k/2 log(2 pi e)``, ``k`` the number of parameters."""


Atom = LogDet | Trace | CK


@dataclass(frozen=True)
class Plan:
    """A weight-space matrix expression lowered to ``const + sum_i coef_i * atom_i``."""

    expr: Expr
    terms: tuple[tuple[Atom, Fraction], ...]
    const: float
    observed_as_fisher: bool

    @property
    def leaves(self) -> frozenset[Leaf]:
        out: set[Leaf] = set()
        for atom, _ in self.terms:
            for ws in _sums(atom):
                out.update(leaf for leaf, _ in ws)
        return frozenset(out)

    @property
    def pool_leaf(self) -> Leaf | None:
        pools = [leaf for leaf in self.leaves if leaf.kind == "POOL"]
        return pools[0] if pools else None

    def __str__(self) -> str:
        parts = [f"{float(c):+g} * {describe_atom(a)}" for a, c in self.terms]
        if self.const:
            parts.append(f"{self.const:+g}")
        return f"plan for {self.expr}:\n  " + "\n  ".join(parts or ["0"])


def _sums(atom: Atom) -> list[WeightedSum]:
    if isinstance(atom, LogDet):
        return [atom.matrix]
    if isinstance(atom, Trace):
        return [atom.A] + ([atom.B] if atom.B is not None else [])
    return []


def ws_text(ws: WeightedSum) -> str:
    return " + ".join((leaf.text if w == 1 else f"{w} {leaf.text}") for leaf, w in ws)


def describe_atom(atom: Atom) -> str:
    if isinstance(atom, LogDet):
        return f"logdet({ws_text(atom.matrix)})"
    if isinstance(atom, Trace):
        return f"tr({ws_text(atom.A)})" if atom.B is None else f"tr(({ws_text(atom.A)}) @ ({ws_text(atom.B)})^-1)"
    return "C_k"


# -- leaves ------------------------------------------------------------------------------------
def _is_wstar(n: Name) -> bool:
    return n.star and not n.upper and n.base in ("w", "theta", "omega")


def classify_leaf(t: Term, observed_as_fisher: bool, candidate: str | None = None) -> Leaf:
    """The leaf a Hessian term stands for (``CompileError`` when it is not one the compiler can build)."""
    text = str(t)
    if t.head != "H" or t.order != 2 or len(t.groups[0]) != 1:
        raise CompileError(f"cannot lower {text}: only Hessians H''[...] of one event are matrix leaves")
    ev = t.groups[0][0]
    if _is_wstar(ev):
        if not t.given:
            return Leaf("PRIOR", text=text)
        if len(t.given) == 1 and t.given[0].base == "D" and t.given[0].sub in (None, "train"):
            return Leaf("POSTERIOR", text=text)
        raise CompileError(f"cannot lower {text}: a parameter Hessian is H''[w*] (prior) or H''[w*|D] (posterior)")
    stars = [g for g in t.given if _is_wstar(g)]
    if ev.base == "D" and ev.sub in (None, "train") and len(stars) == 1 and len(t.given) == 1:
        return Leaf("TRAIN", observed=not observed_as_fisher, text=text)
    xs = [g for g in t.given if g.base in ("x", "X") and g.sub == ev.sub and not g.star]
    if ev.base not in ("Y", "y") or len(stars) != 1 or len(xs) != 1 or len(t.given) != 2:
        raise CompileError(
            f"cannot lower {text}: the compiler knows H''[Y|x,w*] (Fisher), H''[y|x,w*] (observed information), "
            "their batch (Y_B, x_B), bound (Y_1, x_1 given by keyword) and eval (Y_eval, x_eval or X_eval) versions, "
            "H''[D|w*], H''[w*] and H''[w*|D]"
        )
    x = xs[0]
    if ev.sub == "eval":
        if not ev.upper:
            raise CompileError(f"cannot lower {text}: eval labels are not supported; use H''[Y_eval|...] (Fisher)")
        return Leaf("EVAL_MEAN" if x.upper else "EVAL_SUM", text=text)
    if x.upper:
        raise CompileError(f"cannot lower {text}: the input must be observed (lower-case {x.lower().text})")
    observed = not ev.upper and not observed_as_fisher
    is_candidate = ev.sub == candidate if candidate is not None else ev.sub in (None, "B")
    if not is_candidate:
        return Leaf("BOUND", observed=observed, text=text, point=ev.sub or "")
    return Leaf("POOL", observed=observed, text=text)


def _eval_mean(e: Expectation, ctx: _Ctx) -> Leaf | None:
    """``E_{p(x_eval)}[H''[Y_eval|x_eval,w*]]``: the mean eval Fisher (the expectation over evaluation inputs)."""
    body = e.body
    if not (isinstance(body, Term) and body.order == 2 and not e.dist.given and len(e.dist.event) == 1):
        return None
    x = e.dist.event[0]
    leaf = classify_leaf(body, ctx.observed_as_fisher, ctx.candidate)
    if leaf.kind != "EVAL_SUM" or x.base != "x" or x.sub != "eval":
        return None
    return Leaf("EVAL_MEAN", text=str(e))


# -- matrices ----------------------------------------------------------------------------------
def _add(a: dict, b: dict, s: Fraction = Fraction(1)) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, Fraction(0)) + s * v
    return out


def _scalar_value(e: Expr) -> float | None:
    """The value of a constant scalar expression, or None."""
    if isinstance(e, Number):
        return float(e.value)
    if isinstance(e, Const) and e.name in ("pi", "e"):
        return math.pi if e.name == "pi" else math.e
    if isinstance(e, Neg):
        v = _scalar_value(e.arg)
        return None if v is None else -v
    return None


def _exact(e: Expr) -> Fraction | None:
    if isinstance(e, Number):
        return e.value
    if isinstance(e, Neg) and isinstance(e.arg, Number):
        return -e.arg.value
    return None


def lower_matrix(e: Expr, ctx: _Ctx) -> dict[Leaf, Fraction]:
    """A matrix expression that is a non-negative combination of leaves."""
    if isinstance(e, Term):
        leaf = classify_leaf(e, ctx.observed_as_fisher, ctx.candidate)
        return {leaf: Fraction(1)}
    if isinstance(e, Expectation):
        leaf = _eval_mean(e, ctx)
        if leaf is None:
            raise CompileError(f"cannot lower {e}: the compiler averages only the eval Fisher over x_eval")
        return {leaf: Fraction(1)}
    if isinstance(e, Sum):
        out: dict = {}
        for i, term in enumerate(e.terms):
            sign = Fraction(-1) if i and e.ops[i - 1] == "-" else Fraction(1)
            out = _add(out, lower_matrix(term, ctx), sign)
        return out
    if isinstance(e, Product) and all(o in ("*", "/") for o in e.ops):
        scale, mat = Fraction(1), None
        for i, f in enumerate(e.factors):
            op = e.ops[i - 1] if i else "*"
            v = _exact(f)
            if v is None:
                v = ctx.symbol(f)
            if v is not None:
                if op == "/" and v == 0:
                    raise CompileError(f"cannot lower {e}: division by zero")
                scale = scale / v if op == "/" else scale * v
            elif mat is None and op == "*":
                mat = lower_matrix(f, ctx)
            else:
                raise CompileError(f"cannot lower {e}: only a number times one matrix is a matrix leaf sum here")
        if mat is None:
            raise CompileError(f"cannot lower {e}: a number where a matrix is expected")
        return {k: v * scale for k, v in mat.items()}
    raise CompileError(
        f"cannot lower the matrix {e}: inside logdet/tr the compiler handles sums of Hessian terms, A @ B^-1 and "
        "+ Id"
    )


def _ws(d: dict[Leaf, Fraction], where: Expr, need_pd: bool) -> WeightedSum:
    d = {k: v for k, v in d.items() if v != 0}
    if any(v < 0 for v in d.values()):
        raise CompileError(f"cannot lower {where}: a difference of curvature matrices need not be positive definite")
    if need_pd and not any(k.kind in ("PRIOR", "POSTERIOR") for k in d):
        raise CompileError(
            f"cannot lower {where}: the matrix that is inverted or log-determined must contain H''[w*] or "
            "H''[w*|D] to be positive definite"
        )
    pools = {k for k in d if k.kind == "POOL"}
    if len(pools) > 1:
        raise CompileError(f"cannot lower {where}: it mixes two candidate terms ({', '.join(k.text for k in pools)})")
    return tuple(sorted(d.items()))


def _split_inverse(e: Expr) -> tuple[Expr, Expr] | None:
    """``A @ B^-1`` or ``B^-1 @ A`` -> ``(A, B)``."""
    if isinstance(e, Product) and len(e.factors) == 2 and e.ops[0] in ("@", "*"):
        a, b = e.factors
        for x, y in ((a, b), (b, a)):
            if isinstance(y, Pow) and _exact(y.exponent) == -1:
                return x, y.base
    return None


@dataclass
class _Ctx:
    observed_as_fisher: bool
    candidate: str | None = None
    symbols: tuple[tuple[str, Fraction], ...] = ()

    def symbol(self, e: Expr) -> Fraction | None:
        """The value bound to a scalar symbol (``beta``), or None when ``e`` is not one."""
        if not (isinstance(e, Name) and not e.upper and not e.star):
            return None
        values = dict(self.symbols)
        if e.text not in values:
            raise CompileError(f"the symbol {e.text} has no value: pass it by keyword, e.g. inf.compile(..., "
                               f"{e.text}=0.5)")
        return values[e.text]


def lower_logdet(m: Expr, ctx: _Ctx) -> dict[Atom, Fraction]:
    if isinstance(m, Sum) and all(o == "+" for o in m.ops) and any(isinstance(t, Identity) for t in m.terms):
        rest = [t for t in m.terms if not isinstance(t, Identity)]
        if len(m.terms) - len(rest) == 1 and len(rest) == 1:
            split = _split_inverse(rest[0])
            if split is not None:
                A = _ws(lower_matrix(split[0], ctx), split[0], need_pd=False)
                B = _ws(lower_matrix(split[1], ctx), split[1], need_pd=True)
                AB = _ws(_add(dict(A), dict(B)), m, need_pd=True)
                # logdet(A B^-1 + Id) = logdet(B + A) - logdet(B)
                out: dict[Atom, Fraction] = {LogDet(AB): Fraction(1)}
                out = _add(out, {LogDet(B): Fraction(1)}, Fraction(-1))
                return out
        raise CompileError(f"cannot lower logdet({m}): expected logdet(A @ B^-1 + Id) with B positive definite")
    return {LogDet(_ws(lower_matrix(m, ctx), m, need_pd=True)): Fraction(1)}


def lower_trace(m: Expr, ctx: _Ctx) -> dict[Atom, Fraction]:
    split = _split_inverse(m)
    if split is not None:
        A = _ws(lower_matrix(split[0], ctx), split[0], need_pd=False)
        B = _ws(lower_matrix(split[1], ctx), split[1], need_pd=True)
        if any(k.kind == "POOL" for k, _ in A) and any(k.kind == "POOL" for k, _ in B):
            raise CompileError(f"cannot lower tr({m}): the candidate appears on both sides of the inverse")
        return {Trace(A, B): Fraction(1)}
    return {Trace(_ws(lower_matrix(m, ctx), m, need_pd=False), None): Fraction(1)}


def lower_scalar(e: Expr, ctx: _Ctx) -> tuple[dict[Atom, Fraction], float]:
    """A scalar expression as ``(atoms with coefficients, constant)``."""
    v = _scalar_value(e)
    if v is not None:
        return {}, v
    if isinstance(e, Const) and e.name == "C_k":
        return {CK(): Fraction(1)}, 0.0
    if isinstance(e, Neg):
        atoms, c = lower_scalar(e.arg, ctx)
        return {k: -x for k, x in atoms.items()}, -c
    if isinstance(e, Sum):
        atoms, c = {}, 0.0
        for i, t in enumerate(e.terms):
            s = -1 if i and e.ops[i - 1] == "-" else 1
            a, ct = lower_scalar(t, ctx)
            atoms = _add(atoms, a, Fraction(s))
            c += s * ct
        return atoms, c
    if isinstance(e, Product) and all(o in ("*", "/") for o in e.ops):
        scale, body = Fraction(1), None
        fscale = 1.0
        for i, f in enumerate(e.factors):
            op = e.ops[i - 1] if i else "*"
            ex, fv = _exact(f), _scalar_value(f)
            if ex is None and fv is None:
                ex = ctx.symbol(f)
            if ex is not None or fv is not None:
                if (ex if ex is not None else fv) == 0 and op == "/":
                    raise CompileError(f"cannot lower {e}: division by zero")
                if ex is not None:
                    scale = scale / ex if op == "/" else scale * ex
                else:
                    fscale = fscale / fv if op == "/" else fscale * fv
            elif body is None and op == "*":
                body = f
            else:
                raise CompileError(f"cannot lower {e}: a product of two non-constant scalars")
        if body is None:
            return {}, float(scale) * fscale
        atoms, c = lower_scalar(body, ctx)
        if fscale != 1.0:
            raise CompileError(f"cannot lower {e}: scale by pi or e is not supported, use a number")
        return {k: x * scale for k, x in atoms.items()}, c * float(scale)
    if isinstance(e, Func):
        if e.name == "logdet":
            return lower_logdet(e.arg, ctx), 0.0
        if e.name == "log" and isinstance(e.arg, Func) and e.arg.name == "det":
            return lower_logdet(e.arg.arg, ctx), 0.0
        if e.name == "tr":
            return lower_trace(e.arg, ctx), 0.0
        raise CompileError(f"cannot lower {e}: the compiler evaluates logdet, log(det(...)) and tr of matrices")
    if isinstance(e, Term) and e.order == 0:
        raise CompileError(
            f"cannot lower {e}: it is an information quantity, not a weight-space matrix expression; "
            "compile it through weight_space_form (inf.compile does this)"
        )
    raise CompileError(f"cannot lower {e}: not a scalar expression over log-determinants and traces")


@lru_cache(maxsize=256)
def lower(expr: Expr, observed_as_fisher: bool, candidate: str | None = None,
          symbols: tuple[tuple[str, Fraction], ...] = ()) -> Plan:
    """Lower a weight-space matrix expression to a :class:`Plan` (cached on the hashable tree and options).

    ``candidate``: the subscript of the pool's input (None: ``x`` or ``x_B``); ``symbols``: values of scalar
    symbols, as ``(name, value)`` pairs.
    """
    atoms, const = lower_scalar(expr, _Ctx(observed_as_fisher, candidate, symbols))
    terms = tuple(sorted(((a, c) for a, c in atoms.items() if c != 0), key=lambda ac: describe_atom(ac[0])))
    plan = Plan(expr, terms, const, observed_as_fisher)
    pools = sorted(leaf.text for leaf in plan.leaves if leaf.kind == "POOL")
    if len(pools) > 1:
        raise CompileError(f"cannot lower {expr}: it mixes different candidate terms ({', '.join(pools)})")
    return plan


def bound_point(leaf: Leaf, bound: dict) -> tuple[object, object]:
    """The inputs (a batch of rows) and labels (None unless observed) bound by keyword to a ``BOUND`` leaf."""
    data = bound.get(leaf.point, {})
    if "x" not in data or (leaf.observed and "y" not in data):
        need = f"x_{leaf.point}=..." + (f" and y_{leaf.point}=..." if leaf.observed else "")
        raise CompileError(f"{leaf.text} is about a point the pool does not give: pass {need}")
    X = data["x"] if data["x"].dim() > 1 else data["x"].unsqueeze(0)
    return X, (data.get("y") if leaf.observed else None)
