"""Models: Bayesian networks over the variables that names refer to.

The default model is ``p(y, w | x) = p(y | x, w) p(w)`` extended to any number of points:

* the parameter ``W`` is a root;
* a restricted parameter ``W_L`` (the last layer, any subscripted parameter name) is a part of ``W``: a
  deterministic child of ``W``;
* every input ``X``, ``X_s`` is a root, independent of ``W``, with an unspecified distribution;
* every output ``Y_s`` has parents ``X_s`` and ``W`` (names that share a subscript share a point);
* a data set ``D``, ``D_train``, ... has parent ``W`` (its labels depend on the parameter).

Names the model does not know (``A``, ``Z``, ...) carry no assumption: nothing is independent of them.

Conditional independence is read off by d-separation, computed by the Bayes-ball reachability of
Shachter (1998) on the ancestral closure of the query (linear in its size, memoised per query):
``d_separated`` (is ``a`` independent of ``b`` given ``c``), ``requisite`` (which observed names
``p(targets | context)`` depends on) and ``factorise`` (the chain rule in the model's fixed order, each
factor's conditioning set reduced to what it depends on).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

__all__ = ["Model", "is_parameter_part"]


def is_parameter_part(var: str, parameter: str = "w") -> bool:
    """``w_L`` (any subscripted parameter variable) is a part of the parameter ``w``: a function of it."""
    base, sep, sub = var.partition("_")
    return base == parameter and bool(sep) and bool(sub)


class Model:
    """A Bayesian network over variable names (``"w"``, ``"x_1"``, ``"y_eval"``, ``"D_train"``).

    ``Model()`` is the paper's default model; ``Model(parents={...})`` declares your own network
    (a mapping from each variable to its parents); ``default=False`` turns the default pattern off.
    ``likelihood`` (``"categorical"``, ``"bernoulli"``, ``"gaussian"``) names the output distribution, an
    exponential family in the network's outputs: with the last-layer parameter ``w_L`` (or ``linear=True``:
    outputs linear in the whole parameter, e.g. logistic regression) the model is then a generalised linear
    model, which the ``glm`` rule needs.
    """

    def __init__(self, parents: Mapping[str, Iterable[str]] | None = None, *, parameter: str = "w",
                 default: bool = True, likelihood: str | None = None, linear: bool = False):
        self.parameter = parameter
        self.default = default
        self.likelihood = likelihood
        self.linear = linear
        self._declared = {k: tuple(v) for k, v in (parents or {}).items()}
        self._key = (parameter, default, likelihood, linear, tuple(sorted(self._declared.items())))
        self._hash = hash(self._key)

    def __repr__(self) -> str:
        extra = f", parents={dict(self._declared)}" if self._declared else ""
        lik = f", likelihood={self.likelihood!r}" if self.likelihood else ""
        lin = ", linear=True" if self.linear else ""
        return f"Model(default={self.default}{extra}{lik}{lin})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and other._key == self._key

    def __hash__(self) -> int:
        return self._hash

    # -- structure -------------------------------------------------------------------------------
    @functools.lru_cache(maxsize=65536)  # noqa: B019 - models are few and long-lived
    def parents(self, var: str) -> tuple[str, ...] | None:
        """The parents of ``var``, or ``None`` when the model knows nothing about it."""
        if var in self._declared:
            return self._declared[var]
        if not self.default:
            return None
        base, _, sub = var.partition("_")
        if var == self.parameter:
            return ()
        if is_parameter_part(var, self.parameter):  # w_L: a part of w
            return (self.parameter,)
        if base == "x":
            return ()
        if base == "y":
            return (f"x_{sub}" if sub else "x", self.parameter)
        if base == "D":
            return (self.parameter,)
        return None

    def known(self, var: str) -> bool:
        return self.parents(var) is not None

    def deterministic(self, var: str) -> bool:
        """Whether ``var`` is a function of its parents (a part of the parameter)."""
        return var not in self._declared and self.default and is_parameter_part(var, self.parameter)

    def is_ancestral(self, vars_: frozenset[str]) -> bool:
        """Every variable is known and its parents are in the set: ``p(S) = prod p(v | pa(v))``."""
        for v in vars_:
            pa = self.parents(v)
            if pa is None or not set(pa) <= vars_:
                return False
        return True

    @functools.lru_cache(maxsize=65536)  # noqa: B019 - models are few and long-lived
    def ancestors(self, var: str) -> frozenset[str]:
        """``var`` and every ancestor of it (``var`` must be known)."""
        out, todo = {var}, [var]
        while todo:
            for p in self.parents(todo.pop()) or ():
                if p not in out:
                    out.add(p)
                    todo.append(p)
        return frozenset(out)

    @functools.lru_cache(maxsize=65536)  # noqa: B019
    def depth(self, var: str) -> int:
        """The length of the longest path from a root to ``var`` (a known variable); iterative, for long chains."""
        order: list[str] = []
        seen: set[str] = set()
        stack = [(var, False)]
        while stack:  # parents before children (depth-first post-order)
            v, done = stack.pop()
            if done:
                order.append(v)
                continue
            if v in seen:
                continue
            seen.add(v)
            stack.append((v, True))
            stack.extend((p, False) for p in self.parents(v) or () if p not in seen)
        depth: dict[str, int] = {}
        for v in order:
            depth[v] = 1 + max((depth[p] for p in self.parents(v) or ()), default=-1)
        return depth[var]

    def order(self, vars_: Iterable[str]) -> list[str]:
        """``vars_`` in the model's fixed topological order (by depth, then name; unknown names last)."""
        return sorted(vars_, key=lambda v: (self.depth(v), v) if self.known(v) else (10**9, v))

    @functools.lru_cache(maxsize=4096)  # noqa: B019
    def _closure(self, vars_: frozenset[str]) -> tuple[dict[str, tuple[str, ...]], dict[str, list[str]]]:
        """Parents and children within the ancestral closure of ``vars_`` (all known)."""
        nodes: set[str] = set()
        for v in vars_:
            nodes |= self.ancestors(v)
        parents = {v: self.parents(v) or () for v in nodes}
        children: dict[str, list[str]] = {v: [] for v in nodes}
        for v, pa in parents.items():
            for p in pa:
                children[p].append(v)
        return parents, children

    def _ball(self, sources: frozenset[str], given: frozenset[str], others: frozenset[str] = frozenset(),
              graph: tuple | None = None) -> tuple[frozenset[str], frozenset[str]]:
        """Bayes-ball from ``sources`` given ``given`` on the ancestral closure of all three sets (or on
        ``graph``, an ancestral closure that contains them): (unobserved nodes reached, observed nodes visited)."""
        parents, children = graph or self._closure(sources | given | others)
        anc_given: set[str] = set()
        for g in given:
            anc_given |= self.ancestors(g)
        todo = [(s, True) for s in sources]  # (node, arrived from a child, i.e. moving up)
        seen: set[tuple[str, bool]] = set()
        reached: set[str] = set()
        hit: set[str] = set()
        while todo:
            y, up = todo.pop()
            if (y, up) in seen:
                continue
            seen.add((y, up))
            observed = y in given
            (hit if observed else reached).add(y)
            if up and not observed:
                todo.extend((p, True) for p in parents[y])
                todo.extend((c, False) for c in children[y])
            elif not up:
                if not observed:
                    todo.extend((c, False) for c in children[y])
                if y in anc_given:  # a collider with an observed descendant passes the ball back up
                    todo.extend((p, True) for p in parents[y])
        return frozenset(reached), frozenset(hit)

    @functools.lru_cache(maxsize=65536)  # noqa: B019
    def factorise(self, vars_: frozenset[str]) -> tuple[tuple[str, frozenset[str]], ...]:
        """The chain rule in the model's order, each factor reduced: ``p(S) = prod_v p(v | requisite(v))``.

        ``requisite(v)`` is the part of the variables before ``v`` (in :meth:`order`) that ``p(v | before)``
        depends on; for a set closed under parents it is ``v``'s parents. With an unknown name among them,
        nothing before it is dropped.
        """
        order = self.order(vars_)
        known = all(self.known(v) for v in vars_)
        graph = self._closure(vars_) if known else None
        out = []
        for i, v in enumerate(order):
            before = frozenset(order[:i])
            if known and before:
                _, hit = self._ball(frozenset({v}), before, graph=graph)
                before = hit & before
            out.append((v, before))
        return tuple(out)

    @functools.lru_cache(maxsize=65536)  # noqa: B019
    def d_separated(self, a: frozenset[str], b: frozenset[str], given: frozenset[str]) -> bool:
        """``a`` and ``b`` are conditionally independent given ``given`` in every distribution of the model."""
        a, b = a - given, b - given
        if not a or not b:
            return True
        if a & b:
            return False
        if not all(self.known(v) for v in a | b | given):
            return False
        reached, _ = self._ball(a, given, b)
        return not (reached & b)

    @functools.lru_cache(maxsize=65536)  # noqa: B019
    def requisite(self, targets: frozenset[str], context: frozenset[str],
                  universe: frozenset[str] = frozenset()) -> frozenset[str]:
        """The names of ``context`` that ``p(targets | context)`` depends on (Bayes-ball's requisite observations).

        ``p(targets | context) = p(targets | requisite)`` in every distribution of the model. With a name the
        model does not know, nothing is dropped. ``universe`` (a superset of both, optional) lets many queries
        share one ancestral graph.
        """
        context = context - targets
        if not targets or not context:
            return context
        if not all(self.known(v) for v in targets | context | universe):
            return context
        _, hit = self._ball(targets, context, graph=self._closure(universe | targets | context))
        return hit & context
