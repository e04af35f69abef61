"""What the registry knows about a model: :class:`ModelSpec` and the types its fields use.

A spec is plain data plus the builder of its architecture. Facts are stated once: the input shape
and the normalisation come from the official protocol, the accepted checkpoint containers decide
both what :func:`~actionzoo.zoo.registry.build_model` loads and what ``inspect`` reports.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import nn

from actionzoo.checkpoint.read import CheckpointFormat
from actionzoo.errors import UsageError
from actionzoo.zoo.protocols import Normalization, Protocol
from actionzoo.zoo.recipes import TrainingRecipe

__all__ = ["Task", "Output", "OfficialAccuracy", "ModelSpec"]


class Task(enum.StrEnum):
    """What a model computes, with the model inputs that takes."""

    RECOGNITION = "recognition"  # a clip -> one score per class
    DETECTION = "detection"  # a clip + person boxes -> one score per box and class

    @property
    def inputs(self) -> tuple[str, ...]:
        """The model's inputs in call order (also their names in an exported graph)."""
        return ("video", "boxes") if self is Task.DETECTION else ("video",)


class Output(enum.StrEnum):
    LOGITS = "logits"
    PROBABILITIES = "probabilities"


@dataclass(frozen=True)
class OfficialAccuracy:
    """An accuracy a reference reported, with the protocol it was measured under."""

    top1: float  # percent (the frame-mAP for detection, see ``metric``)
    top5: float | None  # percent; None where the source gives none
    protocol: str  # views and score combination, e.g. "10 clips × 3 crops × 256, mean of softmax"
    data: str  # which split / data variant
    source: str  # where the figure is published
    metric: str = "top-1"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    reference: str  # repository @ commit and config
    builder: Callable[[int], nn.Module]  # num_classes -> architecture with random weights
    checkpoint_formats: tuple[CheckpointFormat, ...]  # the reference's own container first
    num_classes: int
    output: Output
    task: Task
    dataset: str
    num_params: int  # with the default class count
    # Per view at ``clip_shape``: billions of multiply-adds of convolutions and linear layers (what
    # the papers and mmaction2's metafiles call "GFLOPs"). ``gflop`` is the same work counted as
    # floating-point operations, 2 per multiply-add, the unit ``bench`` and torch's FlopCounterMode use.
    gmacs: float
    protocols: Mapping[str, Protocol]
    accuracy: tuple[OfficialAccuracy, ...]
    # The state-dict key whose first dimension gives the class count, for checkpoints whose head
    # width differs from the default (the R(2+1)D UCF-101 config leaves its head at 400).
    num_classes_key: str | None = None
    # Prefix of the head's keys: left out when only the backbone is initialised from a
    # checkpoint (e.g. the AVA detector from the Kinetics SlowFast).
    head_prefix: str = "cls_head."
    # The reference training recipe (train pipeline, optimizer, schedule, init, container).
    recipe: TrainingRecipe | None = None
    # The shipped class-name list (actionzoo.zoo.categories) in the reference's label order.
    categories: str | None = None
    # Whether the network takes clips of any length (exports keep the time axis free).
    dynamic_time: bool = False
    # Models whose checkpoints can initialise this one's backbone (``backbone_only``).
    backbone_from: tuple[str, ...] = ()
    notes: str = ""

    @property
    def gflop(self) -> float:
        """GFLOP per view at ``clip_shape``: 2 per multiply-add, as ``bench`` counts."""
        return 2.0 * self.gmacs

    @property
    def classifier_prefix(self) -> str:
        """Keys of the final Linear (re-initialised when the class count changes)."""
        return self.recipe.init.classifier + "." if self.recipe else self.head_prefix

    @property
    def official(self) -> Protocol:
        return self.protocols["official"]

    @property
    def clip_shape(self) -> tuple[int, int, int, int]:
        """(C, T, H, W) of one view under the official protocol."""
        return self.official.view_shape

    @property
    def normalization(self) -> Normalization:
        return self.official.pipeline.normalization

    def protocol(self, name: str | Protocol) -> Protocol:
        """The protocol called ``name`` (a :class:`Protocol` passes through unchanged)."""
        if isinstance(name, Protocol):
            return name
        try:
            return self.protocols[name]
        except KeyError:
            raise UsageError(
                f"model {self.name} has no protocol {name!r}; choose from {', '.join(self.protocols)}"
            ) from None

    def class_names(self, num_classes: int | None = None) -> list[str] | None:
        """The shipped names for a head of ``num_classes`` outputs (default: the model's), or None
        when they do not fit. A head wider than the dataset (the UCF-101 R(2+1)D keeps its
        400-way Kinetics head) names its extra outputs ``unused output i``."""
        if self.categories is None:
            return None
        from actionzoo.zoo.categories import category_names, unused_output_name

        names = list(category_names(self.categories))
        wanted = num_classes or self.num_classes
        if len(names) > wanted:
            return None
        return names + [unused_output_name(i) for i in range(len(names), wanted)]

    def accepts(self, fmt: CheckpointFormat) -> bool:
        """Whether checkpoints in container ``fmt`` load into this model (build_model and inspect
        both apply this one rule)."""
        return fmt in self.checkpoint_formats
