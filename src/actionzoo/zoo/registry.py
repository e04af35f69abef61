"""Looking models up and building them: :func:`list_models`, :func:`get_model_spec`, :func:`build_model`.

The entries live in :mod:`actionzoo.zoo.catalog`; this module is the only way in. A model name is
turned into its :class:`~actionzoo.zoo.spec.ModelSpec` once, at the edge, and everything further
in takes the spec.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from actionzoo.checkpoint.fit import check_fit, copy_weights, fitting_weights
from actionzoo.checkpoint.read import Checkpoint, CheckpointFormat, read_checkpoint
from actionzoo.errors import CheckpointError, UsageError
from actionzoo.zoo.catalog import MODELS
from actionzoo.zoo.spec import ModelSpec

__all__ = [
    "MODELS",
    "ModelSpec",
    "list_models",
    "get_model_spec",
    "build_model",
    "checkpoint_num_classes",
    "expected_shapes",
]


def list_models() -> list[str]:
    """Names of every registered model, in registration order."""
    return list(MODELS)


def get_model_spec(name: str | ModelSpec) -> ModelSpec:
    """The spec registered as ``name`` (a spec passes through unchanged)."""
    if isinstance(name, ModelSpec):
        return name
    try:
        return MODELS[name]
    except KeyError:
        raise UsageError(f"unknown model {name!r}; choose from {', '.join(MODELS)}") from None


def accepted_formats(spec: ModelSpec, *, backbone_only: bool = False) -> tuple[CheckpointFormat, ...]:
    """The containers a model loads; a backbone also loads from the models listed in
    ``spec.backbone_from`` (the AVA detector from the Kinetics SlowFast's Caffe2 file)."""
    formats = list(spec.checkpoint_formats)
    if backbone_only:
        for source in spec.backbone_from:
            formats += [f for f in MODELS[source].checkpoint_formats if f not in formats]
    return tuple(formats)


def check_container(spec: ModelSpec, checkpoint: Checkpoint, *, backbone_only: bool = False) -> None:
    """Refuse a container the registry does not list for ``spec`` (the rule ``inspect`` reports)."""
    formats = accepted_formats(spec, backbone_only=backbone_only)
    if checkpoint.format not in formats:
        raise CheckpointError(
            f"{checkpoint.path}: a {checkpoint.format} file; {spec.name} loads "
            f"{', '.join(map(str, formats))} files"
        )


def checkpoint_num_classes(spec: ModelSpec, checkpoint: Checkpoint) -> int:
    """The class count of the checkpoint's classifier, when it is ``spec``'s model trained for
    other classes (a fine-tune); the spec's own count otherwise.

    A head of another size is taken as a fine-tune unless another registered model of the same
    keys has exactly that head and fits the file: then it is that model's checkpoint (the
    Kinetics SlowFast ``.pyth`` and the AVA detector differ only in their heads' 400 vs 80 rows),
    and loading it here is a mismatch to report, not a 400-class detector to build.
    """
    key = spec.num_classes_key
    if not key or key not in checkpoint.state_dict:
        return spec.num_classes
    found = int(checkpoint.state_dict[key].shape[0])
    if found == spec.num_classes:
        return found
    for other in MODELS.values():
        if other.name != spec.name and other.num_classes_key == key and other.num_classes == found \
                and check_fit(expected_shapes(other), checkpoint.state_dict).fits:
            return spec.num_classes
    return found


def build_model(
    model: str | ModelSpec,
    checkpoint: str | os.PathLike[str] | Checkpoint | None = None,
    *,
    trusted: bool = False,
    backbone_only: bool = False,
) -> nn.Module:
    """Build a registered model in eval mode, with the checkpoint's weights when one is given.

    Without a checkpoint the weights are random. A checkpoint must be in a container the registry
    lists for the model and fit exactly (every key, every shape); otherwise a
    :class:`CheckpointError` names the missing, unexpected and mismatched keys.
    ``backbone_only`` loads everything but the classifier (``spec.head_prefix``), which keeps its
    random initialisation: how a detector starts from a Kinetics checkpoint for training.
    """
    spec = get_model_spec(model)
    if checkpoint is None:
        return spec.builder(spec.num_classes).eval()
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else read_checkpoint(checkpoint, trusted=trusted)
    num_classes = spec.num_classes if backbone_only else checkpoint_num_classes(spec, ckpt)
    net = spec.builder(num_classes)
    skip = spec.head_prefix if backbone_only else None
    # Fit first: a file that does not fit is best told by its keys; one that fits may still be a
    # container the registry does not list for this model.
    weights = fitting_weights(net, ckpt, spec.name, skip_prefix=skip)
    check_container(spec, ckpt, backbone_only=backbone_only)
    copy_weights(net, weights)
    return net.eval()


def expected_shapes(spec: ModelSpec | str, num_classes: int | None = None) -> dict[str, tuple[int, ...]]:
    """The model's state-dict shapes, computed without allocating its weights."""
    spec = get_model_spec(spec)
    with torch.device("meta"):
        net = spec.builder(num_classes or spec.num_classes)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}
