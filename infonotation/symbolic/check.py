"""The identity checker: ``equivalent(a, b)`` and ``check(text)`` returning a :class:`Verdict`.

Linear identities over information terms are decided exactly by comparing canonical forms
(:mod:`~infonotation.symbolic.canonical`). What the canonical form leaves opaque (log-determinants,
traces, matrix products and inverses, ``log``/``exp``, expectations of non-linear bodies) is decided by
evaluation on random stand-ins (:mod:`~infonotation.symbolic.evaluate`); the verdict says which method
decided it. Shapes are checked first (:mod:`~infonotation.symbolic.shapes`): an ill-formed side is an
error, two sides of different shapes are not equal.

A verdict is one of three: the statement *holds* (proven), *does not hold* (refuted), or is *undecided*
(neither; for instance both sides are undefined on every stand-in). Only a proof makes a verdict truthy.

A relation chain ``a = b ~= c <= d`` is checked step by step: each ``=`` step is proven, each ``~=``
step matched to the approximation rule that licenses it, each ``<=``/``<~`` step to a bound with its
precondition. ``A => B`` is an implication: it holds when B follows from A, with A's identities assumed
(B holds on its own, or B's difference of sides is a linear combination of A's and, when A's terms share
one parameter value, of A's gradient and Hessian). ``A <=> B`` needs both directions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from fractions import Fraction

from ..errors import NotationError
from ..syntax.parser import parse
from ..syntax.resolve import is_random, resolve
from ..syntax.tree import Expr, Func, Info, Name, Pow, Prob, Product, Relation, Term
from .canonical import LINEAR_KINDS, Canon, Occ, canonical, event_of, format_canon
from .evaluate import EvaluationError, defined_somewhere, numerically_equal
from .model import Model
from .shapes import infer_shapes, same_shape

__all__ = ["Verdict", "StepVerdict", "equivalent", "check", "prove_equal", "HOLDS", "FAILS", "UNDECIDED"]

HOLDS, FAILS, UNDECIDED = "holds", "does not hold", "undecided"


@dataclass(frozen=True)
class StepVerdict:
    """One step ``left op right`` of a chain, with what decided it (``status``: holds, does not hold, undecided)."""

    left: Expr
    op: str
    right: Expr
    holds: bool
    method: str
    reason: str
    rule: str | None = None
    status: str = ""

    def __post_init__(self) -> None:
        if not self.status:
            object.__setattr__(self, "status", HOLDS if self.holds else FAILS)

    def __str__(self) -> str:
        mark = {HOLDS: "holds", FAILS: "does NOT hold", UNDECIDED: "is UNDECIDED"}[self.status]
        by = f" by {self.rule}" if self.rule else ""
        return f"{self.left} {self.op} {self.right}\n  {mark}{by} ({self.method}): {self.reason}"


@dataclass(frozen=True)
class Verdict:
    """The answer of :func:`check`: truthy when the statement holds, with the reason.

    ``status`` is ``"holds"``, ``"does not hold"`` or ``"undecided"``; ``bool(verdict)`` is True only for the first.
    """

    holds: bool
    statement: Expr
    method: str
    steps: tuple[StepVerdict, ...] = field(default_factory=tuple)
    hint: str = ""
    status: str = ""
    forms: tuple[Canon, Canon, Canon] | None = field(default=None, repr=False, compare=False)
    model: Model | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.status:
            object.__setattr__(self, "status", HOLDS if self.holds else FAILS)

    @functools.cached_property
    def counterexample(self):
        """For a refuted identity, a small distribution on which its sides differ (None when it holds, is
        undecided, or when no small example is found: matrix statements, integrals over the parameter).

        A :class:`~infonotation.symbolic.counterexample.Counterexample` (``variables``, ``observed``, ``joint``,
        ``lhs_value``, ``rhs_value``, ``evaluate``), or for derivative statements a
        :class:`~infonotation.symbolic.smooth.ParameterCounterexample` (a tiny explicit model).
        """
        if self.status != FAILS:
            return None
        from .counterexample import find_counterexample

        for step in self.steps:
            if step.status == FAILS and step.op in ("=", ":="):
                return find_counterexample(step.left, step.right, self.model)
        return None

    @functools.cached_property
    def lhs(self) -> str:
        """The canonical form of the left side (one identity), printed."""
        return format_canon(self.forms[0]) if self.forms else ""

    @functools.cached_property
    def rhs(self) -> str:
        """The canonical form of the right side (one identity), printed."""
        return format_canon(self.forms[1]) if self.forms else ""

    @functools.cached_property
    def difference(self) -> str:
        """Left minus right, canonical and printed."""
        return format_canon(self.forms[2]) if self.forms else ""

    def __bool__(self) -> bool:
        return self.holds

    @property
    def undecided(self) -> bool:
        return self.status == UNDECIDED

    @property
    def explanation(self) -> str:
        head = {HOLDS: "HOLDS", FAILS: "DOES NOT HOLD", UNDECIDED: "UNDECIDED"}[self.status]
        lines = [f"{head}: {self.statement}"]
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
        if self.status == FAILS and self.counterexample is not None:
            lines.append("  counterexample (the two sides differ on it):")
            lines += ["    " + line for line in self.counterexample.table().splitlines()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.explanation

    def _repr_markdown_(self) -> str:
        """Jupyter shows the verdict: the statement in LaTeX, each step with what decided it, the counterexample."""
        head = {HOLDS: "**Holds**", FAILS: "**Does not hold**", UNDECIDED: "**Undecided**"}[self.status]
        out = [f"{head}: ${self.statement.latex()}$", ""]
        for s in self.steps:
            mark = {HOLDS: "holds", FAILS: "does not hold", UNDECIDED: "undecided"}[s.status]
            by = f" by `{s.rule}`" if s.rule else ""
            rel = Relation((s.left, s.right), (s.op,))
            out.append(f"- ${rel.latex()}$: {mark}{by} ({s.method}): {s.reason}")
        if self.hint:
            out += ["", f"Note: {self.hint}"]
        if self.status == FAILS and self.counterexample is not None:
            out += ["", "Counterexample (the two sides differ on it):", "", self.counterexample._repr_markdown_()]
        return "\n".join(out)


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


# -- the same expression up to the order of symmetric arguments -----------------------------------------
def _sorted_names(names: tuple[Name, ...]) -> tuple[Name, ...]:
    return tuple(sorted(names, key=lambda n: n.text))


def _normal(e: Expr) -> Expr:
    """``e`` with the names of each event and context sorted, and the groups of symmetric ``I`` terms sorted.

    ``I[A;B|C]`` (and interaction information ``I[A;B;C|D]``) is symmetric in its groups when every name in
    them is averaged over, or every name in the term is observed; mixed ones such as ``I[W;y|x]`` or
    ``I[a;b|W]`` (each side averages ``W`` under its own context) are not.
    """
    from .rewrite import map_tree

    def f(n: Expr) -> Expr | None:
        if isinstance(n, Term):
            groups = tuple(_sorted_names(g) for g in n.groups)
            flags = {is_random(m) for g in n.groups for m in g}
            if flags == {False}:  # point-wise groups: symmetric only if nothing is averaged over
                flags |= {is_random(m) for m in n.given}
            if n.head == "I" and len(flags) == 1:
                groups = tuple(sorted(groups, key=lambda g: tuple(m.text for m in g)))
            return Term(n.head, n.order, groups, _sorted_names(n.given))
        if isinstance(n, Prob):
            return Prob(_sorted_names(n.event), _sorted_names(n.given))
        return None

    return map_tree(e, f)


def _interactions(e: Expr) -> list[Term]:
    return [n for n in e.walk() if isinstance(n, Term) and n.head == "I" and len(n.groups) >= 3]


def _symmetric(t: Term) -> bool:
    flags = {is_random(m) for g in t.groups for m in g}
    if flags == {False}:
        flags |= {is_random(m) for m in t.given}
    return len(flags) == 1


def _interaction_unfolds(a: Expr, b: Expr, model: Model | None) -> bool:
    """Prove ``a = b`` with interaction terms (three or more groups) kept whole, or with one of them unfolded once.

    ``I[A_1;...;A_n|C] = I[A_1;...;A_{n-1}|C] - I[A_1;...;A_{n-1}|A_n,C]`` (the definition; along any group when
    the term is symmetric). Terms kept whole are atoms: equal atoms are the same term up to the order of
    symmetric groups, so a zero difference is a proof, and the exponential expansion is avoided.
    """
    from .rewrite import map_tree

    whole = _interactions(a) + _interactions(b)
    if not whole or any(_partial_syntax(e) for e in (a, b)):
        return False
    if any(isinstance(n, Term) and n.order > 0 for e in (a, b) for n in e.walk()):
        return False
    atoms: dict[Expr, Name] = {}

    def atom(t: Term) -> Name:
        key = _normal(t)
        if key not in atoms:
            atoms[key] = Name("ii", f"#{len(atoms)}")  # not a name the parser can produce: no collision
        return atoms[key]

    def lazy(e: Expr) -> Expr:
        return map_tree(e, lambda n: atom(n) if isinstance(n, Term) and n.head == "I" and len(n.groups) >= 3 else None)

    def diff(x: Expr, y: Expr) -> Canon:
        return _difference(canonical(lazy(x), model), canonical(lazy(y), model))

    if not diff(a, b):
        return True
    for t in dict.fromkeys(_normal(t) for t in whole):
        choices = range(len(t.groups)) if _symmetric(t) else [len(t.groups) - 1]
        for i in choices:
            rest = t.groups[:i] + t.groups[i + 1:]
            unfolded = Term("I", t.order, rest, t.given) - Term("I", t.order, rest, t.given + t.groups[i])

            def swap(n: Expr, t: Term = t, u: Expr = unfolded) -> Expr | None:
                return u if isinstance(n, Term) and _normal(n) == t else None

            if not diff(map_tree(a, swap), map_tree(b, swap)):
                return True
    return False


def _partial_syntax(e: Expr) -> bool:
    """Whether ``e`` uses a function that can be undefined (``log``, ``logdet``, an inverse, a power, ...)."""
    return any(isinstance(n, (Func, Pow, Info)) or (isinstance(n, Product) and "/" in n.ops) for n in e.walk())


def prove_equal(a: Expr, b: Expr, model: Model | None) -> tuple[bool, str, Canon, Canon, Canon]:
    """Decide ``a = b``: ``(holds, method, canon(a), canon(b), difference)``; ``method`` starts with
    ``exact``, ``numeric`` or ``undecided``."""
    resolve(a)
    resolve(b)
    shapes = infer_shapes([a, b], parameter=model.parameter if model else "w")
    if not same_shape(shapes, *shapes.sides):
        return False, "exact: the two sides have different shapes", {}, {}, {}
    if _normal(a) == _normal(b) and not _partial_syntax(a):
        return True, "exact: the same expression up to the order of symmetric arguments", {}, {}, {}
    if _interaction_unfolds(a, b, model):
        return True, "exact: equal after unfolding interaction information once (I[A;B;C] = I[A;B] - I[A;B|C])", \
            {}, {}, {}
    ca, cb = canonical(a, model), canonical(b, model)
    diff = _difference(ca, cb)
    if not diff:
        defined = defined_somewhere(ca, model, shapes)
        if defined is False:
            return False, "undecided: both sides are the same expression, undefined on every stand-in", ca, cb, diff
        if defined is None:
            return False, "undecided: the sides are equal as expressions but cannot be evaluated", ca, cb, diff
        return True, "exact: equal canonical forms", ca, cb, diff
    if all(k[0] in LINEAR_KINDS for k in diff):
        return False, "exact: the canonical forms differ", ca, cb, diff
    try:
        ok, how = numerically_equal(ca, cb, model, shapes)
    except EvaluationError as err:
        return False, f"undecided: {err}", ca, cb, diff
    if ok is None:
        return False, how, ca, cb, diff
    return ok, how, ca, cb, diff


def equivalent(a: Expr | str, b: Expr | str, model: Model | None = None) -> bool:
    """Whether ``a = b`` for every distribution of ``model`` (no assumptions when ``model`` is None)."""
    return prove_equal(_as_expr(a), _as_expr(b), model)[0]


def _status(ok: bool, how: str) -> str:
    if ok:
        return HOLDS
    return UNDECIDED if how.startswith("undecided") else FAILS


def _equal_step(a: Expr, b: Expr, model: Model | None, op: str = "=") -> tuple[StepVerdict, Canon, Canon, Canon]:
    ok, how, ca, cb, diff = prove_equal(a, b, model)
    reason = how if ok or not diff or len(diff) > 40 else f"{how}; left - right = {format_canon(diff)}"
    return StepVerdict(a, op, b, ok, how.split(":")[0], reason, status=_status(ok, how)), ca, cb, diff


# -- hints on near misses ----------------------------------------------------------------------------
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


def _holds(expr: Relation, model: Model | None) -> bool:
    try:
        return bool(_check_relation(expr, model, hints=False))
    except NotationError:
        return False


def _hint(expr: Relation, model: Model | None) -> str:
    """Say so when a false statement holds once ``w`` is read as ``w*``, or under the paper's model."""
    fixed = _substitute_point(expr)
    if fixed != expr and _holds(fixed, model):
        return ("it holds when the parameter value `w` is the point estimate `w*` (the text uses both `w` and `w*`, "
                "which are different values)")
    if model is None and _holds(expr, Model()):
        return ("it holds under the paper's model p(y, w | x) = p(y | x, w) p(w): pass it, "
                "inf.check(text, inf.Model()) (the command line's `check` uses it unless --no-model)")
    return ""


# -- implications ----------------------------------------------------------------------------------
def _side_difference(st: Relation, model: Model | None) -> list[Canon]:
    out = []
    for left, op, right in st.steps():
        if op in ("=", ":="):
            resolve(left)
            resolve(right)
            out.append(_difference(canonical(left, model), canonical(right, model)))
    return out


def _derivatives(d: Canon) -> list[Canon]:
    """The gradient and Hessian of an identity whose atoms all involve one parameter value (else none)."""
    points: set[Occ] = set()
    for k in d:
        if k[0] not in ("ic", "f", "1", "const"):
            return []
        points |= {o for o in event_of(k) if o.tag in ("o", "*") and o.var.partition("_")[0] == "w"} \
            if k[0] in ("ic", "f") else set()
    if len(points) != 1:
        return []
    point = next(iter(points))
    return [{("d", order, point, None, k): v for k, v in d.items() if k[0] in ("ic", "f") and point in event_of(k)}
            for order in (1, 2)]


def _reduce(v: dict, rows: list[dict], pivots: list[object]) -> dict:
    """``v`` minus its components along the echelon ``rows`` (exact rational arithmetic)."""
    v = dict(v)
    for p, r in zip(pivots, rows):
        if p in v:
            f = v[p] / r[p]
            for k, x in r.items():
                v[k] = v.get(k, Fraction(0)) - f * x
                if not v[k]:
                    del v[k]
    return v


def _in_span(target: Canon, basis: list[Canon]) -> bool:
    """Whether ``target`` is a rational linear combination of ``basis`` (exact Gaussian elimination)."""
    rows: list[dict] = []
    pivots: list[object] = []
    for vec in basis:
        v = _reduce(vec, rows, pivots)
        if v:
            pivots.append(next(iter(v)))
            rows.append(v)
    return not _reduce(target, rows, pivots)


def _follows(premise: Expr, conclusion: Expr, model: Model | None) -> list[StepVerdict]:
    """Each step of ``conclusion``, checked with the identities of ``premise`` assumed."""
    basis: list[Canon] = []
    if isinstance(premise, Relation):
        for d in _side_difference(premise, model):
            basis.append(d)
            basis.extend(_derivatives(d))
    from .rules import check_step

    out = []
    steps = conclusion.steps() if isinstance(conclusion, Relation) else []
    for left, op, right in steps:
        s = check_step(left, op, right, model)
        if not s.holds and op in ("=", ":=") and basis:
            d = _difference(canonical(left, model), canonical(right, model))
            if _in_span(d, basis):
                s = StepVerdict(left, op, right, True, "exact", "follows from the premise (a linear combination of its "
                                "identities and their derivatives)")
        out.append(s)
    return out


def _check_relation(expr: Relation, model: Model | None, hints: bool = True) -> Verdict:
    from .rules import check_step

    statements = expr.statements()
    links = [op for op in expr.ops if op in ("=>", "<=>")]
    if len(expr.ops) == 1 and expr.ops[0] in ("=", ":="):  # one identity: show both canonical forms
        step, ca, cb, diff = _equal_step(expr.items[0], expr.items[1], model, expr.ops[0])
        hint = _hint(expr, model) if hints and not step.holds else ""
        how = step.reason.split("; left - right")[0]
        forms = (ca, cb, diff) if (ca or cb) else None
        return Verdict(step.holds, expr, how, (step,), hint, step.status, forms, model)
    if not links:
        steps = [check_step(left, op, right, model) for left, op, right in expr.steps()]
    else:
        steps = []
        for i, op in enumerate(links):
            a, b = statements[i], statements[i + 1]
            steps += _follows(a, b, model)
            if op == "<=>":
                steps += _follows(b, a, model)
    holds = all(s.holds for s in steps)
    status = HOLDS if holds else (FAILS if any(s.status == FAILS for s in steps) else UNDECIDED)
    hint = _hint(expr, model) if hints and not holds else ""
    if links:
        own = [st for st in statements if isinstance(st, Relation)]
        false = [str(st) for st in own if not _holds(st, model)]
        if holds and false:
            hint = (hint + "; " if hint else "") + ("read as an implication; on its own, "
                                                     f"`{false[0]}` does not hold")
    method = "; ".join(sorted({s.method for s in steps}))
    return Verdict(holds, expr, method, steps=tuple(steps), hint=hint, status=status, model=model)


def check(text: Expr | str, model: Model | None = None, *, latex: bool = False) -> Verdict:
    """Check a relation or a chain of relations; return a :class:`Verdict` that explains itself.

    ``model=None`` assumes nothing (every joint distribution); pass ``Model()`` for the paper's model (the
    command line and ``derive`` use it by default). When a statement fails without a model but holds under
    the paper's model, the verdict's ``hint`` says so.
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
    return _check_cached(expr, model)


@functools.lru_cache(maxsize=2048)
def _check_cached(expr: Relation, model: Model | None) -> Verdict:
    return _check_relation(expr, model)
