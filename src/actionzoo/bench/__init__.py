"""Benchmarks: model-only throughput per batch size (:func:`bench_model`), the whole pipeline over
a folder of videos (:func:`e2e`), the roofline probe and the batch-size cache."""

from actionzoo.bench.e2e import E2EResult, e2e
from actionzoo.bench.sweep import ModelBench, bench_model

__all__ = ["E2EResult", "ModelBench", "bench_model", "e2e"]
