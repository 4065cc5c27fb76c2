"""The model's d-separation (Bayes-ball), requisite contexts and chain-rule factorisation, against networkx.

networkx's ``is_d_separator`` (moralised ancestral graphs) is an independent implementation; random DAGs and
random queries are drawn with hypothesis.
"""

from __future__ import annotations

import itertools

import networkx as nx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import infonotation as inf
from infonotation.symbolic.model import Model

NAMES = [f"v{i}" for i in range(7)]


@st.composite
def dags(draw):
    parents = {}
    for i, v in enumerate(NAMES):
        parents[v] = tuple(p for p in NAMES[:i] if draw(st.booleans()))
    return parents


def _graph(parents: dict) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(parents)
    g.add_edges_from((p, v) for v, pa in parents.items() for p in pa)
    return g


@st.composite
def queries(draw):
    names = draw(st.permutations(NAMES))
    a = draw(st.integers(1, 2))
    b = draw(st.integers(1, 2))
    c = draw(st.integers(0, 3))
    return frozenset(names[:a]), frozenset(names[a:a + b]), frozenset(names[a + b:a + b + c])


SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(dags(), queries())
def test_d_separation_agrees_with_networkx(parents: dict, query) -> None:
    a, b, c = query
    model = Model(parents, default=False)
    assert model.d_separated(a, b, c) == nx.is_d_separator(_graph(parents), set(a), set(b), set(c))


@SETTINGS
@given(dags(), queries())
def test_requisite_context_is_exactly_what_the_targets_depend_on(parents: dict, query) -> None:
    targets, ctx1, ctx2 = query
    context = ctx1 | ctx2
    model = Model(parents, default=False)
    keep = model.requisite(targets, context)
    g = _graph(parents)
    for c in context:
        relevant = not nx.is_d_separator(g, set(targets), {c}, set(context - {c}))
        assert (c in keep) == relevant, (targets, context, c)
    # and dropping all the others at once is allowed: p(targets | context) = p(targets | keep)
    if context - keep:
        assert nx.is_d_separator(g, set(targets), set(context - keep), set(keep))


@SETTINGS
@given(dags(), st.sets(st.sampled_from(NAMES), min_size=1, max_size=6))
def test_factorisation_is_a_valid_chain_rule(parents: dict, vars_: set) -> None:
    model = Model(parents, default=False)
    g = _graph(parents)
    seen: set[str] = set()
    for v, cond in model.factorise(frozenset(vars_)):
        assert cond <= seen  # conditions only on what came before
        if seen - cond:  # p(v | before) = p(v | cond)
            assert nx.is_d_separator(g, {v}, seen - cond, set(cond))
        seen.add(v)
    assert seen == vars_


def test_default_model_factorises_outputs_given_inputs_and_parameter() -> None:
    m = inf.Model()
    f = dict(m.factorise(frozenset({"w", "x_1", "x_2", "y_1", "y_2"})))
    assert f == {"w": frozenset(), "x_1": frozenset(), "x_2": frozenset(), "y_1": frozenset({"x_1", "w"}),
                 "y_2": frozenset({"x_2", "w"})}
    assert m.parents("w_L") == ("w",) and m.deterministic("w_L") and not m.deterministic("w")
    assert not m.d_separated(frozenset({"w"}), frozenset({"w_L"}), frozenset())
    assert m.d_separated(frozenset({"y"}), frozenset({"w_L"}), frozenset({"w", "x"}))
    # an unknown name carries no assumption
    assert not m.d_separated(frozenset({"y"}), frozenset({"z"}), frozenset({"x", "w"}))
    assert m.requisite(frozenset({"y"}), frozenset({"x", "z"})) == frozenset({"x", "z"})


def test_every_pair_in_a_big_default_model_query_is_decided_quickly() -> None:
    m = inf.Model()
    xs = frozenset(f"x_{i}" for i in range(100))
    for i, j in itertools.combinations(range(0, 100, 9), 2):
        assert m.d_separated(frozenset({f"y_{i}"}), frozenset({f"y_{j}"}), xs | {"w"})
        assert not m.d_separated(frozenset({f"y_{i}"}), frozenset({f"y_{j}"}), xs)
