"""The decode-worker count ``eval`` picks by measurement (``engines.worker_count``): the rule on
given costs, the measurements on real files and a real worker, and ``evaluate`` with measurements
injected, whose scores do not depend on the worker count."""

from __future__ import annotations

import itertools
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import random_state

import actionzoo
from actionzoo.data.annotations import VideoRecord
from actionzoo.data.synthetic import write_synthetic_videos
from actionzoo.engines import worker_count
from actionzoo.engines.base import EngineBase, EngineInfo
from actionzoo.engines.options import EngineOptions, build_engine
from actionzoo.engines.worker_count import (
    HEADROOM,
    PipelineCosts,
    WorkerChoice,
    measure_costs,
    pick_workers,
    views_per_second,
    workers_or_measured,
)

MODEL = "slowfast_r50_8x8x1_k400"  # Ascend protocol at a 64-pixel crop: one small view per video


@pytest.fixture
def tuning(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ACTIONZOO_TUNING", "on")
    monkeypatch.setenv("ACTIONZOO_CACHE", str(tmp / "cache"))
    return tmp / "cache" / "tuning.json"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("worker_count")
    written = write_synthetic_videos(root, num_classes=2, videos_per_class=3, num_frames=40,
                                     size=(64, 86))
    (root / "videos" / "corrupt.mp4").write_bytes(os.urandom(3000))
    lines = written.annotation.read_text().splitlines()
    (root / "eval.txt").write_text("\n".join(lines + ["videos/corrupt.mp4 1"]) + "\n")
    (root / "corrupt_first.txt").write_text("\n".join(["videos/corrupt.mp4 1", *lines]) + "\n")
    torch.save({"state_dict": random_state(MODEL, seed=5)}, root / "w.pth")
    return root


def _protocol():
    return actionzoo.get_model_spec(MODEL).protocol("ascend").scaled(64)


def _records(root: Path, ann: str) -> list[VideoRecord]:
    return [VideoRecord(path=root / line.split()[0], label=int(line.split()[1]),
                        video_id=line.split()[0])
            for line in (root / ann).read_text().splitlines()]


# ------------------------------------------------------------------------------------ the rule


@pytest.mark.parametrize("costs, most, expected", [
    # one core: decoding in this process is as fast as anything else
    (PipelineCosts(0.14, 0.05, cores=1, model_threads=1), 4, 0),
    # 2 cores, a model 3x dearer than the data (X3D-S official after issue 21): one worker
    (PipelineCosts(0.14, 0.05, cores=2, model_threads=2), 4, 1),
    # 2 cores, data dearer than the model (X3D-S before issue 21's resize-first change): two
    (PipelineCosts(0.036, 0.06, cores=2, model_threads=2), 4, 2),
    # a single-threaded model on 8 cores and data 3x its cost: workers up to the supply it needs
    (PipelineCosts(0.1, 0.3, cores=8, model_threads=1), 8, 5),
    # never more workers than videos, nor than cores
    (PipelineCosts(0.1, 0.3, cores=8, model_threads=1), 2, 2),
    (PipelineCosts(0.01, 1.0, cores=4, model_threads=4), 16, 4),
])
def test_the_fewest_workers_that_keep_the_model_fed(costs, most, expected) -> None:
    assert pick_workers(costs, max_workers=most) == expected


def test_the_choice_is_minimal_and_its_supply_has_the_headroom() -> None:
    """Over a grid of costs: the chosen count supplies HEADROOM x the best rate (or is all the
    cores), one fewer does not, and no count is faster than the chosen one."""
    grid = itertools.product([0.005, 0.05, 0.3, 2.0], [0.001, 0.02, 0.2, 1.5], [1, 2, 4, 16],
                             [1, 2, 16])
    for m, d, cores, threads in grid:
        costs = PipelineCosts(m, d, cores, min(threads, cores))
        chosen = pick_workers(costs, max_workers=64)
        rates = [views_per_second(costs, w) for w in range(cores + 1)]
        assert views_per_second(costs, chosen) >= max(rates) * (1 - 1e-9), costs
        if chosen >= 1 and chosen < cores:
            assert chosen / d >= HEADROOM * max(rates) * (1 - 1e-9), costs
        if chosen > 1:
            assert (chosen - 1) / d < HEADROOM * max(rates), costs


def test_costs_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        pick_workers(PipelineCosts(0.0, 0.1, 2, 2), 4)


# ------------------------------------------------------------------------ when it is measured


class CudaStub(EngineBase):
    def __init__(self) -> None:
        self.info = EngineInfo("stub", "stub", "cuda:0", "fp32")

    def run(self, x: np.ndarray) -> np.ndarray:
        return np.zeros((len(x), 400), np.float32)


def _no_measuring(*_args, **_kwargs):
    raise AssertionError("measured although it need not be")


def test_given_workers_are_kept_and_nothing_is_measured(tuning, monkeypatch, data) -> None:
    monkeypatch.setattr(worker_count, "measure_costs", _no_measuring)
    spec = actionzoo.get_model_spec(MODEL)
    engine = build_engine(spec, EngineOptions(checkpoint=data / "w.pth"))
    assert workers_or_measured(3, spec, _protocol(), engine, 2, []) == WorkerChoice(3, None)


def test_cuda_engines_get_every_core_and_measuring_off_gets_two(monkeypatch, data) -> None:
    monkeypatch.setattr(worker_count, "measure_costs", _no_measuring)
    spec = actionzoo.get_model_spec(MODEL)
    cuda = workers_or_measured(None, spec, _protocol(), CudaStub(), 2, [])
    assert cuda.workers == worker_count.cores_per_process() and "cuda:0" in cuda.how
    engine = build_engine(spec, EngineOptions(checkpoint=data / "w.pth"))
    monkeypatch.setenv("ACTIONZOO_TUNING", "off")
    off = workers_or_measured(None, spec, _protocol(), engine, 2, _records(data, "eval.txt"))
    assert off.workers == 2 and "ACTIONZOO_TUNING=off" in off.how


def test_both_sides_are_measured_on_real_files_and_a_real_worker(tuning, data) -> None:
    """The data side skips an unreadable first video; with none readable, the default and why."""
    spec = actionzoo.get_model_spec(MODEL)
    engine = build_engine(spec, EngineOptions(checkpoint=data / "w.pth", threads=1))
    costs = measure_costs(spec, _protocol(), engine, 2, _records(data, "corrupt_first.txt"))
    assert costs is not None
    assert 0 < costs.data_s_per_view < 5 and 0 < costs.model_s_per_view < 30
    assert costs.model_threads == 1 and costs.cores == worker_count.cores_per_process()
    unreadable = [VideoRecord(path=data / "videos" / "corrupt.mp4", label=0, video_id="c")] * 4
    choice = workers_or_measured(None, spec, _protocol(), engine, 2, unreadable)
    assert choice.workers == worker_count.CPU_DEFAULT and "could be read" in choice.how


# ------------------------------------------------------------------------ evaluate


def _evaluate(data: Path, results: Path, workers: int | None):
    options = actionzoo.EvaluationOptions(batch_size=2, workers=workers, progress=False,
                                          class_names=data / "classes.txt")
    return actionzoo.evaluate(MODEL, data / "eval.txt", data, results=results,
                              engine=actionzoo.EngineOptions(checkpoint=data / "w.pth"),
                              protocol=_protocol(), options=options)


def _scores(db: Path) -> dict[str, tuple[str, bytes | None]]:
    with sqlite3.connect(db) as con:
        return {v: (s, b) for v, s, b in con.execute("SELECT video_id, status, scores FROM videos")}


def test_evaluate_runs_at_the_measured_count_and_scores_do_not_depend_on_it(
        tuning, monkeypatch, data, tmp, capsys) -> None:
    injected = PipelineCosts(0.2, 0.1, cores=2, model_threads=2)  # one worker keeps it fed
    monkeypatch.setattr(worker_count, "measure_costs", lambda *a, **k: injected)
    measured = _evaluate(data, tmp / "measured.db", None)
    assert measured.workers == 1
    assert measured.workers_how.startswith("measured: model 200.0 ms/view on 2 threads, a worker "
                                           "100.0 ms/view, 2 cores")
    out = capsys.readouterr().out
    assert "1 decode worker: measured: model 200.0 ms/view" in out and "--workers sets it" in out
    assert "2 views / 1 — measured: model 200.0 ms/view" in measured.render_text()
    assert measured.to_dict()["workers_how"] == measured.workers_how

    monkeypatch.setattr(worker_count, "measure_costs", _no_measuring)
    for workers in (0, 2):
        given = _evaluate(data, tmp / f"given{workers}.db", workers)
        assert given.workers == workers and given.workers_how is None
        assert given.metrics == measured.metrics and given.failed == measured.failed
        assert _scores(tmp / f"given{workers}.db") == _scores(tmp / "measured.db")  # bit for bit


# ---------------------------------------------------------------- predict and bench --e2e


def test_predict_and_bench_e2e_pick_their_workers_as_eval_does(tuning, monkeypatch, data) -> None:
    """Without ``workers`` both measure (the same rule as ``eval``), say so, and run at that count;
    a given count is kept without measuring. Their scores do not depend on it."""
    from actionzoo.bench import e2e
    from actionzoo.prediction.run import PredictOptions, predict_videos

    injected = PipelineCosts(0.2, 0.1, cores=2, model_threads=2)  # one worker keeps it fed
    asked: list[int] = []

    def measured(spec, protocol, engine, batch, records, probes=None):
        asked.append(len(records))
        return injected

    monkeypatch.setattr(worker_count, "measure_costs", measured)
    engine = EngineOptions(checkpoint=data / "w.pth")
    videos = sorted(str(p) for p in (data / "videos").rglob("*_*.mp4"))  # not corrupt.mp4
    run = predict_videos(MODEL, videos, engine=engine,
                         options=PredictOptions(protocol=_protocol(), batch_size=2, progress=False))
    assert run.workers == 1 and asked == [len(videos)]
    assert run.workers_how == ("1 decode worker: measured: model 200.0 ms/view on 2 threads, a "
                               "worker 100.0 ms/view, 2 cores; 4.0 views/s; --workers sets it")
    bench = e2e(MODEL, data / "videos", engine=engine, protocol=_protocol(), batch_size=2,
                progress=False)
    assert bench.workers == 1 and bench.workers_how == run.workers_how
    assert f"  {run.workers_how}" in bench.render().splitlines()

    monkeypatch.setattr(worker_count, "measure_costs", _no_measuring)
    given = predict_videos(MODEL, videos, engine=engine, options=PredictOptions(
        protocol=_protocol(), batch_size=2, workers=0, progress=False))
    assert given.workers == 0 and given.workers_how is None
    for a, b in zip(run.predictions, given.predictions, strict=True):
        assert a.video == b.video and np.array_equal(a.scores, b.scores)
    assert e2e(MODEL, data / "videos", engine=engine, protocol=_protocol(), batch_size=2, workers=0,
               progress=False).workers_how is None
