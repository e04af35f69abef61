"""A classifier for prediction: the engine the options ask for and the names of its outputs.

The class count comes from what the weights say: a trained checkpoint's classifier (a fine-tune
has its own), or the output an exported model declares; the names follow
:func:`~actionzoo.prediction.videos.resolve_class_names`.
"""

from __future__ import annotations

from pathlib import Path

from actionzoo.engines.base import Engine
from actionzoo.engines.options import EngineOptions
from actionzoo.errors import UsageError

__all__ = ["load_classifier"]


def load_classifier(spec, options: EngineOptions,
                    class_names: str | Path | None = None) -> tuple[Engine, list[str]]:
    """(engine, class names) from the options' checkpoint or model file; ``class_names`` is a
    names file that overrides what the weights and the registry say."""
    from actionzoo.checkpoint.read import read_checkpoint
    from actionzoo.engines.options import build_engine
    from actionzoo.engines.registry import create_engine, engine_kind
    from actionzoo.prediction.videos import resolve_class_names
    from actionzoo.zoo.registry import build_model, checkpoint_num_classes

    kind = engine_kind(options.engine)
    extras: dict = {}
    if kind.needs_model:
        if options.model_file:
            raise UsageError(f"--model-file is for the onnxruntime/openvino engines; the {kind.name} "
                             "engine takes --checkpoint")
        # Read once: the checkpoint's head says the class count, its extras may carry names.
        ckpt = (read_checkpoint(options.checkpoint, trusted=options.trust_checkpoint)
                if options.checkpoint else None)
        net = build_model(spec, ckpt)
        num_classes = checkpoint_num_classes(spec, ckpt) if ckpt else spec.num_classes
        extras = ckpt.extras if ckpt else {}
        engine = create_engine(kind, model=net, threads=options.threads, precision=options.precision,
                               device=options.device, channels_last=options.channels_last,
                               cuda_graphs=options.cuda_graphs)
    else:
        engine = build_engine(spec, options)
        num_classes = engine.output_width or spec.num_classes  # what the file's output declares
    names = resolve_class_names(spec, num_classes, names_file=class_names, checkpoint_extras=extras)
    return engine, names
