"""Counterexamples of refuted statements, verified by evaluators written for the tests.

``inf.check(...).counterexample`` claims an explicit distribution on which the two sides of a refuted statement
differ. Nothing here trusts the engine's own evaluation (``infonotation/symbolic/worlds.py``,
``counterexample.py``, ``smooth.py``):

* a discrete counterexample's ``joint``/``observed``/``symbols`` are loaded into :class:`TableWorld`, a
  :class:`enumeration.DiscreteWorld` (the independent exact-enumeration oracle) with an explicit table instead of
  a random one, and both sides are evaluated by the oracle: they must differ there, match ``lhs_value`` and
  ``rhs_value`` to 1e-9, and ``evaluate()`` must agree with the oracle on other terms. The table must be a
  distribution (exact rationals with small denominators summing to exactly 1), factorise as the model says
  (checked with exact arithmetic on the table: the chain rule over the model's parents, and the default model's
  independences one by one), give every observed name a value its variable takes, and keep ``W_L = W mod 2``;
* a parametric counterexample (statements with ``H'``/``H''``) is checked by lambdifying its ``log p(w, d)``
  expressions into torch and differentiating the definition of the terms with ``torch.autograd`` at ``w*``.

The refuted statements come from the false rows of ``tests/test_identities.py`` (under no model and under
``inf.Model()``, each labelled by the oracle), and from the soundness generators of classes 1, 2, 3 and 6 in
``tests/strategies.py``. Every refutation over ``H``, ``I``, ``p`` and ``E`` must come with a counterexample.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest
import sympy
import torch
from enumeration import (
    DiscreteWorld,
    Unsupported,
    evaluate,
    free_key,
    is_rand,
    is_restricted,
    judge,
    key_of,
    model_parents,
    var_of,
)
from hypothesis import HealthCheck, given, settings
from strategies import (
    Case,
    engine_model,
    nonlinear,
    oracle_model,
    oracle_options,
    point_estimates,
    restricted,
    total_probability,
)
from test_identities import ROWS

import infonotation as inf
from infonotation.syntax.tree import (
    Const,
    Expectation,
    Func,
    Identity,
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

P = inf.parse
#: The largest denominator a probability of a counterexample may have ("small denominators").
MAX_DENOMINATOR = 10**7


def SETTINGS(n: int) -> settings:  # noqa: N802 - reads as a decorator
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


# -- which statements a discrete counterexample must exist for -----------------------------------------------
def sides(text: str):
    r = P(text)
    assert isinstance(r, Relation) and len(r.items) == 2, text
    return r.items


def over_distributions(text: str) -> bool:
    """Only ``H``, ``I``, ``p``, ``E``, ``h``, ``log``, ``exp``, numbers and scalar symbols: no derivative, no
    matrix (a capital name outside a term, ``Id``, ``logdet``, ``det``, ``tr``), no ``C_k``."""
    inside: set[int] = set()
    for side in sides(text):
        for node in side.walk():
            if isinstance(node, (Term, Prob)):
                inside |= {id(n) for n in node.walk() if n is not node}
    for side in sides(text):
        for node in side.walk():
            if isinstance(node, Term) and node.order > 0:
                return False
            if isinstance(node, Identity) or (isinstance(node, Func) and node.name in ("logdet", "det", "tr")):
                return False
            if isinstance(node, Const) and node.name == "C_k":
                return False
            if isinstance(node, Name) and id(node) not in inside and node.base[:1].isupper() and node.base != "D":
                return False
    return True


def refuted(text: str, model):
    """The engine's verdict; the tests below only look at statements it refutes."""
    v = inf.check(text, model)
    return v if v.status == "does not hold" else None


# -- the discrete counterexample as an oracle world ------------------------------------------------------------
def _var(name: str) -> str:
    """The oracle's variable of a name as written: ``Y_1``, ``y_1`` -> ``y_1``; ``W_L`` -> ``w_L``; ``D`` stays."""
    n = P(name)
    assert isinstance(n, Name), name
    return var_of(n)


def statement_vars(text: str) -> set[str]:
    return {var_of(n) for side in sides(text) for node in side.walk() if isinstance(node, (Term, Prob))
            for n in node.walk() if isinstance(n, Name)}


def var_map(cx, text: str) -> dict[str, str]:
    """The oracle variable of each key of ``cx.variables``. A lower-case ``d`` is shown as ``D`` (its upper-case
    name), which reads as the data set ``D``: when the statement has ``d`` and no ``D``, the key means ``d``."""
    used = statement_vars(text)
    out = {}
    for key in cx.variables:
        v = _var(key)
        lower = v[:1].lower() + v[1:]
        if v != lower and v not in used and lower in used:
            v = lower
        out[key] = v
    assert len(set(out.values())) == len(out), f"two keys of {list(cx.variables)} name one variable"
    return out


class TableWorld(DiscreteWorld):
    """An oracle :class:`DiscreteWorld` over an explicit table: the counterexample's ``variables`` (axes),
    ``joint`` (exact probabilities), ``observed`` (values of the lower-case names and of free random variables)
    and ``symbols`` (scalar names)."""

    def __init__(self, cx: inf.Counterexample, vmap: dict[str, str]):
        self.seed, self.k, self.kL, self.model = 0, 3, 2, False
        self.rng = np.random.default_rng(0)
        self.vars = [vmap[n] for n in cx.variables]
        for name, vals in cx.variables.items():
            assert list(vals) == list(range(len(vals))), f"{name}: values {vals} are not 0 .. n-1"
        self.card = {vmap[n]: len(vals) for n, vals in cx.variables.items()}
        self.K = self.card.get("w", 3)
        self.axis = {v: i for i, v in enumerate(self.vars)}
        self.maps = {}
        table = np.zeros(tuple(self.card[v] for v in self.vars))
        for values, p in cx.joint.items():
            table[values] = float(p)
        self.table = table
        self._marg = {}
        self.env = {}
        for name, value in cx.observed.items():
            n = P(name)
            assert isinstance(n, Name), name
            self.env[free_key(var_of(n)) if is_rand(n) else key_of(n)] = value
        self.syms = {k: float(v) for k, v in cx.symbols.items()}

    def symbol(self, n: Name, shape=None):
        if n.base[:1].isupper() or n.text not in self.syms:
            raise Unsupported(f"the counterexample gives `{n.text}` no value")
        return self.syms[n.text]


# -- exact checks on the table ---------------------------------------------------------------------------------
def marginal(cx: inf.Counterexample, names: list[str]) -> dict[tuple, Fraction]:
    idx = [list(cx.variables).index(n) for n in names]
    out: dict[tuple, Fraction] = {}
    for values, p in cx.joint.items():
        key = tuple(values[i] for i in idx)
        out[key] = out.get(key, Fraction(0)) + p
    return out


def independent(cx: inf.Counterexample, a: list[str], b: list[str], given: list[str]) -> bool:
    """``A _|_ B | C`` on the table, exactly: ``p(a,b,c) p(c) = p(a,c) p(b,c)`` for every value."""
    abc, ac, bc, c = (marginal(cx, ns) for ns in (a + b + given, a + given, b + given, given))
    na, nb = len(a), len(b)
    for vals in itertools.product(*(cx.variables[n] for n in a + b + given)):
        va, vb, vc = vals[:na], vals[na:na + nb], vals[na + nb:]
        lhs = abc.get(vals, Fraction(0)) * c.get(vc, Fraction(0))
        if lhs != ac.get(va + vc, Fraction(0)) * bc.get(vb + vc, Fraction(0)):
            return False
    return True


def factorises(cx: inf.Counterexample, vmap: dict[str, str], model) -> None:
    """The marginal of the model's known variables is the product of ``p(v | parents(v))`` read off the table
    (names the model does not know are children of everything, so they constrain nothing)."""
    names = list(cx.variables)
    upper = {vmap[n]: n for n in names}
    known = [n for n in names if model_parents(vmap[n], model) is not None]
    parents = {}
    for n in known:
        pa = model_parents(vmap[n], model)
        missing = [p for p in pa if p not in upper]
        assert not missing, f"{n}'s parents {missing} are not in the counterexample's variables {names}"
        parents[n] = [upper[p] for p in pa]
    joint = marginal(cx, known)
    locals_ = {n: (marginal(cx, [n] + parents[n]), marginal(cx, parents[n])) for n in known}
    for vals in itertools.product(*(cx.variables[n] for n in known)):
        at = dict(zip(known, vals))
        prod = Fraction(1)
        for n in known:
            fam, pa = locals_[n]
            den = pa.get(tuple(at[p] for p in parents[n]), Fraction(0))
            if den == 0:
                prod = Fraction(0)
                break
            prod *= fam.get(tuple(at[m] for m in [n] + parents[n]), Fraction(0)) / den
        assert joint.get(vals, Fraction(0)) == prod, (
            f"the table does not factorise as the model says at {at}: {joint.get(vals, 0)} != {prod}")


def default_model_independences(cx: inf.Counterexample, vmap: dict[str, str]) -> None:
    """The default model's independences, each on its own: the inputs are independent of ``W`` and of each
    other; an output ``Y_s`` is independent of every other known variable given ``X_s`` and ``W``."""
    names = list(cx.variables)
    inputs = [n for n in names if vmap[n].partition("_")[0] == "x"]
    for i, x in enumerate(inputs):
        others = [m for m in inputs[i + 1:]] + (["W"] if "W" in names else [])
        if others:
            assert independent(cx, [x], others, []), f"{x} is not independent of {others}"
    for y in names:
        v = vmap[y]
        if v.partition("_")[0] != "y":
            continue
        pa = [n for n in names if vmap[n] in model_parents(v, True)]
        rest = [n for n in names if n != y and n not in pa and model_parents(vmap[n], True) is not None
                and not is_restricted(vmap[n])]
        if rest:
            assert independent(cx, [y], rest, pa), f"{y} is not independent of {rest} given {pa}"


def check_table(cx: inf.Counterexample, vmap: dict[str, str], oracle_model_) -> None:
    names = list(cx.variables)
    assert names, "a counterexample without variables"
    assert cx.joint and all(isinstance(p, Fraction) for p in cx.joint.values())
    assert all(p >= 0 for p in cx.joint.values())
    assert sum(cx.joint.values()) == 1, f"the joint sums to {sum(cx.joint.values())}"
    assert max(p.denominator for p in cx.joint.values()) <= MAX_DENOMINATOR
    for values in cx.joint:
        assert len(values) == len(names) and all(v in cx.variables[n] for v, n in zip(values, names)), values
    # a part of the parameter is W mod 2 wherever the table has mass
    for n in names:
        if is_restricted(vmap[n]):
            i, j = names.index("W"), names.index(n)
            assert all(vals[j] == vals[i] % 2 for vals, p in cx.joint.items() if p > 0), f"{n} is not W mod 2"
    # observed values are values of their variables
    upper = {vmap[n]: n for n in names}
    for name, value in cx.observed.items():
        v = _var(name)
        assert v in upper, f"observed `{name}` has no variable in {names}"
        assert value in cx.variables[upper[v]], f"observed `{name}` = {value} is not a value of {upper[v]}"
    for s, value in cx.symbols.items():
        assert isinstance(value, Fraction), (s, value)
    if oracle_model_:
        factorises(cx, vmap, oracle_model_)
    if oracle_model_ is True:
        default_model_independences(cx, vmap)


def is_exact(x) -> bool:
    x = sympy.sympify(x)
    return isinstance(x, sympy.Expr) and x.is_number and not x.atoms(sympy.Float)


def other_terms(text: str) -> list[str]:
    """The terms and probabilities of the statement outside every expectation (their names have values)."""
    out = []
    for side in sides(text):
        bound: set[int] = set()
        for node in side.walk():
            if isinstance(node, Expectation):
                bound |= {id(n) for n in node.body.walk()}
        out += [str(n) for n in side.walk() if isinstance(n, (Term, Prob)) and id(n) not in bound]
    return list(dict.fromkeys(out))


def verify_discrete(text: str, model_key: str | bool) -> inf.Counterexample | None:
    """Check the engine's counterexample for a refuted statement with the oracle; returns it."""
    if isinstance(model_key, bool):
        model, omodel = (inf.Model(), True) if model_key else (None, False)
    else:
        model, omodel = engine_model(model_key), oracle_model(model_key)
    v = refuted(text, model)
    if v is None:
        return None
    cx = v.counterexample
    assert cx is not None, f"a refutation over H, I, p and E without a counterexample: {text}"
    assert isinstance(cx, inf.Counterexample), type(cx)
    vmap = var_map(cx, text)
    check_table(cx, vmap, omodel)
    world = TableWorld(cx, vmap)
    lhs, rhs = sides(text)
    a, b = evaluate(lhs, world), evaluate(rhs, world)
    assert abs(a - b) > 1e-9 * max(1.0, abs(a), abs(b)), f"the sides agree on the counterexample: {a} = {b}"
    assert is_exact(cx.lhs_value) and is_exact(cx.rhs_value), (cx.lhs_value, cx.rhs_value)
    assert abs(float(cx.lhs_value) - a) <= 1e-9 * max(1.0, abs(a)), (float(cx.lhs_value), a)
    assert abs(float(cx.rhs_value) - b) <= 1e-9 * max(1.0, abs(b)), (float(cx.rhs_value), b)
    plain = [n for n in cx.variables if vmap[n] == _var(n)]  # not a lower-case `d` shown as `D`
    entropies = [f"H[{n}]" for n in plain][:3] + [f"H[{', '.join(plain)}]"]
    for term in other_terms(text) + entropies:
        try:
            want = evaluate(P(term), world)
        except Unsupported:  # e.g. an upper-case name inside p(...) that is bound by an expectation
            continue
        got = cx.evaluate(term)
        assert is_exact(got), (term, got)
        assert abs(float(got) - want) <= 1e-9 * max(1.0, abs(want)), (term, float(got), want)
    return cx


# -- the table of test_identities.py: its false rows, under no model and under the default model -----------------
def _false_rows() -> list[tuple[str, bool]]:
    out = []
    for text, m in sorted({(t, m) for t, _ in ROWS for m in (False, True)}):
        if over_distributions(text) and judge(text, m) is False:
            out.append((text, m))
    return out


FALSE_ROWS = _false_rows()


def test_the_table_has_enough_refutations() -> None:
    assert len(FALSE_ROWS) >= 50
    assert {m for _, m in FALSE_ROWS} == {False, True}


@pytest.mark.parametrize("text,with_model", FALSE_ROWS,
                         ids=[f"{'model' if m else 'any'}: {t}" for t, m in FALSE_ROWS])
def test_false_rows_have_verified_counterexamples(text: str, with_model: bool) -> None:
    v = refuted(text, inf.Model() if with_model else None)
    assert v is not None, f"the oracle refutes `{text}`, the engine does not (soundness suite's business)"
    assert verify_discrete(text, with_model) is not None


# -- hand-picked cases: free random variables, symbols, restricted parameters, w and w* -------------------------
HAND = [
    ("p(Y|x) = exp(-H[Y|x])", False),
    ("-log(p(Y|x)) = H[Y|x]", True),
    ("beta * H[X] = H[X]", False),
    ("beta * H[X] + lambda * H[Y] = lambda * H[X] + beta * H[Y]", False),
    ("H[W_L] = H[W]", True),
    ("I[W;W_L] = H[W]", False),
    ("H[Y|x,W_L] = H[Y|x,W]", True),
    ("E_{p(w)}[H[Y|x,w*]] = H[Y|x,W]", True),
    ("E_{p(w)}[H[Y|x,w]] = H[Y|x,w]", False),
    ("H[Y|x,w*] = H[Y|x,w]", True),
    ("H[D|w] = H[D]", True),
    ("E_{p(x|z)}[p(y|x)] = p(y|z)", True),
]


@pytest.mark.parametrize("text,with_model", HAND, ids=[f"{'model' if m else 'any'}: {t}" for t, m in HAND])
def test_hand_picked_refutations(text: str, with_model: bool) -> None:
    assert judge(text, with_model) is False, "the oracle should refute this"
    cx = verify_discrete(text, with_model)
    assert cx is not None
    if "beta" in text:
        assert set(cx.symbols) >= {"beta"}
    if "p(Y|x)" in text:
        assert "Y" in cx.observed and "x" in cx.observed
    if "w*" in text and "w]" in text:
        assert cx.observed["w*"] != cx.observed["w"], "w and w* are different values"


def test_table_world_is_the_oracle_on_a_known_distribution() -> None:
    """The test's own evaluator: an explicit table whose entropies are known in closed form."""
    cx = SimpleNamespace(variables={"X": [0, 1], "Y": [0, 1]}, observed={"y": 1}, symbols={},
                         joint={(0, 0): Fraction(1, 2), (0, 1): Fraction(1, 4), (1, 1): Fraction(1, 4)})
    world = TableWorld(cx, {"X": "x", "Y": "y"})
    assert evaluate(P("H[X]"), world) == pytest.approx(math.log(4) - 3 / 4 * math.log(3))
    assert evaluate(P("H[X|y]"), world) == pytest.approx(math.log(2))
    assert evaluate(P("p(y)"), world) == pytest.approx(0.5)
    assert independent(cx, ["X"], ["Y"], []) is False
    with pytest.raises(AssertionError):
        factorises(cx, {"X": "x", "Y": "y"}, {"x": (), "y": ()})


# -- the soundness generators of classes 1, 2, 3 and 6 ---------------------------------------------------------
def _over(case: Case) -> bool:
    return over_distributions(case.text)


def _generated(case: Case) -> None:
    """An oracle-refuted statement over distributions is refuted by the engine, with a verified counterexample."""
    label = judge(case.text, oracle_model(case.model), **oracle_options(case.model))
    if label is not False:
        return
    assert verify_discrete(case.text, case.model) is not None, f"the oracle refutes {case}, the engine does not"


@SETTINGS(150)
@given(total_probability().filter(_over))
def test_class1_total_probability_counterexamples(case: Case) -> None:
    _generated(case)


@SETTINGS(150)
@given(nonlinear().filter(_over))
def test_class2_nonlinear_counterexamples(case: Case) -> None:
    _generated(case)


@SETTINGS(150)
@given(point_estimates().filter(_over))
def test_class3_point_estimate_counterexamples(case: Case) -> None:
    _generated(case)


@SETTINGS(150)
@given(restricted().filter(_over))
def test_class6_restricted_parameter_counterexamples(case: Case) -> None:
    _generated(case)


# -- parametric counterexamples: autograd on the explicit log-densities ------------------------------------------
def _tensor(x) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.tensor(float(x), dtype=torch.float64)


_TORCH = {"log": lambda x: torch.log(_tensor(x)), "exp": lambda x: torch.exp(_tensor(x)), "pi": math.pi,
          "E": math.e}


class ParametricOracle:
    """``log p(w, d)`` for every tuple ``d`` of the discrete variables, as torch functions of ``w``; the terms
    ``H'``/``H''`` straight from the definition: the gradient/Hessian in ``w`` of
    ``sum_u p(u | o, w*) (-log p(S, T) + log p(T))``, the weights held at the term's parameter value."""

    def __init__(self, cx):
        self.cx = cx
        space = cx.variables["W"]
        assert isinstance(space, str) and space.startswith("R^"), space
        self.k = int(space[2:])
        self.names = [n for n in cx.variables if n != "W"]
        self.vars = [_var(n) for n in self.names]
        self.card = {_var(n): len(cx.variables[n]) for n in self.names}
        symbols = {s.name: s for e in cx.joint.values() for s in sympy.sympify(e).free_symbols}
        assert set(symbols) <= {f"w_{i}" for i in range(1, self.k + 1)}, symbols
        ws = [symbols.get(f"w_{i}", sympy.Symbol(f"w_{i}")) for i in range(1, self.k + 1)]
        expected = set(itertools.product(*(range(self.card[v]) for v in self.vars)))
        assert set(cx.joint) == expected, "log p(w, d) for every discrete tuple"
        self.fns = {d: sympy.lambdify(ws, e, modules=[_TORCH]) for d, e in cx.joint.items()}
        self.points = {}
        for name, value in cx.observed.items():
            n = P(name)
            if var_of(n) == "w":
                assert len(value) == self.k, (name, value)
                self.points["*" if n.star else "o"] = torch.tensor([float(c) for c in value], dtype=torch.float64)
        self.fixed = {}
        for name, value in cx.observed.items():
            n = P(name)
            if var_of(n) != "w":
                assert value in cx.variables[self.names[self.vars.index(var_of(n))]], (name, value)
                self.fixed[key_of(n)] = value

    def log_joint(self, w: torch.Tensor, d: tuple) -> torch.Tensor:
        """``log p(w, d)`` at ``w`` (shape ``[k, ...]``: a batch of points along the trailing axes)."""
        return _tensor(self.fns[d](*w)).expand(w.shape[1:])

    def log_p(self, w: torch.Tensor, assignment: dict[str, int]) -> torch.Tensor:
        """``log p(w, assignment)``: the other discrete variables summed out."""
        parts = [self.log_joint(w, d) for d in self.fns if all(d[self.vars.index(v)] == x
                                                              for v, x in assignment.items())]
        return torch.logsumexp(torch.stack(parts), 0)

    def log_prior(self, w: torch.Tensor) -> torch.Tensor:
        return self.log_p(w, {})

    def term(self, t: Term) -> torch.Tensor:
        if t.head == "I":
            g = t.groups
            assert len(g) == 2
            return (self.term(Term("H", t.order, (g[0],), t.given))
                    - self.term(Term("H", t.order, (g[0],), g[1] + t.given)))
        names = list(t.groups[0]) + list(t.given)
        points = [n for n in names if var_of(n) == "w"]
        assert all(not is_rand(n) for n in points), "an average over the parameter"
        if not points:
            shape = (self.k, self.k) if t.order == 2 else (1, self.k)
            return torch.zeros(shape, dtype=torch.float64)  # no parameter in the term
        w0 = self.points["*" if points[0].star else "o"]
        disc = [n for n in names if var_of(n) != "w"]
        rand = sorted({var_of(n) for n in disc if is_rand(n)})
        fixed = {var_of(n): self.fixed[key_of(n)] for n in disc if not is_rand(n)}
        ev = {var_of(n) for n in t.groups[0] if var_of(n) != "w"}
        gv = {var_of(n) for n in t.given if var_of(n) != "w"}
        w_given = any(var_of(n) == "w" for n in t.given)
        assignments = [dict(fixed, **dict(zip(rand, vals)))
                       for vals in itertools.product(*(range(self.card[v]) for v in rand))]
        with torch.no_grad():
            weights = [torch.exp(self.log_p(w0, a) - self.log_p(w0, fixed)) for a in assignments]

        def integrand(w: torch.Tensor) -> torch.Tensor:
            total = torch.zeros((), dtype=torch.float64)
            for a, wt in zip(assignments, weights):
                f = -self.log_p(w, {v: a[v] for v in ev | gv})
                if w_given:  # + log p(w, t); without w in T, log p(t) is a constant of w
                    f = f + self.log_p(w, {v: a[v] for v in gv})
                total = total + wt * f
            return total

        if t.order == 2:
            return torch.autograd.functional.hessian(integrand, w0.clone())
        assert t.order == 1
        return torch.autograd.functional.jacobian(integrand, w0.clone()).reshape(1, self.k)

    def value(self, e):
        if isinstance(e, Number):
            return torch.tensor(float(e.value), dtype=torch.float64)
        if isinstance(e, Identity):
            return torch.eye(self.k, dtype=torch.float64)
        if isinstance(e, Term):
            return self.term(e)
        if isinstance(e, Neg):
            return -self.value(e.arg)
        if isinstance(e, Sum):
            acc = self.value(e.terms[0])
            for op, t in zip(e.ops, e.terms[1:]):
                acc = acc + self.value(t) if op == "+" else acc - self.value(t)
            return acc
        if isinstance(e, Product):
            acc = self.value(e.factors[0])
            for op, f in zip(e.ops, e.factors[1:]):
                v = self.value(f)
                if op == "/":
                    acc = acc / v
                elif acc.ndim == 2 and v.ndim == 2:
                    acc = acc @ v
                else:
                    acc = acc * v
            return acc
        if isinstance(e, Transpose):
            return self.value(e.arg).T
        if isinstance(e, Pow):
            base, ex = self.value(e.base), int(self.value(e.exponent))
            return torch.linalg.matrix_power(base, ex) if base.ndim == 2 else base ** ex
        if isinstance(e, Func):
            v = self.value(e.arg)
            if v.ndim == 2:
                return {"logdet": torch.logdet, "det": torch.det, "tr": torch.trace}[e.name](v)
            return {"log": torch.log, "logdet": torch.log, "exp": torch.exp}.get(e.name, lambda x: x)(v)
        raise AssertionError(f"the test's parametric evaluator has no rule for {type(e).__name__}")


def _numbers(x) -> np.ndarray:
    if isinstance(x, sympy.MatrixBase):
        return np.array([[float(sympy.N(c, 30)) for c in row] for row in x.tolist()])
    return np.array(float(sympy.N(x, 30)))


#: (statement, under the default model?). The first group's sides involve the parameter's own density p(w).
PARAMETRIC_PRIOR = [
    ("H''[w*|x] = H''[w*]", False),
    ("H''[w*|y,x] = H''[y|x,w*] + H''[w*]", False),
    ("H''[w*|y,x] = H''[y|x,w*]", True),
    ("H'[w*|y,x] = H'[y|x,w*] + H'[w*]", False),
    ("logdet(H''[w*|y,x]) = logdet(H''[y|x,w*] + H''[w*])", False),
]
PARAMETRIC_LIKELIHOOD = [
    ("H''[y|x,w*] = H''[Y|x,w*]", True),
    ("H'[y|x,w*]^T @ H'[y|x,w*] = H''[y|x,w*]", True),
    ("H'[y|x,w*] = H'[Y|x,w*]", True),
    ("H''[Y|x,w*] = H''[Y|x,w]", True),
    ("tr(H''[y|x,w*]) = tr(H''[Y|x,w*])", True),
    ("H''[y|x,w*] = H''[y|x,w*,x_2]", False),
]
#: ``ParameterCounterexample.joint`` is ``log p(w, d)``, the prior included (a regression test: it once left it out).


def _ids(rows):
    return [f"{'model' if m else 'any'}: {t}" for t, m in rows]


def _parametric(text: str, with_model: bool):
    assert judge(text, with_model) is False, "the oracle should refute this"
    v = refuted(text, inf.Model() if with_model else None)
    assert v is not None, text
    cx = v.counterexample
    assert cx is not None and not isinstance(cx, inf.Counterexample), type(cx)
    return cx, ParametricOracle(cx)


def _verify_parametric(text: str, cx, oracle: ParametricOracle, others: list[str]) -> None:
    lhs, rhs = sides(text)
    a, b = oracle.value(lhs).detach().numpy(), oracle.value(rhs).detach().numpy()
    assert a.shape == b.shape
    assert not np.allclose(a, b, rtol=1e-9, atol=1e-9), f"the sides agree on the counterexample: {a} = {b}"
    la, lb = _numbers(cx.lhs_value), _numbers(cx.rhs_value)
    assert la.size == a.size and lb.size == b.size, (la, lb, a, b)
    np.testing.assert_allclose(la.reshape(a.shape), a, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(lb.reshape(b.shape), b, rtol=1e-9, atol=1e-9)
    for term in others:
        if all(n in cx.observed for n in ("x", "y")) or "y" not in term:
            np.testing.assert_allclose(_numbers(cx.evaluate(term)).reshape(-1),
                                       oracle.value(P(term)).detach().numpy().reshape(-1), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("text,with_model", PARAMETRIC_LIKELIHOOD, ids=_ids(PARAMETRIC_LIKELIHOOD))
def test_parametric_counterexamples_of_likelihood_terms(text: str, with_model: bool) -> None:
    """Terms whose integrand is ``-log p(s, t, w) + log p(t, w)``: the parameter's density cancels."""
    cx, oracle = _parametric(text, with_model)
    _verify_parametric(text, cx, oracle, ["H''[y|x,w*]", "H'[y|x,w*]", "H''[Y|x,w*]"])
    if "w]" in text:
        assert not np.allclose(np.array(cx.observed["w"], dtype=float), np.array(cx.observed["w*"], dtype=float))


@pytest.mark.parametrize("text,with_model", PARAMETRIC_PRIOR, ids=_ids(PARAMETRIC_PRIOR))
def test_parametric_counterexamples_with_the_prior(text: str, with_model: bool) -> None:
    cx, oracle = _parametric(text, with_model)
    _verify_parametric(text, cx, oracle, ["H''[w*]", "H''[y|x,w*]", "H''[w*|y,x]"])


@pytest.mark.parametrize("text,with_model", PARAMETRIC_PRIOR[:3], ids=_ids(PARAMETRIC_PRIOR[:3]))
def test_parametric_joint_is_a_density(text: str, with_model: bool) -> None:
    """``sum_d exp(log p(w, d))`` integrates to 1 over ``w``; under the model the inputs do not depend on ``w``."""
    cx, oracle = _parametric(text, with_model)
    assert oracle.k in (1, 2)
    grid = torch.linspace(-14.0, 14.0, 2801 if oracle.k == 1 else 561, dtype=torch.float64)
    with torch.no_grad():
        if oracle.k == 1:
            mass = torch.trapezoid(torch.exp(oracle.log_prior(grid.reshape(1, -1))), grid)
        else:
            w = torch.stack(torch.meshgrid(grid, grid, indexing="ij"))
            mass = torch.trapezoid(torch.trapezoid(torch.exp(oracle.log_prior(w)), grid), grid)
        if with_model:  # log p(w, x) - log p(w) is constant in w
            probe = torch.tensor([[-1.3, 0.4, 2.1]] * oracle.k, dtype=torch.float64)
            for x in [v for v in oracle.vars if v.partition("_")[0] == "x"]:
                for val in range(oracle.card[x]):
                    ds = oracle.log_p(probe, {x: val}) - oracle.log_prior(probe)
                    assert float(ds.max() - ds.min()) < 1e-9, f"p({x}) depends on w under the model"
    assert float(mass) == pytest.approx(1.0, abs=1e-6), "sum_d exp(log p(w, d)) does not integrate to 1 over w"


# -- library bugs these tests found (fixed), kept as regression tests --------------------------------------
def test_a_lower_case_d_and_the_data_set_are_two_variables() -> None:
    text = "p(d|D) = p(d)"
    assert judge(text, False) is False
    cx = inf.check(text).counterexample
    assert cx is not None
    width = {len(values) for values in cx.joint}
    assert width == {len(cx.variables)}, f"variables {list(cx.variables)}, but value tuples of length {width}"
    assert verify_discrete(text, False) is not None
