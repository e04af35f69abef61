"""Small synthetic labelled video sets, for the demo, the tests and trying a pipeline without data.

Each class is a bright square of its own colour moving in its own direction over a textured
background tinted in the class's hue, encoded as H.264 MP4 with PyAV. The tint survives any crop,
so a network can learn the classes in a few minutes on a CPU (the demo and the training tests rely
on that); the motion gives temporal models something to see. Nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

__all__ = ["SyntheticSet", "SyntheticAva", "write_synthetic_videos", "write_synthetic_ava"]

_DIRECTIONS = [(1, 0), (0, 1), (-1, 0), (0, -1), (1, 1), (-1, 1), (1, -1), (-1, -1)]


@dataclass(frozen=True)
class SyntheticSet:
    root: Path
    annotation: Path  # mmaction2 video list: "<relative path> <label>"
    class_names: Path  # one class name per line
    num_videos: int


def _tint(label: int) -> np.ndarray:
    """A per-class colour offset of the background: hue in steps of 360 / 8 degrees."""
    angle = 2 * np.pi * (label % 8) / 8 + (label // 8) * 0.4
    return np.round(60 * np.array([np.cos(angle), np.cos(angle - 2.1), np.cos(angle + 2.1)])).astype(np.int16)


def _frames(label: int, seed: int, count: int, height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    background = rng.integers(30, 90, size=(height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    background = np.kron(background, np.ones((8, 8, 1), dtype=np.uint8))[:height, :width]
    background = np.clip(background.astype(np.int16) + _tint(label), 0, 255).astype(np.uint8)
    dx, dy = _DIRECTIONS[label % len(_DIRECTIONS)]
    side = min(height, width) // 4
    colour = np.array([(label * 67) % 256, 200, 255 - (label * 41) % 256], dtype=np.uint8)
    y0, x0 = rng.integers(0, height - side), rng.integers(0, width - side)
    frames = np.empty((count, height, width, 3), dtype=np.uint8)
    for t in range(count):
        frame = background.copy()
        y = (y0 + dy * 3 * t) % (height - side)
        x = (x0 + dx * 3 * t) % (width - side)
        frame[y : y + side, x : x + side] = colour
        frames[t] = frame
    return frames


def _write_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.mp4")  # never leave a half-written video
    with av.open(str(partial), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.replace(path)


def write_synthetic_videos(
    root: str | Path,
    *,
    num_classes: int = 4,
    videos_per_class: int = 2,
    num_frames: int = 80,
    size: tuple[int, int] = (128, 170),
    fps: int = 30,
    first: int = 0,
    annotation_name: str = "videos.txt",
) -> SyntheticSet:
    """Write ``num_classes * videos_per_class`` MP4 files plus an annotation list and class names.

    Videos ``first .. first + videos_per_class - 1`` of each class are written (each has its own
    random background and start position), so two calls with disjoint ranges give disjoint
    splits, e.g. a training and a held-out set.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = [f"moving_{'_'.join(map(str, _DIRECTIONS[c % 8]))}_{c}" for c in range(num_classes)]
    lines = []
    for label, name in enumerate(names):
        for i in range(first, first + videos_per_class):
            rel = Path("videos") / name / f"{name}_{i:03d}.mp4"
            target = root / rel
            if not target.exists():
                frames = _frames(label, seed=1000 * label + i, count=num_frames, height=size[0],
                                 width=size[1])
                _write_mp4(target, frames, fps)
            lines.append(f"{rel.as_posix()} {label}")
    annotation = root / annotation_name
    annotation.write_text("\n".join(lines) + "\n")
    class_file = root / "classes.txt"
    class_file.write_text("\n".join(names) + "\n")
    return SyntheticSet(root, annotation, class_file, len(lines))


@dataclass(frozen=True)
class SyntheticAva:
    frames_dir: Path
    frame_list: Path
    groundtruth: Path  # ava_{train,val}_v2.2.csv layout
    boxes: Path  # detector boxes, PySlowFast layout (score in the last column)
    labelmap: Path


def write_synthetic_ava(
    root: str | Path,
    *,
    videos: int = 2,
    seconds: Sequence[int] = (902, 903, 904),
    size: tuple[int, int] = (96, 128),
) -> SyntheticAva:
    """A small AVA v2.2 layout: JPEG frames of the 15-minute cut's first seconds, the frame list,
    ground truth (two people per keyframe, one action each) and detector boxes."""
    import cv2

    root = Path(root)
    frames_dir = root / "frames"
    count = (max(seconds) - 900) * 30 + 40
    lines = ["original_vido_id video_id frame_id path labels"]
    gt, boxes = [], []
    for v in range(videos):
        video = f"synth{v:02d}"
        folder = frames_dir / video
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(v)
        base = rng.integers(30, 90, size=(*size, 3), dtype=np.uint8)
        for n in range(count):
            frame = np.roll(base, n, axis=1)
            path = folder / f"{video}_{n + 1:06d}.jpg"
            if not path.exists():
                cv2.imwrite(str(path), frame)
            lines.append(f'{video} {v} {n} {video}/{video}_{n + 1:06d}.jpg ""')
        for second in seconds:
            for person, (x, action) in enumerate([(0.1, 12), (0.55, 80)]):
                gt.append(f"{video},{second:04d},{x:.3f},0.100,{x + 0.35:.3f},0.900,{action},{person}")
                boxes.append(f"{video},{second:04d},{x:.3f},0.100,{x + 0.35:.3f},0.900,,0.95")
    frame_list = root / "frame_list.csv"
    frame_list.write_text("\n".join(lines) + "\n")
    (root / "gt.csv").write_text("\n".join(gt) + "\n")
    (root / "boxes.csv").write_text("\n".join(boxes) + "\n")
    labelmap = root / "labelmap.pbtxt"
    labelmap.write_text('item {\n  name: "stand"\n  id: 12\n}\nitem {\n  name: "watch (a person)"\n'
                        '  id: 80\n}\n')
    return SyntheticAva(frames_dir, frame_list, root / "gt.csv", root / "boxes.csv", labelmap)
