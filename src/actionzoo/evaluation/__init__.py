"""Recognition evaluation: :func:`evaluate` runs one as ``actionzoo eval`` does (store, shards,
gather, report, drift); the modules beneath hold the scoring loop, the stores, the metrics, the
report and the staged flow. Names are imported on first use, so importing one module stays cheap."""

from actionzoo.lazy import lazy_getattr

_LAZY = {
    "evaluate": "runner",
    "EvaluationOptions": "runner",
    "evaluate_records": "recognition",
    "EvalReport": "report",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY)
