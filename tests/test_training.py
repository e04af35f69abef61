"""Training for real on synthetic videos: it learns, it resumes after kill -9 to the same weights,
the AVA detector's loss falls, distributed eval equals one process. Every run is a fresh
interpreter (``python -m actionzoo`` / torchrun), as a user runs it. That two torchrun processes
train as one is checked in float64, to every bit that matters, in tests/test_training_sync.py.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import CORES, VIDEO_A, VIDEO_B, finish_cli, make_layout, run_cli, start_cli, write_boxes

import actionzoo
from actionzoo.checkpoint import CheckpointFormat, read_checkpoint

MODEL = "slowfast_r50_8x8x1_k400"  # adaptive pooling: trains at 32 x 32 here
SMALL = ["--input-size", "32", "--no-progress"]
_run = run_cli


def _log(work: Path, kind: str) -> list[dict]:
    rows = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines() if line]
    return [r for r in rows if r["kind"] == kind]


@pytest.fixture(scope="module")
def videos(train_videos: Path) -> Path:
    return train_videos


def _data(videos: Path, ann: str = "train.txt") -> list[str]:
    return ["--ann", str(videos / ann), "--data-root", str(videos), "--num-classes", "4",
            "--class-names", str(videos / "classes.txt")]


@pytest.mark.slow
def test_training_learns_the_classes_and_writes_reference_checkpoints(trained_slowfast) -> None:
    work, done = trained_slowfast  # the demo's training run (conftest.demo_run)
    assert "batch        8 clips per step = 1 process(es) x 8" in done.stdout
    assert "schedule scaled to 4 of the recipe's 256 epochs: warm-up 34 -> 0.531 epochs" in done.stdout
    # precise BN on validation (2, 4) and checkpoint (4) epochs only, as PySlowFast runs it
    assert done.stdout.count("precise BN: statistics recomputed") == 2
    val = _log(work, "val")
    assert [v["epoch"] for v in val] == [2, 4]
    assert val[-1]["value"] >= 0.75, val  # held-out videos, 4 classes: chance is 0.25
    train = _log(work, "train")
    assert len(train) == 4 * 4 and {"loss", "lr", "clips_per_s", "data_s", "compute_s", "eta_s"} <= set(train[0])
    for name in ("last.pth", "best.pth", "epoch_4.pth", "config.json", "curves.png"):
        assert (work / name).is_file(), name
    ckpt = read_checkpoint(work / "last.pth")
    assert ckpt.format is CheckpointFormat.MMACTION2 and ckpt.extras["meta"]["epoch"] == 4
    assert ckpt.extras["meta"]["actionzoo"]["class_names"][0].startswith("moving_")
    model = actionzoo.build_model(MODEL, work / "last.pth")  # strict, 4 classes from the file
    assert model.cls_head.fc_cls.weight.shape == (4, 2304)
    assert actionzoo.inspect_checkpoint(work / "best.pth").matching == [MODEL]
    assert json.loads((work / "config.json").read_text())["plan"]["batch_size"] == 8


def _state(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path).state_dict


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_ends_with_the_same_weights(videos: Path, tmp: Path) -> None:
    args = ["train", MODEL, *_data(videos, "small.txt"), "--epochs", "3", "--batch-size", "4",
            "--deterministic", "--workers", "0", *SMALL]
    # every run on one core (the same thread count: the same arithmetic, to the bit); the
    # uninterrupted one beside the killed one
    full = start_cli([*args, "--work-dir", str(tmp / "full")])

    work = tmp / "killed"
    proc = start_cli([*args, "--work-dir", str(work)], to_kill=True)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        log = work / "log.jsonl"
        if log.exists() and any(json.loads(line).get("iter", 0) >= 3
                                for line in log.read_text().splitlines() if line.strip()):
            break  # iteration 3 is the first step of epoch 2 (2 steps per epoch)
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (work / "last.pth").exists() and not (work / "epoch_3.pth").exists()
    assert read_checkpoint(work / "last.pth").extras["meta"]["epoch"] < 3  # killed part-way

    again = _run([*args, "--work-dir", str(work)])
    assert again.returncode == 2 and "pass --resume" in again.stderr  # never overwrites a run
    resumed = _run([*args, "--work-dir", str(work), "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stdout
    full = finish_cli(full)
    assert full.returncode == 0, full.stderr[-3000:]
    a, b = _state(tmp / "full" / "last.pth"), _state(work / "last.pth")
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.slow
def test_the_ava_detector_trains_and_its_loss_falls(tmp: Path) -> None:
    paths = make_layout(tmp, {VIDEO_A: (64, 96), VIDEO_B: (96, 64)})
    gt = write_boxes(tmp / "gt.csv", [
        f"{v},{t:04d},{x},0.1,{x + 0.3:.1f},0.9,{action},{person}"
        for v in (VIDEO_A, VIDEO_B) for t in (902, 903, 904)
        for person, (x, action) in enumerate([(0.1, 12), (0.5, 80)])])
    boxes = write_boxes(tmp / "boxes.csv", [f"{VIDEO_A},0903,0.2,0.2,0.6,0.8,,0.95",
                                            f"{VIDEO_B},0902,0.3,0.1,0.7,0.9,-1,0.85",
                                            f"{VIDEO_B},0904,0.3,0.1,0.7,0.9,,0.5"])
    # validation boxes on every keyframe; the mini-val scores those at seconds % 4 == 0 (904)
    val_boxes = write_boxes(tmp / "val_boxes.csv", [f"{v},{t:04d},0.2,0.1,0.6,0.9,,0.9"
                                                    for v in (VIDEO_A, VIDEO_B) for t in (902, 903, 904)])
    labelmap = tmp / "labelmap.pbtxt"
    labelmap.write_text('item {\n  name: "stand"\n  id: 12\n}\nitem {\n  name: "watch"\n  id: 80\n}\n')
    work = tmp / "ava"
    # validation (after the last epoch: the recipe validates every 5) on the training videos,
    # through the evaluator `eval` uses, as PySlowFast's in-training val mode
    done = _run(["train", "slowfast_r50_ava", "--frames-dir", str(paths["frames"]), "--frame-list",
                 str(paths["frame_list"]), "--gt", str(gt), "--boxes", str(boxes), "--work-dir",
                 str(work), "--epochs", "4", "--batch-size", "2", "--lr", "0.02", "--workers", "0",
                 "--input-size", "64", "--no-progress", "--init", "none",
                 "--val-frame-list", str(paths["frame_list"]), "--val-boxes", str(val_boxes),
                 "--val-gt", str(gt), "--labelmap", str(labelmap)], threads=CORES)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "6 training samples" in done.stdout
    assert "init         FROM SCRATCH (--init none); the reference starts from the PySlowFast " \
        "Kinetics-400 SlowFast, SLOWFAST_8x8_R50.pkl" in done.stdout
    losses = [r["loss"] for r in _log(work, "train")]
    assert len(losses) == 12 and np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3]), losses
    ckpt = read_checkpoint(work / "last.pyth")
    assert ckpt.format is CheckpointFormat.PYSLOWFAST and ckpt.extras["epoch"] == 3
    assert ckpt.extras["actionzoo"]["plan"]["init"].startswith("FROM SCRATCH (--init none)")
    actionzoo.build_model("slowfast_r50_ava", work / "last.pyth")
    val = _log(work, "val")
    assert [(v["epoch"], v["metric"], v["keyframes"]) for v in val] == [(4, "mAP", 2)], val
    assert 0 <= val[0]["value"] <= 1 and (work / "best.pyth").is_file()
    assert val[0]["protocol"].startswith("mini-val (sec % 4 == 0, centre crop): ")
    assert "epoch 4: validation mAP" in done.stdout and "(mini-val (sec % 4 == 0, centre crop)" in done.stdout
    rows = (work / "val" / "detections_epoch_4.csv").read_text().splitlines()
    assert len(rows) == 2 * 80  # the 0904 keyframe of each video, one box, every class
    assert {r.split(",")[1] for r in rows} == {"0904"}
    assert ckpt.extras["actionzoo"]["history"][-1]["metric"] == "mAP"


def _rows(db: Path) -> dict[str, tuple[str, bytes | None]]:
    with sqlite3.connect(db) as con:
        return {v: (s, b) for v, s, b in con.execute("SELECT video_id, status, scores FROM videos")}


@pytest.mark.slow
def test_distributed_eval_scores_every_video_once_like_one_process(videos: Path, tmp: Path) -> None:
    from helpers import random_state

    torch.save({"state_dict": random_state(MODEL)}, tmp / "w.pth")
    lines = (videos / "small.txt").read_text().splitlines()[:5] + ["videos/corrupt.mp4 2"]
    (tmp / "eval.txt").write_text("\n".join(lines) + "\n")
    # 64 x 64 centre crops: the sharding and the merge are the point, not the model's input size
    common = ["eval", MODEL, "--checkpoint", str(tmp / "w.pth"), "--protocol", "ascend", "--ann",
              str(tmp / "eval.txt"), "--data-root", str(videos), "--batch-size", "2",
              "--workers", "0", "--no-progress", "--input-size", "64"]
    one = _run([*common, "--results", str(tmp / "one.db"), "--json", str(tmp / "one.json")])
    assert one.returncode == 0, one.stderr[-3000:]
    two = _run([*common, "--results", str(tmp / "two.db"), "--json", str(tmp / "two.json")],
               torchrun=2)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = _rows(tmp / "one.db"), _rows(tmp / "two.db")
    assert a.keys() == b.keys() and len(a) == 6  # 5 scored + 1 failed, none twice
    assert not list(tmp.glob("two.db.rank*"))  # the parts were merged and removed
    for video, (status, blob) in a.items():
        assert b[video][0] == status
        if blob is not None:
            np.testing.assert_allclose(np.frombuffer(b[video][1]), np.frombuffer(blob), rtol=1e-5,
                                       atol=1e-6)
    ra, rb = (json.loads((tmp / f"{n}.json").read_text()) for n in ("one", "two"))
    assert ra["metrics"] == pytest.approx(rb["metrics"]) and rb["videos"] == ra["videos"]
