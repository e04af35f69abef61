"""Reading a user's text file line by line: the one reader every annotation, label-map, box and
split-list parser starts from.

Text is UTF-8 (a byte-order mark is dropped); ``\\n`` and ``\\r\\n`` line ends both work. A file
that is missing, a folder, unreadable or not UTF-8 is one :class:`~actionzoo.errors.AnnotationError`
naming the file (and, for bytes that are not UTF-8, the line), so a parser never sees a traceback
and never needs its own copy of these checks. :func:`text_lines` numbers the lines from 1, as every
``<file>: line <n> ...`` problem a parser reports does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from actionzoo.errors import AnnotationError

__all__ = ["read_text", "text_lines", "read_lines"]


def read_text(path: str | os.PathLike[str]) -> str:
    """The file's text; a missing, unreadable or non-UTF-8 file is an AnnotationError."""
    path = Path(path)
    if not path.exists():
        raise AnnotationError(path, ["file not found"])
    if path.is_dir():
        raise AnnotationError(path, ["is a directory, expected an annotation file"])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AnnotationError(path, [f"cannot be read: {exc.strerror or exc}"]) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise AnnotationError(path, [f"line {line}: not UTF-8 text (byte {exc.start})"]) from None


def text_lines(text: str, *, comments: bool = True) -> Iterator[tuple[int, str]]:
    """(1-based line number, stripped line) of every non-blank line; with ``comments``, lines
    whose first non-blank character is ``#`` are skipped too (no list format starts a path with
    ``#``; formats whose lines may, such as a pbtxt, pass False)."""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not (comments and line.startswith("#")):
            yield lineno, line


def read_lines(path: str | os.PathLike[str], *, comments: bool = True) -> Iterator[tuple[int, str]]:
    """:func:`text_lines` of the file at ``path`` (read, and checked, by :func:`read_text`)."""
    return text_lines(read_text(path), comments=comments)
