"""``actionzoo demo``: the whole flow on synthetic videos, with nothing to download, and numbers
that mean something: the model is trained first.

1. Write a labelled synthetic set (4 classes) and a held-out set of other videos of the same classes.
2. Score the held-out set with the untrained model (chance), then train by the model's recipe for a
   few epochs (``actionzoo.train``), validating on the held-out set.
3. Export the trained model to ONNX and verify it against PyTorch on two input shapes.
4. Evaluate the held-out set through ONNX Runtime and PyTorch; the two must agree video by video.
5. Benchmark the model alone across batch sizes.

``--checkpoint`` starts from those weights instead (fine-tuning; the classifier is re-sized to the
4 synthetic classes). Recognizers whose pooling adapts to the input train at 64 x 64; the
PySlowFast models at their recipe's own crop.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import torch

from actionzoo.engines.throughput import bench_engine, plot_rows, render_rows, write_rows
from actionzoo.data.annotations import read_video_list
from actionzoo.data.synthetic import write_synthetic_videos
from actionzoo.engines.registry import create_engine
from actionzoo.errors import UsageError
from actionzoo.evaluation.recognition import evaluate_records
from actionzoo.evaluation.store import ResultsStore
from actionzoo.data.examples import example_inputs
from actionzoo.export.onnx import export_model, verification_shapes
from actionzoo.export.verify import verify_engine
from actionzoo.fileio.atomic import write_text_atomic
from actionzoo.runtime.precisions import Precision
from actionzoo.training import TrainConfig, train
from actionzoo.training.config import INIT_NONE
from actionzoo.training.initialize import initial_model
from actionzoo.zoo.registry import build_model, get_model_spec
from actionzoo.zoo.spec import Task

__all__ = ["run_demo"]

NUM_CLASSES = 4


def _say(text: str) -> None:
    print(text, flush=True)


def _evaluate(records, spec, protocol, engine, db: Path) -> tuple[dict, dict[str, int]]:
    db.unlink(missing_ok=True)
    config = {"model": spec.name, "protocol": protocol.describe(), **engine.info.key()}
    with ResultsStore(db, config, resume=False) as store:
        report = evaluate_records(records, model_name=spec.name, protocol=protocol, engine=engine,
                                  store=store, batch_size=4, workers=1, progress=False)
        top1 = {r.video_id: int(r.scores.argmax()) for r in store.results() if r.scores is not None}
    _say("   " + report.render_text().replace("\n", "\n   "))
    return report.to_dict(), top1


def run_demo(
    out: Path,
    *,
    model_name: str = "x3d_s_k400",
    checkpoint: str | None = None,
    trusted: bool = False,
    epochs: int = 6,
) -> int:
    started = time.perf_counter()
    spec = get_model_spec(model_name)
    if spec.task is not Task.RECOGNITION:
        raise UsageError(f"the demo trains recognizers; {spec.name} is a detector (see "
                         "`actionzoo train slowfast_r50_ava` and `actionzoo detect`)")
    adaptive = spec.recipe.pipeline.any_size
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "train", ignore_errors=True)  # the demo's own run, redone each time
    start = f"fine-tuning {checkpoint}" if checkpoint else "the reference initialisation"
    if not checkpoint and spec.recipe.starts_from:  # a demo on synthetic classes: scratch, said aloud
        start += f" (from scratch; the reference starts from {spec.recipe.starts_from})"
    _say(f"actionzoo demo: {spec.name}, trained on synthetic classes from {start}\n")

    _say("1. writing synthetic labelled videos (a training set and a held-out set)")
    data = out / "data"
    train_set = write_synthetic_videos(data, num_classes=NUM_CLASSES, videos_per_class=8,
                                       num_frames=48, size=(64, 86))
    held = write_synthetic_videos(data, num_classes=NUM_CLASSES, videos_per_class=4, num_frames=48,
                                  size=(64, 86), first=100, annotation_name="heldout.txt")
    records = read_video_list(held.annotation, data, class_names=held.class_names).records
    _say(f"   {train_set.num_videos} training and {held.num_videos} held-out videos under {data}\n")

    config = TrainConfig(
        spec.name, out / "train", ann=train_set.annotation, data_root=data,
        val_ann=held.annotation, class_names=train_set.class_names, num_classes=NUM_CLASSES,
        init=Path(checkpoint) if checkpoint else INIT_NONE, trust_checkpoint=trusted, epochs=epochs,
        batch_size=8, workers=1, input_size=64 if adaptive else None,
        lr=0.003 if adaptive else None, precise_bn_batches=4, val_every=max(1, epochs // 2),
    )
    from actionzoo.training.config import plan_training

    plan = plan_training(config, spec, num_classes=NUM_CLASSES, class_names=None,
                         train_samples=train_set.num_videos, world_size=1)
    protocol = plan.val_protocol
    _say(f"2. the untrained model on the held-out set [{protocol.describe()}]")
    untrained, _ = initial_model(spec, NUM_CLASSES, config.init, trusted=trusted)
    before, _ = _evaluate(records, spec, protocol, create_engine("pytorch", model=untrained),
                          out / "before.db")
    _say(f"\n   training for {epochs} epochs by the {spec.name} recipe")
    result = train(config)
    weights = result.best or result.last
    _say("")

    _say("3. exporting the trained model to ONNX and verifying it against PyTorch")
    model = build_model(spec, weights)
    onnx_path, model = export_model(spec, out / f"{spec.name}.onnx", net=model,
                                    protocol="official")
    shapes = verification_shapes(spec, "official")
    c, t, h, w = protocol.view_shape
    shapes = [(t, h, w)] + [s for s in shapes if s != (t, h, w)][:1]
    torch_engine = create_engine("pytorch", model=model)
    ort_engine = create_engine("onnxruntime", model_file=onnx_path)
    batches = [example_inputs(protocol, 2, seed=i, num_frames=st, frame_size=(sh, sw))
               for i, (st, sh, sw) in enumerate(shapes)]
    verification = verify_engine(torch_engine, ort_engine, batches,
                                 inputs=f"random ({', '.join('x'.join(map(str, s)) for s in shapes)})")
    _say(f"   {onnx_path}\n   {verification.render()}\n")

    _say("4. evaluating the held-out set through ONNX Runtime and PyTorch")
    reports, top1 = {}, {}
    for engine in (ort_engine, torch_engine):
        reports[engine.name], top1[engine.name] = _evaluate(records, spec, protocol, engine,
                                                            out / f"results-{engine.name}.db")
        _say("")
    agree = top1["onnxruntime"] == top1["pytorch"]
    _say(f"   per-video top-1, ONNX Runtime vs PyTorch: {'identical' if agree else 'DIFFERENT'} "
         f"on {len(top1['pytorch'])} videos")
    accuracy = reports["pytorch"]["metrics"]["top1"]
    _say(f"   held-out top-1: {100 * before['metrics']['top1']:.1f}% untrained -> "
         f"{100 * accuracy:.1f}% trained (chance {100 / NUM_CLASSES:.0f}%)\n")

    _say("5. benchmarking the model alone (clips/s per batch size)")
    from actionzoo.bench.roofline import count_gflop, matmul_peak_gflops

    work = count_gflop(model.eval(), *map(torch.from_numpy, example_inputs(protocol, 1)))
    rows = []
    for engine in (ort_engine, torch_engine):
        rows += bench_engine(engine, spec.name, lambda b: example_inputs(protocol, b), [1, 2, 4],
                             warmup=1, min_iterations=3, min_seconds=1.0, gflop_per_clip=work,
                             peak_gflops=matmul_peak_gflops(Precision.FP32, engine.info.threads))
    _say(render_rows(rows))
    write_rows(rows, out / "bench.csv")
    plot_rows(rows, out / "bench.png", title=f"{spec.name} ({protocol.summary})")
    summary = {"model": spec.name, "trained_weights": str(weights), "verification":
               verification.to_dict(), "evaluation": reports, "untrained": before,
               "engines_agree_top1": agree, "seconds": time.perf_counter() - started}
    write_text_atomic(out / "demo.json", json.dumps(summary, indent=2, default=str) + "\n")
    _say(f"\nwrote {out / 'bench.csv'}, {out / 'bench.png'}, {out / 'demo.json'}, curves in "
         f"{result.work_dir / 'curves.png'} ({summary['seconds']:.0f} s in all)")
    return 0 if verification.passed and agree else 1
