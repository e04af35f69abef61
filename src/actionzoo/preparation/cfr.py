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

__all__ = ["CutWindow", "FrameRateConverter", "rescale"]

AV_TIME_BASE = 1_000_000
_DTS_ERROR_THRESHOLD = 3600 * 30  # fftools' default -dts_error_threshold


def rescale(value: int, source: Fraction, target: Fraction) -> int:
    """``av_rescale_q`` (round to nearest, halfway away from zero)."""
    exact = Fraction(value) * source / target
    rounded = math.floor(abs(exact) + Fraction(1, 2))
    return rounded if exact >= 0 else -rounded


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
    """FFmpeg's CFR / VSCFR video sync (module doc). ``push`` each kept frame's shifted pts and
    duration (input time base); it returns how many output frames repeat the *previous* frame and
    how many show *this* one. ``flush`` returns the repeats of the last frame at the end."""

    def __init__(self, time_base: Fraction, fps: int, *, single_stream_input: bool):
        self.time_base = time_base
        self.out_base = Fraction(1, fps)
        self.vscfr = single_stream_input
        self.next_pts = 0
        self.frame_number = 0
        self._history = [0, 0, 0]
        self._last_dropped = False
        self._have_previous = False
        self._extra_bits = min(max(29 - (self.out_base.denominator.bit_length() - 1), 0), 16)

    def _output_pts(self, pts: int) -> float:
        """``adjust_frame_pts_to_encoder_tb``: the pts in output ticks with extra precision."""
        fine = Fraction(self.out_base.numerator, self.out_base.denominator << self._extra_bits)
        value = rescale(pts, self.time_base, fine) / float(1 << self._extra_bits)
        if value != _llrint(value):
            value += math.copysign(1.0 / (1 << 17), value)  # away from exact midpoints, as FFmpeg does
        return value

    def push(self, pts: int, duration: int) -> tuple[int, int]:
        in_q2d = self.time_base.numerator / self.time_base.denominator
        out_q2d = self.out_base.numerator / self.out_base.denominator
        length = duration * in_q2d / out_q2d
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
        if delta < -1.1:
            nb = 0
        elif delta > 1.1:
            nb = _llrintf(delta)
            if delta0 > 1.1:
                nb_prev = _llrintf(delta0 - 0.6)
        nb, nb_prev = self._finish(nb, nb_prev, frame=True)
        previous = min(nb_prev, nb) if self._have_previous else 0
        self._emit(nb)
        self._have_previous = True
        return previous, nb - previous

    def flush(self) -> int:
        nb = _median3(*self._history)
        nb, _ = self._finish(nb, nb, frame=False)
        repeats = nb if self._have_previous else 0
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
