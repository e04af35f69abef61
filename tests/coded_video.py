"""Long, tiny test videos whose every frame shows its own 16-bit source index (for AVA timing).

A frame is 32x32: a 4x4 grid of 8x8 cells, black or white, bit ``i`` of the index in cell ``i``
(row-major). MPEG-4 part 2 at qscale 2 keeps the cells clean, so :func:`read_index` recovers the
source frame from any decoded or re-encoded copy. Encoding ~54k frames takes a few seconds.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CELL = 8
GRID = 4
SIZE = CELL * GRID


def coded_yuv(index: int) -> np.ndarray:
    """yuv420p ``(48, 32)`` array (Y then U then V) of the frame that shows ``index``."""
    bits = (index >> np.arange(GRID * GRID)) & 1
    y = np.kron(bits.reshape(GRID, GRID), np.ones((CELL, CELL), dtype=np.int64))
    out = np.full((SIZE * 3 // 2, SIZE), 128, dtype=np.uint8)
    out[:SIZE] = np.where(y == 1, 235, 16)
    return out


def write_coded_video(path: str | Path, rate: Fraction, seconds: float, *, time_base: Fraction | None = None,
                      extra_audio: bool = False) -> int:
    """A video at ``rate`` fps of ``seconds``; frame k shows k. Returns the number of frames."""
    path = Path(path)
    count = int(seconds * rate)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=rate, options={"qscale": "2"})
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = 30
        tb = time_base or 1 / Fraction(rate)
        stream.codec_context.time_base = 1 / Fraction(rate)
        if extra_audio:
            audio = out.add_stream("aac", rate=8000)
        for k in range(count):
            frame = av.VideoFrame.from_ndarray(coded_yuv(k), format="yuv420p")
            frame.pts = k
            frame.time_base = 1 / Fraction(rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if extra_audio:
            silence = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            silence.sample_rate = 8000
            silence.pts = 0
            out.mux(audio.encode(silence))
            out.mux(audio.encode(None))
    del tb
    return count


def read_index(gray_or_rgb: np.ndarray) -> int:
    """The index a decoded frame shows (cells sampled at their centres)."""
    image = np.asarray(gray_or_rgb)
    if image.ndim == 3:
        image = image[..., 0] if image.shape[2] == 1 else image.mean(axis=2)
    centres = image[CELL // 2 :: CELL, CELL // 2 :: CELL][:GRID, :GRID].reshape(-1)
    if np.any(np.abs(centres.astype(np.float64) - 128) < 48):
        raise ValueError(f"ambiguous code cell values {centres.tolist()}")
    bits = (centres > 128).astype(np.int64)
    return int((bits << np.arange(GRID * GRID)).sum())
