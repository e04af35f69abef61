"""Streaming evaluation end to end on real files: bad videos, engines agreeing, kill -9 and resume."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from helpers import random_state, run_in_process

from actionzoo.cli import main
from actionzoo.data.annotations import read_video_list
from actionzoo.data.synthetic import write_synthetic_videos
from actionzoo.engines import Engine, OnnxRuntimeEngine, TorchEngine
from actionzoo.evaluation.recognition import evaluate_records
from actionzoo.evaluation.store import ResultsStore
from actionzoo.export.onnx import export_model
from actionzoo.zoo.registry import build_model, get_model_spec

# SlowFast under the Ascend protocol is one view per video: the cheapest real model to run here.
MODEL = "slowfast_r50_8x8x1_k400"
PROTOCOL = "ascend"
SIZE = 64  # its centre crop scaled from 224 to 64: the flow is the point here, not the input size


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    data = write_synthetic_videos(root / "data", num_classes=4, videos_per_class=2, num_frames=48,
                                  size=(96, 128))
    videos = root / "data" / "videos"
    (videos / "corrupt.mp4").write_bytes(os.urandom(5000))
    good = next(videos.rglob("*_000.mp4")).read_bytes()
    (videos / "truncated.mp4").write_bytes(good[: len(good) // 3])
    (videos / "empty.mp4").write_bytes(b"")
    with av.open(str(videos / "zero_frames.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height = 64, 64
    good_lines = data.annotation.read_text().splitlines()
    bad_lines = ["videos/corrupt.mp4 0", "videos/truncated.mp4 1", "videos/empty.mp4 2",
                 "videos/zero_frames.mp4 3", "videos/missing.mp4 0"]
    mixed = good_lines[:3] + bad_lines[:3] + good_lines[3:] + bad_lines[3:]
    (root / "good.txt").write_text("\n".join(good_lines) + "\n")
    (root / "mixed.txt").write_text("\n".join(mixed) + "\n")

    torch.save({"meta": {}, "state_dict": random_state(MODEL)}, root / "slowfast.pth")
    export_model(MODEL, root / "slowfast.onnx", checkpoint=root / "slowfast.pth", protocol=PROTOCOL)
    return root


def _run(workdir: Path, ann: str, engine, db: Path, workers: int = 2, batch: int = 2):
    records = read_video_list(workdir / ann, workdir / "data").records
    protocol = get_model_spec(MODEL).protocol(PROTOCOL).scaled(SIZE)
    with ResultsStore(db, {"ann": ann, "engine": engine.name}, resume=False) as store:
        report = evaluate_records(records, model_name=MODEL, protocol=protocol, engine=engine,
                                  store=store, batch_size=batch, workers=workers, progress=False)
        scores = {r.video_id: r.scores for r in store.results() if r.scores is not None}
    return report, scores


@pytest.fixture(scope="module")
def torch_runs(workdir: Path):
    engine = TorchEngine(build_model(MODEL, workdir / "slowfast.pth"))
    mixed = _run(workdir, "mixed.txt", engine, workdir / "mixed.db")
    good = _run(workdir, "good.txt", engine, workdir / "good.db", workers=0, batch=3)
    return mixed, good


@pytest.mark.slow
def test_bad_videos_are_named_and_good_ones_scored_as_alone(torch_runs) -> None:
    (mixed_report, mixed_scores), (good_report, good_scores) = torch_runs
    assert mixed_report.total == 13 and mixed_report.scored == 8
    failed = dict(mixed_report.failed)
    assert set(failed) == {"videos/corrupt.mp4", "videos/truncated.mp4", "videos/empty.mp4",
                           "videos/zero_frames.mp4", "videos/missing.mp4"}
    for video, reason in failed.items():
        assert video.split("/")[1] in reason  # the reason names the file
        assert "\n" not in reason
    assert "missing.mp4" in failed["videos/missing.mp4"]
    assert set(mixed_scores) == set(good_scores)
    for video, score in good_scores.items():
        np.testing.assert_allclose(mixed_scores[video], score, rtol=1e-5, atol=1e-6)
    assert mixed_report.metrics == pytest.approx(good_report.metrics)
    text = mixed_report.render_text()
    assert "8 scored, 5 failed, of 13" in text and "FAILED videos/corrupt.mp4" in text
    assert "1 clip × center crop 224" in text


def test_a_defect_in_our_code_stops_the_run_instead_of_failing_every_video(
        workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only data errors are per-item: a TypeError from our own code propagates with its type."""
    import actionzoo.data.views as views

    def broken(*args, **kwargs):
        raise TypeError("unsupported operand type(s)")

    monkeypatch.setattr(views, "build_views", broken)
    engine = TorchEngine(build_model(MODEL, workdir / "slowfast.pth"))
    with pytest.raises(TypeError, match="unsupported operand"):
        _run(workdir, "good.txt", engine, workdir / "defect.db", workers=0)


class _Asynchronous(Engine):
    """An engine that computes while the host goes on, as a CUDA device does: it is only ever
    submitted to, and logs when each call starts and when its outputs are taken."""

    asynchronous = True

    def __init__(self, engine) -> None:
        self.engine, self.info = engine, engine.info
        self.log: list[tuple[str, int]] = []

    def run(self, *inputs):
        raise AssertionError("an asynchronous engine is submitted to, not run")

    def submit(self, *inputs):
        call = sum(1 for event, _ in self.log if event == "start")
        self.log.append(("start", call))
        outputs = self.engine.run(*inputs)

        def result():
            self.log.append(("take", call))
            return outputs

        return result


@pytest.mark.slow
def test_an_asynchronous_engine_starts_each_batch_before_the_last_one_is_read(workdir: Path,
                                                                               torch_runs) -> None:
    (mixed_report, mixed_scores), _ = torch_runs
    engine = _Asynchronous(TorchEngine(build_model(MODEL, workdir / "slowfast.pth")))
    report, scores = _run(workdir, "mixed.txt", engine, workdir / "async.db")
    assert report.metrics == pytest.approx(mixed_report.metrics)
    assert dict(report.failed).keys() == dict(mixed_report.failed).keys()
    assert scores.keys() == mixed_scores.keys()
    for video, score in scores.items():
        np.testing.assert_allclose(score, mixed_scores[video], rtol=1e-5, atol=1e-6)
    calls = sum(1 for event, _ in engine.log if event == "start")
    assert calls == 4  # 8 one-view videos in batches of 2
    # Call k+1 starts before call k's outputs are taken, and every call is taken once.
    for k in range(calls - 1):
        assert engine.log.index(("start", k + 1)) < engine.log.index(("take", k))
    assert sorted(c for event, c in engine.log if event == "take") == list(range(calls))


@pytest.mark.slow
def test_onnxruntime_and_pytorch_give_the_same_top1_per_video(workdir: Path, torch_runs) -> None:
    _, (_, torch_scores) = torch_runs
    _, ort_scores = _run(workdir, "good.txt", OnnxRuntimeEngine(workdir / "slowfast.onnx"),
                         workdir / "ort.db")
    assert set(ort_scores) == set(torch_scores)
    for video, score in torch_scores.items():
        assert int(np.argmax(ort_scores[video])) == int(np.argmax(score)), video
        np.testing.assert_allclose(ort_scores[video], score, rtol=1e-4, atol=1e-5)


def _eval_command(workdir: Path, db: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "actionzoo.cli", "eval", MODEL, "--protocol", PROTOCOL,
            "--input-size", str(SIZE),
            "--engine", "onnxruntime", "--model-file", str(workdir / "slowfast.onnx"),
            "--ann", str(workdir / "mixed.txt"), "--data-root", str(workdir / "data"),
            "--batch-size", "1", "--workers", "1", "--results", str(db), "--no-progress",
            "--threads", "1", *extra]


def _rows(db: Path) -> int:
    try:
        with sqlite3.connect(db) as con:
            return con.execute("SELECT COUNT(*) FROM videos").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_kill_9_then_resume_matches_an_uninterrupted_run(workdir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    full_db, killed_db = workdir / "full.db", workdir / "killed.db"
    # The uninterrupted run and the refusal need no process of their own (the kill and the
    # resume do): in this interpreter they save two starts.
    done = run_in_process(_eval_command(workdir, full_db, "--json", str(workdir / "full.json"))[3:])
    assert done.returncode == 0, done.stderr

    proc = subprocess.Popen(_eval_command(workdir, killed_db), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while _rows(killed_db) < 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole group: main process and decode workers
    proc.wait()
    interrupted_at = _rows(killed_db)
    assert 0 < interrupted_at < 13, "the run must be killed part-way"

    again = run_in_process(_eval_command(workdir, killed_db)[3:])
    assert again.returncode == 2 and "pass --resume" in again.stderr  # never overwrites silently
    resumed = subprocess.run(_eval_command(workdir, killed_db, "--resume"), env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr

    def table(db: Path) -> dict[str, tuple[str, bytes | None]]:
        with sqlite3.connect(db) as con:
            return {v: (s, b) for v, s, b in con.execute("SELECT video_id, status, scores FROM videos")}

    full, killed = table(full_db), table(killed_db)
    assert len(killed) == 13 and set(killed) == set(full)
    for video, (status, blob) in full.items():
        assert killed[video][0] == status
        if blob is not None:
            np.testing.assert_allclose(np.frombuffer(killed[video][1]), np.frombuffer(blob),
                                       rtol=1e-6, atol=1e-7)
    assert "13" in resumed.stdout and "8 scored, 5 failed" in resumed.stdout


@pytest.mark.slow
def test_cli_eval_writes_reports_and_predictions(workdir: Path, capsys) -> None:
    out = workdir / "cli"
    code = main(["eval", MODEL, "--protocol", PROTOCOL, "--input-size", str(SIZE),
                 "--checkpoint", str(workdir / "slowfast.pth"),
                 "--ann", str(workdir / "good.txt"), "--data-root", str(workdir / "data"),
                 "--class-names", str(workdir / "data" / "classes.txt"),
                 "--batch-size", "4", "--workers", "0", "--results", str(out / "r.db"),
                 "--json", str(out / "r.json"), "--markdown", str(out / "r.md"),
                 "--predictions", str(out / "p.csv"), "--no-progress"])
    assert code == 0
    text = capsys.readouterr().out
    assert "top-1" in text and "pytorch" in text and "fp32" in text
    assert (out / "r.md").read_text().startswith("| |")
    lines = (out / "p.csv").read_text().splitlines()
    assert lines[0].startswith("video,label,status,top1,score1")
    assert len(lines) == 9 and lines[1].split(",")[1].startswith("moving_")
