"""Long, tiny test videos whose every frame shows its own 16-bit source index (for AVA timing).

A frame is 32x32: a 4x4 grid of 8x8 cells, black or white, bit ``i`` of the index in cell ``i``
(row-major). MPEG-4 part 2 at qscale 2 keeps the cells clean, so :func:`read_index` recovers the
source frame from any decoded or re-encoded copy. The frames are built with numpy and piped to
the FFmpeg binary of ``imageio-ffmpeg`` (test-only), so a 30-minute source takes seconds.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np

CELL = 8
GRID = 4
SIZE = CELL * GRID
_CHUNK = 4096


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def coded_frames(first: int, count: int) -> np.ndarray:
    """uint8 gray ``(count, 32, 32)``: frame k shows ``first + k``."""
    index = np.arange(first, first + count, dtype=np.int64)
    bits = ((index[:, None] >> np.arange(GRID * GRID)) & 1).reshape(count, GRID, GRID)
    cells = np.repeat(np.repeat(bits, CELL, axis=1), CELL, axis=2)
    return (cells * 255).astype(np.uint8)


def write_coded_video(path: str | Path, rate: Fraction, seconds: float, *, audio: bool = False) -> int:
    """A video at ``rate`` fps lasting ``seconds`` (MPEG-4 part 2; container from the extension);
    frame k shows k. With ``audio``, a silent AAC track too (as movies have). Returns the frame count."""
    path = Path(path)
    rate = Fraction(rate)
    count = int(seconds * rate)
    command = [ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray",
               "-s", f"{SIZE}x{SIZE}", "-r", f"{rate.numerator}/{rate.denominator}", "-i", "-"]
    if audio:
        command += ["-f", "lavfi", "-t", f"{seconds}", "-i", "anullsrc=r=8000:cl=mono", "-c:a", "aac"]
    command += ["-c:v", "mpeg4", "-q:v", "2", "-g", "30", "-pix_fmt", "yuv420p", str(path)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE)
    assert process.stdin is not None
    for first in range(0, count, _CHUNK):
        process.stdin.write(coded_frames(first, min(_CHUNK, count - first)).tobytes())
    process.stdin.close()
    if process.wait() != 0:
        raise RuntimeError(f"ffmpeg could not write {path}")
    return count


def read_index(image: np.ndarray) -> int:
    """The index a decoded frame (gray, RGB or BGR) shows, from its cell centres."""
    image = np.asarray(image)
    if image.ndim == 3:
        image = image.mean(axis=2)
    return read_indices(image[None])[0]


def read_indices(frames: np.ndarray) -> list[int]:
    """:func:`read_index` of each gray frame of ``frames`` ``(N, H, W)``, at once (a half-hour
    cut is 27,030 frames)."""
    frames = np.asarray(frames)
    centres = frames[:, CELL // 2 :: CELL, CELL // 2 :: CELL][:, :GRID, :GRID].reshape(len(frames), -1)
    centres = centres.astype(np.float64)
    ambiguous = np.flatnonzero(np.any(np.abs(centres - 128) < 48, axis=1))
    if ambiguous.size:
        raise ValueError(f"ambiguous code cell values {centres[ambiguous[0]].tolist()} (frame {ambiguous[0]})")
    return ((centres > 128).astype(np.int64) << np.arange(GRID * GRID)).sum(axis=1).tolist()


def ffmpeg_ava_frames(source: Path, out: Path, *, start: float, duration: float, fps: int = 30) -> list[Path]:
    """What the guide's FFmpeg makes of ``source`` (cut and 30 fps JPEGs in one command)."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-ss", f"{start:g}", "-t", f"{duration:g}", "-i", str(source),
                    "-r", str(fps), "-q:v", "1", str(out / f"{source.stem}_%06d.jpg")], check=True)
    return sorted(out.glob("*.jpg"))


def ffmpeg_guide_frames(source: Path, out: Path, *, start: float, duration: float, fps: int = 30) -> list[Path]:
    """What the guide's two FFmpeg commands make of ``source``: the cut into a file of the same
    container, then ``-r 30 -q:v 1`` JPEGs from that file."""
    cut = out.parent / f"{out.name}.cut{source.suffix}"
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-ss", f"{start:g}", "-t", f"{duration:g}", "-i", str(source),
                    "-strict", "experimental", str(cut)], check=True)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(cut), "-r", str(fps), "-q:v", "1",
                    str(out / f"{source.stem}_%06d.jpg")], check=True)
    return sorted(out.glob("*.jpg"))
