"""From a quantity to its weight-space matrix expression: the ONE place that maps notation to Fisher forms.

Until the symbolic engine's ``derive`` produces these, :func:`weight_space_form` applies the paper's chain
(gaussian, ggn, eig_logdet; optionally trace) by table:

=====================================  ===========================================================================
quantity                               weight-space form (``H = H''[w*]``, bound to ``H''[w*|D]`` with training data)
=====================================  ===========================================================================
``I[W;Y|x]`` (EIG, R20)                ``1/2 logdet(H''[Y|x,w*] @ H^-1 + Id)``;
                                       with ``"trace"`` (R21): ``1/2 tr(H''[Y|x,w*] @ H^-1)``
``I[W;Y_B|x_B]`` (joint EIG)           the same with ``H''[Y_B|x_B,w*]`` (the members' Fishers summed, R11)
``I[W;y|x]`` (IG with label, R19)      the same with the observed information ``H''[y|x,w*]``
``I[Y_eval;Y|x,X_eval]`` (EPIG, R25)   ``1/2 logdet(F_e @ H^-1 + Id) - 1/2 logdet(F_e @ (H + H''[Y|x,w*])^-1 + Id)``
                                       with ``F_e = H''[Y_eval|X_eval,w*]`` the *mean* eval Fisher (Jensen);
                                       ``x_eval`` lower case (the eval set jointly, JEPIG): the *summed* Fisher
                                       ``H''[Y_eval|x_eval,w*]``. Exact for Bayesian linear regression (T17).
  with ``"proxy"`` in ``using``        the paper's raw proxy ``logdet(F_e @ (H + H''[Y|x,w*])^-1 + Id)`` (lower is
                                       better), or ``tr(...)`` with ``"trace"``
=====================================  ===========================================================================

A matrix expression (no ``H[...]``/``I[...]`` of order 0 in it) is returned unchanged; a relation yields its last side.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import CompileError, RuleError
from ..syntax.parser import parse
from ..syntax.tree import Expr, Name, Relation, Term

__all__ = ["weight_space_form", "DEFAULT_USING", "KNOWN_STEPS", "is_proxy", "quantity_of", "observed_label"]

#: The paper's default approximation chain for weight space.
DEFAULT_USING: tuple[str, ...] = ("gaussian", "ggn", "eig_logdet")
#: The default for a quantity about a known label on the whole network: without 'ggn', which would drop the label.
LABELLED_USING: tuple[str, ...] = ("gaussian", "eig_logdet")
#: Step names the numeric compiler understands.
KNOWN_STEPS = frozenset(
    {"gaussian", "ggn", "glm", "eig_logdet", "trace", "last_layer", "determinant_lemma", "proxy"}
)
_PARAMS = {"W", "Theta", "Omega"}


def quantity_of(expr: object) -> Expr:
    """``expr`` (text or a tree) as the quantity to compile: a relation is refused, naming the side to compile.

    ``I[W;Y|x] = 0`` or ``I[W;Y|x] <= 5`` states something about a quantity; scoring it would score one of its
    sides (a constant, for these two), so the error names the side(s) that hold a quantity.
    """
    if isinstance(expr, str):
        e = parse(expr)
    elif isinstance(expr, Expr):
        e = expr
    else:
        raise CompileError(f"expr must be notation text or an inf.Expr, got {type(expr).__name__}")
    if isinstance(e, Relation):
        sides = [item for item in e.items if any(isinstance(n, (Term, Name)) for n in item.walk())]
        if len(sides) == 1:
            hint = f"compile the side that is a quantity: inf.compile({str(sides[0])!r}, ...)"
        elif sides:
            hint = "compile one side at a time: " + " or ".join(f"inf.compile({str(x)!r}, ...)" for x in sides)
        else:
            hint = "no side of it is a quantity"
        raise CompileError(
            f"{e} is a relation ({', '.join(repr(o) for o in e.ops)}), not a quantity to score: scoring it would score "
            f"one of its sides and ignore the claim; {hint}. To check the claim itself use inf.check({str(e)!r})"
        )
    return e


def observed_label(e: Expr) -> bool:
    """Whether the quantity is about an observed (lower-case) label of the candidate, as in ``I[W;y|x]``."""
    if not (isinstance(e, Term) and e.order == 0):
        # a weight-space matrix expression: H''[y|x,w*] is the candidate's observed information
        return any(isinstance(n, Term) and n.order == 2 and n.groups and len(n.groups[0]) == 1
                   and isinstance(n.groups[0][0], Name) and n.groups[0][0].base == "y" and n.groups[0][0].sub != "eval"
                   for n in e.walk())
    names = [n for g in e.groups for n in g]
    return any(n.base == "y" and not n.upper and n.sub != "eval" for n in names)


def normalise_using(using: Iterable[str] | None) -> tuple[str, ...]:
    """``using`` as a tuple of known step names (``RuleError`` for unknown ones)."""
    if using is None:
        return DEFAULT_USING
    if isinstance(using, str):
        using = [s.strip() for s in using.split(",") if s.strip()]
    steps = tuple(using)
    for s in steps:
        if not isinstance(s, str) or s not in KNOWN_STEPS:
            raise RuleError(
                f"unknown approximation step {s!r} for the numeric compiler; known: {', '.join(sorted(KNOWN_STEPS))}"
            )
    return steps


def is_proxy(expr: Expr | str, using: Iterable[str] | None) -> bool:
    """True when the weight-space form is one of the paper's raw (J)EPIG proxies (lower is better)."""
    e = parse(expr) if isinstance(expr, str) else expr
    return "proxy" in normalise_using(using) and _epig_parts(e) is not None


def _is_param(n: Name) -> bool:
    return n.upper and n.base in _PARAMS and not n.star


def _is_data(n: Name) -> bool:
    return n.base == "D" and n.sub in (None, "train")


def _target(names: tuple[Name, ...]) -> Name | None:
    return names[0] if len(names) == 1 and names[0].base in ("Y", "y") else None


def _eig_parts(e: Expr) -> tuple[Name, Name, bool] | None:
    """``(target, input, conditioned_on_D)`` for ``I[W;Y_s|x_s(,D)]``."""
    if not (isinstance(e, Term) and e.head == "I" and e.order == 0 and len(e.groups) == 2):
        return None
    a, b = e.groups
    if len(a) == 1 and _is_param(a[0]):
        t = _target(b)
    elif len(b) == 1 and _is_param(b[0]) and _target(a) is not None and _target(a).upper:  # type: ignore[union-attr]
        t = _target(a)
    else:
        return None
    if t is None or t.sub == "eval":
        return None
    data = [g for g in e.given if _is_data(g)]
    xs = [g for g in e.given if g.base == "x" and g.sub == t.sub and not g.star]
    if len(xs) != 1 or len(data) + 1 != len(e.given):
        return None
    return t, xs[0], bool(data)


def _epig_parts(e: Expr) -> tuple[Name, Name, Name, bool] | None:
    """``(candidate target, candidate input, eval input, conditioned_on_D)`` for ``I[Y_eval;Y|x,X_eval]``."""
    if not (isinstance(e, Term) and e.head == "I" and e.order == 0 and len(e.groups) == 2):
        return None
    a, b = e.groups
    ta, tb = _target(a), _target(b)
    if ta is None or tb is None:
        return None
    if ta.sub == "eval" and tb.sub != "eval":
        ev, cand = ta, tb
    elif tb.sub == "eval" and ta.sub != "eval":
        ev, cand = tb, ta
    else:
        return None
    if not ev.upper:
        return None
    xe = [g for g in e.given if g.base in ("x", "X") and g.sub == "eval"]
    xc = [g for g in e.given if g.base == "x" and g.sub == cand.sub and not g.star]
    data = [g for g in e.given if _is_data(g)]
    if len(xe) != 1 or len(xc) != 1 or len(xe) + len(xc) + len(data) != len(e.given):
        return None
    return cand, xc[0], xe[0], bool(data)


def _derived_form(e: Expr, steps: tuple[str, ...], strict: bool) -> Expr | None:
    """The symbolic engine's derivation of ``e`` when it ends at a matrix expression (else None)."""
    from ..symbolic.derivation import derive
    from ..symbolic.rules import RULES
    from ..syntax.tree import Expectation

    rules = tuple(s for s in steps if s in RULES and s != "last_layer")
    d = derive(e, using=rules, strict=False)
    r = d.result
    # ggn/glm also choose how curvature is computed numerically, and eig_logdet has nothing to average when the
    # label is known (I[W;y|x]); neither counts as "never fired"
    missing = set(rules) - {s.rule for s in d.steps} - {"ggn", "glm", "eig_logdet"}
    if strict and missing:
        raise RuleError(f"step(s) {', '.join(sorted(missing))} never applied to {e}; the derivation reached {r}")
    if any(isinstance(n, Expectation) or (isinstance(n, Term) and n.order == 0) for n in r.walk()):
        if strict:
            raise RuleError(f"the steps {', '.join(steps)} turn {e} into {r}, which is not a matrix expression; "
                            "add eig_logdet (and ggn) to using")
        return None
    return r


def weight_space_form(expr: Expr | str, using: Iterable[str] | None = None) -> Expr:
    """The weight-space matrix expression of the quantity ``expr`` under the approximation steps ``using``."""
    e = parse(expr) if isinstance(expr, str) else expr
    steps = normalise_using(using)
    if isinstance(e, Relation):
        return weight_space_form(e.items[-1], steps)
    if not any(isinstance(n, Term) and n.order == 0 for n in e.walk()):
        return e
    trace = "trace" in steps
    if not trace and "eig_logdet" not in steps:
        raise RuleError(f"{e} has a weight-space form only through 'eig_logdet' (or 'trace'); add it to using")
    eig = _eig_parts(e)
    if eig is not None and "proxy" not in steps and not eig[2]:
        derived = _derived_form(e, steps, strict=using is not None)
        if derived is not None:
            return derived
    if eig is not None:
        t, x, cond = eig
        prec = "H''[w* | D]" if cond else "H''[w*]"
        F = f"H''[{t.text} | {x.text}, w*]"
        if "proxy" in steps:
            raise RuleError("the 'proxy' step applies to (J)EPIG quantities such as I[Y_eval; Y | x, X_eval] only")
        return parse(f"1/2 tr({F} @ {prec}^-1)" if trace else f"1/2 logdet({F} @ {prec}^-1 + Id)")
    ep = _epig_parts(e)
    if ep is not None:
        cand, xc, xe, cond = ep
        prec = "H''[w* | D]" if cond else "H''[w*]"
        Fa = f"H''[{cand.text} | {xc.text}, w*]"
        Fe = f"H''[Y_eval | {xe.text}, w*]"
        if "proxy" in steps:
            body = f"{Fe} @ ({prec} + {Fa})^-1"
            return parse(f"tr({body})" if trace else f"logdet({body} + Id)")
        if trace:
            return parse(f"1/2 tr({Fe} @ {prec}^-1) - 1/2 tr({Fe} @ ({prec} + {Fa})^-1)")
        return parse(f"1/2 logdet({Fe} @ {prec}^-1 + Id) - 1/2 logdet({Fe} @ ({prec} + {Fa})^-1 + Id)")
    raise CompileError(
        f"no weight-space form is known for {e}; the numeric compiler knows I[W; Y | x], I[W; Y_B | x_B], "
        "I[W; y | x] and I[Y_eval; Y | x, X_eval] (or x_eval for the joint version). Pass the matrix expression "
        "itself, e.g. \"1/2 logdet(H''[Y | x, w*] @ H''[w*]^-1 + Id)\""
    )
