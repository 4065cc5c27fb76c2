"""The rules of ``infonotation.symbolic.rules``: exact ones preserve values (exact enumeration), bounds and
approximations hold numerically where the paper says they do (closed forms, autograd)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from enumeration import SmoothWorld, close, evaluate, make_world, truth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_symbolic_soundness import FREE_VARS, MODEL_VARS, terms

import infonotation as inf
from infonotation.symbolic.rules import RULES
from infonotation.syntax.tree import Expr, Term

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _fires(name: str, e: Expr | str, model) -> Expr:
    e = inf.parse(e) if isinstance(e, str) else e
    out = RULES[name].apply(e, model)
    assert out is not None, f"{name} does not fire on {e}"
    return out


def test_every_rule_documents_itself() -> None:
    assert len(RULES) >= 10
    for name, r in RULES.items():
        assert r.name == name
        assert r.statement.strip() and r.precondition.strip() and r.reference.strip()
        assert r.relation in ("=", "~=", "<=")
    exact = {n for n, r in RULES.items() if r.relation == "="}
    assert {"mi_definition", "independence", "expectation", "hessian_bayes", "logdet_algebra"} <= exact
    assert RULES["gaussian"].relation == "~=" and RULES["eig_logdet"].relation == "~="
    assert RULES["ggn"].relation == "~=" and RULES["trace"].relation == "<="


# -- exact rules preserve the value, on random expressions ---------------------------------------------
@SETTINGS
@given(terms(FREE_VARS), st.booleans())
def test_mi_definition_preserves_value_without_a_model(t: Term, with_model: bool) -> None:
    out = RULES["mi_definition"].apply(t, None)
    if out is not None:
        assert truth(t, out, model=False), f"{t} -> {out}"


@SETTINGS
@given(terms(MODEL_VARS))
def test_mi_definition_preserves_value_under_the_model(t: Term) -> None:
    """Under the model it puts the parameter first for expected MI: still the same number."""
    out = RULES["mi_definition"].apply(t, inf.Model())
    if out is not None:
        assert truth(t, out, model=True), f"{t} -> {out}"


@SETTINGS
@given(terms(MODEL_VARS))
def test_independence_and_expectation_preserve_value(t: Term) -> None:
    model = inf.Model()
    for name in ("independence", "expectation", "simplify_expectation"):
        out = RULES[name].apply(t, model)
        if out is not None:
            assert truth(t, out, model=True), f"{name}: {t} -> {out}"


@pytest.mark.parametrize("text", [
    "I[W;Y|x]", "I[Y;W|x]", "I[W;y|x]", "I[W;Y_1,Y_2|x_1,x_2]", "I[Y_e;Y|x,x_e]", "I[W;Y|x] - I[W;Y|Y_e,x,x_e]",
    "I[A;B;C]", "I[Y;Y_e;W|x,x_e]", "I[Y_e;Y|x,X_e]",
])
def test_mi_definition_on_the_papers_quantities(text: str) -> None:
    out = _fires("mi_definition", text, inf.Model())
    assert truth(inf.parse(text), out, model=True)


@pytest.mark.parametrize("text", ["H[W|x]", "H[Y|x,X_e]", "H[Y|x,w,Y_e,x_e]", "H[W|x_1,x_2]", "H[D|w,x]",
                                  "H[X|W]", "H[W|x] - H[W|Y,x]"])
def test_independence_fires_and_preserves_value(text: str) -> None:
    out = _fires("independence", text, inf.Model())
    assert out != inf.parse(text)
    assert truth(inf.parse(text), out, model=True)


def test_independence_never_fires_without_a_model() -> None:
    assert RULES["independence"].apply(inf.parse("H[W|x]"), None) is None


@pytest.mark.parametrize("text", ["H[W|Y,x]", "H[W|Y_1,Y_2,x_1,x_2]", "H[W] - H[W|Y,x]", "H[W|Y,Y_e,x,x_e]"])
def test_expectation_fires_and_preserves_value(text: str) -> None:
    out = _fires("expectation", text, inf.Model())
    assert truth(inf.parse(text), out, model=True)
    assert truth(inf.parse(text), out, model=False)  # the definition of conditional entropy needs no model


@pytest.mark.parametrize("text", ["E_{p(y|x)}[H[W]]", "E_{p(y|x)}[H[Y|x]] + H[W]", "E_{p(a)}[I[B;C]]"])
def test_simplify_expectation_preserves_value(text: str) -> None:
    out = _fires("simplify_expectation", text, None)
    assert truth(inf.parse(text), out, model=False)


@pytest.mark.parametrize("text", [
    "H''[w*|y,x]", "H''[w*|Y,x]", "H''[w*|y_1,y_2,x_1,x_2]", "H''[w*|Y_1,Y_2,x_1,x_2]", "H''[w*|D]",
    "H''[w*|Y_e,x_e,y,x]", "logdet(H''[w*|Y,x]) - logdet(H''[w*])",
])
def test_hessian_bayes_preserves_value(text: str) -> None:
    out = _fires("hessian_bayes", text, inf.Model())
    assert truth(inf.parse(text), out, model=True), f"{text} -> {out}"


@pytest.mark.parametrize("text", [
    "1/2 logdet(H''[Y|x,w*] + H''[w*]) - 1/2 logdet(H''[w*])",
    "logdet(H''[y|x,w*] + H''[w*]) - logdet(H''[w*])",
    "3 * logdet(H''[Y_1|x_1,w*] + H''[Y_2|x_2,w*] + H''[w*]) - 3 * logdet(H''[w*]) + H[y|x,w*]",
    "-1/2 logdet(H''[w*|D]) + 1/2 logdet(H''[Y|x,w*] + H''[w*|D])",
])
def test_logdet_algebra_preserves_value(text: str) -> None:
    out = _fires("logdet_algebra", text, inf.Model())
    e = inf.parse(text)
    for seed in range(3):
        w = SmoothWorld([e, out], model=True, seed=seed)
        assert close(evaluate(e, w), evaluate(out, w)), f"{text} -> {out}"


def test_determinant_lemma_on_hessians_preserves_value() -> None:
    e = inf.parse("1/2 logdet(H'[y|x,w*]^T @ H'[y|x,w*] @ H''[w*]^-1 + Id)")
    out = _fires("determinant_lemma", e, inf.Model())
    assert out == inf.parse("1/2 logdet(H'[y|x,w*] @ H''[w*]^-1 @ H'[y|x,w*]^T + Id)")  # the Gram (sample) side
    rng = np.random.default_rng(3)  # H' is a 1 x k row (the paper's convention); H''[w*] positive definite
    for k in (2, 3, 5):
        g, m = rng.normal(size=(1, k)), rng.normal(size=(k, k))
        h = m @ m.T + np.eye(k)
        weight = np.linalg.slogdet(np.eye(k) + g.T @ g @ np.linalg.inv(h))[1]
        sample = np.linalg.slogdet(np.eye(1) + g @ np.linalg.inv(h) @ g.T)[1]
        assert np.isclose(weight, sample)
    # the rule goes from weight space to sample space only: without a transposed first factor it does not fire
    assert RULES["determinant_lemma"].apply(inf.parse("1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id)"), inf.Model()) is None


def test_determinant_lemma_numerically_on_rectangular_matrices() -> None:
    """logdet(Id_n + A B) = logdet(Id_k + B A) for A (n x k), B (k x n): the rule moves G^T to the end."""
    out = _fires("determinant_lemma", "logdet(G^T @ B + Id)", None)
    assert out == inf.parse("logdet(B @ G^T + Id)")
    rng = np.random.default_rng(0)
    for n, k in ((3, 6), (6, 3), (1, 5)):
        g = rng.normal(size=(n, k))
        a, b = g, np.linalg.inv(np.eye(k) * 2 + 0.1 * np.ones((k, k))) @ g.T  # Id + A B has a positive det
        assert np.isclose(np.linalg.slogdet(np.eye(n) + a @ b)[1], np.linalg.slogdet(np.eye(k) + b @ a)[1])


def test_glm_is_exact_for_a_glm_and_only_then() -> None:
    e = inf.parse("H''[y|x,w*]")
    linear = inf.Model(likelihood="categorical", linear=True)  # logistic regression: outputs linear in w
    out = _fires("glm", e, linear)
    assert out == inf.parse("H''[Y|x,w*]")
    assert truth(e, out, model=True, glm=True)       # softmax(A w + b): observed = Fisher information
    assert not truth(e, out, model=True, glm=False)  # a non-linear head: the precondition matters
    assert RULES["ggn"].apply(e, inf.Model()) == out
    # a GLM in the last layer: an exponential-family likelihood and the derivative in w_L*
    last = inf.parse("H''[y|x,w_L*]")
    assert _fires("glm", last, inf.Model(likelihood="bernoulli")) == inf.parse("H''[Y|x,w_L*]")
    # outside its precondition the rule refuses: no likelihood, no model, or the whole (non-linear) network
    assert RULES["glm"].apply(e, inf.Model()) is None
    assert RULES["glm"].apply(last, inf.Model()) is None
    assert RULES["glm"].apply(last, None) is None
    assert RULES["glm"].apply(e, inf.Model(likelihood="categorical")) is None


# -- bounds and approximations, numerically -------------------------------------------------------------
def test_trace_bound_holds_for_random_psd_and_pd_matrices() -> None:
    out = _fires("trace", "1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id)", inf.Model())
    assert out == inf.parse("1/2 tr(H''[Y|x,w*] @ H''[w*]^-1)")
    rng = np.random.default_rng(1)
    for _ in range(200):
        k, r = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        g = rng.normal(size=(r, k)) * rng.uniform(0.01, 3)
        f = g.T @ g                                    # positive semi-definite (rank r)
        b = rng.normal(size=(k, k))
        h = b @ b.T + rng.uniform(0.01, 2) * np.eye(k)  # positive definite
        m = f @ np.linalg.inv(h)
        sign, ld = np.linalg.slogdet(m + np.eye(k))
        assert sign > 0 and ld <= np.trace(m) + 1e-12
    for seed in range(3):  # and on the oracle's Fisher and prior Hessians
        w = make_world([out], model=True, seed=seed)
        e = inf.parse("1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id)")
        assert evaluate(e, w) <= evaluate(out, w) + 1e-12


def test_trace_bound_refuses_observed_information_and_negative_weights() -> None:
    for text in ("logdet(H''[y|x,w*] @ H''[w*]^-1 + Id)", "logdet(Id - H''[Y|x,w*] @ H''[w*]^-1)",
                 "logdet(H''[Y|x,w*] - H''[w*] + Id)"):
        assert RULES["trace"].apply(inf.parse(text), inf.Model()) is None, text
    # why: an indefinite matrix (observed information away from a mode) can break the bound:
    # two eigenvalues below -1 give a positive determinant and logdet(Id + M) > tr(M)
    m = np.diag([-3.0, -3.0])
    sign, ld = np.linalg.slogdet(np.eye(2) + m)
    assert sign > 0 and ld > np.trace(m)


def test_gaussian_is_exact_for_bayesian_linear_regression() -> None:
    """H[W|y,x] of Bayesian linear regression equals -1/2 logdet H''[w*|y,x] + C_k (R17), at any w*."""
    out = _fires("gaussian", "H[W|y,x]", inf.Model())
    assert out == inf.parse("-1/2 logdet(H''[w*|y,x]) + C_k")
    rng = np.random.default_rng(3)
    k, n, s2 = 3, 5, 0.7
    x = torch.tensor(rng.normal(size=(n, k)))
    y = torch.tensor(rng.normal(size=n))
    prior_prec = torch.tensor(np.diag(rng.uniform(0.5, 2.0, size=k)))

    def neg_log_joint(w: torch.Tensor) -> torch.Tensor:  # -log p(w|y,x) up to a constant in w
        return 0.5 * ((y - x @ w) ** 2).sum() / s2 + 0.5 * w @ prior_prec @ w

    w_star = torch.tensor(rng.normal(size=k))
    hess = torch.autograd.functional.hessian(neg_log_joint, w_star)
    posterior_cov = torch.linalg.inv(prior_prec + x.T @ x / s2)
    entropy = 0.5 * torch.logdet(2 * math.pi * math.e * posterior_cov)  # closed form
    c_k = k / 2 * math.log(2 * math.pi * math.e)
    approx = -0.5 * torch.logdet(hess) + c_k  # the rule's right side, evaluated
    assert torch.isclose(entropy, approx, rtol=1e-12)


def test_gaussian_prior_entropy() -> None:
    out = _fires("gaussian", "H[W]", inf.Model())
    assert out == inf.parse("-1/2 logdet(H''[w*]) + C_k")
    w = SmoothWorld([out], model=True, seed=0)
    cov = np.linalg.inv(w.prior_prec.numpy())
    assert close(evaluate(out, w), 0.5 * np.linalg.slogdet(2 * math.pi * math.e * cov)[1])


def test_eig_logdet_is_an_upper_bound_by_jensen() -> None:
    """E_y logdet(O_y + H) <= logdet(E_y O_y + H) for PSD O_y (concavity), the direction R20 states."""
    e = inf.parse("E_{p(y|x)}[1/2 logdet(H''[y|x,w*] @ H''[w*]^-1 + Id)]")
    out = _fires("eig_logdet", e, inf.Model())
    assert out == inf.parse("1/2 logdet(E_{p(y|x)}[H''[y|x,w*]] @ H''[w*]^-1 + Id)")
    rng = np.random.default_rng(4)
    for _ in range(50):
        k, c = 3, 4
        p = rng.dirichlet(np.ones(c))
        obs = [(lambda g: g.T @ g)(rng.normal(size=(2, k))) for _ in range(c)]
        h = (lambda b: b @ b.T + np.eye(k))(rng.normal(size=(k, k)))
        left = sum(pi * np.linalg.slogdet(o @ np.linalg.inv(h) + np.eye(k))[1] for pi, o in zip(p, obs))
        right = np.linalg.slogdet(sum(pi * o for pi, o in zip(p, obs)) @ np.linalg.inv(h) + np.eye(k))[1]
        assert left <= right + 1e-12


def test_approximations_do_not_fire_where_they_do_not_apply() -> None:
    m = inf.Model()
    assert RULES["gaussian"].apply(inf.parse("H[Y|x]"), m) is None
    assert RULES["ggn"].apply(inf.parse("H''[Y|x,w*]"), m) is None
    assert RULES["ggn"].apply(inf.parse("H''[w*]"), m) is None
    assert RULES["eig_logdet"].apply(inf.parse("logdet(H''[Y|x,w*] + Id)"), m) is None
    assert RULES["hessian_bayes"].apply(inf.parse("H''[y|x,w*]"), m) is None
    assert RULES["mi_definition"].apply(inf.parse("H[A|B]"), None) is None


def test_flat_prior_and_last_layer_rewrite_only_their_targets() -> None:
    out = _fires("flat_prior", "logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id)", inf.Model())
    assert "lambda" in str(out) and "H''[Y | x, w*]" in str(out)
    out = _fires("last_layer", "H''[Y|x,w*]", inf.Model())
    assert isinstance(out, Term) and all(n.sub == "L" for n in out.names() if n.base == "w")
    assert RULES["last_layer"].apply(inf.parse("H[Y|x]"), inf.Model()) is None
