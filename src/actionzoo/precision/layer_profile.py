"""Where an OpenVINO model spends its time, per layer kind, and what INT8 changed there.

OpenVINO's CPU plugin reports, for every node of the compiled graph, the time it took and the
kernel that ran it (``exec_type``: ``brgconv_avx512_I8`` computed in int8, ``jit_avx512_FP32`` in
fp32; ``ov::enable_profiling``, OpenVINO ``src/plugins/intel_cpu``). Summed per kind of layer, the
fp32 and INT8 profiles of one graph say why INT8 pays for a model or not: a model made of dense
convolutions gains where they run in int8, one made of depthwise convolutions (X3D) does not,
because those are bound by memory traffic, and the quantize/dequantize and layout conversions
INT8 adds cost time of their own.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionzoo.engines.signal_stack import permanent_signal_stack
from actionzoo.errors import UsageError

__all__ = ["LayerTime", "LayerProfile", "profile_layers", "compare_profiles", "layer_kind", "speed_note"]


@dataclass(frozen=True)
class LayerTime:
    name: str
    node_type: str  # the compiled graph's node type: "Convolution", "Eltwise", "Reorder", ...
    exec_type: str  # the kernel: "brgconv_avx512_I8", "jit_avx512_FP32", ...
    ms: float  # median over the profiled runs

    @property
    def int8(self) -> bool:
        return self.exec_type.upper().endswith(("_I8", "_U8"))


_KINDS = (  # (what the node type contains, the kind), first match wins
    (("FakeQuantize", "Quantize"), "quantize/dequantize"),
    (("FullyConnected", "MatMul"), "fully connected"),
    (("Pool", "Reduce"), "pooling"),
    (("Reorder", "Transpose", "Reshape", "Concat", "Split", "Gather"), "layout (reorder, concat, ...)"),
    (("Eltwise", "Subgraph", "Multiply", "Add", "Swish", "Sigmoid", "Relu", "Power", "Softmax"),
     "elementwise (activations, SE scaling, adds)"),
)


def layer_kind(layer: LayerTime, depthwise: frozenset[str] = frozenset()) -> str:
    """The kind a layer's time is summed under."""
    if layer.node_type in ("Convolution", "GroupConvolution"):
        return "depthwise convolution" if layer.name in depthwise or layer.node_type == "GroupConvolution" \
            else "convolution"
    for needles, kind in _KINDS:
        if any(needle in layer.node_type for needle in needles):
            return kind
    return layer.node_type


@dataclass(frozen=True)
class LayerProfile:
    model_file: Path
    batch: int
    layers: tuple[LayerTime, ...]
    wall_ms: float  # median time of one inference
    depthwise: frozenset[str]  # names of compiled nodes that are depthwise convolutions

    def by_kind(self) -> dict[str, tuple[float, float]]:
        """kind -> (ms, ms of it in int8 kernels)."""
        totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for layer in self.layers:
            entry = totals[layer_kind(layer, self.depthwise)]
            entry[0] += layer.ms
            if layer.int8:
                entry[1] += layer.ms
        return {kind: (ms, int8) for kind, (ms, int8) in totals.items()}


def _depthwise_nodes(compiled) -> frozenset[str]:
    """Compiled convolution nodes whose weights have one input channel per group."""
    names = set()
    for op in compiled.get_runtime_model().get_ops():
        rt = op.get_rt_info()
        layer_type = str(rt["layerType"]) if "layerType" in rt else op.get_type_name()
        if layer_type not in ("Convolution", "GroupConvolution") or op.get_input_size() < 2:
            continue
        weights = op.input(1).get_partial_shape()
        if layer_type == "GroupConvolution" or (weights.rank.is_static and len(weights) >= 2
                                                and weights[1].is_static and weights[1].get_length() == 1):
            names.add(op.get_friendly_name())
    return frozenset(names)


def profile_layers(model_file: str | Path, inputs: Sequence[np.ndarray], *, threads: int | None = None,
                   rounds: int = 5) -> LayerProfile:
    """Run ``model_file`` on ``inputs`` ``rounds`` times (after a warm-up) with OpenVINO's
    profiling on, and return each compiled node's median time."""
    import time

    import openvino as ov

    from actionzoo.engines.base import default_threads

    core = ov.Core()
    try:
        with permanent_signal_stack():  # see engines.signal_stack
            compiled = core.compile_model(core.read_model(str(model_file)), "CPU", {
                "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads or default_threads(),
                "INFERENCE_PRECISION_HINT": "f32", "PERF_COUNT": True})
    except RuntimeError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise UsageError(f"{model_file}: OpenVINO cannot load this model "
                         f"({lines[-1] if lines else type(error).__name__})") from None
    request = compiled.create_infer_request()
    arrays = [np.ascontiguousarray(a, dtype=np.float32) for a in inputs]
    request.infer(arrays)  # warm-up: first-run allocation and kernel selection
    samples: dict[str, list[float]] = defaultdict(list)
    kinds: dict[str, tuple[str, str]] = {}
    walls = []
    for _ in range(max(1, rounds)):
        start = time.perf_counter()
        request.infer(arrays)
        walls.append((time.perf_counter() - start) * 1000)
        for info in request.profiling_info:
            samples[info.node_name].append(info.real_time.total_seconds() * 1000)
            kinds[info.node_name] = (info.node_type, info.exec_type)
    layers = tuple(LayerTime(name, *kinds[name], statistics.median(times)) for name, times in samples.items())
    return LayerProfile(Path(model_file), len(arrays[0]), layers, statistics.median(walls),
                        _depthwise_nodes(compiled))


def compare_profiles(fp32: LayerProfile, int8: LayerProfile) -> list[str]:
    """Lines of a table: per layer kind, fp32 ms, INT8 ms (and how much of it ran in int8
    kernels), and the speed-up, largest fp32 time first; then the whole inference."""
    a, b = fp32.by_kind(), int8.by_kind()
    kinds = sorted((k for k in set(a) | set(b) if max(a.get(k, (0, 0))[0], b.get(k, (0, 0))[0]) >= 0.005),
                   key=lambda k: -max(a.get(k, (0, 0))[0], b.get(k, (0, 0))[0]))
    lines = [f"{'layer kind':<52} {'fp32 ms':>8} {'int8 ms':>8} {'in int8 kernels':>16} {'speed-up':>8}"]
    for kind in kinds:
        ms32 = a.get(kind, (0.0, 0.0))[0]
        ms8, in_int8 = b.get(kind, (0.0, 0.0))
        share = f"{100 * in_int8 / ms8:.0f} %" if ms8 else "-"
        ratio = f"{ms32 / ms8:.2f}x" if ms8 and ms32 else "-"
        lines.append(f"{kind:<52} {ms32:>8.2f} {ms8:>8.2f} {share:>16} {ratio:>8}")
    lines.append(f"{'one inference (wall)':<52} {fp32.wall_ms:>8.2f} {int8.wall_ms:>8.2f} {'':>16} "
                 f"{fp32.wall_ms / int8.wall_ms:>7.2f}x")
    return lines


def speed_note(fp32: LayerProfile, int8: LayerProfile, *, pays_at: float = 1.5) -> list[str]:
    """What ``export --precision int8`` says about speed: the measured speed-up, and when it is
    below ``pays_at``, which layer kinds did not get faster and why."""
    speedup = fp32.wall_ms / int8.wall_ms
    lines = [f"INT8 speed on this CPU (OpenVINO, batch {int8.batch}, profiled): {speedup:.2f}x fp32 "
             f"({fp32.wall_ms:.1f} -> {int8.wall_ms:.1f} ms per inference)"]
    if speedup >= pays_at:
        return lines
    a, b = fp32.by_kind(), int8.by_kind()
    total8 = sum(ms for ms, _ in b.values()) or 1.0
    slow = []
    for kind, (ms8, in_int8) in sorted(b.items(), key=lambda item: -item[1][0]):
        ms32 = a.get(kind, (0.0, 0.0))[0]
        if ms8 >= 0.05 * total8 and (not ms32 or ms32 / ms8 < 1.1):
            gain = f"{ms32 / ms8:.2f}x" if ms32 else "added by INT8"
            slow.append(f"{kind} {100 * ms8 / total8:.0f} % of the INT8 time ({gain}, "
                        f"{100 * in_int8 / ms8:.0f} % in int8 kernels)")
    lines.append(f"INT8 pays less than {pays_at:g}x here: " + "; ".join(slow))
    depthwise = b.get("depthwise convolution")
    if depthwise and depthwise[1] < 0.5 * depthwise[0]:
        lines.append("its depthwise convolutions run no faster in INT8 (they are bound by memory "
                     "traffic, not multiplies), and the quantize/dequantize and layout conversions "
                     "around them cost what the dense convolutions save: keep this model in fp32 "
                     "on this CPU (docs/benchmarks.md, INT8 per layer kind)")
    return lines
