"""What an evaluation reports: the figures, the protocol they were measured under, the engine that
produced them, the items that failed and where the time went; as text, JSON and Markdown."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from actionzoo.precision.drift import DriftReport
from actionzoo.runtime.precisions import Precision
from actionzoo.runtime.timing import StageTimes

__all__ = ["EvalReport"]


def _percent(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}"


@dataclass
class EvalReport:
    """A recognition evaluation: top-1/top-5/mean class accuracy over every stored video."""

    model: str
    protocol: str  # name: clips × crops × size, aggregation
    engine: str  # the engine's description (name, provider, device, precision, threads)
    precision: Precision  # a str-valued enum: the JSON and text hold its name, as before
    batch_size: int
    workers: int
    total: int
    scored: int
    failed: list[tuple[str, str]]  # (item id, reason)
    metrics: dict[str, float]
    times: StageTimes = field(default_factory=StageTimes)
    scored_this_run: int = 0
    interrupted: bool = False
    per_class: list[tuple[int, str, float | None]] = field(default_factory=list)  # (id, name, value)
    drift: DriftReport | None = None  # a reduced precision's cost, measured on some of the videos
    drift_note: str | None = None  # why a reduced precision's drift was not measured
    workers_how: str | None = None  # how the worker count was chosen (measured, given, default)

    unit = "videos"

    def _drift_dict(self) -> dict[str, object] | None:
        if self.drift is not None:
            return {"measured": True, **self.drift.to_dict()}
        if self.drift_note:
            return {"measured": False, "reason": self.drift_note}
        return None

    def _drift_text(self) -> list[str]:
        if self.drift is not None:
            return ["", self.drift.render()]
        if self.drift_note:
            return ["", f"drift vs fp32 not measured: {self.drift_note}"]
        return []

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "protocol": self.protocol,
            "engine": self.engine,
            "precision": self.precision,
            "batch_size": self.batch_size,
            "workers": self.workers,
            "workers_how": self.workers_how,
            "videos": {"total": self.total, "scored": self.scored, "failed": len(self.failed)},
            "metrics": self.metrics,
            "failed": [{"video": v, "reason": r} for v, r in self.failed],
            "times_s": self.times.to_dict(),
            "scored_this_run": self.scored_this_run,
            "interrupted": self.interrupted,
            "per_class": [{"id": i, "name": n, "value": v} for i, n, v in self.per_class],
            "drift": self._drift_dict(),
        }

    def _figure_rows(self) -> list[tuple[str, str]]:
        m = self.metrics
        return [
            ("videos", f"{self.scored} scored, {len(self.failed)} failed, of {self.total}"),
            ("top-1", _percent(m.get("top1"))),
            ("top-5", _percent(m.get("top5"))),
            ("mean class accuracy", _percent(m.get("mean_class_accuracy"))),
        ]

    def _time_rows(self) -> list[tuple[str, str]]:
        t = self.times
        return [
            ("wall time (this run)", f"{t.wall:.1f} s for {self.scored_this_run} {self.unit}"),
            ("  model", t.share(t.model)),
            ("  waiting for data", t.share(t.waiting)),
            ("  other", t.share(t.other)),
            ("decode (workers)", f"{t.decode:.1f} s"),
            ("preprocess (workers)", f"{t.preprocess:.1f} s"),
        ]

    def _status_rows(self) -> list[tuple[str, str]]:
        if self.interrupted:
            return [("status", "interrupted: rerun with --resume to finish")]
        return []

    def _rows(self) -> list[tuple[str, str]]:
        return [
            ("model", self.model),
            ("protocol", self.protocol),
            ("engine", f"{self.engine}, precision {self.precision}"),
            ("batch / workers", f"{self.batch_size} views / {self.workers}"
                                + (f" — {self.workers_how}" if self.workers_how else "")),
            *self._figure_rows(),
            *self._time_rows(),
            *self._status_rows(),
        ]

    def _class_title(self) -> str:
        return "per-class accuracy (%):"

    def render_text(self) -> str:
        rows = self._rows()
        width = max(len(k) for k, _ in rows)
        lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
        for item, reason in self.failed:
            lines.append(f"FAILED {item}: {reason}")
        if self.per_class:
            name_width = max(len(n) for _, n, _ in self.per_class)
            lines += ["", self._class_title()]
            lines += [f"  {i:>3}  {n.ljust(name_width)}  {_percent(v):>6}" for i, n, v in self.per_class]
        lines += self._drift_text()
        return "\n".join(lines)

    def render_markdown(self) -> str:
        lines = ["| | |", "|---|---|"]
        lines += [f"| {k.strip()} | {v} |" for k, v in self._rows()]
        if self.failed:
            lines += ["", f"Failed {self.unit}:", ""]
            lines += [f"- `{item}`: {reason}" for item, reason in self.failed]
        if self.per_class:
            lines += ["", f"| id | class | {self._class_title().rstrip(':')} |", "|---:|---|---:|"]
            lines += [f"| {i} | {n} | {_percent(v)} |" for i, n, v in self.per_class]
        drift = self._drift_text()
        if drift:
            lines += ["", "```", *drift[1:], "```"]
        return "\n".join(lines) + "\n"
