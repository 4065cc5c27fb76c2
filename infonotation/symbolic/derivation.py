"""Derivations: ``derive(expr, using=[...])`` as a list of named, checkable steps.

The engine runs a fixed pipeline of rules (exact ones always, approximations and bounds only when
named in ``using``); every rule that changes the expression adds a :class:`Step` with the rule's
name, the expression before and after, and the relation (``=``, ``~=``, ``<=``). For the expected
information gain and ``using=["gaussian", "ggn", "eig_logdet"]`` this reproduces the paper's chain
down to ``1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id)``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import RuleError
from ..syntax.parser import parse
from ..syntax.printing import LatexPrinter
from ..syntax.resolve import resolve
from ..syntax.tree import Expr, Relation
from .model import Model
from .rewrite import simplify
from .rules import APPROXIMATIONS, BOUNDS, RULES, check_step

__all__ = ["Step", "Derivation", "derive", "PIPELINE"]

#: The order in which rules are tried. Exact rules always run; the others only when named.
PIPELINE = ("samples", "predictive_mi", "mi_definition", "independence", "expectation", "last_layer", "gaussian",
            "hessian_bayes", "hessian_additivity", "logdet_algebra", "eig_logdet", "glm", "ggn", "empirical_fisher",
            "simplify_expectation", "flat_prior", "trace", "determinant_lemma")
_OPT_IN = set(APPROXIMATIONS) | set(BOUNDS) | {"determinant_lemma"}


@dataclass(frozen=True)
class Step:
    """One step of a derivation: ``before relation after``, licensed by ``rule``."""

    rule: str
    before: Expr
    after: Expr
    relation: str

    def __str__(self) -> str:
        return f"{self.relation} {self.after}    ({self.rule})"


@dataclass(frozen=True)
class Derivation:
    """The steps from ``start`` to ``result``; ``str`` and ``latex()`` print the aligned chain."""

    start: Expr
    steps: tuple[Step, ...]
    using: tuple[str, ...]
    model: Model | None = None

    @property
    def result(self) -> Expr:
        return self.steps[-1].after if self.steps else self.start

    @property
    def relation(self) -> Relation | Expr:
        """The derivation as one relation chain ``start = ... ~= ... <= result``."""
        if not self.steps:
            return self.start
        return Relation((self.start,) + tuple(s.after for s in self.steps), tuple(s.relation for s in self.steps))

    def verify(self, model: Model | None = None) -> list:
        """Check every step with the identity checker, under ``model`` (default: the model the derivation was made
        under); returns the step verdicts."""
        model = model if model is not None else (self.model if self.model is not None else Model())
        return [check_step(s.before, s.relation, s.after, model) for s in self.steps]

    def __str__(self) -> str:
        lines = [str(self.start)]
        width = max((len(str(s.after)) for s in self.steps), default=0)
        for s in self.steps:
            lines.append(f"  {s.relation:<2} {str(s.after):<{width}}   [{s.rule}]")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        """Jupyter shows the derivation as an aligned LaTeX block with each step's rule."""
        return f"$$\n{self.latex()}\n$$"

    def latex(self) -> str:
        p = LatexPrinter()
        rel = p.relations
        rows = [f"& {p.doprint(self.start)}"]
        for s in self.steps:
            rows.append(f"{rel[s.relation]} {{}}& {p.doprint(s.after)} && \\text{{({s.rule.replace('_', ' ')})}}")
        body = " \\\\\n".join(rows)
        return f"\\begin{{aligned}}\n{body}\n\\end{{aligned}}"


def derive(expr: Expr | str, using: Iterable[str] = ("gaussian", "ggn", "eig_logdet"), model: Model | None = None,
           *, strict: bool = True) -> Derivation:
    """Derive from ``expr`` with the approximations in ``using`` (model: the default Bayesian one).

    A rule named in ``using`` that never fires raises :class:`RuleError` when ``strict`` (as ``derive``
    does); ``compile`` passes ``strict=False`` for its default chain.
    """
    using = (using,) if isinstance(using, str) else tuple(using)  # a string is one step's name
    for name in using:
        if name not in RULES:
            raise RuleError(f"unknown rule `{name}` in using; the rules are: {', '.join(sorted(RULES))}")
    model = model if model is not None else Model()
    return _derive(parse(expr) if isinstance(expr, str) else expr, using, model, strict)


@functools.lru_cache(maxsize=1024)
def _derive(start: Expr, using: tuple[str, ...], model: Model, strict: bool) -> Derivation:
    resolve(start)
    steps: list[Step] = []
    fired: set[str] = set()
    current = start
    enabled = {n for n in PIPELINE if n not in _OPT_IN} | set(using)
    if "eig_logdet" not in using:
        enabled.discard("expectation")
    if "samples" in using:
        enabled = {"samples"} | (set(using) & {"trace"})
    for _ in range(3):  # a second pass lets later rules enable earlier ones
        changed = False
        for name in PIPELINE:
            if name not in enabled or (name == "determinant_lemma" and name in fired):
                continue
            r = RULES[name]
            for _ in range(1 if name == "determinant_lemma" else 8):  # exhaust the rule: one step per application
                new = r.apply(current, model)
                if new is None:
                    break
                new = simplify(new)
                if new == current:
                    break
                steps.append(Step(name, current, new, r.relation))
                fired.add(name)
                current = new
                changed = True
        if not changed:
            break
    missing = [n for n in using if n not in fired]
    if strict and missing:
        raise RuleError(f"rule(s) {', '.join(missing)} never applied to `{start}`; the derivation reached "
                        f"`{current}`")
    return Derivation(start, tuple(steps), using, model)
