"""One adapter per test-pipeline family: build_views, view_frame_indices and the timeline's
centre view all go through the same family, so a sliding window's view is the one eval makes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import actionzoo
from actionzoo.data.decode import open_source
from actionzoo.data.synthetic import write_synthetic_videos
from actionzoo.data.views import (
    VIEW_FAMILIES,
    build_views,
    centre_view,
    view_family,
    view_frame_indices,
)
from actionzoo.errors import UsageError
from actionzoo.prediction.timeline import window_view
from actionzoo.zoo.protocols import MMAction2Pipeline


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("families")
    write_synthetic_videos(root, num_classes=1, videos_per_class=1, num_frames=80, size=(64, 86))
    return next(root.rglob("*.mp4"))


# (model, protocol, which crop of each clip is the centre one)
CASES = [
    ("slowfast_r50_8x8x1_k400", "ascend", "center crop"),
    ("tsm_r50_1x1x8_sthv2", "official", "the last of three crops (left, right, middle)"),
    ("x3d_s_k400", "official", "uniform_crop index 1"),
]


@pytest.mark.parametrize("name, protocol_name, centre", CASES)
def test_the_centre_view_is_the_view_eval_builds_from_the_same_frames(
        video: Path, name: str, protocol_name: str, centre: str) -> None:
    protocol = actionzoo.get_model_spec(name).protocol(protocol_name)
    if isinstance(protocol.pipeline, MMAction2Pipeline):
        protocol = protocol.scaled(64)  # any size: keep the test small
    views = build_views(video, protocol)
    indices = view_frame_indices(video, protocol)
    assert len(indices) == len(views) == protocol.num_views
    source = open_source(video)
    if centre == "uniform_crop index 1":  # PySlowFast: view v = temporal * 3 + spatial
        chosen = [v for v in range(len(views)) if v % 3 == 1]
    elif centre.startswith("the last of three"):  # mmaction2: crop-major, ThreeCrop's order
        per_crop = len(views) // 3
        chosen = list(range(2 * per_crop, 3 * per_crop))
    else:
        chosen = list(range(len(views)))
    for v in chosen:
        frames = source.read([int(i) for i in indices[v]])
        view = window_view(frames, protocol)
        assert view.dtype == torch.float32 and view.shape == views[v].shape
        torch.testing.assert_close(view, views[v], rtol=0, atol=0)


def test_every_recognizer_protocol_has_a_family_and_the_detector_none() -> None:
    for name in actionzoo.list_models():
        spec = actionzoo.get_model_spec(name)
        for protocol in spec.protocols.values():
            if spec.task == "recognition":
                assert type(protocol.pipeline) in VIEW_FAMILIES
                assert view_family(protocol.pipeline).needs_timestamps == (
                    not isinstance(protocol.pipeline, MMAction2Pipeline))
            else:
                with pytest.raises(UsageError, match="not a recognition pipeline"):
                    view_family(protocol.pipeline)


def test_centre_view_refuses_frames_that_are_not_one_view() -> None:
    protocol = actionzoo.get_model_spec("x3d_s_k400").protocol("official")
    with pytest.raises(ValueError, match="13 frames, not 12"):
        centre_view(np.zeros((12, 64, 86, 3), np.uint8), protocol)
    with pytest.raises(ValueError, match="uint8 RGB frames"):
        centre_view(np.zeros((13, 64, 86, 3), np.float32), protocol)
