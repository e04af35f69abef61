"""Two torchrun processes with --sync-bn train exactly like one process with the global batch.

Checked in float64 (``tests/float64_train.py`` runs ``actionzoo train`` with float64 as the default
dtype): there, any difference in the arithmetic -- the CPU sync BN's forward or backward, the loss
scaling over processes and micro-batches, the batch split -- shows far above rounding, so every
parameter and buffer must agree to 1e-9 relative. In float32 the same runs differ by rounding
amplified in the backward pass (docs/training.md has the figures), so there the test checks the
tensors that carry signal and names the tolerance.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import CLI_ENV, finish_cli, free_port, start_cli

from actionzoo.checkpoint import read_checkpoint
from actionzoo.checkpoint.write import actionzoo_state

FLOAT64 = str(Path(__file__).with_name("float64_train.py"))


def _train_one_and_two(one: list[str], two: list[str]) -> tuple[subprocess.CompletedProcess, ...]:
    """One process and two torchrun processes of the same training, side by side (three
    single-threaded processes on the machine's cores; the runs share nothing but the videos)."""
    # every process one thread (float64: the thread count changes the summation order only, far
    # below the 1e-9 compared)
    started = [start_cli(one, program=[FLOAT64]), start_cli(two, torchrun=2, program=[FLOAT64])]
    return tuple(finish_cli(process) for process in started)


def _relative_differences(a: dict, b: dict) -> dict[str, float]:
    assert a.keys() == b.keys()
    out = {}
    for key in a:
        x, y = a[key], b[key]
        assert x.dtype == y.dtype and x.shape == y.shape, key
        if not x.is_floating_point():
            out[key] = 0.0 if torch.equal(x, y) else float("inf")
            continue
        scale = x.double().abs().max().item()
        diff = (x.double() - y.double()).abs().max().item()
        out[key] = diff / scale if scale else diff
    return out


def _four_videos(videos: Path, tmp: Path, count: int = 4) -> Path:
    lines = (videos / "small.txt").read_text().splitlines()
    (tmp / "four.txt").write_text("\n".join(lines[::2][:count]) + "\n")  # one video per class
    return tmp / "four.txt"


@pytest.mark.slow
@pytest.mark.parametrize("model, videos, extra", [
    # PySlowFast BN (+ precise BN over every process), at X3D's one size, 160 x 160 x 13 in
    # float64: one step of 2 clips and one precise-BN batch
    ("x3d_s_k400", 2, ["--precise-bn", "1"]),
    ("slowfast_r50_8x8x1_k400", 4, ["--input-size", "32"]),  # mmaction2 BN: two steps
])
def test_two_processes_with_sync_bn_equal_one_in_every_tensor(model: str, videos: int, extra: list[str],
                                                               train_videos: Path, tmp: Path) -> None:
    common = ["train", model, "--ann", str(_four_videos(train_videos, tmp, videos)), "--data-root",
              str(train_videos), "--num-classes", "4", "--epochs", "1", "--batch-size", "2",
              "--sync-bn", "--dropout", "0", "--deterministic", "--workers", "0", "--no-progress",
              *extra]
    one, two = _train_one_and_two([*common, "--work-dir", str(tmp / "one")],
                                  [*common, "--work-dir", str(tmp / "two")])
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    assert "2 process(es) x 1" in two.stdout and "sync BN: " in two.stdout
    path = "last.pyth" if model.startswith("x3d") else "last.pth"
    a, b = (read_checkpoint(tmp / run / path).state_dict for run in ("one", "two"))
    assert next(iter(a.values())).dtype == torch.float64
    worst = sorted(_relative_differences(a, b).items(), key=lambda kv: -kv[1])
    assert worst[0][1] < 1e-9, worst[:5]  # every parameter and buffer
    # ...and not vacuously: the steps moved BN biases, the classifier and the running statistics.
    moved = [k for k, v in a.items() if k.endswith(("bias", "running_mean")) and v.abs().max() > 0]
    assert len(moved) > 50


def _worker(out: Path, *args: str, torchrun: int = 0) -> dict:
    script = str(Path(__file__).with_name("dist_bn_worker.py"))
    done = finish_cli(start_cli([str(out), *args], torchrun=torchrun, program=[script]), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(out)


@pytest.mark.slow
def test_precise_bn_over_two_processes_equals_one_and_every_rank_gets_rank_0s_buffers(tmp: Path) -> None:
    one = _worker(tmp / "one.pt")
    two = _worker(tmp / "two.pt", torchrun=2)
    assert one["used"] == two["used"] == 3
    for key, value in one["stats"].items():  # statistics of the global batch, not of each share
        torch.testing.assert_close(two["stats"][key], value, rtol=1e-12, atol=1e-12, msg=key)
    assert two["ranks_equal"]  # validation on every rank sees the buffers rank 0 saves


@pytest.mark.slow
def test_precise_bn_forwards_in_micro_batches(tmp: Path) -> None:
    whole = _worker(tmp / "whole.pt")
    micro = _worker(tmp / "micro.pt", "1")
    assert whole["largest_forward"] == 4 and whole["forwards"] == 3
    assert micro["largest_forward"] == 1 and micro["forwards"] == 12
    torch.testing.assert_close(micro["stats"]["1.running_mean"], whole["stats"]["1.running_mean"])


@pytest.mark.slow
def test_an_unreadable_clip_with_sync_bn_and_micro_batches_neither_hangs_nor_drops(
        train_videos: Path, tmp: Path) -> None:
    # 3 videos + a corrupt one, global batch 4 = 2 processes x 2 in micro-batches of 1: the rank
    # holding the corrupt file used to run one forward where its peer ran two (one sync BN
    # all-reduce short), and wait forever.
    lines = (train_videos / "small.txt").read_text().splitlines()[:3] + ["videos/corrupt.mp4 2"]
    (tmp / "ann.txt").write_text("\n".join(lines) + "\n")
    args = ["train", "slowfast_r50_8x8x1_k400", "--ann", str(tmp / "ann.txt"), "--data-root",
            str(train_videos), "--num-classes", "4", "--epochs", "1", "--batch-size", "4",
            "--micro-batch", "1", "--sync-bn", "--input-size", "32", "--workers", "0",
            "--no-progress", "--work-dir", str(tmp / "w")]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                "--master-addr", "127.0.0.1", "--master-port", str(free_port()), "-m", "actionzoo"]
    done = subprocess.run(launcher + args, env={**CLI_ENV, "TORCH_GLOO_TIMEOUT": "120"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "unreadable videos/corrupt.mp4:" in done.stdout and "replaced by" in done.stdout
    train = [r for r in map(__import__("json").loads, (tmp / "w" / "log.jsonl").read_text().splitlines())
             if r["kind"] == "train"]
    assert len(train) == 1  # the step ran, with 4 readable clips


@pytest.mark.slow
@pytest.mark.parametrize("batch, both, two_only", [
    # groups of 2 inside each process's 2 clips: the i % G split forms one process's groups
    # (and precise BN folds every process's groups)
    ("4", ["--precise-bn", "2"], []),
    # a group of 2 over two processes of 1 clip, synchronised between them
    ("2", [], ["--sync-bn"]),
])
def test_bn_batch_on_two_processes_equals_one_in_every_tensor(batch: str, both: list[str],
                                                              two_only: list[str],
                                                              train_videos: Path, tmp: Path) -> None:
    # two steps either way: 8 videos in batches of 4, 4 videos in batches of 2
    ann = train_videos / "small.txt" if batch == "4" else _four_videos(train_videos, tmp)
    common = ["train", "slowfast_r50_8x8x1_k400", "--ann", str(ann),
              "--data-root", str(train_videos), "--num-classes", "4", "--epochs", "1",
              "--batch-size", batch, "--bn-batch", "2", "--input-size", "32", "--dropout", "0",
              "--deterministic", "--workers", "0", "--no-progress", *both]
    one, two = _train_one_and_two([*common, "--work-dir", str(tmp / "one")],
                                  [*common, *two_only, "--work-dir", str(tmp / "two")])
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    assert "--bn-batch 2: " in two.stdout
    # every process's groups travel in the checkpoint, for --resume
    saved = actionzoo_state(read_checkpoint(tmp / "two" / "last.pth").extras)["bn_groups"]
    assert saved and all(v.shape[:2] == (2, 2) for v in saved.values())
    a, b = (read_checkpoint(tmp / run / "last.pth").state_dict for run in ("one", "two"))
    worst = sorted(_relative_differences(a, b).items(), key=lambda kv: -kv[1])
    assert worst[0][1] < 1e-9, worst[:5]  # every parameter and buffer
    moved = [k for k, v in a.items() if k.endswith(("bias", "running_var")) and
             (v - (1 if k.endswith("var") else 0)).abs().max() > 0]
    assert len(moved) > 50
