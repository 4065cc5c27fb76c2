"""Parse benchmark: ``python benchmarks/bench_parse.py``.

Measures, with medians over repeated runs:

* the first call: building the parser (grammar analysis, LALR tables, lexers) and one parse;
* parsing a typical expression with the cache cleared before each call (target: under 200 µs);
* the same with the lru cache warm;
* the time per malformed input, over 5,000 distinct malformed inputs (error paths count too);
* for reference, lark's own LALR parser on the same text (parse tree only, no syntax tree).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

from lark import Lark

import infonotation as inf
from infonotation.syntax import parser as P

TYPICAL = {
    "I[W;Y|x]": "I[W;Y|x]",
    "Bayes Hessian": "H''[w*|y,x] = H''[y|x,w*] + H''[w*]",
    "EIG chain": "I[W;Y|x] ~= -1/2 logdet H''[w*] + 1/2 logdet H''[w*|Y,x] = 1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id)"
    " <= 1/2 tr(H''[Y|x,w*] @ H''[w*]^-1)",
    "EPIG": "I[Y_eval;Y|x,X_eval] = E_{p(x_eval)}[I[Y_eval;Y|x,x_eval]]",
}
TARGET_US = 200.0

MALFORMED = ["H[A", "I[A;;B]", "I[A;]", "I[A]", "Q[X]", "(a + b", "a + b)", "a +", "x_", "H[A|B|C]", "p()",
             "logdet(A", "a $ b", "E_{q(x)}[y]", "H[A B]", "I[W;Y|x] = H[Y|x] - H[Y|x,W", "1/2 logdet(", "= a"]


def median_us(fn: Callable[[], object], repeats: int, inner: int) -> float:
    """Median over ``repeats`` runs of the mean time of ``inner`` calls, in microseconds."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        runs.append((time.perf_counter() - start) / inner * 1e6)
    return statistics.median(runs)


def first_call(text: str) -> float:
    P._parser.cache_clear()
    P._machine.cache_clear()
    inf.parse.cache_clear()
    start = time.perf_counter()
    inf.parse(text)
    return (time.perf_counter() - start) * 1e6


def uncached(text: str) -> Callable[[], object]:
    def run() -> object:
        inf.parse.cache_clear()
        return inf.parse(text)

    return run


def malformed_inputs(n: int) -> list[str]:
    # distinct strings (trailing spaces and a numbered prefix), so that nothing is served from a cache
    return [f"a_{i} + {MALFORMED[i % len(MALFORMED)]}" for i in range(n)]


def time_failures(texts: list[str]) -> list[float]:
    out = []
    for text in texts:
        start = time.perf_counter()
        try:
            inf.parse(text)
        except inf.ParseError:
            pass
        else:  # pragma: no cover
            raise SystemExit(f"malformed input parsed: {text!r}")
        out.append((time.perf_counter() - start) * 1e6)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--inner", type=int, default=300)
    args = ap.parse_args(argv)

    rows: list[tuple[str, str, float, str]] = []
    builds = [first_call(TYPICAL["I[W;Y|x]"]) for _ in range(args.repeats)]
    rows.append(("first call (build + parse)", "I[W;Y|x]", statistics.median(builds), ""))

    lark_plain = Lark(P.grammar_text(), parser="lalr", lexer="contextual")
    failed = False
    for label, text in TYPICAL.items():
        inf.parse(text)  # warm the parser itself
        cold = median_us(uncached(text), args.repeats, args.inner)
        gate = "ok" if cold < TARGET_US else f"ABOVE {TARGET_US:.0f} µs"
        failed |= cold >= TARGET_US
        rows.append(("parse, cache cleared", label, cold, gate))
        warm = median_us(lambda text=text: inf.parse(text), args.repeats, args.inner * 10)
        rows.append(("parse, cache warm", label, warm, ""))
        ref = median_us(lambda text=text: lark_plain.parse(text), args.repeats, max(1, args.inner // 3))
        rows.append(("lark LALR alone (parse tree, reference)", label, ref, ""))

    texts = malformed_inputs(5_000)
    per_failure = time_failures(texts)
    rows.append(("malformed input -> ParseError (median of 5,000)", "", statistics.median(per_failure), ""))
    rows.append(("malformed input -> ParseError (mean of 5,000)", "", statistics.fmean(per_failure), ""))

    print(f"infonotation parse benchmark  (python {sys.version.split()[0]}, target {TARGET_US:.0f} µs uncached)")
    width = max(len(r[0]) for r in rows) + 2
    lw = max(len(r[1]) for r in rows) + 2
    print(f"{'measurement':<{width}}{'expression':<{lw}}{'median µs':>12}  gate")
    print("-" * (width + lw + 20))
    for what, label, us, gate in rows:
        print(f"{what:<{width}}{label:<{lw}}{us:>12.1f}  {gate}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
