"""AVA test-mode samples on a small synthetic AVA layout: order, merging, indices, pixels, boxes."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import NUM_FRAMES, VIDEO_A, VIDEO_B, make_layout, write_boxes

from actionzoo.ava.dataset import (
    AvaFrameSource,
    clip_frame_indices,
    keyframe_center,
    keyframe_clip,
    load_keyframe,
    load_test_set,
    read_keyframe_boxes,
    scaled_size,
)
from actionzoo.errors import AnnotationError, DataError

# A box file in PySlowFast's detector format. Video B comes first in the file; the frame list
# puts A first, and that order wins.
BOX_ROWS = [
    f"{VIDEO_B},0903,0.100,0.200,0.600,0.900,,0.95",
    f"{VIDEO_A},0903,0.100,0.200,0.900,1.000,,0.99",
    f"{VIDEO_A},0902,0.500,0.100,0.700,0.800,12,0.90",
    f"{VIDEO_A},0902,0.500,0.100,0.700,0.800,80,0.90",  # same text: merged into one box
    f"{VIDEO_A},0902,0.5,0.1,0.7,0.8,,0.90",  # same numbers, other text: a second box
    f"{VIDEO_A},0902,0.000,0.000,1.200,0.500,-1,0.80",  # exactly 0.8 is kept; x2 > 1 clipped
    f"{VIDEO_A},0904,0.200,0.200,0.400,0.400,,0.79",  # below 0.8: dropped, 0904 has no box
    "",
    f"{VIDEO_B},0902,0.250,0.250,0.750,0.750,,0.81",
    f"{VIDEO_A},0850,0.2,0.2,0.4,0.4,,0.10",  # outside 902..1798 but below threshold: ignored
]


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ava")
    paths = make_layout(root)
    paths["boxes"] = write_boxes(root / "boxes.csv", BOX_ROWS)
    return paths


# ------------------------------------------------------------------------- PySlowFast, written out


def _ref_clip_boxes(boxes, height, width):
    boxes[:, [0, 2]] = np.minimum(width - 1.0, np.maximum(0.0, boxes[:, [0, 2]]))
    boxes[:, [1, 3]] = np.minimum(height - 1.0, np.maximum(0.0, boxes[:, [1, 3]]))
    return boxes


def _ref_scale(size, image):
    height, width = image.shape[0], image.shape[1]
    if (width <= height and width == size) or (height <= width and height == size):
        return image
    new_width = new_height = size
    if width < height:
        new_height = int(math.floor((float(height) / width) * size))
    else:
        new_width = int(math.floor((float(width) / height) * size))
    img = cv2.resize(image, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    return img.astype(np.float32)


def _ref_scale_boxes(size, boxes, height, width):
    if (width <= height and width == size) or (height <= width and height == size):
        return boxes
    if width < height:
        boxes *= float(int(math.floor((float(height) / width) * size))) / height
    else:
        boxes *= float(int(math.floor((float(width) / height) * size))) / width
    return boxes


def _ref_read_and_scale(paths: list[Path], ori_boxes: np.ndarray, crop_size: int):
    """Both modes' start: decode (BGR), boxes to pixels and clipped, short side -> crop size."""
    imgs = [cv2.imdecode(np.frombuffer(p.read_bytes(), np.uint8), cv2.IMREAD_COLOR) for p in paths]
    boxes = np.array(ori_boxes, dtype=np.float64)
    height, width, _ = imgs[0].shape
    boxes[:, [0, 2]] *= width
    boxes[:, [1, 3]] *= height
    boxes = _ref_clip_boxes(boxes, height, width)
    imgs = [_ref_scale(crop_size, img) for img in imgs]
    return imgs, _ref_scale_boxes(crop_size, boxes, height, width)


def _ref_normalized(imgs: list[np.ndarray], boxes: np.ndarray):
    """Both modes' end: CHW, /255, (x - mean) / std, stacked over time, BGR -> RGB, boxes clipped."""
    imgs = [img.transpose([2, 0, 1]) for img in imgs]
    imgs = [img / 255.0 for img in imgs]
    imgs = [np.ascontiguousarray(img.reshape((3, img.shape[1], img.shape[2]))).astype(np.float32)
            for img in imgs]
    mean = np.array([0.45] * 3, dtype=np.float32)
    std = np.array([0.225] * 3, dtype=np.float32)
    for img in imgs:
        for idx in range(3):
            img[idx] = img[idx] - mean[idx]
            img[idx] = img[idx] / std[idx]
    imgs = np.concatenate([np.expand_dims(img, axis=1) for img in imgs], axis=1)
    imgs = np.ascontiguousarray(imgs[::-1, ...])  # AVA.BGR False: BGR -> RGB
    boxes = _ref_clip_boxes(boxes, imgs.shape[2], imgs.shape[3])
    return imgs, boxes.astype(np.float32)


def pyslowfast_test_clip(paths: list[Path], ori_boxes: np.ndarray, crop_size: int = 224):
    """``AvaDataset._images_and_boxes_preprocessing_cv2`` in test mode, step by step (BGR)."""
    return _ref_normalized(*_ref_read_and_scale(paths, ori_boxes, crop_size))


# ------------------------------------------------------------------------------------- tests


def test_frame_indices_and_clamping() -> None:
    assert keyframe_center(902) == 60 and keyframe_center(1798) == 26940
    assert clip_frame_indices(60, 150).tolist() == list(range(28, 92, 2))
    # 904 -> centre 120: range(88, 152, 2) runs past the last frame 149, which repeats.
    assert clip_frame_indices(120, 150).tolist() == list(range(88, 150, 2)) + [149]
    assert clip_frame_indices(0, 150).tolist() == [0] * 16 + list(range(0, 32, 2))[:16]
    # range(-29, 35, 2): 15 negatives -> 0, then 1, 3, then 15 past the end -> 4.
    assert clip_frame_indices(3, 5).tolist() == [0] * 15 + [1, 3] + [4] * 15
    assert len(clip_frame_indices(10, 1000, num_frames=8, sampling_rate=8)) == 8


def test_scaled_size_uses_the_reference_rounding() -> None:
    assert scaled_size(720, 1280, 224) == (224, 398)  # floor(398.2)
    assert scaled_size(1280, 720, 224) == (398, 224)
    assert scaled_size(480, 640, 224) == (224, 298)  # floor(298.67)
    assert scaled_size(64, 96, 224) == (224, 336)
    assert scaled_size(224, 300, 224) == (224, 300)  # short side already 224: untouched
    assert scaled_size(100, 100, 224) == (224, 224)


def test_keyframes_follow_pyslowfast_order_merging_and_threshold(layout) -> None:
    test_set = load_test_set(layout["frames"], layout["frame_list"], layout["boxes"])
    keys = [(k.video_id, k.video_index, k.second) for k in test_set.keyframes]
    assert keys == [(VIDEO_A, 0, 902), (VIDEO_A, 0, 903), (VIDEO_B, 1, 902), (VIDEO_B, 1, 903)]
    a902 = test_set.keyframes[0].boxes
    # The two rows with text "0.500,0.100,0.700,0.800" are one box; "0.5,0.1,0.7,0.8" is another.
    np.testing.assert_array_equal(a902, [[0.5, 0.1, 0.7, 0.8], [0.5, 0.1, 0.7, 0.8],
                                         [0.0, 0.0, 1.2, 0.5]])
    assert test_set.keyframes[0].key == f"{VIDEO_A},0902"
    assert test_set.num_frames(VIDEO_B) == NUM_FRAMES
    # A lower threshold brings 0904 back.
    lower = load_test_set(layout["frames"], layout["frame_list"], layout["boxes"], min_score=0.5)
    assert [k.second for k in lower.keyframes if k.video_id == VIDEO_A] == [902, 903, 904]


def test_proposal_pickle_gives_the_same_samples(layout, tmp_path: Path) -> None:
    proposals = {
        f"{VIDEO_A},0902": np.array([[0.5, 0.1, 0.7, 0.8, 0.9], [0.5, 0.1, 0.7, 0.8, 0.9],
                                     [0.0, 0.0, 1.2, 0.5, 0.8], [0.3, 0.3, 0.4, 0.4, 0.5]]),
        f"{VIDEO_B},903": np.array([[0.1, 0.2, 0.6, 0.9, 0.95]]),
        f"{VIDEO_A},0905": np.array([[0.1, 0.2, 0.6, 0.9, 0.2]]),  # nothing >= 0.8: no keyframe
    }
    path = tmp_path / "proposals.pkl"
    path.write_bytes(pickle.dumps(proposals))
    test_set = load_test_set(layout["frames"], layout["frame_list"], path)
    assert [k.key for k in test_set.keyframes] == [f"{VIDEO_A},0902", f"{VIDEO_B},0903"]
    # Identical coordinate rows merge (the pickle has no text); the low-score one is gone.
    np.testing.assert_array_equal(test_set.keyframes[0].boxes, [[0.5, 0.1, 0.7, 0.8],
                                                                [0.0, 0.0, 1.2, 0.5]])
    path.write_bytes(pickle.dumps({f"{VIDEO_A},1799": np.array([[0.1, 0.1, 0.2, 0.2, 0.9]])}))
    with pytest.raises(AnnotationError, match=r"proposals\.pkl: key .*1799.* outside"):
        load_test_set(layout["frames"], layout["frame_list"], path)


def test_clip_equals_pyslowfast_test_preprocessing(layout) -> None:
    test_set = load_test_set(layout["frames"], layout["frame_list"], layout["boxes"])
    for position, shape in ((0, (3, 32, 224, 336)), (3, (3, 32, 336, 224))):
        keyframe = test_set.keyframes[position]
        x, boxes, ori = load_keyframe(test_set, position)
        assert x.shape == shape and x.dtype == np.float32
        assert boxes.shape == (len(keyframe.boxes), 4) and boxes.dtype == np.float32
        np.testing.assert_array_equal(ori, keyframe.boxes)  # untouched, normalised
        frames = test_set.frame_list.frames[keyframe.video_id]
        paths = [layout["frames"] / frames[i] for i in test_set.frame_indices(keyframe)]
        want_x, want_boxes = pyslowfast_test_clip(paths, keyframe.boxes)
        np.testing.assert_array_equal(x, want_x)
        np.testing.assert_array_equal(boxes, want_boxes)


def test_clip_time_axis_holds_the_sampled_frames(layout) -> None:
    test_set = load_test_set(layout["frames"], layout["frame_list"], layout["boxes"], min_score=0.5)
    keyframe = next(k for k in test_set.keyframes if k.key == f"{VIDEO_A},0904")
    x, _, _ = load_keyframe(test_set, keyframe)
    # The top-left block is flat at 40 + frame index; undo the normalisation at pixel (0, 0).
    values = np.rint((x[0, :, 0, 0] * np.float32(0.225) + np.float32(0.45)) * 255).astype(int)
    assert (values - 40).tolist() == list(range(88, 150, 2)) + [149]
    assert x.shape[1] // 2 == 16 and values[16] - 40 == 120  # element 16 is the keyframe


def test_boxes_scale_on_a_non_square_frame() -> None:
    frames = np.zeros((32, 64, 96, 3), dtype=np.uint8)  # H 64, W 96 -> 224 x 336, factor 3.5
    ori = np.array([[0.1, 0.2, 0.9, 1.0], [-0.1, 0.5, 1.2, 0.75]])
    x, boxes = keyframe_clip(frames, ori)
    assert x.shape == (3, 32, 224, 336)
    # x: * 96, clip to [0, 95], * 3.5; y: * 64, clip to [0, 63], * 3.5.
    want = np.array([[9.6 * 3.5, 12.8 * 3.5, 86.4 * 3.5, 63 * 3.5],
                     [0.0, 32 * 3.5, 95 * 3.5, 48 * 3.5]])
    np.testing.assert_allclose(boxes, want, rtol=1e-6)
    # Portrait 96 x 64 -> 336 x 224: the factor is new_long / old_long = 336 / 96.
    _, boxes = keyframe_clip(np.zeros((2, 96, 64, 3), np.uint8), np.array([[0.5, 0.5, 1.0, 1.0]]))
    np.testing.assert_allclose(boxes, [[32 * 3.5, 48 * 3.5, 63 * 3.5, 95 * 3.5]], rtol=1e-6)
    # 720 x 1280 -> 224 x 398: the box factor is 398 / 1280, not 224 / 720; clipped to 397 / 223.
    _, boxes = keyframe_clip(np.zeros((1, 720, 1280, 3), np.uint8), np.array([[0.5, 0.5, 1.0, 1.0]]))
    f = 398 / 1280
    # (1279 * f = 397.7 and 719 * f = 223.6 are clipped to the output image.)
    np.testing.assert_allclose(boxes, [[640 * f, 360 * f, 397, 223]], rtol=1e-6)


def test_frame_source_decodes_shared_frames_once(layout) -> None:
    test_set = load_test_set(layout["frames"], layout["frame_list"], layout["boxes"])
    source = test_set.source(VIDEO_A)
    load_keyframe(test_set, 0, source=source)  # frames 28..90
    assert source.decoded == 32
    load_keyframe(test_set, 1, source=source)  # frames 58..120: 17 shared
    assert source.decoded == 32 + 15


def test_missing_and_corrupt_frames_are_named(tmp_path: Path) -> None:
    paths = make_layout(tmp_path, {VIDEO_A: (64, 96)})
    boxes = write_boxes(tmp_path / "b.csv", [f"{VIDEO_A},0902,0.1,0.1,0.5,0.5,,0.9"])
    test_set = load_test_set(paths["frames"], paths["frame_list"], boxes)
    missing = paths["frames"] / VIDEO_A / f"{VIDEO_A}_000041.jpg"  # index 40, in 28..90
    missing.unlink()
    with pytest.raises(DataError, match=f"{VIDEO_A}_000041.jpg: frame 40 .* is missing"):
        load_keyframe(test_set, 0)
    missing.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all" * 4)
    with pytest.raises(DataError, match=f"{VIDEO_A}_000041.jpg: cannot decode image"):
        load_keyframe(test_set, 0)
    with pytest.raises(DataError, match="out of range"):
        AvaFrameSource(paths["frames"], test_set.frame_list.frames[VIDEO_A]).read([150])


def test_box_rows_outside_the_keyframe_seconds_name_the_line(layout, tmp_path: Path) -> None:
    rows = [f"{VIDEO_A},0902,0.1,0.1,0.5,0.5,,0.9", "", f"{VIDEO_A},0901,0.1,0.1,0.5,0.5,,0.9"]
    path = write_boxes(tmp_path / "bad_second.csv", rows)
    with pytest.raises(AnnotationError, match=r"bad_second\.csv: line 3: second 901 .* 902\.\.1798"):
        load_test_set(layout["frames"], layout["frame_list"], path)
    assert list(read_keyframe_boxes(path, seconds=None)[VIDEO_A]) == [902, 901]


def test_malformed_box_rows_name_the_file_and_line(layout, tmp_path: Path) -> None:
    path = write_boxes(tmp_path / "short.csv", [f"{VIDEO_A},0902,0.1,0.1,0.5,0.5,,0.9",
                                                f"{VIDEO_A},0903,0.1,0.1,0.5,0.5,0.9"])
    with pytest.raises(AnnotationError, match=r"short\.csv: line 2: expected 8"):
        load_test_set(layout["frames"], layout["frame_list"], path)
    path = write_boxes(tmp_path / "nan.csv", [f"{VIDEO_A},0902,0.1,abc,0.5,0.5,,0.9"])
    with pytest.raises(AnnotationError, match=r"nan\.csv: line 1: y1 'abc'"):
        load_test_set(layout["frames"], layout["frame_list"], path)


def test_box_videos_missing_from_the_frame_list_are_named(layout, tmp_path: Path) -> None:
    path = write_boxes(tmp_path / "other.csv", [f"{VIDEO_A},0902,0.1,0.1,0.5,0.5,,0.9",
                                                "someOtherVideo,0902,0.1,0.1,0.5,0.5,,0.9"])
    with pytest.raises(AnnotationError, match=r"other\.csv: 1 video\(s\) with boxes are not in the "
                                              r"frame list .*val\.csv: someOtherVideo"):
        load_test_set(layout["frames"], layout["frame_list"], path)
    # A frame-list video without boxes just has no keyframes.
    only_a = write_boxes(tmp_path / "only_a.csv", [f"{VIDEO_A},0902,0.1,0.1,0.5,0.5,,0.9"])
    test_set = load_test_set(layout["frames"], layout["frame_list"], only_a)
    assert len(test_set) == 1 and test_set.videos_without_boxes == [VIDEO_B]


# ---------------------------------------------------------------- mini-val (training's validation)


def pyslowfast_val_clip(paths: list[Path], ori_boxes: np.ndarray, crop_size: int = 224):
    """The reference's ``val`` split, step by step: short side -> crop size, then the centre crop
    (``spatial_shift_crop_list(size, imgs, 1, boxes)``: offsets ``ceil((H - size) / 2)``,
    ``ceil((W - size) / 2)``, boxes shifted), then as in test mode."""
    imgs, boxes = _ref_read_and_scale(paths, ori_boxes, crop_size)
    h, w = imgs[0].shape[:2]
    y_offset = int(math.ceil((h - crop_size) / 2))
    x_offset = int(math.ceil((w - crop_size) / 2))
    imgs = [img[y_offset:y_offset + crop_size, x_offset:x_offset + crop_size] for img in imgs]
    boxes[:, [0, 2]] -= x_offset
    boxes[:, [1, 3]] -= y_offset
    return _ref_normalized(imgs, boxes)


MINI_ROWS = [f"{v},{t:04d},{x:.3f},0.100,{x + 0.5:.3f},0.900,,0.95"
             for v in (VIDEO_A, VIDEO_B) for t in (902, 903, 904, 905, 908) for x in (0.05, 0.4)]


def test_mini_val_keeps_only_keyframes_at_seconds_divisible_by_4(layout, tmp_path: Path) -> None:
    from actionzoo.zoo.protocol_catalog import AVA_MINI_VAL, AVA_OFFICIAL

    boxes = write_boxes(tmp_path / "boxes.csv", MINI_ROWS)
    mini = load_test_set(layout["frames"], layout["frame_list"], boxes, pipeline=AVA_MINI_VAL.pipeline)
    full = load_test_set(layout["frames"], layout["frame_list"], boxes, pipeline=AVA_OFFICIAL.pipeline)
    assert [k.key for k in mini.keyframes] == [f"{VIDEO_A},0904", f"{VIDEO_A},0908",
                                               f"{VIDEO_B},0904", f"{VIDEO_B},0908"]
    assert len(full.keyframes) == 10  # eval's protocol: every keyframe


def test_mini_val_inputs_are_centre_crops_as_the_reference_val_mode(layout, tmp_path: Path) -> None:
    from actionzoo.zoo.protocol_catalog import AVA_MINI_VAL

    boxes = write_boxes(tmp_path / "boxes.csv", MINI_ROWS)
    mini = load_test_set(layout["frames"], layout["frame_list"], boxes, pipeline=AVA_MINI_VAL.pipeline)
    for position in (0, 2):  # landscape (64 x 96) and portrait (96 x 64) frames
        keyframe = mini.keyframes[position]
        x, got_boxes, _ = load_keyframe(mini, position)
        assert x.shape == (3, 32, 224, 224)
        frames = mini.frame_list.frames[keyframe.video_id]
        paths = [layout["frames"] / frames[i] for i in mini.frame_indices(keyframe)]
        want_x, want_boxes = pyslowfast_val_clip(paths, keyframe.boxes)
        np.testing.assert_array_equal(x, want_x)
        np.testing.assert_array_equal(got_boxes, want_boxes)
        # ...and the crop is not the full frame eval scores
        full, _ = keyframe_clip(np.stack([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
                                          for p in paths]), keyframe.boxes)
        assert full.shape[2:] != (224, 224)
