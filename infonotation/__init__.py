"""infonotation: the notation of Kirsch & Gal (TMLR 2022) for information quantities, as software.

Parse it, reason about it, compile it to PyTorch. See ``docs/`` and ``README.md``.
"""

from .acquisition import bald, batchbald, epig
from .acquisition.methods import Method, methods
from .compiler import compile
from .errors import CompileError, CompileWarning, NotationError, ParseError, ResolveError, RuleError
from .protocol import Acquisition, Selection, StreamSelection
from .symbolic.check import Verdict, check, equivalent
from .symbolic.counterexample import Counterexample
from .symbolic.derivation import Derivation, derive
from .symbolic.model import Model
from .symbolic.shapes import ShapeError
from .symbolic.sympy_form import from_sympy
from .syntax.latex import parse_latex
from .syntax.parser import parse
from .syntax.tree import Expr, Relation

__all__ = [
    "parse",
    "parse_latex",
    "compile",
    "bald",
    "batchbald",
    "epig",
    "methods",
    "Method",
    "Acquisition",
    "Selection",
    "StreamSelection",
    "Expr",
    "Relation",
    "Model",
    "equivalent",
    "check",
    "Verdict",
    "Counterexample",
    "from_sympy",
    "derive",
    "Derivation",
    "NotationError",
    "ParseError",
    "ResolveError",
    "ShapeError",
    "RuleError",
    "CompileError",
    "CompileWarning",
]
__version__ = "0.1.0"
