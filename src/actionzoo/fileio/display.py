"""File-derived text made safe to print: one line, no terminal control sequences, bounded length.

A refusal message that quotes a name from a hostile file must not let that file forge the output
(an ESC sequence that erases the line and prints "fits (400 classes)") or flood the terminal.
"""

from __future__ import annotations

import reprlib

__all__ = ["escape", "shown"]

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 200
_REPR.maxlevel = 4


def escape(text: str, limit: int = 200) -> str:
    """``text`` with every non-printable character (controls, ESC, line breaks, bidi overrides)
    written as a backslash escape, cut to ``limit`` characters with ``...``."""
    text = str(text)
    cut = len(text) > limit
    text = text[:limit]
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                       for c in text)
    return text + ("..." if cut else "")


def shown(value: object, limit: int = 80) -> str:
    """A short, escaped ``repr`` of any value read from a file (bounded depth and size)."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a repr that fails or recurses: name the type only
        text = f"<{type(value).__name__}>"
    return escape(text, limit)
