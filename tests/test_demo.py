"""The main job: ``infonotation demo --quick`` end to end, its report, and its numbers recomputed."""

import json

import numpy as np
import pytest
import torch
from scipy import stats

from infonotation.cli import main


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    (out / "notes.txt").write_text("an existing, non-empty folder is fine")
    assert main(["demo", "--out", str(out), "--quick", "--seed", "0"]) == 0
    return out, json.loads((out / "results.json").read_text())


def test_report_files_are_written_and_self_contained(report):
    out, _ = report
    for name in ("report.md", "report.html", "results.json", "correlations.png", "correlations_top.png",
                 "correlations_top_small.png", "bald_eig_scores.png", "active_learning.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "notes.txt").exists()
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 5
    import re

    # nothing is fetched: no external src/href (SVG namespace URIs are names, not requests), no scripts
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page and "<link" not in page
    md = (out / "report.md").read_text()
    assert "I[W;Y|x]" in md and "Spearman" in md and "Active learning" in md


def test_correlation_tables_match_an_independent_recomputation(report):
    _, res = report
    comp = res["comparison"]
    names, scores = comp["names"], {k: np.array(v) for k, v in comp["scores"].items()}
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            rho = stats.spearmanr(scores[a], scores[b]).statistic
            assert comp["spearman_all"][i][j] == pytest.approx(rho, abs=1e-9)
            keep = np.union1d(np.argsort(-scores[a])[: comp["top"]], np.argsort(-scores[b])[: comp["top"]])
            rho_top = stats.spearmanr(scores[a][keep], scores[b][keep]).statistic
            assert comp["spearman_top"][i][j] == pytest.approx(rho_top, abs=1e-9)
            keep = np.union1d(np.argsort(-scores[a])[: comp["top_small"]], np.argsort(-scores[b])[: comp["top_small"]])
            rho_small = stats.spearmanr(scores[a][keep], scores[b][keep]).statistic
            assert comp["spearman_top_small"][i][j] == pytest.approx(rho_small, abs=1e-9)


def test_trace_bound_dominates_the_logdet_for_every_candidate(report):
    _, res = report
    s = res["comparison"]["scores"]
    assert np.all(np.array(s["EIG Trace"]) >= np.array(s["EIG LogDet"]) - 1e-9)  # log(1 + t) <= t
    assert np.all(np.array(s["EIG LogDet"]) >= 0)


def test_bald_in_the_report_equals_the_entropy_formula_on_recomputed_samples(report):
    """Retrain the (deterministic) network, redraw the MC-dropout samples, apply the BALD formula by hand."""
    from infonotation.acquisition import mc_dropout_log_probs
    from infonotation.demo.data import load_digits_split
    from infonotation.demo.run import CONFIGS
    from infonotation.demo.train import train_mlp

    _, res = report
    cfg = CONFIGS["quick"]
    data = load_digits_split(0, cfg["n_train"], cfg["n_pool"], cfg["n_test"])
    net = train_mlp(data.X[data.train], data.y[data.train], seed=0, epochs=cfg["epochs"])
    p = mc_dropout_log_probs(net, data.X[data.pool], cfg["mc_samples"], seed=0).exp().numpy()  # [N, K, C]
    mean = p.mean(1)
    entropy_of_mean = -(mean * np.log(np.where(mean > 0, mean, 1))).sum(-1)
    mean_entropy = -(p * np.log(np.where(p > 0, p, 1))).sum(-1).mean(1)
    np.testing.assert_allclose(res["comparison"]["scores"]["BALD"], entropy_of_mean - mean_entropy, atol=1e-10)


def test_active_learning_curves_are_complete(report):
    _, res = report
    loop = res["active_learning"]
    cfg = res["config"]
    for name in cfg["methods"]:
        r = loop["methods"][name]
        assert r["labels"] == [cfg["initial"] + i * cfg["per_round"] for i in range(cfg["rounds"] + 1)]
        acc = np.array(r["accuracy"])
        assert acc.shape == (cfg["seeds"], cfg["rounds"] + 1) and np.all((acc > 0.1) & (acc <= 1))
    import infonotation as inf

    for info in res["methods"].values():  # each derivation starts from the method's notation
        assert inf.parse(info["derivation"].splitlines()[0]) == inf.parse(info["notation"])


def test_another_seed_changes_the_numbers(report, tmp_path):
    from infonotation.demo import run_demo

    _, res0 = report
    torch.manual_seed(123)
    res1 = run_demo(tmp_path, seed=1, quick=True)
    assert res1["comparison"]["scores"]["BALD"] != res0["comparison"]["scores"]["BALD"]
    assert res1["comparison"]["spearman_all"] != res0["comparison"]["spearman_all"]


def test_the_html_report_says_what_the_markdown_says(report):
    out, res = report
    page = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    comp = res["comparison"]
    setup = f"{comp['n_pool']} pool candidates, a network trained on {comp['n_train']} labels"
    for text in (setup, "Run time:", "± is the standard deviation over the seeds", "Configuration",
                 f"top {comp['top_small']} candidates"):
        assert text in page and text in md, text
    for key in res["config"]:  # every configuration entry, in the page
        assert f"<th>{key}</th>" in page, key
    # the random baseline is described, not shown as a bare 0 (notation, formula and derivation)
    random_section = page.split("<h3>random</h3>", 1)[1].split("<h3>", 1)[0]
    assert "uniformly random" in random_section and "<code>0</code>" not in random_section
    assert "<pre>0</pre>" not in page


def test_whole_network_row_compares_kron_with_bald_and_the_last_layer(report):
    """The CNN's scores: the correlation tables recomputed, and the whole-network EIG ranking like the last layer's."""
    _, res = report
    w = res["whole_network"]
    assert w["names"] == ["BALD", "EIG LogDet (last layer)", "EIG LogDet (whole network, kron)",
                          "EIG LogDet (whole network, diag)"]
    scores = {k: np.array(v) for k, v in w["scores"].items()}
    for i, a in enumerate(w["names"]):
        for j, b in enumerate(w["names"]):
            assert w["spearman_all"][i][j] == pytest.approx(stats.spearmanr(scores[a], scores[b]).statistic, abs=1e-9)
    assert all(np.all(scores[n] >= 0) for n in w["names"][1:])
    assert w["spearman_all"][2][1] > 0.5  # over all weights or the last layer: the same candidates stand out
    assert w["parameters"] > 3000 and w["test_accuracy"] > 0.3
    assert "Whole network: a CNN with Kronecker-factored curvature" in (report[0] / "report.md").read_text()
