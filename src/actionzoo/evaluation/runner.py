"""One recognition evaluation from an annotation file to its report, as ``actionzoo eval`` runs it.

:func:`evaluate` does every step the command does, so a Python caller gets the same report: the
results store keyed on model, protocol, data, engine and weights (resumable), the share of videos
each torchrun process scores, the merge of the processes' stores, the report over every stored
video, and a reduced precision's drift vs fp32. :func:`~actionzoo.evaluation.recognition.
evaluate_records` is the scoring loop underneath, for callers that bring their own store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from actionzoo.engines.options import (
    EngineOptions,
    apply_upload,
    build_classifier_engine,
)
from actionzoo.errors import UsageError
from actionzoo.evaluation.report import EvalReport
from actionzoo.precision.against_fp32 import DriftOptions, video_drift
from actionzoo.runtime.distributed import DistContext, init_distributed

__all__ = ["EvaluationOptions", "evaluate"]

PathLike = str | Path


@dataclass(frozen=True)
class EvaluationOptions:
    """How to run an evaluation, beside which model, data and engine.

    ``batch_size``: views per engine call (None: the fastest measured for this engine here);
    ``workers``: decode processes (None: on a CPU engine the fewest that keep the model fed,
    measured: ``engines.worker_count``; every core when the engine is on CUDA);
    ``resume``: continue the results file of an interrupted run (without it, an existing one is
    refused); ``predictions``: also write per-video top-5 predictions as CSV there.
    ``ann_format``, ``labels`` and ``class_names`` are read as
    :func:`~actionzoo.data.annotations.read_annotations` reads them.
    """

    batch_size: int | None = None
    workers: int | None = None
    resume: bool = False
    progress: bool = True
    drift: DriftOptions = field(default_factory=DriftOptions)
    predictions: PathLike | None = None
    ann_format: str = "auto"
    labels: PathLike | None = None
    class_names: PathLike | None = None


def evaluate(
    model,
    ann: PathLike,
    data_root: PathLike,
    *,
    results: PathLike,
    engine: EngineOptions | None = None,
    protocol="official",
    options: EvaluationOptions | None = None,
    ctx: DistContext | None = None,
) -> EvalReport:
    """Evaluate a recognizer (a name or spec) on the videos of ``ann`` into the SQLite file
    ``results`` and return the report over every video it holds, with the drift of a reduced
    precision. ``protocol`` is a name or a :class:`~actionzoo.zoo.protocols.Protocol`.

    Under torchrun each process scores its share; the report (on every process: ``interrupted``
    holds whether any was interrupted) is complete on rank 0 only. ``ctx``: the process group, when
    the caller has joined it already; otherwise this joins the one torchrun describes and leaves it.
    """
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(model)
    protocol = spec.protocol(protocol)
    if protocol.is_detection:
        raise UsageError(f"{spec.name} is a detector: evaluate it with "
                         "actionzoo.ava.evaluate.evaluate_ava (`actionzoo eval` on AVA-layout data)")
    engine = engine or EngineOptions()
    options = options or EvaluationOptions()
    own = ctx is None
    ctx = init_distributed(engine.device) if own else ctx
    try:
        return _evaluate(spec, protocol, Path(ann), Path(data_root), Path(results), engine,
                         options, ctx, inputs=f"videos of {ann}")
    finally:
        if own:
            ctx.close()


def _evaluate(spec, protocol, ann: Path, data_root: Path, results: Path,
              engine_options: EngineOptions, options: EvaluationOptions, ctx: DistContext, *,
              inputs: str) -> EvalReport:
    from actionzoo.engines.worker_count import batch_and_workers
    from actionzoo.data.annotations import read_annotations
    from actionzoo.data.class_names import resolve_class_names
    from actionzoo.evaluation.recognition import evaluate_records, load_report, write_predictions
    from actionzoo.evaluation.store import ResultsStore, merge_shards, open_sharded

    annotations = read_annotations(ann, data_root, format=options.ann_format, labels=options.labels,
                                   class_names=options.class_names)
    built = build_classifier_engine(spec, engine_options)
    engine = built.engine
    # the annotation's names (a --class-names file, classInd.txt, labels.json, a Kinetics CSV's
    # labels), else the checkpoint's, else the registry's, else numbered
    class_names = resolve_class_names(
        built.num_classes, spec=spec, names=annotations.class_names,
        source=options.class_names or options.labels or ann, dataset=True,
        checkpoint_extras=built.checkpoint_extras)
    apply_upload(engine, protocol, engine_options.upload)
    batch, workers_choice = batch_and_workers(options.batch_size, options.workers, spec, protocol,
                                              engine, annotations.records, ctx)
    workers = workers_choice.workers
    config = {
        "model": spec.name, "protocol": protocol.describe(),
        "annotation": str(ann.resolve()), "data_root": str(data_root.resolve()),
        **engine.info.key(),
        "weights": engine_options.weights,
    }
    with open_sharded(ResultsStore, results, config, resume=options.resume, ctx=ctx) as store:
        report = evaluate_records(annotations.records, model_name=spec.name, protocol=protocol,
                                  engine=engine, store=store, batch_size=batch, workers=workers,
                                  progress=options.progress and ctx.is_main,
                                  class_names=class_names, ctx=ctx)
        interrupted, scored = merge_shards(store, ctx, interrupted=report.interrupted,
                                           scored=report.scored_this_run)
        report.workers_how = workers_choice.how
        if not ctx.is_main:
            report.interrupted = interrupted
            return report
        if ctx.distributed:  # the report over every process's videos
            times = report.times
            report = load_report(store, annotations.records, model_name=spec.name,
                                 protocol=protocol, engine=report.engine,
                                 precision=report.precision, batch_size=batch,
                                 workers=workers, class_names=class_names)
            report.times, report.scored_this_run, report.interrupted = times, scored, interrupted
            report.workers_how = workers_choice.how
        scores = {r.video_id: r.scores for r in store.results() if r.scores is not None}
        report.drift, report.drift_note = video_drift(
            spec, protocol, engine, annotations.records, engine_options=engine_options,
            drift=options.drift, candidate_scores=scores, batch_size=batch, workers=workers,
            inputs=inputs)
        if options.predictions:
            write_predictions(store, options.predictions, class_names)
    return report
