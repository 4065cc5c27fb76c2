"""What a verdict says beyond holds / does not hold: shapes, undefined values, implications, hints.

Each expectation here is a fact of the semantics (spec/notation.md; docs/notation.md), not a copy of the
engine's output: shapes follow the row convention of ``H'``, ``log`` is undefined for non-positive numbers,
and ``A => B`` holds when B follows from A.
"""

from __future__ import annotations

import pytest

import infonotation as inf
from infonotation.symbolic.shapes import ShapeError

M = inf.Model()


@pytest.mark.parametrize("text", [
    "A + 1 = 1 + A",                                  # a matrix plus a scalar
    "H''[w*] + H'[y|x,w*] = H''[w*]",                 # P x P plus 1 x P
    "H''[w*] @ H'[y|x,w*] = H''[w*]",                 # (P x P) @ (1 x P)
    "log(H''[w*]) = 0",                               # log of a matrix (logdet is meant)
    "tr(H'[y|x,w*]) = 0",                             # trace of a row
    "H''[w*] + H''[w_L*] = H''[w*]",                  # the whole and the last layer have different sizes
    "H[X] / A = H[X]",                                # division by a matrix
    "Id + 1 = 2 * Id",                                # Id is a matrix: a scalar c next to it is written c * Id
    "H'[y|x,w*] @ H'[y|x,w*]^T + 1 = 1",              # a (1 x 1) matrix product plus a scalar
])
def test_ill_shaped_statements_are_errors_not_verdicts(text: str) -> None:
    with pytest.raises(ShapeError) as info:
        inf.check(text, M)
    assert isinstance(info.value, inf.NotationError) and info.value.column >= 1


@pytest.mark.parametrize("text, holds", [
    ("H''[w_L*] = H''[w*]", False),                   # different sizes: never equal
    ("H'[y|x,w*]^T @ H'[y|x,w*] = H''[y|x,w*]", False),  # P x P, but the empirical Fisher is not the Hessian
    ("H'[y|x,w*] @ H'[y|x,w*]^T = tr(H'[y|x,w*]^T @ H'[y|x,w*])", True),  # a 1 x 1 Gram is the trace
    ("tr(A @ B) = tr(B @ A)", True),                  # rectangular A, B
    ("(A @ B)^T = B^T @ A^T", True),
    ("A^T = A", False),
    ("A @ B = B @ A", False),
    ("logdet(Id + H'[y_B|x_B,w*]^T @ H'[y_B|x_B,w*] @ (lambda * Id)^-1) = "
     "logdet(Id + H'[y_B|x_B,w*] @ (lambda * Id)^-1 @ H'[y_B|x_B,w*]^T)", True),  # Sylvester, batch rows
    ("H''[y|x] = 0", True),                           # no parameter in the term: the zero matrix
])
def test_shapes_decide_or_pass_to_the_values(text: str, holds: bool) -> None:
    assert bool(inf.check(text, M)) == holds


@pytest.mark.parametrize("text, status", [
    ("log(-1) = log(1)", "does not hold"),                      # the left side is undefined
    ("logdet(-H''[w*]) = logdet(H''[w*])", "does not hold"),    # det(-H) < 0 for odd sizes
    ("log(H[X]^2) = 2 * log(H[X])", "does not hold"),           # defined for negative H[X] on the left only
    ("log(2 * H[X]) = log(2) + log(H[X])", "holds"),            # defined together, equal where defined
    ("log(-exp(H[X])) = 2 * log(-exp(H[X]))", "undecided"),     # never defined
])
def test_undefined_values_never_make_a_statement_true(text: str, status: str) -> None:
    v = inf.check(text, M)
    assert v.status == status, v.explanation
    assert bool(v) == (status == "holds")


def test_an_implication_assumes_its_premise() -> None:
    # the premise is false on its own (H[X] is not 0), yet the conclusion follows from it
    v = inf.check("H[X] = 0 => H[X,Y] = H[Y|X]")
    assert v and "does not hold" in v.hint
    assert not inf.check("H[X,Y] = H[Y|X]")
    # a conclusion that does not follow is refuted, whatever the premise
    assert not inf.check("H[X] = H[X] => H[X,Y] = H[Y|X]")
    # differentiating an identity in the parameter: the Hessian of Bayes' rule
    v = inf.check("H[w*|y,x] = H[y|x,w*] + H[w*|x] - H[y|x] => H''[w*|y,x] = H''[y|x,w*] + H''[w*|x] - H''[y|x]")
    assert v
    # <=> needs both directions: H''[y|x] = 0 under the model, so these two say the same
    assert inf.check("H''[w*|y,x] = H''[y|x,w*] + H''[w*] - H''[y|x] <=> H''[w*|y,x] = H''[y|x,w*] + H''[w*]", M)
    assert inf.check("H[X] = 0 <=> H[X,Y] = H[Y|X]")  # the same identity: H[X,Y] - H[Y|X] = H[X]
    assert not inf.check("H[X] = H[Z] <=> H[X,Y] = H[Y|X]")  # neither follows from the other


def test_a_derivative_of_a_premise_with_two_parameter_values_is_not_taken() -> None:
    # w and w* are different values: the premise's Hessian is not the term-by-term Hessian
    v = inf.check("H[w*|y,x] = H[y|x,w*] + H[w] - H[y|x] => H''[w*|y,x] = H''[y|x,w*] + H''[w] - H''[y|x]", M)
    assert not v


def test_the_verdict_says_when_the_papers_model_makes_it_true() -> None:
    v = inf.check("H''[w*|y,x] = H''[y|x,w*] + H''[w*]")  # no model: the prior may depend on x
    assert not v and "inf.Model()" in v.hint
    assert inf.check("H''[w*|y,x] = H''[y|x,w*] + H''[w*]", M)
    assert "Model" not in inf.check("H[X] = H[Y]").hint


@pytest.mark.parametrize("text, value", [("1e3", 1000), ("2.5e-3", "1/400"), ("1E2", 100)])
def test_scientific_numbers_are_exact_rationals(text: str, value) -> None:
    assert inf.parse(text) == inf.parse(str(value))


@pytest.mark.parametrize("text", ["1e400", "1e-400", "7e123456789012"])
def test_huge_scientific_numbers_are_parse_errors(text: str) -> None:
    with pytest.raises(inf.ParseError, match="digits"):
        inf.parse(text)


@pytest.mark.parametrize("text", ["exp(exp(10^64)) = H[X]", "2^(10^40) = 3", "H[X]^(10^300) = H[X]",
                                  "exp(10^64 * H[X]) = exp(10^64 * H[Y])", "(10^300)^64 * H[X] = H[X]"])
def test_huge_constants_give_a_verdict_not_an_arithmetic_error(text: str) -> None:
    v = inf.check(text)
    assert v.status in ("does not hold", "undecided")
