"""Frames of any source in order, decoded once, front to back: files, URLs, devices and pipes.

A video file is read with the same definition of "frame k" as :class:`~actionzoo.data.decode.VideoFile`
(the k-th frame the decoder outputs); a live source (an RTSP/HTTP URL, a capture device, ``-`` for
standard input) is read as the frames arrive. Each frame carries its presentation time in seconds,
from its pts where the stream has them, else from its position and the stream's frame rate. Memory
is one decoded frame at a time.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from actionzoo.errors import DataError

__all__ = ["StreamFrame", "StreamInfo", "open_stream", "is_live"]

_SCHEMES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


@dataclass(frozen=True)
class StreamFrame:
    index: int
    time: float  # seconds from the first frame
    rgb: np.ndarray  # (H, W, 3) uint8


@dataclass(frozen=True)
class StreamInfo:
    name: str
    live: bool
    fps: float | None  # the stream's average rate, when it states one
    duration: float | None  # seconds, when the container states it
    frames: int | None  # the frame count the header states (0/None: unknown)
    size: tuple[int, int]  # (height, width)


def is_live(source: str) -> bool:
    """Standard input, a stream URL, a capture device or a named pipe: frames that arrive once.
    A regular file is never live, wherever it lies (videos copied to /dev/shm included)."""
    if source == "-" or source.startswith(_SCHEMES):
        return True
    try:
        mode = os.stat(source).st_mode
    except OSError:  # not there (yet): a device path is still a device; opening it says why not
        return source.startswith("/dev/")
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _container(source: str, fmt: str | None):
    try:
        if source == "-":
            return av.open(sys.stdin.buffer, mode="r", format=fmt)
        if not is_live(source) and not Path(source).is_file():
            raise DataError(f"{source}: no such video file")
        return av.open(source, mode="r", format=fmt)
    except av.FFmpegError as error:
        reason = str(getattr(error, "strerror", None) or error).strip()
        raise DataError(f"{source}: cannot open ({reason})") from None


def open_stream(source: str, *, fmt: str | None = None) -> tuple[StreamInfo, Iterator[StreamFrame]]:
    """The source's facts and an iterator over its frames (close the iterator to stop early)."""
    container = _container(source, fmt)
    if not container.streams.video:
        container.close()
        raise DataError(f"{source}: the source has no video stream")
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate
    duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base \
        else (container.duration / 1e6 if container.duration else None)
    ctx = stream.codec_context
    info = StreamInfo("stdin" if source == "-" else source, is_live(source),
                      float(rate) if rate else None, duration, int(stream.frames or 0) or None,
                      (ctx.height, ctx.width))
    return info, _frames(container, stream, source, rate)


def _frames(container, stream, source: str, rate: Fraction | None) -> Iterator[StreamFrame]:
    first: float | None = None
    index = 0
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                if frame.pts is not None and stream.time_base is not None:
                    seconds = float(frame.pts * stream.time_base)
                else:
                    seconds = index / float(rate or 30)
                first = seconds if first is None else first
                yield StreamFrame(index, seconds - first, frame.to_ndarray(format="rgb24"))
                index += 1
    except av.FFmpegError as error:
        reason = str(getattr(error, "strerror", None) or error).strip()
        raise DataError(f"{source}: undecodable data after frame {index} ({reason})") from None
    finally:
        container.close()
