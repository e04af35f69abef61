"""``actionzoo.evaluate`` is ``actionzoo eval``: the same report numbers, the same per-video scores,
the same drift of a reduced precision, and under torchrun the same merge of the processes' stores,
for a Python caller as for the command."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import CLI_ENV, cpu_runs, free_port, random_state

import actionzoo
from actionzoo.cli import main
from actionzoo.data.synthetic import write_synthetic_videos

# SlowFast under the Ascend protocol at a 64-pixel crop: one small view per video.
MODEL = "slowfast_r50_8x8x1_k400"
SIZE = ["--protocol", "ascend", "--input-size", "64"]
native_bf16 = pytest.mark.skipif(not cpu_runs("bf16"), reason="this CPU runs torch's bf16 autocast "
                                 "far slower than fp32 (no native kernels); the engine refuses it")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("evaluate_api")
    written = write_synthetic_videos(root, num_classes=2, videos_per_class=2, num_frames=40,
                                     size=(64, 86))
    (root / "videos" / "corrupt.mp4").write_bytes(os.urandom(3000))
    lines = written.annotation.read_text().splitlines() + ["videos/corrupt.mp4 1"]
    (root / "eval.txt").write_text("\n".join(lines) + "\n")
    torch.save({"state_dict": random_state(MODEL, seed=3)}, root / "w.pth")
    return root


def _protocol():
    return actionzoo.get_model_spec(MODEL).protocol("ascend").scaled(64)


def _api(data: Path, results: Path, **engine) -> actionzoo.evaluation.EvalReport:
    options = actionzoo.EvaluationOptions(
        batch_size=2, workers=0, progress=False,
        drift=actionzoo.DriftOptions(videos=engine.pop("drift_videos", 32)),
        class_names=data / "classes.txt")
    return actionzoo.evaluate(MODEL, data / "eval.txt", data, results=results,
                              engine=actionzoo.EngineOptions(checkpoint=data / "w.pth", **engine),
                              protocol=_protocol(), options=options)


def _cli(data: Path, results: Path, *extra: str) -> dict:
    report = results.with_suffix(".json")
    assert main(["eval", MODEL, *SIZE, "--checkpoint", str(data / "w.pth"), "--ann",
                 str(data / "eval.txt"), "--data-root", str(data), "--class-names",
                 str(data / "classes.txt"), "--batch-size", "2", "--workers", "0", "--no-progress",
                 "--results", str(results), "--json", str(report), *extra]) == 0
    return json.loads(report.read_text())


def _scores(db: Path) -> dict[str, tuple[str, np.ndarray | None]]:
    with sqlite3.connect(db) as con:
        return {v: (s, None if b is None else np.frombuffer(b))
                for v, s, b in con.execute("SELECT video_id, status, scores FROM videos")}


def _same_report(api: dict, cli: dict) -> None:
    """Every figure but the times, which are measured anew by each run."""
    for report in (api, cli):
        report.pop("times_s")
        if report["drift"] and report["drift"].get("measured"):
            report["drift"].pop("reference")  # names the thread count, the same either way
    assert api == cli


def _same_scores(a: Path, b: Path) -> None:
    one, two = _scores(a), _scores(b)
    assert one.keys() == two.keys() and len(one) == 5  # 4 scored + the corrupt file
    for video, (status, scores) in one.items():
        assert two[video][0] == status
        if scores is not None:
            np.testing.assert_allclose(two[video][1], scores, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_evaluate_gives_the_report_and_scores_of_the_eval_command(data: Path, tmp: Path) -> None:
    report = _api(data, tmp / "api.db")
    cli = _cli(data, tmp / "cli.db")
    assert report.total == 5 and report.scored == 4 and len(report.failed) == 1
    assert "corrupt.mp4" in report.failed[0][1]
    assert report.metrics["top1"] == cli["metrics"]["top1"]
    assert report.drift is None and report.drift_note is None  # fp32: nothing to measure
    _same_report(report.to_dict(), cli)
    _same_scores(tmp / "api.db", tmp / "cli.db")
    # the same results file is resumed, never overwritten silently, as by the command
    with pytest.raises(actionzoo.UsageError, match="resume"):
        _api(data, tmp / "api.db")


@pytest.mark.slow
@native_bf16
def test_evaluate_measures_the_drift_of_a_reduced_precision_as_eval_does(data: Path,
                                                                         tmp: Path) -> None:
    report = _api(data, tmp / "api.db", precision="bf16", drift_videos=3)
    cli = _cli(data, tmp / "cli.db", "--precision", "bf16", "--drift-videos", "3")
    assert report.drift is not None and report.drift.samples == 3
    assert report.drift.precision == "bf16" and cli["drift"]["samples"] == 3
    _same_report(report.to_dict(), cli)
    _same_scores(tmp / "api.db", tmp / "cli.db")
    skipped = _api(data, tmp / "skip.db", precision="bf16", drift_videos=0)
    assert skipped.drift is None and skipped.drift_note == "--drift-videos 0"


_WORKER = """
import json, os, sys
import actionzoo
import torch.distributed as dist
data, results, out = (sys.argv[i] for i in (1, 2, 3))
protocol = actionzoo.get_model_spec("{model}").protocol("ascend").scaled(64)
report = actionzoo.evaluate("{model}", f"{{data}}/eval.txt", data, results=results,
                            engine=actionzoo.EngineOptions(checkpoint=f"{{data}}/w.pth", threads=1),
                            protocol=protocol,
                            options=actionzoo.EvaluationOptions(batch_size=2, workers=0,
                                                                progress=False))
assert not dist.is_initialized()  # evaluate left the process group it joined
if os.environ.get("RANK", "0") == "0":  # the report over every process's videos
    with open(out, "w") as f:
        json.dump(report.to_dict(), f)
"""


@pytest.mark.slow
def test_evaluate_under_torchrun_merges_every_process_like_one(data: Path, tmp: Path) -> None:
    """A script calling ``actionzoo.evaluate`` under torchrun: rank 0's report covers every
    video once, as one process's does, and no part file is left."""
    script = tmp / "worker.py"
    script.write_text(_WORKER.format(model=MODEL))
    one = subprocess.run([sys.executable, str(script), str(data), str(tmp / "one.db"),
                          str(tmp / "one.json")], env=CLI_ENV, capture_output=True, text=True,
                         timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                          "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
                          str(script), str(data), str(tmp / "two.db"), str(tmp / "two.json")],
                         env=CLI_ENV, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    assert not list(tmp.glob("two.db.rank*"))
    _same_scores(tmp / "one.db", tmp / "two.db")
    a = json.loads((tmp / "one.json").read_text())
    b = json.loads((tmp / "two.json").read_text())
    assert b["videos"] == a["videos"] == {"total": 5, "scored": 4, "failed": 1}
    assert b["metrics"] == pytest.approx(a["metrics"])
