"""The oracle of the soundness suite (``tests/enumeration.py``) against hand-computed truths.

A bug in the oracle could silently pass a wrong engine, so each of its extensions is checked here on its own:
free random variables (S1), binding by whole name (S2), restricted parameters (S3), shapes (S4), undefined values
(S5), Hessian kinds (S6), declared models and the mixture marginals of the autograd world, and the ``<=`` mode.
Closed forms are computed from the worlds' tables with numpy, never through the oracle's evaluator.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from enumeration import (
    ERROR,
    DiscreteWorld,
    ShapeError,
    SmoothWorld,
    Undefined,
    evaluate,
    free_random,
    infer_shapes,
    judge,
    truth,
)

import infonotation as inf

P = inf.parse


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


# -- the labels of known statements, class by class -------------------------------------------------------
KNOWN = [
    # S1: free random variables
    ("p(Y|x) = exp(-H[Y|x])", None, False),
    ("-log p(Y|x) = H[Y|x]", None, False),
    ("h(p(Y_1|x_1)) = H[Y_1|x_1]", True, False),
    ("E_{p(y|x)}[-log p(y|x)] = H[Y|x]", None, True),
    ("p(y|x) = exp(-H[y|x])", None, True),
    ("p(A,B) = p(A) * p(B|A)", None, True),
    ("p(A,B) = p(A) * p(B)", None, False),
    ("E_{p(a)}[p(B|a)] = p(B)", None, True),
    ("p(Y|x) = p(Y|x)", None, True),
    ("p(Y|x) = p(y|x)", None, False),
    # S2: binding by whole name
    ("E_{p(w)}[H[Y|x,w*]] = H[Y|x,w*]", None, True),
    ("E_{p(w)}[H[Y|x,w]] = H[Y|x,w]", None, False),
    ("E_{p(y)}[p(y_1)] = p(y_1)", None, True),
    ("E_{p(y)}[p(y)] = p(y)", None, False),
    ("E_{p(w)}[p(y|x,w)] = p(y|x)", True, True),
    ("E_{p(w)}[p(y|x,w)] = p(y|x)", None, False),
    # S3: restricted parameters
    ("H[W,W_L] = H[W]", None, True),
    ("I[W;W_L] = H[W_L]", None, True),
    ("I[W;W_L] = H[W_L]", True, True),
    ("H[W_L|W] = 0", None, True),
    ("H[W_L] = H[W]", None, False),
    ("I[W;W_L] = H[W]", None, False),
    ("H[W|W_L] = H[W] - H[W_L]", None, True),
    ("H[Y|x,W,W_L] = H[Y|x,W]", True, True),
    ("H[Y|x,W_L] = H[Y|x,W]", True, False),
    ("H''[w_L*] = H''[w*]", True, False),
    ("H''[y|x,w_L*] = H''[y|x,w*]", True, False),
    ("H''[w_L*|y,x] = H''[y|x,w_L*] + H''[w_L*]", True, True),
    # S4: matrices and shapes
    ("A^T = A", None, False),
    ("(A @ B)^T = B^T @ A^T", None, True),
    ("tr(A @ B) = tr(B @ A)", None, True),
    ("A @ B = B @ A", None, False),
    ("A + 1 = A + 1", None, ERROR),
    ("Id + 1 = 2 * Id", None, ERROR),
    ("H''[w*] + H'[y|x,w*] = H''[w*]", True, ERROR),
    ("logdet(Id + H'[y_B|x_B,w*]^T @ H'[y_B|x_B,w*] @ (lambda*Id)^-1) = "
     "logdet(Id + H'[y_B|x_B,w*] @ (lambda*Id)^-1 @ H'[y_B|x_B,w*]^T)", True, True),
    ("H'[y|x,w*]^T @ H'[y|x,w*] = H'[y|x,w*] @ H'[y|x,w*]^T", True, False),
    ("tr(H'[y|x,w*]^T @ H'[y|x,w*]) = tr(H'[y|x,w*] @ H'[y|x,w*]^T)", True, True),
    ("E_{p(y|x,w*)}[H'[y|x,w*]^T @ H'[y|x,w*]] = H''[Y|x,w*]", True, True),  # Fisher's information equality
    ("E_{p(y|x,w*)}[H'[y|x,w*]] = 0", True, True),  # the score has mean zero
    ("H''[y|x] = 0", True, True),
    # S5: undefined values
    ("log(-1) = log(1)", None, False),
    ("log(-1) = log(-1)", None, None),
    ("logdet(A @ B) = logdet(A) + logdet(B)", None, False),
    ("logdet(A) = logdet(A^T)", None, True),
    ("logdet(A^-1) = -logdet(A)", None, True),
    ("logdet(-Id) = 0", None, False),
    ("logdet(-H''[w*]) = logdet(H''[w*])", True, False),
    ("logdet(H''[w*] @ H''[w*]) = 2 * logdet(H''[w*])", True, True),
    # total probability and marginalisation
    ("E_{p(x|z)}[p(y|x)] = p(y|z)", None, False),
    ("E_{p(x|z)}[p(y|x)] = p(y|z)", True, False),
    ("E_{p(x|z)}[p(y|x)] = p(y|z)", {"z": (), "x": ("z",)}, True),
    ("E_{p(a|b)}[p(c|a,b)] = p(c|b)", None, True),
    ("E_{p(a|b)}[p(c|a,g)] = p(c|g,b)", None, False),
    ("E_{p(y_1,y_2|x_1,x_2)}[H[y_1|x_1]] = E_{p(y_1|x_1,x_2)}[H[y_1|x_1]]", None, True),
    ("E_{p(y_1|x_1,x_2)}[H[y_1|x_1]] = E_{p(y_1|x_1)}[H[y_1|x_1]]", True, True),
    ("E_{p(y_1|x_1,x_2)}[H[y_1|x_1]] = E_{p(y_1|x_1)}[H[y_1|x_1]]", None, False),
    ("E_{p(y_1,y_2|x_1,x_2)}[logdet(H''[y_1|x_1,w*] + H''[w*])] = "
     "E_{p(y_1|x_1,x_2)}[logdet(H''[y_1|x_1,w*] + H''[w*])]", None, True),
    ("E_{p(y_1|x_1,x_2)}[tr(H''[y_1|x_1,w*] @ H''[w*]^-1)] = E_{p(y_1|x_1)}[tr(H''[y_1|x_1,w*] @ H''[w*]^-1)]", True,
     True),
    ("E_{p(y_1|x_1,x_2)}[tr(H''[y_1|x_1,w*] @ H''[w*]^-1)] = E_{p(y_1|x_1)}[tr(H''[y_1|x_1,w*] @ H''[w*]^-1)]", None,
     False),
    # the spec's traps (spec/notation.md, section 3)
    ("H[X,y] = H[y] + H[X|y]", None, True),
    ("H[X,y] = H[X] + H[y|X]", None, False),
    ("H''[w*|y,x] = H''[y|x,w*] + H''[w*]", True, True),
    ("H''[w*|y,x] = H''[y|x,w*] + H''[w*]", None, False),
    ("H''[w*|y,x] = H''[y|x,w*] + H''[w*|x]", None, True),
]


@pytest.mark.parametrize("text,model,label", KNOWN, ids=[f"{m}: {t}" for t, m, _ in KNOWN])
def test_oracle_labels_known_statements(text: str, model, label) -> None:
    assert judge(text, model) == label


# -- S1: free random variables, by hand ------------------------------------------------------------------
def test_free_random_variables_are_found() -> None:
    assert free_random(P("p(Y|x) + H[Y|x]")) == ["y"]
    assert free_random(P("H[Y|x] + p(y|x)")) == []
    assert free_random(P("E_{p(y|X)}[p(Z|y)]")) == ["x", "z"]
    assert free_random(P("-log p(W_L|w*)")) == ["w_L"]


def test_a_probability_of_a_random_variable_is_a_function_of_its_value() -> None:
    """``p(Y|x) = exp(-H[Y|x])`` fails because the left side varies with Y; compute both from the table."""
    e = P("p(Y|x) = exp(-H[Y|x])")
    w = DiscreteWorld([e], model=False, seed=2)
    joint = w.marginal(("x", "y"))
    x0 = w.env[("x", "o")]
    cond = joint[x0] / joint[x0].sum()
    assert not np.allclose(cond, np.exp(-_entropy(cond)))  # the values the oracle compares
    env = dict(w.env)
    for v in range(w.card["y"]):
        env[("y", "R")] = v
        assert np.isclose(evaluate(P("p(Y|x)"), w, env), cond[v])
    assert np.isclose(evaluate(P("H[Y|x]"), w), _entropy(cond))


# -- S2: binding by whole name, by hand --------------------------------------------------------------------
def test_expectation_binds_the_whole_name() -> None:
    e = P("E_{p(y)}[p(y_1)]")
    w = DiscreteWorld([e], model=False, seed=5)
    assert np.isclose(evaluate(e, w), w.marginal(("y_1",))[w.env[("y_1", "o")]])  # p(y) sums to 1, y_1 stays
    e2 = P("E_{p(w)}[H[Y|x,w*]]")
    w2 = DiscreteWorld([e2], model=True, seed=1)
    assert np.isclose(evaluate(e2, w2), evaluate(P("H[Y|x,w*]"), w2))
    pw = w2.marginal(("w",))
    by_hand = 0.0
    for v in range(w2.card["w"]):  # E_{p(w)}[H[Y|x,w]] by hand: the value w rebound, w* untouched
        env = dict(w2.env)
        env[("w", "o")] = v
        by_hand += pw[v] * evaluate(P("H[Y|x,w]"), w2, env)
    assert np.isclose(evaluate(P("E_{p(w)}[H[Y|x,w]]"), w2), by_hand)


# -- S3: restricted parameters -----------------------------------------------------------------------------
@pytest.mark.parametrize("model", [False, True])
def test_restricted_parameter_is_w_mod_2(model: bool) -> None:
    e = P("H[W,W_L]")
    w = DiscreteWorld([e], model=model, seed=3)
    assert w.card["w"] == 4 and w.card["w_L"] == 2
    joint = w.marginal(("w", "w_L"))
    for i in range(4):
        for j in range(2):
            assert (joint[i, j] > 0) == (j == i % 2)
    pw = joint.sum(1)
    pl = np.array([pw[0] + pw[2], pw[1] + pw[3]])
    assert np.isclose(evaluate(P("H[W_L]"), w), _entropy(pl))
    assert np.isclose(evaluate(P("H[W,W_L]"), w), _entropy(pw))
    assert np.isclose(evaluate(P("I[W;W_L]"), w), _entropy(pl))
    assert np.isclose(evaluate(P("H[W_L|W]"), w), 0.0)


def test_point_estimates_of_the_part_follow_the_whole() -> None:
    w = DiscreteWorld([P("H[Y|x,w_L*] + H[Y|x,w*]")], model=True, seed=4)
    assert w.env[("w_L", "*")] == w.env[("w", "*")] % 2


def test_last_layer_hessian_is_a_block_of_the_full_one() -> None:
    w = SmoothWorld([P("H''[y|x,w*] + H''[y|x,w_L*]")], model=True, seed=1)  # k = 3, k_L = 2
    full, block = evaluate(P("H''[y|x,w*]"), w), evaluate(P("H''[y|x,w_L*]"), w)
    assert full.shape == (3, 3) and block.shape == (2, 2)
    assert np.allclose(block, full[:2, :2])
    assert np.allclose(evaluate(P("H''[w_L*]"), w), w.prior_prec.numpy()[:2, :2])


# -- S4: shapes ----------------------------------------------------------------------------------------------
def _shape(text: str, world_seed: int = 0) -> tuple[int, int] | None:
    s, shapes, _ = infer_shapes(P(text))
    if shapes[0] is None:
        return None
    w = SmoothWorld([P(text)], model=True, seed=world_seed)
    sizes = s.concrete(w)
    return sizes[shapes[0][0]], sizes[shapes[0][1]]


def test_shapes_of_gradients_and_hessians() -> None:
    k = 2  # SmoothWorld seed 0
    assert _shape("H'[y|x,w*]") == (1, k)
    rows, cols = _shape("H'[y_B|x_B,w*]")
    assert cols == k and rows in (2, 3)
    assert _shape("H'[y|x,w*]^T @ H'[y|x,w*]") == (k, k)
    assert _shape("H'[y|x,w*] @ H'[y|x,w*]^T") == (1, 1)
    assert _shape("H''[Y|x,w*]") == (k, k)
    assert _shape("H''[Y|x,w_L*]") == (k - 1, k - 1)
    assert _shape("H[Y|x]") is None


def test_general_matrices_are_rectangular_somewhere() -> None:
    lhs, rhs = P("tr(A @ B)"), P("tr(B @ A)")
    s, _, same = infer_shapes(lhs, rhs)
    assert same
    seen = set()
    for seed in range(24):
        sizes = s.concrete(DiscreteWorld([], model=False, seed=seed))
        seen.add((sizes[s.names["A"][0]], sizes[s.names["A"][1]]))
    assert any(r != c for r, c in seen) and any(r == c for r, c in seen)


@pytest.mark.parametrize("text", ["A + 1", "Id - 2", "tr(A + lambda)", "H''[w_L*] + H''[w*]",
                                  "H'[y|x,w*] @ H''[w*] @ H'[y|x,w*]", "logdet(H'[y|x,w*])", "(H'[y|x,w*])^-1",
                                  "H[Y|x] + Id"])
def test_shape_errors(text: str) -> None:
    with pytest.raises(ShapeError):
        infer_shapes(P(text))


def test_sides_of_different_shapes_are_unequal() -> None:
    _, _, same = infer_shapes(P("H''[w_L*]"), P("H''[w*]"))
    assert not same
    _, _, same = infer_shapes(P("H''[y|x]"), P("0"))  # a literal 0 is a zero matrix of any shape
    assert same


# -- S5: undefined values ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["log(-1)", "log(0)", "h(p(a) - p(a))", "logdet(-Id)", "(A - A)^-1",
                                  "1 / (p(a) - p(a))"])
def test_undefined_values_raise(text: str) -> None:
    w = DiscreteWorld([P(text)], model=False, seed=0)  # Id is 3 x 3 in evaluate: det(-Id) = -1
    with pytest.raises(Undefined):
        evaluate(P(text), w)


def test_logdet_is_not_log_abs_det() -> None:
    w = DiscreteWorld([], model=False, seed=0)
    a = evaluate(P("A"), w)
    if np.linalg.det(a) < 0:
        with pytest.raises(Undefined):
            evaluate(P("logdet(A)"), w)
    assert np.isclose(evaluate(P("logdet(A @ A^T)"), w), np.log(np.linalg.det(a @ a.T)))


# -- S6: the kinds of Hessians ------------------------------------------------------------------------------------
def test_hessian_kinds() -> None:
    negative_seen = False
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for seed in range(40):
        if negative_seen and seed >= 8:
            break
        e = P("H''[w*] + H''[Y|x,w*] + H''[y|x,w*]")
        w = SmoothWorld([e], model=True, seed=seed)
        prior, fisher, observed = (evaluate(P(t), w) for t in ("H''[w*]", "H''[Y|x,w*]", "H''[y|x,w*]"))
        assert np.linalg.eigvalsh(prior).min() > 0  # positive definite
        assert np.linalg.eigvalsh(fisher).min() > -1e-10  # positive semi-definite
        assert np.allclose(observed, observed.T)  # symmetric ...
        negative_seen |= np.linalg.eigvalsh(observed).min() < -1e-8  # ... and sometimes indefinite
    torch.set_num_threads(threads)
    assert negative_seen


def test_glm_worlds() -> None:
    e = P("H''[y|x,w*] = H''[Y|x,w*]")
    assert judge(e, True, glm=True) is True
    assert judge(e, True) is False
    block = P("H''[y|x,w_L*] = H''[Y|x,w_L*]")
    assert judge(block, True, head_glm=True) is True  # a network whose last layer is a GLM
    assert judge(block, True) is False
    assert judge(e, True, head_glm=True) is False  # the rest of the network is not


# -- declared models and the autograd world's mixture marginals ---------------------------------------------------
def test_declared_parents_give_the_declared_independences() -> None:
    w = DiscreteWorld([P("p(y|x,z) + p(z)")], model={"z": (), "x": ("z",)}, seed=3)
    j = w.marginal(("z", "x", "y"))
    p_y_given_xz = j / j.sum(-1, keepdims=True)
    p_y_given_x = j.sum(0) / j.sum(0).sum(-1, keepdims=True)
    assert np.allclose(p_y_given_xz, p_y_given_x[None])  # y _|_ z | x
    p_x_given_z = j.sum(2) / j.sum(2).sum(1, keepdims=True)
    assert not np.allclose(p_x_given_z, p_x_given_z[:1])  # z -> x is a real edge


def test_mixture_marginals_are_a_joint_distribution_with_the_models_independences() -> None:
    e = P("p(y_1,y_2|x_1,x_2)")
    w = SmoothWorld([e], model=True, seed=2, mixture=16)
    with torch.no_grad():
        joint = torch.exp(w.log_p({"y_1", "y_2", "x_1", "x_2"}, {}, ["x_1", "x_2", "y_1", "y_2"], None)).numpy()
    assert np.isclose(joint.sum(), 1.0)
    p_x = joint.sum((2, 3))
    assert np.allclose(p_x, p_x.sum(1, keepdims=True) * p_x.sum(0, keepdims=True))  # x_1 _|_ x_2
    cond = joint.sum(3) / p_x[..., None]  # p(y_1 | x_1, x_2)
    assert np.allclose(cond, cond[:, :1, :])  # y_1 _|_ x_2 | x_1
    both = joint / p_x[..., None, None]
    assert not np.allclose(both, cond[..., None] * (joint.sum(2) / p_x[..., None])[:, :, None, :])  # y_1, y_2 dependent


def test_inequalities() -> None:
    bound = "logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id) <= tr(H''[Y|x,w*] @ H''[w*]^-1)"
    lhs, rhs = (P(s) for s in bound.split(" <= "))
    assert judge((lhs, rhs), True, relation="<=") is True
    assert judge((rhs, lhs), True, relation="<=") is False


def test_the_original_interface_is_kept() -> None:
    assert truth(P("H[A,B]"), P("H[A] + H[B|A]"), model=False)
    assert not truth(P("H[X,y]"), P("H[X] + H[y|X]"), model=False)
    assert truth(P("H''[w*|y,x]"), P("H''[y|x,w*] + H''[w*]"), model=True)
