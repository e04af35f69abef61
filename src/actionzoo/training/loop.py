"""``actionzoo.train``: one readable loop from data to checkpoints, on one process or many.

Build the data and the plan, the model (from ``--init``, or resumed), the optimizer with the
reference's groups; then per epoch: train every step (LR set per iteration, AMP, clipping,
micro-batches), recompute BN statistics where the recipe does, validate, and write checkpoints in
the reference's container. Under ``torchrun`` the model is wrapped in DDP (gloo on CPUs, NCCL on
CUDA), each process reads its share of every epoch, and only global rank 0 writes and prints.

``_train`` reads like a reference's ``main`` (torchvision's ``references/video_classification/
train.py``): set-up, then ``train_one_epoch(state, run)`` and ``end_of_epoch(state, run)`` per
epoch. Everything a step changes lives in one :class:`~actionzoo.training.state.TrainState`;
what the run fixes before its first step in one :class:`TrainRun`; what a checkpoint keeps for
``--resume`` in one :class:`~actionzoo.training.state.CheckpointRecord`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from actionzoo.checkpoint.read import Checkpoint, CheckpointFormat, read_checkpoint
from actionzoo.checkpoint.write import (
    SUFFIX,
    actionzoo_state,
    checkpoint_payload,
    optimizer_state,
    save_checkpoint,
)
from actionzoo.errors import UsageError
from actionzoo.fileio.atomic import write_text_atomic
from actionzoo.runtime.cpu_precision import require_usable_on_cpu
from actionzoo.runtime.precisions import Precision
from actionzoo.runtime.distributed import DistContext, gather_items, init_distributed
from actionzoo.runtime.progress import ProgressDisplay
from actionzoo.runtime.sync_batchnorm import convert_sync_batchnorm
from actionzoo.runtime.workers import BuiltAsInAWorker, limit_worker_threads, worker_context
from actionzoo.training.config import (
    TrainConfig,
    TrainPlan,
    config_dict,
    plan_training,
    require_reference_start,
)
from actionzoo.training.data import Batch, EpochSampler, collate
from actionzoo.training.datasets import TrainingData, load_training_data
from actionzoo.training.grouped_bn import (
    ddp_ignored_buffers,
    fold_across_processes,
    rank_groups,
    restore_group_statistics,
    use_grouped_batchnorm,
)
from actionzoo.training.initialize import InitReport, initial_model
from actionzoo.training.logs import RunLog, plot_curves
from actionzoo.training.optim import (
    build_optimizer,
    learning_rate,
    parameter_groups,
    set_learning_rate,
)
from actionzoo.training.precise_bn import recompute_bn_statistics
from actionzoo.training.state import (
    Best,
    CheckpointRecord,
    EpochRecord,
    RngStates,
    TrainState,
    WithinEpoch,
)
from actionzoo.training.validate import validate
from actionzoo.zoo.registry import get_model_spec
from actionzoo.zoo.spec import ModelSpec

__all__ = ["TrainResult", "TrainRun", "train", "train_one_epoch", "train_step", "end_of_epoch"]


@dataclass
class TrainResult:
    work_dir: Path
    plan: TrainPlan
    last: Path | None
    best: Path | None
    epochs_done: int
    history: list[EpochRecord] = field(default_factory=list)  # per epoch: loss, validation
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (sample, reason)


@dataclass(frozen=True)
class TrainRun:
    """What a run fixes before its first step; the loop reads it and never changes it."""

    config: TrainConfig
    ctx: DistContext
    spec: ModelSpec
    device: torch.device
    plan: TrainPlan
    data: TrainingData
    work_dir: Path
    suffix: str  # the checkpoint container's: .pth or .pyth
    log: RunLog
    result: TrainResult  # what train() returns, filled in as epochs finish

    @property
    def last(self) -> Path:
        return self.work_dir / f"last{self.suffix}"


@dataclass(frozen=True)
class _Resumed:
    path: Path
    record: CheckpointRecord
    checkpoint: Checkpoint


def train(config: TrainConfig) -> TrainResult:
    """Train ``config.model`` as its recipe says, with the flags applied (see TrainConfig)."""
    ctx = init_distributed(config.device)
    try:
        return _train(config, ctx)
    finally:
        ctx.close()


def _say(ctx: DistContext, text: str) -> None:
    if ctx.is_main:
        print(text, flush=True)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------------- set-up


def _train(config: TrainConfig, ctx: DistContext) -> TrainResult:
    spec = get_model_spec(config.model)
    if spec.recipe is None:
        raise UsageError(f"{spec.name} has no training recipe")
    device = _device(config.device, ctx)
    if device.type == "cpu" and config.amp:
        require_usable_on_cpu(config.amp, "--amp")
    work_dir, suffix = Path(config.work_dir), SUFFIX[spec.recipe.writes]
    resumed = _check_work_dir(config, work_dir, suffix)
    if resumed is None:
        require_reference_start(config, spec)  # before any work
    data: TrainingData = load_training_data(config, spec)
    plan = plan_training(config, spec, num_classes=data.num_classes,
                         class_names=data.class_names, train_samples=data.num_samples,
                         world_size=ctx.world_size)
    data.build(plan, flip_pairs=spec.recipe.flip_label_pairs)
    if resumed is not None:
        _check_same_run(resumed.path, resumed.record.plan, plan)
        started = resumed.record.plan.get("init")
        if config.init is None and started:
            plan = dataclasses.replace(plan, init=started)
    if ctx.is_main:
        work_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(work_dir / "config.json", json.dumps(
            {"plan": plan.to_dict(), "flags": config_dict(config)}, indent=2, default=str) + "\n")
    _say(ctx, plan.render())
    if config.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.benchmark = False
    _seed_everything(plan.seed)

    model, report = _model(spec, config, plan, resumed)
    for line in report.lines():
        _say(ctx, line)
    net = _wrap(model, plan, ctx, device)
    groups = parameter_groups(model, spec.recipe.optimizer, spec.recipe.init.classifier)
    optimizer = build_optimizer(groups, spec.recipe.optimizer, plan.lr)
    scaler = torch.amp.GradScaler(device.type, enabled=plan.amp is Precision.FP16)
    state = TrainState(model, net, optimizer, scaler)
    if resumed is not None:
        _restore(state, resumed, ctx)
        within = state.resume_within
        where = (f"in epoch {state.epoch + 1} after step {within.steps}" if within
                 else f"after epoch {state.epoch}")
        _say(ctx, f"resumed from {resumed.path} {where} (iteration {state.iteration})"
             + (f"; --init {config.init} is where this run started, not applied again"
                if config.init is not None else ""))
    log = RunLog(work_dir, enabled=ctx.is_main)
    result = TrainResult(work_dir, plan, None, None, state.epoch, state.history)
    run = TrainRun(config, ctx, spec, device, plan, data, work_dir, suffix, log, result)
    try:
        _epochs(state, run)
    finally:
        log.close()
    if ctx.is_main and (work_dir / "log.jsonl").exists():
        plot_curves(work_dir / "log.jsonl", work_dir / "curves.png",
                    title=f"{spec.name}: {plan.epochs} epochs, batch {plan.batch_size}")
        _say(ctx, f"wrote {work_dir / 'curves.png'}")
    return result


def _device(name: str, ctx: DistContext) -> torch.device:
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"--device {name}: this machine or torch build has no CUDA device")
        return torch.device("cuda", ctx.local_rank if ctx.distributed else
                            torch.device(name).index or 0)
    if name != "cpu":
        raise UsageError(f"--device {name!r}: use cpu or cuda[:i]")
    return torch.device("cpu")


def _check_work_dir(config: TrainConfig, work_dir: Path, suffix: str) -> _Resumed | None:
    existing = sorted(work_dir.glob(f"*{suffix}")) if work_dir.is_dir() else []
    last = work_dir / f"last{suffix}"
    resumed = _read_resume_state(last) if config.resume and last.exists() else None
    if existing and resumed is None:
        what = "pass --resume to continue it" if not config.resume else \
            f"but no last{suffix} to resume from"
        raise UsageError(f"{work_dir}: holds checkpoints of an earlier run ({existing[0].name}); "
                         f"{what}, or choose another --work-dir")
    return resumed


def _read_resume_state(last: Path) -> _Resumed:
    checkpoint = read_checkpoint(last)
    ours = actionzoo_state(checkpoint.extras)
    if ours is None:
        raise UsageError(f"{last}: not an actionzoo training checkpoint; cannot resume from it")
    return _Resumed(last, CheckpointRecord.from_dict(last, ours), checkpoint)


def _model(spec: ModelSpec, config: TrainConfig, plan: TrainPlan,
           resumed: _Resumed | None) -> tuple[nn.Module, InitReport]:
    torch.manual_seed(plan.seed)  # the initialisation is the same on every process
    if resumed is not None:
        model = spec.builder(plan.num_classes)
        model.load_state_dict(resumed.checkpoint.state_dict)
        report = InitReport(f"{resumed.path} (resuming)", loaded=len(resumed.checkpoint.state_dict))
    else:
        model, report = initial_model(spec, plan.num_classes, config.init,
                                      trusted=config.trust_checkpoint)
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = plan.dropout
    return model, report


def _wrap(model: nn.Module, plan: TrainPlan, ctx: DistContext, device: torch.device) -> nn.Module:
    if plan.bn_groups or plan.bn_span > 1:  # --bn-batch (instead of sync BN: it syncs its groups)
        group = rank_groups(ctx.world_size, plan.bn_span, ctx.rank) if plan.bn_span > 1 else None
        count = use_grouped_batchnorm(model, plan.bn_batch, plan.micro_batch, process_group=group,
                                      span=plan.bn_span)
        plain = sum(type(m) in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
                    for m in model.modules())
        _say(ctx, f"--bn-batch {plan.bn_batch}: {count} BatchNorm layers normalise over groups of "
             f"{plan.bn_batch} clips" + (f"; {plain} stay plain over each forward, as the "
                                         "reference keeps them out of sync BN" if plain else ""))
    elif plan.sync_bn and ctx.distributed:
        model, count = convert_sync_batchnorm(model, device)
        local = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()) - count
        _say(ctx, f"sync BN: {count} BatchNorm layers normalise over the global batch"
             + (f"; {local} stay per process, as in the reference (so N processes are not "
                "exactly one)" if local else ""))
    model.to(device)
    if not ctx.distributed:
        return model
    ids = [device.index] if device.type == "cuda" else None
    # each process's --bn-batch group statistics stay its own (folded over all before saving)
    nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
        model, ddp_ignored_buffers(model))
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, broadcast_buffers=True)


def _restore(state: TrainState, resumed: _Resumed, ctx: DistContext) -> None:
    """The optimizer, AMP scaler, generators and position of ``resumed`` into ``state``."""
    record = resumed.record
    optimizer = optimizer_state(resumed.checkpoint.extras)
    if optimizer is None:
        raise UsageError(f"{resumed.path}: holds no optimizer state; cannot resume")
    state.optimizer.load_state_dict(optimizer)
    if record.scaler:
        state.scaler.load_state_dict(record.scaler)
    record.rng.restore()
    within = record.within_epoch
    if within is not None:  # a mid-epoch checkpoint: where in the epoch, and each process's generator
        if within.world_size != ctx.world_size:
            raise UsageError(f"{resumed.path}: was written mid-epoch by {within.world_size} "
                             f"process(es); resume it with as many (this run has "
                             f"{ctx.world_size})")
        state.resume_within = within
    state.epoch, state.iteration = record.epochs_done, record.iteration
    state.history, state.best = list(record.history), record.best
    why_not = restore_group_statistics(state.model, record.bn_groups or {}, ctx.rank, ctx.world_size)
    if why_not:
        _say(ctx, f"--bn-batch: the per-group BN statistics restart from the folded ones ({why_not}); "
                  "the weights are not affected")


# ---------------------------------------------------------------------------------- epochs


def _loader(run: TrainRun, sampler: EpochSampler):
    batches = torch.utils.data.BatchSampler(sampler, run.plan.per_process_batch, run.plan.drop_last)
    kwargs, dataset = {}, BuiltAsInAWorker(run.data.train)  # the same clips without workers
    if run.config.workers > 0:
        kwargs = dict(num_workers=run.config.workers, worker_init_fn=limit_worker_threads,
                      multiprocessing_context=worker_context(), prefetch_factor=2,
                      persistent_workers=False)
        dataset = run.data.train
    return torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=collate,
                                       pin_memory=run.device.type == "cuda", **kwargs)


def _epochs(state: TrainState, run: TrainRun) -> None:
    plan, ctx = run.plan, run.ctx
    sampler = EpochSampler(len(run.data.train), seed=plan.seed, rank=ctx.rank, world=ctx.world_size)
    loader = _loader(run, sampler)
    total = plan.epochs * plan.iters_per_epoch
    with ProgressDisplay(total - state.iteration, f"train {run.spec.name}", "steps",
                         enabled=run.config.progress and ctx.is_main) as bar:
        state.saved_at = time.monotonic()
        for epoch in range(state.epoch, plan.epochs):
            state.epoch = epoch
            train_one_epoch(state, run, loader, sampler, bar)
            end_of_epoch(state, run)


def train_one_epoch(state: TrainState, run: TrainRun, loader, sampler: EpochSampler,
                    bar: ProgressDisplay) -> None:
    """Every remaining step of ``state.epoch`` (all of them, or those after a mid-epoch
    checkpoint), rewriting last.* mid-epoch when one is due."""
    plan, ctx = run.plan, run.ctx
    within, state.resume_within = state.resume_within, None
    state.step_in_epoch = within.steps if within else 0
    # the sampler position: this epoch's order without the batches already trained on
    sampler.set_epoch(state.epoch, skip=state.step_in_epoch * plan.per_process_batch)
    run.data.train.set_epoch(state.epoch)
    # Dropout and anything else drawing on torch's generator: a function of the epoch, so a
    # resumed epoch draws what the uninterrupted one drew.
    torch.manual_seed(plan.seed * 1000003 + state.epoch * 1009 + ctx.rank)
    state.net.train()
    state.losses = list(within.losses) if within else []
    batches = iter(loader)  # draws the loader's base seed from torch's generator
    if within:  # ...and then the generator as it was at the checkpoint
        torch.set_rng_state(within.torch_rng[ctx.rank])
    started = time.perf_counter()
    for batch, wait in _timed(batches):
        loss = train_step(state, run, batch, wait=wait, started=started, bar=bar)
        state.step_in_epoch += 1
        if loss is not None:
            state.losses.append(loss)
        if state.step_in_epoch < plan.iters_per_epoch and _checkpoint_due(state, run):
            _save_within(state, run)
            state.saved_at = time.monotonic()
        started = time.perf_counter()


def _checkpoint_due(state: TrainState, run: TrainRun) -> bool:
    """Whether to rewrite last.* now; the same answer on every process (they all take part)."""
    steps, minutes = run.config.checkpoint_steps, run.config.checkpoint_minutes
    due = bool(steps and state.iteration % steps == 0)
    if minutes:
        late = torch.tensor([1.0 if time.monotonic() - state.saved_at >= 60 * minutes else 0.0])
        due = due or run.ctx.all_reduce_max(late).item() > 0  # rank clocks differ
    return due


def _save_within(state: TrainState, run: TrainRun) -> None:
    """last.* mid-epoch: what --resume needs to go on from the next batch, with no step done
    twice and the weights an uninterrupted run would reach."""
    within = WithinEpoch(state.step_in_epoch, list(state.losses), run.ctx.world_size,
                         gather_items(run.ctx, [torch.get_rng_state()]))
    state.bn_groups = fold_across_processes(state.model)  # --bn-batch: every process's groups
    if run.ctx.is_main:
        _write(state, run, epochs_done=state.epoch, within=within)
        _say(run.ctx, f"iteration {state.iteration}: wrote {run.last} (epoch {state.epoch + 1}, "
                      f"step {state.step_in_epoch}/{run.plan.iters_per_epoch})")
    run.ctx.barrier()


def train_step(state: TrainState, run: TrainRun, batch: Batch, *, wait: float, started: float,
               bar: ProgressDisplay) -> float | None:
    """One optimizer step on ``batch`` (LR set for this iteration, micro-batches, AMP, clipping);
    returns the loss averaged over processes, or None when every process skipped the step."""
    plan, ctx, device = run.plan, run.ctx, run.device
    net, optimizer, scaler = state.net, state.optimizer, state.scaler
    iteration, epoch = state.iteration, state.epoch
    run.result.skipped += batch.failed
    for name, reason in gather_items(ctx, batch.failed):
        _say(ctx, f"unreadable {name}: {reason}")
    # Every process must make the same collective calls (DDP's, and sync BN's once per
    # forward): a step runs only when every process has the same number of micro-batches.
    # Unreadable samples are replaced (training.data), so this skips only when nothing
    # readable was found nearby.
    state.iteration += 1
    if not _same_on_every_process(ctx, _chunk_count(len(batch), plan.micro_batch)):
        run.log.write({"kind": "skip", "epoch": epoch, "iter": iteration,
                       "reason": "a process's batch came out short (unreadable samples)"})
        _say(ctx, f"iteration {iteration + 1}: skipped on every process (a batch came out short)")
        return None
    lr = learning_rate(plan.schedule, plan.lr, iteration, plan.iters_per_epoch)
    set_learning_rate(optimizer, lr)
    optimizer.zero_grad(set_to_none=True)
    compute_start = time.perf_counter()
    loss_sum = 0.0
    chunks = list(_micro_batches(batch, plan.micro_batch))
    for k, chunk in enumerate(chunks):
        sync = k == len(chunks) - 1 or not isinstance(net, nn.parallel.DistributedDataParallel)
        with (net.no_sync() if not sync else _null()):
            loss = _loss(plan, device, net, chunk) * (len(chunk) / len(batch))
            scaler.scale(loss).backward()
        loss_sum += float(loss.detach())
    if plan.grad_clip:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(state.params, plan.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    compute = time.perf_counter() - compute_start
    mean_loss = float(ctx.all_reduce_mean(torch.tensor([loss_sum], dtype=torch.float64)).item())
    if not math.isfinite(mean_loss):
        raise UsageError(f"the training loss became {mean_loss} at iteration {iteration} "
                         f"({_non_finite_hint(plan.amp, device.type)})")
    step_s = max(time.perf_counter() - started, 1e-9)
    clips = len(batch) * ctx.world_size
    remaining = plan.epochs * plan.iters_per_epoch - iteration - 1
    record = {"kind": "train", "epoch": epoch + 1, "iter": iteration + 1, "loss": mean_loss,
              "lr": lr, "clips_per_s": clips / step_s, "data_s": wait, "compute_s": compute,
              "eta_s": remaining * step_s}
    run.log.write(record, step=iteration + 1)
    bar.advance(loss=mean_loss, lr=lr, clips_s=clips / step_s)
    return mean_loss


def _loss(plan: TrainPlan, device: torch.device, net: nn.Module, batch: Batch) -> torch.Tensor:
    # The model's own dtype: float32, or float64 where a test checks the arithmetic exactly.
    weights = next(net.parameters()).dtype
    clips = batch.clips.to(device, dtype=weights, non_blocking=True)
    dtype = None if plan.amp is None else plan.amp.autocast_dtype
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        if plan.loss == "bce":
            probs = net(clips, batch.boxes.to(device, dtype=weights))
        else:
            logits = net(clips)
    if plan.loss == "bce":  # BCE on probabilities is not autocast-safe: compute it in fp32+
        return F.binary_cross_entropy(probs.to(weights), batch.targets.to(device, weights))
    return F.cross_entropy(logits.to(weights), batch.labels.to(device))


def end_of_epoch(state: TrainState, run: TrainRun) -> None:
    """Precise BN where the recipe asks, validation when due, the epoch's record, checkpoints."""
    plan, ctx = run.plan, run.ctx
    done = state.epoch + 1
    # PySlowFast recomputes them on checkpoint and eval epochs only (tools/train_net.py:
    # ``is_checkpoint_epoch or is_eval_epoch``): 30 runs for X3D's 300 epochs, not 300.
    if plan.precise_bn_batches and (done % plan.checkpoint_every == 0
                                    or done % plan.val_every == 0 or done == plan.epochs):
        loader = _loader(run, EpochSampler(len(run.data.train), seed=plan.seed + 7919,
                                           rank=ctx.rank, world=ctx.world_size))
        count = recompute_bn_statistics(state.net, loader, plan.precise_bn_batches, run.device,
                                        ctx, micro_batch=plan.micro_batch)
        _say(ctx, f"precise BN: statistics recomputed on {count} batches"
             + (" (over every process's clips)" if ctx.distributed else ""))
    # What every process validates is what rank 0 saves (without sync BN or precise BN the
    # processes' running statistics differ): rank 0's buffers everywhere, as mmaction2's
    # DistEvalHook broadcasts them.
    with torch.no_grad():
        state.bn_groups = fold_across_processes(state.model)  # --bn-batch: every process's groups
        ctx.broadcast_buffers(state.model)
    epoch_loss = float(np.mean(state.losses)) if state.losses else float("nan")
    validation, best = None, state.best
    validate_now = run.data.has_validation and (done % plan.val_every == 0 or done == plan.epochs)
    if validate_now:
        validation = validate(state.model, run.data, plan, run.device, run.work_dir, done, ctx,
                              workers=run.config.workers)
    if validation is not None:  # rank 0
        run.log.write({"kind": "val", "epoch": done, "metric": validation.metric,
                       "value": validation.value, **validation.figures(),
                       "protocol": validation.protocol})
        _say(ctx, f"epoch {done}: validation {validation.metric} {100 * validation.value:.2f}% "
                  f"({validation.protocol})")
        if best is None or validation.value > best.value:
            best = Best(done, validation.value, validation.metric)
    state.history.append(EpochRecord(done, epoch_loss, validation, best))
    state.best = best
    state.epoch, state.step_in_epoch = done, 0
    run.result.epochs_done = done
    if ctx.is_main:
        _save(state, run, is_best=validate_now and best is not None and best.epoch == done)
    ctx.barrier()


# ----------------------------------------------------------------------------- checkpoints


def _save(state: TrainState, run: TrainRun, *, is_best: bool) -> None:
    """At an epoch's end: last.*, epoch_N.* when due, best.* when this epoch is the best."""
    done, plan = state.epoch, run.plan
    payload = _write(state, run, epochs_done=done, within=None)
    run.result.last = run.last
    if done % plan.checkpoint_every == 0 or done == plan.epochs:
        save_checkpoint(run.work_dir / f"epoch_{done}{run.suffix}", payload)
    if is_best:
        run.result.best = save_checkpoint(run.work_dir / f"best{run.suffix}", payload)
    _say(run.ctx, f"epoch {done}/{plan.epochs}: loss {state.history[-1].loss:.4f}; wrote {run.last}")


def _write(state: TrainState, run: TrainRun, *, epochs_done: int,
           within: WithinEpoch | None) -> dict:
    """Write last.* (atomically: a kill leaves the previous one) and return its payload."""
    plan = run.plan
    record = CheckpointRecord(
        model=run.spec.name,
        num_classes=plan.num_classes,
        class_names=list(plan.class_names) if plan.class_names else None,
        epochs_done=epochs_done,
        iteration=state.iteration,
        plan=json.loads(json.dumps(plan.to_dict(), default=str)),
        scaler=state.scaler.state_dict() if state.scaler.is_enabled() else None,
        rng=RngStates.capture(),
        sampler_epoch=epochs_done,
        history=state.history,
        best=state.best,
        within_epoch=within,
        bn_groups=state.bn_groups,
    )
    ours = record.to_dict()
    payload = checkpoint_payload(
        CheckpointFormat(plan.checkpoint_format), state.model.state_dict(),
        state.optimizer.state_dict(), epochs_done=epochs_done, iteration=state.iteration,
        seed=plan.seed, config=record.plan, ours=ours, scaler=record.scaler)
    save_checkpoint(run.last, payload)
    return payload


def _chunk_count(size: int, micro: int) -> int:
    return -(-size // micro) if size else 0


def _same_on_every_process(ctx: DistContext, value: int) -> bool:
    """Whether ``value`` is the same non-zero number on every process (one all-reduce)."""
    both = ctx.all_reduce_max(torch.tensor([float(value), -float(value)], dtype=torch.float64))
    return both[0].item() == -both[1].item() and value > 0


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _timed(batches: Iterator[Batch]) -> Iterator[tuple[Batch, float]]:
    """Each batch with the seconds spent waiting for it."""
    while True:
        start = time.perf_counter()
        batch = next(batches, None)
        if batch is None:
            return
        yield batch, time.perf_counter() - start


def _micro_batches(batch: Batch, size: int) -> Iterator[Batch]:
    if len(batch) <= size:
        yield batch
        return
    for start in range(0, len(batch), size):
        stop = min(start + size, len(batch))
        if batch.boxes is None:
            yield Batch(batch.clips[start:stop], batch.labels[start:stop], None, None,
                        batch.indices[start:stop])
            continue
        rows = (batch.boxes[:, 0] >= start) & (batch.boxes[:, 0] < stop)
        boxes = batch.boxes[rows].clone()
        boxes[:, 0] -= start
        yield Batch(batch.clips[start:stop], None, boxes, batch.targets[rows],
                    batch.indices[start:stop])


def _check_same_run(path: Path, stored: dict, plan: TrainPlan) -> None:
    for key in ("model", "num_classes", "batch_size", "epochs", "seed", "bn_batch"):
        if key in stored and stored[key] != getattr(plan, key):
            raise UsageError(f"{path}: was written by a run with {key} {stored[key]!r}, this one has "
                             f"{getattr(plan, key)!r}; resume with the same flags or use another "
                             "--work-dir")


def _non_finite_hint(amp: Precision | None, device: str) -> str:
    if amp is Precision.FP16:
        return "lower --lr, or use --amp bf16 instead of fp16"
    if amp is Precision.BF16 and device == "cpu":
        # Measured with torch 2.13 CPU: a (3, 1, 1) Conv3d over 2 frames of R(2+1)D's layer3 gets
        # bf16 weight gradients of 1e29 where fp32 gives 40; the first step then writes inf.
        return ("lower --lr, or train without --amp: on the CPU, torch's bf16 Conv3d weight "
                "gradients can overflow for some shapes (seen with R(2+1)D in torch 2.13)")
    return "lower --lr"
