"""``actionzoo demo``: the whole flow on synthetic videos, with nothing to download.

Writes a small labelled video set, exports the model to ONNX and verifies the export, evaluates the
set through ONNX Runtime and through PyTorch (the two must agree video by video), and benchmarks the
model across batch sizes. Without ``--checkpoint`` the weights are random, and the demo says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from actionzoo.bench.throughput import bench_engine, plot_rows, render_rows, write_rows
from actionzoo.data.annotations import read_video_list
from actionzoo.data.synthetic import write_synthetic_videos
from actionzoo.engines.onnxruntime import OnnxRuntimeEngine
from actionzoo.engines.pytorch import TorchEngine
from actionzoo.evaluation.recognition import evaluate_records
from actionzoo.evaluation.store import ResultsStore
from actionzoo.export.examples import example_inputs
from actionzoo.export.onnx import export_model
from actionzoo.export.verify import verify_engine
from actionzoo.zoo.registry import get_model_spec

__all__ = ["run_demo"]


def _say(text: str) -> None:
    print(text, flush=True)


def run_demo(
    out: Path,
    *,
    model_name: str = "x3d_s_k400",
    checkpoint: str | None = None,
    trusted: bool = False,
    protocol_name: str = "official",
) -> int:
    spec = get_model_spec(model_name)
    protocol = spec.protocol(protocol_name)
    out.mkdir(parents=True, exist_ok=True)
    weights = checkpoint or "RANDOM weights (no --checkpoint given): accuracy is at chance"
    _say(f"actionzoo demo: {spec.name} [{protocol.describe()}]\nweights: {weights}\n")

    _say("1. writing synthetic labelled videos")
    data = write_synthetic_videos(out / "data", num_classes=4, videos_per_class=1)
    annotations = read_video_list(data.annotation, data.root, class_names=data.class_names)
    _say(f"   {data.num_videos} videos under {data.root}, list {data.annotation}\n")

    _say("2. exporting to ONNX and verifying against PyTorch")
    onnx_path, model = export_model(spec.name, out / f"{spec.name}.onnx", checkpoint=checkpoint,
                                    protocol=protocol_name, trusted=trusted)
    torch_engine = TorchEngine(model)
    ort_engine = OnnxRuntimeEngine(onnx_path)
    verification = verify_engine(torch_engine, ort_engine,
                                 [example_inputs(protocol, 2, seed=s) for s in range(2)])
    _say(f"   {onnx_path}\n   {verification.render()}\n")

    _say("3. evaluating through ONNX Runtime and PyTorch")
    reports = {}
    top1 = {}
    for engine in (ort_engine, torch_engine):
        db = out / f"results-{engine.name}.db"
        db.unlink(missing_ok=True)
        config = {"model": spec.name, "protocol": protocol.describe(), **engine.info.key(),
                  "weights": str(checkpoint or "random")}
        with ResultsStore(db, config, resume=False) as store:
            report = evaluate_records(annotations.records, model_name=spec.name, protocol=protocol,
                                      engine=engine, store=store, batch_size=4, workers=1)
            top1[engine.name] = {r.video_id: int(r.scores.argmax()) for r in store.results()
                                 if r.scores is not None}
        reports[engine.name] = report.to_dict()
        _say(report.render_text() + "\n")
    agree = top1["onnxruntime"] == top1["pytorch"]
    _say(f"   per-video top-1, ONNX Runtime vs PyTorch: {'identical' if agree else 'DIFFERENT'} "
         f"on {len(top1['pytorch'])} videos\n")

    _say("4. benchmarking the model alone (clips/s per batch size)")
    rows = []
    for engine in (ort_engine, torch_engine):
        rows += bench_engine(engine, spec.name, lambda b: example_inputs(protocol, b), [1, 2, 4],
                             warmup=1, min_iterations=3, min_seconds=1.0)
    _say(render_rows(rows))
    write_rows(rows, out / "bench.csv")
    plot_rows(rows, out / "bench.png", title=f"{spec.name} ({protocol.summary})")
    (out / "demo.json").write_text(json.dumps({"verification": verification.to_dict(),
                                               "evaluation": reports,
                                               "engines_agree_top1": agree}, indent=2) + "\n")
    _say(f"\nwrote {out / 'bench.csv'}, {out / 'bench.png'}, {out / 'demo.json'}")
    if checkpoint is None:
        _say("reminder: these weights are random; pass --checkpoint for real accuracy figures")
    return 0 if verification.passed and agree else 1
