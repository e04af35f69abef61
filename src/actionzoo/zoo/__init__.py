"""The model zoo: typed specs, test protocols, the registry and checkpoint inspection."""

from actionzoo.zoo.registry import (
    build_model,
    expected_shapes,
    get_model_spec,
    list_models,
)
from actionzoo.zoo.spec import ModelSpec, OfficialAccuracy, Output, Task

__all__ = [
    "ModelSpec",
    "OfficialAccuracy",
    "Output",
    "Task",
    "build_model",
    "expected_shapes",
    "get_model_spec",
    "list_models",
]
