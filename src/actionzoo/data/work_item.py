"""What a decode worker hands back for one item: its engine rows, or the reason it failed.

It lives with the data it carries (views of a video, a keyframe clip with its boxes) so that the
datasets that build items sit in ``data/`` and the run loop in ``runtime/`` only consumes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["WorkItem"]


@dataclass
class WorkItem:
    """One unit of work built by a worker: the engine rows it yields, or the reason it failed.

    ``rows`` are the model inputs for one video (its views) or one keyframe (its clip with boxes);
    ``None`` when the item could not be built, with ``error`` saying why.
    """

    position: int
    rows: list[Any] | None
    error: str | None
    decode_s: float
    preprocess_s: float
    extra: dict[str, Any] = field(default_factory=dict)
