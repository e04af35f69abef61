"""One progress display for every long run (eval, preprocess, bench, training), drawn by rich.

It writes to stderr, so what a command prints on stdout stays clean; on a terminal it is a live
bar with rate and ETA, elsewhere (CI logs, pipes) it stays silent until it closes.
"""

from __future__ import annotations

from types import TracebackType

__all__ = ["ProgressDisplay"]


class ProgressDisplay:
    """``with ProgressDisplay(total, "eval", "videos") as bar: bar.advance(loss=0.3)``.

    ``fields`` given to :meth:`advance` are shown after the bar (``loss 0.300``); ``enabled=False``
    makes every call a no-op.
    """

    def __init__(self, total: int | None, description: str, unit: str, *, enabled: bool = True):
        self.enabled = enabled and (total is None or total > 0)
        self.unit = unit
        self._progress = None
        self._task = None
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[extra]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task(description, total=total, rate="", extra="")

    def __enter__(self) -> ProgressDisplay:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def advance(self, count: int = 1, **fields: object) -> None:
        if self._progress is None:
            return
        task = self._progress.tasks[0]
        speed = task.finished_speed or task.speed
        rate = f"{speed:.2f} {self.unit}/s" if speed else ""
        extra = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
        self._progress.update(self._task, advance=count, rate=rate,
                              **({"extra": extra} if fields else {}))

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
