"""A classifier for prediction: the engine the options ask for and the names of its outputs.

The class count comes from what the weights say (:func:`~actionzoo.engines.options.build_classifier_engine`:
a trained checkpoint's classifier, a fine-tune has its own, or the output an exported model
declares); the names follow :func:`~actionzoo.data.class_names.resolve_class_names`.
"""

from __future__ import annotations

from pathlib import Path

from actionzoo.engines.base import Engine
from actionzoo.engines.options import EngineOptions

__all__ = ["load_classifier"]


def load_classifier(spec, options: EngineOptions,
                    class_names: str | Path | None = None) -> tuple[Engine, list[str]]:
    """(engine, class names) from the options' checkpoint or model file; ``class_names`` is a
    names file that overrides what the weights and the registry say."""
    from actionzoo.data.class_names import resolve_class_names
    from actionzoo.engines.options import build_classifier_engine

    built = build_classifier_engine(spec, options)
    names = resolve_class_names(built.num_classes, spec=spec, file=class_names,
                                checkpoint_extras=built.checkpoint_extras)
    return built.engine, names
