"""Benchmark of the symbolic engine: the identity checker, derivations, chain checks.

Run: ``.venv/bin/python benchmarks/bench_symbolic.py``. Prints the median time of each operation
and whether it meets its target (equivalent < 5 ms, derive with a cold cache < 50 ms).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import infonotation as inf
from infonotation.symbolic.derivation import _derive

IDENTITIES_ANY = [
    ("I[A;B,C|D]", "I[A;B|D] + I[A;C|B,D]"),
    ("I[A;B;C|D]", "I[B;C;A|D]"),
    ("H[A,B,C|D]", "H[C|D] + H[A|C,D] + H[B|A,C,D]"),
    ("H[A,b|C,d]", "H[b|C,d] + H[A|b,C,d]"),
]
IDENTITIES_MODEL = [
    ("I[Y_e;Y|x,x_e]", "I[W;Y|x] - I[W;Y|Y_e,x,x_e]"),
    ("I[Y_e;Y|x,X_e]", "E_{p(x_e)}[I[Y_e;Y|x,x_e]]"),
    ("H[w|y,x]", "H[y|x,w] + H[w] - H[y|x]"),
    ("H''[w*|Y_1,Y_2,x_1,x_2]", "H''[Y_1|x_1,w*] + H''[Y_2|x_2,w*] + H''[w*]"),
]
EIG_CHAIN = ("I[W;Y|x] ~= -1/2 logdet(H''[w*]) + 1/2 logdet(H''[w*|Y,x]) "
             "= 1/2 logdet(H''[Y|x,w*] + H''[w*]) - 1/2 logdet(H''[w*]) "
             "= 1/2 logdet((H''[Y|x,w*] + H''[w*]) @ H''[w*]^-1) "
             "= 1/2 logdet(H''[Y|x,w*] @ H''[w*]^-1 + Id) "
             "<= 1/2 tr(H''[Y|x,w*] @ H''[w*]^-1)")


def median_ms(f: Callable[[], object], repeat: int = 200, warmup: int = 3) -> float:
    for _ in range(warmup):
        f()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    model = inf.Model()
    pairs_any = [(inf.parse(a), inf.parse(b)) for a, b in IDENTITIES_ANY]
    pairs_model = [(inf.parse(a), inf.parse(b)) for a, b in IDENTITIES_MODEL]
    assert all(inf.equivalent(a, b, None) for a, b in pairs_any)
    assert all(inf.equivalent(a, b, model) for a, b in pairs_model)

    rows = []
    for label, pairs, m in (("equivalent, no model (4 four-variable identities)", pairs_any, None),
                            ("equivalent, Model() (4 identities)", pairs_model, model),
                            ("equivalent, Model() on the no-model identities", pairs_any, model)):
        per = [median_ms(lambda a=a, b=b, m=m: inf.equivalent(a, b, m)) for a, b in pairs]
        rows.append((label, statistics.median(per), max(per), 5.0))

    def cold_derive() -> object:
        _derive.cache_clear()
        return inf.derive("I[W;Y|x]", using=["gaussian", "ggn", "eig_logdet"])

    rows.append(("derive I[W;Y|x] (gaussian, ggn, eig_logdet), cache cleared", median_ms(cold_derive, 50), None, 50.0))
    chain = inf.parse(EIG_CHAIN)
    assert inf.check(chain, model)
    rows.append(("check the EIG chain (5 steps, Model())", median_ms(lambda: inf.check(chain, model), 50), None, None))
    rows.append(("check the EIG chain from text (parse + check)", median_ms(lambda: inf.check(EIG_CHAIN, model), 50),
                 None, None))

    print(f"{'operation':<66} {'median ms':>10} {'worst ms':>9} {'target':>8}")
    for label, med, worst, target in rows:
        ok = "" if target is None else ("ok" if (worst or med) < target else "SLOW")
        w = f"{worst:9.3f}" if worst is not None else " " * 9
        t = f"< {target:g}" if target is not None else ""
        print(f"{label:<66} {med:10.3f} {w} {t:>8} {ok}")


if __name__ == "__main__":
    main()
