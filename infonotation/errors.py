"""The library's exception hierarchy.

Every error a user can provoke is a :class:`NotationError` (itself a :class:`ValueError`):

``NotationError`` > ``ParseError`` | ``ResolveError`` | ``RuleError`` | ``CompileError``

Errors that point into a piece of text (``ParseError``, ``ResolveError``) carry ``line``,
``column`` (both 1-based), ``text`` (the whole input) and render a caret under the fault.
"""

from __future__ import annotations

__all__ = [
    "NotationError",
    "ParseError",
    "ResolveError",
    "RuleError",
    "CompileError",
    "caret_message",
]


def _line_col(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1


def caret_message(message: str, text: str, offset: int) -> str:
    """``message`` followed by the offending line of ``text`` and a caret at ``offset``."""
    line, column = _line_col(text, offset)
    lines = text.split("\n")
    shown = lines[line - 1] if lines else ""
    col = column
    if len(shown) > 100:  # keep long inputs readable: a window around the fault
        lo = max(0, column - 50)
        shown = ("..." if lo else "") + shown[lo : lo + 100] + ("..." if lo + 100 < len(shown) else "")
        col = column - lo + (3 if lo else 0)
    where = f"line {line}, column {column}"
    return f"{message} (at {where})\n    {shown}\n    {' ' * (col - 1)}^"


class NotationError(ValueError):
    """Base class of every error raised by infonotation."""


class _PositionedError(NotationError):
    def __init__(self, message: str, text: str = "", offset: int = 0):
        self.reason = message
        self.text = text
        self.offset = offset
        self.line, self.column = _line_col(text, offset)
        super().__init__(caret_message(message, text, offset) if text else message)


class ParseError(_PositionedError):
    """The text is not valid notation. ``.line``, ``.column``, ``.text`` locate the fault."""


class ResolveError(_PositionedError):
    """The text parses but does not make sense (e.g. a Hessian taken at a random ``W``)."""


class RuleError(NotationError):
    """A rewrite rule was asked for that does not exist or never applied."""


class CompileError(NotationError):
    """An expression, model or input cannot be compiled or evaluated numerically."""


class CompileWarning(UserWarning):
    """A compiled acquisition function works, but on an assumption the user may not have meant.

    Examples: no ``train=`` (the posterior is the prior alone), a network left in training mode with dropout or
    BatchNorm (the mode actually used is named), a label-aware quantity whose score cannot depend on the label
    under the chosen approximation steps (the reason is named).
    """
