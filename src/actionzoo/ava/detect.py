"""Spatio-temporal action detection on one video with the user's person boxes, drawn as images.

No person detector ships with actionzoo: boxes come from a proposals file, either a PySlowFast
person-box CSV (``video_id, timestamp, x1, y1, x2, y2, action_id or empty, score``) or a proposal
pickle (``{"video_id,%04d": N x 5 [x1, y1, x2, y2, score]}``), normalised coordinates, rows with
score >= the protocol's threshold (0.8) kept and merged per keyframe as for the AVA test set.

Which keys belong to the video (first rule that applies):

1. ``video_id`` given: that id's keys (an error lists the ids in the file if it is absent);
2. the video file's name without suffix is an id in the file (``-5KQ66BBWC4.mp4``): its keys;
3. the file holds one video id: all keys;
4. otherwise an error lists the ids found and asks for ``video_id``.

Keyframe second ``t`` -> frame index ``floor((t - start_second) * fps)`` by decoded-frame index,
computed exactly in fractions; ``fps`` is the stream's average frame rate unless given.
``start_second`` is 0 for a video whose seconds count from its start, 900 for an AVA 15-minute cut
(frames from second 900, as PySlowFast's precomputed-boxes demo sets ``STARTING_SECOND 900``; at
30 fps this is PySlowFast's ``(t - 900) * 30``). A second that maps outside the video is skipped
and reported. The clip is then built exactly as in AVA test mode (:mod:`actionzoo.ava.dataset`):
32 frames at stride 2 around that frame, clamped, short side 224, no crop; frames are taken at the
video's own rate (no resampling to 30 fps).

Drawing: each box in green on the keyframe (full resolution), with up to ``top_k`` labels ``name
score`` for the classes scoring >= ``threshold``, highest first, on filled boxes inside its
top-left corner (mmaction2's demo layout). With a label map only its classes are named and drawn;
without one all 80 classes are, as ``action <id>``. Images are written as
``{video_id}_{t:04d}.jpg`` (or ``.png``), plus ``detections.csv`` (official format, all 80
classes per box).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Union

import cv2
import numpy as np

from actionzoo.ava.annotations import read_labelmap
from actionzoo.ava.dataset import clip_frame_indices, keyframe_clip, read_keyframe_boxes
from actionzoo.ava.detections import write_detections_csv
from actionzoo.ava.evaluate import KeyframeRow, run_clips
from actionzoo.data.decode import VideoFile
from actionzoo.data.work_item import Status
from actionzoo.engines.base import Engine
from actionzoo.errors import DataError, UsageError
from actionzoo.evaluation.store import KeyframeResult
from actionzoo.fileio.atomic import write_bytes_atomic
from actionzoo.fileio.display import escape, shown
from actionzoo.fileio.paths import file_name_part, path_under
from actionzoo.runtime.batching import BatchPacker
from actionzoo.zoo.protocols import AvaKeyframePipeline
from actionzoo.zoo.categories import action_name
from actionzoo.zoo.registry import get_model_spec
from actionzoo.zoo.spec import ModelSpec

__all__ = [
    "DetectedKeyframe",
    "DetectReport",
    "select_video_boxes",
    "keyframe_frame_index",
    "box_labels",
    "draw_detections",
    "detect",
]

PathLike = Union[str, os.PathLike]

_BOX_COLOUR = (0, 200, 0)  # BGR
_TEXT_BACKGROUND = (40, 40, 40)
_TEXT_COLOUR = (255, 255, 255)


@dataclass(frozen=True)
class _Keyframe:
    second: int
    frame_index: int
    image: np.ndarray  # the keyframe, RGB uint8, full resolution
    ori_boxes: np.ndarray  # (K, 4) normalised


@dataclass
class DetectedKeyframe:
    second: int
    frame_index: int
    boxes: np.ndarray  # (K, 4) normalised [x1, y1, x2, y2]
    scores: np.ndarray  # (K, 80), column k = action id k + 1
    labels: list[list[tuple[int, str, float]]]  # per box: (action id, name, score) drawn
    image: Path


@dataclass
class DetectReport:
    video: Path
    video_id: str
    fps: Fraction
    start_second: float
    num_frames: int
    engine: str
    threshold: float
    keyframes: list[DetectedKeyframe] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (second, reason)
    detections_csv: Path | None = None

    def render_text(self) -> str:
        lines = [
            f"{self.video}: video id {self.video_id}, {self.num_frames} frames at "
            f"{float(self.fps):.3f} fps, second t -> frame floor((t - {self.start_second:g}) * fps)",
            f"engine {self.engine}; labels drawn for scores >= {self.threshold:g}",
        ]
        for k in self.keyframes:
            named = sum(1 for labels in k.labels if labels)
            lines.append(f"  {k.second:04d} (frame {k.frame_index}): {len(k.boxes)} boxes, "
                         f"{named} labelled -> {k.image}")
        for second, reason in self.skipped:
            lines.append(f"  {second:04d} skipped: {reason}")
        if self.detections_csv:
            lines.append(f"detections: {self.detections_csv}")
        return "\n".join(lines)


def select_video_boxes(
    per_video: Mapping[str, Mapping[int, np.ndarray]],
    video: PathLike,
    video_id: str | None = None,
    *,
    proposals: PathLike = "proposals",
) -> tuple[str, dict[int, np.ndarray]]:
    """Pick the proposals of ``video`` by the rules in the module doc: ``(video_id, {t: boxes})``."""
    ids = list(per_video)
    listed = ", ".join(escape(i, 40) for i in ids[:5]) + (", ..." if len(ids) > 5 else "")
    if not ids:
        raise UsageError(f"{proposals}: no person boxes (with score >= the threshold) in the file")
    if video_id is not None:
        if video_id not in per_video:
            raise UsageError(f"{proposals}: no boxes for video id {shown(video_id, 60)}; the file has {listed}")
        chosen = video_id
    elif Path(video).stem in per_video:
        chosen = Path(video).stem
    elif len(ids) == 1:
        chosen = ids[0]
    else:
        raise UsageError(
            f"{proposals}: boxes of {len(ids)} videos ({listed}) and none is named like "
            f"{Path(video).name}; say which with the video id"
        )
    return chosen, dict(sorted(per_video[chosen].items()))


def keyframe_frame_index(second: int, fps: Fraction | float | str, start_second: float | str = 0) -> int:
    """``floor((second - start_second) * fps)``, exact (decimal inputs are read as written)."""
    fps = Fraction(fps) if isinstance(fps, Fraction) else Fraction(str(fps))
    start = Fraction(str(start_second))
    return math.floor((Fraction(int(second)) - start) * fps)


def box_labels(
    scores: np.ndarray,
    names: Mapping[int, str] | None,
    *,
    threshold: float,
    top_k: int,
) -> list[tuple[int, str, float]]:
    """The labels drawn for one box: ``(action id, name, score)`` with score >= ``threshold``,
    highest first, at most ``top_k``; only label-map classes when ``names`` is given."""
    ids = list(names) if names is not None else list(range(1, len(scores) + 1))
    picked = [(int(i), float(scores[i - 1])) for i in ids if 1 <= i <= len(scores)]
    picked = [p for p in picked if p[1] >= threshold]
    picked.sort(key=lambda p: (-p[1], p[0]))
    return [(i, names[i] if names is not None else action_name(i), s) for i, s in picked[:top_k]]


def draw_detections(
    image: np.ndarray,
    boxes: np.ndarray,
    labels: Sequence[Sequence[tuple[int, str, float]]],
) -> np.ndarray:
    """RGB uint8 ``image`` with the normalised ``boxes`` and their labels drawn (a new array)."""
    height, width = image.shape[:2]
    canvas = np.ascontiguousarray(image[..., ::-1])  # BGR for OpenCV drawing
    side = min(height, width)
    thickness = max(2, round(side / 300))
    scale = max(0.35, side / 900)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for box, box_labels_ in zip(boxes, labels):
        x1, x2 = (int(round(min(max(v * width, 0), width - 1))) for v in (box[0], box[2]))
        y1, y2 = (int(round(min(max(v * height, 0), height - 1))) for v in (box[1], box[3]))
        cv2.rectangle(canvas, (x1, y1), (x2, y2), _BOX_COLOUR, thickness)
        y = y1 + thickness
        for _, name, score in box_labels_:
            text = f"{name} {score:.2f}"
            (tw, th), base = cv2.getTextSize(text, font, scale, 1)
            top = min(y, max(height - th - base - 2, 0))
            cv2.rectangle(canvas, (x1, top), (min(x1 + tw + 4, width - 1), top + th + base + 2),
                          _TEXT_BACKGROUND, -1)
            cv2.putText(canvas, text, (x1 + 2, top + th + 1), font, scale, _TEXT_COLOUR, 1,
                        cv2.LINE_AA)
            y = top + th + base + 3
    return np.ascontiguousarray(canvas[..., ::-1])


def _write_image(path: Path, rgb: np.ndarray) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix == ".jpg" else []
    ok, data = cv2.imencode(path.suffix, np.ascontiguousarray(rgb[..., ::-1]), params)
    if not ok:
        raise DataError(f"{path}: could not encode the image")
    write_bytes_atomic(path, data.tobytes())


def _keyframe_row(source: VideoFile, pipeline: AvaKeyframePipeline, second: int, index: int,
                  ori: np.ndarray) -> tuple[_Keyframe, KeyframeRow]:
    """Decode and transform one keyframe's clip as AVA test mode does."""
    indices = clip_frame_indices(index, len(source), num_frames=pipeline.num_frames,
                                 sampling_rate=pipeline.sampling_rate)
    frames = source.read(indices)
    x, boxes_px = keyframe_clip(frames, ori, short_side=pipeline.short_side, mean=pipeline.mean,
                                std=pipeline.std)
    keyframe_rgb = frames[pipeline.num_frames // 2].copy()  # not a view of all 32 frames
    return _Keyframe(second, index, keyframe_rgb, ori), KeyframeRow(x, boxes_px)


def _frame_rate(source: VideoFile, fps: float | str | Fraction | None) -> Fraction:
    """The given frame rate, exactly as written, or the stream's average rate."""
    if fps is None:
        fps = source.timing.average_rate
        if not fps:
            raise UsageError(f"{source.path}: the stream states no average frame rate; give fps")
    rate = fps if isinstance(fps, Fraction) else Fraction(str(fps))
    if rate <= 0:
        raise UsageError(f"fps must be positive, got {fps}")
    return rate


def detect(
    video: PathLike,
    proposals: PathLike,
    out_dir: PathLike,
    *,
    engine: Engine,
    labelmap: PathLike | Mapping[int, str] | None = None,
    video_id: str | None = None,
    start_second: float = 0.0,
    fps: float | str | Fraction | None = None,
    threshold: float = 0.5,
    top_k: int = 5,
    batch_size: int = 1,
    image_format: str = "jpg",
    model: str | ModelSpec = "slowfast_r50_ava",
) -> DetectReport:
    """Run an AVA model on each keyframe of ``video`` that has person boxes and draw the results.

    See the module doc for how proposals map to the video, how seconds map to frames and what is
    drawn. ``engine`` takes ``(x (N, 3, 32, H, W), boxes (K, 5))`` like the AVA models;
    ``batch_size`` keyframes share one call. Returns a :class:`DetectReport`; images and
    ``detections.csv`` are written to ``out_dir``.
    """
    spec = get_model_spec(model)
    pipeline = spec.official.pipeline
    if not pipeline.is_detection:
        raise UsageError(f"{spec.name} is not a detector; `actionzoo predict` classifies videos")
    if image_format not in ("jpg", "png"):
        raise UsageError(f"image format {image_format!r}: choose jpg or png")
    if batch_size < 1 or top_k < 1:
        raise UsageError("batch size and top-k must be >= 1")
    names = None if labelmap is None else (
        read_labelmap(labelmap) if isinstance(labelmap, (str, os.PathLike)) else dict(labelmap))
    per_video = read_keyframe_boxes(proposals, min_score=pipeline.box_score_threshold, seconds=None)
    chosen, seconds = select_video_boxes(per_video, video, video_id, proposals=proposals)
    # The id comes from the proposals file (or the video's name) and names the output images.
    file_name_part(chosen, source=proposals, what="video id")

    source = VideoFile(video)
    count = len(source)
    rate = _frame_rate(source, fps)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = DetectReport(Path(video), chosen, rate, start_second, count,
                          engine.info.describe(), threshold)
    stored: list[KeyframeResult] = []

    def draw(keyframe: _Keyframe, outputs: list[np.ndarray]) -> None:
        scores = np.asarray(outputs[0], dtype=np.float64)
        labels = [box_labels(b, names, threshold=threshold, top_k=top_k) for b in scores]
        path = path_under(out, f"{chosen}_{keyframe.second:04d}.{image_format}",
                          source=proposals, what="image")
        _write_image(path, draw_detections(keyframe.image, keyframe.ori_boxes, labels))
        report.keyframes.append(DetectedKeyframe(keyframe.second, keyframe.frame_index,
                                                 keyframe.ori_boxes, scores, labels, path))
        stored.append(KeyframeResult(f"{chosen},{keyframe.second:04d}", len(stored), chosen,
                                     keyframe.second, Status.OK, None, keyframe.ori_boxes, scores,
                                     None, None))

    # Keyframes of one video share a frame size, so every call holds up to batch_size clips.
    packer = BatchPacker(run_clips(engine, spec.num_classes), batch_size, draw)
    for second, ori in seconds.items():
        index = keyframe_frame_index(second, rate, start_second)
        if not 0 <= index < count:
            report.skipped.append((second, f"maps to frame {index}; the video has frames 0..{count - 1}"))
            continue
        keyframe, row = _keyframe_row(source, pipeline, second, index, ori)
        packer.add(keyframe, [row])
    packer.flush()
    if stored:
        report.detections_csv, _ = write_detections_csv(stored, out / "detections.csv")
    elif report.skipped:
        raise UsageError(
            f"{video}: no keyframe of video id {chosen} falls inside the video "
            f"({report.skipped[0][0]:04d} {report.skipped[0][1]}); check start_second / fps"
        )
    return report
