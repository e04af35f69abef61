"""Writing files so that a crash never leaves a truncated one where a complete one belongs.

Everything is written to a fresh temporary file beside the target (``.<name>.<random>.partial``,
created with ``O_EXCL`` by :func:`tempfile.mkstemp`, so a planted file or symlink of that name can
never receive the data) and renamed over the target when complete (a rename within one directory
is atomic on POSIX, and it replaces a symlink at the target rather than following it), so a reader
sees the old file or the new one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

# The process umask, read once (os.umask can only be read by setting it).
_UMASK = os.umask(0)
os.umask(_UMASK)

__all__ = ["atomic_path", "write_bytes_atomic", "write_text_atomic", "save_npy_atomic"]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``, on an error it
    is removed and ``target`` is left as it was. Parent folders are created."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:100]}.",
                                    suffix=".partial")
    os.close(handle)
    os.chmod(name, 0o666 & ~_UMASK)  # mkstemp's 0600 would make results private to this user
    partial = Path(name)
    try:
        yield partial
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(target) as partial:
        partial.write_bytes(data)
    return Path(target)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> Path:
    with atomic_path(target) as partial:
        partial.write_text(text)
    return Path(target)


def save_npy_atomic(target: str | os.PathLike[str], array: np.ndarray) -> Path:
    with atomic_path(target) as partial, partial.open("wb") as f:
        np.save(f, array)
    return Path(target)
