"""Mid-epoch checkpoints: kill -9 at random points (some inside a checkpoint write), --resume each
time, and the final weights are bit-identical to an uninterrupted run's."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest
import torch
from helpers import finish_cli, run_cli, start_cli

from actionzoo.checkpoint import read_checkpoint
from actionzoo.checkpoint.write import actionzoo_state

MODEL = "slowfast_r50_8x8x1_k400"


def _iterations(work: Path) -> int:
    log = work / "log.jsonl"
    if not log.exists():
        return 0
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return max((r.get("iter", 0) for r in rows if r.get("kind") == "train"), default=0)


@pytest.mark.slow
def test_kill_9_at_random_points_then_resume_gives_bit_identical_weights(train_videos: Path,
                                                                        tmp: Path) -> None:
    args = ["train", MODEL, "--ann", str(train_videos / "small.txt"), "--data-root",
            str(train_videos), "--num-classes", "4", "--epochs", "2", "--batch-size", "2",
            "--dropout", "0.5", "--deterministic", "--workers", "0", "--input-size", "32",
            "--no-progress", "--checkpoint-steps", "1"]  # 8 steps, last.pth after every one
    # every run on one core (the same thread count: the same arithmetic, to the bit); the
    # uninterrupted one beside the killed ones
    full = start_cli([*args, "--work-dir", str(tmp / "full")])
    work, rng, kills = tmp / "killed", random.Random(18), 0
    for attempt in range(6):
        resume = ["--resume"] if (work / "last.pth").exists() else []
        before = _iterations(work)
        proc = start_cli([*args, "--work-dir", str(work), *resume], to_kill=True)
        target = before + rng.randint(1, 2)
        deadline = time.time() + 300
        while proc.poll() is None and _iterations(work) < target and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.4))  # sometimes inside the checkpoint write that follows
        if proc.poll() is not None:
            break  # it finished first
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        if (work / "last.pth").exists():
            ours = actionzoo_state(read_checkpoint(work / "last.pth").extras)  # never a partial file
            assert ours["iteration"] <= _iterations(work)
    assert kills >= 3
    # a torn write left beside last.pth is never read
    (work / "last.pth.partial").write_bytes(b"PK\x03\x04 torn")
    done = run_cli([*args, "--work-dir", str(work), "--resume"])
    assert done.returncode == 0, done.stderr[-3000:]
    full = finish_cli(full)
    assert full.returncode == 0, full.stderr[-3000:]
    assert "iteration 3: wrote" in full.stdout and "last also every 1 steps" in full.stdout
    a, b = read_checkpoint(tmp / "full" / "last.pth"), read_checkpoint(work / "last.pth")
    for key, value in a.state_dict.items():
        assert torch.equal(value, b.state_dict[key]), key
    for key, value in a.extras["optimizer"]["state"].items():
        assert torch.equal(value["momentum_buffer"], b.extras["optimizer"]["state"][key]["momentum_buffer"])
    # every optimizer step exactly once: the LR log of the resumed run is the uninterrupted one's
    lrs = {}
    for line in (work / "log.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("kind") == "train":
            lrs.setdefault(row["iter"], row["lr"])
    full_lrs = {json.loads(x)["iter"]: json.loads(x)["lr"] for x in
                (tmp / "full" / "log.jsonl").read_text().splitlines() if '"train"' in x}
    assert lrs == full_lrs


@pytest.mark.slow
def test_a_mid_epoch_checkpoint_refuses_another_process_count(train_videos: Path, tmp: Path) -> None:
    args = ["train", MODEL, "--ann", str(train_videos / "small.txt"), "--data-root",
            str(train_videos), "--num-classes", "4", "--epochs", "1", "--batch-size", "2",
            "--workers", "0", "--input-size", "32", "--no-progress", "--checkpoint-steps", "2",
            "--work-dir", str(tmp / "w")]
    # --checkpoint-minutes alone: a deadline this short is due after every step
    by_time = [a if a != "--checkpoint-steps" else "--checkpoint-minutes" for a in args]
    by_time[by_time.index("--checkpoint-minutes") + 1] = "0.000001"
    by_time[-1] = str(tmp / "w_minutes")
    started = start_cli(args), start_cli(by_time)  # side by side, one core each
    done, timed = (finish_cli(run) for run in started)
    assert done.returncode == 0, done.stderr[-3000:]
    said = done.stdout + done.stderr
    assert "(epoch 1, step 2/" in said and "(epoch 1, step 1/" not in said  # every 2 steps
    assert timed.returncode == 0, timed.stderr[-3000:]
    said = timed.stdout + timed.stderr
    assert "(epoch 1, step 1/" in said and "(epoch 1, step 2/" in said
    ckpt = read_checkpoint(tmp / "w" / "last.pth")
    ours = actionzoo_state(ckpt.extras)
    assert ours["within_epoch"] is None and ours["epochs_done"] == 1  # the epoch's end replaced it
    # a mid-epoch file from 2 processes: this single process refuses it in one line
    ours["within_epoch"] = {"steps": 2, "losses": [1.0, 1.0], "world_size": 2,
                            "torch_rng": [torch.get_rng_state()] * 2}
    ours["epochs_done"] = 0
    ckpt.extras["meta"]["actionzoo"] = ours
    torch.save({"state_dict": ckpt.state_dict, **ckpt.extras}, tmp / "w" / "last.pth")
    again = run_cli([*args, "--resume"])
    assert again.returncode == 2 and "written mid-epoch by 2 process(es)" in again.stderr, again.stderr
