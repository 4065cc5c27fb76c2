"""The registry ``inf.methods``: derivations, scores against direct computations, selection and bad input."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import infonotation as inf
from infonotation.acquisition.embeddings import badge_embeddings, gradient_embeddings
from infonotation.acquisition.methods import Acquirer, Method, UnknownMethodError, methods
from infonotation.errors import CompileError

f64 = torch.float64

ALL = [
    "random", "bald", "batchbald", "eig_logdet", "eig_trace", "epig", "jepig", "badge", "badge_logdet", "bait",
    "logdet", "logdetmi", "grand", "el2n", "ig", "pig",
]
NEEDS_EVAL = {"epig", "jepig", "bait", "logdetmi", "pig"}
NEEDS_LABELS = {"grand", "el2n", "ig", "pig"}


@pytest.fixture(scope="module")
def digits() -> dict:
    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16.0, dtype=f64)
    y = torch.tensor(y)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 12), nn.ReLU(), nn.Linear(12, 10)).double()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(net(X[:150]), y[:150]).backward()
        opt.step()
    return {"net": net, "train": (X[:40], y[:40]), "pool": X[300:336], "y_pool": y[300:336], "eval": X[500:504]}


def kwargs_for(name: str, d: dict) -> dict:
    return {"train": d["train"], "eval": d["eval"] if name in NEEDS_EVAL else None}


# -- the registry -----------------------------------------------------------------------------------


def test_registry_access_and_fields() -> None:
    assert list(methods) == ALL
    assert len(methods) == len(ALL)
    assert methods.bald is methods["bald"] and "bald" in methods and "nope" not in methods
    for name, m in methods.items():
        assert isinstance(m, Method) and m.name == name
        assert m.space in ("prediction", "weight", "none")
        assert m.labels == (name in NEEDS_LABELS)
        assert m.needs_eval == (name in NEEDS_EVAL)
        assert m.summary.endswith(".") and len(m.summary) > 30
        assert any(ch.isdigit() for ch in m.reference) or name == "random"
        assert inf.parse(m.notation) == m.quantity
    with pytest.raises(UnknownMethodError, match="did you mean bald"):
        methods["badl"]
    with pytest.raises(KeyError):
        methods["badl"]
    with pytest.raises(AttributeError, match="batchbald"):
        methods.batchbal  # noqa: B018


# the expected end of every derivation, written from the paper's formulas (R8, R9, R17-R25, R28, R29)
EXPECTED = {
    "random": "0",
    "bald": "H[Y|x] - H[Y|x,W]",
    "batchbald": "H[Y_B|x_B] - H[Y_B|x_B,W]",
    "eig_logdet": "1/2 * logdet(H''[Y_B|x_B,w*] @ H''[w*]^-1 + Id)",
    "eig_trace": "1/2 * tr(H''[Y_B|x_B,w*] @ H''[w*]^-1)",
    "epig": "H[Y_eval|x,X_eval] + H[Y|x,X_eval] - H[Y_eval,Y|x,X_eval]",
    "jepig": "1/2 * logdet(H''[Y_eval|x_eval,w*] @ H''[w*]^-1 + Id)"
             " - 1/2 * logdet(H''[Y_eval|x_eval,w*] @ (H''[Y_B|x_B,w*] + H''[w*])^-1 + Id)",
    # BADGE/LogDet: the Gram (sample-space) form after the determinant lemma (R23, R24)
    "badge": "1/2 * logdet(H'[y_B|x_B,w_L*] @ (lambda * Id)^-1 @ H'[y_B|x_B,w_L*]^T + Id)",
    "badge_logdet": "1/2 * logdet(H'[y_B|x_B,w_L*] @ (lambda * Id)^-1 @ H'[y_B|x_B,w_L*]^T + Id)",
    "logdet": "1/2 * logdet(H'[y_B|x_B,w_L*] @ (lambda * Id)^-1 @ H'[y_B|x_B,w_L*]^T + Id)",
    # BAIT: the trace bound applies to the positively signed log-det; BAIT minimises the trace of the other one
    "bait": "1/2 * tr(H''[Y_eval|x_eval,w_L*] @ H''[w_L*]^-1)"
            " - 1/2 * logdet(H''[Y_eval|x_eval,w_L*] @ (H''[Y_B|x_B,w_L*] + H''[w_L*])^-1 + Id)",
    "logdetmi": "1/2 * logdet(H''[Y_eval|x_eval,w_L*] @ (lambda * Id)^-1 + Id)"
                " - 1/2 * logdet(H''[Y_eval|x_eval,w_L*] @ (H''[Y_B|x_B,w_L*] + lambda * Id)^-1 + Id)",
    "grand": "1/2 * tr(H'[y|x,w*]^T @ H'[y|x,w*] @ (lambda * Id)^-1)",
    "el2n": "1/2 * tr(H'[y|x,w_L*]^T @ H'[y|x,w_L*] @ (lambda * Id)^-1)",
    "ig": "1/2 * logdet(H''[y|x,w*] @ H''[w*]^-1 + Id)",
    "pig": "H[Y_eval|X_eval] - H[Y_eval|y,x,X_eval]",
}
@pytest.mark.parametrize("name", ALL)
def test_derivation_ends_at_the_expected_expression(name: str) -> None:
    m = methods[name]
    d = m.derivation()
    assert d.start == inf.parse(m.notation)
    assert d.result == inf.parse(EXPECTED[name]), str(d)
    assert {s.rule for s in d.steps} >= set(m.using)


# -- every method on a small digits MLP -------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_every_method_selects_k_distinct_valid_indices(name: str, digits: dict) -> None:
    acq = methods[name].compile(digits["net"], **kwargs_for(name, digits))
    assert isinstance(acq, Acquirer)
    y = digits["y_pool"] if name in NEEDS_LABELS else None
    n = digits["pool"].shape[0]
    s = acq.scores(digits["pool"], y)
    assert s.shape == (n,) and s.dtype == f64 and bool(torch.isfinite(s).all())
    sel = acq.select(digits["pool"], 4, y_pool=y)
    idx = sel.indices
    assert idx.dtype == torch.long and idx.shape == (4,) and sel.scores.shape == (4,)
    assert len(set(idx.tolist())) == 4 and 0 <= int(idx.min()) and int(idx.max()) < n
    assert acq.select(digits["pool"], 4, y_pool=y).indices.tolist() == idx.tolist()  # deterministic
    with pytest.raises(CompileError, match="k = 37"):
        acq.select(digits["pool"], n + 1, y_pool=y)


# -- BADGE embeddings, GraNd and EL2N against autograd and direct formulas ---------------------------


def autograd_last_layer_grads(net: nn.Sequential, X: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    last = net[-1]
    rows = []
    for i in range(X.shape[0]):
        logits = net(X[i : i + 1])
        y = logits.argmax(-1) if labels is None else labels[i : i + 1]
        loss = nn.functional.cross_entropy(logits, y)
        gW, gb = torch.autograd.grad(loss, [last.weight, last.bias])
        rows.append(torch.cat([gW, gb[:, None]], 1).flatten())
    return torch.stack(rows)


def test_badge_embeddings_are_last_layer_gradients_at_the_pseudo_label(digits: dict) -> None:
    net, X = digits["net"], digits["pool"][:12]
    truth = autograd_last_layer_grads(net, X, None)
    torch.testing.assert_close(badge_embeddings(net, X), truth, rtol=1e-10, atol=1e-12)
    # the same with given labels, and the pure formula (p - onehot) ⊗ [z; 1]
    y = digits["y_pool"][:12]
    with torch.no_grad():
        z = net[:-1](X)
        p = torch.softmax(net[-1](z), -1)
    torch.testing.assert_close(gradient_embeddings(p, z, y), autograd_last_layer_grads(net, X, y), rtol=1e-10,
                               atol=1e-12)
    # BADGE's per-point proxy is the embedding norm
    torch.testing.assert_close(methods.badge.compile(net).scores(X), truth.norm(dim=1), rtol=1e-10, atol=1e-12)
    # and the first k-means++ centre is the largest embedding
    assert int(methods.badge.compile(net).select(X, 3).indices[0]) == int(truth.norm(dim=1).argmax())


def test_grand_and_el2n_against_direct_computations_t19(digits: dict) -> None:
    net, X, y = digits["net"], digits["pool"][:10], digits["y_pool"][:10]
    with torch.no_grad():
        logits = net(X)
        z = net[:-1](X)
    err = (torch.softmax(logits, -1) - nn.functional.one_hot(y, 10).to(f64)).norm(dim=1)
    el2n = methods.el2n.compile(net).scores(X, y)
    torch.testing.assert_close(el2n, err, rtol=1e-10, atol=1e-12)
    # T19: last-layer gradient norm = ||p - e_y|| ||[z; 1]||
    grand_ll = methods.grand.compile(net).scores(X, y)
    za = torch.cat([z, torch.ones(10, 1, dtype=f64)], 1)
    torch.testing.assert_close(grand_ll, err * za.norm(dim=1), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grand_ll, autograd_last_layer_grads(net, X, y).norm(dim=1), rtol=1e-10, atol=1e-12)
    # whole network (torch.func): the norm of the full per-sample gradient, by autograd point by point
    full = []
    for i in range(10):
        loss = nn.functional.cross_entropy(net(X[i : i + 1]), y[i : i + 1])
        grads = torch.autograd.grad(loss, list(net.parameters()))
        full.append(torch.cat([g.flatten() for g in grads]).norm())
    grand = methods.grand.compile(net, last_layer=False).scores(X, y)
    torch.testing.assert_close(grand, torch.stack(full), rtol=1e-9, atol=1e-12)
    # ensembles: the mean over members (GraNd/EL2N average over networks)
    torch.manual_seed(1)
    other = nn.Sequential(nn.Linear(64, 12), nn.ReLU(), nn.Linear(12, 10)).double()
    with torch.no_grad():
        err2 = (torch.softmax(other(X), -1) - nn.functional.one_hot(y, 10).to(f64)).norm(dim=1)
    torch.testing.assert_close(methods.el2n.compile([net, other]).scores(X, y), (err + err2) / 2)
    assert methods.el2n.compile(net).select(X, 3, y_pool=y).indices.tolist() == \
        torch.sort(err, descending=True).indices[:3].tolist()


def test_eig_trace_scores_and_the_top_k_insight_t8(digits: dict) -> None:
    """Dense 1/2 tr(F_x H^-1) with F_x = (diag p - pp^T) ⊗ [z;1][z;1]^T; greedy on the trace == top-k (T8)."""
    net, (Xtr, ytr), X = digits["net"], digits["train"], digits["pool"]

    def fishers(X: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            z = net[:-1](X)
            p = torch.softmax(net[-1](z), -1)
        za = torch.cat([z, torch.ones(len(X), 1, dtype=f64)], 1)
        return torch.stack([torch.kron(torch.diag(a) - torch.outer(a, a), torch.outer(b, b)) for a, b in zip(p, za)])

    H = fishers(Xtr).sum(0) + 2.0 * torch.eye(130, dtype=f64)
    truth = 0.5 * torch.einsum("nij,ji->n", fishers(X), torch.linalg.inv(H))
    acq = methods.eig_trace.compile(net, train=(Xtr, ytr), prior_precision=2.0)
    torch.testing.assert_close(acq.scores(X), truth, rtol=1e-8, atol=1e-12)
    top = acq.select(X, 6).indices
    assert top.tolist() == torch.sort(truth, descending=True).indices[:6].tolist()
    greedy = inf.compile("I[W;Y_B|x_B]", net, train=(Xtr, ytr), prior_precision=2.0,
                         using=["gaussian", "ggn", "eig_logdet", "trace"]).select(X, 6, "greedy").indices
    assert sorted(greedy.tolist()) == sorted(top.tolist())
    # the log-det objective is not additive: its greedy batch differs from its top-k here
    logdet = methods.eig_logdet.compile(net, train=(Xtr, ytr), prior_precision=2.0)
    s = logdet.scores(X)
    torch.testing.assert_close(s, 0.5 * torch.logdet(torch.eye(130, dtype=f64) + fishers(X) @ torch.linalg.inv(H)))


def test_logdet_method_is_the_brute_force_greedy_on_gradient_similarities(digits: dict) -> None:
    net, X = digits["net"], digits["pool"][:14]
    G = autograd_last_layer_grads(net, X, None)
    S = G @ G.T
    lam = 0.5
    chosen: list[int] = []
    for _ in range(4):
        vals = {j: torch.logdet(S[chosen + [j]][:, chosen + [j]] + lam * torch.eye(len(chosen) + 1, dtype=f64))
                for j in range(14) if j not in chosen}
        chosen.append(max(vals, key=lambda j: float(vals[j])))
    assert methods.logdet.compile(net, prior_precision=lam).select(X, 4).indices.tolist() == chosen
    assert methods.badge_logdet.compile(net, eps=lam).select(X, 4).indices.tolist() == chosen
    scores = methods.logdet.compile(net, prior_precision=lam).scores(X)
    torch.testing.assert_close(scores, torch.log(S.diagonal() + lam))


def test_logdetmi_method_is_twice_the_gaussian_mi_with_the_query_set(digits: dict) -> None:
    net, X, Xe = digits["net"], digits["pool"][:10], digits["eval"]
    G, Gq = autograd_last_layer_grads(net, X, None), autograd_last_layer_grads(net, Xe, None)
    Gall = torch.cat([G, Gq])
    Sp = Gall @ Gall.T + 1.0 * torch.eye(14, dtype=f64)
    Q = list(range(10, 14))
    acq = methods.logdetmi.compile(net, eval=Xe)
    idx = acq.select(X, 3).indices.tolist()
    A = idx
    mi2 = torch.logdet(Sp[A][:, A]) + torch.logdet(Sp[Q][:, Q]) - torch.logdet(Sp[A + Q][:, A + Q])
    best_first = max(range(10), key=lambda j: float(torch.logdet(Sp[[j]][:, [j]]) - torch.logdet(
        Sp[[j] + Q][:, [j] + Q]) + torch.logdet(Sp[Q][:, Q])))
    assert idx[0] == best_first
    assert float(mi2) > 0
    singles = torch.stack([torch.log(Sp[j, j]) + torch.logdet(Sp[Q][:, Q]) - torch.logdet(Sp[[j] + Q][:, [j] + Q])
                           for j in range(10)])
    torch.testing.assert_close(acq.scores(X), singles, rtol=1e-8, atol=1e-10)


def test_prediction_space_methods_use_the_posterior_samples(digits: dict) -> None:
    """BALD/EPIG/PIG from the registry equal the estimators on the same samples; dropout and ensembles work."""
    net, (Xtr, ytr), X, Xe = digits["net"], digits["train"], digits["pool"][:12], digits["eval"]
    from infonotation.acquisition import bald, ensemble_log_probs, epig, mc_dropout_log_probs

    torch.manual_seed(2)
    drop = nn.Sequential(nn.Linear(64, 12), nn.ReLU(), nn.Dropout(0.3), nn.Linear(12, 10)).double()
    lp = mc_dropout_log_probs(drop, X, 7, seed=5)
    torch.testing.assert_close(methods.bald.compile(drop, num_samples=7, seed=5).scores(X), bald(lp))
    lpe = mc_dropout_log_probs(drop, Xe, 7, seed=5)
    torch.testing.assert_close(methods.epig.compile(drop, eval=Xe, num_samples=7, seed=5).scores(X), epig(lp, lpe))
    ens = [net, drop]
    torch.testing.assert_close(methods.bald.compile(ens).scores(X), bald(ensemble_log_probs(ens, X)))
    # Laplace samples: a larger prior precision shrinks the posterior, and with it BALD
    wide = methods.bald.compile(net, train=(Xtr, ytr), prior_precision=1.0, num_samples=30).scores(X)
    narrow = methods.bald.compile(net, train=(Xtr, ytr), prior_precision=1e4, num_samples=30).scores(X)
    assert float(narrow.mean()) < 0.1 * float(wide.mean())
    # the first BatchBALD pick is the BALD argmax
    bb = methods.batchbald.compile(drop, num_samples=7, seed=5)
    assert int(bb.select(X, 2).indices[0]) == int(bald(lp).argmax())


def test_random_is_uniform_and_seeded(digits: dict) -> None:
    X = torch.zeros(10, 64, dtype=f64)
    net = digits["net"]
    a = methods.random.compile(net, seed=4).select(X, 3).indices
    assert a.tolist() == methods.random.compile(net, seed=4).select(X, 3).indices.tolist()
    trials = 2000
    counts = torch.zeros(10)
    batches = set()
    for s in range(trials):
        idx = methods.random.compile(net, seed=s).select(X, 3).indices
        counts[idx] += 1
        batches.add(tuple(sorted(idx.tolist())))
    p = 0.3
    sd = (trials * p * (1 - p)) ** 0.5
    assert bool(((counts - trials * p).abs() < 4 * sd).all()), counts
    assert len(batches) > 100  # most of the 120 subsets of size 3 occur


def test_ig_and_pig_with_labels(digits: dict) -> None:
    net, (Xtr, ytr), X, y, Xe = digits["net"], digits["train"], digits["pool"][:8], digits["y_pool"][:8], digits["eval"]
    # last layer: a GLM, so the observed information equals the Fisher and IG equals the EIG log-det (R14)
    ig = methods.ig.compile(net, train=(Xtr, ytr)).scores(X, y)
    eig = methods.eig_logdet.compile(net, train=(Xtr, ytr)).scores(X)
    torch.testing.assert_close(ig, eig)
    from infonotation.acquisition import mc_dropout_log_probs, predictive_information_gain

    torch.manual_seed(3)
    drop = nn.Sequential(nn.Linear(64, 12), nn.ReLU(), nn.Dropout(0.3), nn.Linear(12, 10)).double()
    pig = methods.pig.compile(drop, eval=Xe, num_samples=6, seed=1).scores(X, y)
    truth = predictive_information_gain(mc_dropout_log_probs(drop, X, 6, seed=1), y,
                                        mc_dropout_log_probs(drop, Xe, 6, seed=1))
    torch.testing.assert_close(pig, truth)


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(NEEDS_EVAL))
def test_missing_eval_set_raises(name: str, digits: dict) -> None:
    with pytest.raises(CompileError, match="eval"):
        methods[name].compile(digits["net"], train=digits["train"])


@pytest.mark.parametrize("name", sorted(NEEDS_LABELS))
def test_missing_labels_raise(name: str, digits: dict) -> None:
    acq = methods[name].compile(digits["net"], **kwargs_for(name, digits))
    with pytest.raises(CompileError, match="y_pool"):
        acq.scores(digits["pool"])
    with pytest.raises(CompileError, match="y_pool"):
        acq.select(digits["pool"], 2)
    with pytest.raises(CompileError, match="shape"):
        acq.scores(digits["pool"], digits["y_pool"][:3])


def test_other_bad_inputs(digits: dict) -> None:
    net = digits["net"]
    with pytest.raises(CompileError, match="no option"):
        methods.bald.compile(net, eps=1.0)
    with pytest.raises(CompileError, match="one network"):
        methods.eig_logdet.compile([net, net])
    with pytest.raises(CompileError, match="torch.nn.Module"):
        methods.bald.compile("net")  # type: ignore[arg-type]
    with pytest.raises(CompileError, match="num_samples"):
        methods.bald.compile(net, num_samples=0)
    with pytest.raises(CompileError, match="posterior"):
        methods.bald.compile(net, posterior="magic")
    with pytest.raises(CompileError, match="dropout"):
        methods.bald.compile(net, posterior="dropout")
    with pytest.raises(CompileError, match="pool"):
        methods.epig.compile(net, eval="pool")
    with pytest.raises(CompileError, match="train"):
        methods.bald.compile(net, train=digits["pool"])  # type: ignore[arg-type]
    acq = methods.badge.compile(net)
    with pytest.raises(CompileError, match="k must be an int"):
        acq.select(digits["pool"], 2.0)  # type: ignore[arg-type]
    assert acq.select(digits["pool"], 0).indices.shape == (0,)  # an empty batch is a valid request
    with pytest.raises(CompileError, match="k must be >= 0"):
        acq.select(digits["pool"], -1)
    with pytest.raises(CompileError, match="X_pool"):
        acq.scores([[0.0]])  # type: ignore[arg-type]
    with pytest.raises(CompileError, match="NaN"):
        acq.scores(torch.full((3, 64), float("nan"), dtype=f64))
    with pytest.raises(CompileError, match="class labels"):
        methods.el2n.compile(net).scores(digits["pool"][:3], torch.tensor([0, 1, 10]))
