"""Synthetic test media: small videos and frame folders whose frames carry their own index.

Every frame made by :func:`make_frame` shows its index as a 12-bit Gray code in twelve 32x32
black/white cells (top-left 96x128 region) over a texture that moves one pixel per frame, so
inter-frame prediction, B-frames and motion really happen. The code survives every encoder setting
used here (checked by the tests); :func:`decode_index` reads it back and refuses frames whose cells
are not clearly black or white (a garbled frame is reported as ambiguous rather than misread; a
badly damaged one can still read as a wrong index, which the tests then catch).

Writers of good media take the output path (or folder) first and return a :class:`Media`
describing what a frame-exact sequential decode must yield (``codes[k]`` = index drawn on decoded
frame ``k``); writers of bad files return the path. All use PyAV (bundled FFmpeg) or OpenCV only and
take well under a second each at the default sizes.
"""

from __future__ import annotations

import fractions
import os
import random
import struct
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

SIZE = (120, 160)  # (height, width) of every synthetic frame unless told otherwise
CELL = 32
GRID = (3, 4)  # rows x columns of code cells -> 12 bits
MAX_INDEX = 2 ** (GRID[0] * GRID[1]) - 1

_TEXTURE = np.random.default_rng(1234).integers(40, 216, size=(512, 512, 3), dtype=np.uint8)
_TEXTURE = cv2.GaussianBlur(_TEXTURE, (5, 5), 0)


@dataclass(frozen=True)
class Media:
    """A written test file (or folder) and the frame indices a correct decoder returns, in order."""

    path: Path
    codes: tuple[int, ...]
    kind: str

    def __len__(self) -> int:
        return len(self.codes)


# ------------------------------------------------------------------------------------------------
# frame content


def make_frame(index: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """RGB uint8 frame (H, W, 3) that shows ``index`` (0..4095) in a way lossy codecs keep."""
    height, width = size
    if height < GRID[0] * CELL or width < GRID[1] * CELL:
        raise ValueError(f"frame size {size} is too small for the index code")
    if not 0 <= index <= MAX_INDEX:
        raise ValueError(f"index {index} out of range 0..{MAX_INDEX}")
    # moving texture everywhere, then the code cells on top
    reps = (-(-height // _TEXTURE.shape[0]), -(-width // _TEXTURE.shape[1]), 1)
    tex = np.roll(np.tile(_TEXTURE, reps), shift=index, axis=1)
    frame = np.ascontiguousarray(tex[:height, :width])
    gray = index ^ (index >> 1)
    for bit in range(GRID[0] * GRID[1]):
        row, col = divmod(bit, GRID[1])
        value = 255 if (gray >> bit) & 1 else 0
        frame[row * CELL : (row + 1) * CELL, col * CELL : (col + 1) * CELL] = value
    return frame


def decode_index(frame: np.ndarray) -> int:
    """The index drawn by :func:`make_frame` on a decoded RGB (or BGR) frame.

    Raises ``ValueError`` when a code cell is neither clearly dark nor clearly bright.
    """
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[0] < GRID[0] * CELL or frame.shape[1] < GRID[1] * CELL:
        raise ValueError(f"not a coded frame: shape {frame.shape}")
    gray = 0
    for bit in range(GRID[0] * GRID[1]):
        row, col = divmod(bit, GRID[1])
        y, x = row * CELL + CELL // 4, col * CELL + CELL // 4
        mean = float(frame[y : y + CELL // 2, x : x + CELL // 2].mean())
        if 64 <= mean <= 191:
            raise ValueError(f"code cell {bit} is ambiguous (mean level {mean:.1f})")
        if mean > 191:
            gray |= 1 << bit
    index, shift = gray, gray >> 1
    while shift:
        index ^= shift
        shift >>= 1
    return index


# ------------------------------------------------------------------------------------------------
# encoding helpers


def _encode(
    path: Path,
    codec: str,
    frame_pts: list[int],
    codes: list[int],
    *,
    fps: int,
    size: tuple[int, int],
    options: dict[str, str] | None = None,
    gop: int | None = None,
    bframes: int | None = None,
    container_options: dict[str, str] | None = None,
) -> None:
    height, width = size
    with av.open(str(path), "w", options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=fps, options=options or {})
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = fractions.Fraction(1, fps)
        if gop is not None:
            stream.codec_context.gop_size = gop
        if bframes is not None:
            stream.codec_context.max_b_frames = bframes
        for pts, code in zip(frame_pts, codes, strict=True):
            frame = av.VideoFrame.from_ndarray(make_frame(code, size), format="rgb24")
            frame.pts = pts
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _packet_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for p in container.demux(video=0) if p.size > 0)


def write_h264_mp4(
    path: str | Path,
    num_frames: int = 90,
    *,
    fps: int = 30,
    size: tuple[int, int] = SIZE,
    gop: int = 30,
    bframes: int = 2,
    faststart: bool = False,
    open_gop: bool = False,
) -> Media:
    """H.264 (libx264) with B-frames and a keyframe every ``gop`` frames, in MP4.

    The container follows the suffix (``.mkv`` gives Matroska). With ``open_gop`` the keyframes
    after the first are non-IDR I-frames followed (in decode order) by B-frames shown before them.
    """
    path = Path(path)
    params = f"keyint={gop}:min-keyint={gop}:scenecut=0" + (":open-gop=1" if open_gop else "")
    _encode(
        path,
        "libx264",
        list(range(num_frames)),
        list(range(num_frames)),
        fps=fps,
        size=size,
        gop=gop,
        bframes=bframes,
        # fixed GOP, no scene-cut keyframes: keyframe positions are predictable
        options={"preset": "veryfast", "crf": "23", "x264-params": params},
        container_options={"movflags": "faststart"} if faststart else None,
    )
    return Media(
        path,
        tuple(range(num_frames)),
        "h264" + ("_open_gop" if open_gop else "") + "_" + path.suffix.lstrip("."),
    )


def write_vp9_webm(
    path: str | Path, num_frames: int = 60, *, fps: int = 30, size: tuple[int, int] = SIZE, gop: int = 20
) -> Media:
    """VP9 (libvpx-vp9) WebM; the container states no frame count."""
    path = Path(path)
    _encode(
        path,
        "libvpx-vp9",
        list(range(num_frames)),
        list(range(num_frames)),
        fps=fps,
        size=size,
        gop=gop,
        options={"deadline": "realtime", "cpu-used": "8", "crf": "30", "b": "0"},
    )
    return Media(path, tuple(range(num_frames)), "vp9_webm")


def write_hevc_mp4(
    path: str | Path, num_frames: int = 90, *, fps: int = 30, size: tuple[int, int] = SIZE, gop: int = 30
) -> Media:
    """HEVC (libx265) MP4 with B-frames and a keyframe every ``gop`` frames."""
    path = Path(path)
    params = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=3:log-level=error"
    _encode(
        path,
        "libx265",
        list(range(num_frames)),
        list(range(num_frames)),
        fps=fps,
        size=size,
        options={"preset": "ultrafast", "x265-params": params},
    )
    return Media(path, tuple(range(num_frames)), "hevc_" + path.suffix.lstrip("."))


def write_av1_mp4(
    path: str | Path, num_frames: int = 90, *, fps: int = 30, size: tuple[int, int] = SIZE, gop: int = 30
) -> Media:
    """AV1 (SVT-AV1 encoder; decoded by libdav1d) in MP4, a keyframe every ``gop`` frames."""
    path = Path(path)
    os.environ.setdefault("SVT_LOG", "1")  # errors only
    _encode(
        path,
        "libsvtav1",
        list(range(num_frames)),
        list(range(num_frames)),
        fps=fps,
        size=size,
        options={"preset": "8", "crf": "10", "svtav1-params": f"keyint={gop}"},
    )
    return Media(path, tuple(range(num_frames)), "av1_" + path.suffix.lstrip("."))


def write_vp8_webm(
    path: str | Path, num_frames: int = 90, *, fps: int = 30, size: tuple[int, int] = SIZE, gop: int = 30
) -> Media:
    """VP8 (libvpx) WebM with alternate reference frames."""
    path = Path(path)
    _encode(
        path,
        "libvpx",
        list(range(num_frames)),
        list(range(num_frames)),
        fps=fps,
        size=size,
        gop=gop,
        options={"deadline": "realtime", "cpu-used": "8", "auto-alt-ref": "1", "lag-in-frames": "10"},
    )
    return Media(path, tuple(range(num_frames)), "vp8_webm")


def write_mpeg4_avi(
    path: str | Path,
    num_frames: int = 60,
    *,
    fps: int = 25,
    size: tuple[int, int] = SIZE,
    gop: int = 12,
    bframes: int = 0,
) -> Media:
    """MPEG-4 part 2 (FFmpeg's ``mpeg4`` encoder) in AVI, optionally with (unpacked) B-frames."""
    path = Path(path)
    _encode(
        path,
        "mpeg4",
        list(range(num_frames)),
        list(range(num_frames)),
        fps=fps,
        size=size,
        gop=gop,
        bframes=bframes,
        options={"qscale": "3"},
    )
    return Media(path, tuple(range(num_frames)), "mpeg4_avi_b" if bframes else "mpeg4_avi")


def write_packed_b_avi(
    path: str | Path, num_frames: int = 40, *, fps: int = 25, size: tuple[int, int] = SIZE, gop: int = 12
) -> Media:
    """MPEG-4 part 2 AVI with DivX-style *packed B-frames* (as in UCF-101's xvid files).

    FFmpeg's own encoder and AVI muxer never pack B-frames, so this packs them by hand: the
    encoder's decode-order packets ``I P B P B ...`` become AVI chunks ``I | P+B | N-VOP | P+B |
    N-VOP ...`` and a ``DivX503b1393p`` user-data header tells decoders the stream is packed.
    Packet pts in such a file are decode-order counters; the decoder's output pts are not
    monotonic (see the tests).
    """
    path = Path(path)
    height, width = size
    encoder = av.CodecContext.create("mpeg4", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = fractions.Fraction(1, fps)
    encoder.framerate = fractions.Fraction(fps, 1)
    encoder.gop_size = gop
    encoder.max_b_frames = 1
    encoder.options = {"qscale": "3"}
    packets: list[tuple[bytes, bool, str]] = []
    for i in range(num_frames + 1):
        frame = None
        if i < num_frames:
            frame = av.VideoFrame.from_ndarray(make_frame(i, size), format="rgb24")
            frame.pts = i
        for packet in encoder.encode(frame):
            data = bytes(packet)
            vop = data.find(b"\x00\x00\x01\xb6")
            packets.append((data, packet.is_keyframe, "IPBS"[data[vop + 4] >> 6]))
    time_bits = max(1, (fps - 1).bit_length())  # vop_time_increment bits, as FFmpeg's encoder sets them
    chunks: list[tuple[bytes, bool]] = []
    i = 0
    while i < len(packets):
        data, key, _ = packets[i]
        if key:
            vop = data.find(b"\x00\x00\x01\xb6")
            data = data[:vop] + b"\x00\x00\x01\xb2DivX503b1393p" + data[vop:]
        if i + 1 < len(packets) and packets[i + 1][2] == "B":
            chunks.append((data + packets[i + 1][0], key))
            chunks.append((_not_coded_vop(time_bits), False))
            i += 2
        else:
            chunks.append((data, key))
            i += 1
    if not any(len(c) < 20 for c, _ in chunks):
        raise RuntimeError("the encoder made no B-frames, nothing was packed")
    with av.open(str(path), "w", format="avi") as out:
        stream = out.add_mux_stream("mpeg4", rate=fps, width=width, height=height)
        stream.time_base = fractions.Fraction(1, fps)
        for k, (data, key) in enumerate(chunks):
            packet = av.Packet(data)
            packet.pts = packet.dts = k
            packet.is_keyframe = key
            packet.time_base = fractions.Fraction(1, fps)
            packet.stream = stream
            out.mux(packet)
    return Media(path, tuple(range(num_frames)), "packed_b_avi")


def _not_coded_vop(time_bits: int) -> bytes:
    """An MPEG-4 part 2 N-VOP (a P-VOP with vop_coded = 0): the placeholder after a packed pair."""
    bits = (
        "01" + "0" + "1" + "0" * time_bits + "1" + "0"
    )  # type P, modulo_time_base, marker, increment, marker, not coded
    bits += "0" + "1" * ((7 - len(bits)) % 8)  # stuffing up to the byte boundary
    return b"\x00\x00\x01\xb6" + int(bits, 2).to_bytes(len(bits) // 8, "big")


def packet_count(path: str | Path) -> int:
    """Non-empty packets of the first video stream (AVI chunks, MP4 samples incl. edit-list discards)."""
    return _packet_count(Path(path))


def write_edit_list_cut(
    path: str | Path, num_frames: int = 90, cut: int = 40, *, gop: int = 30, fps: int = 30
) -> Media:
    """A stream-copied cut: frames ``cut..num_frames-1`` of an H.264 video, with an MP4 edit list.

    Like ``ffmpeg -ss T -i src.mp4 -c copy``: packets are copied (no re-encoding) starting at the
    keyframe before the cut, with timestamps shifted so the cut frame has pts 0; the packets
    before it get negative pts, which makes the mov muxer write an ``elst`` edit whose media time
    starts at the cut. Decoders must decode those packets and drop their frames. The function
    checks that the edit list is there and that a sequential decode yields fewer frames than
    there are packets.
    """
    path = Path(path)
    source = path.with_name(path.stem + "_source.mp4")
    write_h264_mp4(source, num_frames, gop=gop, fps=fps)
    with av.open(str(source)) as inp, av.open(str(path), "w", format="mp4") as out:
        in_stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        packets = [p for p in inp.demux(in_stream) if p.size > 0]
        cut_pts = sorted(p.pts for p in packets)[cut]
        first = max(i for i, p in enumerate(packets) if p.is_keyframe and p.pts <= cut_pts)
        if packets[first].pts == cut_pts:
            raise ValueError(f"frame {cut} is a keyframe: choose a cut inside a GOP to get an edit list")
        for packet in packets[first:]:
            packet.pts -= cut_pts
            packet.dts -= cut_pts
            packet.stream = out_stream
            out.mux(packet)
    source.unlink()
    media_time = edit_list_media_time(path)
    if media_time is None or media_time <= 0:
        raise RuntimeError(f"{path}: the mov muxer wrote no edit list")
    with av.open(str(path)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    packets_written = _packet_count(path)
    if not decoded < packets_written:
        raise RuntimeError(f"{path}: expected fewer frames ({decoded}) than packets ({packets_written})")
    return Media(path, tuple(range(cut, num_frames)), "edit_list_cut_mp4")


def edit_list_media_time(path: str | Path) -> int | None:
    """``media_time`` of the first entry of the first ``elst`` atom (None when there is none)."""
    data = Path(path).read_bytes()
    at = data.find(b"elst")
    if at < 0:
        return None
    version = data[at + 4]
    body = at + 8  # after 'elst', version (1 byte) and flags (3 bytes)
    (count,) = struct.unpack(">I", data[body : body + 4])
    if count == 0:
        return None
    if version == 1:
        _duration, media_time = struct.unpack(">Qq", data[body + 4 : body + 20])
    else:
        _duration, media_time = struct.unpack(">Ii", data[body + 4 : body + 12])
    return media_time


def write_vfr_mp4(
    path: str | Path,
    num_frames: int = 60,
    *,
    gap_after: int = 20,
    gap: int = 15,
    fps: int = 30,
    size: tuple[int, int] = SIZE,
) -> Media:
    """Variable frame rate H.264 MP4: a ``gap``-frame timestamp hole after frame ``gap_after``.

    Frame ``k`` still shows index ``k``; only the timestamps jump (``pts * fps`` would be wrong).
    """
    path = Path(path)
    pts = [i if i <= gap_after else i + gap for i in range(num_frames)]
    _encode(
        path,
        "libx264",
        pts,
        list(range(num_frames)),
        fps=fps,
        size=size,
        gop=30,
        bframes=2,
        options={"preset": "veryfast", "crf": "23", "x264-params": "keyint=30:min-keyint=30:scenecut=0"},
    )
    return Media(path, tuple(range(num_frames)), "vfr_mp4")


def write_short_video(path: str | Path, num_frames: int = 12) -> Media:
    """A video shorter than one clip (H.264 MP4)."""
    media = write_h264_mp4(path, num_frames, gop=num_frames)
    return Media(media.path, media.codes, "short_mp4")


def write_single_frame_video(path: str | Path) -> Media:
    """A one-frame H.264 MP4."""
    media = write_h264_mp4(path, 1, gop=1)
    return Media(media.path, media.codes, "single_frame_mp4")


def write_garbage_file(path: str | Path, size: int = 4096) -> Path:
    """Bytes that are no media file at all (a 'video' that cannot be opened)."""
    path = Path(path)
    path.write_bytes(random.Random(7).randbytes(size))
    return path


def write_corrupt_mp4(path: str | Path, num_frames: int = 60) -> Path:
    """An MP4 whose header is intact but whose frame data is overwritten with garbage.

    The container opens and states its frames; decoding the damaged frames fails.
    """
    path = Path(path)
    write_h264_mp4(path, num_frames, faststart=True)
    data = bytearray(path.read_bytes())
    mdat = data.find(b"mdat")
    start = mdat + 8 + (len(data) - mdat) // 4
    data[start : start + 4000] = random.Random(11).randbytes(4000)
    path.write_bytes(bytes(data))
    return path


def write_truncated_mp4(path: str | Path, num_frames: int = 60, *, faststart: bool = False) -> Path:
    """An H.264 MP4 cut to half its size, as an interrupted download leaves it.

    Without ``faststart`` the ``moov`` index (written last) is lost and the file cannot be opened;
    with it the index survives and promises frames whose data is missing.
    """
    path = Path(path)
    write_h264_mp4(path, num_frames, faststart=faststart)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def write_zero_frame_avi(path: str | Path, size: tuple[int, int] = SIZE) -> Path:
    """An AVI with a video stream (size, codec) but not a single frame."""
    path = Path(path)
    height, width = size
    with av.open(str(path), "w", format="avi") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        out.start_encoding()
        out.mux(stream.encode(None))
    return path


def write_audio_only_m4a(path: str | Path) -> Path:
    """A file with an audio stream and no video stream."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 16000
            frame.pts = i * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def write_frame_folder(
    folder: str | Path,
    num_frames: int = 16,
    *,
    template: str = "img_{:05}.jpg",
    start_index: int = 1,
    size: tuple[int, int] = SIZE,
    quality: int = 90,
    first_code: int = 0,
) -> Media:
    """Frame images ``template.format(k + start_index)`` written with OpenCV (mmaction2's rawframes).

    The format follows the template's extension (``.jpg`` at ``quality``, ``.png`` lossless).
    File ``k`` shows index ``first_code + k``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if template.lower().endswith((".jpg", ".jpeg")) else []
    for k in range(num_frames):
        bgr = cv2.cvtColor(make_frame(first_code + k, size), cv2.COLOR_RGB2BGR)
        name = folder / template.format(k + start_index)
        if not cv2.imwrite(str(name), bgr, params):
            raise RuntimeError(f"OpenCV could not write {name}")
    return Media(folder, tuple(range(first_code, first_code + num_frames)), "frame_folder")


def sequential_decode(path: str | Path) -> np.ndarray:
    """Every frame of a video, RGB, by a plain PyAV sequential decode (the definition of frame k)."""
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return np.stack(frames)


def decoder_frame_pts(path: str | Path) -> list[int | None]:
    """pts of every frame a plain PyAV sequential decode outputs, in output order."""
    with av.open(str(path)) as container:
        return [frame.pts for frame in container.decode(video=0)]
