"""benchmarks/gpu_check.sh, the accelerator check, run here on the CPU at tiny sizes: every file it
promises, on the torch path alone, and a spent time budget still ends with files."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    return subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), *args], env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_gpu_check_runs_on_the_cpu_and_writes_every_output(tmp: Path) -> None:
    done = _run("--device", "cpu", "--tiny", "--out", str(tmp / "out"))
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp / "out"
    for name in ("model_only.csv", "model_only.json", "drift.json", "e2e.json", "throughput.png",
                 "summary.md"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    rows = list(csv.DictReader((out / "model_only.csv").open()))
    # two models x fp32/bf16 x batch 1 and 2, eager
    assert len(rows) == 8 and {r["status"] for r in rows} == {"ok"}
    assert {r["model"] for r in rows} == {"r2plus1d_r34_8x8x1_ucf101", "slowfast_r50_ava"}
    assert all(float(r["clips_per_s"]) > 0 for r in rows)
    drift = json.loads((out / "drift.json").read_text())
    assert {(d["model"], d["precision"]) for d in drift} == {
        ("r2plus1d_r34_8x8x1_ucf101", "bf16"), ("slowfast_r50_ava", "bf16")}
    assert all(0 <= d["top1_agreement"] <= 1 and d["samples"] > 0 for d in drift)
    e2e = json.loads((out / "e2e.json").read_text())
    assert len(e2e) == 1 and e2e[0]["status"] == "ok" and e2e[0]["videos"] == 4
    assert e2e[0]["wall_s"] >= e2e[0]["model_s"] > 0
    meta = json.loads((out / "model_only.json").read_text())
    assert meta["imported_runtimes"] == []  # the torch path needs no OpenVINO or ONNX
    summary = (out / "summary.md").read_text()
    assert "| r2plus1d_r34_8x8x1_ucf101 |" in summary and "848.0" in summary  # its target


@pytest.mark.slow
def test_gpu_check_with_its_budget_spent_still_writes_its_files(tmp: Path) -> None:
    done = _run("--device", "cpu", "--tiny", "--budget-s", "0", "--e2e-models", "none",
                "--models", "x3d_s_k400", "--out", str(tmp / "out"))
    assert done.returncode == 0, done.stderr[-3000:]
    rows = list(csv.DictReader((tmp / "out" / "model_only.csv").open()))
    assert rows and {r["status"] for r in rows} == {"skipped (budget)"}
    assert "measurements skipped" in (tmp / "out" / "summary.md").read_text()


def test_gpu_check_without_cuda_says_so(tmp: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    done = _run("--out", str(tmp / "out"))
    assert done.returncode == 2 and "no CUDA device here" in done.stderr
