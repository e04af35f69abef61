"""AVA evaluation end to end on a synthetic AVA layout: batching, CSV + mAP round trip, bad
keyframes, kill -9 and resume, the real model, and the single-video detection demo."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import textwrap
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from helpers import content_scores, finish_cli, make_layout, start_cli, write_boxes

from actionzoo.ava.annotations import read_detections_csv
from actionzoo.ava.dataset import load_keyframe, load_test_set
from actionzoo.ava.detect import detect, keyframe_frame_index
from actionzoo.ava.evaluate import AvaResultsStore, evaluate_ava
from actionzoo.ava.metric import ava_frame_map
from actionzoo.data.decode import VideoFile
from actionzoo.engines import Engine, EngineInfo, TorchEngine
from actionzoo.errors import AnnotationError, UsageError
from actionzoo.zoo.registry import build_model

A, B, C = "-a_Video-1", "vidB", "vidC"  # C has a missing and a corrupt frame
SIZES = {A: (64, 96), B: (96, 64), C: (64, 96)}
LABELMAP = {1: "bend/bow (at the waist)", 12: "stand", 14: "walk", 80: "watch (a person)"}

# (video, second, box text, GT labels); labels 2 and 17 are not in the label map.
BOXES = [
    (A, 902, "0.100,0.100,0.400,0.900", [12, 80]),
    (A, 902, "0.500,0.200,0.700,0.900", [12]),
    (A, 903, "0.120,0.100,0.420,0.900", [80, 2]),
    (A, 904, "0.300,0.300,0.600,0.700", [1]),
    (B, 902, "0.250,0.250,0.750,0.750", [14, 12]),
    (B, 903, "0.200,0.100,0.600,0.950", [14, 17]),  # excluded keyframe
    (B, 903, "0.600,0.100,0.900,0.500", []),  # a person without actions
]


def _labelmap_text(classes: dict[int, str]) -> str:
    return "".join(f'item {{\n  name: "{n}"\n  id: {i}\n}}\n' for i, n in classes.items())


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ava_eval")
    paths = make_layout(root, SIZES)
    (paths["frames"] / C / f"{C}_000041.jpg").unlink()  # in 902's frames 28..90 only
    (paths["frames"] / C / f"{C}_000101.jpg").write_bytes(b"garbage" * 50)  # in 903's 58..120
    rows = [f"{v},{t:04d},{box},{labels[0] if labels else ''},0.93" for v, t, box, labels in BOXES]
    paths["boxes"] = write_boxes(root / "boxes.csv", rows + [f"{B},0904,0.1,0.1,0.2,0.2,,0.5"])
    paths["boxes_bad"] = write_boxes(root / "boxes_bad.csv", rows + [
        f"{C},0902,0.1,0.1,0.5,0.5,,0.9", f"{C},0903,0.1,0.1,0.5,0.5,,0.9"])
    many = [f"{v},{t:04d},0.2,0.2,0.{t - 898},0.8,,0.9" for v in (A, B) for t in range(902, 908)]
    paths["boxes_many"] = write_boxes(root / "boxes_many.csv", many + [f"{C},0902,0.1,0.1,0.5,0.5,,0.9"])
    gt = [f"{v},{t:04d},{box},{label},{n}" for n, (v, t, box, labels) in enumerate(BOXES)
          for label in labels]
    paths["gt"] = write_boxes(root / "gt.csv", gt)
    paths["labelmap"] = root / "labelmap.pbtxt"
    paths["labelmap"].write_text(_labelmap_text(LABELMAP))
    paths["excluded"] = write_boxes(root / "excluded.csv", [f"{B},0903"])
    return paths


def _inputs(data: dict[str, Path], boxes: str = "boxes") -> tuple[Path, Path, Path, Path, Path, Path]:
    return (data["frames"], data["frame_list"], data[boxes], data["gt"], data["labelmap"],
            data["excluded"])


class FakeEngine(Engine):
    """Records each call; scores by ``score_fn`` (default :func:`content_scores`)."""

    def __init__(self, score_fn=content_scores, name: str = "fake") -> None:
        self.score_fn = score_fn
        self.info = EngineInfo(name, name, "cpu", "fp32", label=f"{name} engine")
        self.calls: list[tuple[tuple[int, ...], np.ndarray]] = []

    def run(self, x: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        assert x.dtype == np.float32 and boxes.dtype == np.float32 and boxes.shape[1] == 5
        self.calls.append((x.shape, boxes.copy()))
        return self.score_fn(x, boxes)


def _stored(db: Path) -> dict[str, tuple[str, np.ndarray | None, np.ndarray | None]]:
    with AvaResultsStore(db, {}, resume=True) as store:
        return {r.key: (r.status, r.ori_boxes, r.scores) for r in store.results()}


# ------------------------------------------------------------------------------------- tests


@pytest.mark.slow
def test_perfect_scores_give_map_1_and_the_csv_round_trips(data, tmp_path: Path) -> None:
    test_set = load_test_set(data["frames"], data["frame_list"], data["boxes"])
    truth = {}  # (H, W, pixel box) -> GT labels: what a perfect model would answer
    for keyframe in test_set.keyframes:
        x, boxes, _ = load_keyframe(test_set, keyframe)
        labels = [lab for v, t, _, lab in BOXES if v == keyframe.video_id and t == keyframe.second]
        for box, lab in zip(boxes, labels):
            truth[(x.shape[2], x.shape[3], *np.round(box, 2).tolist())] = lab

    def oracle(x: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        out = np.zeros((len(boxes), 80), np.float32)
        for row, b in enumerate(boxes):
            for label in truth[(x.shape[3], x.shape[4], *np.round(b[1:], 2).tolist())]:
                out[row, label - 1] = 1.0
        return out

    out_csv = tmp_path / "detections.csv"
    report = evaluate_ava(*_inputs(data), engine=FakeEngine(oracle), results=tmp_path / "r.db",
                          out_csv=out_csv, batch_size=2, workers=2, progress=False)
    assert report.total == 5 and report.scored == 5 and not report.failed and report.boxes == 7
    assert report.mAP == 1.0
    # Class 14's only GT outside the excluded keyframe is at B,0902; 1, 12, 80 are found too.
    assert [(i, ap) for i, _, ap in report.per_class] == [(1, 1.0), (12, 1.0), (14, 1.0), (80, 1.0)]

    lines = out_csv.read_text().splitlines()
    assert len(lines) == report.detection_rows == 7 * 80
    assert lines[0] == f"{A},0902,0.100,0.100,0.400,0.900,1,0.0000"
    assert lines[11] == f"{A},0902,0.100,0.100,0.400,0.900,12,1.0000"
    assert lines[80] == f"{A},0902,0.500,0.200,0.700,0.900,1,0.0000"
    rows = read_detections_csv(out_csv)
    assert [(r.video_id, r.timestamp) for r in rows[::80]] == [
        (A, 902), (A, 902), (A, 903), (A, 904), (B, 902), (B, 903), (B, 903)]
    again = ava_frame_map(data["gt"], out_csv, data["labelmap"], data["excluded"])
    assert again["mAP"] == 1.0

    # Without the exclusion the person at B,0903 is scored too (still perfect); with class 14
    # scored wrongly at B,0902 the AP of 14 drops and the CSV alone gives the same numbers.
    def half_wrong(x, boxes):
        out = oracle(x, boxes)
        out[:, 13] = 1.0 - out[:, 13]
        return out

    report = evaluate_ava(*_inputs(data)[:5], None, engine=FakeEngine(half_wrong),
                          results=tmp_path / "r2.db", out_csv=out_csv, batch_size=3, workers=0,
                          progress=False)
    official = ava_frame_map(data["gt"], out_csv, data["labelmap"])
    assert report.metrics["mAP"] == pytest.approx(official["mAP"], abs=0)
    assert {i: ap for i, _, ap in report.per_class} == official["per_class"]
    assert 0 < dict((i, ap) for i, _, ap in report.per_class)[14] < 1


@pytest.mark.slow
def test_batches_hold_one_frame_size_and_match_single_clip_runs(data, tmp_path: Path) -> None:
    batched = FakeEngine()
    evaluate_ava(*_inputs(data, "boxes_many")[:5], None, engine=batched, results=tmp_path / "b.db",
                 out_csv=tmp_path / "b.csv", batch_size=3, workers=2, progress=False)
    single = FakeEngine()
    evaluate_ava(*_inputs(data, "boxes_many")[:5], None, engine=single, results=tmp_path / "s.db",
                 out_csv=tmp_path / "s.csv", batch_size=1, workers=0, progress=False)
    assert len(single.calls) == 12 and all(shape[0] == 1 for shape, _ in single.calls)
    assert sum(shape[0] for shape, _ in batched.calls) == 12 and len(batched.calls) < 12
    for shape, boxes in batched.calls:
        n = shape[0]
        assert 1 <= n <= 3 and shape[1:3] == (3, 32)
        # One box per clip here: the batch-index column is 0..n-1 in order.
        assert boxes[:, 0].tolist() == list(range(n))
    sizes = {shape[3:] for shape, _ in batched.calls}
    assert sizes == {(224, 336), (336, 224)}  # A and B never share a call
    full_batches = [shape for shape, _ in batched.calls if shape[0] == 3]
    assert full_batches, "workers interleave A and B; full batches of one size must still form"
    a, b = _stored(tmp_path / "b.db"), _stored(tmp_path / "s.db")
    assert a.keys() == b.keys() and len(a) == 13
    for key, (status, boxes, scores) in b.items():
        assert a[key][0] == status
        if status == "ok":
            np.testing.assert_array_equal(a[key][1], boxes)
            np.testing.assert_array_equal(a[key][2], scores)
    assert (tmp_path / "b.csv").read_bytes() == (tmp_path / "s.csv").read_bytes()

    class Asynchronous(FakeEngine):  # as on a CUDA device: submitted to, outputs taken later
        asynchronous = True
        taken_late = 0

        def run(self, x, boxes):
            raise AssertionError("an asynchronous engine is submitted to, not run")

        def submit(self, x, boxes):
            outputs = FakeEngine.run(self, x, boxes)
            started = len(self.calls)

            def result():
                self.taken_late += len(self.calls) > started
                return outputs

            return result

    deferred = Asynchronous()
    evaluate_ava(*_inputs(data, "boxes_many")[:5], None, engine=deferred, results=tmp_path / "d.db",
                 out_csv=tmp_path / "d.csv", batch_size=3, workers=0, progress=False)
    assert deferred.taken_late >= 1  # a later call started before this one's outputs were read
    assert (tmp_path / "d.csv").read_bytes() == (tmp_path / "s.csv").read_bytes()


def test_bad_keyframes_are_recorded_and_the_run_goes_on(data, tmp_path: Path) -> None:
    report = evaluate_ava(*_inputs(data, "boxes_bad"), engine=FakeEngine(),
                          results=tmp_path / "r.db", out_csv=tmp_path / "d.csv", batch_size=2,
                          workers=1, progress=False)
    assert report.total == 7 and report.scored == 5
    failed = dict(report.failed)
    assert set(failed) == {f"{C},0902", f"{C},0903"}
    assert f"{C}_000041.jpg: frame 40" in failed[f"{C},0902"] and "missing" in failed[f"{C},0902"]
    assert f"{C}_000101.jpg: cannot decode" in failed[f"{C},0903"]
    assert all("\n" not in reason for reason in failed.values())
    assert C not in (tmp_path / "d.csv").read_text()
    assert report.mAP is not None  # the metric still runs over the keyframes that were scored
    text = report.render_text()
    assert "5 scored (7 boxes), 2 failed, of 7" in text and f"FAILED {C},0902" in text


def test_report_names_protocol_engine_metric_and_classes(data, tmp_path: Path) -> None:
    report = evaluate_ava(*_inputs(data), engine=FakeEngine(), results=tmp_path / "r.db",
                          out_csv=tmp_path / "d.csv", workers=0, progress=False)
    text = report.render_text()
    for needle in ("slowfast_r50_ava", "official: 32 frames × stride 2 around each keyframe",
                   "fake engine, precision fp32", "frame-mAP@0.5", "ActivityNet 2019",
                   "per-class AP@0.5", "watch (a person)", "decode (workers)"):
        assert needle in text, needle
    data_json = json.loads(json.dumps(report.to_dict()))
    assert data_json["keyframes"] == {"total": 5, "scored": 5, "failed": 0, "boxes": 7}
    assert [c["id"] for c in data_json["per_class"]] == [1, 12, 14, 80]
    assert data_json["metrics"]["mAP"] == pytest.approx(report.mAP)
    markdown = report.render_markdown()
    assert "| frame-mAP@0.5 |" in markdown and "| 80 | watch (a person) |" in markdown
    # PySlowFast's evaluator variant is named in the report when chosen.
    other = evaluate_ava(*_inputs(data), engine=FakeEngine(), results=tmp_path / "r.db",
                         out_csv=tmp_path / "d.csv", workers=0, resume=True, variant="pyslowfast",
                         progress=False)
    assert other.scored_this_run == 0 and "PySlowFast ava_eval_helper" in other.render_text()


def test_malformed_inputs_fail_before_any_keyframe_is_scored(data, tmp_path: Path) -> None:
    def never(x, boxes):
        raise AssertionError("scored although an input is malformed")

    engine = FakeEngine(never)
    bad_gt = write_boxes(tmp_path / "gt.csv", [f"{A},0902,0.1,0.1,0.4,0.9,12,0",
                                               f"{A},0902,0.1,0.1,0.4,0.9,twelve,0"])
    inputs = list(_inputs(data))
    with pytest.raises(AnnotationError, match=r"gt\.csv: line 2: action_id 'twelve'"):
        evaluate_ava(*inputs[:3], bad_gt, *inputs[4:], engine=engine, results=tmp_path / "1.db",
                     out_csv=tmp_path / "1.csv", progress=False)
    bad_map = tmp_path / "map.pbtxt"
    bad_map.write_text('item {\n  name: "stand"\n  id: x\n}\n')
    with pytest.raises(AnnotationError, match=r"map\.pbtxt: line 3"):
        evaluate_ava(*inputs[:4], bad_map, inputs[5], engine=engine, results=tmp_path / "2.db",
                     out_csv=tmp_path / "2.csv", progress=False)
    bad_excluded = write_boxes(tmp_path / "ex.csv", [f"{A},0902,1"])
    with pytest.raises(AnnotationError, match=r"ex\.csv: line 1"):
        evaluate_ava(*inputs[:5], bad_excluded, engine=engine, results=tmp_path / "3.db",
                     out_csv=tmp_path / "3.csv", progress=False)
    bad_boxes = write_boxes(tmp_path / "boxes.csv", [f"{A},0902,0.1,0.1,0.4,0.9,,0.9",
                                                     f"{A},0903,0.1,0.1,0.4,,,0.9"])
    with pytest.raises(AnnotationError, match=r"boxes\.csv: line 2: y2 ''"):
        evaluate_ava(inputs[0], inputs[1], bad_boxes, *inputs[3:], engine=engine,
                     results=tmp_path / "4.db", out_csv=tmp_path / "4.csv", progress=False)
    assert not engine.calls

    # A results file is never overwritten silently, nor continued by another evaluation.
    ok = FakeEngine()
    evaluate_ava(*inputs, engine=ok, results=tmp_path / "5.db", out_csv=tmp_path / "5.csv",
                 workers=0, progress=False)
    with pytest.raises(UsageError, match="pass --resume"):
        evaluate_ava(*inputs, engine=ok, results=tmp_path / "5.db", out_csv=tmp_path / "5.csv",
                     workers=0, progress=False)
    with pytest.raises(UsageError, match="belongs to another evaluation"):
        evaluate_ava(*inputs, engine=FakeEngine(name="other"), results=tmp_path / "5.db",
                     out_csv=tmp_path / "5.csv", resume=True, workers=0, progress=False)


_KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path


    def slow_engine():
        from actionzoo.engines import Engine, EngineInfo

        class Slow(Engine):
            info = EngineInfo("slow-fake", "slow-fake", "cpu", "fp32", label="slow-fake")

            def run(self, x, boxes):
                from helpers import content_scores

                time.sleep(0.25)
                return content_scores(x, boxes)

        return Slow()


    def main():
        sys.path.insert(0, sys.argv[1])
        from actionzoo.ava.evaluate import evaluate_ava
        from actionzoo.errors import ActionZooError

        root, db, out, mode = Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
        try:
            report = evaluate_ava(root / "frames", root / "frame_lists" / "val.csv",
                                  root / "boxes_many.csv", root / "gt.csv", root / "labelmap.pbtxt",
                                  root / "excluded.csv", engine=slow_engine(), results=db, out_csv=out,
                                  batch_size=2, workers=1, resume=mode == "resume", progress=False)
        except ActionZooError as error:
            print(error, file=sys.stderr)
            sys.exit(2)
        print(report.render_text())


    if __name__ == "__main__":  # decode workers start from a fork server, which imports this file
        main()
""")


def _rows(db: Path) -> int:
    try:
        with sqlite3.connect(db) as con:
            return con.execute("SELECT COUNT(*) FROM keyframes").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_kill_9_then_resume_matches_an_uninterrupted_run(data, tmp_path: Path) -> None:
    script = tmp_path / "run_eval.py"
    script.write_text(_KILL_SCRIPT)
    root = data["frames"].parent

    def start(db: Path, out: Path, mode: str, to_kill: bool = False):
        # one thread each (the same arithmetic in every run)
        return start_cli([str(Path(__file__).parent), str(root), str(db), str(out), mode],
                         program=[str(script)], to_kill=to_kill)

    full = start(tmp_path / "full.db", tmp_path / "full.csv", "new")  # beside the others

    killed_db, killed_csv = tmp_path / "killed.db", tmp_path / "killed.csv"
    proc = start(killed_db, killed_csv, "new", to_kill=True)
    deadline = time.time() + 120
    while _rows(killed_db) < 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # main process and its decode worker
    proc.wait()
    interrupted_at = _rows(killed_db)
    assert 0 < interrupted_at < 13, "the run must be killed part-way"
    assert not killed_csv.exists()  # no CSV from an unfinished run

    again = finish_cli(start(killed_db, killed_csv, "new"), timeout=300)
    assert again.returncode == 2 and "pass --resume" in again.stderr
    resumed = finish_cli(start(killed_db, killed_csv, "resume"), timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    full = finish_cli(full, timeout=300)
    assert full.returncode == 0, full.stderr

    done, want = _stored(killed_db), _stored(tmp_path / "full.db")
    assert len(done) == 13 and done.keys() == want.keys()
    for key, (status, boxes, scores) in want.items():
        assert done[key][0] == status
        if status == "ok":
            np.testing.assert_array_equal(done[key][2], scores)
    assert killed_csv.read_bytes() == (tmp_path / "full.csv").read_bytes()
    assert "12 scored (12 boxes), 1 failed, of 13" in resumed.stdout
    map_line = [line for line in full.stdout.splitlines() if line.startswith("frame-mAP")]
    assert map_line and map_line[0] in resumed.stdout


@pytest.mark.slow
def test_real_model_end_to_end(data, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("slowfast_r50_ava")
    boxes = write_boxes(tmp_path / "boxes.csv", [
        f"{A},0902,0.100,0.100,0.400,0.900,,0.9", f"{A},0902,0.500,0.200,0.700,0.900,,0.9",
        f"{A},0903,0.120,0.100,0.420,0.900,,0.9", f"{B},0902,0.250,0.250,0.750,0.750,,0.9"])
    out_csv = tmp_path / "detections.csv"
    report = evaluate_ava(data["frames"], data["frame_list"], boxes, data["gt"], data["labelmap"],
                          data["excluded"], engine=TorchEngine(model), results=tmp_path / "r.db",
                          out_csv=out_csv, batch_size=2, workers=1, progress=False)
    assert report.scored == 3 and report.boxes == 4 and not report.failed
    assert report.mAP is not None and 0.0 <= report.mAP <= 1.0
    official = ava_frame_map(data["gt"], out_csv, data["labelmap"], data["excluded"])
    assert report.mAP == official["mAP"]

    stored = _stored(tmp_path / "r.db")
    rows = read_detections_csv(out_csv)
    assert len(rows) == 4 * 80
    written = np.array([r.score for r in rows]).reshape(4, 80)
    scores = np.concatenate([stored[k][2] for k in (f"{A},0902", f"{A},0903", f"{B},0902")])
    assert ((scores >= 0) & (scores <= 1)).all()
    np.testing.assert_allclose(written, scores, atol=5.0001e-5)

    # A,0903 was clip 1 of a batch of two: alone it must score the same.
    test_set = load_test_set(data["frames"], data["frame_list"], boxes)
    x, pixel_boxes, _ = load_keyframe(test_set, 1)
    rois = torch.from_numpy(np.concatenate([np.zeros((1, 1), np.float32), pixel_boxes], axis=1))
    with torch.inference_mode():
        alone = model(torch.from_numpy(x)[None], rois).numpy()
    np.testing.assert_allclose(stored[f"{A},0903"][2], alone, rtol=1e-4, atol=1e-5)


# -------------------------------------------------------------------------------------- detect


def _write_video(path: Path, count: int = 90, size: tuple[int, int] = (64, 96)) -> None:
    rng = np.random.default_rng(3)
    base = cv2.GaussianBlur(rng.integers(0, 256, (*size, 3), dtype=np.uint8), (7, 7), 0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for n in range(count):
            frame = av.VideoFrame.from_ndarray(np.roll(base, n, axis=1), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_detect_draws_labelled_keyframes(tmp_path: Path) -> None:
    video = tmp_path / "myclip.mp4"
    _write_video(video)
    proposals = write_boxes(tmp_path / "props.csv", [
        "myclip,0001,0.100,0.100,0.400,0.900,,0.95", "myclip,0002,0.500,0.200,0.800,0.800,,0.90",
        "myclip,0005,0.1,0.1,0.2,0.2,,0.9",  # frame 150: past the end of the video
        "myclip,0003,0.1,0.1,0.2,0.2,,0.5",  # below the 0.8 box threshold
        "other,0001,0.1,0.1,0.2,0.2,,0.9"])
    labelmap = tmp_path / "labels.pbtxt"
    labelmap.write_text(_labelmap_text({12: "stand", 14: "walk", 80: "watch (a person)"}))

    def scores(x, boxes):
        out = np.full((len(boxes), 80), 0.1, np.float32)
        out[:, 11], out[:, 79], out[:, 13], out[:, 1] = 0.9, 0.6, 0.4, 0.95  # 2: not in the map
        return out

    engine = FakeEngine(scores)
    report = detect(video, proposals, tmp_path / "out", engine=engine, labelmap=labelmap,
                    image_format="png", batch_size=2)
    assert report.video_id == "myclip"  # picked by the file name
    assert [(k.second, k.frame_index) for k in report.keyframes] == [(1, 30), (2, 60)]
    assert [s for s, _ in report.skipped] == [5]
    assert len(engine.calls) == 1 and engine.calls[0][0] == (2, 3, 32, 224, 336)
    assert report.keyframes[0].labels == [[(12, "stand", pytest.approx(0.9)),
                                           (80, "watch (a person)", pytest.approx(0.6))]]
    image = cv2.imread(str(report.keyframes[0].image))[..., ::-1]
    assert report.keyframes[0].image.name == "myclip_0001.png" and image.shape == (64, 96, 3)
    raw = VideoFile(video).read([30])[0]
    np.testing.assert_array_equal(image[40:, 45:], raw[40:, 45:])  # untouched away from the box
    assert (image[10:58, 9:11] != raw[10:58, 9:11]).any()  # the box's left edge is drawn
    assert len(read_detections_csv(report.detections_csv)) == 2 * 80
    assert "0005 skipped: maps to frame 150" in report.render_text()

    # The frame rule: floor((t - start_second) * fps), exact.
    assert keyframe_frame_index(902, 30, 900) == 60
    assert keyframe_frame_index(1, "29.97") == 29 and keyframe_frame_index(10, "29.97") == 299
    # Which keys: an explicit id, else the file name, else the only id in the file.
    renamed = tmp_path / "clip.mp4"
    renamed.write_bytes(video.read_bytes())
    with pytest.raises(UsageError, match=r"props\.csv: boxes of 2 videos \(myclip, other\)"):
        detect(renamed, proposals, tmp_path / "o2", engine=engine)
    other = detect(renamed, proposals, tmp_path / "o3", engine=engine, video_id="other")
    assert [k.frame_index for k in other.keyframes] == [30]
    assert other.keyframes[0].image.suffix == ".jpg"
    # Without a label map every class is named by its id.
    assert other.keyframes[0].labels[0][0] == (2, "action 2", pytest.approx(0.95))
    with pytest.raises(UsageError, match="no keyframe of video id other falls inside"):
        detect(renamed, proposals, tmp_path / "o4", engine=engine, video_id="other",
               start_second=900)


@pytest.mark.slow
def test_without_batch_and_workers_eval_measures_both_and_scores_do_not_change(
        data, tmp_path: Path, monkeypatch, capsys) -> None:
    """As for a recognizer: the fastest batch and the fewest decode workers that keep the engine
    fed, measured here (a real worker reading two neighbouring keyframes), said, and carried in
    the report; the CSV is the one a given batch and worker count write."""
    from actionzoo.engines import worker_count

    monkeypatch.setenv("ACTIONZOO_TUNING", "on")
    monkeypatch.setenv("ACTIONZOO_CACHE", str(tmp_path / "cache"))
    probed: list[list[int]] = []
    measure = worker_count._data_seconds_per_view

    def spy(probes):
        probes = list(probes)
        probed.extend(list(p.todo) for p in probes)
        return measure(probes)

    monkeypatch.setattr(worker_count, "_data_seconds_per_view", spy)
    measured = evaluate_ava(*_inputs(data), engine=FakeEngine(), results=tmp_path / "m.db",
                            out_csv=tmp_path / "m.csv", batch_size=None, workers=None,
                            progress=False)
    out = capsys.readouterr().out
    # the fastest batch, or, when it would pad the 5 keyframes, the one that ends them soonest
    assert "views per engine call: the fastest here" in out or \
        "views per engine call: the soonest here for this run's 5 views" in out
    assert measured.workers_how.startswith("measured: model ") and "a worker " in measured.workers_how
    assert f"decode worker{'s' if measured.workers != 1 else ''}: measured: " in out
    assert 0 <= measured.workers <= 2 and measured.batch_size in (1, 2, 4, 8, 16)
    assert probed[0] == [0, 1]  # A's 902 and 903: the second is timed with 902's frames at hand
    given = evaluate_ava(*_inputs(data), engine=FakeEngine(), results=tmp_path / "g.db",
                         out_csv=tmp_path / "g.csv", batch_size=3, workers=0, progress=False)
    assert given.workers_how is None
    assert (tmp_path / "m.csv").read_bytes() == (tmp_path / "g.csv").read_bytes()
    assert measured.mAP == given.mAP
