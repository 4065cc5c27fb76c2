"""Shapes of expressions: every node is a scalar or a matrix, and the operations must fit.

``infer_shapes(exprs)`` walks syntax trees and unifies symbolic dimensions, raising :class:`ShapeError`
(a :class:`~infonotation.errors.ResolveError` with a caret) when something does not fit. The conventions
(spec/notation.md; ``docs/notation.md``, "Shapes"):

* numbers, constants, information terms ``H[...]``/``I[...]``, probabilities and ``log``/``exp`` are scalars;
* ``H''[... w* ...]`` is ``P x P`` (``P`` the size of the parameter it is taken at: ``w*`` and its part
  ``w_L*`` have different sizes); ``H'[S | ...]`` is a row: ``1 x P`` for a point, ``B x P`` (one row per point)
  when ``S`` is a single batch name (``y_B``, a data set ``D``), so ``H'^T @ H'`` is the ``P x P`` empirical
  Fisher;
* a capital name outside any term (``A``, ``G``, ``M``) is a general matrix, possibly rectangular, whose
  dimensions are never 1 (write a lower-case name for a scalar); ``Id`` takes the size its context needs;
* ``A + B`` needs equal shapes (a matrix plus a scalar is an error); ``A @ B`` and ``A * B`` of two matrices
  need ``cols(A) = rows(B)``; a scalar times anything scales it; ``/`` divides by scalars only; ``logdet``,
  ``det``, ``tr``, inverses and powers need square matrices; ``log`` and ``exp`` need scalars.

:meth:`Shapes.sizes` turns the symbolic dimensions into numbers for one trial of the numeric checker.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from ..errors import ResolveError
from ..syntax.resolve import is_batch, is_random, variable
from ..syntax.tree import (
    Const,
    Expectation,
    Expr,
    Func,
    Identity,
    Info,
    Name,
    Neg,
    Number,
    Pow,
    Prob,
    Product,
    Relation,
    Sum,
    Term,
    Transpose,
)

__all__ = ["ShapeError", "Shapes", "infer_shapes", "Dim"]


class ShapeError(ResolveError):
    """An expression whose shapes do not fit (a matrix plus a scalar, a product of mismatched matrices, ...)."""


@dataclass(eq=False)
class Dim:
    """A symbolic dimension: a constant (``"1"``, ``"P:w"``, ``"N:y_B"``) or a free one (``label=None``)."""

    label: str | None = None
    matrix: bool = False  # a dimension of a capital matrix name: never 1
    serial: int = 0  # creation order, for sizes that are the same in every run
    parent: Dim | None = field(default=None, repr=False)

    def find(self) -> Dim:
        d = self
        while d.parent is not None:
            d = d.parent
        return d


def _describe(d: Dim) -> str:
    d = d.find()
    if d.label:
        kind, _, var = d.label.partition(":")
        return f"{kind}({var})" if var else kind
    return "n"


#: A shape: (rows, columns, kind) with kind "s" (a scalar), "m" (a matrix, possibly 1 x 1) or "a" (0: any).
Shape = tuple  # tuple[Dim, Dim, str]


def _shape_text(s: Shape) -> str:
    if s[2] == "s":
        return "a scalar"
    return f"a {_describe(s[0])} x {_describe(s[1])} matrix"


class Shapes:
    """The outcome of shape inference: capital names' dimensions and each side's shape."""

    def __init__(self) -> None:
        self.names: dict[str, Shape] = {}
        self.sides: list[Shape] = []
        self.nodes: dict[int, Shape] = {}  # id(node) -> its shape, for the nodes of the trees inferred
        self._constants: dict[str, Dim] = {}
        self._count = 0

    def new(self, matrix: bool = False) -> Dim:
        self._count += 1
        return Dim(matrix=matrix, serial=self._count)

    def constant(self, label: str) -> Dim:
        if label not in self._constants:
            self._constants[label] = Dim(label)
        return self._constants[label]

    def unify(self, a: Dim, b: Dim) -> bool:
        ra, rb = a.find(), b.find()
        if ra is rb:
            return True
        if ra.label is not None and rb.label is not None:
            return ra.label == rb.label
        if (ra.label == "1" and rb.matrix) or (rb.label == "1" and ra.matrix):
            return False
        if ra.label is None:
            ra, rb = rb, ra  # keep the constant as the root
        rb.parent = ra
        ra.matrix = ra.matrix or rb.matrix
        return True

    def is_scalar(self, s: Shape) -> bool:
        """A true scalar (a number, an information term, a trace, ...), not a 1 x 1 matrix product."""
        return s[2] == "s"

    def concrete(self, name: str, trial: int, parameter_size: int, batch_size: int) -> tuple[int, int]:
        """The size of the capital matrix name ``name`` in one trial."""
        r, c = (d.find() for d in self.names[name][:2])
        return (size_of(r.label, trial, parameter_size, batch_size, r.serial),
                size_of(c.label, trial, parameter_size, batch_size, c.serial))


def size_of(label: str | None, trial: int, parameter_size: int, batch_size: int, serial: int = 0) -> int:
    """The number a dimension stands for in one trial (the parameter ``P = parameter_size``)."""
    if label == "1":
        return 1
    if label is None:
        return 2 + (serial + trial) % 3
    kind, _, var = label.partition(":")
    if kind == "P":
        if "_" not in var:
            return parameter_size
        return parameter_size + 1 + zlib.crc32(var.encode()) % 2  # a part of the parameter: another size
    return batch_size + zlib.crc32(var.encode()) % 2  # N: rows of a batch


def _fail(message: str, node: Expr, text: str) -> ShapeError:
    offset = node.span[0] if (node.span and text) else 0
    return ShapeError(message, text, offset)


class _Inferrer:
    def __init__(self, shapes: Shapes, text: str, parameter: str):
        self.s = shapes
        self.text = text
        self.parameter = parameter

    def scalar(self) -> Shape:
        one = self.s.constant("1")
        return (one, one, "s")

    def require_scalar(self, shape: Shape, node: Expr, what: str) -> None:
        one = self.s.constant("1")
        if not (self.s.unify(shape[0], one) and self.s.unify(shape[1], one)):
            raise _fail(f"{what} takes a scalar, not {_shape_text(shape)}: `{node}`", node, self.text)

    def require_square(self, shape: Shape, node: Expr, what: str) -> None:
        if not self.s.unify(shape[0], shape[1]):
            raise _fail(f"{what} needs a square matrix, not {_shape_text(shape)}: `{node}`", node, self.text)

    def point(self, t: Term) -> str:
        values = [n for g in t.groups for n in g] + list(t.given)
        values = [variable(n) for n in values if n.base == self.parameter and not is_random(n)]
        whole = [v for v in values if v == self.parameter]
        return (whole or values or [self.parameter])[0]

    def shape(self, e: Expr) -> Shape:
        out = self._shape(e)
        self.s.nodes[id(e)] = out
        return out

    def _shape(self, e: Expr) -> Shape:
        s = self.s
        if isinstance(e, Number) and e.value == 0:
            return (s.new(), s.new(), "a")  # 0 is the zero of whatever shape it meets (H''[y|x] = 0)
        if isinstance(e, (Number, Const, Prob, Info)):
            return self.scalar()
        if isinstance(e, Name):
            if e.upper and e.base != "D":
                if e.text not in s.names:
                    s.names[e.text] = (s.new(matrix=True), s.new(matrix=True), "m")
                return s.names[e.text]
            return self.scalar()
        if isinstance(e, Identity):
            d = s.new()
            return (d, d, "m")
        if isinstance(e, Term):
            if e.order == 0:
                return self.scalar()
            p = s.constant(f"P:{self.point(e)}")
            if e.order == 2:
                return (p, p, "m")
            group = e.groups[0]
            rows = s.constant(f"N:{variable(group[0])}") if len(group) == 1 and is_batch(group[0]) else \
                s.constant("1")
            return (rows, p, "m")
        if isinstance(e, Expectation):
            return self.shape(e.body)
        if isinstance(e, Neg):
            return self.shape(e.arg)
        if isinstance(e, Transpose):
            r, c, kind = self.shape(e.arg)
            return (c, r, kind)
        if isinstance(e, Func):
            arg = self.shape(e.arg)
            if e.name in ("log", "exp"):
                hint = " (use logdet for a matrix)" if e.name == "log" else ""
                self.require_scalar(arg, e, f"`{e.name}`{hint}")
            else:
                self.require_square(arg, e, f"`{e.name}`")
            return self.scalar()
        if isinstance(e, Pow):
            base = self.shape(e.base)
            self.require_scalar(self.shape(e.exponent), e.exponent, "an exponent")
            if not s.is_scalar(base):
                self.require_square(base, e, "a power or an inverse")
            return base
        if isinstance(e, Sum):
            first = self.shape(e.terms[0])
            for t in e.terms[1:]:
                other = self.shape(t)
                if {first[2], other[2]} == {"s", "m"} or not (s.unify(first[0], other[0]) and
                                                             s.unify(first[1], other[1])):
                    raise _fail(f"cannot add {_shape_text(first)} and {_shape_text(other)}: `{e}` (a sum needs equal "
                                "shapes; a matrix plus a scalar c is written with `c * Id`)", e, self.text)
                if first[2] == "a":
                    first = (first[0], first[1], other[2])
            return first
        if isinstance(e, Product):
            acc = self.shape(e.factors[0])
            for op, f in zip(e.ops, e.factors[1:]):
                right = self.shape(f)
                if op == "/":
                    self.require_scalar(right, f, "division (multiply by the inverse `M^-1` instead)")
                    continue
                if s.is_scalar(acc) or acc[2] == "a":
                    acc = right
                    continue
                if s.is_scalar(right) or right[2] == "a":
                    continue
                if not s.unify(acc[1], right[0]):
                    raise _fail(f"cannot multiply {_shape_text(acc)} by {_shape_text(right)}: `{e}` (the inner "
                                "dimensions differ)", e, self.text)
                acc = (acc[0], right[1], "m")
            return acc
        if isinstance(e, Relation):
            raise _fail("a relation has no shape", e, self.text)
        raise _fail(f"no shape for {type(e).__name__}", e, self.text)


def infer_shapes(exprs: list[Expr] | tuple[Expr, ...], text: str = "", parameter: str = "w") -> Shapes:
    """Infer and check the shapes of ``exprs`` together (names shared); ``Shapes.sides`` holds each one's shape."""
    shapes = Shapes()
    inferrer = _Inferrer(shapes, text, parameter)
    for e in exprs:
        shapes.sides.append(inferrer.shape(e))
    return shapes


def same_shape(shapes: Shapes, a: Shape, b: Shape) -> bool:
    """Unify two sides' shapes (a scalar and a 1 x 1 matrix compare); False when they cannot be equal."""
    return shapes.unify(a[0], b[0]) and shapes.unify(a[1], b[1])
