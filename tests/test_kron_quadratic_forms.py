"""The Kronecker quadratic forms ``U_i^T Σ U_i`` (``U_i = L_i ⊗ z_i``) against the dense factors, and BAIT on them.

Truth: the explicit ``P x K`` factors (``KronFactors.dense``, an einsum independent of the product table) and
``U^T Σ U`` by plain matrix products.
"""

from __future__ import annotations

import pytest
import torch

from infonotation.acquisition.batch import BaitPrior, bait_scores, bait_select
from infonotation.errors import CompileError
from infonotation.numeric import factors as factors_module
from infonotation.numeric.factors import DenseFactors, KronFactors, PreparedKron

f64 = torch.float64


def random_kron(n: int, C: int, D1: int, K: int, seed: int) -> KronFactors:
    g = torch.Generator().manual_seed(seed)
    return KronFactors(torch.randn(n, D1, generator=g, dtype=f64), torch.randn(n, C, K, generator=g, dtype=f64))


def random_spd(P: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(P, P + 3, generator=g, dtype=f64)
    return A @ A.mT / P + 0.1 * torch.eye(P, dtype=f64)


@pytest.mark.parametrize("n,C,D1,K", [(7, 3, 5, 3), (4, 1, 6, 1), (5, 4, 1, 2), (1, 2, 2, 2), (0, 3, 4, 3)])
def test_kron_quad_equals_dense_quadratic_form(n: int, C: int, D1: int, K: int) -> None:
    f = random_kron(n, C, D1, K, seed=n + C + D1)
    Sigma = random_spd(C * D1, seed=1)
    U = f.dense()
    truth = U.mT @ Sigma @ U
    torch.testing.assert_close(f.quad(Sigma), truth, rtol=1e-12, atol=1e-12)


def test_stacked_layouts_read_the_points_once_and_match_each_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    f = random_kron(23, 3, 6, 3, seed=4)
    S1, S2 = random_spd(18, seed=5), random_spd(18, seed=6)
    # a product table of 4 rows: 23 points go in 6 chunks, the last one short
    monkeypatch.setattr(factors_module, "PRODUCTS_BYTES", 4 * 21 * 8)
    q1, q2 = f.quads(PreparedKron.stack([PreparedKron(S1, 3, 6), PreparedKron(S2, 3, 6)]))
    U = f.dense()
    torch.testing.assert_close(q1, U.mT @ S1 @ U, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(q2, U.mT @ S2 @ U, rtol=1e-12, atol=1e-12)


def test_from_blocks_of_a_symmetric_matrix_equals_the_whole_matrix() -> None:
    C, D1 = 3, 4
    S = random_spd(C * D1, seed=7)
    iu = torch.triu_indices(C, C)
    blocks = S.reshape(C, D1, C, D1)[iu[0], :, iu[1], :]
    f = random_kron(9, C, D1, 2, seed=8)
    torch.testing.assert_close(f.quad(None, PreparedKron.from_blocks(blocks, C, D1)), f.quad(S), rtol=1e-13,
                               atol=1e-13)  # type: ignore[arg-type]


def test_stack_refuses_different_shapes() -> None:
    with pytest.raises(ValueError, match="same Kronecker shape"):
        PreparedKron.stack([PreparedKron(random_spd(6, 0), 2, 3), PreparedKron(random_spd(6, 1), 3, 2)])


def bait_problem(seed: int) -> tuple[KronFactors, torch.Tensor, torch.Tensor]:
    f = random_kron(30, 3, 4, 3, seed)
    H = random_spd(12, seed + 100)
    E = random_kron(10, 3, 4, 3, seed + 200).dense().permute(1, 0, 2).reshape(12, -1)
    return f, H, E @ E.mT


@pytest.mark.parametrize("seed", [0, 1])
def test_bait_on_kron_factors_equals_bait_on_the_same_dense_factors(seed: int) -> None:
    f, H, F = bait_problem(seed)
    dense = DenseFactors(f.dense())
    torch.testing.assert_close(bait_scores(f, precision=H, eval_fisher=F),
                               bait_scores(dense, precision=H, eval_fisher=F), rtol=1e-10, atol=1e-10)
    a = bait_select(f, 4, precision=H, eval_fisher=F)
    b = bait_select(dense, 4, precision=H, eval_fisher=F)
    assert a.forward.tolist() == b.forward.tolist() and a.indices.tolist() == b.indices.tolist()
    assert abs(float(a.objective) - float(b.objective)) < 1e-10 * float(b.objective)


def test_bait_prior_is_reused_across_pools_with_the_same_answers() -> None:
    f, H, F = bait_problem(2)
    prior = BaitPrior(H, F, like=f)
    for part in (torch.arange(0, 15), torch.arange(10, 30)):
        sub = f.select(part)
        fresh = bait_select(sub, 3, precision=H, eval_fisher=F)
        reused = bait_select(sub, 3, prior=prior)
        assert fresh.indices.tolist() == reused.indices.tolist()
        torch.testing.assert_close(reused.objective, fresh.objective, rtol=1e-12, atol=0.0)
    # the prior's objective is not changed by the selections: tr(H^-1 F) still
    torch.testing.assert_close(prior.objective, torch.trace(torch.linalg.solve(H, F)), rtol=1e-10, atol=0.0)


def test_bait_prior_errors() -> None:
    f, H, F = bait_problem(3)
    with pytest.raises(CompileError, match="either prior= or precision="):
        bait_select(f, 2, precision=H, eval_fisher=F, prior=BaitPrior(H, F, like=f))
    with pytest.raises(CompileError, match="precision= and eval_fisher="):
        bait_select(f, 2, precision=H)
    with pytest.raises(CompileError, match="factors have 12 parameters"):
        bait_select(f, 2, prior=BaitPrior(H[:6, :6], F[:6, :6], like=f))
    with pytest.raises(CompileError, match="BaitPrior"):
        bait_select(f, 2, prior=H)  # type: ignore[arg-type]


@pytest.mark.parametrize("n,C,D1,K", [(9, 3, 5, 3), (3, 1, 4, 1), (6, 4, 1, 2)])
def test_kron_outer_sum_equals_the_sum_of_dense_outer_products(n: int, C: int, D1: int, K: int,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    f = random_kron(n, C, D1, K, seed=10 + n)
    U = f.dense()
    truth = sum(u @ u.mT for u in U)
    torch.testing.assert_close(f.outer_sum(), truth, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(factors_module, "PRODUCTS_BYTES", 2 * D1 * (D1 + 1) // 2 * 8)  # chunks of two points
    torch.testing.assert_close(f.outer_sum(), truth, rtol=1e-12, atol=1e-12)


def test_a_prior_built_for_kronecker_factors_refuses_dense_ones() -> None:
    f, H, F = bait_problem(4)
    with pytest.raises(CompileError, match="built for Kronecker factors of 3 classes x 4 features"):
        bait_select(DenseFactors(f.dense()), 2, prior=BaitPrior(H, F, like=f))
