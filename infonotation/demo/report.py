"""The demo's report: PNG figures, ``report.md``, a self-contained ``report.html`` and ``results.json``.

Equations in the HTML are rendered offline by matplotlib's mathtext into inline SVG, so the page needs
no network access (no MathJax); the Unicode form is shown beside each.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path

import numpy as np

__all__ = ["figures", "write_report", "render_math"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _mathtext(latex: str) -> str:
    s = latex
    for a, b in ((r"\operatorname{tr}", r"\mathrm{tr}"), (r"\lesssim", r"\leq"), (r"\implies", r"\Rightarrow"),
                 (r"\iff", r"\Leftrightarrow"), (r"\left(", "("), (r"\right)", ")"), (r"\left[", "["),
                 (r"\right]", "]"), (r"\text{", r"\mathrm{"), (r"\le ", r"\leq "), (r"\ge ", r"\geq ")):
        s = s.replace(a, b)
    s = re.sub(r"\\mathit\{([^}]*)\}", r"\1", s)
    return s


def render_math(latex: str) -> str | None:
    """Inline SVG of a one-line LaTeX formula (matplotlib mathtext), or None when it cannot be drawn."""
    plt = _plt()
    try:
        fig = plt.figure(figsize=(0.01, 0.01))
        fig.text(0, 0, f"${_mathtext(latex)}$", fontsize=13)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight", pad_inches=0.05, transparent=True)
        plt.close(fig)
    except Exception:  # noqa: BLE001 - mathtext covers a subset of LaTeX; fall back to Unicode
        plt.close("all")
        return None
    svg = buf.getvalue()
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg[svg.index("<svg"):], flags=re.S)
    return svg


#: correlation matrix -> figure file name (without .png)
_FIGURE_OF = {"spearman_all": "correlations", "spearman_top": "correlations_top",
              "spearman_top_small": "correlations_top_small"}


def _correlation_figures(comp: dict) -> list[tuple[str, str]]:
    """(matrix key, title) of the three correlation matrices, in the order the report shows them."""
    return [("spearman_all", "all candidates"),
            ("spearman_top", f"union of each pair's top {comp['top']} candidates"),
            ("spearman_top_small",
             f"union of each pair's top {comp['top_small']} candidates (where acquisition picks)")]


def _heatmap(plt, m: np.ndarray, names: list[str], title: str, path: Path) -> None:
    """One correlation matrix with its own colour scale: from its smallest off-diagonal value (rounded down to a
    multiple of 0.05) to 1, so that 0.83 and 1.00 look different; the numbers are printed in every cell."""
    off = m[~np.eye(len(names), dtype=bool)]
    lo = float(np.floor(np.nanmin(off) / 0.05) * 0.05) if off.size else 0.0
    lo = min(lo, 0.95)
    fig, ax = plt.subplots(figsize=(7.6, 6.2), constrained_layout=True)
    im = ax.imshow(m, vmin=lo, vmax=1.0, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=9)
    ax.set_yticks(range(len(names)), names, fontsize=9)
    for i in range(len(names)):
        for j in range(len(names)):
            shade = (m[i, j] - lo) / (1.0 - lo)
            ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=9,
                    color="black" if shade > 0.55 else "white")
    ax.set_title(f"Spearman rank correlation,\n{title}", fontsize=11)
    fig.colorbar(im, ax=ax, shrink=0.85, label=f"Spearman (scale {lo:.2f} to 1)")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def figures(results: dict, out: Path) -> list[Path]:
    """Draw the figures the reader needs; return their paths."""
    plt = _plt()
    paths = []
    comp = results.get("comparison")
    if comp:
        names = comp["names"]
        for key, title in _correlation_figures(comp):
            if key in comp:
                p = out / f"{_FIGURE_OF[key]}.png"
                _heatmap(plt, np.array(comp[key]), names, title, p)
                paths.append(p)

        scores = {k: np.array(v) for k, v in comp["scores"].items()}
        rank = lambda v: np.argsort(np.argsort(-v))  # noqa: E731 - 0 is the highest score
        order = np.argsort(rank(scores["BALD"]) + rank(scores["EIG LogDet"]), kind="stable")
        fig, ax = plt.subplots(figsize=(9, 4.5))
        for name in ("BALD", "EIG LogDet", "EIG Trace"):
            ax.plot(np.arange(len(order)), scores[name][order], ".", ms=3, label=name)
        ax.set_yscale("log")
        ax.set_xlabel("candidates sorted by average rank (BALD, EIG LogDet)")
        ax.set_ylabel("score (nats)")
        ax.set_title("Prediction-space BALD against weight-space EIG (log-det and trace bound)")
        ax.legend()
        p = out / "bald_eig_scores.png"
        fig.savefig(p, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(p)
    loop = results.get("active_learning")
    if loop:
        fig, ax = plt.subplots(figsize=(9, 5.5))
        for name, r in loop["methods"].items():
            acc = np.array(r["accuracy"])
            mean, std = acc.mean(0), acc.std(0)
            ax.plot(r["labels"], mean, marker="o", ms=3, label=name)
            ax.fill_between(r["labels"], mean - std, mean + std, alpha=0.15)
        ax.set_xlabel("number of labels")
        ax.set_ylabel("test accuracy")
        n_seeds = len(loop["seeds"])
        ax.set_title(f"Active learning on the digits (mean ± standard deviation over {n_seeds} "
                     f"seed{'s' if n_seeds != 1 else ''})")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        p = out / "active_learning.png"
        fig.savefig(p, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(p)
    return paths


def _table_md(names: list[str], m: list[list[float]]) -> str:
    head = "| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names) + "\n"
    rows = "".join(f"| {n} | " + " | ".join(f"{v:.3f}" for v in row) + " |\n" for n, row in zip(names, m))
    return head + rows


def _accuracy_rows(loop: dict) -> tuple[list[int], list[tuple[str, list[str]]]]:
    """Columns: 100 labels (when reached) and the final count; cells 'mean ± std' over seeds."""
    labels = next(iter(loop["methods"].values()))["labels"]
    cols = sorted({n for n in (100, labels[-1]) if n in labels})
    rows = []
    for name, r in loop["methods"].items():
        acc = np.array(r["accuracy"])
        cells = [f"{acc[:, labels.index(n)].mean():.3f} ± {acc[:, labels.index(n)].std():.3f}" for n in cols]
        rows.append((name, cells))
    return cols, rows


def _final_accuracy_md(loop: dict) -> str:
    cols, rows = _accuracy_rows(loop)
    lines = ["| method | " + " | ".join(f"accuracy at {n} labels" for n in cols) + " |",
             "|---|" + "---|" * len(cols)]
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows]
    return "\n".join(lines) + "\n"


PLUS_MINUS = "± is the standard deviation over the seeds (population, ddof = 0), after the mean."


def _setup_sentences(results: dict) -> dict[str, str]:
    """The set-up paragraphs shared by ``report.md`` and ``report.html`` (plain text)."""
    cfg = results["config"]
    out = {"data": ("Data: scikit-learn's handwritten digits (1,797 8x8 images, 10 classes), bundled with "
                    "scikit-learn: no download. A small MLP (64-128-10 with dropout 0.5) is trained from scratch "
                    f"for {cfg['epochs']} epochs with Adam; the prior precision is {cfg['prior_precision']:g}.")}
    comp = results.get("comparison")
    if comp:
        out["comparison"] = (
            f"{comp['n_pool']} pool candidates, a network trained on {comp['n_train']} labels (test accuracy "
            f"{comp.get('test_accuracy', float('nan')):.3f}), {comp['num_samples']} MC-dropout samples, last-layer "
            f"GGN with {comp['parameters']} parameters, {comp['n_eval']} evaluation points. Weight-space predictive "
            "proxies are negated (higher is better). \"Top\" means the highest scores.")
    loop = results.get("active_learning")
    if loop:
        n_methods = len(loop["methods"])
        out["loop"] = (
            f"{n_methods} methods x {len(loop['seeds'])} seed(s) x {cfg['rounds']} rounds: start from "
            f"{cfg['initial']} labels, acquire {cfg['per_round']} per round from a pool of {cfg['n_pool']}, retrain "
            f"from scratch, test on {cfg['n_test']} held-out digits; {cfg['loop_samples']} posterior samples per "
            f"round. {PLUS_MINUS}")
    return out


def _is_baseline(info: dict) -> bool:
    return info.get("notation", "").strip() == "0"


_BASELINE = ("No information quantity: every pool point gets a seeded uniform random score, so the batch is a "
             "uniformly random sample (the baseline the other methods must beat).")


_WHOLE = ("The same digits as 1 x 8 x 8 images, a small CNN ({parameters} parameters, test accuracy "
          "{test_accuracy:.3f}) trained on the same labels. BALD from MC-dropout samples; the EIG "
          "1/2 logdet(Id + L^T J S J^T L) with the posterior covariance S over the last layer, over all weights with "
          "the Kronecker-factored posterior (inf.compile(..., last_layer=False, curvature='kron'), per point J S J^T "
          "from each layer's inputs and output gradients) and over all weights with the diagonal posterior "
          "(curvature='diag').")


def write_report(results: dict, out: Path) -> list[Path]:
    """Write ``results.json``, the figures, ``report.md`` and ``report.html`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    pngs = figures(results, out)
    text = _setup_sentences(results)
    md = [f"# infonotation demo report (seed {results['config']['seed']})", "", text["data"], "",
          f"Configuration: `{json.dumps(results['config'])}`", "", f"Run time: {results['seconds']:.1f} s.", ""]
    md += ["## Methods, their notation and derivations", ""]
    for name, info in results["methods"].items():
        if _is_baseline(info):
            md += [f"### {name}", "", _BASELINE, ""]
            continue
        md += [f"### {name}", "", f"Notation: `{info['notation']}`", "", "```", info["derivation"], "```", ""]
    comp = results.get("comparison")
    if comp:
        md += ["## Prediction space against weight space", "", text["comparison"],
               "", "Spearman rank correlation over all candidates:", "", _table_md(comp["names"],
                                                                                 comp["spearman_all"]),
               "![correlations](correlations.png)", "",
               f"Over the union of each pair's top {comp['top']} candidates:", "",
               _table_md(comp["names"], comp["spearman_top"]), "![correlations, top](correlations_top.png)", "",
               f"Over the union of each pair's top {comp['top_small']} candidates (where acquisition picks):", "",
               _table_md(comp["names"], comp["spearman_top_small"]),
               "![correlations, top (small)](correlations_top_small.png)", "", "![scores](bald_eig_scores.png)", ""]
    whole = results.get("whole_network")
    if whole:
        md += ["## Whole network: a CNN with Kronecker-factored curvature", "", _WHOLE.format(**whole), "",
               "Spearman rank correlation over all candidates:", "", _table_md(whole["names"], whole["spearman_all"]),
               "", f"Over the union of each pair's top {whole['top']} candidates:", "",
               _table_md(whole["names"], whole["spearman_top"]), "",
               f"Over the union of each pair's top {whole['top_small']} candidates:", "",
               _table_md(whole["names"], whole["spearman_top_small"]), ""]
    loop = results.get("active_learning")
    if loop:
        md += ["## Active learning", "", text["loop"], "", _final_accuracy_md(loop),
               "![active learning](active_learning.png)", ""]
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
    (out / "report.html").write_text(_html(results, pngs), encoding="utf-8")
    return [out / "results.json", out / "report.md", out / "report.html", *pngs]


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<p><img alt="{path.stem}" src="data:image/png;base64,{data}" style="max-width:100%"></p>'


def _table_html(names: list[str], m: list[list[float]]) -> str:
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(n)}</th>" for n in names) + "</tr>"
    rows = "".join("<tr><th>" + html.escape(n) + "</th>" + "".join(f"<td>{v:.3f}</td>" for v in row) + "</tr>"
                   for n, row in zip(names, m))
    return f"<table>{head}{rows}</table>"


def _config_html(cfg: dict) -> str:
    def cell(v: object) -> str:
        return html.escape(", ".join(map(str, v)) if isinstance(v, list) else str(v))

    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{cell(v)}</td></tr>" for k, v in cfg.items())
    return f"<table class='config'>{rows}</table>"


def _html(results: dict, pngs: list[Path]) -> str:
    by_name = {p.stem: p for p in pngs}
    text = _setup_sentences(results)
    parts = [f"<h1>infonotation demo report (seed {results['config']['seed']})</h1>",
             f"<p>{html.escape(text['data'])} Everything on this page is embedded; it needs no network.</p>",
             f"<p>Run time: {results['seconds']:.1f} s.</p>",
             "<details open><summary>Configuration</summary>", _config_html(results["config"]), "</details>",
             "<h2>Methods, their notation and derivations</h2>"]
    for name, info in results["methods"].items():
        if _is_baseline(info):
            parts.append(f"<h3>{html.escape(name)}</h3><p>{html.escape(_BASELINE)}</p>")
            continue
        svg = render_math(info["latex"]) if info.get("latex") else None
        parts.append(f"<h3>{html.escape(name)}</h3><p><code>{html.escape(info['notation'])}</code></p>")
        if svg:
            parts.append(f"<div class='math'>{svg}</div>")
        parts.append(f"<pre>{html.escape(info['derivation_unicode'])}</pre>")
    comp = results.get("comparison")
    if comp:
        parts += ["<h2>Prediction space against weight space</h2>", f"<p>{html.escape(text['comparison'])}</p>"]
        for key, title in _correlation_figures(comp):
            parts += [f"<h3>Spearman rank correlation, {html.escape(title)}</h3>",
                      _table_html(comp["names"], comp[key])]
            if _FIGURE_OF[key] in by_name:
                parts.append(_img(by_name[_FIGURE_OF[key]]))
        if "bald_eig_scores" in by_name:
            parts += ["<h3>BALD against the weight-space EIG, candidate by candidate</h3>",
                      _img(by_name["bald_eig_scores"])]
    whole = results.get("whole_network")
    if whole:
        parts += ["<h2>Whole network: a CNN with Kronecker-factored curvature</h2>",
                  f"<p>{html.escape(_WHOLE.format(**whole))}</p>"]
        for key, title in _correlation_figures(whole):
            parts += [f"<h3>Spearman rank correlation, {html.escape(title)}</h3>", _table_html(whole["names"],
                                                                                             whole[key])]
    loop = results.get("active_learning")
    if loop:
        cols, acc_rows = _accuracy_rows(loop)
        head = "".join(f"<th>accuracy at {n} labels (mean ± std)</th>" for n in cols)
        rows = "".join(f"<tr><td>{html.escape(n)}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
                       for n, cells in acc_rows)
        parts += ["<h2>Active learning</h2>", f"<p>{html.escape(text['loop'])}</p>",
                  f"<table><tr><th>method</th>{head}</tr>{rows}</table>"]
        if "active_learning" in by_name:
            parts.append(_img(by_name["active_learning"]))
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}table{border-collapse:collapse;"
             "margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}th{text-align:left}"
             "pre{background:#f6f6f6;padding:8px;overflow-x:auto}.math{overflow-x:auto}"
             "table.config td{font-family:monospace}summary{cursor:pointer;font-weight:bold}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>infonotation demo</title><style>{style}</style>"
            f"</head><body>{''.join(parts)}</body></html>")
