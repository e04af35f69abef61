"""Writing files so that a crash never leaves a truncated one where a complete one belongs.

Everything is written to ``<name>.partial`` beside the target and renamed over it when complete
(a rename within one directory is atomic on POSIX), so a reader sees the old file or the new one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["atomic_path", "write_bytes_atomic", "write_text_atomic", "save_npy_atomic"]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``, on an error it
    is removed and ``target`` is left as it was. Parent folders are created."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
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
