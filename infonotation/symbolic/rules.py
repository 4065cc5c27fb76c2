"""The rules: named rewrites with their relation, preconditions and paper reference.

Each rule rewrites every match in an expression at once (``expr -> expr | None``). Exact rules
(relation ``=``) are sound for every distribution of the model; the tests check each of them on
random models by exact enumeration. Approximations (``~=``) and bounds (``<=``) fire only when named.
Rules R1-R30 refer to ``spec/paper-reference.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from ..errors import NotationError
from ..syntax.resolve import is_random, variable
from ..syntax.tree import (
    Const,
    Expectation,
    Expr,
    Func,
    Identity,
    Name,
    Neg,
    Number,
    Pow,
    Prob,
    Product,
    Sum,
    Term,
    Transpose,
    product_of,
    sum_of,
)
from .canonical import GLM_LIKELIHOODS
from .check import UNDECIDED, StepVerdict, prove_equal
from .definite import positive_definite, positive_semidefinite
from .model import Model
from .rewrite import from_linear, linear_form, map_tree, mentions, simplify

__all__ = ["Rule", "RULES", "APPROXIMATIONS", "BOUNDS", "rule", "check_step"]

HALF = Number(Fraction(1, 2))
MINUS_ONE = Neg(Number(Fraction(1)))


@dataclass(frozen=True)
class Rule:
    """A named rewrite: ``apply(expr, model) -> expr | None`` rewrites every match."""

    name: str
    relation: str  # "=", "~=", "<="
    statement: str
    precondition: str
    reference: str
    apply: Callable[[Expr, Model | None], Expr | None]

    @property
    def kind(self) -> str:
        return {"=": "exact", "~=": "approximation", "<=": "bound"}[self.relation]


def _param(model: Model | None) -> str:
    return model.parameter if model is not None else "w"


def _is_parameter(n: Name, model: Model | None) -> bool:
    return n.base == _param(model) or n.base == _param(model).upper()


def _is_output(n: Name, model: Model | None) -> bool:
    """A name whose variable has the parameter among its parents (a label, a data set)."""
    m = model or Model()
    pa = m.parents(variable(n))
    return pa is not None and _param(model) in pa


def _verified(e: Expr, candidate: Expr, model: Model | None) -> bool:
    """The checker proves ``e = candidate`` under ``model`` (an ill-shaped candidate is refused, not an error)."""
    try:
        return prove_equal(e, candidate, model)[0]
    except NotationError:
        return False


def _everywhere(f: Callable[[Expr, Model | None], Expr | None]) -> Callable[[Expr, Model | None], Expr | None]:
    def apply(e: Expr, model: Model | None) -> Expr | None:
        out = map_tree(e, lambda n: f(n, model))
        return None if out == e else out

    return apply


# -- exact rules -----------------------------------------------------------------------------------
def _mi_definition(e: Expr, model: Model | None) -> Expr | None:
    """I[A;B|C] -> H[A|C] - H[A|B,C] (R4), with the parameter's group first when the MI is expected."""
    if not isinstance(e, Term) or e.head != "I":
        return None
    groups = e.groups
    if len(groups) > 2:  # R6: I[A;B;C|D] = I[A;B|D] - I[A;B|C,D]
        return sum_of([Term("I", e.order, groups[:-1], e.given),
                       Term("I", e.order, groups[:-1], e.given + groups[-1])], ["-"])
    a, b = groups
    all_random = all(is_random(n) for n in a + b)
    if all_random and not any(_is_parameter(n, model) for n in a) and any(_is_parameter(n, model) for n in b):
        a, b = b, a  # symmetric for expected mutual information
    return sum_of([Term("H", e.order, (a,), e.given), Term("H", e.order, (a,), b + e.given)], ["-"])


def _independence(e: Expr, model: Model | None) -> Expr | None:
    """Drop context names that the model makes irrelevant (d-separation), checked by canonical forms: in a term
    (``H[A|B,c] = H[A|B]``, also for its gradient and Hessian) and in an expectation's distribution
    (``E_{p(a|b,c)}[f] = E_{p(a|b)}[f]``)."""
    if model is None:
        return None
    if isinstance(e, Expectation) and e.dist.given:
        dist = Prob(e.dist.event, e.dist.given)
        for n in list(dist.given):
            trial = Expectation(Prob(dist.event, tuple(g for g in dist.given if g != n)), e.body)
            if _verified(Expectation(dist, e.body), trial, model):
                dist = trial.dist
        return None if dist == e.dist else Expectation(dist, e.body)
    if not isinstance(e, Term) or e.head != "H" or not e.given:
        return None
    given = list(e.given)
    changed = False
    for n in list(given):
        if e.order > 0 and n.star:
            continue  # the point a derivative is taken at stays
        trial = Term(e.head, e.order, e.groups, tuple(g for g in given if g != n))
        try:
            ok, how = prove_equal(Term(e.head, e.order, e.groups, tuple(given)), trial, model)[:2]
        except NotationError:
            continue
        if ok and how.startswith("exact"):
            given.remove(n)
            changed = True
    return Term(e.head, e.order, e.groups, tuple(given)) if changed else None


def _expectation(e: Expr, model: Model | None) -> Expr | None:
    """H[W|Y,x] = E_{p(y|x)}[H[W|y,x]] (R1): average the parameter's entropy over unseen labels."""
    if not isinstance(e, Term) or e.head != "H" or e.order != 0:
        return None
    if not all(_is_parameter(n, model) and is_random(n) for n in e.groups[0]):
        return None
    labels = [n for n in e.given if is_random(n) and not _is_parameter(n, model)]
    if not labels:
        return None
    observed = tuple(n for n in e.given if not is_random(n))
    lowered = tuple(n.lower() for n in labels)
    inner = Term("H", 0, e.groups, tuple(n.lower() if n in labels else n for n in e.given))
    return Expectation(Prob(lowered, observed), inner)


def _hessian_bayes(e: Expr, model: Model | None) -> Expr | None:
    """H''[w*|y,x] = H''[y|x,w*] + H''[w*] (R12: the evidence has no parameter, its Hessian is 0).

    Bayes' rule ``-log p(w|y,x) = -log p(y|x,w) - log p(w|x) + log p(y|x)`` always holds; the prior loses its
    inputs (``p(w|x) = p(w)``) only under a model that makes the parameter independent of them. The result
    is verified by the checker under the same model (no model: no independence), else the rule refuses.
    """
    if not isinstance(e, Term) or e.head != "H" or e.order == 0:
        return None
    event = e.groups[0]
    if len(event) != 1 or not (_is_parameter(event[0], model) and event[0].star) or not e.given:
        return None
    point = event[0]
    outputs = tuple(n for n in e.given if _is_output(n, model))
    inputs = tuple(n for n in e.given if not _is_output(n, model))
    for prior in (Term("H", e.order, (event,), ()), Term("H", e.order, (event,), inputs)):
        if prior == e:
            return None
        candidate: Expr = prior if not outputs else \
            sum_of([Term("H", e.order, (outputs,), inputs + (point,)), prior], ["+"])
        if _verified(e, candidate, model):
            return candidate
    return None


def _hessian_additivity(e: Expr, model: Model | None) -> Expr | None:
    """H''[Y_1,Y_2|x_1,x_2,w*] = H''[Y_1|x_1,w*] + H''[Y_2|x_2,w*] (R11: labels independent given w)."""
    if not isinstance(e, Term) or e.head != "H" or e.order == 0 or len(e.groups[0]) < 2:
        return None
    point = [n for n in e.given if n.star]
    if len(point) != 1:
        return None
    parts = []
    for n in e.groups[0]:
        own = tuple(g for g in e.given if not g.star and g.sub == n.sub)
        parts.append(Term("H", e.order, ((n,),), own + (point[0],)))
    candidate = sum_of(parts, ["+"] * (len(parts) - 1))
    ok = _verified(e, candidate, model)  # with no model nothing is independent: the rule refuses
    return candidate if ok else None


def _logdet_parts(t: Expr) -> tuple[Expr, Expectation | None] | None:
    """``logdet(A)`` or ``E_{...}[c logdet(A)]``: return (A, the expectation or None)."""
    if isinstance(t, Func) and t.name == "logdet":
        return t.arg, None
    if isinstance(t, Expectation):
        items = linear_form(t.body)
        if len(items) == 1 and isinstance(items[0][1], Func) and items[0][1].name == "logdet":
            return items[0][1].arg, t
    return None


def _logdet_algebra(e: Expr, model: Model | None) -> Expr | None:
    """c logdet(F + B) - c logdet(B) = c logdet(F @ B^-1 + Id) (logdet(AB) = logdet A + logdet B).

    Preconditions: ``B`` positive definite (so both sides are defined together), and, when the first
    log-det sits under an expectation, ``B`` uses none of its bound names.
    """
    if not isinstance(e, (Sum, Neg, Product)):
        return None
    items = linear_form(e)
    for i, (ci, ti) in enumerate(items):
        pi = _logdet_parts(ti)
        if pi is None or not isinstance(pi[0], Sum):
            continue
        big, expectation = pi
        if expectation is not None:
            ci = ci * linear_form(expectation.body)[0][0]
        for j, (cj, tj) in enumerate(items):
            if j == i or not (isinstance(tj, Func) and tj.name == "logdet") or cj != -ci:
                continue
            small = tj.arg
            if not positive_definite(small):
                continue  # logdet(F + B) - logdet(B) = logdet(F B^-1 + Id) needs det(B) > 0 (B positive definite)
            if expectation is not None and mentions(small, expectation.dist.event):
                continue  # B outside the expectation must not use its bound names (no capture)
            rest = list(linear_form(big))
            try:  # small must be a sub-sum of big: F = big - small
                for part in linear_form(small):
                    rest.remove(part)
            except ValueError:
                continue
            if not rest:
                continue
            f = from_linear(rest)
            new = Func("logdet", sum_of([product_of([f, Pow(small, MINUS_ONE)], ["@"]), Identity()], ["+"]))
            piece: Expr = new if expectation is None else Expectation(expectation.dist, new)
            coeff = ci
            others = [items[k] for k in range(len(items)) if k not in (i, j)]
            return from_linear(others + [(coeff, piece)])
    return None


def _gaussian(e: Expr, model: Model | None) -> Expr | None:
    """H[W|o] ~= -1/2 logdet H''[w*|o] + C_k (R17; exact for a Gaussian posterior)."""
    if not isinstance(e, Term) or e.head != "H" or e.order != 0:
        return None
    event = e.groups[0]
    if len(event) != 1 or not (_is_parameter(event[0], model) and is_random(event[0])):
        return None
    point = Name(_param(model), event[0].sub, True)
    hess = Term("H", 2, ((point,),), e.given)
    return sum_of([Neg(product_of([HALF, Func("logdet", hess)], ["*"])), Const("C_k")], ["+"])


def _observed_to_fisher(e: Expr, model: Model | None) -> Expr | None:
    """H''[y|x,w*] -> H''[Y|x,w*]: observed information replaced by Fisher information."""
    if not isinstance(e, Term) or e.order != 2 or e.head != "H":
        return None
    if not any(n.star for n in e.given):
        return None
    event = e.groups[0]
    if not event or not all(_is_output(n, model) and not n.upper for n in event):
        return None
    return Term("H", 2, (tuple(n.capital() for n in event),), e.given)


def _glm(e: Expr, model: Model | None) -> Expr | None:
    """H''[y|x,w_L*] = H''[Y|x,w_L*] (R14): exact for a generalised linear model in the differentiated parameter.

    Needs a model whose likelihood is an exponential family with the canonical link in the network's outputs
    (``Model(likelihood="categorical" | "bernoulli" | "gaussian")``) and a derivative in a parameter the
    outputs are linear in: the last layer ``w_L*`` (R16), or any parameter of a model declared ``linear=True``.
    """
    if model is None or model.likelihood not in GLM_LIKELIHOODS or not isinstance(e, Term):
        return None
    points = [n for n in e.given if n.star and _is_parameter(n, model)]
    if len(points) != 1 or not (points[0].sub is not None or model.linear):
        return None
    return _observed_to_fisher(e, model)


def _empirical_fisher(e: Expr, model: Model | None) -> Expr | None:
    """H''[y|x,w*] ~= H'[y|x,w*]^T @ H'[y|x,w*] (R13, R29: drop the curvature term -Hess p / p)."""
    if not isinstance(e, Term) or e.order != 2 or e.head != "H" or not any(n.star for n in e.given):
        return None
    if not e.groups[0] or not all(_is_output(n, model) and not n.upper for n in e.groups[0]):
        return None
    g = Term("H", 1, e.groups, e.given)
    return product_of([Transpose(g), g], ["@"])


def _jensen(e: Expr, model: Model | None) -> Expr | None:
    """E_{p(y|x)}[c logdet(M_y + Id)] ~= c logdet(E_{p(y|x)}[M_y] + Id) (R20, Jensen for the concave logdet)."""
    if not isinstance(e, Expectation):
        return None
    items = linear_form(e.body)
    if len(items) != 1:
        return None
    c, t = items[0]
    if not (isinstance(t, Func) and t.name == "logdet" and isinstance(t.arg, Sum)):
        return None
    bound = e.dist.event
    inner = []
    for ci, ti in linear_form(t.arg):
        if ti == Identity():
            inner.append((ci, ti))
        elif isinstance(ti, Product) and ti.ops == ("@",) and not mentions(ti.factors[1], bound):
            inner.append((ci, product_of([Expectation(e.dist, ti.factors[0]), ti.factors[1]], ["@"])))
        elif not mentions(ti, bound):
            inner.append((ci, ti))
        else:
            return None
    new = Func("logdet", from_linear(inner))
    return product_of([Number(c), new], ["*"]) if c != 1 else new


def _drop_constant_expectation(e: Expr, model: Model | None) -> Expr | None:
    if isinstance(e, Expectation) and not mentions(e.body, e.dist.event):
        return e.body
    return None


def _trace_bound(e: Expr, model: Model | None) -> Expr | None:
    """c logdet(F @ H^-1 + Id) <= c tr(F @ H^-1) for F PSD, H PD, c > 0 (R21: log(1 + t) <= t).

    Only log-determinants that enter the whole expression with a positive sign are bounded (with a
    negative sign the inequality would turn around), so the result is an upper bound of the input.
    """
    items = linear_form(e)
    changed = False
    out = []
    for c, t in items:
        new = _trace_one(t) if c > 0 else None
        if isinstance(t, Expectation) and c > 0:
            inner = linear_form(t.body)
            if all(ci > 0 for ci, _ in inner):
                pieces = [(ci, _trace_one(ti) or ti) for ci, ti in inner]
                if any(p is not ti for (_, p), (_, ti) in zip(pieces, inner)):
                    new = Expectation(t.dist, from_linear(pieces))
        out.append((c, new if new is not None else t))
        changed = changed or new is not None
    return from_linear(out) if changed else None


def _trace_one(e: Expr) -> Expr | None:
    """``logdet(Id + c M) -> tr(c M)`` when ``c > 0`` and ``M`` is ``F``, ``F @ H^-1`` or ``H^-1 @ F`` with ``F``
    positive semi-definite and ``H`` positive definite (then ``M``'s eigenvalues are real and non-negative)."""
    if not (isinstance(e, Func) and e.name == "logdet"):
        return None
    items = linear_form(e.arg)
    if (Fraction(1), Identity()) not in items or len(items) != 2:
        return None
    other = [it for it in items if it != (Fraction(1), Identity())][0]
    c, m = other
    if c <= 0 or not _nonnegative_spectrum(m):
        return None
    return Func("tr", m if c == 1 else product_of([Number(c), m], ["*"]))


def _nonnegative_spectrum(m: Expr) -> bool:
    if positive_semidefinite(m):
        return True
    if not (isinstance(m, Product) and set(m.ops) <= {"@", "*"} and len(m.factors) >= 2):
        return False
    first, last = m.factors[0], m.factors[-1]
    for inverse, rest in ((last, m.factors[:-1]), (first, m.factors[1:])):
        if isinstance(inverse, Pow) and linear_form(inverse.exponent) == [(Fraction(-1), Number(Fraction(1)))] \
                and positive_definite(inverse.base):
            ops = list(m.ops[:-1]) if inverse is last else list(m.ops[1:])
            f = product_of(list(rest), ops) if len(rest) > 1 else rest[0]
            if positive_semidefinite(f):
                return True
    return False


def _determinant_lemma(e: Expr, model: Model | None) -> Expr | None:
    """logdet(A @ B + Id) = logdet(B @ A + Id) (Sylvester), applied to the first log-det it finds.

    With ``A = G^T`` this turns a parameter-space determinant into a Gram (sample-space) one.
    """
    found: list[Expr] = []

    def once(n: Expr) -> Expr | None:
        if found:
            return None
        out = _lemma_one(n)
        if out is not None:
            found.append(out)
        return out

    out = map_tree(e, once)
    return None if out == e else out


def _lemma_one(e: Expr) -> Expr | None:
    if not (isinstance(e, Func) and e.name == "logdet" and isinstance(e.arg, Sum)):
        return None
    items = linear_form(e.arg)
    if (Fraction(1), Identity()) not in items or len(items) != 2:
        return None
    c, m = [it for it in items if it != (Fraction(1), Identity())][0]
    if c != 1 or not isinstance(m, Product) or set(m.ops) != {"@"} or not isinstance(m.factors[0], Transpose):
        return None  # only the weight-to-sample direction: logdet(Id + G^T B) = logdet(Id + B G^T)
    a, rest = m.factors[0], list(m.factors[1:])  # det(Id + A B) = det(Id + B A) with B the rest of the product
    return Func("logdet", sum_of([product_of(rest + [a], ["@"] * len(rest)), Identity()], ["+"]))


def _flat_prior(e: Expr, model: Model | None) -> Expr | None:
    """H''[w*] -> lambda Id: an isotropic Gaussian prior N(0, lambda^-1 Id), flat in the limit lambda -> 0."""
    if isinstance(e, Term) and e.head == "H" and e.order == 2 and not e.given and len(e.groups[0]) == 1 \
            and e.groups[0][0].star:
        return product_of([Name("lambda"), Identity()], ["*"])
    return None


def _last_layer(e: Expr, model: Model | None) -> Expr | None:
    """w* -> w_L*: the parameter restricted to the last layer (a GLM in those parameters, R16)."""
    if isinstance(e, Term) and e.order > 0:
        def sub(n: Name) -> Name:
            return Name(n.base, "L", True) if (n.star and n.sub is None) else n
        new = Term(e.head, e.order, tuple(tuple(sub(n) for n in g) for g in e.groups), tuple(sub(n) for n in e.given))
        return None if new == e else new
    return None


def _samples(e: Expr, model: Model | None) -> Expr | None:
    """Prediction-space forms, estimated with posterior samples w_k ~ p(w|D).

    I[W;Y|x] = H[Y|x] - H[Y|x,W] (BALD); I[A;B|C] = H[A|C] + H[B|C] - H[A,B|C] (EPIG's estimator).
    """
    if not isinstance(e, Term) or e.head != "I" or len(e.groups) != 2 or e.order != 0:
        return None
    a, b = e.groups
    if not all(is_random(n) for n in a + b):
        return None
    if any(_is_parameter(n, model) for n in b):
        a, b = b, a
    if all(_is_parameter(n, model) for n in a):
        return sum_of([Term("H", 0, (b,), e.given), Term("H", 0, (b,), e.given + a)], ["-"])
    return sum_of([Term("H", 0, (a,), e.given), Term("H", 0, (b,), e.given), Term("H", 0, (a + b,), e.given)],
                  ["+", "-"])


def _predictive_mi(e: Expr, model: Model | None) -> Expr | None:
    """I[Y_e;Y|x,x_e] = I[W;Y_e|x_e] - I[W;Y_e|Y,x,x_e] (R9: the labels interact only through W)."""
    if not isinstance(e, Term) or e.head != "I" or len(e.groups) != 2 or e.order != 0:
        return None
    a, b = e.groups
    if any(_is_parameter(n, model) for n in a + b) or not all(is_random(n) for n in a + b):
        return None
    w = (Name(_param(model).upper()),)
    own = tuple(n for n in e.given if _same_point(n, a))
    candidate = sum_of([Term("I", 0, (w, a), own or e.given), Term("I", 0, (w, a), b + e.given)], ["-"])
    ok = _verified(e, candidate, model)  # with no model nothing is independent: the rule refuses
    return candidate if ok else None


def _same_point(n: Name, group: tuple[Name, ...]) -> bool:
    return any(n.sub == g.sub for g in group)


RULES: dict[str, Rule] = {}


def _register(name, relation, statement, precondition, reference, fn, everywhere=True):
    RULES[name] = Rule(name, relation, statement, precondition, reference, _everywhere(fn) if everywhere else fn)


_register("mi_definition", "=", "I[A;B|C] = H[A|C] - H[A|B,C]", "none (definition; symmetric form only for "
          "expected mutual information, all names upper case)", "R4, R6", _mi_definition)
_register("independence", "=", "H[A|B,c] = H[A|B] when A is d-separated from c given B",
          "the model's conditional independences (d-separation)", "spec 4", _independence)
_register("expectation", "=", "H[W|Y,x] = E_{p(y|x)}[H[W|y,x]]", "none (definition of the conditional entropy)",
          "R1", _expectation)
_register("predictive_mi", "=", "I[Y_e;Y|x,x_e] = I[W;Y_e|x_e] - I[W;Y_e|Y,x,x_e]",
          "a model in which Y and Y_e are independent given W (the default one); with no model it refuses",
          "R9", _predictive_mi)
_register("hessian_bayes", "=", "H''[w*|y,x] = H''[y|x,w*] + H''[w*]",
          "Bayes' rule (the evidence -log p(y|x) has no parameter); the prior loses its inputs, H''[w*|x] = "
          "H''[w*], only under a model where the parameter is independent of them (the default one); with no "
          "model the result keeps H''[w*|x]; every rewrite is verified by the checker under the same model",
          "R7, R11, R12",
          _hessian_bayes)
_register("hessian_additivity", "=", "H''[Y_1,Y_2|x_1,x_2,w*] = H''[Y_1|x_1,w*] + H''[Y_2|x_2,w*]",
          "a model in which the labels are independent given the parameter and their inputs (the default one); "
          "with no model it refuses", "R3, R11",
          _hessian_additivity)
_register("logdet_algebra", "=", "c logdet(F + B) - c logdet(B) = c logdet(F @ B^-1 + Id)",
          "B positive definite (so both sides are defined together); a log-det under an expectation is combined "
          "only with a B that uses none of its bound names", "logdet(AB) = logdet A + logdet B", _logdet_algebra,
          everywhere=True)
_register("simplify_expectation", "=", "E_{p(a|b)}[f] = f when f does not depend on a", "none",
          "linearity of expectation", _drop_constant_expectation)
_register("gaussian", "~=", "H[W|o] ~= -1/2 logdet H''[w*|o] + C_k",
          "Gaussian (Laplace) posterior around w*; exact for Bayesian linear regression", "R17, R18", _gaussian)
_register("ggn", "~=", "H''[y|x,w*] ~= H''[Y|x,w*]",
          "exponential-family likelihood; the residual curvature term is dropped (generalised Gauss-Newton)",
          "R15", _observed_to_fisher)
_register("glm", "=", "H''[y|x,w_L*] = H''[Y|x,w_L*]",
          "a generalised linear model: Model(likelihood=categorical|bernoulli|gaussian) and the derivative in the "
          "last layer's parameter w_L* (or a model declared linear=True); then observed and Fisher information "
          "agree for every label", "R14, R16", _glm)
_register("empirical_fisher", "~=", "H''[y|x,w*] ~= H'[y|x,w*]^T @ H'[y|x,w*]",
          "drop the curvature term -Hess_w p(y|x,w*) / p(y|x,w*) (zero in expectation over y ~ p(y|x,w*)); "
          "with the true label: the empirical Fisher (GraNd, BADGE with pseudo-labels)", "R13, R29",
          _empirical_fisher)
_register("eig_logdet", "~=", "E_{p(y|x)}[1/2 logdet(H''[y|x,w*] @ H''[w*]^-1 + Id)] ~= "
          "1/2 logdet(E_{p(y|x)}[H''[y|x,w*]] @ H''[w*]^-1 + Id)",
          "logdet is concave (Jensen: the right side is an upper bound); with ggn the expected observed "
          "information is the Fisher information", "R19, R20", _jensen)
_register("trace", "<=", "logdet(F @ H^-1 + Id) <= tr(F @ H^-1)",
          "F positive semi-definite (a Fisher information, G^T @ G), H positive definite (a prior or posterior "
          "precision, lambda * Id), read off the syntax; never observed information or a negated Hessian; the "
          "log-det enters with a positive sign", "R21", _trace_bound, everywhere=False)
_register("determinant_lemma", "=", "logdet(Id + G^T @ B) = logdet(Id + B @ G^T)",
          "A (n x k), B (k x n): Sylvester's determinant identity", "R23", _determinant_lemma, everywhere=False)
_register("flat_prior", "~=", "H''[w*] = lambda Id, lambda -> 0",
          "isotropic Gaussian prior N(0, lambda^-1 Id); the limit links log-dets of gradient similarity matrices "
          "(PRISM, SIMILAR, BADGE) to the information quantities", "R12, R24", _flat_prior)
_register("last_layer", "~=", "w* -> w_L*: only the last layer's weight and bias are parameters",
          "features of the penultimate layer held fixed; the model is then a GLM in w_L", "R16", _last_layer)
_register("samples", "~=", "I[W;Y|x] = H[Y|x] - H[Y|x,W], estimated with posterior samples w_k ~ p(w|D)",
          "samples from the posterior (ensemble, MC dropout, Gaussian)", "R8", _samples)

#: Approximations and bounds: opt-in by name.
APPROXIMATIONS = ("gaussian", "ggn", "glm", "eig_logdet", "last_layer", "flat_prior", "samples", "empirical_fisher")
BOUNDS = ("trace",)


def rule(name: str) -> Rule:
    from ..errors import RuleError

    try:
        return RULES[name]
    except KeyError:
        raise RuleError(f"unknown rule `{name}`; the rules are: {', '.join(sorted(RULES))}") from None


# -- checking one step of a chain ------------------------------------------------------------------
def _expand(e: Expr, model: Model | None) -> Expr:
    out = RULES["mi_definition"].apply(e, model)
    return e if out is None else out


_NORMALISE = ("independence", "hessian_bayes", "hessian_additivity", "logdet_algebra")


def _normalise(e: Expr, model: Model | None) -> Expr:
    """Exact clean-up after an approximation: the steps a derivation would take next."""
    for name in _NORMALISE:
        for _ in range(8):
            new = RULES[name].apply(e, model)
            if new is None:
                break
            new = simplify(new)
            if new == e:
                break
            e = new
    return e


def _variants(e: Expr, names: tuple[str, ...], model: Model | None) -> list[tuple[str, Expr]]:
    out = []
    for name in names:
        r = RULES[name]
        for base in (e, _expand(e, model)):
            new = r.apply(base, model)
            if new is not None:
                out.append((name, new))
                normal = _normalise(new, model)
                if normal != new:
                    out.append((name, normal))
    return out


def check_step(left: Expr, op: str, right: Expr, model: Model | None) -> StepVerdict:
    """Check one step: ``=`` proven, ``~=`` matched to an approximation, ``<=``/``<~`` to a bound."""
    if op in ("=", ":="):
        from .check import _equal_step

        return _equal_step(left, right, model, op)[0]
    if op in ("=>", "<=>"):
        return StepVerdict(left, op, right, True, "logic", "statements are checked separately")
    if op == "~=":
        ok, how = prove_equal(left, right, model)[:2]
        if ok:
            return StepVerdict(left, op, right, True, how.split(":")[0], f"holds exactly ({how})")
        for name, new in _variants(left, APPROXIMATIONS + ("glm",), model):
            ok, how = prove_equal(new, right, model)[:2]
            if ok:
                r = RULES[name]
                return StepVerdict(left, op, right, True, how.split(":")[0],
                                   f"licensed by {name}: {r.statement} [{r.precondition}]", name)
        for name, new in _variants(right, APPROXIMATIONS, model):
            ok, how = prove_equal(left, new, model)[:2]
            if ok:
                r = RULES[name]
                return StepVerdict(left, op, right, True, how.split(":")[0],
                                   f"licensed by {name}: {r.statement} [{r.precondition}]", name)
        return StepVerdict(left, op, right, False, "rules", "no single approximation rule turns the left side "
                           f"into the right side (tried {', '.join(APPROXIMATIONS)})", status=UNDECIDED)
    if op in ("<=", ">=", "<~"):
        lo, hi = (left, right) if op != ">=" else (right, left)
        ok, how = prove_equal(lo, hi, model)[:2]
        if ok:
            return StepVerdict(left, op, right, True, how.split(":")[0], "holds with equality")
        candidates = [("trace", v) for v in _bound_variants(lo, model)]
        if op == "<~":
            for name, v in _variants(lo, APPROXIMATIONS, model):
                candidates += [(f"{name} + trace", b) for b in _bound_variants(v, model)] + [(name, v)]
        for name, new in candidates:
            ok, how = prove_equal(new, hi, model)[:2]
            if ok:
                r = RULES["trace"]
                return StepVerdict(left, op, right, True, how.split(":")[0],
                                   f"licensed by {name}: {r.statement} [{r.precondition}]", name)
        return StepVerdict(left, op, right, False, "rules", status=UNDECIDED, reason="no bound (trace: logdet(Id + X) "
                           "<= tr X for positive "
                           "semi-definite X) turns the left side into the right side, or its precondition fails")
    return StepVerdict(left, op, right, False, "unsupported", f"relation `{op}` is not checked", status=UNDECIDED)


def _bound_variants(e: Expr, model: Model | None) -> list[Expr]:
    out = []
    new = RULES["trace"].apply(e, model)
    if new is not None:
        out.append(new)
        out.append(simplify(new))
    return out
