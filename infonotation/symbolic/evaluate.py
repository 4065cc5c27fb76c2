"""Deciding what canonical forms leave open, by evaluation on random stand-ins in high precision (mpmath).

Canonical forms are exact for everything linear in atoms. What is left (``logdet``, ``tr``, products and
inverses, ``log``/``exp``, expectations of non-linear bodies) is evaluated on random values of the atoms.
The check is sound because every stand-in ranges over (an open set of) everything the atom can be:

* each scalar atom (an information content, a lower-case name) is a free random number;
* ``H''`` atoms are random symmetric matrices of the parameter's size: positive definite for the prior's
  Hessian ``H''[w*]``, positive semi-definite for a Fisher information ``H''[Y|x,w*]``, and indefinite for
  observed information and everything else; ``H'`` atoms are random ``rows x P`` matrices (row convention);
* a capital name is a random *general* matrix of the shape :mod:`~infonotation.symbolic.shapes` inferred;
  ``Id`` is the identity of whatever size it meets;
* an expectation ``E_{p(a|b)}[...]`` sums over the values of ``a`` with weights ``p(a | b)`` taken from one
  random discrete joint distribution per trial that factorises as the model says, so marginals and the
  model's independences hold exactly, while the atoms under it are drawn afresh for every value;
* functions keep their real domains: ``log`` of a non-positive number, ``logdet`` of a matrix whose
  determinant is not positive and inverses of singular matrices are *undefined*, never ``log|.|``.

Five trials: two "narrow" ones (positive scalars; indefinite matrices small next to the positive-definite
ones) and three "wide" ones (every signed scalar negative and every indefinite or general square matrix of
negative determinant; then mixed signs and inertias), with different sizes and numbers of values.
Two sides are equal when every trial where either is defined gives both
defined and equal to 40 significant digits (relative difference under ``1e-25``); a trial where exactly
one side is defined refutes the statement; when no trial defines both, the check is undecided. Stand-ins
are seeded from a stable rendering of each atom, so both sides see the same values.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import dataclass

import mpmath

from .canonical import ONE, Canon, Occ, key_vars
from .model import Model
from .shapes import Shapes, size_of

__all__ = ["EvaluationError", "Undefined", "numerically_equal", "evaluate", "stable", "TRIALS", "defined_somewhere",
           "PARTIAL_KINDS"]

#: Keys whose value may be undefined (``log``, ``logdet`` of non-positive things, inverses, powers, ...).
PARTIAL_KINDS = ("fn", "inv", "pow", "prod", "exp", "E", "T")

DIGITS = 40
TOLERANCE = mpmath.mpf("1e-25")
#: Largest joint table (number of value combinations) built for the expectations of one check.
MAX_TABLE = 20_000


class EvaluationError(Exception):
    """The canonical form cannot be evaluated on stand-ins (a shape mismatch, an undetermined size, ...)."""


class Undefined(EvaluationError):
    """The value is undefined on these stand-ins (``log`` of a non-positive number, ``logdet`` with ``det <= 0``)."""


@dataclass(frozen=True)
class Trial:
    index: int
    k: int  # the parameter's size P
    card: int  # values per discrete variable
    batch: int  # rows of a batch
    signs: str  # "positive", "negative" or "mixed": how signed atoms are drawn


#: Two narrow trials (signed atoms positive, indefinite Hessians small) and three wide ones: every signed atom
#: negative and every indefinite or general square matrix of negative determinant; then mixed signs.
TRIALS = (Trial(0, 3, 2, 2, "positive"), Trial(1, 4, 3, 3, "positive"), Trial(2, 3, 2, 2, "negative"),
          Trial(3, 2, 3, 3, "mixed"), Trial(4, 4, 2, 2, "mixed"))


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


class Eye:
    """``c * Id`` whose size is not known yet: it takes the size of whatever it is added to or multiplied with."""

    def __init__(self, c):
        self.c = c


def _is_scalar(m) -> bool:
    return not isinstance(m, Eye) and m.rows == 1 and m.cols == 1


def _observed_part(s: frozenset[Occ]) -> frozenset[Occ]:
    return frozenset(o for o in s if o.tag != "R")


def _scalar(x) -> mpmath.matrix:
    return mpmath.matrix([[x]])


# -- the random world behind expectations ----------------------------------------------------------
def _expectations(c: Canon, out: set) -> set:
    for k in c:
        _walk_key(k, out)
    return out


def _walk_key(k: tuple, out: set) -> None:
    kind = k[0]
    if kind == "E":
        out.add(k)
        _expectations(dict(k[3]), out)
    elif kind in ("exp", "inv", "T"):
        _expectations(dict(k[1]), out)
    elif kind == "fn":
        _expectations(dict(k[2]), out)
    elif kind == "pow":
        _expectations(dict(k[1]), out)
        _expectations(dict(k[2]), out)
    elif kind == "prod":
        for _, f in k[1]:
            _expectations(dict(f), out)


class _World:
    """A random discrete joint distribution over the variables of the expectations, factorising as the model says."""

    def __init__(self, forms: list[Canon], model: Model | None, trial: Trial):
        keys: set = set()
        for f in forms:
            _expectations(f, keys)
        names = {o.var for k in keys for o in k[1] | k[2]}
        self.values: dict[Occ, int] = {}
        if not names:
            self.vars: list[str] = []
            return
        order = self._order(names, model)
        self.vars = order
        self.card = trial.card
        size = trial.card ** len(order)
        if size > MAX_TABLE:
            raise EvaluationError(f"the expectations involve {len(order)} variables, too many to enumerate")
        r = _rng("world", trial.index, tuple(order), repr(model))
        axis = {v: i for i, v in enumerate(order)}
        cpts = []
        for i, v in enumerate(order):
            pa = model.parents(v) if model is not None else None
            pa = list(pa) if pa is not None else order[:i]  # unknown: depends on everything before it
            table = {}
            for parent_values in itertools.product(range(trial.card), repeat=len(pa)):
                ws = [mpmath.mpf(r.randint(1, 9)) for _ in range(trial.card)]
                z = sum(ws)
                table[parent_values] = [w / z for w in ws]
            cpts.append(([axis[p] for p in pa], table))
        self.joint: dict[tuple[int, ...], mpmath.mpf] = {}
        for assignment in itertools.product(range(trial.card), repeat=len(order)):
            p = mpmath.mpf(1)
            for i, (pa_idx, table) in enumerate(cpts):
                p *= table[tuple(assignment[j] for j in pa_idx)][assignment[i]]
            self.joint[assignment] = p
        self.axis = axis
        self._marginals: dict[tuple[str, ...], dict] = {}

    @staticmethod
    def _order(names: set[str], model: Model | None) -> list[str]:
        if model is None:
            return sorted(names)
        known, unknown = set(), set()
        for v in names:
            (known if model.known(v) else unknown).add(v)
        closure: set[str] = set()
        for v in known:
            closure |= model.ancestors(v)
        done: list[str] = []
        placed: set[str] = set()
        todo = sorted(closure)
        while todo:  # parents first
            rest = []
            for v in todo:
                if set(model.parents(v) or ()) <= placed:
                    done.append(v)
                    placed.add(v)
                else:
                    rest.append(v)
            if len(rest) == len(todo):
                raise EvaluationError("the model's network has a cycle")
            todo = rest
        return done + sorted(unknown)

    def value(self, o: Occ) -> int:
        """The value of an observed name that no expectation binds (``w`` and ``w*`` get different ones)."""
        if o not in self.values:
            offset = {"o": 0, "*": 1, "F": 2}.get(o.tag, 0)
            self.values[o] = offset % self.card
        return self.values[o]

    def marginal(self, vs: tuple[str, ...]) -> dict:
        if vs not in self._marginals:
            idx = [self.axis[v] for v in vs]
            m: dict = {}
            for assignment, p in self.joint.items():
                key = tuple(assignment[i] for i in idx)
                m[key] = m.get(key, 0) + p
            self._marginals[vs] = m
        return self._marginals[vs]

    def weights(self, bound: list[Occ], given: list[tuple[Occ, int]]) -> list[tuple[tuple[int, ...], mpmath.mpf]]:
        gvars = tuple(o.var for o, _ in given)
        gvals = tuple(v for _, v in given)
        if len(set(gvars)) < len(gvars) or set(gvars) & {o.var for o in bound}:
            raise EvaluationError("an expectation conditions on two values of one variable")
        joint = self.marginal(tuple(o.var for o in bound) + gvars)
        out = []
        for values in itertools.product(range(self.card), repeat=len(bound)):
            out.append((values, joint[values + gvals]))
        z = sum(w for _, w in out)
        return [(v, w / z) for v, w in out]


# -- evaluation ------------------------------------------------------------------------------------
class _Evaluator:
    def __init__(self, trial: Trial, shapes: Shapes | None, world: _World, parameter: str):
        self.t = trial
        self.shapes = shapes
        self.world = world
        self.parameter = parameter

    # sizes
    def psize(self, point: Occ) -> int:
        return size_of(f"P:{point.var}", self.t.index, self.t.k, self.t.batch)

    def rsize(self, rows: str | None) -> int:
        return 1 if rows is None else size_of(f"N:{rows}", self.t.index, self.t.k, self.t.batch)

    # stand-ins
    def _env_of(self, key, env) -> tuple:
        occs = sorted(o for o in key_vars(key) if o in env)
        return tuple((o, env[o]) for o in occs)

    def random_scalar(self, key, env) -> mpmath.matrix:
        r = _rng("s", self.t.index, key, self._env_of(key, env))
        x = mpmath.mpf(r.uniform(0.2, 2.0))
        if self.t.signs == "negative" or (self.t.signs == "mixed" and r.random() < 0.5):
            x = -x
        return _scalar(x)

    def random_matrix(self, tag: str, rows: int, cols: int, key, env) -> mpmath.matrix:
        r = _rng(tag, self.t.index, rows, cols, key, self._env_of(key, env))
        m = mpmath.matrix(rows, cols)
        for i in range(rows):
            for j in range(cols):
                m[i, j] = mpmath.mpf(r.gauss(0, 1))
        if tag == "g" and rows == cols and self.t.signs == "negative" and mpmath.det(m) > 0:
            for j in range(cols):  # a general square matrix of negative determinant
                m[0, j] = -m[0, j]
        return m

    def random_symmetric(self, kind: str, k: int, key, env) -> mpmath.matrix:
        b = self.random_matrix("m" + kind, k, k, key, env)
        if kind == "pd":
            return b * b.T + mpmath.eye(k) * mpmath.mpf("0.5")
        if kind == "psd":
            return b * b.T
        if self.t.signs == "positive":
            return (b + b.T) * mpmath.mpf("0.02")  # small next to the positive-definite atoms
        r = _rng("e", self.t.index, k, key, self._env_of(key, env))
        signs = [1] * k
        negatives = 1 if self.t.signs == "negative" or k < 3 else r.randint(1, k - 1)
        for i in r.sample(range(k), negatives):
            signs[i] = -1
        lam = mpmath.diag([s * mpmath.mpf(r.uniform(0.5, 2.0)) for s in signs])
        return b * lam * b.T  # inertia: exactly `negatives` negative eigenvalues

    def hessian_kind(self, point: Occ, atom: tuple) -> str:
        if atom[0] == "f" and atom[1] == point and not atom[2]:
            return "pd"  # the prior's Hessian H''[w*]
        if atom[0] == "ic" and atom[1] == frozenset({point}):
            return "pd"
        if atom[0] == "f" and atom[1].tag == "R" and point in atom[2] and atom[3] == _observed_part(atom[2]):
            return "psd"  # a Fisher information E_{p(y|x,w*)}[H''[y|x,w*]], averaged under the model at w*
        return "sym"

    # combinators
    def add(self, a, b):
        if isinstance(a, Eye) and isinstance(b, Eye):
            return Eye(a.c + b.c)
        if isinstance(a, Eye):
            a, b = b, a
        if isinstance(b, Eye):
            if a.rows != a.cols:
                raise EvaluationError("adding Id to a non-square matrix")
            return a + mpmath.eye(a.rows) * b.c
        if (a.rows, a.cols) != (b.rows, b.cols):
            raise EvaluationError(f"adding a {a.rows}x{a.cols} and a {b.rows}x{b.cols} matrix")
        return a + b

    def scale(self, a, c):
        return Eye(a.c * c) if isinstance(a, Eye) else a * c

    def mul(self, a, b):
        if isinstance(a, Eye) and isinstance(b, Eye):
            return Eye(a.c * b.c)
        if isinstance(a, Eye):
            a, b = b, a
        if isinstance(b, Eye):  # c Id times a scalar stays c' Id; times a matrix scales it
            return Eye(a[0, 0] * b.c) if _is_scalar(a) else a * b.c
        if _is_scalar(a):
            return b * a[0, 0]
        if _is_scalar(b):
            return a * b[0, 0]
        if a.cols != b.rows:
            raise EvaluationError("matrix product of mismatched shapes")
        return a * b

    def inv(self, a):
        if isinstance(a, Eye):
            if a.c == 0:
                raise Undefined("inverse of 0 * Id")
            return Eye(1 / a.c)
        if a.rows != a.cols:
            raise EvaluationError("inverse of a non-square matrix")
        if _is_scalar(a):
            if a[0, 0] == 0:
                raise Undefined("division by zero")
            return _scalar(1 / a[0, 0])
        if abs(mpmath.det(a)) < mpmath.mpf(10) ** (-DIGITS // 2):
            raise Undefined("inverse of a singular matrix")
        return mpmath.inverse(a)

    def canon(self, c: Canon, env: dict):
        total = None
        for key, coeff in c.items():
            v = self.scale(self.key(key, env), mpmath.mpf(coeff.numerator) / coeff.denominator)
            total = v if total is None else self.add(total, v)
        return total if total is not None else Eye(mpmath.mpf(0))  # zero, of whatever size it meets

    def key(self, key: tuple, env: dict):
        kind = key[0]
        if key == ONE:
            return _scalar(1)
        if kind == "const":
            if key[1] == "pi":
                return _scalar(mpmath.pi)
            if key[1] == "e":
                return _scalar(mpmath.e)
            k = self.psize(Occ(self.parameter, "*"))
            return _scalar(mpmath.mpf(k) / 2 * mpmath.log(2 * mpmath.pi * mpmath.e))
        if kind == "Id":
            return Eye(mpmath.mpf(1))
        if kind in ("ic", "f", "name"):
            return self.random_scalar(key, env)
        if kind == "mat":
            if self.shapes is None or key[1] not in self.shapes.names:
                raise EvaluationError(f"the shape of {key[1]} is not known")
            rows, cols = self.shapes.concrete(key[1], self.t.index, self.t.k, self.t.batch)
            return self.random_matrix("g", rows, cols, key, env)
        if kind == "d":
            _, order, point, rows, atom = key
            p = self.psize(point)
            if order == 1:
                return self.random_matrix("v", self.rsize(rows), p, key, env)
            return self.random_symmetric(self.hessian_kind(point, atom), p, key, env)
        if kind == "exp":
            v = self.canon(dict(key[1]), env)
            if not _is_scalar(v):
                raise EvaluationError("exp of a matrix")
            return _scalar(mpmath.exp(v[0, 0]))
        if kind == "fn":
            return self.function(key[1], self.canon(dict(key[2]), env))
        if kind == "inv":
            return self.inv(self.canon(dict(key[1]), env))
        if kind == "T":
            v = self.canon(dict(key[1]), env)
            return v if isinstance(v, Eye) else v.T
        if kind == "pow":
            return self.power(self.canon(dict(key[1]), env), self.canon(dict(key[2]), env))
        if kind == "prod":
            acc = None
            for op, c in key[1]:
                v = self.canon(dict(c), env)
                if op == "/":
                    if not _is_scalar(v):
                        raise EvaluationError("division by a matrix")
                    v = self.inv(v)
                acc = v if acc is None else self.mul(acc, v)
            return acc
        if kind == "E":
            return self.expectation(key, env)
        raise EvaluationError(f"cannot evaluate {kind}")

    def power(self, base, exp):
        if not _is_scalar(exp):
            raise EvaluationError("a matrix exponent")
        x = exp[0, 0]
        if isinstance(base, Eye):
            if base.c <= 0 and x != int(x):
                raise Undefined("a fractional power of a non-positive number")
            return Eye(base.c ** x)
        if _is_scalar(base):
            b = base[0, 0]
            if b == 0 and x <= 0:
                raise Undefined("a non-positive power of zero")
            if b < 0 and x != int(x):
                raise Undefined("a fractional power of a negative number")
            return _scalar(b ** x)
        if x != int(x):
            raise EvaluationError("a fractional power of a matrix")
        if abs(x) > 64:
            raise EvaluationError("a matrix power with an exponent beyond 64 is not evaluated")
        if base.rows != base.cols:
            raise EvaluationError("a power of a non-square matrix")
        out = mpmath.eye(base.rows)
        m = base if x >= 0 else self.inv(base)
        for _ in range(abs(int(x))):
            out = out * m
        return out

    def expectation(self, key: tuple, env: dict):
        bound, given, body = sorted(key[1]), sorted(key[2]), key[3]
        fixed = [(o, env[o] if o in env else self.world.value(o)) for o in given]
        total = None
        for values, weight in self.world.weights(bound, fixed):
            inner = dict(env)
            inner.update(zip(bound, values))
            v = self.scale(self.canon(dict(body), inner), weight)
            total = v if total is None else self.add(total, v)
        return total

    def function(self, name: str, v):
        if isinstance(v, Eye):
            if name in ("logdet", "det") and v.c == 1:
                return _scalar(0 if name == "logdet" else 1)
            raise EvaluationError(f"{name}(c * Id) depends on the size of Id, which is not determined")
        if name == "tr":
            if v.rows != v.cols:
                raise EvaluationError("trace of a non-square matrix")
            return _scalar(sum(v[i, i] for i in range(v.rows)))
        if name in ("det", "logdet"):
            if v.rows != v.cols:
                raise EvaluationError("determinant of a non-square matrix")
            d = mpmath.det(v)
            if name == "det":
                return _scalar(d)
            if d <= 0:
                raise Undefined("log-determinant of a matrix whose determinant is not positive")
            return _scalar(mpmath.log(d))
        if not _is_scalar(v):
            raise EvaluationError(f"{name} of a matrix")
        x = v[0, 0]
        if name == "log":
            if x <= 0:
                raise Undefined("log of a non-positive number")
            return _scalar(mpmath.log(x))
        if name == "exp":
            return _scalar(mpmath.exp(x))
        raise EvaluationError(f"unknown function {name}")


def _value(c: Canon, trial: Trial, shapes: Shapes | None, world: _World, parameter: str):
    try:
        return _Evaluator(trial, shapes, world, parameter).canon(c, {})
    except (OverflowError, ZeroDivisionError, ValueError) as err:
        raise EvaluationError(f"arithmetic failed ({err})") from None


def evaluate(c: Canon, trial: int = 0, model: Model | None = None, shapes: Shapes | None = None):
    """The value of a canonical form on the stand-ins of one trial (an mpmath matrix, or :class:`Eye`)."""
    t = TRIALS[trial]
    with mpmath.workdps(DIGITS):
        return _value(c, t, shapes, _World([c], model, t), model.parameter if model else "w")


def _partial(c: Canon) -> bool:
    return any(k[0] in PARTIAL_KINDS for k in c)


def defined_somewhere(c: Canon, model: Model | None = None, shapes: Shapes | None = None) -> bool | None:
    """Whether the canonical form has a value on some trial (True), on none (False), or cannot be evaluated (None).

    Linear combinations of atoms are always defined; only forms with partial functions are evaluated.
    """
    if not _partial(c):
        return True
    parameter = model.parameter if model else "w"
    with mpmath.workdps(DIGITS):
        for t in TRIALS:
            try:
                _value(c, t, shapes, _World([c], model, t), parameter)
                return True
            except Undefined:
                continue
            except EvaluationError:
                return None
    return False


def _difference(va, vb) -> tuple[bool, mpmath.mpf | str]:
    if isinstance(va, Eye) and isinstance(vb, Eye):
        va, vb = _scalar(va.c), _scalar(vb.c)
    elif isinstance(va, Eye):
        va = mpmath.eye(vb.rows) * va.c if vb.rows == vb.cols else None
    elif isinstance(vb, Eye):
        vb = mpmath.eye(va.rows) * vb.c if va.rows == va.cols else None
    if va is None or vb is None or (va.rows, va.cols) != (vb.rows, vb.cols):
        return False, "the two sides have different shapes"
    scale = max(mpmath.mpf(1), mpmath.mnorm(va, 1), mpmath.mnorm(vb, 1))
    return True, mpmath.mnorm(va - vb, 1) / scale


def numerically_equal(a: Canon, b: Canon, model: Model | None = None,
                      shapes: Shapes | None = None) -> tuple[bool | None, str]:
    """Compare two canonical forms on the trials; ``(True | False | None, how)``, None meaning undecided."""
    parameter = model.parameter if model else "w"
    decided = 0
    worst = mpmath.mpf(0)
    undefined_both = ""
    with mpmath.workdps(DIGITS):
        for t in TRIALS:
            world = _World([a, b], model, t)
            values = []
            for side in (a, b):
                try:
                    values.append(_value(side, t, shapes, world, parameter))
                except Undefined as err:
                    values.append(err)
            ua, ub = (isinstance(v, Undefined) for v in values)
            if ua and ub:
                undefined_both = str(values[0])
                continue
            if ua or ub:
                which, other = ("left", "right") if ua else ("right", "left")
                return False, (f"numeric: the {which} side is undefined ({values[0 if ua else 1]}) on stand-ins where "
                               f"the {other} side is defined")
            same, diff = _difference(*values)
            if not same:
                return False, f"numeric: {diff}"
            worst = max(worst, diff)
            if diff > TOLERANCE:
                return False, (f"numeric: random stand-ins (trial {t.index}: P={t.k}, {t.card} values per variable) "
                               f"give a relative difference of {mpmath.nstr(diff, 3)}")
            decided += 1
    if not decided:
        return None, f"undecided: both sides are undefined on every trial ({undefined_both})"
    return True, (f"numeric: equal on random stand-ins ({decided} trials, {DIGITS} digits, largest relative "
                  f"difference {mpmath.nstr(worst, 3)})")
