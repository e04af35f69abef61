"""AVA v2.2 test-mode samples, built as PySlowFast builds them (``ava_helper`` + ``ava_dataset``,
OpenCV backend, ``test`` split).

Layout (PySlowFast@9839d13 ``slowfast/datasets/ava_helper.py``): frames ``frames/{video_id}/{video_id}_{n:06d}.jpg``
(n from 1), listed by ``frame_lists/val.csv`` (row order = frame index, first appearance = video
index); person boxes from PySlowFast's detector CSV (``video_id, timestamp, x1, y1, x2, y2,
action_id or empty, score``) or an mmaction2 / LFB proposal pickle (``"vid,0902" -> N x 5``).

Samples (``ava_helper.load_boxes_and_labels``, ``get_keyframe_data``):

* rows with score ``>= 0.8`` (the protocol's threshold) are kept; the threshold is applied
  before anything else, as in ``parse_bboxes_file``;
* a kept row whose second is outside 902..1798 is an error (PySlowFast raises there too);
* boxes of one keyframe are merged by their *raw* ``"x1,y1,x2,y2"`` text, in order of first
  appearance (a proposal pickle has no text: identical coordinate rows are merged);
* a keyframe is a second with at least one box; keyframes are ordered by video index (first
  appearance in the frame list), then by second;
* every video of the box file must be in the frame list (a clear error names the missing ones).
  A frame-list video without boxes simply has no keyframes (PySlowFast would assert here; it is
  allowed so that a frame list may cover more videos than a box file).

One keyframe -> one clip (``ava_dataset.Ava._images_and_boxes_preprocessing_cv2``, test split):

1. frame indices ``range(c - 32, c + 32, 2)``, ``c = (t - 900) * 30``, clamped to ``[0, n - 1]``
   (``n`` = the video's rows in the frame list);
2. frames decoded as ``cv2.imdecode`` decodes them (:func:`~actionzoo.data.decode.decode_image`
   gives those pixels already in RGB order; every later step is per channel, so doing the
   reference's final BGR->RGB flip first changes no value);
3. boxes ``* (W, H)`` of the original frame, clipped to ``[0, W-1] x [0, H-1]``;
4. short side -> 224 with ``cv2.resize(INTER_LINEAR)`` on the uint8 frame, the long side
   ``floor(long * 224 / short)``; nothing when the short side already is 224; boxes ``*=
   new_long / old_long``; no crop;
5. ``/ 255`` then ``(x - mean) / std`` in float32 (mean[i] / std[i] applied to BGR channel i, as
   the reference does before its flip; the AVA values are equal for all channels);
6. ``(3, T, H, W)`` float32 RGB; boxes clipped again to ``[0, W'-1] x [0, H'-1]``;
   ``ori_boxes`` are the untouched normalised boxes (what the result CSV holds).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Union

import cv2
import numpy as np

from actionzoo.ava.annotations import (
    AVA_KEYFRAME_SECONDS,
    FrameList,
    image_key,
    parse_image_key,
    read_frame_list,
    read_person_boxes_csv,
    read_proposals_pickle,
)
from actionzoo.data.decode import decode_image
from actionzoo.errors import AnnotationError, DataError
from actionzoo.fileio.text import read_lines
from actionzoo.zoo.protocols import AvaKeyframePipeline

__all__ = [
    "AvaKeyframe",
    "AvaTestSet",
    "AvaFrameSource",
    "KeyframeSample",
    "PICKLE_SUFFIXES",
    "read_keyframe_boxes",
    "load_test_set",
    "keyframe_center",
    "clip_frame_indices",
    "scaled_size",
    "keyframe_clip",
    "load_keyframe",
]

PathLike = Union[str, os.PathLike]

#: Box files with these suffixes are read as proposal pickles; anything else as a box CSV.
PICKLE_SUFFIXES = (".pkl", ".pickle")

#: The second at which the AVA frame folders start (the 15-minute cut begins at 900 s).
AVA_START_SECOND = 900


# ------------------------------------------------------------------------------------ boxes


def _nonblank_line_numbers(path: Path) -> list[int]:
    """1-based numbers of the non-blank lines, in the order ``read_person_boxes_csv`` returns rows."""
    return [n for n, _ in read_lines(path, comments=False)]


def _range_text(seconds: range) -> str:
    return f"{seconds.start}..{seconds.stop - 1}"


def read_keyframe_boxes(
    path: PathLike,
    *,
    min_score: float | None = 0.8,
    seconds: range | None = AVA_KEYFRAME_SECONDS,
) -> dict[str, dict[int, np.ndarray]]:
    """Person boxes per video and second: ``{video_id: {second: (K, 4) float64 [x1, y1, x2, y2]}}``.

    ``path`` is a PySlowFast box CSV or a proposal pickle (suffix ``.pkl`` / ``.pickle``). Rows
    with ``score >= min_score`` are kept (``None`` keeps all); boxes of one keyframe are merged by
    their raw coordinate text (CSV) or exact values (pickle), in order of first appearance. A kept
    row whose second is not in ``seconds`` is reported (``None`` accepts any second). Videos are in
    order of first appearance in the file, seconds in file order. Raises
    :class:`~actionzoo.errors.AnnotationError` naming the file and every bad line or key.
    """
    p = Path(path)
    merged: dict[str, dict[int, dict[object, tuple[float, float, float, float]]]] = {}
    problems: list[str] = []

    def add(video: str, second: int, merge_key: object, box: Sequence[float]) -> None:
        per_second = merged.setdefault(video, {}).setdefault(second, {})
        per_second.setdefault(merge_key, tuple(float(v) for v in box))

    if p.suffix.lower() in PICKLE_SUFFIXES:
        for key, array in read_proposals_pickle(p, min_score=min_score).items():
            video, second = parse_image_key(key)
            if seconds is not None and second not in seconds:
                problems.append(
                    f"key {key!r}: second {second} is outside the keyframe seconds "
                    f"{_range_text(seconds)}"
                )
                continue
            for row in array:
                add(video, second, tuple(row[:4].tolist()), row[:4])
    else:
        rows = read_person_boxes_csv(p, min_score=None)  # reports malformed lines itself
        lines = _nonblank_line_numbers(p)
        for row, line in zip(rows, lines):
            if min_score is not None and row.score < min_score:
                continue  # PySlowFast skips low scores before it looks at the second
            if seconds is not None and row.timestamp not in seconds:
                problems.append(
                    f"line {line}: second {row.timestamp} of video {row.video_id} is outside the "
                    f"keyframe seconds {_range_text(seconds)}"
                )
                continue
            add(row.video_id, row.timestamp, row.box_text, (row.x1, row.y1, row.x2, row.y2))
    if problems:
        raise AnnotationError(p, problems)
    return {
        video: {
            second: np.array(list(boxes.values()), dtype=np.float64).reshape(-1, 4)
            for second, boxes in per_video.items()
        }
        for video, per_video in merged.items()
    }


# ------------------------------------------------------------------------------------ frames


class AvaFrameSource:
    """The frames of one video as its frame-list rows name them: ``read(indices)`` -> uint8 RGB.

    Each distinct index is decoded once per read. The frames of the previous read are kept, so a
    data-loader worker that reads consecutive keyframes of a video decodes the 17 frames two
    adjacent keyframes share only once.
    """

    has_timestamps = False

    def __init__(self, frames_dir: PathLike, relative_paths: Sequence[str], *, keep: bool = True):
        self.frames_dir = Path(frames_dir)
        self.read_seconds = 0.0
        self.relative_paths = list(relative_paths)
        self.path = (
            (self.frames_dir / self.relative_paths[0]).parent if self.relative_paths else self.frames_dir
        )
        self._keep = keep
        self._cache: dict[int, np.ndarray] = {}
        self.decoded = 0  # frames decoded so far (for tests and benchmarks)

    def __len__(self) -> int:
        return len(self.relative_paths)

    def frame_path(self, index: int) -> Path:
        return self.frames_dir / self.relative_paths[index]

    def _decode(self, index: int) -> np.ndarray:
        file = self.frame_path(index)
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            raise DataError(f"{file}: frame {index} of {self.path} is missing") from None
        except OSError as error:
            raise DataError(f"{file}: cannot read frame ({error.strerror or error})") from None
        if not data:
            raise DataError(f"{file}: empty frame file")
        self.decoded += 1
        return decode_image(file, data)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        start = time.perf_counter()
        try:
            return self._read_cached(indices)
        finally:
            self.read_seconds += time.perf_counter() - start

    def _read_cached(self, indices: Sequence[int]) -> np.ndarray:
        wanted = [int(i) for i in indices]
        count = len(self)
        for i in wanted:
            if not 0 <= i < count:
                raise DataError(f"{self.path}: frame index {i} is out of range (0..{count - 1})")
        frames = {i: self._cache[i] if i in self._cache else self._decode(i) for i in dict.fromkeys(wanted)}
        first = frames[wanted[0]] if wanted else None
        for i, rgb in frames.items():
            if rgb.shape != first.shape:
                raise DataError(
                    f"{self.frame_path(i)}: frame is {rgb.shape[1]}x{rgb.shape[0]}, frame "
                    f"{self.frame_path(wanted[0]).name} is {first.shape[1]}x{first.shape[0]}; "
                    "one clip needs frames of one size"
                )
        self._cache = frames if self._keep else {}
        if not wanted:
            return np.zeros((0, 0, 0, 3), dtype=np.uint8)
        return np.stack([frames[i] for i in wanted])


# ------------------------------------------------------------------------------------ samples


@dataclass(frozen=True)
class AvaKeyframe:
    """One test sample: a keyframe of one video with its merged person boxes (normalised)."""

    video_id: str
    video_index: int
    second: int
    boxes: np.ndarray = field(repr=False)  # (K, 4) float64 [x1, y1, x2, y2] in [0, 1]

    @property
    def key(self) -> str:
        return image_key(self.video_id, self.second)


@dataclass
class AvaTestSet:
    """Keyframes in PySlowFast test order, with the frame list their frames come from."""

    frames_dir: Path
    frame_list: FrameList
    keyframes: list[AvaKeyframe]
    pipeline: AvaKeyframePipeline
    boxes_file: Path
    videos_without_boxes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keyframes)

    def num_frames(self, video_id: str) -> int:
        return len(self.frame_list.frames[video_id])

    def source(self, video_id: str) -> AvaFrameSource:
        return AvaFrameSource(self.frames_dir, self.frame_list.frames[video_id])

    def frame_indices(self, keyframe: AvaKeyframe) -> np.ndarray:
        p = self.pipeline
        center = keyframe_center(keyframe.second, fps=p.fps)
        return clip_frame_indices(center, self.num_frames(keyframe.video_id),
                                  num_frames=p.num_frames, sampling_rate=p.sampling_rate)


def load_test_set(
    frames_dir: PathLike,
    frame_list: PathLike,
    boxes: PathLike,
    *,
    pipeline: AvaKeyframePipeline | None = None,
    min_score: float | None = None,
) -> AvaTestSet:
    """Read the frame list and the person boxes and build the test keyframes (see module doc).

    ``min_score`` defaults to the pipeline's ``box_score_threshold`` (0.8). Raises
    :class:`~actionzoo.errors.AnnotationError` for malformed files and for box-file videos that
    the frame list does not have.
    """
    pipeline = pipeline or AvaKeyframePipeline()
    threshold = pipeline.box_score_threshold if min_score is None else min_score
    listed = read_frame_list(frame_list)
    per_video = read_keyframe_boxes(boxes, min_score=threshold)
    missing = [video for video in per_video if video not in listed.frames]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise AnnotationError(
            boxes,
            [
                f"{len(missing)} video(s) with boxes are not in the frame list {frame_list}: "
                f"{shown} (every video of the box file needs its frames listed; use the frame "
                "list that belongs to this box file)"
            ],
        )
    keyframes = []
    for index, video in enumerate(listed.videos):
        for second in sorted(per_video.get(video, {})):
            if pipeline.mini_val and second % 4:
                continue  # PySlowFast's val mode loads only these (ava_helper, not FULL_TEST_ON_VAL)
            array = per_video[video][second]
            array.flags.writeable = False
            keyframes.append(AvaKeyframe(video, index, second, array))
    return AvaTestSet(
        frames_dir=Path(frames_dir),
        frame_list=listed,
        keyframes=keyframes,
        pipeline=pipeline,
        boxes_file=Path(boxes),
        videos_without_boxes=[v for v in listed.videos if v not in per_video],
    )


# --------------------------------------------------------------------------------- transforms


def keyframe_center(second: int, *, fps: int = 30, start_second: int = AVA_START_SECOND) -> int:
    """0-based frame index of keyframe ``second``: ``(second - 900) * fps`` (file number + 1)."""
    return (int(second) - start_second) * fps


def clip_frame_indices(
    center: int, num_frames_in_video: int, *, num_frames: int = 32, sampling_rate: int = 2
) -> np.ndarray:
    """``range(center - h, center + h, sampling_rate)`` with ``h = num_frames * sampling_rate // 2``,
    clamped to ``[0, num_frames_in_video - 1]`` (PySlowFast ``get_sequence``); the keyframe is
    element ``num_frames // 2``."""
    if num_frames_in_video < 1:
        raise DataError("a video with no frames has no clips")
    half = num_frames * sampling_rate // 2
    seq = np.arange(center - half, center + half, sampling_rate, dtype=np.int64)
    return np.clip(seq, 0, num_frames_in_video - 1)


def scaled_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(H', W') after PySlowFast ``cv2_transform.scale``: short side -> ``short_side``, long side
    ``floor(long / short * short_side)``; unchanged when the short side already is ``short_side``."""
    if (width <= height and width == short_side) or (height <= width and height == short_side):
        return height, width
    if width < height:
        return int(math.floor(float(height) / width * short_side)), short_side
    return short_side, int(math.floor(float(width) / height * short_side))


def _clip_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    boxes[:, [0, 2]] = np.minimum(width - 1.0, np.maximum(0.0, boxes[:, [0, 2]]))
    boxes[:, [1, 3]] = np.minimum(height - 1.0, np.maximum(0.0, boxes[:, [1, 3]]))
    return boxes


def keyframe_clip(
    frames: np.ndarray,
    ori_boxes: np.ndarray,
    *,
    short_side: int = 224,
    mean: Sequence[float] = (0.45, 0.45, 0.45),
    std: Sequence[float] = (0.225, 0.225, 0.225),
    center_crop: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB frames ``(T, H, W, 3)`` + normalised boxes ``(K, 4)`` -> the model input
    ``(3, T, H', W')`` float32 RGB and the boxes ``(K, 4)`` float32 in its pixels (module doc,
    steps 3-6). ``center_crop``: PySlowFast's val mode, a ``short_side`` square from offsets
    ``ceil((H' - S) / 2)``, ``ceil((W' - S) / 2)`` after the resize, boxes shifted with it
    (``cv2_transform.spatial_shift_crop_list``, spatial index 1)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    _, height, width, _ = frames.shape
    boxes = np.array(ori_boxes, dtype=np.float64).reshape(-1, 4)
    boxes[:, [0, 2]] *= width
    boxes[:, [1, 3]] *= height
    boxes = _clip_boxes(boxes, height, width)

    new_h, new_w = scaled_size(height, width, short_side)
    if (new_h, new_w) != (height, width):
        frames = np.stack([
            cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR) for frame in frames
        ])
        boxes *= float(new_h) / height if width < height else float(new_w) / width
    if center_crop:
        top = int(math.ceil((new_h - short_side) / 2)) if new_h > short_side else 0
        left = int(math.ceil((new_w - short_side) / 2)) if new_w > short_side else 0
        frames = frames[:, top:top + short_side, left:left + short_side]
        boxes[:, [0, 2]] -= left
        boxes[:, [1, 3]] -= top
        new_h, new_w = frames.shape[1:3]
    # uint8 / 255 in float32 equals the reference's float64 division cast to float32 for all 256
    # values, so one path serves both of its branches (resized float32 and unresized uint8).
    x = frames.astype(np.float32) / np.float32(255.0)
    mean_bgr = np.asarray(mean, dtype=np.float32)
    std_bgr = np.asarray(std, dtype=np.float32)
    for c in range(3):  # RGB channel c is BGR channel 2 - c
        x[..., c] = (x[..., c] - mean_bgr[2 - c]) / std_bgr[2 - c]
    x = np.ascontiguousarray(x.transpose(3, 0, 1, 2))
    boxes = _clip_boxes(boxes, new_h, new_w)
    return x, boxes.astype(np.float32)


class KeyframeSample(NamedTuple):
    x: np.ndarray  # (3, T, H', W') float32, normalised RGB
    boxes: np.ndarray  # (K, 4) float32, pixels of x
    ori_boxes: np.ndarray  # (K, 4) float64, normalised, as read


def load_keyframe(
    test_set: AvaTestSet,
    keyframe: AvaKeyframe | int,
    *,
    source: AvaFrameSource | None = None,
) -> KeyframeSample:
    """Decode and transform one keyframe: ``x, boxes, ori_boxes = load_keyframe(test_set, i)``."""
    if isinstance(keyframe, int):
        keyframe = test_set.keyframes[keyframe]
    source = source or test_set.source(keyframe.video_id)
    frames = source.read(test_set.frame_indices(keyframe))
    p = test_set.pipeline
    x, boxes = keyframe_clip(frames, keyframe.boxes, short_side=p.short_side, mean=p.mean, std=p.std,
                             center_crop=p.center_crop)
    return KeyframeSample(x, boxes, np.array(keyframe.boxes, dtype=np.float64))
