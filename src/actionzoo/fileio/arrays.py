"""Reading a user's ``.npy`` file: numbers only, and no more memory than the file holds.

``numpy.load`` allocates the array its header declares before reading the data, so a 128-byte
file declaring ``(10**10,)`` float64 asks for 80 GB. The header is read first and the declared size
compared with the bytes that follow it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from actionzoo.errors import UsageError
from actionzoo.fileio.display import escape

__all__ = ["load_array"]


def load_array(path: str | Path, what: str) -> np.ndarray:
    """A numeric array from ``path`` (``.npy``), or a one-line :class:`UsageError` naming the file:
    never a pickle, never a traceback, never more memory than the file's size."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            if dtype.hasobject or dtype.kind not in "biuf":
                raise ValueError(f"a {dtype} array; only numeric arrays are read")
            declared = math.prod(shape) * dtype.itemsize
            left = path.stat().st_size - f.tell()
            if declared != left:
                raise ValueError(f"its header declares {list(shape)} {dtype} ({declared} bytes) "
                                 f"but {left} bytes follow")
            f.seek(0)
            return np.load(f, allow_pickle=False)
    except UsageError:
        raise
    except Exception as error:  # numpy raises OSError, ValueError, EOFError, ... for bad files
        raise UsageError(f"{path}: cannot read {what} ({escape(str(error), 160)})") from None
