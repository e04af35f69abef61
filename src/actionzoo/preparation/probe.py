"""Why a video cannot be read, in one line: OpenCV only says "not opened", so ask PyAV."""

from __future__ import annotations

from pathlib import Path

import av

__all__ = ["explain_unreadable"]


def explain_unreadable(path: Path) -> str:
    """``"<path>: <reason>"`` for a file OpenCV (or the decoder) could not open."""
    if not path.exists():
        return f"{path}: no such file"
    if path.stat().st_size == 0:
        return f"{path}: empty file"
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                kinds = sorted({stream.type for stream in container.streams}) or ["no"]
                return f"{path}: no video stream (the file has {', '.join(kinds)} streams only)"
            stream = container.streams.video[0]
            if stream.codec_context.width <= 0 or stream.codec_context.height <= 0:
                return f"{path}: the video stream states no frame size"
    except av.FFmpegError as error:
        reason = (getattr(error, "strerror", None) or str(error)).strip().rstrip(".")
        return f"{path}: cannot open video ({reason}; truncated download or not a video)"
    return f"{path}: cannot open video (OpenCV cannot read it; truncated or unsupported codec)"
