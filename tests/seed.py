"""The display equations of the paper's blog post (only the LaTeX displays, kept in ``tests/data``).

Where the workspace's copy of the post is present, a test checks that the kept displays are exactly its
``\\[ ... \\]`` blocks, so the fixture cannot drift from the source.
"""

import re
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent / "data" / "seed_displays.tex"
SOURCE = Path("/work/shared/seed/000_0464a88ec390094f.txt")


def displays() -> list[str]:
    """The ten ``\\[ ... \\]`` blocks, delimiters included, in the order of the post."""
    return FIXTURE.read_text(encoding="utf-8").rstrip("\n").split("\n%%%%\n")


def displays_in_source() -> list[str] | None:
    if not SOURCE.exists():
        return None
    return re.findall(r"\\\[.*?\\\]", SOURCE.read_text(encoding="utf-8"), flags=re.S)
