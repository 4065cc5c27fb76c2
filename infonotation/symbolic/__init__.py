"""Symbolic layer: models, canonical forms, the identity checker, rules and derivations."""

from .check import StepVerdict, Verdict, check, equivalent
from .derivation import Derivation, Step, derive
from .model import Model
from .rules import RULES, Rule

__all__ = ["Model", "equivalent", "check", "Verdict", "StepVerdict", "derive", "Derivation", "Step", "RULES", "Rule"]
