"""``actionzoo.train``: one readable loop from data to checkpoints, on one process or many.

Build the data and the plan, the model (from ``--init``, or resumed), the optimizer with the
reference's groups; then per epoch: train every step (LR set per iteration, AMP, clipping,
micro-batches), recompute BN statistics where the recipe does, validate, and write checkpoints in
the reference's container. Under ``torchrun`` the model is wrapped in DDP (gloo on CPUs, NCCL on
CUDA), each process reads its share of every epoch, and only global rank 0 writes and prints.
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

from actionzoo.checkpoint.read import read_checkpoint
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
from actionzoo.runtime.distributed import DistContext, init_distributed
from actionzoo.runtime.progress import ProgressDisplay
from actionzoo.runtime.sync_batchnorm import convert_sync_batchnorm
from actionzoo.runtime.workers import limit_worker_threads, worker_context
from actionzoo.training.config import (
    TrainConfig,
    TrainPlan,
    config_dict,
    plan_training,
    require_reference_start,
)
from actionzoo.training.data import Batch, EpochSampler, collate
from actionzoo.training.datasets import TrainingData, load_training_data
from actionzoo.training.initialize import InitReport, initial_model
from actionzoo.training.logs import RunLog, plot_curves
from actionzoo.training.optim import (
    build_optimizer,
    learning_rate,
    parameter_groups,
    set_learning_rate,
)
from actionzoo.training.precise_bn import recompute_bn_statistics
from actionzoo.training.validate import validate
from actionzoo.zoo.registry import get_model_spec
from actionzoo.zoo.spec import ModelSpec

__all__ = ["TrainResult", "train"]


@dataclass
class TrainResult:
    work_dir: Path
    plan: TrainPlan
    last: Path | None
    best: Path | None
    epochs_done: int
    history: list[dict] = field(default_factory=list)  # per epoch: loss, validation
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (sample, reason)


def train(config: TrainConfig) -> TrainResult:
    """Train ``config.model`` as its recipe says, with the flags applied (see TrainConfig)."""
    ctx = init_distributed(config.device)
    try:
        return _Run(config, ctx).run()
    finally:
        ctx.close()


def _say(ctx: DistContext, text: str) -> None:
    if ctx.is_main:
        print(text, flush=True)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class _Run:
    def __init__(self, config: TrainConfig, ctx: DistContext) -> None:
        self.config = config
        self.ctx = ctx
        self.spec: ModelSpec = get_model_spec(config.model)
        if self.spec.recipe is None:
            raise UsageError(f"{self.spec.name} has no training recipe")
        self.device = self._device()
        if self.device.type == "cpu" and config.amp:
            require_usable_on_cpu(config.amp, "--amp")
        self.work_dir = Path(config.work_dir)
        self.suffix = SUFFIX[self.spec.recipe.writes]
        self._within: dict | None = None  # set when resuming from a mid-epoch checkpoint

    def _device(self) -> torch.device:
        name = self.config.device
        if name.startswith("cuda"):
            if not torch.cuda.is_available():
                raise UsageError(f"--device {name}: this machine or torch build has no CUDA device")
            return torch.device("cuda", self.ctx.local_rank if self.ctx.distributed else
                                torch.device(name).index or 0)
        if name != "cpu":
            raise UsageError(f"--device {name!r}: use cpu or cuda[:i]")
        return torch.device("cpu")

    # ------------------------------------------------------------------------------ set-up

    def _resume_state(self) -> tuple[Path, dict, object] | None:
        last = self.work_dir / f"last{self.suffix}"
        if not last.exists():
            return None
        ckpt = read_checkpoint(last)
        ours = actionzoo_state(ckpt.extras)
        if ours is None:
            raise UsageError(f"{last}: not an actionzoo training checkpoint; cannot resume from it")
        return last, ours, ckpt

    def _check_work_dir(self) -> tuple[Path, dict, object] | None:
        existing = sorted(self.work_dir.glob(f"*{self.suffix}")) if self.work_dir.is_dir() else []
        resumed = self._resume_state() if self.config.resume else None
        if existing and resumed is None:
            what = "pass --resume to continue it" if not self.config.resume else \
                f"but no last{self.suffix} to resume from"
            raise UsageError(f"{self.work_dir}: holds checkpoints of an earlier run ({existing[0].name}); "
                             f"{what}, or choose another --work-dir")
        return resumed

    def run(self) -> TrainResult:
        config, ctx, spec = self.config, self.ctx, self.spec
        resumed = self._check_work_dir()
        if resumed is None:
            require_reference_start(config, spec)  # before any work
        data: TrainingData = load_training_data(config, spec)
        plan = plan_training(config, spec, num_classes=data.num_classes,
                             class_names=data.class_names, train_samples=data.num_samples,
                             world_size=ctx.world_size)
        data.build(plan, flip_pairs=spec.recipe.flip_label_pairs)
        if resumed is not None:
            _check_same_run(resumed[0], resumed[1], plan)
            started = (resumed[1].get("plan") or {}).get("init")
            if config.init is None and started:
                plan = dataclasses.replace(plan, init=started)
        if ctx.is_main:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.work_dir / "config.json", json.dumps(
                {"plan": plan.to_dict(), "flags": config_dict(config)}, indent=2, default=str) + "\n")
        _say(ctx, plan.render())
        if config.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=False)
            torch.backends.cudnn.benchmark = False
        _seed_everything(plan.seed)

        model, report = self._model(plan, resumed)
        for line in report.lines():
            _say(ctx, line)
        net = self._wrap(model, plan)
        groups = parameter_groups(model, spec.recipe.optimizer, spec.recipe.init.classifier)
        optimizer = build_optimizer(groups, spec.recipe.optimizer, plan.lr)
        scaler = torch.amp.GradScaler(self.device.type, enabled=plan.amp == "fp16")
        start_epoch, iteration, history, best = 0, 0, [], None
        if resumed is not None:
            start_epoch, iteration, history, best = self._restore(resumed, optimizer, scaler)
            where = (f"in epoch {start_epoch + 1} after step {self._within['steps']}"
                     if self._within else f"after epoch {start_epoch}")
            _say(ctx, f"resumed from {resumed[0]} {where} (iteration {iteration})"
                 + (f"; --init {config.init} is where this run started, not applied again"
                    if config.init is not None else ""))
        log = RunLog(self.work_dir, enabled=ctx.is_main)
        result = TrainResult(self.work_dir, plan, None, None, start_epoch, history)
        try:
            self._epochs(plan, data, net, model, optimizer, scaler, start_epoch, iteration, best,
                         log, result)
        finally:
            log.close()
        if ctx.is_main and (self.work_dir / "log.jsonl").exists():
            plot_curves(self.work_dir / "log.jsonl", self.work_dir / "curves.png",
                        title=f"{spec.name}: {plan.epochs} epochs, batch {plan.batch_size}")
            _say(ctx, f"wrote {self.work_dir / 'curves.png'}")
        return result

    def _model(self, plan: TrainPlan, resumed) -> tuple[nn.Module, InitReport]:
        torch.manual_seed(plan.seed)  # the initialisation is the same on every process
        if resumed is not None:
            model = self.spec.builder(plan.num_classes)
            model.load_state_dict(resumed[2].state_dict)
            report = InitReport(f"{resumed[0]} (resuming)", loaded=len(resumed[2].state_dict))
        else:
            model, report = initial_model(self.spec, plan.num_classes, self.config.init,
                                          trusted=self.config.trust_checkpoint)
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = plan.dropout
        return model, report

    def _wrap(self, model: nn.Module, plan: TrainPlan) -> nn.Module:
        if plan.sync_bn and self.ctx.distributed:
            model, count = convert_sync_batchnorm(model, self.device)
            local = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()) - count
            _say(self.ctx, f"sync BN: {count} BatchNorm layers normalise over the global batch"
                 + (f"; {local} stay per process, as in the reference (so N processes are not "
                    "exactly one)" if local else ""))
        model.to(self.device)
        if not self.ctx.distributed:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids, broadcast_buffers=True)

    def _restore(self, resumed, optimizer, scaler) -> tuple[int, int, list, dict | None]:
        path, ours, ckpt = resumed
        state = optimizer_state(ckpt.extras)
        if state is None:
            raise UsageError(f"{path}: holds no optimizer state; cannot resume")
        optimizer.load_state_dict(state)
        if ours.get("scaler"):
            scaler.load_state_dict(ours["scaler"])
        rng = ours.get("rng") or {}
        if "python" in rng:
            random.setstate(_as_tuple(rng["python"]))
        if "numpy" in rng:
            np.random.set_state(tuple(rng["numpy"]))
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        within = ours.get("within_epoch")
        if within:  # a mid-epoch checkpoint: where in the epoch, and each process's generator
            if int(within["world_size"]) != self.ctx.world_size:
                raise UsageError(f"{path}: was written mid-epoch by {within['world_size']} "
                                 f"process(es); resume it with as many (this run has "
                                 f"{self.ctx.world_size})")
            self._within = within
        return int(ours["epochs_done"]), int(ours["iteration"]), list(ours.get("history", [])), \
            ours.get("best")

    # ------------------------------------------------------------------------------ epochs

    def _loader(self, data: TrainingData, plan: TrainPlan, sampler: EpochSampler):
        batches = torch.utils.data.BatchSampler(sampler, plan.per_process_batch, plan.drop_last)
        kwargs = {}
        if self.config.workers > 0:
            kwargs = dict(num_workers=self.config.workers, worker_init_fn=limit_worker_threads,
                          multiprocessing_context=worker_context(), prefetch_factor=2,
                          persistent_workers=False)
        return torch.utils.data.DataLoader(data.train, batch_sampler=batches, collate_fn=collate,
                                           pin_memory=self.device.type == "cuda", **kwargs)

    def _epochs(self, plan, data, net, model, optimizer, scaler, start_epoch, iteration, best,
                log: RunLog, result: TrainResult) -> None:
        ctx = self.ctx
        sampler = EpochSampler(len(data.train), seed=plan.seed, rank=ctx.rank, world=ctx.world_size)
        loader = self._loader(data, plan, sampler)
        total = plan.epochs * plan.iters_per_epoch
        params = [p for p in model.parameters() if p.requires_grad]
        with ProgressDisplay(total - iteration, f"train {self.spec.name}", "steps",
                             enabled=self.config.progress and ctx.is_main) as bar:
            saved_at = time.monotonic()
            for epoch in range(start_epoch, plan.epochs):
                within, self._within = self._within, None
                done_in_epoch = int(within["steps"]) if within else 0
                # the sampler position: this epoch's order without the batches already trained on
                sampler.set_epoch(epoch, skip=done_in_epoch * plan.per_process_batch)
                data.train.set_epoch(epoch)
                # Dropout and anything else drawing on torch's generator: a function of the epoch,
                # so a resumed epoch draws what the uninterrupted one drew.
                torch.manual_seed(plan.seed * 1000003 + epoch * 1009 + ctx.rank)
                net.train()
                losses = list(within["losses"]) if within else []
                batches = iter(loader)  # draws the loader's base seed from torch's generator
                if within:  # ...and then the generator as it was at the checkpoint
                    torch.set_rng_state(within["torch_rng"][ctx.rank])
                started = time.perf_counter()
                for batch, wait in _timed(batches):
                    iteration, loss = self._step(plan, net, optimizer, scaler, params, batch,
                                                 iteration, epoch, wait, started, total, log, bar,
                                                 result)
                    done_in_epoch += 1
                    if loss is not None:
                        losses.append(loss)
                    if done_in_epoch < plan.iters_per_epoch and self._checkpoint_due(iteration, saved_at):
                        self._save_within(plan, model, optimizer, scaler, epoch, iteration,
                                          done_in_epoch, losses, best, result)
                        saved_at = time.monotonic()
                    started = time.perf_counter()
                self._end_of_epoch(plan, data, net, model, optimizer, scaler, epoch, iteration,
                                   losses, best, log, result)
                best = result.history[-1].get("best") if result.history else best

    def _checkpoint_due(self, iteration: int, saved_at: float) -> bool:
        """Whether to rewrite last.* now; the same answer on every process (they all take part)."""
        steps, minutes = self.config.checkpoint_steps, self.config.checkpoint_minutes
        due = bool(steps and iteration % steps == 0)
        if minutes:
            late = torch.tensor([1.0 if time.monotonic() - saved_at >= 60 * minutes else 0.0])
            due = due or self.ctx.all_reduce_max(late).item() > 0  # rank clocks differ
        return due

    def _save_within(self, plan, model, optimizer, scaler, epoch, iteration, steps, losses, best,
                     result) -> None:
        """last.* mid-epoch: what --resume needs to go on from the next batch, with no step done
        twice and the weights an uninterrupted run would reach."""
        within = {"steps": steps, "losses": list(losses), "world_size": self.ctx.world_size,
                  "torch_rng": self.ctx.all_gather_object(torch.get_rng_state())}
        if self.ctx.is_main:
            self._write(plan, model, optimizer, scaler, epoch, iteration, result, best, within)
            _say(self.ctx, f"iteration {iteration}: wrote {self.work_dir / f'last{self.suffix}'} "
                           f"(epoch {epoch + 1}, step {steps}/{plan.iters_per_epoch})")
        self.ctx.barrier()

    def _step(self, plan, net, optimizer, scaler, params, batch: Batch, iteration, epoch, wait,
              started, total, log, bar, result) -> tuple[int, float | None]:
        ctx = self.ctx
        result.skipped += batch.failed
        for name, reason in _gathered_failures(ctx, batch.failed):
            _say(ctx, f"unreadable {name}: {reason}")
        # Every process must make the same collective calls (DDP's, and sync BN's once per
        # forward): a step runs only when every process has the same number of micro-batches.
        # Unreadable samples are replaced (training.data), so this skips only when nothing
        # readable was found nearby.
        if not _same_on_every_process(ctx, _chunk_count(len(batch), plan.micro_batch)):
            log.write({"kind": "skip", "epoch": epoch, "iter": iteration,
                       "reason": "a process's batch came out short (unreadable samples)"})
            _say(ctx, f"iteration {iteration + 1}: skipped on every process (a batch came out short)")
            return iteration + 1, None
        lr = learning_rate(plan.schedule, plan.lr, iteration, plan.iters_per_epoch)
        set_learning_rate(optimizer, lr)
        optimizer.zero_grad(set_to_none=True)
        compute_start = time.perf_counter()
        loss_sum = 0.0
        chunks = list(_micro_batches(batch, plan.micro_batch))
        for k, chunk in enumerate(chunks):
            sync = k == len(chunks) - 1 or not isinstance(net, nn.parallel.DistributedDataParallel)
            with (net.no_sync() if not sync else _null()):
                loss = self._loss(plan, net, chunk) * (len(chunk) / len(batch))
                scaler.scale(loss).backward()
            loss_sum += float(loss.detach())
        if plan.grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, plan.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        compute = time.perf_counter() - compute_start
        mean_loss = float(ctx.all_reduce_mean(torch.tensor([loss_sum], dtype=torch.float64)).item())
        if not math.isfinite(mean_loss):
            raise UsageError(f"the training loss became {mean_loss} at iteration {iteration} "
                             f"({_non_finite_hint(plan.amp, self.device.type)})")
        step_s = max(time.perf_counter() - started, 1e-9)
        clips = len(batch) * ctx.world_size
        remaining = total - iteration - 1
        record = {"kind": "train", "epoch": epoch + 1, "iter": iteration + 1, "loss": mean_loss,
                  "lr": lr, "clips_per_s": clips / step_s, "data_s": wait, "compute_s": compute,
                  "eta_s": remaining * step_s}
        log.write(record, step=iteration + 1)
        bar.advance(loss=mean_loss, lr=lr, clips_s=clips / step_s)
        return iteration + 1, mean_loss

    def _loss(self, plan: TrainPlan, net: nn.Module, batch: Batch) -> torch.Tensor:
        # The model's own dtype: float32, or float64 where a test checks the arithmetic exactly.
        weights = next(net.parameters()).dtype
        clips = batch.clips.to(self.device, dtype=weights, non_blocking=True)
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(plan.amp or "")
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
            if plan.loss == "bce":
                probs = net(clips, batch.boxes.to(self.device, dtype=weights))
            else:
                logits = net(clips)
        if plan.loss == "bce":  # BCE on probabilities is not autocast-safe: compute it in fp32+
            return F.binary_cross_entropy(probs.to(weights), batch.targets.to(self.device, weights))
        return F.cross_entropy(logits.to(weights), batch.labels.to(self.device))

    def _end_of_epoch(self, plan, data, net, model, optimizer, scaler, epoch, iteration, losses,
                      best, log, result) -> None:
        ctx = self.ctx
        done = epoch + 1
        # PySlowFast recomputes them on checkpoint and eval epochs only (tools/train_net.py:
        # ``is_checkpoint_epoch or is_eval_epoch``): 30 runs for X3D's 300 epochs, not 300.
        if plan.precise_bn_batches and (done % plan.checkpoint_every == 0
                                        or done % plan.val_every == 0 or done == plan.epochs):
            loader = self._loader(data, plan, EpochSampler(len(data.train), seed=plan.seed + 7919,
                                                           rank=ctx.rank, world=ctx.world_size))
            count = recompute_bn_statistics(net, loader, plan.precise_bn_batches, self.device, ctx,
                                            micro_batch=plan.micro_batch)
            _say(ctx, f"precise BN: statistics recomputed on {count} batches"
                 + (" (over every process's clips)" if ctx.distributed else ""))
        # What every process validates is what rank 0 saves (without sync BN or precise BN the
        # processes' running statistics differ): rank 0's buffers everywhere, as mmaction2's
        # DistEvalHook broadcasts them.
        with torch.no_grad():
            ctx.broadcast_buffers(model)
        epoch_loss = float(np.mean(losses)) if losses else float("nan")
        entry: dict[str, object] = {"epoch": done, "loss": epoch_loss}
        validate_now = data.has_validation and (done % plan.val_every == 0 or done == plan.epochs)
        if validate_now:
            metrics = validate(model, data, plan, self.device, self.work_dir, done, ctx,
                               workers=self.config.workers)
            if ctx.is_main:
                entry.update(metrics)
                value = metrics[metrics["metric"]]
                log.write({"kind": "val", "epoch": done, "metric": metrics["metric"],
                           "value": value, **{k: v for k, v in metrics.items()
                                              if isinstance(v, (int, float))}})
                _say(ctx, f"epoch {done}: validation {metrics['metric']} {100 * value:.2f}% "
                          f"({metrics['protocol']})")
                if best is None or value > best["value"]:
                    best = {"epoch": done, "value": value, "metric": metrics["metric"]}
        entry["best"] = best
        result.history.append(entry)
        result.epochs_done = done
        if ctx.is_main:
            self._save(plan, model, optimizer, scaler, done, iteration, result, best,
                       is_best=validate_now and best is not None and best["epoch"] == done)
        ctx.barrier()

    def _save(self, plan, model, optimizer, scaler, done, iteration, result, best, *, is_best) -> None:
        payload = self._write(plan, model, optimizer, scaler, done, iteration, result, best, None)
        last = self.work_dir / f"last{self.suffix}"
        result.last = last
        if done % plan.checkpoint_every == 0 or done == plan.epochs:
            save_checkpoint(self.work_dir / f"epoch_{done}{self.suffix}", payload)
        if is_best:
            result.best = save_checkpoint(self.work_dir / f"best{self.suffix}", payload)
        _say(self.ctx, f"epoch {done}/{plan.epochs}: loss {result.history[-1]['loss']:.4f}; "
                       f"wrote {last}")

    def _write(self, plan, model, optimizer, scaler, done, iteration, result, best,
               within: dict | None) -> dict:
        """Write last.* (atomically: a kill leaves the previous one) and return its payload."""
        ours = {
            "model": self.spec.name,
            "num_classes": plan.num_classes,
            "class_names": list(plan.class_names) if plan.class_names else None,
            "epochs_done": done,
            "iteration": iteration,
            "plan": json.loads(json.dumps(plan.to_dict(), default=str)),
            "scaler": scaler.state_dict() if scaler.is_enabled() else None,
            "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                    "torch": torch.get_rng_state()},
            "sampler_epoch": done,
            "history": result.history,
            "best": best,
            "within_epoch": within,  # None at an epoch's end
        }
        payload = checkpoint_payload(
            plan.checkpoint_format, model.state_dict(), optimizer.state_dict(),
            epochs_done=done, iteration=iteration, seed=plan.seed, config=ours["plan"], ours=ours,
            scaler=ours["scaler"])
        save_checkpoint(self.work_dir / f"last{self.suffix}", payload)
        return payload


def _chunk_count(size: int, micro: int) -> int:
    return -(-size // micro) if size else 0


def _same_on_every_process(ctx: DistContext, value: int) -> bool:
    """Whether ``value`` is the same non-zero number on every process (one all-reduce)."""
    both = ctx.all_reduce_max(torch.tensor([float(value), -float(value)], dtype=torch.float64))
    return both[0].item() == -both[1].item() and value > 0


def _gathered_failures(ctx: DistContext, failed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Every process's unreadable samples, for rank 0 to name (one small gather per step)."""
    return [item for part in ctx.all_gather_object(failed) for item in part]


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list) else value


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


def _check_same_run(path: Path, ours: dict, plan: TrainPlan) -> None:
    stored = ours.get("plan") or {}
    for key in ("model", "num_classes", "batch_size", "epochs", "seed"):
        if key in stored and stored[key] != getattr(plan, key):
            raise UsageError(f"{path}: was written by a run with {key} {stored[key]!r}, this one has "
                             f"{getattr(plan, key)!r}; resume with the same flags or use another "
                             "--work-dir")


def _non_finite_hint(amp: str | None, device: str) -> str:
    if amp == "fp16":
        return "lower --lr, or use --amp bf16 instead of fp16"
    if amp == "bf16" and device == "cpu":
        # Measured with torch 2.13 CPU: a (3, 1, 1) Conv3d over 2 frames of R(2+1)D's layer3 gets
        # bf16 weight gradients of 1e29 where fp32 gives 40; the first step then writes inf.
        return ("lower --lr, or train without --amp: on the CPU, torch's bf16 Conv3d weight "
                "gradients can overflow for some shapes (seen with R(2+1)D in torch 2.13)")
    return "lower --lr"
