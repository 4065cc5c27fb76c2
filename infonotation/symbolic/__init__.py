"""Symbolic layer: models, canonical forms, the identity checker, rules and derivations."""

from .check import StepVerdict, Verdict, check, equivalent
from .derivation import Derivation, Step, derive
from .model import Model
from .rules import RULES, Rule

__all__ = ["Model", "equivalent", "check", "Verdict", "StepVerdict", "derive", "Derivation", "Step", "RULES", "Rule",
           "clear_caches"]


def clear_caches() -> None:
    """Forget every memoised result of the symbolic layer (for benchmarks that time cold calls)."""
    from . import canonical, derivation, model
    from .check import _check_cached

    for f in (_check_cached, canonical._term_cached, canonical._information_content, derivation._derive,
              model.Model.parents, model.Model.ancestors, model.Model.depth, model.Model._closure,
              model.Model.d_separated, model.Model.requisite, model.Model.factorise):
        f.cache_clear()
