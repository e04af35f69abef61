"""``actionzoo timeline``: a sliding window over a video of any length, or a live source.

Windows of ``window`` seconds start every ``stride`` seconds from the first frame. Each window is
classified as one clip of the model: its ``T`` input frames are spread evenly over the window (the
frame shown at each of ``T`` equally spaced instants: segment sampling, the model's own clip length
stretched to the window) and take the centre view of the model's protocol (resize, centre crop,
normalisation). The source is decoded once, front to back; only the frames some open window still
needs are kept, so memory is bounded by ``T x (window / stride + 1)`` frames whatever the length.
Results are known, and printed for a live source, as soon as a window's last frame has arrived.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from actionzoo.data.class_names import resolve_class_names
from actionzoo.data.stream import StreamFrame, open_stream
from actionzoo.data.views import centre_view
from actionzoo.engines.base import Engine, require_engine
from actionzoo.errors import UsageError
from actionzoo.fileio.atomic import atomic_path, write_text_atomic
from actionzoo.prediction.videos import ClassScore
from actionzoo.runtime.batching import BatchPacker
from actionzoo.runtime.progress import ProgressDisplay
from actionzoo.zoo.protocols import Protocol
from actionzoo.zoo.registry import get_model_spec
from actionzoo.zoo.spec import ModelSpec, Task

__all__ = ["WindowResult", "Timeline", "timeline", "window_view", "write_timeline",
           "plot_timeline", "render_video"]


@dataclass
class WindowResult:
    index: int
    start: float
    end: float
    probabilities: np.ndarray = field(repr=False)  # (classes,)
    top: list[ClassScore] = field(default_factory=list)


@dataclass
class Timeline:
    source: str
    model: str
    engine: str
    window: float
    stride: float
    frames_per_window: int
    class_names: list[str]
    windows: list[WindowResult] = field(default_factory=list)
    frames_read: int = 0
    seconds_read: float = 0.0
    wall: float = 0.0
    interrupted: bool = False

    @property
    def windows_per_s(self) -> float:
        return len(self.windows) / self.wall if self.wall else 0.0

    @property
    def realtime_factor(self) -> float:
        """Seconds of video classified per second of wall time."""
        return self.seconds_read / self.wall if self.wall else 0.0


def window_view(frames: np.ndarray, protocol: Protocol) -> torch.Tensor:
    """uint8 RGB ``(T, H, W, 3)`` -> the protocol's centre view ``(3, T, S, S)`` float32, made by
    the same code as the views of ``eval`` (:func:`actionzoo.data.views.centre_view`)."""
    return centre_view(frames, protocol)


@dataclass
class _Open:
    index: int
    start: float
    targets: list[float]
    frames: list[np.ndarray | None]


class _Windows:
    """Assigns incoming frames to the windows that sample them; yields windows once complete."""

    def __init__(self, window: float, stride: float, count: int) -> None:
        self.window, self.stride, self.count = window, stride, count
        self.open: list[_Open] = []
        self.next_index = 0
        self.previous: StreamFrame | None = None

    def _targets(self, start: float) -> list[float]:
        step = self.window / self.count
        return [start + (j + 0.5) * step for j in range(self.count)]

    def push(self, frame: StreamFrame) -> Iterator[_Open]:
        while self.next_index * self.stride <= frame.time:
            start = self.next_index * self.stride
            self.open.append(_Open(self.next_index, start, self._targets(start), [None] * self.count))
            self.next_index += 1
        done = []
        for w in self.open:
            for j, target in enumerate(w.targets):
                if w.frames[j] is None and target <= frame.time:
                    # the frame on screen at the target instant: the last one shown before it
                    held = self.previous if self.previous is not None and self.previous.time <= target \
                        else frame
                    w.frames[j] = held.rgb
            if all(f is not None for f in w.frames):
                done.append(w)
        self.previous = frame
        for w in done:
            self.open.remove(w)
            yield w

    def finish(self, last_time: float) -> Iterator[_Open]:
        """Windows the stream ended inside: kept when at least half covered, the last frame held."""
        for w in self.open:
            if self.previous is not None and last_time - w.start >= self.window / 2:
                w.frames = [f if f is not None else self.previous.rgb for f in w.frames]
                yield w
        self.open = []


def timeline(
    model: str | ModelSpec,
    source: str,
    *,
    engine: Engine,
    window: float,
    stride: float,
    class_names: Sequence[str] | None = None,
    protocol: str | Protocol = "official",
    top_k: int = 5,
    batch_size: int | None = None,
    fmt: str | None = None,
    on_window: Callable[[WindowResult], None] | None = None,
    progress: bool = False,
) -> Timeline:
    """Classify every window of ``source``; ``on_window`` sees each result as soon as it is known.
    Ctrl-C ends the run with the windows finished so far (``interrupted`` is set)."""
    require_engine(engine)
    spec = get_model_spec(model)
    if spec.task is not Task.RECOGNITION:
        raise UsageError(f"{spec.name} is a detector; `actionzoo detect` scores person boxes")
    if window <= 0 or stride <= 0:
        raise UsageError(f"--window and --stride must be positive, got {window} and {stride}")
    proto = spec.protocol(protocol)
    count = proto.view_shape[1]
    info, frames = open_stream(source, fmt=fmt)
    batch = batch_size or (1 if info.live else 4)
    result = Timeline(info.name, spec.name, engine.info.describe(), window, stride, count,
                      list(class_names or []))
    named = False  # the names are resolved once, when the first output gives the model's width

    def finished(w: _Open, outputs: list[np.ndarray]) -> None:
        nonlocal named
        probs = proto.aggregation.probabilities(proto.aggregation.combine(outputs[0][None]), 1)
        if not named:
            # the names given (checked against the width), else the registry's, else numbered
            result.class_names = resolve_class_names(len(probs), spec=spec, names=class_names,
                                                     source="class_names")
            named = True
        names = result.class_names
        order = np.argsort(-probs, kind="stable")[:top_k]
        item = WindowResult(w.index, w.start, w.start + window, probs,
                            [ClassScore(int(c), names[c], float(probs[c]), float(probs[c]))
                             for c in order])
        result.windows.append(item)
        bar.advance()
        if on_window is not None:
            on_window(item)

    def run(views: Sequence[torch.Tensor]) -> np.ndarray:
        return np.asarray(engine.run(np.stack([v.numpy() for v in views])))

    expected = None
    if info.duration and not info.live:
        expected = max(1, math.floor((info.duration - window / 2) / stride) + 1)
    started = time.perf_counter()
    windows = _Windows(window, stride, count)
    with ProgressDisplay(expected, "timeline", "windows", enabled=progress and not info.live) as bar:
        packer = BatchPacker(run, batch, finished)
        last = 0.0
        try:
            for frame in frames:
                result.frames_read += 1
                last = frame.time
                for w in windows.push(frame):
                    packer.add(w, [window_view(np.stack(w.frames), proto)])
            for w in windows.finish(last):
                packer.add(w, [window_view(np.stack(w.frames), proto)])
        except KeyboardInterrupt:
            result.interrupted = True
        finally:
            frames.close()
        packer.flush()
    result.seconds_read = last + (1.0 / info.fps if info.fps else 0.0)
    result.wall = time.perf_counter() - started
    result.windows.sort(key=lambda w: w.index)
    return result


# -------------------------------------------------------------------------------------- outputs


def write_timeline(result: Timeline, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    k = max((len(w.top) for w in result.windows), default=0)
    csv_path = out_dir / "timeline.csv"
    with atomic_path(csv_path) as partial, partial.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["window", "start", "end"] + [x for i in range(1, k + 1)
                                                       for x in (f"top{i}", f"probability{i}")])
        for w in result.windows:
            writer.writerow([w.index, f"{w.start:.3f}", f"{w.end:.3f}"]
                            + [x for c in w.top for x in (c.name, f"{c.probability:.6f}")])
    data = {"source": result.source, "model": result.model, "engine": result.engine,
            "window_s": result.window, "stride_s": result.stride,
            "frames_per_window": result.frames_per_window, "frames_read": result.frames_read,
            "seconds_read": result.seconds_read, "wall_s": result.wall,
            "windows_per_s": result.windows_per_s, "realtime_factor": result.realtime_factor,
            "interrupted": result.interrupted,
            "windows": [{"index": w.index, "start": w.start, "end": w.end,
                         "top": [{"name": c.name, "index": c.index, "probability": c.probability}
                                 for c in w.top]} for w in result.windows]}
    json_path = write_text_atomic(out_dir / "timeline.json", json.dumps(data, indent=2) + "\n")
    return csv_path, json_path


def plot_timeline(result: Timeline, out: Path, classes: int = 6) -> Path:
    """The probabilities of the classes that lead any window, over time (one line each)."""
    from matplotlib.figure import Figure  # not pyplot: no global backend or figure registry

    leaders: dict[int, float] = {}
    for w in result.windows:
        c = w.top[0]
        leaders[c.index] = max(leaders.get(c.index, 0.0), c.probability)
    shown = sorted(leaders, key=lambda c: -leaders[c])[:classes]
    centres = [(w.start + w.end) / 2 for w in result.windows]
    fig = Figure(figsize=(10, 3.4), dpi=110)
    ax = fig.subplots()
    for c in shown:
        ax.plot(centres, [w.probabilities[c] for w in result.windows], marker=".",
                label=result.class_names[c])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{result.model}: {Path(result.source).name}, {result.window:g} s windows every "
                 f"{result.stride:g} s")
    ax.grid(True, alpha=0.3)
    if shown:
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out


def _label_at(result: Timeline, t: float) -> WindowResult | None:
    """The window whose centre is nearest to ``t`` among those covering it."""
    best, distance = None, math.inf
    for w in result.windows:
        if w.start <= t < w.end and abs((w.start + w.end) / 2 - t) < distance:
            best, distance = w, abs((w.start + w.end) / 2 - t)
    return best


def render_video(result: Timeline, source: str, out: Path, *, fmt: str | None = None) -> Path:
    """The source re-encoded as H.264 MP4 with the current label and probability drawn on a banner
    at the top of every frame (a second sequential pass over the file)."""
    import av
    import cv2

    info, frames = open_stream(source, fmt=fmt)
    height, width = info.size
    fps = round(info.fps or 30)
    with atomic_path(out) as partial:
        with av.open(str(partial), "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.height, stream.width = height - height % 2, width - width % 2
            stream.pix_fmt = "yuv420p"
            banner = max(18, height // 12)
            for frame in frames:
                image = np.ascontiguousarray(frame.rgb[: stream.height, : stream.width])
                window = _label_at(result, frame.time)
                image[:banner] = 0
                if window is not None:
                    text = f"{window.top[0].name} {window.top[0].probability:.2f}"
                    cv2.putText(image, text, (6, banner - 6), cv2.FONT_HERSHEY_SIMPLEX,
                                banner / 30, (255, 255, 255), max(1, banner // 14), cv2.LINE_AA)
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return out
