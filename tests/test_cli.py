"""Command-line behaviour that is not covered beside its API: ava-map, option errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from actionzoo.cli import main


def test_ava_map_over_official_csv_files(tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp / "gt.csv").write_text(
        "vidA,0902,0.1,0.1,0.5,0.5,12,1\nvidA,0902,0.6,0.6,0.9,0.9,80,2\nvidA,0903,0.1,0.1,0.5,0.5,12,1\n"
    )
    # class 12: the higher-scored detection misses, the lower one hits: AP = 0.5 * 0.5
    (tmp / "det.csv").write_text(
        "vidA,0902,0.1,0.1,0.5,0.5,12,0.9\nvidA,0902,0.6,0.6,0.9,0.9,80,0.8\n"
        "vidA,0903,0.6,0.6,0.9,0.9,12,0.95\n"
    )
    (tmp / "map.pbtxt").write_text(
        'item {\n  name: "stand"\n  id: 12\n}\nitem {\n  name: "watch (a person)"\n  id: 80\n}\n'
    )
    args = ["ava-map", "--groundtruth", str(tmp / "gt.csv"), "--detections", str(tmp / "det.csv"),
            "--labelmap", str(tmp / "map.pbtxt"), "--per-class", "--json", str(tmp / "r.json")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "frame-mAP@0.5IoU (official): 62.50" in out
    assert "12   25.00  stand" in out and "80  100.00  watch (a person)" in out
    assert (tmp / "r.json").exists()


def test_malformed_ava_csv_is_one_line_naming_file_and_line(tmp: Path, capsys) -> None:
    (tmp / "gt.csv").write_text("vidA,0902,0.1,0.1,0.5,0.5,12,1\nvidA,09x2,0.1,0.1,0.5\n")
    (tmp / "map.pbtxt").write_text('item {\n  name: "stand"\n  id: 12\n}\n')
    assert main(["ava-map", "--groundtruth", str(tmp / "gt.csv"), "--detections",
                 str(tmp / "gt.csv"), "--labelmap", str(tmp / "map.pbtxt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"actionzoo: error: {tmp / 'gt.csv'}: line 2")
    assert "\n" not in err


def test_wrong_options_exit_with_a_message(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["eval", "x3d_s_k400", "--ann", "a.txt", "--data-root", ".", "--results", "r.db",
              "--batch-size", "0"])
    assert info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err
    assert main(["export", "no_such_model", "-o", "m.onnx"]) == 2
    assert "unknown model 'no_such_model'" in capsys.readouterr().err
    assert main(["export", "x3d_s_k400", "-o", "m.txt", "--no-verify"]) == 2
    assert "must end in .onnx" in capsys.readouterr().err


@pytest.mark.slow
def test_ava_export_eval_and_detect_through_the_cli(tmp: Path, capsys) -> None:
    from helpers import VIDEO_A, make_layout, write_boxes

    from actionzoo.data.synthetic import write_synthetic_videos

    # The plumbing at a 64-pixel short side (test_export_engines exports the detector full size).
    paths = make_layout(tmp, {VIDEO_A: (64, 96)})  # full frames become 64 x 96 clips
    boxes = write_boxes(tmp / "boxes.csv", [f"{VIDEO_A},0902,0.1,0.1,0.6,0.9,,0.95",
                                            f"{VIDEO_A},0903,0.2,0.1,0.7,0.9,,0.90"])
    gt = write_boxes(tmp / "gt.csv", [f"{VIDEO_A},0902,0.1,0.1,0.6,0.9,12,0"])
    labelmap = tmp / "map.pbtxt"
    labelmap.write_text('item {\n  name: "stand"\n  id: 12\n}\n')

    onnx_path = tmp / "ava.onnx"
    assert main(["export", "slowfast_r50_ava", "-o", str(onnx_path), "--num-random", "1",
                 "--input-size", "64"]) == 0
    assert "PASS  onnxruntime" in capsys.readouterr().out  # on 32x64x64 and 32x48x80 clips
    args = ["eval", "slowfast_r50_ava", "--engine", "onnxruntime", "--model-file", str(onnx_path),
            "--frames-dir", str(paths["frames"]), "--frame-list", str(paths["frame_list"]),
            "--boxes", str(boxes), "--gt", str(gt), "--labelmap", str(labelmap),
            "--results", str(tmp / "ava.db"), "--workers", "0", "--no-progress", "--input-size", "64"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "onnxruntime" in out and "mAP" in out
    rows = (tmp / "ava.detections.csv").read_text().splitlines()
    assert len(rows) == 2 * 80 and rows[0].startswith(f"{VIDEO_A},0902,")
    # the AVA options are required for the detector, and named when missing
    assert main(["eval", "slowfast_r50_ava", "--results", str(tmp / "x.db")]) == 2
    assert "needs --frames-dir, --frame-list, --boxes, --gt, --labelmap" in capsys.readouterr().err

    data = write_synthetic_videos(tmp / "videos", num_classes=1, videos_per_class=1, num_frames=90)
    video = next((data.root / "videos").rglob("*.mp4"))
    proposals = write_boxes(tmp / "proposals.csv", [f"{video.stem},0001,0.1,0.1,0.5,0.9,,0.9"])
    assert main(["detect", str(video), "--proposals", str(proposals), "--out", str(tmp / "drawn"),
                 "--labelmap", str(labelmap), "--threshold", "0.0"]) == 0
    assert (tmp / "drawn" / f"{video.stem}_0001.jpg").exists()
    assert (tmp / "drawn" / "detections.csv").exists()
