"""AVA frames as the SlowFast-AVA guide makes them, and PySlowFast's frame lists.

The guide (PySlowFast ``slowfast/datasets/DATASET.md``, AVA) runs two FFmpeg commands per movie::

    ffmpeg -ss 900 -t 901 -i "${video}" -strict experimental "${out_name}"     # the cut
    ffmpeg -i "${out_name}" -r 30 -q:v 1 "${out}/${name}/${name}_%06d.jpg"       # the frames

Here each movie is decoded once, front to back (from the keyframe before the cut, as FFmpeg's own
input seek does), with no intermediate file: :mod:`~actionzoo.preparation.cfr` reproduces which
source frame the guide's FFmpeg commands put in every output frame, and ``{name}_{n:06d}.jpg`` are
written from 1.

What is matched, and what is not:

* **Frame selection: exactly** the guide's two commands (tests compare every output frame's source
  index with a real FFmpeg 9 binary at 25, 29.97, 30, 23.976 and 60 fps, MP4 and Matroska, with and
  without sound, and on 1805-s sources with the guide's 900/901). The cut file matters: it stores
  each kept frame on the source's own frame grid, from 0 (``GuideCut``), and the second command
  places those times on the 30 fps grid. ``single_command=True`` (``--single-command``) follows
  ``ffmpeg -ss S -t D -i in -r 30`` instead, which keeps the sub-frame offset of the first kept
  frame: at 29.97 fps the grid repeats one frame in ~1000 in both, at different places (in a 21-s
  cut at 9 s, 270 of 631 frames show the source frame one before the guide's). At 25 and 30 fps
  the two agree. Not followed: a Matroska/WebM source with sound whose first kept frame is stored
  one tick late while its sound, in the cut file, starts later still (the demuxer's seek lands on
  a cluster just before the cut); FFmpeg then starts the frames one repeated frame earlier. Which
  form the official AVA frames followed cannot be known: they came from an unrecorded FFmpeg
  release of 2019, whose sync code differed again (facebookresearch/SlowFast#112).
* **Pixels: within JPEG tolerance, not bytes.** The guide's cut re-encodes the movie (a lossy
  generation this does not add), and FFmpeg's MJPEG bytes change between releases (FFmpeg 9's
  ``-q:v 1`` tables differ from the libavcodec bundled with PyAV). Frames are converted to full
  range YUV 4:2:0 by swscale, as the CLI does for its MJPEG encoder, and those planes are encoded
  by libjpeg-turbo (simplejpeg) at :data:`JPEG_QUALITY`, without an RGB round trip.

Frame lists (``frame_lists/train.csv`` / ``val.csv``; PySlowFast ``ava_helper.load_image_lists``):
a header ``original_vido_id video_id frame_id path labels``, then one row per frame
``{name} {video_idx} {frame_idx} {name}/{name}_{n:06d}.jpg ""``, videos in the order they first
appear in the ground-truth CSV.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import simplejpeg
from av.video.reformatter import VideoReformatter

from actionzoo.errors import DataError, UsageError
from actionzoo.fileio.atomic import write_text_atomic
from actionzoo.preparation.cfr import AV_TIME_BASE, CutWindow, FrameRateConverter, GuideCut, IntermediateFrame
from actionzoo.preparation.probe import explain_unreadable
from actionzoo.preparation.runner import PrepareSummary, Shard, VideoTask, resolve_shard, run_tasks

__all__ = ["JPEG_QUALITY", "prepare_ava", "ava_tasks", "extract_ava_frames", "write_frame_lists",
           "FRAME_LIST_HEADER"]

JPEG_QUALITY = 95
"""libjpeg quality for the AVA JPEGs. Measured on textured 320x240 H.264 frames against FFmpeg 9's
``-q:v 1``: decoded pixels differ by 1.7 levels on average (99.9th percentile 9), files are ~1.5x
FFmpeg's; quality 100 came only 0.1 level closer at 2x the size of 95. The test bounds the mean
difference at 2.5 levels."""

FRAME_LIST_HEADER = "original_vido_id video_id frame_id path labels"
_SEEKABLE = frozenset({"mov", "mp4", "matroska", "webm"})
_SEEK_MARGIN_S = 2.0


def ava_tasks(videos: Path, out: Path) -> list[VideoTask]:
    if not videos.is_dir():
        raise UsageError(f"{videos}: no such folder of videos")
    files = sorted(p for p in videos.iterdir() if p.is_file() and not p.name.startswith("."))
    names: dict[str, Path] = {}
    for path in files:
        name = path.stem  # the guide strips .webm / .mp4 / .mkv
        if name in names:
            raise UsageError(f"{path}: two videos named {name} ({names[name].name} and {path.name}); "
                             "frames go to one folder per name")
        names[name] = path
    return [VideoTask(name, path, out / name) for name, path in names.items()]


def _planes(frame: av.VideoFrame) -> list[np.ndarray]:
    out = []
    for plane in frame.planes:
        rows = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
        out.append(np.ascontiguousarray(rows[:, : plane.width]))
    return out


def encode_jpeg(frame: av.VideoFrame, quality: int = JPEG_QUALITY,
                reformatter: VideoReformatter | None = None) -> bytes:
    """JPEG of a decoded frame: full-range 4:2:0 planes (swscale, as FFmpeg's CLI converts for
    MJPEG) encoded by libjpeg-turbo. Pass one ``reformatter`` per video: it keeps its swscale
    context (creating one per frame costs more than the encoding)."""
    reformatter = reformatter or VideoReformatter()
    y, u, v = _planes(reformatter.reformat(frame, format="yuvj420p"))
    return simplejpeg.encode_jpeg_yuv_planes(y, u, v, quality=quality)


def _open(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError):
        raise DataError(explain_unreadable(path)) from None
    if not container.streams.video:
        container.close()
        raise DataError(explain_unreadable(path))
    return container


def _decoded(container, stream, path: Path) -> Iterator[av.VideoFrame]:
    try:
        for packet in container.demux(stream):
            yield from packet.decode()
    except av.FFmpegError as error:
        reason = (getattr(error, "strerror", None) or str(error)).strip().rstrip(".")
        raise DataError(f"{path}: corrupt video data ({reason})") from None


@dataclass
class _SourceFacts:
    """What the FFmpeg CLI's choices depend on, read when the movie is opened."""

    time_base: Fraction = Fraction(1, 1)
    rate: Fraction = Fraction(25)
    container: str = ""
    single_stream: bool = True
    has_audio: bool = False


def _frames_in_cut(path: Path, start: float, duration: float, facts: _SourceFacts
                   ) -> Iterator[tuple[int, int, av.VideoFrame]]:
    """(shifted pts, duration, frame) of the frames the cut keeps, decoded once; ``facts`` is
    filled in when the movie is opened."""
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = stream.time_base
        rate = Fraction(stream.guessed_rate or stream.average_rate or Fraction(25))
        facts.time_base, facts.rate, facts.container = time_base, rate, container.format.name
        facts.single_stream = len(container.streams) == 1
        facts.has_audio = bool(container.streams.audio)
        container_start = container.start_time if container.start_time is not None else 0
        window = CutWindow(time_base, round(start * AV_TIME_BASE), round(duration * AV_TIME_BASE),
                           container_start)
        default_duration = max(1, round(Fraction(1) / Fraction(rate) / time_base))
        seeked = False
        if start > _SEEK_MARGIN_S and set(container.format.name.split(",")) & _SEEKABLE:
            # FFmpeg's input -ss seeks too, to a keyframe before the cut start. Decoding starts a
            # margin earlier (a demuxer may seek by dts, and a B-frame stream's keyframe shows
            # later than it decodes); every frame before the start is dropped as the trim does.
            target = round((start - _SEEK_MARGIN_S) * AV_TIME_BASE) + container_start
            container.seek(target, backward=True, any_frame=False)
            seeked = True
        frames = _decoded(container, stream, path)
        if seeked:
            first = next(frames, None)
            if first is not None and first.pts is not None and window.shifted(first.pts) > 0:
                # the seek landed after the cut start: decode from the beginning instead
                container.seek(0, backward=True, any_frame=False)
                frames = _decoded(container, stream, path)
            elif first is not None:
                frames = itertools.chain([first], frames)
        for frame in frames:
            if frame.pts is None:
                raise DataError(f"{path}: a decoded frame has no timestamp; cannot place it on the 30 fps grid")
            verdict = window.keep(frame.pts)
            if verdict == "before":
                continue
            if verdict == "after":
                return
            yield window.shifted(frame.pts), frame.duration or default_duration, frame


class _Picture:
    """A decoded frame, JPEG-encoded when first written and only once."""

    def __init__(self, frame: av.VideoFrame, encode):
        self._frame, self._encode, self._jpeg = frame, encode, None

    def jpeg(self) -> bytes:
        if self._jpeg is None:
            self._jpeg = self._encode(self._frame)
            self._frame = None
        return self._jpeg


def extract_ava_frames(task: VideoTask, folder: Path, *, start: float = 900.0, duration: float = 901.0,
                       fps: int = 30, quality: int = JPEG_QUALITY, single_command: bool = False) -> int:
    """Write ``{name}_{n:06d}.jpg`` (n from 1) into ``folder``; the number written.

    The frames are those of the guide's two commands (the cut file, then ``-r fps``), or with
    ``single_command`` those of ``ffmpeg -ss S -t D -i in -r fps`` (module doc)."""
    name = task.key
    written = 0
    reformatter = VideoReformatter()
    encode = functools.partial(encode_jpeg, quality=quality, reformatter=reformatter)
    facts = _SourceFacts()
    cut: GuideCut | None = None
    converter: FrameRateConverter | None = None
    # FFmpeg repeats "the previous frame": the last one pushed, even when it was itself dropped.
    last: _Picture | None = None
    source_previous: _Picture | None = None

    def write(picture: _Picture, copies: int) -> None:
        nonlocal written
        for _ in range(copies):
            written += 1
            with open(folder / f"{name}_{written:06d}.jpg", "wb") as f:
                f.write(picture.jpeg())

    def frames_out(picture: _Picture, pts: int, length: int) -> None:
        nonlocal last
        assert converter is not None
        repeat_previous, show = converter.push(pts, length)
        if repeat_previous and last is not None:
            write(last, repeat_previous)
        last = picture
        if show:
            write(picture, show)

    def through_cut_file(frames: list[IntermediateFrame], current: _Picture) -> None:
        for frame in frames:
            frames_out(source_previous if frame.previous and source_previous else current,
                       frame.pts, frame.duration)

    for pts, length, frame in _frames_in_cut(task.source, start, duration, facts):
        current = _Picture(frame, encode)
        if converter is None:
            if single_command:
                converter = FrameRateConverter(facts.time_base, fps, single_stream_input=facts.single_stream)
            else:
                cut = GuideCut(facts.time_base, facts.rate, facts.container, single_stream=facts.single_stream,
                               has_audio=facts.has_audio)
                converter = FrameRateConverter(cut.time_base, fps, single_stream_input=not facts.has_audio)
        if cut is None:
            frames_out(current, pts, length)
        else:
            through_cut_file(cut.push(pts, length), current)
        source_previous = current
    if converter is None or last is None or source_previous is None:
        raise DataError(f"{task.source}: no video frame in the cut [{start:g} s, {start + duration:g} s) "
                        "(the video is shorter than the cut start, or has no frames)")
    if cut is not None:
        through_cut_file(cut.flush(), source_previous)
    repeats = converter.flush()
    if repeats:
        write(last, repeats)
    return written


def estimate_ava_frames(path: Path, start: float, duration: float, fps: int) -> int:
    """Frames the cut gives, from the container's duration (no decoding)."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video or container.duration is None:
                return 0
            length = container.duration / AV_TIME_BASE
    except (av.FFmpegError, OSError):
        return 0
    return max(0, round(min(duration, length - start) * fps))


def sample_ava_jpeg_bytes(path: Path, start: float, quality: int) -> int | None:
    try:
        with _open(path) as container:
            stream = container.streams.video[0]
            if start > 0:
                container.seek(round(start * AV_TIME_BASE), backward=True, any_frame=False)
            for frame in container.decode(stream):
                return len(encode_jpeg(frame, quality))
    except (DataError, av.FFmpegError, OSError):
        return None
    return None


# ---------------------------------------------------------------------------------- frame lists


def _gt_videos(path: Path) -> list[str]:
    """Video ids of an AVA ground-truth CSV, in order of first appearance."""
    from actionzoo.ava.annotations import read_annotations_csv

    seen: dict[str, None] = {}
    for row in read_annotations_csv(path):
        seen.setdefault(row.video_id, None)
    return list(seen)


def write_frame_lists(out: Path, frame_lists: Path, gts: dict[str, Path]) -> list[str]:
    """Write ``frame_lists/{subset}.csv`` for the videos of each GT CSV whose frame folder is
    complete; returns report lines (one per file, naming videos without frames)."""
    lines = []
    for subset, gt in gts.items():
        rows = [FRAME_LIST_HEADER + "\n"]
        listed, missing = 0, []
        for video in _gt_videos(gt):
            folder = out / video
            if not folder.is_dir():
                missing.append(video)
                continue
            count = sum(1 for entry in os.scandir(folder) if entry.name.startswith(f"{video}_")
                        and entry.name.endswith(".jpg"))
            for i in range(count):
                rows.append(f'{video} {listed} {i} {video}/{video}_{i + 1:06d}.jpg ""\n')
            listed += 1
        target = write_text_atomic(frame_lists / f"{subset}.csv", "".join(rows))
        shown = f"; {len(missing)} GT videos have no frames: {', '.join(missing[:5])}" + (
            ", ..." if len(missing) > 5 else "") if missing else ""
        lines.append(f"wrote {target} ({listed} videos, {len(rows) - 1} frames{shown})")
    return lines


def prepare_ava(
    videos: str | Path,
    out: str | Path,
    *,
    start: float = 900.0,
    duration: float = 901.0,
    fps: int = 30,
    frame_lists: str | Path | None = None,
    train_gt: str | Path | None = None,
    val_gt: str | Path | None = None,
    workers: int = 0,
    shard: Shard | str | None = None,
    dry_run: bool = False,
    progress: bool = True,
    single_command: bool = False,
) -> PrepareSummary:
    """Extract every movie's AVA frames as the guide's two FFmpeg commands make them (module doc);
    ``single_command``: as ``ffmpeg -ss S -t D -i in -r fps`` does instead. With ``frame_lists``,
    write PySlowFast's ``train.csv`` / ``val.csv`` for the videos of ``train_gt`` / ``val_gt``."""
    from actionzoo.preparation.estimate import estimate_run

    if start < 0 or duration <= 0:
        raise UsageError(f"--start must be >= 0 and --duration > 0, got {start} and {duration}")
    gts = {name: Path(path) for name, path in (("train", train_gt), ("val", val_gt)) if path}
    if frame_lists and not gts:
        raise UsageError("--frame-lists needs --train-gt and/or --val-gt (their videos are listed)")
    if gts and not frame_lists:
        raise UsageError("--train-gt / --val-gt need --frame-lists DIR (where train.csv / val.csv go)")
    videos, out = Path(videos), Path(out)
    tasks = ava_tasks(videos, out)
    if not tasks:
        raise UsageError(f"{videos}: no video files")
    shard = resolve_shard(shard) if not isinstance(shard, Shard) else shard
    if dry_run:
        return estimate_run(tasks, shard, lambda p: estimate_ava_frames(p, start, duration, fps),
                            lambda p: sample_ava_jpeg_bytes(p, start, JPEG_QUALITY))
    job = functools.partial(extract_ava_frames, start=start, duration=duration, fps=fps,
                            single_command=single_command)
    summary = run_tasks(tasks, job, out_root=out, workers=workers, shard=shard, progress=progress,
                        description="ava frames")
    if frame_lists:
        if shard is not None and shard.count > 1:
            summary.notes.append("frame lists not written by a shard: run once more without --shard "
                                 "(it skips the complete videos) to write them")
        else:
            summary.notes.extend(write_frame_lists(out, Path(frame_lists), gts))
    return summary
