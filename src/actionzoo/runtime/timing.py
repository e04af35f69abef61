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

    def bound(self) -> str:
        """Which stage bounds the throughput, in words.

        The model bounds it while it waits for data at most a quarter of its own time (the
        1.25x end-to-end budget); otherwise the data path does, and the larger of the workers'
        two stages is named.
        """
        if self.model <= 0:
            return "nothing measured"
        if self.waiting <= 0.25 * self.model:
            return (f"the model: it waited for data {self.waiting:.1f} s against {self.model:.1f} s "
                    f"computing (wall = {self.wall / self.model:.2f}x model time)")
        stage = "preprocessing" if self.preprocess >= self.decode else "decoding"
        return (f"the data path ({stage}): the model waited {self.waiting:.1f} s against "
                f"{self.model:.1f} s computing (wall = {self.wall / self.model:.2f}x model time); "
                f"workers spent decode {self.decode:.1f} s, preprocess {self.preprocess:.1f} s")

    def share(self, seconds: float) -> str:
        """``"12.3 s (45% of wall)"``."""
        return f"{seconds:.1f} s ({100 * seconds / self.wall:.0f}% of wall)" if self.wall > 0 else f"{seconds:.1f} s"
