"""Train-time clips, sampled and augmented as the references' train pipelines do.

Every random choice comes from one ``numpy.random.Generator`` per sample, seeded by (run seed,
epoch, sample index): a sample's augmentation does not depend on which process or worker loads
it, so one process with batch B and N processes with B/N each see identical clips, and a resumed
run replays the interrupted epoch exactly.

* mmaction2 0.x (mmaction2@5fa8faa ``mmaction/datasets/pipelines/{loading,augmentations}.py``):
  ``SampleFrames`` in train mode, ``Resize(-1, 256)``, ``RandomResizedCrop`` (area 0.08-1, ratio
  3/4-4/3, 10 tries, centred-square fallback) or ``MultiScaleCrop`` (scales 1/.875/.75/.66, 13
  fixed offsets), ``Resize((S, S))``, ``Flip`` (one decision per clip; mapped labels swap),
  ``Normalize`` (the same per-value table as at test time).
* PySlowFast (PySlowFast@9839d13 ``slowfast/datasets/{decoder,utils,transform}.py``): a random
  clip of ``num_frames * sampling_rate / target_fps`` seconds at the video's frame rate,
  ``linspace`` frames, normalise, short side ``int(round(U(min, max)))``, a random crop, flip.
* AVA (PySlowFast@9839d13 ``slowfast/datasets/ava_dataset.py``, cv2 backend, train split): the
  keyframe's 32 frames, short side ``round(1 / U(1/max, 1/min))`` (cv2 bilinear, boxes scaled),
  a random crop (boxes shifted and clipped, never dropped), flip, ``/255``, ``(x - mean) / std``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import cv2
import numpy as np
import torch

from actionzoo.data.transforms import (
    mmaction2_normalize_table,
    mmaction2_resize,
    pyslowfast_normalize,
    pyslowfast_short_side_resize,
)
from actionzoo.errors import DataError
from actionzoo.zoo.protocols import MMAction2Sampling
from actionzoo.zoo.recipes import (
    AvaTrainPipeline,
    MMAction2TrainPipeline,
    PySlowFastTrainPipeline,
)

__all__ = [
    "sample_rng",
    "mmaction2_train_indices",
    "random_resized_crop_box",
    "multi_scale_crop_box",
    "mmaction2_train_clip",
    "pyslowfast_train_indices",
    "pyslowfast_train_clip",
    "ava_train_clip",
    "TRAIN_CLIP_FAMILIES",
    "recognition_train_clip",
    "read_in_order",
]


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The random stream of one sample in one epoch."""
    return np.random.default_rng([seed, epoch, index])


# ----------------------------------------------------------------------------------- mmaction2


def mmaction2_train_indices(total: int, sampling: MMAction2Sampling,
                            rng: np.random.Generator) -> np.ndarray:
    """0-based frame indices ``(num_clips, clip_len)`` of ``SampleFrames`` in train mode."""
    if total < 1:
        raise DataError("no frames")
    span = sampling.clip_len * sampling.frame_interval
    n = sampling.num_clips
    average = (total - span + 1) // n
    if average > 0:
        offsets = np.arange(n) * average + rng.integers(0, average, size=n)
    elif total > max(n, span):
        offsets = np.sort(rng.integers(0, total - span + 1, size=n))
    elif average == 0:
        offsets = np.around(np.arange(n) * ((total - span + 1) / n)).astype(np.int64)
    else:
        offsets = np.zeros(n, dtype=np.int64)
    indices = offsets[:, None] + np.arange(sampling.clip_len)[None] * sampling.frame_interval
    return np.mod(indices, total).astype(np.int64)  # out_of_bound_opt='loop'


def random_resized_crop_box(height: int, width: int, rng: np.random.Generator,
                            area_range: tuple[float, float] = (0.08, 1.0),
                            ratio_range: tuple[float, float] = (3 / 4, 4 / 3),
                            attempts: int = 10) -> tuple[int, int, int, int]:
    """(top, left, h, w) of mmaction2's ``RandomResizedCrop``."""
    area = height * width
    areas = rng.uniform(*area_range, size=attempts) * area
    ratios = np.exp(rng.uniform(math.log(ratio_range[0]), math.log(ratio_range[1]), size=attempts))
    for target, ratio in zip(areas, ratios):
        w = int(round(math.sqrt(target * ratio)))
        h = int(round(math.sqrt(target / ratio)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side, side


def multi_scale_crop_box(height: int, width: int, size: int, rng: np.random.Generator,
                         scales: Sequence[float] = (1, 0.875, 0.75, 0.66),
                         max_wh_scale_gap: int = 1) -> tuple[int, int, int, int]:
    """(top, left, h, w) of mmaction2's ``MultiScaleCrop`` with ``random_crop=False`` and 13
    fixed offsets."""
    base = min(height, width)
    sizes = [int(base * s) for s in scales]
    sizes = [size if abs(s - size) < 3 else s for s in sizes]
    pairs = [(sizes[j], sizes[i]) for i in range(len(sizes)) for j in range(len(sizes))
             if abs(i - j) <= max_wh_scale_gap]  # (w, h)
    w, h = pairs[int(rng.integers(0, len(pairs)))]
    ws, hs = (width - w) // 4, (height - h) // 4
    offsets = [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs),
               (0, 2 * hs), (4 * ws, 2 * hs), (2 * ws, 4 * hs), (2 * ws, 0),
               (ws, hs), (3 * ws, hs), (ws, 3 * hs), (3 * ws, 3 * hs)]
    x, y = offsets[int(rng.integers(0, len(offsets)))]
    return y, x, h, w


def flipped_label(label: int, pairs: Sequence[tuple[int, int]]) -> int:
    for a, b in pairs:
        if label == a:
            return b
        if label == b:
            return a
    return label


def mmaction2_train_clip(frames: np.ndarray, pipeline: MMAction2TrainPipeline,
                         rng: np.random.Generator) -> tuple[torch.Tensor, bool]:
    """uint8 RGB frames ``(T, H, W, 3)`` of one clip -> float32 ``(3, T, S, S)`` and whether it was
    flipped. One crop box and one flip decision hold for every frame of the clip."""
    resized = np.stack([mmaction2_resize(f, pipeline.resize_short) for f in frames])
    height, width = resized.shape[1:3]
    if pipeline.crop == "random_resized":
        top, left, h, w = random_resized_crop_box(height, width, rng)
    else:
        top, left, h, w = multi_scale_crop_box(height, width, pipeline.crop_size, rng)
    size = pipeline.crop_size
    crops = np.stack([
        cv2.resize(np.ascontiguousarray(f[top:top + h, left:left + w]), (size, size),
                   interpolation=cv2.INTER_LINEAR) for f in resized
    ])
    flip = bool(rng.random() < pipeline.flip)
    if flip:
        crops = crops[:, :, ::-1]
    table = mmaction2_normalize_table(pipeline.mean, pipeline.std)
    out = np.empty((3, len(crops), size, size), dtype=np.float32)
    for c in range(3):
        out[c] = table[crops[..., c], c]
    return torch.from_numpy(out), flip


# ----------------------------------------------------------------------------------- PySlowFast


def pyslowfast_train_indices(total: int, fps: float, pipeline: PySlowFastTrainPipeline,
                             rng: np.random.Generator) -> np.ndarray:
    """0-based indices of a random train clip: ``num_frames`` frames spread by ``linspace`` over
    ``num_frames * sampling_rate / target_fps`` seconds at ``fps``, start uniform, clamped."""
    if total < 1:
        raise DataError("no frames")
    clip = pipeline.sampling_rate * pipeline.num_frames / pipeline.target_fps * fps
    start = rng.uniform(0, max(total - clip, 0))
    end = start + clip - 1
    index = torch.linspace(start, end, pipeline.num_frames)
    return torch.clamp(index, 0, total - 1).long().numpy()


def _decoded_at_short_side(frames: np.ndarray, short: int) -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` as a decoder asked for ``video_min_dimension=short`` returns them:
    bilinearly resized (aspect kept) and rounded back to uint8. torchvision's video reader scales
    inside FFmpeg (swscale); its exact filter is not reproduced here, only the size and the
    rounding to 8 bits, which is what makes the later jitter resample a smaller image."""
    _, height, width, _ = frames.shape
    if min(height, width) == short:
        return frames
    if height <= width:
        size = (short, max(1, round(width * short / height)))
    else:
        size = (max(1, round(height * short / width)), short)
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def pyslowfast_train_clip(frames: np.ndarray, pipeline: PySlowFastTrainPipeline,
                          rng: np.random.Generator, size: int | None = None) -> torch.Tensor:
    """uint8 RGB ``(T, H, W, 3)`` -> float32 ``(3, T, crop, crop)``: normalise, jittered short
    side (``size`` forces one), random crop, flip."""
    if pipeline.decode_short_side:
        frames = _decoded_at_short_side(frames, pipeline.decode_short_side)
    normed = pyslowfast_normalize(torch.from_numpy(np.ascontiguousarray(frames)), pipeline.mean,
                                  pipeline.std)
    low, high = pipeline.jitter
    short = size if size is not None else int(round(rng.uniform(low, high)))
    clip = pyslowfast_short_side_resize(normed.permute(3, 0, 1, 2), short)
    height, width = clip.shape[2:]
    crop = pipeline.crop_size
    top = int(rng.integers(0, height - crop)) if height > crop else 0
    left = int(rng.integers(0, width - crop)) if width > crop else 0
    clip = clip[:, :, top:top + crop, left:left + crop]
    if rng.random() < pipeline.flip:
        clip = clip.flip(3)
    return clip.contiguous()


# ------------------------------------------------------------------------------------------ AVA


def ava_train_clip(frames: np.ndarray, ori_boxes: np.ndarray, pipeline: AvaTrainPipeline,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB ``(T, H, W, 3)`` + normalised boxes ``(K, 4)`` -> the model input ``(3, T, S, S)``
    float32 and the boxes ``(K, 4)`` float32 in its pixels."""
    _, height, width, _ = frames.shape
    boxes = np.array(ori_boxes, dtype=np.float64).reshape(-1, 4)
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]] * width, 0, width - 1)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]] * height, 0, height - 1)
    low, high = pipeline.jitter
    short = int(round(1.0 / rng.uniform(1.0 / high, 1.0 / low)))
    if width <= height:
        new_w, new_h = short, int(math.floor(height / width * short))
        scale = new_h / height
    else:
        new_h, new_w = short, int(math.floor(width / height * short))
        scale = new_w / width
    frames = np.stack([cv2.resize(f, (new_w, new_h), interpolation=cv2.INTER_LINEAR) for f in frames])
    boxes *= scale
    crop = pipeline.crop_size
    top = int(rng.integers(0, new_h - crop)) if new_h > crop else 0
    left = int(rng.integers(0, new_w - crop)) if new_w > crop else 0
    frames = frames[:, top:top + crop, left:left + crop]
    boxes[:, [0, 2]] -= left
    boxes[:, [1, 3]] -= top
    h, w = frames.shape[1:3]
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w - 1)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h - 1)
    if rng.random() < pipeline.flip:
        frames = frames[:, :, ::-1]
        boxes[:, [0, 2]] = (w - 1) - boxes[:, [2, 0]]
    x = frames.astype(np.float32) / np.float32(255.0)
    mean = np.asarray(pipeline.mean, dtype=np.float32)
    std = np.asarray(pipeline.std, dtype=np.float32)
    x = (x - mean[::-1]) / std[::-1]  # per BGR channel in the reference, then flipped to RGB
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2)), boxes.astype(np.float32)


# ------------------------------------------------------------------- recognition families


def read_in_order(source, indices: np.ndarray) -> np.ndarray:
    """Frames in the order ``indices`` gives, each distinct one decoded once."""
    distinct, inverse = np.unique(indices, return_inverse=True)
    return source.read([int(i) for i in distinct])[inverse]


class _TrainClipFamily:
    """How one recognition train-pipeline family cuts a labelled clip from a source."""

    def clip(self, source, total: int, pipeline, rng: np.random.Generator, label: int | None,
             flip_pairs: Sequence[tuple[int, int]]) -> tuple[torch.Tensor, int | None]:
        raise NotImplementedError


class _MMAction2TrainClips(_TrainClipFamily):
    def clip(self, source, total, pipeline, rng, label, flip_pairs):
        indices = mmaction2_train_indices(total, pipeline.sampling, rng).reshape(-1)
        clip, flipped = mmaction2_train_clip(read_in_order(source, indices), pipeline, rng)
        # mmaction2's Flip swaps the mapped labels (left/right classes)
        return clip, (flipped_label(label, flip_pairs) if flipped and label is not None else label)


class _PySlowFastTrainClips(_TrainClipFamily):
    def clip(self, source, total, pipeline, rng, label, flip_pairs):
        fps = float(source.timing.average_rate or pipeline.target_fps) \
            if source.has_timestamps else float(pipeline.target_fps)
        indices = pyslowfast_train_indices(total, fps, pipeline, rng)
        # PySlowFast's Kinetics flip keeps the label
        return pyslowfast_train_clip(read_in_order(source, indices), pipeline, rng), label


#: The recognition train-pipeline families (AVA's keyframe clips with boxes are cut by
#: :func:`ava_train_clip` from the keyframe's frames, not from a video record).
TRAIN_CLIP_FAMILIES: dict[type, _TrainClipFamily] = {
    MMAction2TrainPipeline: _MMAction2TrainClips(),
    PySlowFastTrainPipeline: _PySlowFastTrainClips(),
}


def recognition_train_clip(source, total: int, pipeline, rng: np.random.Generator,
                           label: int | None, flip_pairs: Sequence[tuple[int, int]] = ()
                           ) -> tuple[torch.Tensor, int | None]:
    """One augmented train clip ``(3, T, S, S)`` of ``source`` (``total`` frames) under
    ``pipeline``'s family, and its label after a flip."""
    try:
        family = TRAIN_CLIP_FAMILIES[type(pipeline)]
    except KeyError:
        raise TypeError(f"{type(pipeline).__name__} is not a recognition train pipeline") from None
    return family.clip(source, total, pipeline, rng, label, flip_pairs)


def multi_hot(labels: Sequence[Sequence[int]], num_classes: int) -> np.ndarray:
    """(K, num_classes) float32 with ``[k, id - 1] = 1`` for each action id of box k."""
    out = np.zeros((len(labels), num_classes), dtype=np.float32)
    for k, ids in enumerate(labels):
        for action in ids:
            if 1 <= action <= num_classes:
                out[k, action - 1] = 1.0
    return out


def label_map_pairs(pairs: Mapping[int, int] | Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    return list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
