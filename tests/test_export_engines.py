"""Export every recognizer to ONNX and run the graph in real ONNX Runtime / OpenVINO sessions."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

import actionzoo
from actionzoo.cli.main import main
from actionzoo.engines import (
    OnnxRuntimeEngine,
    OpenVinoEngine,
    TorchEngine,
    create_engine,
)
from actionzoo.errors import UsageError
from actionzoo.data.examples import example_inputs
from actionzoo.export import (
    VERIFY_TOLERANCE,
    export_model,
    verify_engine,
)
from actionzoo.zoo.registry import get_model_spec

# Every recognizer in the registry (the detector has its own test below).
NAMES = [n for n in actionzoo.list_models() if get_model_spec(n).task == "recognition"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    """name -> (path, model): each recognizer exported once for the module (random weights,
    seed 0, dynamic shapes, traced at the official view), for every test that needs its graph."""
    folder, done = tmp_path_factory.mktemp("exported"), {}

    def export(name: str):
        if name not in done:
            torch.manual_seed(0)
            done[name] = export_model(name, folder / f"{name}.onnx", protocol="official")
        return done[name]
    return export


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_exported_graph_matches_pytorch(exported, name: str) -> None:
    path, model = exported(name)
    graph = onnx.load(str(path))
    batch_dim = graph.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param == "batch"  # dynamic batch axis
    # No in-place slice assignment survives as ScatterND (the TSM shift trap).
    assert not any(n.op_type == "ScatterND" for n in graph.graph.node)

    protocol = get_model_spec(name).protocol("official")
    # batch 1 and 2: the dynamic axis really is dynamic
    batches = [example_inputs(protocol, 1, seed=1), example_inputs(protocol, 2, seed=2)]
    report = verify_engine(TorchEngine(model), OnnxRuntimeEngine(path), batches)
    assert report.num_inputs == 3
    assert report.relative_diff <= VERIFY_TOLERANCE, report.render()
    assert report.passed and report.top1_agreement == 1.0


@pytest.fixture(scope="module")
def x3d_export(exported):
    """(path, model) of one X3D-S export with random weights, for the tests that need any graph."""
    return exported("x3d_s_k400")


@pytest.mark.slow
def test_openvino_runs_f32_unless_asked_and_reports_precision(x3d_export) -> None:
    path, model = x3d_export
    protocol = get_model_spec("x3d_s_k400").protocol("official")
    engine = OpenVinoEngine(path)
    assert engine.precision == "fp32"
    assert "fp32" in engine.describe()
    report = verify_engine(TorchEngine(model), engine, [example_inputs(protocol, 2)])
    assert report.passed, report.render()
    reduced = OpenVinoEngine(path, precision="bf16")
    # bf16 only exists on CPUs with bf16 units; whatever the CPU gives is what is reported.
    assert reduced.precision in {"bf16", "fp32"}
    assert reduced.precision in reduced.describe()


@pytest.mark.slow
def test_verification_fails_a_wrong_graph(x3d_export) -> None:
    path, _ = x3d_export
    other = actionzoo.build_model("x3d_s_k400")  # different random weights
    protocol = get_model_spec("x3d_s_k400").protocol("official")
    report = verify_engine(TorchEngine(other), OnnxRuntimeEngine(path), [example_inputs(protocol, 2)])
    assert not report.passed
    assert report.render().startswith("FAIL")


def test_engine_errors_are_clear(tmp: Path) -> None:
    with pytest.raises(UsageError, match="unknown engine 'tensorflow'"):
        create_engine("tensorflow", model_file=tmp / "m.onnx")
    with pytest.raises(UsageError, match="needs an exported model file"):
        create_engine("onnxruntime")
    with pytest.raises(UsageError, match="m.onnx: no such model file"):
        create_engine("openvino", model_file=tmp / "m.onnx")
    with pytest.raises(UsageError, match="not available here"):
        OnnxRuntimeEngine(tmp / "m.onnx", providers=["TensorrtExecutionProvider"])


@pytest.mark.slow
def test_cli_export_then_verify(tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp / "x3d.onnx"
    assert main(["export", "x3d_s_k400", "-o", str(out), "--protocol", "ascend",
                 "--num-random", "1", "--report", str(tmp / "v.json")]) == 0
    text = capsys.readouterr()
    assert "PASS  onnxruntime" in text.out
    assert "RANDOM" in text.err
    # verifying against a model with other weights must FAIL with a non-zero exit
    assert main(["verify", "x3d_s_k400", "--model-file", str(out), "--protocol", "ascend",
                 "--num-random", "1"]) == 1
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.slow
def test_export_at_an_input_size_traces_verifies_and_pins_there(tmp: Path, capsys) -> None:
    # A model trained with `train --input-size 64` is exported, checked and pinned at 64, not 256.
    static = tmp / "static.onnx"
    assert main(["export", "r2plus1d_r34_8x8x1_ucf101", "-o", str(static), "--input-size", "64",
                 "--static", "--num-random", "1"]) == 0
    out = capsys.readouterr().out
    assert "static 8x64x64" in out and "at input size 64" in out
    assert "PASS  onnxruntime" in out and "(1 shapes: 8x64x64)" in out
    shape = onnx.load(str(static)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in shape] == ["batch", 3, 8, 64, 64]
    assert main(["verify", "r2plus1d_r34_8x8x1_ucf101", "--model-file", str(static), "--static",
                 "--input-size", "64", "--num-random", "1"]) == 1  # other random weights: FAIL
    assert "(1 shapes: 8x64x64)" in capsys.readouterr().out
    # A PySlowFast recognizer pools over a window its crop fixes: one line, nothing written.
    assert main(["export", "x3d_s_k400", "-o", str(tmp / "x3d.onnx"), "--input-size", "64"]) == 2
    assert "has one input size" in capsys.readouterr().err
    assert not (tmp / "x3d.onnx").exists()


@pytest.mark.slow
def test_ava_detector_exports_with_dynamic_batch_and_box_count(tmp: Path) -> None:
    path, model = export_model("slowfast_r50_ava", tmp / "ava.onnx")
    graph = onnx.load(str(path))
    assert [n.op_type for n in graph.graph.node].count("RoiAlign") == 2  # one per pathway
    inputs = {i.name: i.type.tensor_type.shape.dim for i in graph.graph.input}
    assert inputs["video"][0].dim_param == "batch" and inputs["boxes"][0].dim_param == "boxes"
    assert [d.dim_param for d in inputs["video"][3:]] == ["height", "width"]  # full frames vary
    protocol = get_model_spec("slowfast_r50_ava").protocol("official")
    batches = [example_inputs(protocol, 1, seed=1, boxes_per_clip=3),
               example_inputs(protocol, 2, seed=2, boxes_per_clip=1, frame_size=(224, 336))]
    for engine in (OnnxRuntimeEngine(path), OpenVinoEngine(path)):
        report = verify_engine(TorchEngine(model), engine, batches)
        assert report.num_inputs == 5 and report.passed, report.render()


@pytest.mark.slow
def test_an_export_for_256_runs_a_224_clip_and_static_pins_the_shape(tmp: Path, exported) -> None:
    # The user's case: SlowFast exported for the 256 protocol, run on the 224 centre-crop one.
    name = "slowfast_r50_8x8x1_k400"
    spec = get_model_spec(name)
    path, model = exported(name)  # traced at the official (256) view
    dims = [d.dim_param for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "", "time", "height", "width"]
    batches = [example_inputs(spec.protocol("ascend"), 1, seed=3),
               example_inputs(spec.protocol("official"), 1, seed=4)]
    report = verify_engine(TorchEngine(model), OnnxRuntimeEngine(path), batches)
    assert report.passed, report.render()

    static, _ = export_model(name, tmp / "static.onnx", protocol="official", static=True, net=model)
    shape = onnx.load(str(static)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in shape] == ["batch", 3, 32, 256, 256]
    with pytest.raises(Exception, match="dimension|Got invalid"):
        OnnxRuntimeEngine(static).run(*batches[0])


@pytest.mark.slow
def test_cli_export_verifies_on_two_shapes(tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "r2plus1d_r34_8x8x1_ucf101", "-o", str(tmp / "r.onnx"),
                 "--num-random", "1"]) == 0
    out = capsys.readouterr().out
    assert "dynamic batch, height, width, time" in out
    assert "PASS  onnxruntime" in out and "2 shapes: 8x256x256, 8x224x288" in out


@pytest.mark.slow
def test_the_engine_table_and_what_each_engine_reports(tmp: Path, x3d_export) -> None:
    from actionzoo.engines import ENGINES, engine_kind

    assert {k for k, kind in ENGINES.items() if kind.needs_model} == {"pytorch", "pytorch-compile"}
    assert engine_kind("openvino").precisions == ("fp32", "bf16", "fp16", "int8")
    with pytest.raises(UsageError, match="runs fp32, not 'bf16'"):
        create_engine("onnxruntime", model_file=tmp / "m.onnx", precision="bf16")
    path, model = x3d_export
    infos = [create_engine("pytorch", model=model).info,
             create_engine("onnxruntime", model_file=path).info,
             create_engine("openvino", model_file=path).info]
    assert [i.key() for i in infos] == [
        {"engine": "pytorch", "provider": "eager", "device": "cpu", "precision": "fp32"},
        {"engine": "onnxruntime", "provider": "CPUExecutionProvider", "device": "cpu",
         "precision": "fp32"},
        {"engine": "openvino", "provider": "CPU plugin", "device": "cpu", "precision": "fp32"},
    ]
    broken = tmp / "broken.onnx"
    broken.write_bytes(b"not a model")
    for engine in ("onnxruntime", "openvino"):
        with pytest.raises(UsageError, match="broken.onnx: .* cannot load this model"):
            create_engine(engine, model_file=broken)
