"""Reduced precision with its cost measured: INT8 export through NNCF on a model that learned
something, drift reports checked against figures computed here from the two engines' own results
stores, stores keyed on precision, uint8 upload exact, the PyTorch engine's device settings."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TRAINED_MODEL
from helpers import cpu_runs, random_state, run_in_process

import actionzoo
from actionzoo.data.synthetic import write_synthetic_videos
from actionzoo.errors import UsageError
from actionzoo.precision.drift import compare_scores

SIZE = ["--protocol", "ascend", "--input-size", "64"]  # the size the trained model learned at
# Where this CPU has no fast bf16 kernels the engine refuses bf16 (tests/test_cpu_precision.py).
native_bf16 = pytest.mark.skipif(not cpu_runs("bf16"), reason="this CPU runs torch's bf16 autocast "
                                 "far slower than fp32 (no native kernels); the engine refuses it")


# ------------------------------------------------------------------------------- the figures


def test_drift_figures_by_hand() -> None:
    ref = np.array([[0.1, 0.7, 0.2, 0.0, 0.0, 0.0],
                    [0.5, 0.1, 0.1, 0.1, 0.1, 0.1],
                    [0.0, 0.0, 0.0, 0.1, 0.2, 0.7]])
    cand = ref.copy()
    cand[1] = [0.1, 0.5, 0.1, 0.1, 0.1, 0.1]  # arg-max moves from 0 to 1; the top-5 set too
    cand[2, 5] = 0.65  # a small change that keeps the ranking
    report = compare_scores(ref, cand, reference_name="a", candidate_name="b", precision="int8",
                            inputs="rows", labels=[1, 0, 5])
    assert report.samples == 3
    assert report.max_abs_diff == pytest.approx(0.4)
    assert report.mean_abs_diff == pytest.approx((0.4 + 0.4 + 0.05) / 18)
    assert report.top1_agreement == pytest.approx(2 / 3)
    # row 1: fp32 top-5 {0,1,2,3,4} (stable order among ties), int8 {1,0,2,3,4}: the same set
    assert report.top5_agreement == pytest.approx(1.0)
    assert report.reference_accuracy.top1 == pytest.approx(1.0)
    assert report.candidate_accuracy.top1 == pytest.approx(2 / 3)
    assert "accuracy: top-1 100.00% fp32 -> 66.67% int8" in report.render()
    no_labels = compare_scores(ref, cand, reference_name="a", candidate_name="b", precision="int8",
                               inputs="rows", labels=[1, None, 5])
    assert no_labels.reference_accuracy is None and "no labels" in no_labels.render()
    with pytest.raises(ValueError, match="cannot be compared"):
        compare_scores(ref, cand[:2], reference_name="a", candidate_name="b", precision="int8",
                       inputs="rows")


# ------------------------------------------------------------- INT8 of a model that learned


@pytest.fixture(scope="module")
def int8(trained_slowfast, trained_videos: Path, tmp_path_factory: pytest.TempPathFactory):
    work, trained = trained_slowfast
    assert trained.returncode == 0, trained.stderr[-3000:]
    out = tmp_path_factory.mktemp("int8")
    done = run_in_process(["export", TRAINED_MODEL, "--checkpoint", str(work / "best.pth"),
                    "--precision", "int8", "--calibration", str(trained_videos / "videos.txt"),
                    "--data-root", str(trained_videos), "--calibration-size", "16",
                    "--drift-ann", str(trained_videos / "heldout.txt"), *SIZE, "--workers", "1",
                    "--report", str(out / "report.json"), "-o", str(out / "model.xml")])
    assert done.returncode == 0, done.stderr[-3000:]
    return {"dir": out, "checkpoint": work / "best.pth", "done": done,
            "report": json.loads((out / "report.json").read_text())}


def _eval(videos: Path, results: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_in_process(["eval", TRAINED_MODEL, "--ann", str(videos / "heldout.txt"), "--data-root",
                    str(videos), *SIZE, "--batch-size", "4", "--workers", "1", "--no-progress",
                    "--results", str(results), "--json", str(results.with_suffix(".json")), *extra])


def _scores(db: Path) -> dict[str, np.ndarray]:
    with sqlite3.connect(db) as con:
        return {v: np.frombuffer(blob) for v, blob in
                con.execute("SELECT video_id, scores FROM videos WHERE status = 'ok'")}


@pytest.mark.slow
def test_int8_export_quantizes_on_the_users_videos_and_prints_its_drift(int8) -> None:
    out, stdout = int8["dir"], int8["done"].stdout
    assert (out / "model.xml").is_file() and (out / "model.bin").is_file()
    assert (out / "model.fp32.onnx").is_file()
    assert "quantized slowfast_r50_8x8x1_k400 to INT8 on 16 views of 16 videos" in stdout
    assert "drift of int8 vs fp32 on 16 videos of" in stdout and "heldout.txt" in stdout
    drift = int8["report"]["drift"]
    assert drift["samples"] == 16 and drift["precision"] == "int8"
    assert drift["reference_accuracy"]["top1"] >= 0.75  # the model learned: chance is 0.25
    engine = actionzoo.create_engine("openvino", model_file=out / "model.xml")
    assert engine.info.precision == "int8"  # read back from the file's quantized layers
    assert engine.metadata["model"] == TRAINED_MODEL and engine.metadata["calibration_views"] == "16"
    # its speed against fp32, measured per layer (the verdict line only when INT8 pays < 1.5x)
    assert "INT8 speed on this CPU (OpenVINO, batch 1, profiled)" in stdout
    assert int8["report"]["speed"][0].startswith("INT8 speed on this CPU")


@pytest.mark.slow
def test_drift_report_equals_what_the_two_engines_results_stores_give(int8, trained_videos: Path,
                                                                       tmp: Path) -> None:
    out = int8["dir"]
    fp32 = _eval(trained_videos, tmp / "fp32.db", "--model-file", str(out / "model.fp32.onnx"),
                 "--engine", "openvino")
    assert fp32.returncode == 0, fp32.stderr[-3000:]
    assert "drift" not in fp32.stdout  # fp32: nothing to measure
    low = _eval(trained_videos, tmp / "int8.db", "--model-file", str(out / "model.xml"))
    assert low.returncode == 0, low.stderr[-3000:]
    assert "precision int8" in low.stdout and "drift of int8 vs fp32 on 16 videos" in low.stdout

    a, b = _scores(tmp / "fp32.db"), _scores(tmp / "int8.db")
    assert a.keys() == b.keys() and len(a) == 16
    ref = np.stack([a[k] for k in sorted(a)])
    cand = np.stack([b[k] for k in sorted(a)])
    agreement = float(np.mean(ref.argmax(1) == cand.argmax(1)))
    max_diff = float(np.abs(ref - cand).max())
    labels = [int(line.split()[-1]) for line in (trained_videos / "heldout.txt").read_text().splitlines()]
    names = [line.split()[0] for line in (trained_videos / "heldout.txt").read_text().splitlines()]
    label_of = dict(zip(names, labels))
    acc = float(np.mean([b[k].argmax() == label_of[k] for k in sorted(a)]))

    for drift in (json.loads((tmp / "int8.json").read_text())["drift"], int8["report"]["drift"]):
        assert drift["top1_agreement"] == pytest.approx(agreement, abs=1e-12)
        assert drift["max_abs_diff"] == pytest.approx(max_diff, rel=1e-6)
        assert drift["candidate_accuracy"]["top1"] == pytest.approx(acc, abs=1e-12)
    assert max_diff > 0  # quantization changed the scores: the comparison is not vacuous


@pytest.mark.slow
def test_results_store_keys_on_the_precision_read_back_from_the_engine(int8, trained_videos: Path,
                                                                       tmp: Path) -> None:
    out = int8["dir"]
    first = _eval(trained_videos, tmp / "r.db", "--model-file", str(out / "model.fp32.onnx"),
                  "--engine", "openvino", "--drift-videos", "0")
    assert first.returncode == 0, first.stderr[-3000:]
    # --precision is not given: the file's own precision (int8) is what the store sees
    resumed = _eval(trained_videos, tmp / "r.db", "--model-file", str(out / "model.xml"), "--resume")
    assert resumed.returncode == 2
    assert "belongs to another evaluation (precision was 'fp32', now 'int8')" in resumed.stderr


@pytest.mark.slow
def test_int8_file_without_its_fp32_graph_says_so_or_uses_the_checkpoint(int8, trained_videos: Path,
                                                                         tmp: Path) -> None:
    lone = tmp / "lone"
    lone.mkdir()
    for name in ("model.xml", "model.bin"):
        shutil.copy(int8["dir"] / name, lone / name)
    plain = _eval(trained_videos, tmp / "a.db", "--model-file", str(lone / "model.xml"))
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert "drift vs fp32 not measured:" in plain.stdout and "fp32 graph is unknown" in plain.stdout
    assert json.loads((tmp / "a.json").read_text())["drift"]["measured"] is False
    named = _eval(trained_videos, tmp / "b.db", "--model-file", str(lone / "model.xml"),
                  "--checkpoint", str(int8["checkpoint"]), "--drift-videos", "4")
    assert named.returncode == 0, named.stderr[-3000:]
    assert "reference: pytorch (eager, cpu, fp32" in named.stdout
    assert "drift of int8 vs fp32 on 4 videos" in named.stdout


@pytest.mark.slow
def test_int8_asked_of_a_file_that_is_not_quantized_is_refused(int8, trained_videos: Path, tmp: Path) -> None:
    done = _eval(trained_videos, tmp / "c.db", "--model-file", str(int8["dir"] / "model.fp32.onnx"),
                 "--engine", "openvino", "--precision", "int8")
    assert done.returncode == 2
    assert "model.fp32.onnx: not an INT8 model" in done.stderr


@pytest.mark.slow
@native_bf16
def test_pytorch_bf16_eval_reports_drift_and_accuracy_under_both(trained_slowfast, trained_videos: Path,
                                                                 tmp: Path) -> None:
    work, _ = trained_slowfast
    done = _eval(trained_videos, tmp / "bf16.db", "--checkpoint", str(work / "best.pth"),
                 "--precision", "bf16", "--drift-videos", "8")
    assert done.returncode == 0, done.stderr[-3000:]
    drift = json.loads((tmp / "bf16.json").read_text())["drift"]
    assert drift["measured"] and drift["samples"] == 8 and drift["precision"] == "bf16"
    assert drift["reference"].startswith("pytorch (eager, cpu, fp32")
    assert drift["reference_accuracy"] is not None and drift["candidate_accuracy"] is not None
    assert 0 < drift["max_abs_diff"] < 0.5  # bf16 rounds: some difference, not a different model


# --------------------------------------------------------------------- INT8 per recognizer


RECOGNIZERS = [name for name in actionzoo.list_models()
               if actionzoo.get_model_spec(name).task == "recognition"]


@pytest.fixture(scope="module")
def few_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("few")
    write_synthetic_videos(root, num_classes=2, videos_per_class=1, num_frames=40, size=(64, 86))
    return root


@pytest.mark.slow
@pytest.mark.parametrize("name", RECOGNIZERS)
def test_every_recognizer_quantizes_to_an_int8_ir_that_runs(name: str, few_videos: Path, tmp: Path) -> None:
    from actionzoo.data.annotations import read_video_list
    from actionzoo.engines.openvino import OpenVinoEngine
    from actionzoo.precision.int8 import quantize_int8
    from actionzoo.precision.measure import drift_on_videos

    spec = actionzoo.get_model_spec(name)
    protocol = spec.protocol("official")
    if protocol.uint8_views:  # mmaction2 recognizers run at any size: keep the test small
        protocol = protocol.scaled(64)
    else:  # PySlowFast's have one size: 1 clip x 3 crops instead of 10 x 3 (drift of 3 views, not 30)
        protocol = replace(protocol, pipeline=replace(protocol.pipeline, num_temporal_views=1),
                           summary=f"1 clip × 3 crops × {protocol.pipeline.crop_size}")
    records = read_video_list(few_videos / "videos.txt", few_videos).records
    torch.manual_seed(0)
    result = quantize_int8(spec, tmp / "q.xml", records, net=actionzoo.build_model(spec),
                           protocol=protocol, calibration_size=2, workers=0)
    assert result.calibration_views == 2 and result.calibration_videos == 2
    engine = OpenVinoEngine(result.model_file)
    assert engine.info.precision == "int8" and engine.fp32_reference_file == result.fp32_file
    drift = drift_on_videos(records[:1], protocol, reference=OpenVinoEngine(result.fp32_file),
                            candidate=engine, batch_size=protocol.num_views, workers=0,
                            inputs="videos")
    assert drift.samples == 1 and np.isfinite(drift.max_abs_diff)
    if name == "x3d_s_k400":  # the per-layer profile that says why INT8 does not pay for X3D
        from actionzoo.data.examples import example_inputs
        from actionzoo.precision.layer_profile import compare_profiles, profile_layers

        inputs = example_inputs(protocol, 1)
        fp32, int8 = (profile_layers(f, inputs, rounds=1) for f in (result.fp32_file, result.model_file))
        kinds32, kinds8 = fp32.by_kind(), int8.by_kind()
        assert {"convolution", "depthwise convolution"} <= set(kinds32) & set(kinds8)
        assert kinds8["convolution"][1] > 0 and kinds32["convolution"][1] == 0  # int8 kernels only in INT8
        assert kinds8["quantize/dequantize"][0] > 0 and "quantize/dequantize" not in kinds32
        assert sum(ms for ms, _ in kinds8.values()) == pytest.approx(sum(l.ms for l in int8.layers))
        table = compare_profiles(fp32, int8)
        assert table[0].startswith("layer kind") and table[-1].startswith("one inference (wall)")
        from actionzoo.precision.layer_profile import speed_note

        note = speed_note(fp32, int8, pays_at=1e9)  # as if INT8 never paid: the reasons are listed
        assert note[0].startswith("INT8 speed on this CPU") and "INT8 pays less than" in note[1]
        assert speed_note(fp32, int8, pays_at=0) == note[:1]


@pytest.mark.slow
def test_int8_export_refuses_the_detector_and_a_non_xml_output(few_videos: Path, tmp: Path) -> None:
    from actionzoo.precision.int8 import quantize_int8

    ava = actionzoo.get_model_spec("slowfast_r50_ava")
    with pytest.raises(UsageError, match="INT8 export covers the recognizers"):
        quantize_int8(ava, tmp / "a.xml", [], net=torch.nn.Identity())
    done = run_in_process(["export", "x3d_s_k400", "--precision", "int8", "--calibration",
                    str(few_videos / "videos.txt"), "--data-root", str(few_videos), "-o",
                    str(tmp / "x.onnx")])
    assert done.returncode == 2 and "x.onnx: an INT8 model is saved as OpenVINO IR" in done.stderr
    missing = run_in_process(["export", "x3d_s_k400", "--precision", "int8", "-o", str(tmp / "x.xml")])
    assert missing.returncode == 2 and "needs --calibration, --data-root" in missing.stderr


# -------------------------------------------------------- uint8 upload and device settings


@pytest.mark.slow
def test_uint8_views_normalised_by_the_engine_score_exactly_as_float32(few_videos: Path, tmp: Path) -> None:
    torch.save({"state_dict": random_state("r2plus1d_r34_8x8x1_ucf101")}, tmp / "w.pth")
    common = ["eval", "r2plus1d_r34_8x8x1_ucf101", "--checkpoint", str(tmp / "w.pth"),
              "--ann", str(few_videos / "videos.txt"),
              "--data-root", str(few_videos), "--input-size", "64", "--batch-size", "3",
              "--workers", "1", "--no-progress"]
    floats = run_in_process([*common, "--results", str(tmp / "f.db"), "--upload", "float32"])
    assert floats.returncode == 0, floats.stderr[-3000:]
    uint8 = run_in_process([*common, "--results", str(tmp / "u.db"), "--upload", "uint8"])
    assert uint8.returncode == 0, uint8.stderr[-3000:]
    assert "uint8 upload on" in uint8.stdout
    a, b = _scores(tmp / "f.db"), _scores(tmp / "u.db")
    assert a.keys() == b.keys() and len(a) == 2
    for key in a:
        assert np.array_equal(a[key], b[key]), key  # a table lookup: bit for bit


def test_uint8_views_are_the_float_views_before_normalize(few_videos: Path) -> None:
    from actionzoo.data.transforms import mmaction2_normalize_table
    from actionzoo.data.views import build_views

    video = next((few_videos / "videos").rglob("*.mp4"))
    protocol = actionzoo.get_model_spec("tsm_r50_1x1x8_sthv2").protocol("official").scaled(64)
    floats = build_views(video, protocol).numpy()
    raw = build_views(video, protocol, uint8=True).numpy()
    assert raw.dtype == np.uint8 and raw.shape == floats.shape
    table = mmaction2_normalize_table(protocol.pipeline.mean, protocol.pipeline.std)
    normalised = np.stack([table[:, c][raw[:, c]] for c in range(3)], axis=1)
    assert np.array_equal(normalised, floats)
    pyslowfast = actionzoo.get_model_spec("x3d_s_k400").protocol("official")
    assert not pyslowfast.uint8_views
    with pytest.raises(UsageError, match="exist only as float32"):
        build_views(video, pyslowfast, uint8=True)


def test_scaled_protocols_keep_the_reference_crop_to_short_side_ratio() -> None:
    slowfast = actionzoo.get_model_spec("slowfast_r50_8x8x1_k400")
    center = slowfast.protocol("ascend").scaled(64).pipeline  # CenterCrop 224 of short side 256
    assert (center.crop_size, center.resize_short) == (64, 73)
    three = slowfast.protocol("official").scaled(64).pipeline  # ThreeCrop 256 of short side 256
    assert (three.crop_size, three.resize_short) == (64, 64)
    assert "scaled to 64" in slowfast.protocol("official").scaled(64).summary
    with pytest.raises(UsageError, match="has one input size"):
        actionzoo.get_model_spec("x3d_s_k400").protocol("official").scaled(64)


def test_pytorch_engine_device_settings_are_named_and_change_no_result() -> None:
    from actionzoo.engines.pytorch import TorchEngine

    torch.manual_seed(0)
    net = actionzoo.build_model("r2plus1d_r34_8x8x1_ucf101")
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 64, 64)).astype(np.float32)
    plain = TorchEngine(net).run(x)
    last = TorchEngine(net, channels_last=True)
    assert "channels-last-3d on" in last.info.describe()
    np.testing.assert_allclose(last.run(x), plain, rtol=1e-4, atol=1e-5)
    with pytest.raises(UsageError, match="--cuda-graphs needs a cuda device"):
        TorchEngine(net, cuda_graphs=True)
    with pytest.raises(UsageError, match="pytorch engine settings"):
        actionzoo.create_engine("onnxruntime", model_file=__file__, channels_last=True)


@pytest.mark.slow
@native_bf16
def test_bench_at_a_reduced_precision_prints_and_writes_its_drift(tmp: Path) -> None:
    done = run_in_process(["bench", "r2plus1d_r34_8x8x1_ucf101", "--precision", "bf16", "--input-size", "32",
                    "--batch-sizes", "1", "--min-seconds", "0.1", "--warmup", "0",
                    "--out", str(tmp / "b")])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "drift of bf16 vs fp32 on 8 rows of the benchmark's random inputs" in done.stdout
    payload = json.loads((tmp / "b.json").read_text())
    assert payload["drift"][0]["samples"] == 8 and payload["drift"][0]["precision"] == "bf16"


@pytest.mark.slow
@native_bf16
def test_predict_at_a_reduced_precision_prints_its_drift(few_videos: Path, tmp: Path) -> None:
    torch.save({"state_dict": random_state("r2plus1d_r34_8x8x1_ucf101")}, tmp / "w.pth")
    done = run_in_process(["predict", "r2plus1d_r34_8x8x1_ucf101", str(few_videos / "videos"),
                    "--checkpoint", str(tmp / "w.pth"), "--precision", "bf16", "--input-size", "64",
                    "--batch-size", "3", "--workers", "1", "--no-progress"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "drift of bf16 vs fp32 on 2 predicted videos:" in done.stdout
    assert "reference: pytorch (eager, cpu, fp32" in done.stdout
    assert "accuracy: no labels on these inputs" in done.stdout
    skipped = run_in_process(["predict", "r2plus1d_r34_8x8x1_ucf101", str(few_videos / "videos"),
                       "--checkpoint", str(tmp / "w.pth"), "--precision", "bf16", "--input-size",
                       "64", "--batch-size", "3", "--workers", "1", "--no-progress",
                       "--drift-videos", "0"])
    assert skipped.returncode == 0 and "drift vs fp32 not measured: --drift-videos 0" in skipped.stdout
