"""The whole pipeline timed over a folder of videos (``actionzoo bench --e2e``): decode workers,
views, engine batches and score aggregation, exactly as ``eval`` runs them, into a store that is
thrown away; the time is split into model, waiting for data and the rest."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from actionzoo.engines.options import EngineOptions, apply_upload, build_engine
from actionzoo.errors import UsageError

__all__ = ["VIDEO_SUFFIXES", "E2EResult", "check_e2e", "e2e"]

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".webm", ".mkv", ".mov"})


@dataclass
class E2EResult:
    videos: int
    engine: str  # the engine's description
    batch_size: int
    workers: int
    report: object  # the EvalReport of the run (times, failures)
    workers_how: str | None = None  # the worker count's line, when it was measured here

    @property
    def videos_per_s(self) -> float:
        wall = self.report.times.wall
        return self.report.scored_this_run / wall if wall else 0.0

    def render(self) -> str:
        t = self.report.times
        lines = [
            f"end to end on {self.videos} videos with {self.engine}, batch {self.batch_size}, "
            f"{self.workers} workers: {self.videos_per_s:.2f} videos/s",
            f"  wall {t.wall:.1f} s = model {t.model:.1f} + waiting for data {t.waiting:.1f} + "
            f"other {t.other:.1f}; workers spent decode {t.decode:.1f} s, preprocess "
            f"{t.preprocess:.1f} s",
            f"  throughput bound by {t.bound()}",
        ]
        if self.workers_how:
            lines.insert(1, f"  {self.workers_how}")
        failed = self.report.failed
        if failed:
            lines.append(f"  {len(failed)} videos failed: "
                         + "; ".join(f"{v}: {r}" for v, r in failed))
        return "\n".join(lines)


def check_e2e(spec, protocol) -> None:
    """Refuse a detector before any time is spent: the end-to-end run scores whole videos."""
    if protocol.is_detection:
        raise UsageError("--e2e runs recognizers over a folder of videos; for "
                         f"{spec.name} run `actionzoo eval` on an AVA-layout folder")


def e2e(
    model,
    folder: str | Path,
    *,
    engine: EngineOptions | None = None,
    protocol="official",
    batch_size: int = 16,
    workers: int | None = None,
    progress: bool = True,
) -> E2EResult:
    """Time ``model`` (a name or spec) end to end over every video file under ``folder``."""
    from actionzoo.data.annotations import VideoRecord
    from actionzoo.evaluation.recognition import evaluate_records
    from actionzoo.engines.worker_count import workers_or_measured
    from actionzoo.evaluation.store import ResultsStore
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(model)
    protocol = spec.protocol(protocol)
    check_e2e(spec, protocol)
    engine_options = engine or EngineOptions()
    folder = Path(folder)
    videos = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise UsageError(f"{folder}: no video files ({' '.join(sorted(VIDEO_SUFFIXES))}) found")
    records = [VideoRecord(path=p, label=0, video_id=str(p.relative_to(folder))) for p in videos]
    engine = build_engine(spec, engine_options)
    apply_upload(engine, protocol, engine_options.upload)
    choice = workers_or_measured(workers, spec, protocol, engine, batch_size, records)
    workers = choice.workers
    with tempfile.TemporaryDirectory() as tmp, \
            ResultsStore(Path(tmp) / "bench.db", {"bench": True}, resume=False) as store:
        report = evaluate_records(records, model_name=spec.name, protocol=protocol, engine=engine,
                                  store=store, batch_size=batch_size, workers=workers,
                                  progress=progress)
    return E2EResult(len(videos), engine.info.describe(), batch_size, workers, report,
                     choice.describe())
