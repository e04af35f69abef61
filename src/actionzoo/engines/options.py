"""The engine a user asks for, as one typed value, and the engine made from it.

Every verb that runs a model takes the same choices (which engine, which weights, precision,
device, threads); :class:`EngineOptions` holds them and :func:`build_engine` turns them into an
engine through the engine table, so a Python caller and the CLI build the same engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from actionzoo.engines.base import Engine
from actionzoo.errors import UsageError
from actionzoo.runtime.precisions import Precision

__all__ = ["EngineOptions", "build_engine", "ClassifierEngine", "build_classifier_engine", "apply_upload"]

UPLOADS = ("auto", "float32", "uint8")


@dataclass(frozen=True)
class EngineOptions:
    """Which engine runs the model and from what weights.

    PyTorch engines take ``checkpoint`` (random weights without one); the others an exported
    ``model_file``. ``upload``: ``uint8`` hands the engine views before normalisation (PyTorch
    engines normalise them on their device); ``auto`` does so on CUDA where it is exact.
    """

    engine: str = "pytorch"
    checkpoint: str | Path | None = None
    trust_checkpoint: bool = False
    model_file: str | Path | None = None
    precision: Precision = Precision.FP32  # text ("bf16") is turned into one, here
    device: str = "cpu"
    threads: int | None = None
    channels_last: bool = False
    cuda_graphs: bool = False
    upload: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", Precision.of(self.precision))
        if self.upload not in UPLOADS:
            raise UsageError(f"upload must be one of {', '.join(UPLOADS)}, not {self.upload!r}")

    @property
    def random_weights(self) -> bool:
        return self.checkpoint is None and self.model_file is None

    @property
    def weights(self) -> str:
        """What the weights are, as results stores key them."""
        return str(self.checkpoint or self.model_file or "random")


def build_engine(model: object, options: EngineOptions, checkpoint: object = None) -> Engine:
    """The engine ``options`` ask for: PyTorch engines build ``model`` (a name or spec) from
    ``options.checkpoint`` (or random weights; ``checkpoint``: that file already read), the others
    load ``options.model_file``."""
    from actionzoo.engines.registry import create_engine, engine_kind
    from actionzoo.zoo.registry import build_model

    kind = engine_kind(options.engine)
    net = None
    if kind.needs_model:
        if options.model_file:
            raise UsageError(f"--model-file is for the onnxruntime/openvino engines; the {kind.name} "
                             "engine takes --checkpoint")
        net = build_model(model, checkpoint if checkpoint is not None else options.checkpoint,
                          trusted=options.trust_checkpoint)
    return create_engine(kind, model=net, model_file=options.model_file, threads=options.threads,
                         precision=options.precision, device=options.device,
                         channels_last=options.channels_last, cuda_graphs=options.cuda_graphs)


@dataclass(frozen=True)
class ClassifierEngine:
    """An engine with what its weights say about its outputs: their number (a fine-tune's own
    head, or the width an exported model declares) and the checkpoint's extras (a fine-tune's
    class names), for :func:`~actionzoo.data.class_names.resolve_class_names`."""

    engine: Engine
    num_classes: int
    checkpoint_extras: dict


def build_classifier_engine(spec, options: EngineOptions) -> ClassifierEngine:
    """:func:`build_engine` for a classifier, reading a checkpoint once for its weights, its head
    width and its extras."""
    from actionzoo.checkpoint.read import read_checkpoint
    from actionzoo.engines.registry import engine_kind
    from actionzoo.zoo.registry import checkpoint_num_classes

    if engine_kind(options.engine).needs_model and options.checkpoint and not options.model_file:
        ckpt = read_checkpoint(options.checkpoint, trusted=options.trust_checkpoint)
        engine = build_engine(spec, options, checkpoint=ckpt)
        return ClassifierEngine(engine, checkpoint_num_classes(spec, ckpt), dict(ckpt.extras))
    engine = build_engine(spec, options)
    # a model file's output declares its class count; random weights have the registry's
    return ClassifierEngine(engine, engine.output_width or spec.num_classes, {})


def apply_upload(engine: Engine, protocol, choice: str = "auto") -> None:
    """Give ``engine`` uint8 views to normalise on its device, where the protocol allows it
    exactly (``auto``: on CUDA devices); ``float32`` leaves the engine as it is."""
    takes_uint8 = engine.accepts_uint8
    if choice == "auto":
        on_cuda = engine.info.device.startswith("cuda")
        choice = "uint8" if takes_uint8 and on_cuda and protocol.uint8_views else "float32"
    if choice == "float32":
        return
    if not takes_uint8:
        raise UsageError(f"--upload uint8 is for the pytorch engines, not {engine.info.name}")
    if not protocol.uint8_views:
        raise UsageError(f"--upload uint8: the {protocol.name} protocol normalises before it "
                         "resizes, so its views exist only as float32")
    from actionzoo.data.transforms import mmaction2_normalize_table

    engine.normalize_uint8(mmaction2_normalize_table(protocol.pipeline.mean, protocol.pipeline.std))
