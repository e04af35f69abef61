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


def test_a_validation_set_without_mini_val_keyframes_is_refused_before_any_step(tmp_path):
    from helpers import run_cli

    frame_list = _frame_list(tmp_path / "train.csv", "vid", 60)
    gt = write_boxes(tmp_path / "gt.csv", ["vid,0902,0.1,0.1,0.5,0.9,12,0"])
    val_boxes = write_boxes(tmp_path / "val.csv", ["vid,0902,0.1,0.1,0.5,0.9,,0.9",
                                                   "vid,0903,0.1,0.1,0.5,0.9,,0.9"])
    labelmap = tmp_path / "labelmap.pbtxt"
    labelmap.write_text('item {\n  name: "stand"\n  id: 12\n}\n')
    done = run_cli(["train", "slowfast_r50_ava", "--frames-dir", str(tmp_path / "frames"),
                    "--frame-list", str(frame_list), "--gt", str(gt), "--init", "none",
                    "--val-frame-list", str(frame_list), "--val-boxes", str(val_boxes),
                    "--val-gt", str(gt), "--labelmap", str(labelmap), "--work-dir",
                    str(tmp_path / "w"), "--no-progress"])
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (f"actionzoo: error: {val_boxes}: no validation keyframes at "
                                   "seconds % 4 == 0 (the mini-val; --full-val validates on every "
                                   "keyframe)")
    assert not (tmp_path / "w").exists()
