"""Generated documentation: the rules catalogue, the methods gallery and the API reference (``docs/``).

``python -m infonotation.catalogue`` rewrites the generated pages; a test fails when they are stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .symbolic.rules import RULES

__all__ = ["rules_markdown", "api_markdown", "methods_markdown", "write", "PAGES"]


def rules_markdown() -> str:
    """The rules and approximations, one row each, in the order of the registry."""
    lines = [
        "# Rules and approximations",
        "",
        "Generated from `infonotation.symbolic.rules.RULES` by `python -m infonotation.catalogue`; do not edit.",
        "Exact rules (`=`) always run in `derive`; approximations (`~=`) and bounds (`<=`) only when named in",
        "`using`. References are to the rule list R1-R30 of the paper reference.",
        "",
        "| rule | relation | statement | precondition | reference |",
        "|---|---|---|---|---|",
    ]
    for r in RULES.values():
        cells = [f"`{r.name}`", f"`{r.relation}`", f"`{r.statement}`", r.precondition, r.reference]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def api_markdown() -> str:
    """The public API (``infonotation.__all__``): signature and docstring of each name."""
    import inspect

    import infonotation

    from . import protocol

    lines = ["# API reference", "",
             "Generated from the docstrings of `infonotation.__all__` by `python -m infonotation.catalogue`; "
             "do not edit.", "", "## The acquisition protocol", "", inspect.getdoc(protocol) or "", ""]
    for name in infonotation.__all__:
        obj = getattr(infonotation, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            try:
                sig = str(inspect.signature(obj))
            except (TypeError, ValueError):  # pragma: no cover
                sig = "(...)"
            kind = "class" if inspect.isclass(obj) else "function"
            lines += [f"## `inf.{name}{sig}`", "", f"*{kind}*", ""]
        else:
            lines += [f"## `inf.{name}`", ""]
        doc = inspect.getdoc(obj) or "(no docstring)"
        lines += [doc, ""]
    return "\n".join(lines) + "\n"


def methods_markdown() -> str:
    """The gallery of named methods: notation, approximation steps and the engine's derivation of each."""
    from .acquisition.methods import methods

    lines = ["# Methods gallery", "",
             "Generated from `inf.methods` by `python -m infonotation.catalogue`; do not edit. Each method is a line",
             "of notation plus the approximation steps that turn it into what the method computes; the derivation",
             "below is the symbolic engine's own output (`inf.methods.NAME.derivation()`).", "",
             "| method | notation | space | labels | batch | likelihoods | reference |",
             "|---|---|---|---|---|---|---|"]
    for m in methods.values():
        notation = m.notation.replace("|", "\\|")
        lines.append(f"| `{m.name}` | `{notation}` | {m.space} | {'yes' if m.labels else 'no'} | {m.batch} | "
                     f"{', '.join(m.likelihoods)} | {m.reference} |")
    lines.append("")
    for m in methods.values():
        d = m.derivation()
        using = ", ".join(m.using) or "(none)"
        lines += [f"## {m.name}", "", m.summary, "", f"Notation `{m.notation}`; steps: {using}.", "", "```", str(d),
                  "```", ""]
    return "\n".join(lines)


#: page name -> generator
PAGES = {"rules.md": rules_markdown, "api.md": api_markdown, "methods.md": methods_markdown}


def write(folder: Path) -> list[Path]:
    out = []
    for name, gen in PAGES.items():
        path = folder / name
        path.write_text(gen(), encoding="utf-8")
        out.append(path)
    return out


if __name__ == "__main__":  # pragma: no cover
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "docs"
    for p in write(target):
        print(f"wrote {p}")
