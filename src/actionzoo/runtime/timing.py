"""Where a run's time goes: per-stage seconds, charged as items flow through; and the seconds one
call takes, for choices made by measuring."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Protocol, TypeVar

__all__ = ["StageTimes", "Timed", "call_seconds", "median_seconds", "fastest_seconds"]


def call_seconds(call: Callable[[], object], repeats: int) -> list[float]:
    """The seconds each of ``repeats`` calls of ``call`` took, after one untimed warm-up call."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def median_seconds(call: Callable[[], object], repeats: int = 3) -> float:
    return statistics.median(call_seconds(call, repeats))


def fastest_seconds(call: Callable[[], object], repeats: int) -> float:
    return min(call_seconds(call, repeats))


class Timed(Protocol):
    decode_s: float
    preprocess_s: float


T = TypeVar("T", bound=Timed)


@dataclass
class StageTimes:
    """Seconds spent per stage. ``decode`` / ``preprocess`` are summed over workers (the CPU time of
    the data path); ``model``, ``waiting`` and ``other`` split the main process's wall time."""

    decode: float = 0.0
    preprocess: float = 0.0
    model: float = 0.0
    waiting: float = 0.0
    other: float = 0.0
    wall: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def timed(self, items: Iterable[T]) -> Iterator[T]:
        """Pass ``items`` through, charging the wait for each to ``waiting`` and the worker-side
        ``decode_s`` / ``preprocess_s`` each one carries to ``decode`` / ``preprocess``."""
        iterator = iter(items)
        while True:
            start = time.perf_counter()
            item = next(iterator, None)
            self.waiting += time.perf_counter() - start
            if item is None:
                return
            self.decode += item.decode_s
            self.preprocess += item.preprocess_s
            yield item

    def finish(self, wall: float) -> None:
        """Close the account: ``other`` is the wall time neither the model nor waiting took."""
        self.wall = wall
        self.other = max(wall - self.model - self.waiting, 0.0)

    def share(self, seconds: float) -> str:
        """``"12.3 s (45% of wall)"``."""
        return f"{seconds:.1f} s ({100 * seconds / self.wall:.0f}% of wall)" if self.wall > 0 else f"{seconds:.1f} s"
