"""Builders the tests share: random checkpoints in each reference's container, a synthetic AVA
layout, deterministic fake detector scores, the CLI in a fresh interpreter. Tests import from here, never from each other."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
import torch

from actionzoo.zoo.registry import expected_shapes, get_model_spec

# ------------------------------------------------------------------------ random checkpoints


def random_state(model: str, num_classes: int | None = None, seed: int = 0,
                 scale: float = 0.05) -> "OrderedDict[str, torch.Tensor]":
    """A state dict with the model's keys and shapes: small random weights, positive running
    variances, zero batch counters (what a real checkpoint holds, with other values)."""
    gen = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for key, shape in expected_shapes(get_model_spec(model), num_classes).items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[key] = torch.randn(shape, generator=gen) * scale
    return state


# ------------------------------------------------------------------------ synthetic AVA layout

VIDEO_A = "-a_Video-1"  # AVA ids may start with '-' and hold '_' and '-'
VIDEO_B = "vidB"
SIZES = {VIDEO_A: (64, 96), VIDEO_B: (96, 64)}  # (H, W): landscape and portrait
NUM_FRAMES = 150  # keyframes 902..904 need frames 28..150 (904 clamps at 149)


def frame_value(index: int) -> int:
    """The flat grey level of the top-left 16x16 block of frame ``index`` (carries the index)."""
    return 40 + index


def write_frames(root: Path, video: str, size: tuple[int, int], count: int = NUM_FRAMES,
                 seed: int = 0) -> Path:
    folder = root / "frames" / video
    folder.mkdir(parents=True, exist_ok=True)
    h, w = size
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 0)
    for n in range(count):
        img = np.roll(base, n, axis=1).copy()
        img[:16, :16] = frame_value(n)
        cv2.imwrite(str(folder / f"{video}_{n + 1:06d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return folder


def write_frame_list(path: Path, videos: dict[str, int]) -> Path:
    lines = ["original_vido_id video_id frame_id path labels"]
    for index, (video, count) in enumerate(videos.items()):
        lines += [f'{video} {index} {n} {video}/{video}_{n + 1:06d}.jpg ""' for n in range(count)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def make_layout(root: Path, videos: dict[str, tuple[int, int]] | None = None) -> dict[str, Path]:
    """frames/{vid}/{vid}_{n:06d}.jpg plus frame_lists/val.csv (in the dict's order)."""
    videos = videos or SIZES
    for seed, (video, size) in enumerate(videos.items()):
        write_frames(root, video, size, seed=seed)
    frame_list = write_frame_list(root / "frame_lists" / "val.csv", {v: NUM_FRAMES for v in videos})
    return {"frames": root / "frames", "frame_list": frame_list}


def write_boxes(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path




def content_scores(x: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Deterministic fake detector scores that depend on each box's own clip and coordinates."""
    clip = x[boxes[:, 0].astype(int)]
    level = clip[:, :, ::8, ::16, ::16].reshape(len(boxes), -1).mean(axis=1).astype(np.float64)
    z = level[:, None] * 3 + boxes[:, 1:].sum(axis=1, keepdims=True) / 97 + np.arange(80) * 0.37
    return (1 / (1 + np.exp(-np.sin(z) * 3))).astype(np.float32)


def cpu_runs(precision: str) -> bool:
    """Whether this CPU runs ``precision`` autocast at a usable speed (measured once per session):
    without native kernels torch 2.13's bf16 Conv3d ran 60x slower than fp32 on an AVX2 EPYC, and
    the PyTorch engine refuses it there."""
    from actionzoo.runtime.cpu_precision import SLOWEST_USABLE, cpu_slowdown

    return cpu_slowdown(precision) <= SLOWEST_USABLE


CLI_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
CORES = len(os.sched_getaffinity(0))
# A process alone on the machine: all its cores. For runs compared bit for bit with each other,
# give every one of them the same environment.
ALL_CORES_ENV = {**CLI_ENV, "OMP_NUM_THREADS": str(CORES)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cli(args: list[str], threads: int = 1, torchrun: int = 0,
              program: list[str] | None = None, *, to_kill: bool = False) -> subprocess.Popen:
    """``python -m actionzoo ARGS`` (or ``python PROGRAM ARGS``) started in a fresh interpreter,
    not waited for, under torchrun with ``torchrun`` processes on a free loopback port, with
    ``threads`` intra-op threads each. Runs started side by side fill the cores; a run's
    arithmetic depends on its thread count only. ``to_kill``: a run to end with
    ``os.killpg(process.pid, SIGKILL)``, in a process group of its own (its decode workers die
    with it) and its output discarded."""
    program = program or ["-m", "actionzoo"]
    launcher = [sys.executable, *program]
    if torchrun:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(torchrun),
                    "--master-addr", "127.0.0.1", "--master-port", str(free_port()), *program]
    output = subprocess.DEVNULL if to_kill else subprocess.PIPE
    return subprocess.Popen([*launcher, *args], env={**CLI_ENV, "OMP_NUM_THREADS": str(threads)},
                            stdout=output, stderr=output, text=True, start_new_session=to_kill)


def finish_cli(process: subprocess.Popen, timeout: int = 600) -> subprocess.CompletedProcess:
    """A started process (:func:`start_cli`, or any with pipes), once it ends, as
    ``subprocess.run`` returns it; killed after ``timeout`` seconds (``TimeoutExpired``)."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run_cli(args: list[str], timeout: int = 600, torchrun: int = 0,
            threads: int = 1) -> subprocess.CompletedProcess:
    """``python -m actionzoo ARGS`` in a fresh interpreter (:func:`start_cli`), as a user runs it,
    waited for; one intra-op thread by default, so that runs compared with each other share one
    arithmetic order."""
    return finish_cli(start_cli(args, threads, torchrun), timeout)


def run_in_process(args: list[str]) -> subprocess.CompletedProcess:
    """``actionzoo ARGS`` through :func:`actionzoo.cli.main.main` in this interpreter, returned as
    :func:`run_cli` returns it. For tests where the process boundary is not the point: a fresh
    interpreter costs 3-5 s of imports here (torch, OpenVINO, ONNX Runtime, NNCF) and starts its
    own decode-worker server, where this process has both already."""
    import contextlib
    import io

    from actionzoo.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as exit:  # argparse's usage errors, as the command line exits on them
            code = exit.code if isinstance(exit.code, int) else 1
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
