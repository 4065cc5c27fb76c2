"""The generated documentation pages must match the registry they are generated from."""

from pathlib import Path

import pytest

from infonotation.catalogue import PAGES
from infonotation.symbolic.rules import RULES

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_generated_page_is_fresh(name):
    on_disk = (DOCS / name).read_text(encoding="utf-8")
    assert on_disk == PAGES[name](), f"docs/{name} is stale: run `python -m infonotation.catalogue`"


def test_rules_page_lists_every_rule_with_its_relation():
    page = (DOCS / "rules.md").read_text(encoding="utf-8")
    for r in RULES.values():
        assert f"| `{r.name}` | `{r.relation}` |" in page
