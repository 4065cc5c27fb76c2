"""From a quantity to its weight-space matrix expression: the derivation is the compiler's input.

:func:`weight_space_form` splits the quantity into a linear combination of information quantities (rational
coefficients and scalar symbols such as ``beta``), derives each one with the symbolic engine under the
approximation steps ``using`` (:func:`infonotation.symbolic.derivation.derive`, the model being the paper's with
the network's likelihood), and combines what the derivations reach. There is no table of known quantities:
whatever a derivation turns into a matrix expression of Fisher, observed-information, prior, posterior, training
and evaluation Hessians compiles (:mod:`~infonotation.numeric.plan` lowers it). A derivation that stops short of
one (an entropy or an expectation of a log-determinant is left) is a :class:`~infonotation.errors.CompileError`
that prints the derivation reached and names the step that would finish it.

``proxy`` (the paper's raw (J)EPIG proxies) is not a rule but a ranking shortcut applied to the derived form: the
terms that do not depend on the candidate are dropped and the rest is divided by minus the first one's
coefficient (lower is better), which ranks the pool the same way; with ``trace`` too, the trace bound then
applies to the proxy's log-determinant (which now enters with a positive sign).
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from ..errors import CompileError, NotationError, RuleError
from ..symbolic.derivation import Derivation, derive
from ..symbolic.model import Model
from ..symbolic.rewrite import from_linear, linear_form, simplify
from ..symbolic.rules import RULES
from ..syntax.parser import parse
from ..syntax.tree import Expectation, Expr, Name, Number, Product, Relation, Term, product_of

__all__ = ["weight_space_form", "DEFAULT_USING", "KNOWN_STEPS", "is_proxy", "quantity_of", "observed_label",
           "normalise_using", "LABELLED_USING", "free_symbols", "Form", "as_derivation", "derivation_lines",
           "derivation_chain"]

#: The paper's default approximation chain for weight space.
DEFAULT_USING: tuple[str, ...] = ("gaussian", "ggn", "eig_logdet")
#: The default for a quantity about a known label on the whole network: without 'ggn', which would drop the label.
LABELLED_USING: tuple[str, ...] = ("gaussian", "eig_logdet")
#: Step names the numeric compiler understands (the symbolic rules it applies, and the ``proxy`` shortcut).
KNOWN_STEPS = frozenset(
    {"gaussian", "ggn", "glm", "eig_logdet", "trace", "last_layer", "determinant_lemma", "proxy"}
)
#: Steps that are not symbolic rules: ``last_layer`` is the compile option, ``proxy`` a ranking shortcut.
NUMERIC_ONLY = frozenset({"last_layer", "proxy"})


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
    for n in e.walk():
        if isinstance(n, Term) and n.order == 0 and n.head == "I":
            if any(m.base == "y" and not m.upper and m.sub in (None, "B") for g in n.groups for m in g):
                return True
        if isinstance(n, Term) and n.order == 2 and len(n.groups[0]) == 1:
            m = n.groups[0][0]
            if m.base == "y" and not m.upper and m.sub in (None, "B"):
                return True
    return False


def normalise_using(using: Iterable[str] | str | None) -> tuple[str, ...]:
    """``using`` as a tuple of known step names (``RuleError`` for unknown ones); a string is a comma list."""
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


def is_proxy(expr: Expr | str, using: Iterable[str] | str | None) -> bool:
    """True when the paper's raw proxy is asked for (lower is better): ``proxy`` in ``using``."""
    return "proxy" in normalise_using(using)


def free_symbols(e: Expr) -> list[str]:
    """The scalar symbols of a quantity (``beta`` in ``I[W;Y|x] + beta * I[Y_eval;Y|x,X_eval]``), bound by keyword."""
    inside: set[int] = set()
    for n in e.walk():
        if isinstance(n, (Term, Expectation)):
            inside.update(id(m) for m in n.walk() if m is not n)
    out = []
    for n in e.walk():
        if isinstance(n, Name) and id(n) not in inside and not n.upper and not n.star and n.text not in out:
            out.append(n.text)
    return out


def _split_symbols(t: Expr) -> tuple[tuple[Name, ...], Expr]:
    """``beta * gamma * Q`` -> ``((beta, gamma), Q)``: scalar symbols multiplying a quantity."""
    if isinstance(t, Product) and all(o == "*" for o in t.ops):
        names = tuple(f for f in t.factors if isinstance(f, Name) and not f.upper)
        rest = [f for f in t.factors if not (isinstance(f, Name) and not f.upper)]
        if names and len(rest) == 1:
            return names, rest[0]
    return (), t


def _has_quantity(e: Expr) -> bool:
    return any(isinstance(n, Term) and n.order == 0 for n in e.walk())


def _is_matrix_form(e: Expr) -> bool:
    """No information quantity is left, and expectations only average a Hessian (the mean eval Fisher)."""
    for n in e.walk():
        if isinstance(n, Term) and n.order == 0:
            return False
        if isinstance(n, Expectation) and not (isinstance(n.body, Term) and n.body.order == 2):
            return False
    return True


class Form:
    """A quantity's weight-space form and the derivations that produced it (one per quantity term)."""

    def __init__(self, expr: Expr, derivations: tuple[Derivation, ...], proxy: bool):
        self.expr = expr
        self.derivations = derivations
        self.proxy = proxy  # a raw proxy whose lower values are better

    def __str__(self) -> str:
        return str(self.expr)


def _finishing_step(result: Expr, steps: tuple[str, ...]) -> str:
    """The step that would take a derivation that stopped at ``result`` on to a matrix expression."""
    terms = [n for n in result.walk() if isinstance(n, Term) and n.order == 0]
    about_w = [t for t in terms if any(m.base in ("W", "w") for g in t.groups for m in g)]
    if any(isinstance(n, Expectation) for n in result.walk()) and "eig_logdet" not in steps:
        return "'eig_logdet' (Jensen: the expectation over the labels moves inside the log-determinant)"
    if about_w and "gaussian" not in steps:
        return "'gaussian' (the entropy of a Gaussian posterior as a log-determinant)"
    if terms and not about_w:
        return ("none: no weight-space rule turns an entropy of the outputs into curvature; estimate it from "
                "posterior samples with space='prediction'")
    if any(isinstance(n, Expectation) for n in result.walk()):
        return "'ggn' (so that the expected curvature is the Fisher information, which has no label to average)"
    return "one of gaussian, ggn, eig_logdet"


def weight_space_form(quantity: Expr, using: Iterable[str] | str | None = None,
                      likelihood: str | None = None, candidate: str | None = None) -> Form:
    """The weight-space matrix expression of ``quantity`` under ``using``, reached by the symbolic engine.

    Each quantity term of the linear combination is derived on its own (``derive(term, using=..., model=
    Model(likelihood=likelihood))``) and the results are recombined with their coefficients; a matrix
    expression passes unchanged. With ``proxy``, the terms without the candidate ``candidate`` (an input's
    subscript, ``None`` for ``x``) are dropped and the rest negated.
    """
    steps = normalise_using(using)
    e = quantity
    if isinstance(e, Relation):
        e = e.items[-1]
    proxy = "proxy" in steps
    lower_is_better = False
    # with the proxy, a trace bound applies to the proxy's (positive) log-determinant, after the negation
    rules = tuple(s for s in steps if s not in NUMERIC_ONLY and not (proxy and s == "trace"))
    model = Model(likelihood=likelihood)
    derivations: list[Derivation] = []
    items: list[tuple[Fraction, Expr]] = []
    for coeff, term in linear_form(e):
        symbols, body = _split_symbols(term)
        if not _has_quantity(body):
            items.append((coeff, term))
            continue
        try:
            d = derive(body, using=rules, model=model, strict=False)
        except NotationError as err:
            raise CompileError(f"cannot derive {body}: {err}") from None
        derivations.append(d)
        result = d.result
        if not _is_matrix_form(result):
            raise CompileError(
                f"no weight-space form is reached: the steps {', '.join(rules) or '(none)'} take {body} to {result}, "
                f"which is not a matrix expression; the step that would finish it: {_finishing_step(result, rules)}. "
                f"The derivation reached:\n{d}")
        for c, t in linear_form(result):  # each term of the derived form, for the proxy to choose from
            items.append((coeff * c, product_of(list(symbols) + [t], ["*"] * len(symbols)) if symbols else t))
    if proxy:
        kept = [(c, t) for c, t in items if _mentions_candidate(t, candidate)]
        if not kept:
            raise CompileError(f"with 'proxy', every term of {e} is dropped: none depends on the candidate")
        scale = kept[0][0]  # the paper's raw proxy: the first term's coefficient is 1 (lower is better if it was < 0)
        items = [(c / scale, t) for c, t in kept]
        lower_is_better = scale < 0
    form = from_linear(items) if items else Number(Fraction(0))
    if proxy and "trace" in steps:
        bounded = RULES["trace"].apply(form, model)
        if bounded is None:
            raise CompileError(f"'trace' does not apply to the proxy {form}: its log-determinant must be of "
                               "logdet(F @ H^-1 + Id) with F positive semi-definite and H positive definite")
        form = simplify(bounded)
    return Form(form, tuple(derivations), proxy and lower_is_better)


def _mentions_candidate(t: Expr, candidate: str | None) -> bool:
    subs = {candidate} if candidate is not None else {None, "B"}
    return any(isinstance(n, Name) and n.base in ("x", "X") and n.sub in subs for n in t.walk())


def as_derivation(derivations: tuple[Derivation, ...]) -> Derivation | tuple[Derivation, ...] | None:
    """What a compiled quantity keeps as ``acq.derivation``: the one derivation, a tuple of several (one per quantity
    term), or None for a matrix expression compiled as it is."""
    return derivations[0] if len(derivations) == 1 else (derivations or None)


def _each(derivation: Derivation | tuple[Derivation, ...] | None) -> tuple[Derivation, ...]:
    if derivation is None:
        return ()
    return derivation if isinstance(derivation, tuple) else (derivation,)


def derivation_lines(derivation: Derivation | tuple[Derivation, ...] | None) -> list[str]:
    """The derivation(s) as indented lines for a compiled plan's description."""
    lines: list[str] = []
    for d in _each(derivation):
        lines.append("  derivation:")
        lines += ["    " + line for line in str(d).splitlines()]
    return lines


def derivation_chain(derivation: Derivation | tuple[Derivation, ...] | None) -> str:
    """The derivation(s) on one line each, for a compiled quantity's ``repr``."""
    chain = "; ".join(str(d.relation) for d in _each(derivation))
    return f"\n  derivation: {chain}" if chain else ""
