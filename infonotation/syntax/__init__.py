"""Text to syntax tree and back: the grammar, the parser, the printers and ``resolve``."""

from .parser import parse
from .tree import Expr, Name, Relation, Term

__all__ = ["parse", "Expr", "Name", "Relation", "Term"]
