"""Paths that an input file names, kept under the folder they belong to.

A proposals file names video ids that become output file names; a preprocessed folder's
``index.csv`` names the files to read and write. Each such name is data from a file, so it may be
absolute, hold ``..`` or point through a symlink planted in the folder. :func:`path_under` turns a
name into a path that stays under its root or refuses it in one line; :func:`file_name_part` checks
a name that is used as one part of a file name.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from actionzoo.errors import UsageError
from actionzoo.fileio.display import shown

__all__ = ["MAX_NAME", "file_name_part", "path_under"]

#: Longest name part a file may supply (file systems stop at 255 bytes).
MAX_NAME = 200


def file_name_part(name: str, *, source: str | os.PathLike[str], what: str) -> str:
    """``name`` if it can be one part of a file name: no separators, no NUL, not ``.``/``..``,
    printable, at most :data:`MAX_NAME` characters."""
    if (not isinstance(name, str) or not name or len(name) > MAX_NAME or name in (".", "..")
            or "/" in name or "\\" in name or not name.isprintable()):
        raise UsageError(f"{source}: {what} {shown(name, 60)} cannot be part of a file name "
                         f"(a plain name of at most {MAX_NAME} printable characters without / \\)")
    return name


def path_under(root: str | os.PathLike[str], name: str, *, source: str | os.PathLike[str],
               what: str) -> Path:
    """``root / name`` for a relative ``name`` read from ``source``, refused unless it stays under
    ``root`` once every symlink is resolved: no absolute names, no ``..``, no NUL, no link that
    leads out."""
    if not isinstance(name, str) or not name or "\0" in name or len(name) > 4 * MAX_NAME:
        raise UsageError(f"{source}: {what} {shown(name, 60)} is not a file name")
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if PurePosixPath(name).is_absolute() or name.startswith(("/", "\\")) or ".." in parts:
        raise UsageError(f"{source}: {what} {shown(name, 60)} leaves its folder (absolute or "
                         "with ..); only names inside the folder are accepted")
    base = Path(root).resolve()
    path = base.joinpath(*parts)
    if not path.resolve().is_relative_to(base):
        raise UsageError(f"{source}: {what} {shown(name, 60)} leads out of {base} through a "
                         "symbolic link")
    return path
