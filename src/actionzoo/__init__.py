"""actionzoo: video action-recognition models from official checkpoint to measured deployment.

The Python API that the CLI is a thin layer over::

    import actionzoo
    actionzoo.list_models()
    model = actionzoo.build_model("x3d_s_k400", "x3d_s.pyth")   # eval mode
    views = actionzoo.preprocess("x3d_s_k400", "video.mp4")      # float32 (V, 3, T, H, W)
    scores = model(views)
"""

from __future__ import annotations

from actionzoo.errors import (
    ActionZooError,
    AnnotationError,
    CheckpointError,
    DataError,
    UsageError,
)
from actionzoo.lazy import lazy_getattr

# Public names and the module that defines each. They are imported on first use so that
# ``import actionzoo`` (and every CLI start) stays cheap and submodules load independently.
_LAZY = {
    "ModelSpec": "zoo.registry",
    "build_model": "zoo.registry",
    "get_model_spec": "zoo.registry",
    "list_models": "zoo.registry",
    "read_checkpoint": "checkpoint.read",
    "inspect_checkpoint": "zoo.inspect",
    "preprocess": "data.views",
    "build_views": "data.views",
    "read_annotations": "data.annotations",
    "ava_frame_map": "ava.metric",
    "train": "training",
    "predict": "prediction",
    "evaluate": "evaluation",
    "EvaluationOptions": "evaluation",
    "EngineOptions": "engines.options",
    "DriftOptions": "precision.against_fp32",
    "export_int8": "precision.int8_export",
    "TrainConfig": "training",
    "create_engine": "engines.registry",
    "register_engine": "engines.registry",
    "EngineKind": "engines.registry",
    "Engine": "engines.base",
    "EngineInfo": "engines.base",
    "Precision": "runtime.precisions",
    "quantize_int8": "precision.int8",
    "drift_on_videos": "precision.measure",
    "DriftReport": "precision.drift",
    "prepare_frames": "preparation.frames",
    "prepare_filelist": "preparation.filelists",
    "prepare_ava": "preparation.ava_frames",
}

__all__ = ["ActionZooError", "AnnotationError", "CheckpointError", "DataError", "UsageError", *_LAZY]
__version__ = "0.1.0"


__getattr__ = lazy_getattr(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
