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


def figures(results: dict, out: Path) -> list[Path]:
    """Draw the figures the reader needs; return their paths."""
    plt = _plt()
    paths = []
    comp = results.get("comparison")
    if comp:
        names = comp["names"]
        fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
        for ax, key, title in ((axes[0], "spearman_all", "all candidates"),
                               (axes[1], "spearman_top", f"union of each pair's top {comp['top']}")):
            m = np.array(comp[key])
            im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r")
            ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
            ax.set_yticks(range(len(names)), names, fontsize=8)
            for i in range(len(names)):
                for j in range(len(names)):
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if abs(m[i, j]) > 0.6 else "black")
            ax.set_title(f"Spearman rank correlation, {title}")
        fig.colorbar(im, ax=axes, shrink=0.8)
        p = out / "correlations.png"
        fig.savefig(p, dpi=110, bbox_inches="tight")
        plt.close(fig)
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
        ax.set_title(f"Active learning on the digits (mean ± std over {len(loop['seeds'])} seeds)")
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


def write_report(results: dict, out: Path) -> list[Path]:
    """Write ``results.json``, the figures, ``report.md`` and ``report.html`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    pngs = figures(results, out)
    md = [f"# infonotation demo report (seed {results['config']['seed']})", "",
          "Data: scikit-learn's handwritten digits (8x8 images, 10 classes), bundled with scikit-learn.",
          f"Configuration: `{json.dumps(results['config'])}`", ""]
    md += ["## Methods, their notation and derivations", ""]
    for name, info in results["methods"].items():
        md += [f"### {name}", "", f"Notation: `{info['notation']}`", "", "```", info["derivation"], "```", ""]
    comp = results.get("comparison")
    if comp:
        md += ["## Prediction space against weight space", "",
               f"{comp['n_pool']} pool candidates, a network trained on {comp['n_train']} labels, "
               f"{comp['num_samples']} MC-dropout samples, last-layer GGN with {comp['parameters']} parameters, "
               f"{comp['n_eval']} evaluation points. Weight-space predictive proxies are negated (higher is better).",
               "", "Spearman rank correlation over all candidates:", "", _table_md(comp["names"],
                                                                                 comp["spearman_all"]),
               f"Over the union of each pair's top {comp['top']} candidates:", "",
               _table_md(comp["names"], comp["spearman_top"]),
               f"Over the union of each pair's top {comp['top_small']} candidates (where acquisition picks):", "",
               _table_md(comp["names"], comp["spearman_top_small"]), "![correlations](correlations.png)", "",
               "![scores](bald_eig_scores.png)", ""]
    loop = results.get("active_learning")
    if loop:
        md += ["## Active learning", "", _final_accuracy_md(loop), "![active learning](active_learning.png)", ""]
    md += [f"Run time: {results['seconds']:.1f} s.", ""]
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
    (out / "report.html").write_text(_html(results, pngs), encoding="utf-8")
    return [out / "results.json", out / "report.md", out / "report.html", *pngs]


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{path.stem}" src="data:image/png;base64,{data}" style="max-width:100%">'


def _table_html(names: list[str], m: list[list[float]]) -> str:
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(n)}</th>" for n in names) + "</tr>"
    rows = "".join("<tr><th>" + html.escape(n) + "</th>" + "".join(f"<td>{v:.3f}</td>" for v in row) + "</tr>"
                   for n, row in zip(names, m))
    return f"<table>{head}{rows}</table>"


def _html(results: dict, pngs: list[Path]) -> str:
    by_name = {p.stem: p for p in pngs}
    parts = [f"<h1>infonotation demo report (seed {results['config']['seed']})</h1>",
             "<p>Data: scikit-learn's handwritten digits. Everything on this page is embedded; "
             "it needs no network.</p>",
             "<h2>Methods, their notation and derivations</h2>"]
    for name, info in results["methods"].items():
        svg = render_math(info["latex"]) if info.get("latex") else None
        parts.append(f"<h3>{html.escape(name)}</h3><p><code>{html.escape(info['notation'])}</code></p>")
        if svg:
            parts.append(f"<div class='math'>{svg}</div>")
        parts.append(f"<pre>{html.escape(info['derivation_unicode'])}</pre>")
    comp = results.get("comparison")
    if comp:
        parts += ["<h2>Prediction space against weight space</h2>",
                  "<p>Spearman rank correlation over all candidates</p>",
                  _table_html(comp["names"], comp["spearman_all"]),
                  f"<p>Over the union of each pair's top {comp['top']} candidates</p>",
                  _table_html(comp["names"], comp["spearman_top"]),
                  f"<p>Over the union of each pair's top {comp['top_small']} candidates</p>",
                  _table_html(comp["names"], comp["spearman_top_small"])]
        parts += [_img(by_name[k]) for k in ("correlations", "bald_eig_scores") if k in by_name]
    loop = results.get("active_learning")
    if loop:
        cols, acc_rows = _accuracy_rows(loop)
        head = "".join(f"<th>accuracy at {n} labels</th>" for n in cols)
        rows = "".join(f"<tr><td>{html.escape(n)}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
                       for n, cells in acc_rows)
        parts += ["<h2>Active learning</h2>", f"<table><tr><th>method</th>{head}</tr>{rows}</table>"]
        if "active_learning" in by_name:
            parts.append(_img(by_name["active_learning"]))
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}pre{background:#f6f6f6;padding:8px;"
             "overflow-x:auto}.math{overflow-x:auto}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>infonotation demo</title><style>{style}</style>"
            f"</head><body>{''.join(parts)}</body></html>")
