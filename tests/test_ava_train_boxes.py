"""AVA training keyframes: boxes merged as PySlowFast's ``ava_helper`` merges them."""

from __future__ import annotations

from pathlib import Path

from actionzoo.training.data import AvaTrainPipeline, load_ava_train_set
from helpers import write_boxes


def _frame_list(path: Path, video: str, frames: int) -> Path:
    rows = ["original_vido_id video_id frame_id path labels"]
    rows += [f'{video} 0 {i} {video}/{video}_{i + 1:06d}.jpg ""' for i in range(frames)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_rows_share_a_box_only_when_their_coordinate_text_is_the_same(tmp_path):
    frame_list = _frame_list(tmp_path / "train.csv", "vid", 60)
    gt = write_boxes(tmp_path / "gt.csv", [
        "vid,0902,0.1,0.1,0.5,0.9,12,0",
        "vid,0902,0.1,0.1,0.5,0.9,80,0",     # same text: one box, two labels
        "vid,0902,0.100,0.1,0.5,0.9,14,1",   # same numbers, other text: a box of its own
        "vid,0903,0.2,0.2,0.6,0.9,12,0",
    ])
    detector = write_boxes(tmp_path / "boxes.csv", [
        "vid,0902,0.1,0.1,0.5,0.9,17,0.95",  # joins the first GT box
        "vid,0902,0.3,0.1,0.7,0.9,-1,0.90",  # a negative box
        "vid,0903,0.2,0.2,0.6,0.9,,0.5",     # under the 0.8 threshold: not loaded
    ])
    train_set = load_ava_train_set(tmp_path / "frames", frame_list, gt, detector, AvaTrainPipeline(),
                                   num_classes=80, seed=0)
    first, second = train_set.keyframes
    assert (first.video_id, first.second, second.second) == ("vid", 902, 903)
    assert first.boxes.tolist() == [[0.1, 0.1, 0.5, 0.9], [0.1, 0.1, 0.5, 0.9], [0.3, 0.1, 0.7, 0.9]]
    assert first.labels == ((12, 80, 17), (14,), ())
    assert second.boxes.tolist() == [[0.2, 0.2, 0.6, 0.9]] and second.labels == ((12,),)
