"""The one evaluator protocol: top-k and AVA frame-mAP evaluators, their gather across real gloo
processes, validation and ``eval`` writing the same detections CSV and mAP, and the one per-item
error capture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from evaluator_data import EXPECTED_KEYS, GT, LABELMAP, keyframes, videos
from helpers import CLI_ENV, content_scores, free_port, make_layout, write_boxes

from actionzoo.ava.annotations import read_detections_csv
from actionzoo.ava.evaluate import evaluate_ava
from actionzoo.ava.evaluator import FrameMapEvaluator
from actionzoo.ava.metric import ava_frame_map
from actionzoo.data.item_errors import attempt
from actionzoo.engines.base import Engine, EngineInfo
from actionzoo.data.work_item import Status
from actionzoo.errors import UsageError
from actionzoo.evaluation.evaluator import TopKEvaluator
from actionzoo.evaluation.store import KeyframeResult
from actionzoo.runtime.distributed import SINGLE
from actionzoo.zoo.registry import get_model_spec

WORKER = Path(__file__).with_name("dist_evaluator_worker.py")


def test_frame_map_evaluator_gives_the_official_worked_example_from_its_own_csv(tmp_path: Path) -> None:
    ev = FrameMapEvaluator(EXPECTED_KEYS, GT, LABELMAP, set(), out_csv=tmp_path / "d.csv")
    foreign = KeyframeResult("vidY,0902", 7, "vidY", 902, Status.OK, None, np.array([(0, 0, 1, 1.0)]),
                             np.ones((1, 80)), None, None)  # a resumed store's other keyframe
    ev.process(reversed([*keyframes(), foreign]))  # any order: the CSV is in test-set order
    outcome = ev.evaluate()
    assert outcome.complete and outcome.stored == 3 and outcome.scored == 2 and outcome.boxes == 3
    assert outcome.failed == [("vidX,0904", "vidX,0904: OSError: gone")]
    assert outcome.mAP == pytest.approx(11 / 12)
    assert outcome.frame_map.per_class == {12: pytest.approx(5 / 6), 80: pytest.approx(1.0)}
    lines = (tmp_path / "d.csv").read_text().splitlines()
    assert outcome.detection_rows == len(lines) == 3 * 80
    assert lines[11] == "vidX,0902,0.100,0.100,0.300,0.900,12,0.9000"
    assert lines[-1].startswith("vidX,0903,0.120,0.100,0.320,0.900,80,")
    # the mAP is that of exactly what the file holds
    again = ava_frame_map(GT, read_detections_csv(tmp_path / "d.csv"), LABELMAP)
    assert again.mAP == outcome.mAP


def test_an_incomplete_or_interrupted_set_gets_no_csv_and_no_map(tmp_path: Path) -> None:
    ev = FrameMapEvaluator(EXPECTED_KEYS, GT, LABELMAP, set(), out_csv=tmp_path / "d.csv")
    ev.process(keyframes()[:2])
    outcome = ev.evaluate()
    assert not outcome.complete and outcome.stored == 2 and outcome.mAP is None
    assert outcome.frame_map is None and outcome.detections_csv is None
    ev.reset()
    ev.process(keyframes())
    ev.interrupted = True
    assert ev.evaluate().mAP is None and not (tmp_path / "d.csv").exists()
    ev.interrupted = False
    assert ev.evaluate().mAP == pytest.approx(11 / 12)


def test_top_k_evaluator_over_stored_videos() -> None:
    ev = TopKEvaluator(["a", "b", "c"])
    ev.process(videos())
    result = ev.evaluate()
    # v0 right, v1 wrong (says b, is c), v3 right, v4 wrong (says a, is b); v2 failed
    assert result.metrics.videos == 4 and result.metrics.top1 == pytest.approx(0.5)
    assert result.failed == [("v2", "v2.mp4: InvalidDataError: bad")]
    assert result.per_class == [(0, "a", 1.0), (1, "b", 0.0), (2, "c", 0.5)]


def _run_worker(out: Path, rank: int | None, world: int, port: int) -> subprocess.Popen:
    out.mkdir(parents=True, exist_ok=True)
    env = {**CLI_ENV, "PYTHONPATH": os.pathsep.join([str(WORKER.parent), CLI_ENV["PYTHONPATH"]])}
    if rank is not None:
        env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    return subprocess.Popen([sys.executable, str(WORKER), str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow  # three fresh interpreters importing torch, av and cv2: ~20 s on 2 cores
def test_two_gloo_processes_gather_each_item_once_and_compute_what_one_process_does(
        tmp_path: Path) -> None:
    port = free_port()
    procs = [_run_worker(tmp_path / "two", r, 2, port) for r in range(2)]
    one = _run_worker(tmp_path / "one", None, 1, port)
    for proc in [*procs, one]:
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, output[-3000:]
    a, b = (json.loads((tmp_path / n / "result.json").read_text()) for n in ("one", "two"))
    assert a == b and a["mAP"] == pytest.approx(11 / 12) and a["stored"] == 3
    assert a["metrics"]["videos"] == 4
    ranks = [json.loads((tmp_path / "two" / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["shared"] for r in ranks] == [2, 1]  # each process kept only its share...
    assert [r["ava_none"] for r in ranks] == [False, True]  # ...and rank 0 computed over both
    assert (tmp_path / "two" / "detections.csv").read_bytes() == \
        (tmp_path / "one" / "detections.csv").read_bytes()


# ------------------------------------------------------- validation and eval: one CSV + mAP step


A, B = "vidA", "vidB"


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ava_layout")
    paths = make_layout(root, {A: (64, 96), B: (96, 64)})
    paths["boxes"] = write_boxes(root / "boxes.csv", [
        f"{A},0902,0.1,0.1,0.4,0.9,,0.95", f"{A},0903,0.5,0.2,0.7,0.9,,0.9",
        f"{B},0902,0.25,0.25,0.75,0.75,,0.85", f"{B},0903,0.2,0.1,0.6,0.9,,0.5"])
    paths["gt"] = write_boxes(root / "gt.csv", [
        f"{A},0902,0.1,0.1,0.4,0.9,12,0", f"{A},0903,0.5,0.2,0.7,0.9,80,1",
        f"{B},0902,0.25,0.25,0.75,0.75,14,2", f"{B},0902,0.25,0.25,0.75,0.75,12,2"])
    paths["labelmap"] = root / "labelmap.pbtxt"
    paths["labelmap"].write_text("".join(f'item {{\n  name: "{n}"\n  id: {i}\n}}\n' for i, n in
                                         {12: "stand", 14: "walk", 80: "watch"}.items()))
    paths["excluded"] = write_boxes(root / "excluded.csv", [f"{B},0903"])
    return paths


class FakeDetector(Engine):
    info = EngineInfo("fake", "fake", "cpu", "fp32")

    def run(self, x: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        return content_scores(x, boxes)


def _validation_inputs(layout: dict[str, Path]):
    config = SimpleNamespace(frames_dir=layout["frames"], val_frame_list=layout["frame_list"],
                             val_boxes=layout["boxes"], val_gt=layout["gt"],
                             labelmap=layout["labelmap"], excluded=layout["excluded"])
    protocol = get_model_spec("slowfast_r50_ava").protocol("official")
    data = SimpleNamespace(config=config, ava_val=None)  # no mini-val set read ahead: eval's keyframes
    return data, SimpleNamespace(val_protocol=protocol, num_classes=80)


def test_training_validation_writes_the_csv_and_map_that_eval_writes(layout, tmp_path: Path) -> None:
    from actionzoo.training.validate import _ava

    report = evaluate_ava(layout["frames"], layout["frame_list"], layout["boxes"], layout["gt"],
                          layout["labelmap"], layout["excluded"], engine=FakeDetector(),
                          results=tmp_path / "r.db", out_csv=tmp_path / "eval.csv", workers=0,
                          progress=False)
    data, plan = _validation_inputs(layout)
    val = _ava(FakeDetector(), data, plan, tmp_path / "work", 5, SINGLE, 0)
    written = tmp_path / "work" / "val" / "detections_epoch_5.csv"
    assert written.read_bytes() == (tmp_path / "eval.csv").read_bytes()
    assert report.detection_rows == 3 * 80 and report.scored == 3  # B,0903's box scores < 0.8
    assert val.mAP == report.mAP and val.value == val.mAP and 0 < report.mAP <= 1
    assert val.keyframes == 3 and val.protocol.endswith(report.metric_protocol)


def test_ctrl_c_during_validation_stops_training_instead_of_reporting_part_of_the_set(
        layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import actionzoo.ava.evaluate as ava_evaluate
    from actionzoo.training.validate import _ava

    real = ava_evaluate.run_keyframes

    def cut_short(*args, **kwargs):
        stats = real(*args, **kwargs)
        stats.interrupted = True  # what stream_items reports when Ctrl-C arrives
        return stats

    monkeypatch.setattr(ava_evaluate, "run_keyframes", cut_short)
    data, plan = _validation_inputs(layout)
    with pytest.raises(KeyboardInterrupt):
        _ava(FakeDetector(), data, plan, tmp_path / "work", 5, SINGLE, 0)
    assert not (tmp_path / "work" / "val").exists()


# ------------------------------------------------------------------- the per-item error capture


def test_attempt_records_a_data_error_and_lets_a_defect_through(tmp_path: Path) -> None:
    def missing():
        return open(tmp_path / "gone.mp4", "rb")

    value, reason = attempt(tmp_path / "gone.mp4", missing)
    assert value is None and reason.startswith(f"{tmp_path / 'gone.mp4'}: FileNotFoundError:")
    assert attempt("x", lambda: 3) == (3, None)
    ours = attempt("x", lambda: (_ for _ in ()).throw(UsageError("clip.mp4: has no frames")))
    assert ours == (None, "clip.mp4: has no frames")  # our errors already name their file
    with pytest.raises(TypeError):
        attempt("x", lambda: len(5))  # a defect in our code stops the run
