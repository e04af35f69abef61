"""What a decode worker hands back for one item: its engine rows, or the reason it failed; and
the :class:`Status` an item ends with in a results store, an index or a report.

It lives with the data it carries (views of a video, a keyframe clip with its boxes) so that the
datasets that build items sit in ``data/`` and the run loop in ``runtime/`` only consumes them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["WorkItem", "Status"]


class Status(enum.StrEnum):
    """How one item (a video, a keyframe) ended. The values are what stores, staged indexes and
    reports hold, so a string read back from a file becomes a member once, where it is read."""

    OK = "ok"  # scored
    FAILED = "failed"  # could not be read; a reason goes with it

    def describe(self, reason: str | None) -> str:
        """The status as a CSV cell: ``ok``, or ``failed: <reason>``."""
        return self.value if self is Status.OK else f"{self.value}: {reason}"

    @classmethod
    def sql_values(cls) -> str:
        """The values as a SQL list, for a column's CHECK constraint: ``'ok', 'failed'``."""
        return ", ".join(f"'{status.value}'" for status in cls)


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
