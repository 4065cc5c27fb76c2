"""Whole-network curvature structures (full, diag, kron, lowrank) against independent truths.

* dense autograd: per-point Jacobians by ``torch.func`` on the flat parameter vector, the GGN ``sum J^T Λ J``, the
  posterior ``GGN + δ Id`` as a ``P x P`` matrix and every quantity by brute force;
* laplace-torch 0.3 (``subset_of_weights="all"``, ``hessian_structure="diag"``/``"kron"``, the same prior and data,
  fitted on one batch): the posterior log-determinant and the per-point function-space covariance ``J S J^T``.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from laplace_oracle import import_laplace
from scipy.stats import spearmanr
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import infonotation as inf
from infonotation.numeric.likelihood import make_likelihood
from infonotation.numeric.structures import FULL_MAX_PARAMS, Capture, fit_structure, layout_of

f64 = torch.float64


def ld(A: torch.Tensor) -> torch.Tensor:
    return torch.linalg.slogdet(A)[1]


def small_cnn(seed: int = 0, bn: bool = False) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 4, 3),
                               nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(16, 8)]
    if bn:
        layers.append(nn.BatchNorm1d(8))
    layers += [nn.Tanh(), nn.Linear(8, 3)]
    net = nn.Sequential(*layers).double().eval()
    if bn:
        with torch.no_grad():
            net[7].running_mean.uniform_(-0.5, 0.5)
            net[7].running_var.uniform_(0.5, 2.0)
            net[7].weight.uniform_(0.5, 1.5)
    return net


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 9), nn.ReLU(), nn.Linear(9, 3)).double().eval()


def data(seed: int, n: int, image: bool) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g, dtype=f64) if image else torch.randn(n, 5, generator=g, dtype=f64)


def jacobians(net: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """``[n, C, P]`` by torch.func (named_parameters order): the dense truth."""
    params = {k: v.detach() for k, v in net.named_parameters()}

    def f(th: dict, x: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(net, th, (x[None],))[0]

    J = torch.func.vmap(torch.func.jacrev(f), in_dims=(None, 0))(params, X)
    return torch.cat([J[k].reshape(X.shape[0], J[k].shape[1], -1) for k in params], 2)


def fisher_factors(net: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """``[n, P, C]``: ``U = J^T L`` with ``L L^T = diag(π) - π π^T``."""
    J = jacobians(net, X)
    with torch.no_grad():
        L = make_likelihood("categorical", None).factor(net(X))
    return J.mT @ L


def dense_posterior(net: nn.Module, X: torch.Tensor, delta: float) -> torch.Tensor:
    U = fisher_factors(net, X)
    G = torch.einsum("npk,nqk->pq", U, U)
    return G + delta * torch.eye(G.shape[0], dtype=f64)


def eig_truth(H: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    """``1/2 logdet(Id + U^T H^-1 U)`` per point."""
    S = torch.linalg.inv(H)
    K = U.mT @ S @ U
    return 0.5 * ld(torch.eye(K.shape[-1], dtype=f64) + K)


# -- the structure objects -----------------------------------------------------------------------------
@pytest.mark.parametrize("image", [False, True])
def test_full_and_full_rank_lowrank_equal_dense_autograd(image: bool) -> None:
    net = small_cnn(1, bn=True) if image else mlp(1)
    Xtr, Xp = data(0, 25, image), data(1, 6, image)
    delta = 0.6
    H = dense_posterior(net, Xtr, delta)
    P = H.shape[0]
    assert P <= 5000
    cap = Capture(net, make_likelihood("categorical", None), layout_of(net), f64)
    J = jacobians(net, Xp)
    S = torch.linalg.inv(H)
    for name, rank in (("full", None), ("lowrank", P)):
        st = fit_structure(name, cap, Xtr, delta, 7, False, rank=rank)
        assert abs(float(st.logdet() - ld(H))) <= 1e-6 * abs(float(ld(H)))
        torch.testing.assert_close(st.dense(), H, rtol=1e-6, atol=1e-8)
        pr = cap.probe(Xp)
        torch.testing.assert_close(st.quad(pr), J @ S @ J.mT, rtol=1e-6, atol=1e-9)
        torch.testing.assert_close(st.cross(pr, pr.select(slice(0, 2))),
                                   torch.einsum("akp,pq,blq->akbl", J, S, J[:2]), rtol=1e-6, atol=1e-9)
        v = torch.randn(P, 3, dtype=f64)
        torch.testing.assert_close(st.solve(v), S @ v, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("image", [False, True])
def test_diag_and_kron_are_their_own_dense_matrices(image: bool) -> None:
    """Each structure's logdet, solve and per-point form agree with its own P x P matrix, and diag's diagonal is
    the dense GGN's."""
    net = small_cnn(2, bn=True) if image else mlp(2)
    Xtr, Xp = data(2, 20, image), data(3, 5, image)
    H = dense_posterior(net, Xtr, 0.4)
    cap = Capture(net, make_likelihood("categorical", None), layout_of(net), f64)
    J = jacobians(net, Xp)
    pr = cap.probe(Xp)
    for name in ("diag", "kron"):
        st = fit_structure(name, cap, Xtr, 0.4, 6, False)
        D = st.dense()
        S = torch.linalg.inv(D)
        assert abs(float(st.logdet() - ld(D))) < 1e-9 * abs(float(ld(D)))
        torch.testing.assert_close(st.quad(pr), J @ S @ J.mT, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(st.cross(pr, pr), torch.einsum("akp,pq,blq->akbl", J, S, J), rtol=1e-9,
                                   atol=1e-12)
        if name == "diag":
            torch.testing.assert_close(D, torch.diag(H.diagonal()), rtol=1e-10, atol=1e-12)


# -- against laplace-torch -----------------------------------------------------------------------------------
@pytest.mark.parametrize("structure", ["diag", "kron"])
@pytest.mark.parametrize("image", [False, True])
def test_diag_and_kron_match_laplace_torch(structure: str, image: bool) -> None:
    laplace = import_laplace()
    net = small_cnn(3) if image else mlp(3)
    Xtr, Xp = data(4, 40, image), data(5, 7, image)
    ytr = torch.randint(0, 3, (40,), generator=torch.Generator().manual_seed(0))
    delta = 0.7
    la = laplace.Laplace(net, "classification", subset_of_weights="all", hessian_structure=structure,
                         prior_precision=delta)
    la.fit(DataLoader(TensorDataset(Xtr, ytr), batch_size=len(Xtr)))  # one batch: the factors of all the data
    acq = inf.compile("I[W;Y|x]", net, train=(Xtr, ytr), last_layer=False, curvature=structure,
                      prior_precision=delta)
    ref_ld = float(la.log_det_posterior_precision)
    assert abs(float(acq.structure.logdet()) - ref_ld) <= 1e-4 * abs(ref_ld)
    Js, _ = la.backend.jacobians(Xp)
    ref = la.functional_variance(Js)
    ours = acq.functional_variance(Xp)
    assert float((ours - ref).abs().max()) <= 1e-4 * float(ref.abs().max())
    # and the EIG from it: 1/2 logdet(Id + L^T (J S J^T) L)
    with torch.no_grad():
        L = make_likelihood("categorical", None).factor(net(Xp))
    truth = 0.5 * ld(torch.eye(3, dtype=f64) + L.mT @ ref @ L)
    torch.testing.assert_close(acq(Xp), truth, rtol=1e-4, atol=1e-8)


# -- compiled quantities against brute force -----------------------------------------------------------------
def structure_matrix(acq: object) -> torch.Tensor:
    return acq.structure.dense()  # type: ignore[attr-defined]


@pytest.mark.parametrize("structure", ["diag", "kron", "lowrank"])
def test_compiled_quantities_equal_brute_force_with_the_structure(structure: str) -> None:
    """EIG, the trace bound, batch log-det, greedy, EPIG/JEPIG and their proxies, evaluated on the data side, equal
    the P x P formulas with the structure's own matrix."""
    net = small_cnn(4)
    Xtr, Xp, Xe = data(6, 15, True), data(7, 12, True), data(8, 5, True)
    ytr = torch.zeros(15).long()
    kw = dict(train=(Xtr, ytr), last_layer=False, curvature=structure, prior_precision=0.5,
              **({"rank": 40} if structure == "lowrank" else {}))
    eig = inf.compile("I[W;Y|x]", net, **kw)
    H = structure_matrix(eig)
    P = H.shape[0]
    I = torch.eye(P, dtype=f64)
    inv = torch.linalg.inv
    U = fisher_factors(net, Xp)
    F = U @ U.mT
    Ue = fisher_factors(net, Xe)
    Fe = (Ue @ Ue.mT).sum(0)
    torch.testing.assert_close(eig(Xp), eig_truth(H, U), rtol=1e-8, atol=1e-10)
    tr = inf.compile("I[W;Y|x]", net, using=["gaussian", "ggn", "trace"], **kw)
    torch.testing.assert_close(tr(Xp), torch.stack([0.5 * torch.trace(f @ inv(H)) for f in F]), rtol=1e-8,
                               atol=1e-10)
    batch = inf.compile("I[W;Y_B|x_B]", net, **kw)
    assert abs(float(batch.joint(Xp[:4])) - float(0.5 * (ld(H + F[:4].sum(0)) - ld(H)))) < 1e-8
    sel = batch.select(Xp, 4, "greedy")
    chosen: list[int] = []
    for t in range(4):
        best = max((j for j in range(12) if j not in chosen), key=lambda j: float(ld(H + F[chosen + [j]].sum(0))))
        chosen.append(best)
        assert abs(float(sel.joint[t]) - float(0.5 * (ld(H + F[chosen].sum(0)) - ld(H)))) < 1e-8
    assert sel.indices.tolist() == chosen
    for q, Fm in (("I[Y_eval;Y|x,X_eval]", Fe / 5), ("I[Y_eval;Y|x,x_eval]", Fe)):
        gain = inf.compile(q, net, eval=Xe, **kw)
        truth = torch.stack([0.5 * ld(Fm @ inv(H) + I) - 0.5 * ld(Fm @ inv(H + f) + I) for f in F])
        torch.testing.assert_close(gain(Xp), truth, rtol=1e-7, atol=1e-9)
        prox = inf.compile(q, net, eval=Xe, using=["gaussian", "ggn", "eig_logdet", "proxy"], **kw)
        torch.testing.assert_close(prox(Xp), torch.stack([ld(Fm @ inv(H + f) + I) for f in F]), rtol=1e-7,
                                   atol=1e-9)
        ptr = inf.compile(q, net, eval=Xe, using=["gaussian", "ggn", "trace", "proxy"], **kw)
        torch.testing.assert_close(ptr(Xp), torch.stack([torch.trace(Fm @ inv(H + f)) for f in F]), rtol=1e-7,
                                   atol=1e-9)
        g = gain.select(Xp, 3, "greedy")  # not submodular: every step re-scores the pool
        picked: list[int] = []
        base = float(0.5 * (ld(H + Fm) - ld(H)))

        def val(js: list[int], base: float = base, Fm: torch.Tensor = Fm) -> float:
            B = H + F[js].sum(0)  # logdet(Fm B^-1 + Id) = logdet(B + Fm) - logdet(B)
            return base - float(0.5 * (ld(B + Fm) - ld(B)))

        for _ in range(3):
            picked.append(max((j for j in range(12) if j not in picked), key=lambda j: val(picked + [j])))
        assert g.indices.tolist() == picked
        assert abs(float(g.joint[-1]) - val(picked)) < 1e-8


def test_label_aware_information_gain_uses_the_empirical_fisher() -> None:
    net = mlp(5)
    Xtr, Xp = data(9, 20, False), data(10, 6, False)
    yp = torch.tensor([0, 1, 2, 0, 1, 2])
    with pytest.warns(inf.CompileWarning, match="empirical Fisher"):
        acq = inf.compile("I[W;y|x]", net, train=(Xtr, torch.zeros(20).long()), last_layer=False,
                          curvature="kron", prior_precision=2.0)
    H = structure_matrix(acq)
    J = jacobians(net, Xp)
    with torch.no_grad():
        r = torch.softmax(net(Xp), -1) - nn.functional.one_hot(yp, 3).double()
    g = (r[:, None, :] @ J)[:, 0]  # the gradient of -log p(y|x,w)
    truth = 0.5 * torch.log1p(torch.einsum("np,pq,nq->n", g, torch.linalg.inv(H), g))
    torch.testing.assert_close(acq(Xp, yp), truth, rtol=1e-9, atol=1e-12)
    assert not torch.allclose(acq(Xp, (yp + 1) % 3), truth)
    with pytest.raises(inf.CompileError, match="y_pool"):
        acq(Xp)


def test_ranking_of_diag_and_kron_against_dense() -> None:
    """Report the Spearman correlation of the approximate structures' EIG ranking with the dense one."""
    net = small_cnn(6)
    Xtr, Xp = data(11, 60, True), data(12, 80, True)
    ytr = torch.zeros(60).long()
    dense = inf.compile("I[W;Y|x]", net, train=(Xtr, ytr), last_layer=False, curvature="full")(Xp)
    rho = {}
    for structure in ("diag", "kron"):
        s = inf.compile("I[W;Y|x]", net, train=(Xtr, ytr), last_layer=False, curvature=structure)(Xp)
        rho[structure] = float(spearmanr(s.numpy(), dense.numpy()).statistic)
    print(f"Spearman correlation of the EIG ranking with the dense one: {rho}")
    assert rho["kron"] > 0.5 and rho["diag"] > 0.2


# -- defaults, scale and errors ---------------------------------------------------------------------------------
def test_the_issues_mlp_compiles_with_the_default_structure() -> None:
    """A 64-256-256-10 MLP (85k parameters) asked for a dense 58 GB matrix; the default is now kron."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)).eval()
    assert sum(p.numel() for p in net.parameters()) > 85_000
    X, y = torch.randn(64, 64), torch.randint(0, 10, (64,))
    acq = inf.compile("I[W;Y|x]", net, train=(X, y), last_layer=False)
    assert acq.curvature == "kron"
    s = acq(torch.randn(50, 64))
    assert s.shape == (50,) and bool(torch.isfinite(s).all()) and bool((s > 0).all())
    with pytest.raises(inf.CompileError, match="refused above .*'kron'.*'diag'.*'lowrank'"):
        inf.compile("I[W;Y|x]", net, train=(X, y), last_layer=False, curvature="full")
    assert FULL_MAX_PARAMS < 85_000


def test_chunking_and_float32_do_not_change_scores() -> None:
    net = small_cnn(7)
    Xtr, Xp = data(13, 30, True), data(14, 23, True)
    kw = dict(train=(Xtr, torch.zeros(30).long()), last_layer=False, curvature="kron")
    a = inf.compile("I[W;Y|x]", net, **kw)(Xp)
    b = inf.compile("I[W;Y|x]", net, chunk_size=4, progress=False, **kw)(Xp)
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    c = inf.compile("I[W;Y|x]", net, dtype=torch.float32, **kw)(Xp)
    assert c.dtype == torch.float32
    torch.testing.assert_close(c.double(), a, rtol=1e-3, atol=1e-5)


def test_uncovered_parameters_are_diagonal_with_a_warning() -> None:
    net = small_cnn(8, bn=True)
    Xtr = data(15, 20, True)
    with pytest.warns(inf.CompileWarning, match="BatchNorm1d.*exact GGN diagonal"):
        acq = inf.compile("I[W;Y|x]", net, train=(Xtr, torch.zeros(20).long()), last_layer=False, curvature="kron")
    assert acq.structure.layout.generic is not None and acq.structure.layout.generic.p == 16
    with warnings.catch_warnings():
        warnings.simplefilter("error", inf.CompileWarning)
        inf.compile("I[W;Y|x]", net, train=(Xtr, torch.zeros(20).long()), last_layer=False, curvature="diag")


def test_bad_input_is_a_library_error() -> None:
    net = mlp(9)
    Xtr, y = data(16, 10, False), torch.zeros(10).long()
    kw = dict(train=(Xtr, y), last_layer=False)
    with pytest.raises(inf.CompileError, match="unknown curvature structure 'kronn'.*did you mean 'kron'"):
        inf.compile("I[W;Y|x]", net, curvature="kronn", **kw)
    with pytest.raises(inf.CompileError, match="last_layer=False"):
        inf.compile("I[W;Y|x]", net, train=(Xtr, y), curvature="kron")
    with pytest.raises(inf.CompileError, match="rank of curvature='lowrank'"):
        inf.compile("I[W;Y|x]", net, curvature="kron", rank=5, **kw)
    with pytest.raises(inf.CompileError, match="rank must be an int"):
        inf.compile("I[W;Y|x]", net, curvature="lowrank", rank=10**6, **kw)
    with pytest.raises(inf.CompileError, match=r"prior_precision of shape \[3\].*'kron'"):
        inf.compile("I[W;Y|x]", net, curvature="kron", prior_precision=torch.ones(3), **kw)
    with pytest.raises(inf.CompileError, match="positive"):
        inf.compile("I[W;Y|x]", net, curvature="diag", prior_precision=-1.0, **kw)
    drop = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3)).double().train()
    with pytest.raises(inf.CompileError, match=r"training mode.*Dropout.*network.eval\(\)"):
        inf.compile("I[W;Y|x]", drop, curvature="kron", **kw)
    frozen = mlp(10).requires_grad_(False)
    with pytest.raises(inf.CompileError, match="requires grad"):
        inf.compile("I[W;Y|x]", frozen, curvature="kron", **kw)


class Tied(nn.Module):
    """An encoder whose weight the decoder reuses (weight tying): gradient from outside the layer's forward."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(5, 5)
        self.out = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.enc(x))
        h = torch.tanh(nn.functional.linear(h, self.enc.weight))
        return self.out(h)


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(5, 4, batch_first=True)
        self.out = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.rnn(x[:, None, :])[0][:, -1])


@pytest.mark.parametrize("net", [Tied, Recurrent])
def test_unsupported_layers_are_refused(net: type) -> None:
    torch.manual_seed(0)
    model = net().double().eval()
    Xtr = data(17, 10, False)
    with pytest.raises(inf.CompileError, match="unsupported layer"):
        inf.compile("I[W;Y|x]", model, train=(Xtr, torch.zeros(10).long()), last_layer=False, curvature="kron")


def test_describe_names_the_structure() -> None:
    net = small_cnn(11)
    acq = inf.compile("I[W;Y|x]", net, train=(data(18, 10, True), torch.zeros(10).long()), last_layer=False,
                      curvature="lowrank", rank=12)
    text = str(acq)
    assert "lowrank: top 12 GGN eigenpairs" in text and "no C x P Jacobian" in text and "FLOP" in text


def test_streamed_pools_and_label_checks_follow_the_protocol() -> None:
    """A structured compiled quantity scores a DataLoader like a tensor, and selects from it."""
    from torch.utils.data import DataLoader, TensorDataset

    net = small_cnn(12)
    Xtr, Xp = data(19, 20, True), data(20, 30, True)
    acq = inf.compile("I[W;Y|x]", net, train=(Xtr, torch.zeros(20).long()), last_layer=False, curvature="diag")
    whole = acq(Xp)
    streamed = acq.scores(DataLoader(TensorDataset(Xp), batch_size=7))
    torch.testing.assert_close(streamed, whole, rtol=1e-10, atol=1e-12)
    top = acq.select(DataLoader(TensorDataset(Xp), batch_size=7), 3, strategy="topk")
    assert top.indices.tolist() == torch.argsort(whole, descending=True)[:3].tolist()


def test_structures_over_the_memory_budget_are_refused_and_the_default_falls_back() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(40_000, 3), nn.ReLU(), nn.Linear(3, 3))  # a 40,000 x 40,000 Kronecker factor
    train = (torch.randn(4, 40_000), torch.zeros(4).long())
    with pytest.raises(inf.CompileError, match="GiB budget. Use curvature='diag'"):
        inf.compile("I[W;Y|x]", net, train=train, last_layer=False, curvature="kron")
    with pytest.raises(inf.CompileError, match="smaller rank"):
        inf.compile("I[W;Y|x]", net, train=train, last_layer=False, curvature="lowrank", rank=100_000)
    acq = inf.compile("I[W;Y|x]", net, train=train, last_layer=False)
    assert acq.curvature == "diag" and bool(torch.isfinite(acq(torch.randn(3, 40_000))).all())
