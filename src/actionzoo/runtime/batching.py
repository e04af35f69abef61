"""The one view packer: rows of many items -> engine calls of ``batch_size`` rows -> outputs
scattered back to their items.

Recognition packs the views of consecutive videos into calls of exactly ``batch_size`` views; AVA
packs keyframe clips (each with its own boxes) into calls of clips of one frame size. Both hand
their rows to a :class:`BatchPacker`, which decides when to call, keeps each row's place, and calls
``on_complete(item, outputs)`` as soon as the last row of an item has its output.

With an engine that computes asynchronously (a CUDA device), ``run_rows`` returns a
:class:`Deferred` and the packer keeps one call in flight: it starts call k+1 before it takes the
outputs of call k, so the host's gathering and upload of the next batch overlap the device's work.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from actionzoo.runtime.timing import StageTimes

__all__ = ["BatchPacker", "Deferred"]


@dataclass(frozen=True)
class Deferred:
    """Outputs of a call that is still running: ``result()`` waits for them."""

    result: Callable[[], Sequence[Any]]


@dataclass
class _Open:
    item: Any
    outputs: list[Any]
    left: int


@dataclass
class BatchPacker:
    """Packs rows into calls of ``run_rows`` with at most ``batch_size`` rows each.

    ``run_rows(rows)`` runs one call and returns one output per row, in order, or a
    :class:`Deferred` of them; at most ``in_flight`` deferred calls wait unread. ``group_of(row)``
    (default: one group) keeps rows of different groups out of one call (AVA clips of different
    frame sizes); when more than ``max_waiting`` rows wait across groups, the fullest group runs
    early. Time spent in ``run_rows`` and waiting on deferred outputs is charged to
    ``times.model``.
    """

    run_rows: Callable[[Sequence[Any]], Sequence[Any]]
    batch_size: int
    on_complete: Callable[[Any, list[Any]], None]
    group_of: Callable[[Any], Hashable] = lambda row: None
    max_waiting: int | None = None
    in_flight: int = 1
    times: StageTimes = field(default_factory=StageTimes)
    _groups: OrderedDict = field(default_factory=OrderedDict, init=False)
    _open: dict[int, _Open] = field(default_factory=dict, init=False)
    _waiting: int = field(default=0, init=False)
    _next_id: int = field(default=0, init=False)
    _running: deque = field(default_factory=deque, init=False)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.batch_size}")
        if self.in_flight < 0:
            raise ValueError(f"in_flight must be >= 0, got {self.in_flight}")

    def add(self, item: Any, rows: Sequence[Any]) -> None:
        """Queue ``item``'s rows; calls that fill up run now."""
        if not rows:
            self.on_complete(item, [])
            return
        ident = self._next_id
        self._next_id += 1
        self._open[ident] = _Open(item, [None] * len(rows), len(rows))
        for index, row in enumerate(rows):
            group = self._groups.setdefault(self.group_of(row), [])
            group.append((ident, index, row))
            self._waiting += 1
            if len(group) >= self.batch_size:
                self._run(self.group_of(row))
            elif self.max_waiting is not None and self._waiting > self.max_waiting:
                self._run(max(self._groups, key=lambda g: len(self._groups[g])))

    def flush(self) -> None:
        """Run every waiting row (in calls of up to ``batch_size``) and take every output."""
        while self._groups:
            self._run(next(iter(self._groups)))
        while self._running:
            self._take_oldest()

    @property
    def pending_items(self) -> int:
        return len(self._open)

    def _run(self, group: Hashable) -> None:
        queue = self._groups[group]
        take, rest = queue[: self.batch_size], queue[self.batch_size :]
        if rest:
            self._groups[group] = rest
        else:
            del self._groups[group]
        self._waiting -= len(take)
        start = time.perf_counter()
        outputs = self.run_rows([row for _, _, row in take])
        self.times.model += time.perf_counter() - start
        if isinstance(outputs, Deferred):
            self._running.append((take, outputs))
            while len(self._running) > self.in_flight:
                self._take_oldest()
        else:
            self._scatter(take, outputs)

    def _take_oldest(self) -> None:
        take, deferred = self._running.popleft()
        start = time.perf_counter()
        outputs = deferred.result()
        self.times.model += time.perf_counter() - start
        self._scatter(take, outputs)

    def _scatter(self, take: list, outputs: Sequence[Any]) -> None:
        if len(outputs) != len(take):
            raise RuntimeError(f"a batch of {len(take)} rows gave {len(outputs)} outputs")
        for (ident, index, _), output in zip(take, outputs):
            state = self._open[ident]
            state.outputs[index] = output
            state.left -= 1
            if state.left == 0:
                del self._open[ident]
                self.on_complete(state.item, state.outputs)
