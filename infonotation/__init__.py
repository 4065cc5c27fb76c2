"""infonotation: the notation of Kirsch & Gal (TMLR 2022) for information quantities, as software.

Parse it, reason about it, compile it to PyTorch. See ``docs/`` and ``README.md``.
"""

from .errors import CompileError, NotationError, ParseError, ResolveError, RuleError
from .syntax.parser import parse
from .syntax.tree import Expr, Relation

__all__ = [
    "parse",
    "Expr",
    "Relation",
    "NotationError",
    "ParseError",
    "ResolveError",
    "RuleError",
    "CompileError",
]
__version__ = "0.1.0"
