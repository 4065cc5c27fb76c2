"""Benchmark of the symbolic engine: the identity checker over the test tables, derivations, big statements.

Run: ``.venv/bin/python benchmarks/bench_symbolic.py``. Every check is timed *cold* (all of the symbolic
layer's caches cleared before each call; the parser's cache stays warm, so parsing is not counted). Prints:

* the median and worst time over every statement of the test tables (``tests/test_identities.py``,
  ``tests/test_check_semantics.py`` and the soundness issue's examples), with the slowest statement;
  target: every statement of up to 20 variables under 50 ms;
* big statements: a 16-group interaction information against itself reordered, a 300-variable chain rule
  under the model (target < 0.5 s), 20-variable chain rules;
* ``derive`` of the expected information gain with a cold cache (target < 50 ms).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import infonotation as inf
from infonotation.symbolic import clear_caches
from infonotation.syntax.tree import Name, Prob, Relation, Term

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

def _table() -> list[tuple[str, inf.Model | None]]:
    """Every statement of the test tables: the identity table and the soundness issue's examples and variants."""
    from strategies import engine_model
    from test_identities import ROWS
    from test_soundness import ISSUE_EXAMPLES

    rows = [(text, inf.Model() if with_model else None) for text, with_model in ROWS]
    rows += [(text, engine_model(key)) for text, key, _ in ISSUE_EXAMPLES]
    return rows


def _variables(e) -> int:
    return len({(n.base.lower(), n.sub) for node in e.walk() if isinstance(node, (Term, Prob))
                for n in node.walk() if isinstance(n, Name)})


def cold_ms(f: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        clear_caches()
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _check(expr, model) -> None:
    try:
        inf.check(expr, model)
    except inf.NotationError:
        pass  # ill-shaped statements in the tables: their error path is timed too


def main() -> None:
    inf.check("H[X] = H[X]")  # import and parser tables
    rows = []
    for text, model in _table():
        expr = inf.parse(text)
        if not isinstance(expr, Relation):
            continue
        rows.append((cold_ms(lambda e=expr, m=model: _check(e, m)), _variables(expr), text))
    times = [t for t, _, _ in rows]
    worst = max(rows)
    small = [t for t, n, _ in rows if n <= 20]
    print(f"identity checker, cold, over the test tables: {len(rows)} statements")
    print(f"  median {statistics.median(times):8.2f} ms   worst {worst[0]:8.2f} ms  ({worst[2][:80]})")
    print(f"  statements of <= 20 variables: worst {max(small):.2f} ms (target < 50 ms: "
          f"{'ok' if max(small) < 50 else 'SLOW'})")

    groups = [f"A_{i}" for i in range(16)]
    big = [
        ("16-group interaction information = itself reordered",
         f"I[{';'.join(groups)}] = I[{';'.join(reversed(groups))}]", None, 50.0),
        ("20-variable chain rule, no model", "H[" + ",".join(f"A_{i}" for i in range(20)) + "] = H[A_0] + H["
         + ",".join(f"A_{i}" for i in range(20)) + "|A_0]", None, 50.0),
        ("10 points: EIG as H[Y_B|x_B] - H[Y_B|x_B,W], Model()",
         "I[W;" + ",".join(f"Y_{i}" for i in range(10)) + "|" + ",".join(f"x_{i}" for i in range(10)) + "] = H["
         + ",".join(f"Y_{i}" for i in range(10)) + "|" + ",".join(f"x_{i}" for i in range(10)) + "] - H["
         + ",".join(f"Y_{i}" for i in range(10)) + "|" + ",".join(f"x_{i}" for i in range(10)) + ",W]",
         inf.Model(), 50.0),
        ("300-variable chain: H[Y_1..Y_150|x_1..x_150,W] = sum of 150 terms, Model()",
         "H[" + ",".join(f"Y_{i}" for i in range(150)) + "|" + ",".join(f"x_{i}" for i in range(150)) + ",W] = "
         + " + ".join(f"H[Y_{i}|x_{i},W]" for i in range(150)), inf.Model(), 500.0),
    ]
    print("\nbig statements (cold)")
    for label, text, model, target in big:
        expr = inf.parse(text)
        assert inf.check(expr, model), label
        ms = cold_ms(lambda e=expr, m=model: inf.check(e, m), 3)
        print(f"  {label:<76} {ms:9.2f} ms  (target < {target:g} ms: {'ok' if ms < target else 'SLOW'})")

    def derive() -> object:
        return inf.derive("I[W;Y|x]", using=["gaussian", "ggn", "eig_logdet"])

    ms = cold_ms(derive, 20)
    print(f"\nderive I[W;Y|x] (gaussian, ggn, eig_logdet), cold: {ms:.2f} ms (target < 50 ms: "
          f"{'ok' if ms < 50 else 'SLOW'})")


if __name__ == "__main__":
    main()
