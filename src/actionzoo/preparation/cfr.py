"""Which source frame lands in each output frame of ``ffmpeg -ss S -t D -i in -r 30 out_%06d.jpg``.

Two rules of the FFmpeg command-line tool decide it (FFmpeg 9.0, the release the tests compare
with; ``fftools/ffmpeg_demux.c``, ``fftools/ffmpeg_filter.c``, ``libavfilter/trim.c``):

1. **The cut** (input options ``-ss S -t D`` with the default accurate seek). The demuxer shifts
   every timestamp by ``-(S + container start time)`` (``ffmpeg_demux.c``, ``ts_offset``, in
   microseconds rescaled to the stream's time base); a ``trim`` filter then drops frames whose
   shifted pts is below 0 and stops at the first frame with ``pts - first_kept_pts >= D``
   (``libavfilter/trim.c``: the duration counts from the first kept frame, not from S).
2. **Constant frame rate** (``ffmpeg_filter.c``, ``video_sync_process``). ``-r 30`` makes the
   output time base 1/30; the image2 muxer has no variable-frame-rate flag, so the sync method is
   CFR, or VSCFR when the input file has a single stream. Each frame gets
   ``delta0 = pts_out - next_pts`` (its pts in output ticks, computed with extra precision and
   nudged off exact midpoints) and ``delta = delta0 + duration``; it is written
   ``llrintf(delta)`` times when ``delta > 1.1``, dropped when ``delta < -1.1``, written once
   otherwise; a frame that starts more than 1.1 ticks late first repeats the previous frame
   ``llrintf(delta0 - 0.6)`` times; at the end the last frame is repeated the median of the last
   three such repeat counts. VSCFR differs only for the first frame (no leading duplicates).

Older FFmpeg releases had other sync code, and facebookresearch/SlowFast#112 reports ~3 AVA mAP
lost to a different FFmpeg; this module follows FFmpeg 9. :class:`FrameRateConverter` follows the
rule above step by step, in the same floating-point types, and the tests compare it with a real
FFmpeg binary (``imageio-ffmpeg``'s) frame by frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

__all__ = ["CutWindow", "FrameRateConverter", "GuideCut", "IntermediateFrame", "rescale"]

AV_TIME_BASE = 1_000_000
_DTS_ERROR_THRESHOLD = 3600 * 30  # fftools' default -dts_error_threshold


def rescale(value: int, source: Fraction, target: Fraction) -> int:
    """``av_rescale_q`` (round to nearest, halfway away from zero), in integers: it runs for every
    frame of a movie, several times."""
    num = value * source.numerator * target.denominator
    den = source.denominator * target.numerator  # > 0: time bases are positive
    rounded = (2 * abs(num) + den) // (2 * den)
    return rounded if num >= 0 else -rounded


def _llrintf(value: float) -> int:
    """C ``llrintf``: to single precision, then to nearest, ties to even."""
    return int(np.rint(np.float32(value)))


def _llrint(value: float) -> int:
    return int(round(value))  # Python rounds floats half to even, like llrint's default mode


def _median3(a: int, b: int, c: int) -> int:
    return sorted((a, b, c))[1]


@dataclass
class CutWindow:
    """The ``-ss start -t duration`` input cut for a stream with ``time_base``.

    ``keep(pts)`` -> ``"before"`` (dropped, keep reading), ``"keep"`` or ``"after"`` (the cut has
    ended: stop reading). ``shifted(pts)`` is the pts the rest of the pipeline sees.
    """

    time_base: Fraction
    start_us: int
    duration_us: int | None
    container_start_us: int = 0
    _offset: int = field(init=False)
    _duration_tb: int | None = field(init=False)
    _first: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        us = Fraction(1, AV_TIME_BASE)
        self._offset = rescale(-(self.start_us + self.container_start_us), us, self.time_base)
        self._duration_tb = None if not self.duration_us else rescale(self.duration_us, us, self.time_base)

    def shifted(self, pts: int) -> int:
        return pts + self._offset

    def keep(self, pts: int) -> str:
        shifted = self.shifted(pts)
        if shifted < 0:
            return "before"
        if self._first is None:
            self._first = shifted
        if self._duration_tb is not None and shifted - self._first >= self._duration_tb:
            return "after"
        return "keep"


class FrameRateConverter:
    """FFmpeg's video sync (module doc): CFR, VSCFR, or VFR (``variable=True``: what a muxer with
    variable frame rate, Matroska/WebM, gets). ``push`` each kept frame's shifted pts and duration
    (input time base); it returns how many output frames repeat the *previous* frame and how many
    show *this* one, and :attr:`emitted_pts` is the output pts (in ticks of ``1/rate``) of the first
    of them (the others follow one tick apart). ``flush`` returns the repeats of the last frame at
    the end."""

    def __init__(self, time_base: Fraction, rate: int | Fraction, *, single_stream_input: bool,
                 variable: bool = False):
        self.time_base = time_base
        self.out_base = 1 / Fraction(rate)
        self.vscfr = single_stream_input and not variable
        self.variable = variable
        self.next_pts = 0
        self.emitted_pts = 0
        self.frame_number = 0
        self._history = [0, 0, 0]
        self._last_dropped = False
        self._have_previous = False
        self._extra_bits = min(max(29 - (self.out_base.denominator.bit_length() - 1), 0), 16)
        self._fine = Fraction(self.out_base.numerator, self.out_base.denominator << self._extra_bits)
        # av_q2d of both time bases: a frame's length in output ticks is computed in doubles,
        # (duration * in) / out in that order
        self._in_q2d = time_base.numerator / time_base.denominator
        self._out_q2d = self.out_base.numerator / self.out_base.denominator

    def _output_pts(self, pts: int) -> float:
        """``adjust_frame_pts_to_encoder_tb``: the pts in output ticks with extra precision."""
        value = rescale(pts, self.time_base, self._fine) / float(1 << self._extra_bits)
        if value != _llrint(value):
            value += math.copysign(1.0 / (1 << 17), value)  # away from exact midpoints, as FFmpeg does
        return value

    def push(self, pts: int, duration: int) -> tuple[int, int]:
        length = duration * self._in_q2d / self._out_q2d
        sync_ipts = self._output_pts(pts)
        delta0 = sync_ipts - self.next_pts
        delta = delta0 + length
        nb_prev, nb = 0, 1
        if delta0 < 0 < delta:
            sync_ipts = float(self.next_pts)
            length += delta0
            delta0 = 0.0
        if self.vscfr and self.frame_number == 0 and delta0 >= 0.5:
            delta = length
            delta0 = 0.0
            self.next_pts = _llrint(sync_ipts)
        if self.variable:
            # VSYNC_VFR: a frame more than 0.6 ticks early is dropped; one more than 0.6 ticks
            # late keeps its own (rounded) time instead of the next tick
            if delta <= -0.6:
                nb = 0
            elif delta > 0.6:
                self.next_pts = _llrint(sync_ipts)
            nb, _ = self._finish(nb, 0, frame=True)
            self.emitted_pts = self.next_pts
            self._emit(nb)
            self._have_previous = True
            return 0, nb
        if delta < -1.1:
            nb = 0
        elif delta > 1.1:
            nb = _llrintf(delta)
            if delta0 > 1.1:
                nb_prev = _llrintf(delta0 - 0.6)
        nb, nb_prev = self._finish(nb, nb_prev, frame=True)
        previous = min(nb_prev, nb) if self._have_previous else 0
        self.emitted_pts = self.next_pts
        self._emit(nb)
        self._have_previous = True
        return previous, nb - previous

    def flush(self) -> int:
        if self.variable:
            return 0  # VFR writes no repeats at the end
        nb = _median3(*self._history)
        nb, _ = self._finish(nb, nb, frame=False)
        repeats = nb if self._have_previous else 0
        self.emitted_pts = self.next_pts
        self._emit(repeats)
        return repeats

    def _finish(self, nb: int, nb_prev: int, *, frame: bool) -> tuple[int, int]:
        self._history = [nb_prev, *self._history[:2]]
        if nb > (1 if (nb_prev and self._last_dropped) else 0) + (1 if nb > nb_prev else 0):
            if nb > _DTS_ERROR_THRESHOLD * 30:
                return 0, nb_prev  # "frame duplication too large, skipping" (last_dropped unchanged)
        self._last_dropped = nb == nb_prev and frame
        return nb, nb_prev

    def _emit(self, count: int) -> None:
        self.frame_number += count
        self.next_pts += count


_VARIABLE_RATE_MUXERS = frozenset({"matroska", "webm"})  # AVFMT_VARIABLE_FPS: the cut keeps times
_MILLISECOND = Fraction(1, 1000)  # Matroska/WebM store times in milliseconds


@dataclass(frozen=True)
class IntermediateFrame:
    """A frame of the guide's cut file: which source frame it shows (``previous``: the one
    before the frame just pushed), and its pts and duration in the cut file's time base."""

    previous: bool
    pts: int
    duration: int


class GuideCut:
    """What the guide's first command, ``ffmpeg -ss S -t D -i in -strict experimental out.EXT``,
    writes (``EXT`` the source's own container), seen by the second command reading it back.

    The cut re-encodes at the source's frame rate ``rate``: the encoder's time base is ``1/rate``
    and the video sync puts every kept frame on that grid (CFR/VSCFR into MP4/MOV; VFR, rounded
    ticks, into Matroska/WebM, whose muxer stores milliseconds). The second command subtracts the
    cut file's start time, so its first frame is at 0 unless an audio stream (which starts at 0)
    holds it later. ``push`` takes each frame the cut keeps (shifted pts and duration, source time
    base) and returns the frames the cut file holds for it; ``flush`` the ones written at the end.
    """

    def __init__(self, time_base: Fraction, rate: Fraction, container: str, *, single_stream: bool,
                 has_audio: bool):
        variable = bool(set(container.split(",")) & _VARIABLE_RATE_MUXERS)
        self._sync = FrameRateConverter(time_base, rate, single_stream_input=single_stream,
                                        variable=variable)
        self._tick = 1 / Fraction(rate)
        self.time_base = _MILLISECOND if variable else self._tick
        self._start: int | None = 0 if has_audio else None
        # a packet lasts one tick; Matroska truncates it to whole milliseconds (33 at 29.97 fps,
        # 41 at 23.976), as FFmpeg reads the cut file back
        self._duration = math.floor(self._tick / self.time_base)

    def _stored(self, ticks: int) -> int:
        return rescale(ticks, self._tick, self.time_base)

    def _frames(self, first_pts: int, flags: list[bool]) -> list[IntermediateFrame]:
        frames = []
        for i, previous in enumerate(flags):
            pts = self._stored(first_pts + i)
            if self._start is None:
                self._start = pts  # the file's start time: its first frame's
            frames.append(IntermediateFrame(previous, pts - self._start, self._duration))
        return frames

    def push(self, pts: int, duration: int) -> list[IntermediateFrame]:
        repeat_previous, show = self._sync.push(pts, duration)
        return self._frames(self._sync.emitted_pts, [True] * repeat_previous + [False] * show)

    def flush(self) -> list[IntermediateFrame]:
        repeats = self._sync.flush()
        return self._frames(self._sync.emitted_pts, [False] * repeats)
