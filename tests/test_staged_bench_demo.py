"""The guides' staged flow, the benchmark command and the demo, run for real on synthetic videos."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import random_state, run_in_process

from actionzoo.cli.main import main
from actionzoo.data.synthetic import write_synthetic_videos
from actionzoo.evaluation.store import ResultsStore
from actionzoo.zoo.registry import get_model_spec

MODEL = "slowfast_r50_8x8x1_k400"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("staged")
    data = write_synthetic_videos(root / "data", num_classes=3, videos_per_class=1, num_frames=40,
                                  size=(96, 128))
    lines = data.annotation.read_text().splitlines() + ["videos/gone.mp4 1"]
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    torch.save({"state_dict": random_state(MODEL, seed=1)}, root / "w.pth")
    return root


@pytest.mark.slow
def test_preprocess_infer_postprocess_equals_fused_eval(dataset: Path) -> None:
    pre, scores = dataset / "pre", dataset / "scores"
    common = ["--ann", str(dataset / "list.txt"), "--data-root", str(dataset / "data")]
    done = _cli("preprocess", MODEL, *common, "--protocol", "ascend", "--out", str(pre),
                "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert "wrote 3 inputs" in done.stdout and "1 failed" in done.stdout
    assert "FAILED videos/gone.mp4" in done.stdout
    arrays = sorted(pre.glob("*.npy"))
    assert [np.load(a).shape for a in arrays] == [(1, 3, 32, 224, 224)] * 3
    # a second run finds everything done and rewrites nothing (in this interpreter: the steps
    # that only read and write files skip a process start each)
    done = run_in_process(["preprocess", MODEL, *common, "--protocol", "ascend", "--out", str(pre)])
    assert done.returncode == 0 and "wrote 0 inputs" in done.stdout

    done = run_in_process(["infer", "--engine", "pytorch", "--checkpoint", str(dataset / "w.pth"),
                           "--inputs", str(pre), "--out", str(scores), "--batch-size", "2"])
    assert done.returncode == 0, done.stderr
    assert [np.load(scores / a.name).shape for a in arrays] == [(1, 400)] * 3
    done = run_in_process(["postprocess", "--scores", str(scores), "--json"])
    assert done.returncode == 0, done.stderr
    staged = json.loads(done.stdout)
    assert staged["videos"] == 3 and staged["failed_preprocess"] == ["videos/gone.mp4"]

    db = dataset / "fused.db"
    done = run_in_process(["eval", MODEL, *common, "--protocol", "ascend", "--checkpoint",
                           str(dataset / "w.pth"), "--results", str(db), "--workers", "0",
                           "--no-progress"])
    assert done.returncode == 0, done.stderr
    with ResultsStore(db, {}, resume=True) as store:
        fused = {r.video_id: r.scores for r in store.results() if r.scores is not None}
    index = {row["file"]: row["video_id"] for row in csv.DictReader((scores / "index.csv").open())}
    for a in arrays:
        view_scores = np.load(scores / a.name)
        combined = get_model_spec(MODEL).protocol("ascend").aggregation.combine(view_scores)
        np.testing.assert_allclose(combined, fused[index[a.name]], rtol=1e-5, atol=1e-7)

    # inputs made for the ascend views cannot be scored under the official protocol's 30 views
    done = run_in_process(["postprocess", "--scores", str(scores), "--protocol", "official"])
    assert done.returncode == 2 and "needs other views" in done.stderr


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The installed command as a user runs it, in its own process (fault handler on)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONFAULTHANDLER": "1"}
    return subprocess.run([sys.executable, "-m", "actionzoo.cli", *args], env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_bench_writes_table_csv_json_and_plot(tmp: Path) -> None:
    out = tmp / "bench" / "x3d"
    done = _cli("bench", "x3d_s_k400", "--engine", "pytorch", "--batch-sizes", "1,2",
                "--warmup", "1", "--min-seconds", "0.1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "clips/s" in text and "x3d_s_k400, official: 10 clips × 3 crops × 182" in text
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert [int(r["batch_size"]) for r in rows] == [1, 2]
    assert all(float(r["clips_per_s"]) > 0 and float(r["p90_ms"]) >= float(r["median_ms"])
               for r in rows)
    payload = json.loads(out.with_suffix(".json").read_text())
    assert "loadavg" in payload["machine"]
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_rejects_bad_options(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "x3d_s_k400", "--batch-sizes", "0,2"])
    assert "batch sizes must be positive" in capsys.readouterr().err
    assert main(["bench", "x3d_s_k400", "--engine", "onnxruntime", "--batch-sizes", "1"]) == 2
    assert "needs an exported model file" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_end_to_end_reports_stage_split(tmp: Path) -> None:
    write_synthetic_videos(tmp / "v", num_classes=2, videos_per_class=1, num_frames=40,
                           size=(96, 128))
    done = _cli("bench", MODEL, "--protocol", "ascend", "--engine", "pytorch", "--batch-sizes",
                "1", "--warmup", "0", "--min-seconds", "0", "--e2e", str(tmp / "v"),
                "--workers", "1", "--input-size", "64")  # the stage split, not the model, is checked
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "end to end on 2 videos" in text and "videos/s" in text and "decode" in text
    assert "throughput bound by " in text


@pytest.mark.slow
def test_demo_trains_then_exports_and_evaluates(demo_run) -> None:
    # The default model (X3D-S) at its recipe's 160 crop takes minutes here; the mmaction2 SlowFast
    # trains at 64 x 64 in the same demo code path (conftest.demo_run runs it once for the session).
    out, done = demo_run
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "trained on synthetic classes from the reference initialisation" in text
    assert "PASS  onnxruntime" in text
    assert "per-video top-1, ONNX Runtime vs PyTorch: identical" in text
    summary = json.loads((out / "demo.json").read_text())
    assert summary["engines_agree_top1"] is True
    for engine in ("onnxruntime", "pytorch"):  # every held-out video really scored
        assert summary["evaluation"][engine]["videos"] == {"total": 16, "scored": 16, "failed": 0}
    before = summary["untrained"]["metrics"]["top1"]
    after = summary["evaluation"]["pytorch"]["metrics"]["top1"]
    assert after >= 0.75 and after > before + 0.25, (before, after)  # chance is 0.25
    assert (out / "bench.png").exists()
    assert (out / "train" / "curves.png").exists()
    # Each bench row carries the achieved GFLOP/s and its share of the measured matmul peak.
    for engine in ("onnxruntime", "pytorch"):
        assert re.search(rf"^{engine}\s+fp32\s+1(\s+[\d.]+){{4}}\s+\d+%$", text, re.M), text
