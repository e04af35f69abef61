"""What a training run is asked to do (:class:`TrainConfig`, the flags) and what it will do
(:class:`TrainPlan`, the recipe with every flag applied, and a note for each change).

The plan is printed at the start, written to ``<work dir>/config.json`` and stored in every
checkpoint. Rules:

* ``batch_size`` is the **global** batch: clips per optimizer step summed over all processes, so
  the same flags give the same training on any number of processes (each process takes
  ``batch_size / world``; the printout says so).
* Without ``--lr`` the recipe's learning rate is scaled linearly from its reference batch to the
  run's batch (Goyal et al.'s rule, mmaction2 1.x ``--auto-scale-lr``), and the printout says so.
* An ``--epochs`` shorter than the recipe's scales its warm-up and its step epochs by the same
  factor (a 34-epoch warm-up must not swallow an 8-epoch fine-tune); cosine runs over the new
  length. The printout says so.
* ``--input-size S`` (recognizers with adaptive pooling) trains on ``S x S`` crops from a short side
  of ``round(S * 256 / 224)`` and validates on the same scale; a PySlowFast head pools a window
  fixed by its train crop, so there it is refused.
* The ``BN batch`` line says over how many clips each BN normalises, and the reference's;
  ``--bn-batch N`` makes it N (:mod:`actionzoo.training.grouped_bn`): groups inside each forward
  when N divides it, or one group over N / clips processes under sync BN; anything else is refused.
* The AVA detector validates on PySlowFast's mini-val (``recipe.val_protocol``) unless
  ``--full-val`` asks for eval's protocol (``recipe.full_val_protocol``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from actionzoo.checkpoint.read import CheckpointFormat
from actionzoo.errors import UsageError
from actionzoo.runtime.precisions import Precision
from actionzoo.zoo.protocols import Protocol
from actionzoo.zoo.recipes import ScheduleRecipe, TrainPipeline
from actionzoo.zoo.spec import ModelSpec

__all__ = ["TrainConfig", "TrainPlan", "plan_training", "INIT_NONE", "describe_start",
           "require_reference_start", "AMP_MODES"]

#: The precisions ``--amp`` autocasts to (fp16 adds a grad scaler).
AMP_MODES: tuple[Precision, ...] = tuple(p for p in Precision if p.autocasts)
INIT_NONE = "none"


@dataclass
class TrainConfig:
    """Everything ``actionzoo train`` takes; ``None`` means "the recipe's value"."""

    model: str
    work_dir: Path
    # recognizers
    ann: Path | None = None
    data_root: Path | None = None
    val_ann: Path | None = None
    val_data_root: Path | None = None
    ann_format: str = "auto"
    labels: Path | None = None
    class_names: Path | None = None
    # the AVA detector
    frames_dir: Path | None = None
    frame_list: Path | None = None
    gt: Path | None = None
    boxes: Path | None = None
    val_frame_list: Path | None = None
    val_boxes: Path | None = None
    val_gt: Path | None = None
    labelmap: Path | None = None
    excluded: Path | None = None
    # weights: a file, INIT_NONE ("none": from scratch, said aloud), or None (the recipe's start;
    # refused when the reference starts from weights of another run, see TrainingRecipe.starts_from)
    init: Path | str | None = None
    trust_checkpoint: bool = False
    num_classes: int | None = None
    resume: bool = False
    # recipe overrides
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    dropout: float | None = None
    input_size: int | None = None
    flip: float | None = None
    val_every: int | None = None
    checkpoint_every: int | None = None
    checkpoint_steps: int | None = None  # rewrite last.* every N optimizer steps (mid-epoch)
    checkpoint_minutes: float | None = None  # ...and/or every M minutes
    precise_bn_batches: int | None = None
    sync_bn: bool = False
    bn_batch: int | None = None  # clips per BN group whatever the batch (sub-batch BN)
    full_val: bool = False  # AVA: validate with eval's full protocol (AVA.FULL_TEST_ON_VAL True)
    # execution
    micro_batch: int | None = None
    amp: Precision | str | None = None  # text from the CLI; a Precision from plan_training on
    device: str = "cpu"
    workers: int = 2
    seed: int = 0
    deterministic: bool = False
    progress: bool = True


@dataclass(frozen=True)
class TrainPlan:
    """The resolved run: recipe fields with the flags applied."""

    model: str
    recipe_source: str
    num_classes: int
    class_names: tuple[str, ...] | None
    pipeline: TrainPipeline
    val_protocol: Protocol
    epochs: int
    batch_size: int  # global
    per_process_batch: int
    micro_batch: int
    world_size: int
    lr: float
    schedule: ScheduleRecipe
    optimizer_groups: str
    weight_decay: float
    momentum: float
    nesterov: bool
    grad_clip: float | None
    dropout: float
    loss: str
    amp: Precision | None
    sync_bn: bool
    precise_bn_batches: int
    val_every: int
    checkpoint_every: int
    checkpoint_format: CheckpointFormat
    seed: int
    deterministic: bool
    device: str
    train_samples: int
    iters_per_epoch: int
    drop_last: bool
    checkpoint_within: str = ""  # mid-epoch rewrites of last.*: "every N steps / M minutes"
    init: str = ""  # what the weights start from, and how that compares with the reference
    notes: tuple[str, ...] = field(default=())
    bn_batch: int = 0  # clips each BN normalises over in this run (0: no BN batch known)
    reference_bn_batch: int = 0  # ...and in the reference (0: unknown)
    reference_bn_scope: str = "per device"  # or "over all devices (sync BN)"
    bn_groups: int = 0  # --bn-batch: groups per forward (0: plain BN over each forward)
    bn_span: int = 1  # --bn-batch: processes one group spans (synchronised among themselves)

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        # Enums become their values here, where the plan is serialised, and nowhere before.
        data["checkpoint_format"] = str(self.checkpoint_format)
        data["amp"] = None if self.amp is None else str(self.amp)
        data["pipeline"] = {"kind": type(self.pipeline).__name__, **asdict(self.pipeline),
                            "description": self.pipeline.describe()}
        data["val_protocol"] = self.val_protocol.describe()
        return data

    def render(self) -> str:
        p = self
        lines = [
            f"model        {p.model} ({p.num_classes} classes); recipe {p.recipe_source}",
            f"init         {p.init}",
            f"data         {p.train_samples} training samples; {p.pipeline.describe()}",
            f"batch        {p.batch_size} clips per step = {p.world_size} process(es) x "
            f"{p.per_process_batch}" + (f" in micro-batches of {p.micro_batch}"
                                         if p.micro_batch < p.per_process_batch else ""),
            f"steps        {p.iters_per_epoch} per epoch x {p.epochs} epochs",
            f"optimizer    SGD lr {p.lr:.6g}, momentum {p.momentum}, nesterov {p.nesterov}, "
            f"weight decay {p.weight_decay:g} ({p.optimizer_groups} groups), grad clip "
            f"{p.grad_clip if p.grad_clip else 'none'}",
            f"schedule     {_describe_schedule(p.schedule)}",
            f"model opts   dropout {p.dropout:g}, loss {p.loss}, amp {p.amp or 'off'}, sync BN "
            f"{'on' if p.sync_bn else 'off'}, precise BN "
            + (f"{p.precise_bn_batches} batches on checkpoint and validation epochs"
               if p.precise_bn_batches else "off") + f", drop last partial batch {p.drop_last}",
            f"BN batch     {_describe_bn(p)}",
            f"validation   every {p.val_every} epochs with {p.val_protocol.describe()}",
            f"checkpoints  {p.checkpoint_format} container, epoch_N every {p.checkpoint_every}, "
            f"last and best always" + (f"; last also {p.checkpoint_within}" if p.checkpoint_within
                                       else ""),
            f"run          seed {p.seed}, deterministic {p.deterministic}, device {p.device}",
        ]
        lines += [f"note         {note}" for note in p.notes]
        return "\n".join(lines)


def require_reference_start(config: TrainConfig, spec: ModelSpec) -> None:
    """Refuse a run that would silently start from scratch where the reference fine-tunes."""
    start = spec.recipe.starts_from if spec.recipe else None
    if config.init is None and start is not None:
        raise UsageError(f"{spec.name}: the reference starts from {start}; pass it with --init "
                         f"FILE, or --init none to train from scratch")


def describe_start(config: TrainConfig, spec: ModelSpec) -> str:
    start = spec.recipe.starts_from if spec.recipe else None
    if config.init is None or str(config.init) == INIT_NONE:
        if start is None:
            return "the reference initialisation: from scratch, as the reference"
        return f"FROM SCRATCH (--init none); the reference starts from {start}"
    return f"{config.init}" + (f" (the reference starts from {start})" if start else
                               " (the reference trains from scratch)")


def _describe_schedule(s: ScheduleRecipe) -> str:
    shape = "cosine" if s.policy == "cosine" else f"steps at {list(s.steps)} x {list(s.step_factors)}"
    warm = ""
    if s.warmup_epochs:
        start = (f"{s.warmup_ratio:g} x the scheduled value" if s.style == "mmcv"
                 else f"{s.warmup_start_lr:g} x base")
        warm = f", linear warm-up over {s.warmup_epochs:g} epochs from {start}"
    return f"{shape} over {s.epochs} epochs ({s.style} style, set every iteration){warm}"


def _describe_bn(p: TrainPlan) -> str:
    if p.bn_groups or p.bn_span > 1:
        where = (f"{p.bn_groups} group(s) in each forward of {p.micro_batch}" if p.bn_span == 1
                 else f"one group over {p.bn_span} processes x {p.micro_batch} clips, "
                      "synchronised among themselves")
        text = f"{p.bn_batch} clips per BN group (--bn-batch; {where})"
    else:
        text = (f"{p.bn_batch} clips (" + ("all processes x " if p.sync_bn else "")
                + f"{p.micro_batch} per forward)")
    if p.reference_bn_batch:
        same = p.bn_batch == p.reference_bn_batch
        text += (f"; the reference's: {p.reference_bn_batch} {p.reference_bn_scope}"
                 + ("" if same else f" -- --bn-batch {p.reference_bn_batch} keeps it"))
    return text


def _bn_groups(config: TrainConfig, micro: int, world_size: int,
               sync_bn: bool) -> tuple[int, int]:
    """(groups per forward, processes per group) for ``--bn-batch``; refuses what cannot be
    split into whole groups of its clips."""
    n = config.bn_batch
    assert n is not None
    if n <= micro:
        if micro % n:
            raise UsageError(f"--bn-batch {n} does not divide the {micro} clips of each forward "
                             f"(--micro-batch, or the per-process batch); use a divisor of {micro}")
        return micro // n, 1
    span = n // micro
    if n % micro or not sync_bn or world_size % span:
        raise UsageError(f"--bn-batch {n} is more than the {micro} clips of each forward: it needs "
                         f"--sync-bn over a multiple of {n}/{micro} processes, each forward a "
                         f"divisor of {n} (this run: {world_size} process(es)"
                         f"{'' if sync_bn else ', no sync BN'}); or raise --micro-batch")
    return 0, span


def _scaled_schedule(schedule: ScheduleRecipe, epochs: int, notes: list[str]) -> ScheduleRecipe:
    if epochs == schedule.epochs:
        return schedule
    factor = epochs / schedule.epochs
    scaled = replace(schedule, epochs=epochs, warmup_epochs=schedule.warmup_epochs * factor,
                     steps=tuple(s * factor for s in schedule.steps))
    if epochs < schedule.epochs and (schedule.warmup_epochs or schedule.steps):
        notes.append(f"schedule scaled to {epochs} of the recipe's {schedule.epochs} epochs: "
                     f"warm-up {schedule.warmup_epochs:g} -> {scaled.warmup_epochs:.3g} epochs"
                     + (f", steps {list(schedule.steps)} -> {[round(s, 3) for s in scaled.steps]}"
                        if schedule.steps else ""))
    return scaled


def _sized(pipeline: TrainPipeline, val: Protocol, size: int | None, flip: float | None,
           spec: ModelSpec) -> tuple[TrainPipeline, Protocol]:
    if flip is not None:
        pipeline = replace(pipeline, flip=flip)
    if size is None:
        return pipeline, val
    if not pipeline.any_size:
        raise UsageError(f"--input-size: {spec.name}'s head pools a window fixed by its "
                         f"{pipeline.crop_size} train crop; it trains at that size only")
    return pipeline.sized(size), val.scaled(size)


def _amp(value: Precision | str | None) -> Precision | None:
    """``--amp`` as one of :data:`AMP_MODES`, checked once here."""
    if value is None:
        return None
    if value not in AMP_MODES:  # a StrEnum member equals its text: "fp16" is in AMP_MODES
        raise UsageError(f"--amp {str(value)!r}: choose {' or '.join(AMP_MODES)}")
    return Precision(value)


def plan_training(config: TrainConfig, spec: ModelSpec, *, num_classes: int,
                  class_names: list[str] | None, train_samples: int, world_size: int) -> TrainPlan:
    """Apply the flags to ``spec``'s recipe (see the module doc for the rules)."""
    recipe = spec.recipe
    if recipe is None:
        raise UsageError(f"{spec.name} has no training recipe")
    notes: list[str] = []
    epochs = config.epochs or recipe.schedule.epochs
    batch = config.batch_size or recipe.batch_size
    if batch % world_size:
        raise UsageError(f"--batch-size {batch} (the global batch) does not split over "
                         f"{world_size} processes; use a multiple of {world_size}")
    per_process = batch // world_size
    micro = config.micro_batch or per_process
    if per_process % micro:
        raise UsageError(f"--micro-batch {micro} does not divide the {per_process} clips each "
                         "process takes per step")
    if config.lr is not None:
        lr = config.lr
    else:
        lr = recipe.optimizer.lr * batch / recipe.optimizer.reference_batch
        if batch != recipe.optimizer.reference_batch:
            notes.append(f"lr {recipe.optimizer.lr:g} is the recipe's for batch "
                         f"{recipe.optimizer.reference_batch}; scaled linearly to {lr:.6g} for "
                         f"batch {batch} (pass --lr to set it)")
    amp = _amp(config.amp)
    sync_bn = config.sync_bn or recipe.sync_bn
    if sync_bn and world_size == 1:
        notes.append("sync BN asked for (or in the recipe) on one process: plain BN, which is "
                     "the same thing there")
        sync_bn = False
    val_protocol = recipe.val_protocol
    if config.full_val:
        if recipe.full_val_protocol is None:
            raise UsageError(f"--full-val: {spec.name} validates with its reference's one "
                             "protocol; --full-val is for a recipe whose in-training validation "
                             "is a subset (the AVA detector's mini-val)")
        val_protocol = recipe.full_val_protocol
    pipeline, val = _sized(recipe.pipeline, val_protocol, config.input_size, config.flip, spec)
    drop_last = pipeline.drop_last  # as the reference's train loader (see the pipelines)
    share = -(-train_samples // world_size)
    iters = share // per_process if drop_last else -(-share // per_process)
    if iters < 1:
        raise UsageError(f"{train_samples} training samples give no full step of {batch} clips")
    if num_classes != spec.num_classes:
        notes.append(f"{num_classes} classes instead of the recipe's {spec.num_classes}")
    notes += list(recipe.plan_notes)
    bn_groups, bn_span = 0, 1
    if config.bn_batch is not None:
        bn_groups, bn_span = _bn_groups(config, micro, world_size, config.sync_bn or recipe.sync_bn)
        bn_batch = config.bn_batch
        if sync_bn and bn_span == 1:
            notes.append(f"--bn-batch {bn_batch}: every group lies in one process, so no BN "
                         "synchronises across processes (sync BN off)")
        sync_bn = bn_span > 1
    else:
        bn_batch = micro * (world_size if sync_bn else 1)
    scope = "over all devices (sync BN)" if recipe.sync_bn else "per device"
    if recipe.bn_batch and bn_batch != recipe.bn_batch:
        notes.append(f"BN normalises over {bn_batch} clips per "
                     + ("group (--bn-batch)" if config.bn_batch else
                        f"forward ({'all processes x ' if sync_bn else ''}{micro} per micro-batch)")
                     + f"; the reference over {recipe.bn_batch} {scope}: BN statistics differ "
                     f"from it (--bn-batch {recipe.bn_batch} keeps it)")
    if recipe.full_val_protocol is not None:
        notes.append(f"validation: {val.name}" + (
            " -- the full protocol, as actionzoo eval (--full-val; PySlowFast's "
            "AVA.FULL_TEST_ON_VAL True)" if config.full_val else
            " -- PySlowFast's in-training val mode (AVA.FULL_TEST_ON_VAL False); actionzoo eval "
            "uses every keyframe and full frames; --full-val validates that way"))
    if pipeline.takes_boxes and config.boxes is None:
        pipeline = replace(pipeline, detector_boxes=False)
        notes.append("training boxes: ground truth only (no --boxes); the reference also trains on "
                     f"detector boxes with score >= {pipeline.box_score_threshold:g}")
    return TrainPlan(
        model=spec.name,
        recipe_source=recipe.source,
        num_classes=num_classes,
        class_names=tuple(class_names) if class_names else None,
        pipeline=pipeline,
        val_protocol=val,
        epochs=epochs,
        batch_size=batch,
        per_process_batch=per_process,
        micro_batch=micro,
        world_size=world_size,
        lr=lr,
        schedule=_scaled_schedule(recipe.schedule, epochs, notes),
        optimizer_groups=recipe.optimizer.groups,
        weight_decay=recipe.optimizer.weight_decay,
        momentum=recipe.optimizer.momentum,
        nesterov=recipe.optimizer.nesterov,
        grad_clip=recipe.optimizer.grad_clip,
        dropout=recipe.dropout if config.dropout is None else config.dropout,
        loss=recipe.loss,
        amp=amp,
        sync_bn=sync_bn,
        precise_bn_batches=(recipe.precise_bn_batches if config.precise_bn_batches is None
                            else config.precise_bn_batches),
        val_every=config.val_every or recipe.val_every,
        checkpoint_every=config.checkpoint_every or recipe.checkpoint_every,
        checkpoint_format=recipe.writes,
        seed=config.seed,
        deterministic=config.deterministic,
        device=config.device,
        train_samples=train_samples,
        iters_per_epoch=iters,
        drop_last=drop_last,
        init=describe_start(config, spec),
        checkpoint_within=" and ".join(
            ([f"every {config.checkpoint_steps} steps"] if config.checkpoint_steps else [])
            + ([f"every {config.checkpoint_minutes:g} minutes"] if config.checkpoint_minutes else [])),
        notes=tuple(notes),
        bn_batch=bn_batch,
        reference_bn_batch=recipe.bn_batch,
        reference_bn_scope=scope,
        bn_groups=bn_groups,
        bn_span=bn_span,
    )


def config_dict(config: TrainConfig) -> dict[str, object]:
    return {f.name: (str(v) if isinstance(v := getattr(config, f.name), Path) else v)
            for f in dataclasses.fields(config)}
