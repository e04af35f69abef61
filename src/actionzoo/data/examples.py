"""Random model inputs shaped like a protocol's views: for export tracing, verification and bench."""

from __future__ import annotations

import numpy as np

from actionzoo.zoo.protocols import Protocol

__all__ = ["BOXES_PER_CLIP", "example_inputs"]

# Boxes per clip for detection exports and benchmarks (AVA keyframes average a few people).
BOXES_PER_CLIP = 4


def example_inputs(
    protocol: Protocol,
    batch: int,
    seed: int = 0,
    boxes_per_clip: int = BOXES_PER_CLIP,
    frame_size: tuple[int, int] | None = None,
    num_frames: int | None = None,
) -> tuple[np.ndarray, ...]:
    """Random normalised-looking model inputs for one batch of clips under ``protocol``.

    ``frame_size`` (H, W) and ``num_frames`` override the protocol's view shape. Detection
    protocols add ``boxes_per_clip`` random boxes per clip, rows ``[batch_index, x1, y1, x2, y2]``
    in input pixels.
    """
    rng = np.random.default_rng(seed)
    c, t, h, w = protocol.view_shape
    if frame_size is not None:
        h, w = frame_size
    if num_frames is not None:
        t = num_frames
    clips = rng.standard_normal((batch, c, t, h, w), dtype=np.float32)
    if not protocol.is_detection:
        return (clips,)
    k = batch * boxes_per_clip
    corners = rng.uniform(0, 1, size=(k, 2, 2)) * np.array([w, h])
    low, high = corners.min(axis=1), corners.max(axis=1) + 8.0  # at least 8 pixels wide
    boxes = np.concatenate([np.repeat(np.arange(batch), boxes_per_clip)[:, None], low, high], 1)
    return clips, boxes.astype(np.float32)
