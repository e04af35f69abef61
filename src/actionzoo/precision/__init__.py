"""Reduced precision with its cost measured: INT8 export and the drift of any precision vs fp32."""

from actionzoo.precision.drift import DriftReport, compare_scores
from actionzoo.precision.int8_export import Int8ExportResult, Int8Options, export_int8
from actionzoo.precision.measure import drift_on_batches, drift_on_videos, fp32_reference

__all__ = ["DriftReport", "Int8ExportResult", "Int8Options", "compare_scores", "drift_on_batches",
           "drift_on_videos", "export_int8", "fp32_reference"]
