"""Which failures end one item (a video, a keyframe, a training clip), and which end the run.

A corrupt, truncated or missing file must not end an evaluation or an epoch: the item is recorded
as failed, with its reason, and the run goes on. Those failures surface as the decoders' and the
file system's own exceptions, or as our own :class:`~actionzoo.errors.ActionZooError`. Anything
else (a ``TypeError``, ``AttributeError``, ``KeyError``, ...) is a defect in our code: counting it
as a bad video for every record would hide it, so it propagates and stops the run with its
traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import av
import cv2

from actionzoo.errors import ActionZooError

__all__ = ["DATA_ERRORS", "item_error", "attempt"]

T = TypeVar("T")

#: What a bad input file raises on its way through decoding and preprocessing.
DATA_ERRORS: tuple[type[BaseException], ...] = (
    ActionZooError,
    av.error.FFmpegError,  # every libav error: invalid data, end of file, unsupported codec ...
    OSError,  # missing, unreadable or truncated files
    EOFError,
    ValueError,  # frames whose shape or values a transform cannot take
    cv2.error,  # OpenCV's decoders and resizes
)


def item_error(where: object, error: BaseException) -> str:
    """The one-line reason an item failed: our own errors already name their file."""
    if isinstance(error, ActionZooError):
        return str(error)
    return f"{where}: {type(error).__name__}: {error}"


def attempt(where: object, load: Callable[[], T]) -> tuple[T | None, str | None]:
    """``(load(), None)``, or ``(None, reason)`` when ``load`` fails on its data: the one
    per-item error capture of evaluation, AVA evaluation, prediction and training. ``where``
    (the item's file or key) names it in the reason; any other exception propagates."""
    try:
        return load(), None
    except DATA_ERRORS as error:  # a corrupt file ends this item, not the run
        return None, item_error(where, error)
