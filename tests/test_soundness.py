"""Soundness of the identity checker, class by class (the soundness issue's acceptance suite).

Every statement here is labelled by the independent oracle of ``tests/enumeration.py`` (exact enumeration on
random discrete joints, random matrices of inferred shapes, autograd Hessians of a small non-GLM model), never by
the engine. The properties asserted:

* **soundness**: the oracle says False  =>  ``bool(inf.check(...))`` is False (the most important one);
* **shape errors**: the oracle finds an ill-shaped side  =>  ``inf.check`` raises an ``inf.NotationError``;
* **completeness on the obviously true variants the issue names** (marginalisation, point estimates under E,
  ``I[W;W_L] = H[W_L]``, Sylvester as printed, total probability with its conditions): the oracle says True
  =>  the checker says True.

Classes (the issue's numbering): 1 total probability, 2 probabilities of random variables and non-linear
functions, 3 point estimates, 4 marginalisation, 5 evaluator conventions, 6 restricted parameters, 8 cost (only
that it completes); ``=>``; class 7 (rules) is in ``test_soundness_rules.py``, derivations in
``test_soundness_derivations.py``, the oracle's own tests in ``test_soundness_oracle.py``.
"""

from __future__ import annotations

import time

import networkx as nx
import pytest
from enumeration import ERROR, _closure, judge, model_parents, var_of
from hypothesis import HealthCheck, given, settings
from hypothesis import event as _event
from hypothesis import strategies as st
from strategies import (
    Case,
    conventions,
    engine_model,
    marginalisation,
    nonlinear,
    oracle_model,
    oracle_options,
    point_estimates,
    restricted,
    total_probability,
)

import infonotation as inf


def SETTINGS(n: int) -> settings:  # noqa: N802 - reads as a decorator
    """Deterministic, database-free hypothesis settings (no ``.hypothesis/`` in the repository)."""
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


# -- what the engine says, and the three properties ------------------------------------------------------
def event(text: str) -> None:
    """``hypothesis.event`` inside a hypothesis test (the counts of labels per class), nothing elsewhere."""
    try:
        _event(text)
    except Exception:  # noqa: BLE001 - outside a hypothesis test
        pass


def engine_says(text: str, model) -> tuple[bool | str, str]:
    """``(True | False | "error", explanation)``; anything but a ``NotationError`` propagates (a crash)."""
    try:
        v = inf.check(text, model)
    except inf.NotationError as err:
        return "error", f"{type(err).__name__}: {err}"
    return bool(v), v.explanation


def assert_case(case: Case, *, complete: bool | None = None, **oracle_kw) -> bool | str | None:
    """Label ``case`` with the oracle and hold the engine to it; returns the oracle's label."""
    label = judge(case.text, oracle_model(case.model), **{**oracle_options(case.model), **oracle_kw})
    said, why = engine_says(case.text, engine_model(case.model))
    event(f"{case.family.split(':')[0]}: oracle {label}")
    if label == ERROR:
        assert said == "error", f"SHAPE ERROR NOT REPORTED (the oracle finds an ill-shaped side)\n  {case}\n  {why}"
    elif label is False:
        assert said is not True, f"SOUNDNESS BUG (the oracle has a counterexample)\n  {case}\n  {why}"
    elif label is True and (case.complete if complete is None else complete):
        assert said is True, f"INCOMPLETE on an obviously true variant (the oracle agrees)\n  {case}\n  {why}"
    return label


# -- the issue's own examples, with the answers the lead fixed -----------------------------------------------
M = "default"
ISSUE_EXAMPLES = [
    # (statement, model key, the answer)
    ("E_{p(x|z)}[p(y|x)] = p(y|z)", "none", False),
    ("E_{p(x|z)}[p(y|x)] = p(y|z)", M, False),  # z is unknown to the model: nothing is independent of it
    ("E_{p(x|z)}[p(y|x)] = p(y|z)", "z_causes_x", True),  # z -> x -> y: c _|_ b | a and nothing else to check
    ("E_{p(a|b)}[p(c|a,b)] = p(c|b)", "none", True),
    ("p(Y|x) = exp(-H[Y|x])", "none", False),
    ("p(Y|x) = exp(-H[Y|x])", M, False),
    ("-log p(Y|x) = H[Y|x]", "none", False),
    ("E_{p(y|x)}[-log p(y|x)] = H[Y|x]", "none", True),
    ("p(y|x) = exp(-H[y|x])", "none", True),
    ("E_{p(w)}[H[Y|x,w*]] = H[Y|x,w*]", "none", True),
    ("E_{p(w)}[H[Y|x,w*]] = H[Y|x,w*]", M, True),
    ("E_{p(y_1,y_2|x_1,x_2)}[H[y_1|x_1]] = E_{p(y_1|x_1,x_2)}[H[y_1|x_1]]", "none", True),
    ("E_{p(y_1,y_2|x_1,x_2)}[logdet(H''[y_1|x_1,w*] + H''[w*])] = "
     "E_{p(y_1|x_1,x_2)}[logdet(H''[y_1|x_1,w*] + H''[w*])]", M, True),
    ("E_{p(y_1|x_1,x_2)}[tr(H''[y_1|x_1,w*] @ H''[w*]^-1)] = E_{p(y_1|x_1)}[tr(H''[y_1|x_1,w*] @ H''[w*]^-1)]", M,
     True),
    ("log(-1) = log(1)", "none", False),
    ("A^T = A", "none", False),
    ("(A @ B)^T = B^T @ A^T", "none", True),
    ("tr(A @ B) = tr(B @ A)", "none", True),
    ("A + 1 = A + 1", "none", ERROR),
    ("logdet(Id + H'[y_B|x_B,w*]^T @ H'[y_B|x_B,w*] @ (lambda*Id)^-1) = "
     "logdet(Id + H'[y_B|x_B,w*] @ (lambda*Id)^-1 @ H'[y_B|x_B,w*]^T)", M, True),
    ("H''[w_L*] = H''[w*]", M, False),
    ("H''[y|x,w_L*] = H''[y|x,w*]", M, False),
    ("H[W_L] = H[W]", M, False),
    ("H[W_L] = H[W]", "none", False),
    ("I[W;W_L] = H[W]", M, False),
    ("I[W;W_L] = H[W_L]", M, True),
    ("I[W;W_L] = H[W_L]", "none", True),
    ("H[W, W_L] = H[W]", M, True),
]


# more variants, fixed here so that they run whatever hypothesis draws
ISSUE_EXAMPLES += [
    ("logdet(Q @ Q^T) = 2 * logdet(Q)", "none", False),  # det(Q) < 0: the right side is undefined
    ("logdet(A @ B) = logdet(A) + logdet(B)", "none", False),
    ("logdet(H''[y|x,w*] @ H''[y|x,w*]) = 2 * logdet(H''[y|x,w*])", M, False),  # observed information: det < 0
    ("logdet(H''[w*] @ H''[w*]) = 2 * logdet(H''[w*])", M, True),  # the prior's Hessian is positive definite
    ("logdet(-H''[w*]) = logdet(H''[w*])", M, False),  # undefined for an odd number of parameters
    ("Id + 1 = 2 * Id", "none", ERROR),
    ("H''[w*] + 1 = H''[w*] + 1", M, ERROR),
    ("logdet(Id + A^T @ M) = logdet(Id + M @ A^T)", "none", True),  # Sylvester on general rectangular matrices
    ("tr(A @ B @ C) = tr(C @ A @ B)", "none", True),
    ("E_{p(y|x,w*)}[logdet(H''[y|x,w*] + H''[w*])] = logdet(H''[Y|x,w*] + H''[w*])", M, False),
    ("H[W_L|W] = 0", "none", True),
    ("H''[w_L*|y,x] = H''[y|x,w_L*] + H''[w_L*]", M, True),
]


@pytest.mark.parametrize("text,model,answer", ISSUE_EXAMPLES, ids=[f"{m}: {t}" for t, m, _ in ISSUE_EXAMPLES])
def test_issue_examples(text: str, model: str, answer) -> None:
    label = judge(text, oracle_model(model))
    assert label == answer, f"the oracle disagrees with the fixed semantics on {text} ({model}): {label}"
    assert_case(Case(text, model, "issue"), complete=True)


# -- class 1: total probability without its independence condition ----------------------------------------
def _oracle_graph(model, names: list[str]) -> nx.DiGraph:
    """The Bayesian network the oracle draws its worlds from: unknown names are children of everything before."""
    order = _closure(set(names), model)
    g = nx.DiGraph()
    g.add_nodes_from(order)
    for i, v in enumerate(order):
        pa = model_parents(v, model)
        for p in (pa if pa is not None else order[:i]):
            g.add_edge(p, v)
    return g


def _independent(g: nx.DiGraph, a: set[str], b: set[str], given: set[str]) -> bool:
    a, b = a - given, b - given
    return not a or not b or (not a & b and nx.is_d_separator(g, a, b, given))


def conditions_hold(case: Case) -> bool:
    """The lead's condition for ``E_{p(a|b)}[p(c|a,g)] = p(c|g,b)``: ``c _|_ b | a,g`` and ``a _|_ g-a | b``."""
    a, b, c, g, _, is_gb = case.parts
    if not is_gb:
        return False
    model = oracle_model(case.model)
    if not model:
        return set(b) <= set(a) | set(g) and set(g) - set(a) <= set(b)
    v = lambda ns: {var_of(inf.parse(n)) for n in ns}  # noqa: E731
    graph = _oracle_graph(model, sorted(v(a) | v(b) | v([c]) | v(g)))
    return (_independent(graph, v([c]), v(b), v(a) | v(g))
            and _independent(graph, v(a), v(g) - v(a), v(b)))


@SETTINGS(150)
@given(total_probability())
def test_class1_total_probability(case: Case) -> None:
    label = assert_case(case, complete=conditions_hold(case))
    if conditions_hold(case):
        assert label is True, f"the oracle refutes a statement whose conditions hold: {case}"


# -- class 2: a probability of a random variable is not exp(-entropy); no E through non-linear functions ----
@SETTINGS(150)
@given(nonlinear())
def test_class2_probabilities_and_nonlinear_functions(case: Case) -> None:
    assert_case(case)


# -- class 3: point estimates are not bound variables -------------------------------------------------------
@SETTINGS(120)
@given(point_estimates())
def test_class3_point_estimates_and_whole_name_binding(case: Case) -> None:
    assert_case(case)


# -- class 4: marginalisation, with scalar and with matrix bodies -----------------------------------------
@SETTINGS(100)
@given(marginalisation(matrix=False))
def test_class4_marginalisation_scalar_bodies(case: Case) -> None:
    assert_case(case)


@SETTINGS(40)
@given(marginalisation(matrix=True))
def test_class4_marginalisation_matrix_bodies(case: Case) -> None:
    assert_case(case)


# -- class 5: evaluator conventions ----------------------------------------------------------------------
@SETTINGS(150)
@given(conventions("general"))
def test_class5_general_matrices(case: Case) -> None:
    assert_case(case)


@SETTINGS(60)
@given(conventions("undefined"))
def test_class5_undefined_values_never_check_true(case: Case) -> None:
    label = assert_case(case)
    if label is None:  # both sides undefined everywhere: still never True (S5)
        said, why = engine_says(case.text, engine_model(case.model))
        assert said is not True, f"an undefined statement checked True\n  {case}\n  {why}"


@SETTINGS(60)
@given(conventions("shape"))
def test_class5_shape_errors_are_errors(case: Case) -> None:
    label = assert_case(case)
    assert label == ERROR, f"the oracle finds no shape error in {case}"


@SETTINGS(60)
@given(conventions("gradient"))
def test_class5_gradient_orientation(case: Case) -> None:
    assert_case(case)


# -- class 6: restricted parameters are different variables ------------------------------------------------
@SETTINGS(150)
@given(restricted())
def test_class6_restricted_parameters(case: Case) -> None:
    assert_case(case)


# -- the implication operator (S8) ----------------------------------------------------------------------
PREMISES = ["H[A] = H[B]", "I[A;B] = 0", "H[A,B] = H[B,A]", "H[A] = H[A|B]", "p(a) = p(a|b)", "H[A|B] = H[A|C]"]
CONCLUSIONS = ["I[A;C] = I[C;A]", "H[A,B] = H[A] + H[B|A]", "I[A;B] = H[A] - H[A|B]", "H[A,C] = H[C] + H[A|C]",
               "H[A] = H[A|B]", "I[A;B] = H[A]", "H[A,B] = H[A] + H[B]", "H[X,y] = H[X] + H[y|X]",
               "p(a,b) = p(a) * p(b)", "I[A;B;C] = I[A;B]"]


@SETTINGS(60)
@given(st.sampled_from(PREMISES), st.sampled_from(CONCLUSIONS))
def test_implication(premise: str, conclusion: str) -> None:
    """``A => B`` holds when B holds on its own; it does not hold when A is true and B false."""
    a, b = judge(premise, None), judge(conclusion, None)
    said, why = engine_says(f"{premise} => {conclusion}", None)
    event(f"premise {a}, conclusion {b}: engine {said}")
    if b is True:
        assert said is True, f"`{premise} => {conclusion}`: the conclusion holds on its own\n  {why}"
    if a is True and b is False:
        assert said is False, f"`{premise} => {conclusion}`: a true premise and a false conclusion\n  {why}"


# -- class 8: cost on well-formed input (only that it completes; the lead benchmarks) -----------------------
def _timed(text: str, model=None) -> tuple[bool, float]:
    t = time.perf_counter()
    v = inf.check(text, model)
    return bool(v), time.perf_counter() - t


def test_sixteen_group_interaction_information_completes() -> None:
    groups = [f"A_{i}" for i in range(1, 17)]
    first = ";".join(groups[:-1])
    holds, dt = _timed(f"I[{';'.join(groups)}] = I[{first}] - I[{first}|{groups[-1]}]")
    assert holds and dt < 10, f"{dt:.1f} s"


def test_three_hundred_variable_joint_entropy_under_the_model_completes() -> None:
    ys, xs = [f"Y_{i}" for i in range(300)], [f"x_{i}" for i in range(300)]
    rhs = " + ".join(f"H[Y_{i}|x_{i},W]" for i in range(300))
    holds, dt = _timed(f"H[{', '.join(ys)}|{', '.join(xs)}, W] = {rhs}", inf.Model())
    assert holds and dt < 10, f"{dt:.1f} s"


def test_three_hundred_variable_markov_chain_completes() -> None:
    """A declared chain z_0 -> z_1 -> ... -> z_299: the joint entropy is the sum of the links."""
    zs = [f"z_{i}" for i in range(300)]
    model = inf.Model(parents={z: ((zs[i - 1],) if i else ()) for i, z in enumerate(zs)})
    rhs = " + ".join(f"H[Z_{i}|Z_{i - 1}]" if i else "H[Z_0]" for i in range(300))
    holds, dt = _timed(f"H[{', '.join(z.upper() for z in zs)}] = {rhs}", model)
    assert holds and dt < 10, f"{dt:.1f} s"
