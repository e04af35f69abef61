"""INT8 on this CPU, per recognizer: what it costs in accuracy and what it gains in speed.

For each model: train it the way ``actionzoo demo`` does (4 synthetic classes, 32 training videos,
by the model's recipe; mmaction2 models at 64 x 64, PySlowFast ones at their own crop), with the
learning rate and length in ``TRAINING`` that make it learn in a few minutes here (measured; no
flips, because the synthetic classes are directions of motion and a flip swaps two of them), so
that agreement means something; quantize it with ``quantize_int8`` (NNCF, calibration views from
the training videos); measure the drift on 16 held-out videos through the evaluation loop (scores
per video, views combined, at the size it was trained at); then time OpenVINO fp32 against
OpenVINO INT8 on random inputs at the official view shape, batch 1 and 4, interleaved rounds.

    python benchmarks/int8_drift.py [--models m1,m2] [--epochs 6] [--rounds 3] \
        [--out docs/bench/int8.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from actionzoo.engines.throughput import machine_info
from actionzoo.data.annotations import read_video_list
from actionzoo.data.synthetic import write_synthetic_videos
from actionzoo.engines.openvino import OpenVinoEngine
from actionzoo.data.examples import example_inputs
from actionzoo.precision.int8 import quantize_int8
from actionzoo.precision.measure import drift_on_videos
from actionzoo.training import TrainConfig, train
from actionzoo.training.config import plan_training
from actionzoo.zoo.recipes import MMAction2TrainPipeline
from actionzoo.zoo.registry import build_model, get_model_spec, list_models

NUM_CLASSES = 4
#: (learning rate, epochs) per model; None: the recipe's rate scaled to batch 8. Held-out top-1
#: after these (measured while choosing them): SlowFast 0.003/6 >= 90 % (tests/test_training.py),
#: R(2+1)D 0.01/12 81 %, TSM 0.01/12 88 %, X3D-S recipe/6 100 % (the demo).
TRAINING = {
    "slowfast_r50_8x8x1_k400": (0.003, 6),
    "r2plus1d_r34_8x8x1_ucf101": (0.01, 12),
    "tsm_r50_1x1x8_sthv2": (0.01, 12),
    "x3d_s_k400": (None, 6),
    "slowfast_r50_8x8_k400_pyslowfast": (None, 6),
}


def _data(root: Path):
    train_set = write_synthetic_videos(root, num_classes=NUM_CLASSES, videos_per_class=8,
                                       num_frames=48, size=(64, 86))
    held = write_synthetic_videos(root, num_classes=NUM_CLASSES, videos_per_class=4, num_frames=48,
                                  size=(64, 86), first=100, annotation_name="heldout.txt")
    return train_set, held


def _speed(fp32: OpenVinoEngine, int8: OpenVinoEngine, protocol, batch: int, rounds: int) -> dict:
    inputs = example_inputs(protocol, batch)
    for engine in (fp32, int8):
        engine.run(*inputs)
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    for _ in range(rounds):  # interleaved, so machine noise hits both alike
        for key, engine in (("fp32", fp32), ("int8", int8)):
            start = time.perf_counter()
            engine.run(*inputs)
            times[key].append(time.perf_counter() - start)
    fp32_ms = 1000 * statistics.median(times["fp32"]) / batch
    int8_ms = 1000 * statistics.median(times["int8"]) / batch
    return {"batch": batch, "fp32_ms_per_clip": round(fp32_ms, 2), "int8_ms_per_clip": round(int8_ms, 2),
            "speedup": round(fp32_ms / int8_ms, 2)}


def bench_model(name: str, root: Path, train_set, held, *, epochs: int | None, rounds: int,
                batch_sizes: list[int]) -> dict:
    spec = get_model_spec(name)
    adaptive = isinstance(spec.recipe.pipeline, MMAction2TrainPipeline)
    lr, default_epochs = TRAINING.get(name, (None, 6))
    epochs = epochs or default_epochs
    config = TrainConfig(
        spec.name, root / f"train-{name}", ann=train_set.annotation, data_root=root,
        val_ann=held.annotation, class_names=train_set.class_names, num_classes=NUM_CLASSES,
        epochs=epochs, batch_size=8, workers=1, input_size=64 if adaptive else None, lr=lr,
        flip=0.0, precise_bn_batches=4, val_every=epochs, progress=False,
    )
    plan = plan_training(config, spec, num_classes=NUM_CLASSES, class_names=None,
                         train_samples=train_set.num_videos, world_size=1)
    started = time.perf_counter()
    result = train(config)
    train_s = time.perf_counter() - started
    net = build_model(spec, result.last)
    protocol = plan.val_protocol
    calibration = read_video_list(train_set.annotation, root).records
    held_out = read_video_list(held.annotation, root).records

    started = time.perf_counter()
    quantized = quantize_int8(spec, root / f"{name}.int8.xml", calibration, net=net, protocol=protocol,
                              calibration_size=32, workers=1)
    quantize_s = time.perf_counter() - started
    fp32, int8 = OpenVinoEngine(quantized.fp32_file), OpenVinoEngine(quantized.model_file)
    drift = drift_on_videos(held_out, protocol, reference=fp32, candidate=int8, batch_size=8,
                            workers=1, inputs="held-out synthetic videos")
    print(drift.render(), flush=True)
    official = spec.protocol("official")
    speed = [_speed(fp32, int8, official, b, rounds) for b in batch_sizes]
    for row in speed:
        print(f"{name} official view {'x'.join(map(str, official.view_shape[1:]))}, batch "
              f"{row['batch']}: fp32 {row['fp32_ms_per_clip']} ms/clip, int8 "
              f"{row['int8_ms_per_clip']} ms/clip, {row['speedup']}x", flush=True)
    return {"model": name, "trained_at": protocol.describe(), "train_s": round(train_s, 1),
            "quantize_s": round(quantize_s, 1), "calibration_views": quantized.calibration_views,
            "drift": drift.to_dict(), "speed_view": list(official.view_shape), "speed": speed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    recognizers = [m for m in list_models() if get_model_spec(m).task == "recognition"]
    parser.add_argument("--models", default=",".join(recognizers))
    parser.add_argument("--epochs", type=int, help="override TRAINING's epochs for every model")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-sizes", default="1,4")
    parser.add_argument("--out", default="docs/bench/int8.json")
    args = parser.parse_args()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train_set, held = _data(root)
        for name in args.models.split(","):
            results.append(bench_model(name, root, train_set, held, epochs=args.epochs,
                                       rounds=args.rounds, batch_sizes=batch_sizes))
            out.write_text(json.dumps({"machine": machine_info(), "models": results}, indent=2) + "\n")
    print(f"wrote {out}; machine {machine_info()}")


if __name__ == "__main__":
    main()
