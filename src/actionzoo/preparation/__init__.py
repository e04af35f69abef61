"""Dataset preparation as the guides do it: raw videos -> frames, split files, AVA frame lists.

``prepare_frames`` (mmaction2 ``build_rawframes.py --use-opencv``), ``prepare_filelist``
(``build_file_list.py``), ``prepare_ava`` (the SlowFast-AVA guide's ffmpeg commands and
PySlowFast's frame lists); all share :mod:`~actionzoo.preparation.runner` (workers, atomic
per-video folders, resume, shards).
"""

from __future__ import annotations

from actionzoo.lazy import lazy_getattr

_LAZY = {
    "prepare_frames": "frames",
    "prepare_filelist": "filelists",
    "prepare_ava": "ava_frames",
    "PrepareSummary": "runner",
    "Shard": "runner",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY)
