"""Roles of names, and the semantic checks that ``parse`` leaves out.

``resolve(expr)`` returns the expression unchanged when it makes sense and raises
:class:`~infonotation.errors.ResolveError` pointing at the span when it does not. Roles:

* ``random``: an upper-case name (``W``, ``Y``, ``X_eval``), averaged over;
* ``observed``: a lower-case name (``x``, ``y_1``) or a data set (``D``, ``D_train``);
* ``parameter``: the random parameter ``W`` (``theta``/``omega`` are spellings of it);
* ``point estimate``: ``w*`` (and the lower-case parameter value ``w``).
"""

from __future__ import annotations

from enum import StrEnum

from ..errors import ResolveError
from .tree import Expectation, Expr, Name, Term

__all__ = ["Role", "role", "resolve", "variable", "is_batch", "DATASET_BASES", "PARAMETER_BASES", "BATCH_SUBSCRIPTS"]

#: Upper-case names that are observed data sets, not random variables.
DATASET_BASES = frozenset({"D"})
#: Bases that spell the parameter (after the parser's normalisation of theta/omega).
PARAMETER_BASES = frozenset({"w", "W"})
#: Subscripts that make a name a batch of points (``Y_B``, ``x_B``): its gradient ``H'`` has one row per point.
BATCH_SUBSCRIPTS = frozenset({"B"})


class Role(StrEnum):
    RANDOM = "random"
    OBSERVED = "observed"
    PARAMETER = "parameter"
    POINT_ESTIMATE = "point estimate"


def variable(name: Name) -> str:
    """The variable a name refers to: ``Y``, ``y`` and ``y`` share the variable ``y``."""
    base = name.base
    if base not in DATASET_BASES:
        base = base[:1].lower() + base[1:]
    return base + (f"_{name.sub}" if name.sub is not None else "")


def is_batch(name: Name) -> bool:
    """A batch of points (``y_B``, ``Y_B``) or a data set (``D``, ``D_train``): ``H'`` of it has one row per point."""
    return name.base in DATASET_BASES or name.sub in BATCH_SUBSCRIPTS


def is_random(name: Name, parameter: str = "w") -> bool:
    return name.upper and name.base not in DATASET_BASES and not name.star


def role(name: Name, parameter: str = "w") -> Role:
    if name.star or (not name.upper and name.base == parameter):
        return Role.POINT_ESTIMATE
    if name.upper and name.base == parameter.upper():
        return Role.PARAMETER
    if is_random(name, parameter):
        return Role.RANDOM
    return Role.OBSERVED


def _fail(message: str, node: Expr, text: str) -> ResolveError:
    offset = node.span[0] if (node.span and text) else 0
    return ResolveError(message, text, offset)


def resolve(expr: Expr, text: str = "", parameter: str = "w") -> Expr:
    """Check that ``expr`` makes sense; return it unchanged or raise :class:`ResolveError`."""
    for node in expr.walk():
        if isinstance(node, Name) and node.star and node.base != parameter:
            raise _fail(f"`{node.text}`: only the parameter has a point estimate (write `{parameter}*`)", node, text)
        if isinstance(node, Term):
            names = [n for g in node.groups for n in g] + list(node.given)
            by_var: dict[str, set[bool]] = {}
            for n in names:
                by_var.setdefault(variable(n), set()).add(is_random(n, parameter))
            for n in names:
                if len(by_var[variable(n)]) > 1:
                    raise _fail(f"`{n.text}` appears both upper case (random) and lower case (observed) in one "
                                "term; a variable is either averaged over or observed", node, text)
            stars = {n.star for n in names if n.base == parameter}
            if len(stars) > 1:
                values = sorted({n.text for n in names if n.base == parameter})
                raise _fail(f"the parameter appears at two values ({', '.join(values)}) in one term: `w` and `w*` "
                            "are different values", node, text)
            parts = {n.sub for n in names if n.base == parameter and n.star}
            if node.order > 0 and None not in parts and len(parts) > 1:
                named = ", ".join(sorted(f"{parameter}_{p}*" for p in parts))
                raise _fail("a derivative needs one parameter to differentiate in: the term names the parts "
                            f"{named} but not `{parameter}*`", node, text)
            if node.order > 0:
                if any(n.upper and n.base == parameter.upper() for n in names):
                    raise _fail(f"a derivative `{node.head}{chr(39) * node.order}[...]` is taken at a point: write "
                                f"`{parameter}*` for the parameter, not `{parameter.upper()}`", node, text)
        if isinstance(node, Expectation):
            for n in node.dist.event:
                if n.star:
                    raise _fail(f"`{n.text}` is a fixed point estimate, not a variable to average over: write "
                                f"`{n.text[:-1]}` to average over the parameter", node, text)
                if is_random(n, parameter):
                    raise _fail(f"the expectation's distribution samples values: write `{n.lower().text}` "
                                f"(lower case), not `{n.text}`", node, text)
    return expr
