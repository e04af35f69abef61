"""``actionzoo timeline`` as one call: the sliding-window timeline of a video or a live source,
written to a folder as CSV, JSON and a plot (and an MP4 with the labels drawn, for files)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from actionzoo.engines.base import Engine

__all__ = ["TimelineOptions", "TimelineRun", "timeline_to_folder"]


@dataclass(frozen=True)
class TimelineOptions:
    """``window`` and ``stride`` in seconds; ``batch_size`` None: 4 windows per engine call (1 for
    live sources); ``fmt``: the input format of devices and pipes; ``render``: also an MP4."""

    window: float
    stride: float
    protocol: object = "official"  # a name or a Protocol
    top_k: int = 5
    batch_size: int | None = None
    fmt: str | None = None
    render: bool = False
    progress: bool = True


@dataclass
class TimelineRun:
    result: object  # the Timeline
    live: bool
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was not done, and why

    def summary(self) -> str:
        r = self.result
        status = "interrupted; " if r.interrupted else ""
        return (f"{status}{len(r.windows)} windows over {r.seconds_read:.1f} s of video in "
                f"{r.wall:.1f} s ({r.windows_per_s:.2f} windows/s, {r.realtime_factor:.2f}x "
                f"real time) with {r.engine}")


def timeline_to_folder(
    model,
    source: str,
    out: str | Path,
    *,
    engine: Engine,
    class_names: Sequence[str] | None = None,
    options: TimelineOptions,
    on_live_window: Callable | None = None,
) -> TimelineRun:
    """Run the timeline of ``source`` and write it under ``out``; ``on_live_window`` is called
    with each window of a live source the moment it is scored."""
    from actionzoo.data.stream import is_live
    from actionzoo.prediction.timeline import plot_timeline, render_video, timeline, write_timeline

    live = is_live(source)
    result = timeline(model, source, engine=engine, window=options.window, stride=options.stride,
                      class_names=class_names, protocol=options.protocol, top_k=options.top_k,
                      batch_size=options.batch_size, fmt=options.fmt,
                      on_window=on_live_window if live else None, progress=options.progress)
    out = Path(out)
    run = TimelineRun(result, live, [*write_timeline(result, out)])
    run.written.append(plot_timeline(result, out / "timeline.png"))
    if options.render:
        if live:
            run.notes.append("--render re-reads the source; a live source cannot be re-read, so no MP4")
        else:
            run.written.append(render_video(result, source, out / "timeline.mp4", fmt=options.fmt))
    return run
