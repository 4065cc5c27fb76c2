"""Models: Bayesian networks over the variables that names refer to.

The default model is ``p(y, w | x) = p(y | x, w) p(w)`` extended to any number of points:

* the parameter ``W`` is a root;
* every input ``X``, ``X_s`` is a root, independent of ``W``, with an unspecified distribution;
* every output ``Y_s`` has parents ``X_s`` and ``W`` (names that share a subscript share a point);
* a data set ``D``, ``D_train``, ... has parent ``W`` (its labels depend on the parameter).

Names the model does not know (``A``, ``Z``, ...) carry no assumption: nothing is independent of them.
Conditional independence is read off by d-separation (networkx).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

import networkx as nx

__all__ = ["Model"]


class Model:
    """A Bayesian network over variable names (``"w"``, ``"x_1"``, ``"y_eval"``, ``"D_train"``).

    ``Model()`` is the paper's default model; ``Model(parents={...})`` declares your own network
    (a mapping from each variable to its parents); ``default=False`` turns the default pattern off.
    """

    def __init__(self, parents: Mapping[str, Iterable[str]] | None = None, *, parameter: str = "w",
                 default: bool = True, likelihood: str | None = None):
        self.parameter = parameter
        self.default = default
        self.likelihood = likelihood
        self._declared = {k: tuple(v) for k, v in (parents or {}).items()}
        self._key = (parameter, default, likelihood, tuple(sorted(self._declared.items())))

    def __repr__(self) -> str:
        extra = f", parents={dict(self._declared)}" if self._declared else ""
        return f"Model(default={self.default}{extra})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and other._key == self._key

    def __hash__(self) -> int:
        return hash(self._key)

    # -- structure -------------------------------------------------------------------------------
    def parents(self, var: str) -> tuple[str, ...] | None:
        """The parents of ``var``, or ``None`` when the model knows nothing about it."""
        if var in self._declared:
            return self._declared[var]
        if not self.default:
            return None
        base, _, sub = var.partition("_")
        if base == self.parameter:  # w, and restricted parameters such as w_L (the last layer)
            return ()
        if base == "x":
            return ()
        if base == "y":
            return (f"x_{sub}" if sub else "x", self.parameter)
        if base == "D":
            return (self.parameter,)
        return None

    def known(self, var: str) -> bool:
        return self.parents(var) is not None

    def is_ancestral(self, vars_: frozenset[str]) -> bool:
        """Every variable is known and its parents are in the set: ``p(S) = prod p(v | pa(v))``."""
        for v in vars_:
            pa = self.parents(v)
            if pa is None or not set(pa) <= vars_:
                return False
        return True

    @functools.lru_cache(maxsize=65536)  # noqa: B019 - models are few and long-lived
    def _graph(self, vars_: frozenset[str]) -> nx.DiGraph:
        g = nx.DiGraph()
        todo = list(vars_)
        while todo:
            v = todo.pop()
            if v in g and g.nodes[v].get("done"):
                continue
            g.add_node(v, done=True)
            for p in self.parents(v) or ():
                g.add_edge(p, v)
                todo.append(p)
        return g

    @functools.lru_cache(maxsize=65536)  # noqa: B019
    def d_separated(self, a: frozenset[str], b: frozenset[str], given: frozenset[str]) -> bool:
        """``a`` and ``b`` are conditionally independent given ``given`` in every distribution of the model."""
        a, b = a - given, b - given
        if not a or not b:
            return True
        if a & b:
            return False
        every = a | b | given
        if not all(self.known(v) for v in every):
            return False
        g = self._graph(every)
        return nx.is_d_separator(g, set(a), set(b), set(given))
