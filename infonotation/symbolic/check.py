"""The identity checker: ``equivalent(a, b)`` and ``check(text)`` returning a :class:`Verdict`.

Linear identities over information terms are decided exactly by comparing canonical forms
(:mod:`~infonotation.symbolic.canonical`). What the canonical form leaves opaque (log-determinants,
traces, matrix products and inverses of Hessian terms) is decided by evaluation on random stand-ins
(:mod:`~infonotation.symbolic.evaluate`); the verdict says which method decided it.

A relation chain ``a = b ~= c <= d`` is checked step by step: each ``=`` step is proven, each ``~=``
step matched to the approximation rule that licenses it, each ``<=``/``<~`` step to a bound with its
precondition. ``=>`` and ``<=>`` separate statements, each checked on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from ..errors import NotationError
from ..syntax.parser import parse
from ..syntax.resolve import resolve
from ..syntax.tree import Expr, Name, Prob, Relation, Term
from .canonical import Canon, canonical, format_canon
from .evaluate import EvaluationError, numerically_equal
from .model import Model

__all__ = ["Verdict", "StepVerdict", "equivalent", "check", "prove_equal"]


@dataclass(frozen=True)
class StepVerdict:
    """One step ``left op right`` of a chain, with what decided it."""

    left: Expr
    op: str
    right: Expr
    holds: bool
    method: str
    reason: str
    rule: str | None = None

    def __str__(self) -> str:
        mark = "holds" if self.holds else "does NOT hold"
        by = f" by {self.rule}" if self.rule else ""
        return f"{self.left} {self.op} {self.right}\n  {mark}{by} ({self.method}): {self.reason}"


@dataclass(frozen=True)
class Verdict:
    """The answer of :func:`check`: truthy when the statement holds, with the reason."""

    holds: bool
    statement: Expr
    method: str
    lhs: str = ""
    rhs: str = ""
    difference: str = ""
    steps: tuple[StepVerdict, ...] = field(default_factory=tuple)
    hint: str = ""

    def __bool__(self) -> bool:
        return self.holds

    @property
    def explanation(self) -> str:
        lines = [f"{'HOLDS' if self.holds else 'DOES NOT HOLD'}: {self.statement}"]
        if len(self.steps) > 1 or (self.steps and self.steps[0].op != "="):
            lines += [str(s) for s in self.steps]
        else:
            lines.append(f"  method: {self.method}")
            if self.lhs or self.rhs:
                lines.append(f"  canonical form of the left side:  {self.lhs}")
                lines.append(f"  canonical form of the right side: {self.rhs}")
                lines.append(f"  difference (left - right):        {self.difference}")
        if self.hint:
            lines.append(f"  note: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.explanation


def _as_expr(x: Expr | str) -> Expr:
    return parse(x) if isinstance(x, str) else x


def _difference(a: Canon, b: Canon) -> Canon:
    d = dict(a)
    for k, v in b.items():
        nv = d.get(k, Fraction(0)) - v
        if nv:
            d[k] = nv
        else:
            d.pop(k, None)
    return d


def prove_equal(a: Expr, b: Expr, model: Model | None) -> tuple[bool, str, Canon, Canon, Canon]:
    """Decide ``a = b``: ``(holds, method, canon(a), canon(b), difference)``."""
    resolve(a)
    resolve(b)
    ca, cb = canonical(a, model), canonical(b, model)
    diff = _difference(ca, cb)
    if not diff:
        return True, "exact: equal canonical forms", ca, cb, diff
    linear_only = all(k[0] in ("ic", "f", "d", "const", "1", "Id", "name") for k in diff)
    if linear_only:
        return False, "exact: the canonical forms differ", ca, cb, diff
    try:
        ok, how = numerically_equal(ca, cb)
    except EvaluationError as err:
        return False, f"undecided: {err}", ca, cb, diff
    return ok, how, ca, cb, diff


def equivalent(a: Expr | str, b: Expr | str, model: Model | None = None) -> bool:
    """Whether ``a = b`` for every distribution of ``model`` (no assumptions when ``model`` is None)."""
    return prove_equal(_as_expr(a), _as_expr(b), model)[0]


def _substitute_point(e: Expr) -> Expr:
    """Replace the plain parameter value ``w`` by ``w*`` (for the hint on near-misses)."""
    from .rewrite import map_tree

    def point(n: Name) -> Name:
        return Name("w", n.sub, True) if (n.base == "w" and not n.star and not n.upper) else n

    def f(n: Expr) -> Expr | None:
        if isinstance(n, Name):
            return point(n)
        if isinstance(n, Term):
            return Term(n.head, n.order, tuple(tuple(point(x) for x in g) for g in n.groups),
                        tuple(point(x) for x in n.given))
        if isinstance(n, Prob):
            return Prob(tuple(point(x) for x in n.event), tuple(point(x) for x in n.given))
        return None

    return map_tree(e, f)


def _equal_step(a: Expr, b: Expr, model: Model | None, op: str = "=") -> tuple[StepVerdict, Canon, Canon, Canon]:
    ok, how, ca, cb, diff = prove_equal(a, b, model)
    reason = how if ok else f"{how}; left - right = {format_canon(diff)}"
    return StepVerdict(a, op, b, ok, how.split(":")[0], reason), ca, cb, diff


def _near_miss_hint(expr: Relation, model: Model | None) -> str:
    """Say so when a false statement holds once the plain parameter value ``w`` is read as ``w*``."""
    from .rules import check_step

    fixed = _substitute_point(expr)
    if fixed == expr:
        return ""
    again = [check_step(lft, op, rgt, model) for st in fixed.statements() if isinstance(st, Relation)
             for lft, op, rgt in st.steps()]
    if again and all(s.holds for s in again):
        return ("it holds when the parameter value `w` is the point estimate `w*` (the text uses both `w` and `w*`, "
                "which are different values)")
    return ""


def check(text: Expr | str, model: Model | None = None, *, latex: bool = False) -> Verdict:
    """Check a relation or a chain of relations; return a :class:`Verdict` that explains itself.

    ``model=None`` assumes nothing (every joint distribution); pass ``Model()`` for the paper's model.
    """
    if isinstance(text, str):
        if latex:
            from ..syntax.latex import parse_latex

            expr = parse_latex(text)
        else:
            expr = parse(text)
    else:
        expr = text
    if not isinstance(expr, Relation):
        raise NotationError(f"`{expr}` is an expression, not a relation: write `a = b` to check an identity")
    from .rules import check_step

    if len(expr.ops) == 1 and expr.ops[0] in ("=", ":="):  # one identity: show both canonical forms
        step, ca, cb, diff = _equal_step(expr.items[0], expr.items[1], model, expr.ops[0])
        hint = "" if step.holds else _near_miss_hint(expr, model)
        how = step.reason.split("; left - right")[0]
        return Verdict(step.holds, expr, how, format_canon(ca), format_canon(cb), format_canon(diff), (step,), hint)
    steps = [check_step(left, op, right, model) for statement in expr.statements() if isinstance(statement, Relation)
             for left, op, right in statement.steps()]
    holds = all(s.holds for s in steps)
    hint = "" if holds else _near_miss_hint(expr, model)
    method = "; ".join(sorted({s.method for s in steps}))
    return Verdict(holds, expr, method, steps=tuple(steps), hint=hint)
