"""A classifier for prediction: the engine the options ask for and the names of its outputs.

The class count comes from what the weights say: a trained checkpoint's classifier (a fine-tune
has its own), or the output an exported model declares; the names follow
:func:`~actionzoo.prediction.videos.resolve_class_names`.
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
    from actionzoo.checkpoint.read import read_checkpoint
    from actionzoo.engines.options import build_engine
    from actionzoo.engines.registry import engine_kind
    from actionzoo.prediction.videos import resolve_class_names
    from actionzoo.zoo.registry import checkpoint_num_classes

    extras: dict = {}
    if engine_kind(options.engine).needs_model and options.checkpoint and not options.model_file:
        # Read once: the checkpoint's head says the class count, its extras may carry names.
        ckpt = read_checkpoint(options.checkpoint, trusted=options.trust_checkpoint)
        engine = build_engine(spec, options, checkpoint=ckpt)
        num_classes, extras = checkpoint_num_classes(spec, ckpt), ckpt.extras
    else:
        engine = build_engine(spec, options)
        # a model file's output declares its class count; random weights have the registry's
        num_classes = engine.output_width or spec.num_classes
    names = resolve_class_names(spec, num_classes, names_file=class_names, checkpoint_extras=extras)
    return engine, names
