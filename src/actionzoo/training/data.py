"""Train-time datasets, the epoch sampler and batch collation.

A sample that cannot be read (a missing or corrupt video, a frame folder with a bad image) is
replaced by the next readable sample in dataset order (index + 1, + 2, ... up to
``REPLACEMENT_TRIES``), drawn with that sample's own seeded randomness, and the loop names the
unreadable file. Replacing rather than dropping keeps every process's batch the same size, so
that every process makes the same collective calls (sync BN all-reduces once per forward, and
micro-batching makes one forward per chunk): a dropped sample on one rank could leave the ranks
waiting on different collectives. PySlowFast also substitutes another video after failed decode
attempts (PySlowFast@9839d13 ``datasets/kinetics.py``), at random; here it is deterministic so a
resumed or re-run epoch reads the same clips.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from actionzoo.ava.annotations import (
    AVA_KEYFRAME_SECONDS,
    read_annotations_csv,
    read_frame_list,
    read_person_boxes_csv,
)
from actionzoo.ava.dataset import AvaFrameSource, clip_frame_indices, keyframe_center
from actionzoo.data.annotations import VideoRecord
from actionzoo.data.item_errors import attempt
from actionzoo.data.train_clips import (
    ava_train_clip,
    multi_hot,
    read_in_order,
    recognition_train_clip,
    sample_rng,
)
from actionzoo.errors import AnnotationError
from actionzoo.zoo.recipes import (
    AvaTrainPipeline,
    MMAction2TrainPipeline,
    PySlowFastTrainPipeline,
)

__all__ = ["Sample", "Batch", "RecognitionTrainSet", "AvaTrainSet", "AvaTrainKeyframe",
           "EpochSampler", "collate", "load_ava_train_set"]


@dataclass
class Sample:
    index: int
    name: str
    clip: torch.Tensor | None  # (3, T, H, W) float32
    label: int | None = None  # recognition
    boxes: np.ndarray | None = None  # AVA: (K, 4) float32, input pixels
    targets: np.ndarray | None = None  # AVA: (K, classes) multi-hot float32
    error: str | None = None
    load_s: float = 0.0
    replaced: list[tuple[str, str]] = field(default_factory=list)  # (unreadable sample, reason)


REPLACEMENT_TRIES = 10


@dataclass
class Batch:
    clips: torch.Tensor  # (B, 3, T, H, W)
    labels: torch.Tensor | None  # (B,) int64 (recognition)
    boxes: torch.Tensor | None  # (K, 5) [batch index, x1, y1, x2, y2] (AVA)
    targets: torch.Tensor | None  # (K, classes) (AVA)
    indices: list[int]
    failed: list[tuple[str, str]] = field(default_factory=list)  # (sample, reason)
    load_s: float = 0.0

    def __len__(self) -> int:
        return len(self.indices)


def collate(samples: Sequence[Sample]) -> Batch | None:
    """Stack the readable samples of one batch (None when every one failed)."""
    good = [s for s in samples if s.error is None and s.clip is not None]
    failed = [(s.name, s.error or "unreadable") for s in samples if s.error is not None]
    failed += [(name, f"{reason}; replaced by {s.name}") for s in good for name, reason in s.replaced]
    load_s = sum(s.load_s for s in samples)
    if not good:
        return Batch(torch.empty(0), None, None, None, [], failed, load_s)
    clips = torch.stack([s.clip for s in good])
    if good[0].boxes is None:
        labels = torch.tensor([s.label for s in good], dtype=torch.int64)
        return Batch(clips, labels, None, None, [s.index for s in good], failed, load_s)
    boxes = torch.from_numpy(np.concatenate([
        np.concatenate([np.full((len(s.boxes), 1), i, np.float32), s.boxes], axis=1)
        for i, s in enumerate(good)]))
    targets = torch.from_numpy(np.concatenate([s.targets for s in good]))
    return Batch(clips, None, boxes, targets, [s.index for s in good], failed, load_s)


class EpochSampler(torch.utils.data.Sampler[int]):
    """This process's share of a seeded permutation of the dataset, re-drawn every epoch.

    The permutation depends on (seed, epoch) only. With ``world`` processes, rank r takes every
    world-th index from r on (after padding with the permutation's head to a multiple of world, as
    torch's DistributedSampler does), so step k's samples across ranks are exactly step k's
    samples of one process with a ``world``-times larger batch.
    """

    def __init__(self, size: int, *, seed: int, rank: int = 0, world: int = 1, shuffle: bool = True):
        self.size, self.seed, self.rank, self.world, self.shuffle = size, seed, rank, world, shuffle
        self.epoch = 0

    skip = 0

    def set_epoch(self, epoch: int, *, skip: int = 0) -> None:
        """Go to ``epoch``, leaving out its first ``skip`` indices (resuming mid-epoch)."""
        self.epoch, self.skip = epoch, skip

    def order(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        padded = (-len(order)) % self.world
        order += order[:padded]
        return order[self.rank :: self.world][self.skip :]

    def __iter__(self) -> Iterator[int]:
        return iter(self.order())

    def __len__(self) -> int:
        return max((self.size + self.world - 1) // self.world - self.skip, 0)


class _SeededDataset(torch.utils.data.Dataset):
    """A dataset whose item ``i`` of epoch ``e`` is drawn with :func:`sample_rng` (seed, e, i)."""

    seed: int = 0
    epoch: int = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _load(self, index: int) -> Sample:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Sample:
        sample = self._load(index)
        if sample.error is None:
            return sample
        failures = [(sample.name, sample.error)]
        for step in range(1, min(REPLACEMENT_TRIES, len(self))):
            other = self._load((index + step) % len(self))
            if other.error is None:
                other.replaced = failures
                return other
            failures.append((other.name, other.error))
        return sample  # nothing readable nearby: the loop skips the step on every process


class RecognitionTrainSet(_SeededDataset):
    """Clips of annotated videos (or frame folders) with their class labels."""

    def __init__(self, records: Sequence[VideoRecord], pipeline: MMAction2TrainPipeline |
                 PySlowFastTrainPipeline, *, seed: int,
                 flip_pairs: Sequence[tuple[int, int]] = ()) -> None:
        self.records = list(records)
        self.pipeline = pipeline
        self.seed = seed
        self.flip_pairs = list(flip_pairs)

    def __len__(self) -> int:
        return len(self.records)

    def _load(self, index: int) -> Sample:
        from actionzoo.data.decode import open_source

        record = self.records[index]
        start = time.perf_counter()
        rng = sample_rng(self.seed, self.epoch, index)

        def load() -> Sample:
            source = open_source(record.path, num_frames=record.num_frames)
            total = record.num_frames if record.num_frames is not None else len(source)
            clip, label = recognition_train_clip(source, total, self.pipeline, rng, record.label,
                                                 self.flip_pairs)
            return Sample(index, record.video_id, clip, label, load_s=time.perf_counter() - start)

        sample, error = attempt(record.path, load)
        return sample if sample is not None else Sample(
            index, record.video_id, None, error=error, load_s=time.perf_counter() - start)


# ------------------------------------------------------------------------------------------ AVA


@dataclass(frozen=True)
class AvaTrainKeyframe:
    video_id: str
    second: int
    boxes: np.ndarray  # (K, 4) normalised
    labels: tuple[tuple[int, ...], ...]  # action ids per box (empty: a negative box)

    @property
    def key(self) -> str:
        return "%s,%04d" % (self.video_id, self.second)


class AvaTrainSet(_SeededDataset):
    """AVA train keyframes: each keyframe's clip with every box and its multi-hot labels."""

    def __init__(self, frames_dir: Path, frames: dict[str, list[str]],
                 keyframes: list[AvaTrainKeyframe], pipeline: AvaTrainPipeline, *,
                 num_classes: int, seed: int) -> None:
        self.frames_dir = Path(frames_dir)
        self.frames = frames
        self.keyframes = keyframes
        self.pipeline = pipeline
        self.num_classes = num_classes
        self.seed = seed

    def __len__(self) -> int:
        return len(self.keyframes)

    def _load(self, index: int) -> Sample:
        keyframe = self.keyframes[index]
        start = time.perf_counter()
        rng = sample_rng(self.seed, self.epoch, index)
        p = self.pipeline

        def load() -> Sample:
            source = AvaFrameSource(self.frames_dir, self.frames[keyframe.video_id], keep=False)
            centre = keyframe_center(keyframe.second, fps=p.fps)
            indices = clip_frame_indices(centre, len(source), num_frames=p.num_frames,
                                         sampling_rate=p.sampling_rate)
            x, boxes = ava_train_clip(read_in_order(source, indices), keyframe.boxes, p, rng)
            targets = multi_hot(keyframe.labels, self.num_classes)
            return Sample(index, keyframe.key, torch.from_numpy(x), boxes=boxes, targets=targets,
                          load_s=time.perf_counter() - start)

        sample, error = attempt(keyframe.key, load)
        return sample if sample is not None else Sample(
            index, keyframe.key, None, error=error, load_s=time.perf_counter() - start)


def load_ava_train_set(frames_dir: str | Path, frame_list: str | Path, groundtruth: str | Path,
                       boxes: str | Path | None, pipeline: AvaTrainPipeline, *, num_classes: int,
                       seed: int) -> AvaTrainSet:
    """GT boxes (``ava_train_v2.2.csv``) plus detector boxes with score >= the threshold
    (``..._include_negative_v2.2.csv``), merged per keyframe by their raw ``"x1,y1,x2,y2"`` text
    (rows whose text differs stay separate boxes, even when the numbers are equal, e.g. ``0.1`` and
    ``0.100``), labels appended per box; keyframes in frame-list video order, then by second
    (PySlowFast@9839d13 ``slowfast/datasets/ava_helper.py``, ``parse_bboxes_file``)."""
    listed = read_frame_list(frame_list)
    # (video, second) -> box text -> (the first row's coordinates, labels)
    merged: dict[tuple[str, int], dict[str, tuple[tuple[float, ...], list[int]]]] = {}
    problems: list[str] = []

    def add(video: str, second: int, text: str, box: tuple[float, ...], action: int | None,
            where: str) -> None:
        if second not in AVA_KEYFRAME_SECONDS:
            problems.append(f"{where}: second {second} of {video} is outside 902..1798")
            return
        _, labels = merged.setdefault((video, second), {}).setdefault(text, (box, []))
        if action is not None and action not in labels:
            labels.append(action)

    for n, row in enumerate(read_annotations_csv(groundtruth), start=1):
        add(row.video_id, row.timestamp, row.box_text, (row.x1, row.y1, row.x2, row.y2), row.action_id,
            f"row {n}")
    if boxes is not None:
        for n, row in enumerate(read_person_boxes_csv(boxes, min_score=pipeline.box_score_threshold),
                                start=1):
            add(row.video_id, row.timestamp, row.box_text, (row.x1, row.y1, row.x2, row.y2),
                row.action_id, f"row {n}")
    if problems:
        raise AnnotationError(groundtruth, problems)
    missing = sorted({video for video, _ in merged if video not in listed.frames})
    if missing:
        raise AnnotationError(frame_list, [f"{len(missing)} video(s) with boxes are not listed: "
                                           f"{', '.join(missing[:5])}"])
    keyframes = []
    for video in listed.videos:
        for second in sorted(s for v, s in merged if v == video):
            per_box = merged[(video, second)].values()
            keyframes.append(AvaTrainKeyframe(
                video, second, np.array([box for box, _ in per_box], dtype=np.float64).reshape(-1, 4),
                tuple(tuple(labels) for _, labels in per_box)))
    return AvaTrainSet(Path(frames_dir), listed.frames, keyframes, pipeline,
                       num_classes=num_classes, seed=seed)
