"""Deciding matrix-level identities by evaluation on random stand-ins, in high precision (mpmath).

Canonical forms are exact for everything linear in atoms. What is left (``logdet``, ``tr``, products
and inverses of Hessian terms, expectations of non-linear bodies) is evaluated with:

* each scalar atom a random number, each Hessian atom ``H''{...}`` a random symmetric positive-definite
  ``k x k`` matrix, each gradient atom a random ``k``-vector, ``Id`` the identity, ``C_k = k/2 log(2 pi e)``;
* an expectation ``E_{p(a|b)}[...]`` a weighted sum over two values of each name in ``a``, the
  weights random and the atoms that mention ``a`` drawn afresh for each value;

all seeded from a stable rendering of the atom, so both sides of an identity see the same stand-ins.
Two trials (``k = 3`` and ``k = 4``) at 40 significant digits; a relative difference under ``1e-25``
counts as equal. A true identity passes for every stand-in; a false one fails with probability one.
"""

from __future__ import annotations

import hashlib
import itertools
import random

import mpmath

from .canonical import ONE, Canon, Occ, key_vars

__all__ = ["EvaluationError", "numerically_equal", "evaluate", "stable"]

DIGITS = 40
TOLERANCE = mpmath.mpf("1e-25")


class EvaluationError(Exception):
    """The canonical form cannot be evaluated on stand-ins (e.g. mismatched shapes)."""


def stable(obj: object) -> str:
    """A rendering of a nested key that is the same in every process (sets sorted)."""
    if isinstance(obj, Occ):
        return f"{obj.var}:{obj.tag}"
    if isinstance(obj, (frozenset, set)):
        return "{" + ",".join(sorted(stable(o) for o in obj)) + "}"
    if isinstance(obj, (tuple, list)):
        return "(" + ",".join(stable(o) for o in obj) + ")"
    return repr(obj)


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(stable(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


class _Evaluator:
    def __init__(self, k: int, trial: int):
        self.k = k
        self.trial = trial

    def scalar(self, x) -> mpmath.matrix:
        return mpmath.matrix([[x]])

    def is_scalar(self, m) -> bool:
        return m.rows == 1 and m.cols == 1

    def canon(self, c: Canon, env: dict[str, int]):
        total = None
        for key, coeff in c.items():
            v = self.key(key, env)
            v = v * mpmath.mpf(coeff.numerator) / coeff.denominator
            total = v if total is None else self.add(total, v)
        return total if total is not None else self.scalar(0)

    def add(self, a, b):
        if (a.rows, a.cols) != (b.rows, b.cols):
            raise EvaluationError("adding a matrix and a scalar")
        return a + b

    def mul(self, a, b):
        if self.is_scalar(a):
            return b * a[0, 0]
        if self.is_scalar(b):
            return a * b[0, 0]
        if a.cols != b.rows:
            raise EvaluationError("matrix product of mismatched shapes")
        return a * b

    def inv(self, a):
        if self.is_scalar(a):
            if a[0, 0] == 0:
                raise EvaluationError("division by zero")
            return self.scalar(1 / a[0, 0])
        if a.rows != a.cols:
            raise EvaluationError("inverse of a non-square matrix")
        try:
            return mpmath.inverse(a)
        except ZeroDivisionError as err:  # pragma: no cover - random stand-ins are regular
            raise EvaluationError("singular stand-in") from err

    def random_scalar(self, key, env) -> mpmath.matrix:
        r = _rng("s", self.trial, key, self._env_of(key, env))
        return self.scalar(mpmath.mpf(r.uniform(0.2, 2.0)))

    def random_spd(self, key, env) -> mpmath.matrix:
        r = _rng("m", self.trial, self.k, key, self._env_of(key, env))
        b = mpmath.matrix(self.k, self.k)
        for i in range(self.k):
            for j in range(self.k):
                b[i, j] = mpmath.mpf(r.gauss(0, 1))
        return b * b.T + mpmath.eye(self.k) * mpmath.mpf("0.5")

    def random_vector(self, key, env) -> mpmath.matrix:
        r = _rng("v", self.trial, self.k, key, self._env_of(key, env))
        return mpmath.matrix([[mpmath.mpf(r.gauss(0, 1))] for _ in range(self.k)])

    def _env_of(self, key, env) -> tuple:
        names = sorted({o.var for o in key_vars(key) if o.var in env and o.tag != "R"})
        return tuple((n, env[n]) for n in names)

    def key(self, key: tuple, env: dict[str, int]):
        kind = key[0]
        if key == ONE:
            return self.scalar(1)
        if kind == "const":
            if key[1] == "pi":
                return self.scalar(mpmath.pi)
            if key[1] == "e":
                return self.scalar(mpmath.e)
            return self.scalar(mpmath.mpf(self.k) / 2 * mpmath.log(2 * mpmath.pi * mpmath.e))
        if kind == "Id":
            return mpmath.eye(self.k)
        if kind in ("ic", "f"):
            return self.random_scalar(key, env)
        if kind == "d":
            return self.random_spd(key, env) if key[1] == 2 else self.random_vector(key, env)
        if kind == "name":
            return self.random_spd(key, env) if key[1].tag == "R" else self.random_scalar(key, env)
        if kind == "exp":
            v = self.canon(dict(key[1]), env)
            if not self.is_scalar(v):
                raise EvaluationError("exp of a matrix")
            return self.scalar(mpmath.exp(v[0, 0]))
        if kind == "fn":
            return self.function(key[1], self.canon(dict(key[2]), env))
        if kind == "inv":
            return self.inv(self.canon(dict(key[1]), env))
        if kind == "T":
            return self.canon(dict(key[1]), env).T
        if kind == "pow":
            base, exp = self.canon(dict(key[1]), env), self.canon(dict(key[2]), env)
            if not self.is_scalar(exp):
                raise EvaluationError("a matrix exponent")
            x = exp[0, 0]
            if self.is_scalar(base):
                if abs(x) > 10_000:
                    raise EvaluationError("a power with an exponent beyond 10,000 is not evaluated")
                return self.scalar(base[0, 0] ** x)
            if x != int(x):
                raise EvaluationError("a fractional power of a matrix")
            if abs(x) > 64:
                raise EvaluationError("a matrix power with an exponent beyond 64 is not evaluated")
            out = mpmath.eye(base.rows)
            m = base if x >= 0 else self.inv(base)
            for _ in range(abs(int(x))):
                out = out * m
            return out
        if kind == "prod":
            acc = None
            for op, c in key[1]:
                v = self.canon(dict(c), env)
                if op == "/":
                    v = self.inv(v)
                acc = v if acc is None else self.mul(acc, v)
            return acc
        if kind == "E":
            a, b, body = key[1], key[2], key[3]
            avars = sorted({o.var for o in a})
            benv = tuple(sorted((o.var, env.get(o.var, -1)) for o in b))
            r = _rng("E", self.trial, a, b, benv)
            assignments = list(itertools.product((0, 1), repeat=len(avars)))
            weights = [mpmath.mpf(r.uniform(0.1, 1.0)) for _ in assignments]
            z = sum(weights)
            total = None
            for w, values in zip(weights, assignments):
                inner = dict(env)
                inner.update(zip(avars, values))
                v = self.canon(dict(body), inner) * (w / z)
                total = v if total is None else self.add(total, v)
            return total
        raise EvaluationError(f"cannot evaluate {kind}")

    def function(self, name: str, v):
        if name == "tr":
            if v.rows != v.cols:
                raise EvaluationError("trace of a non-square matrix")
            return self.scalar(sum(v[i, i] for i in range(v.rows)))
        if name in ("det", "logdet"):
            if v.rows != v.cols:
                raise EvaluationError("determinant of a non-square matrix")
            d = mpmath.det(v)
            if name == "det":
                return self.scalar(d)
            if d == 0:
                raise EvaluationError("log-determinant of a singular matrix")
            return self.scalar(mpmath.log(abs(d)))
        if not self.is_scalar(v):
            raise EvaluationError(f"{name} of a matrix")
        x = v[0, 0]
        if name == "log":
            if x == 0:
                raise EvaluationError("log of zero")
            return self.scalar(mpmath.log(abs(x)))
        if name == "exp":
            return self.scalar(mpmath.exp(x))
        raise EvaluationError(f"unknown function {name}")


def evaluate(c: Canon, k: int = 3, trial: int = 0):
    """The value of a canonical form on the stand-ins of one trial (an mpmath matrix)."""
    with mpmath.workdps(DIGITS):
        return _Evaluator(k, trial).canon(c, {})


def numerically_equal(a: Canon, b: Canon) -> tuple[bool, str]:
    """Compare two canonical forms on two trials of random stand-ins; return (equal, how)."""
    with mpmath.workdps(DIGITS):
        worst = mpmath.mpf(0)
        for trial, k in ((0, 3), (1, 4)):
            ev = _Evaluator(k, trial)
            va, vb = ev.canon(a, {}), ev.canon(b, {})
            if (va.rows, va.cols) != (vb.rows, vb.cols):
                if ev.is_scalar(va) and vb.rows == vb.cols and all(
                        vb[i, j] == 0 for i in range(vb.rows) for j in range(vb.cols)):
                    va = va[0, 0] * mpmath.eye(vb.rows)
                elif ev.is_scalar(vb) and va.rows == va.cols and all(
                        va[i, j] == 0 for i in range(va.rows) for j in range(va.cols)):
                    vb = vb[0, 0] * mpmath.eye(va.rows)
                else:
                    return False, f"the two sides have different shapes ({va.rows}x{va.cols} vs {vb.rows}x{vb.cols})"
            scale = max(mpmath.mpf(1), mpmath.mnorm(va, 1), mpmath.mnorm(vb, 1))
            diff = mpmath.mnorm(va - vb, 1) / scale
            worst = max(worst, diff)
            if diff > TOLERANCE:
                return False, (f"numeric: random symmetric positive-definite stand-ins (k={k}) give a relative "
                               f"difference of {mpmath.nstr(diff, 3)}")
        return True, ("numeric: equal on random symmetric positive-definite stand-ins (k=3 and k=4, 40 digits, "
                      f"largest relative difference {mpmath.nstr(worst, 3)})")

