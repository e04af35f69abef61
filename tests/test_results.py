"""The SQLite results store: commit per video, resume, refuse mixing evaluations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from actionzoo.errors import UsageError
from actionzoo.evaluation.store import ResultsStore

CONFIG = {"model": "m", "protocol": "official", "engine": "onnxruntime"}


def test_rows_persist_and_resume_skips_them(tmp: Path) -> None:
    db = tmp / "r.db"
    with ResultsStore(db, CONFIG, resume=False) as store:
        store.record_success("v1", 0, "a.mp4", 3, np.array([0.1, 0.9]), 30, 0.5, 0.2)
        store.record_failure("v2", 1, "b.mp4", 1, "b.mp4: no video stream")
    with ResultsStore(db, CONFIG, resume=True) as store:
        assert store.done_ids() == {"v1", "v2"}
        results = list(store.results())
    assert [r.video_id for r in results] == ["v1", "v2"]
    np.testing.assert_array_equal(results[0].scores, [0.1, 0.9])
    assert results[1].status == "failed" and "no video stream" in results[1].reason


def test_existing_results_need_resume(tmp: Path) -> None:
    db = tmp / "r.db"
    ResultsStore(db, CONFIG, resume=False).close()
    with ResultsStore(db, CONFIG, resume=False) as store:  # empty file: nothing to lose
        store.record_success("v1", 0, "a.mp4", 0, np.zeros(2), 1, 0.0, 0.0)
    with pytest.raises(UsageError, match="pass --resume"):
        ResultsStore(db, CONFIG, resume=False)


def test_resume_refuses_another_evaluation(tmp: Path) -> None:
    db = tmp / "r.db"
    with ResultsStore(db, CONFIG, resume=False) as store:
        store.record_success("v1", 0, "a.mp4", 0, np.zeros(2), 1, 0.0, 0.0)
    with pytest.raises(UsageError, match="belongs to another evaluation.*engine"):
        ResultsStore(db, {**CONFIG, "engine": "openvino"}, resume=True)


def test_a_video_is_never_counted_twice(tmp: Path) -> None:
    with ResultsStore(tmp / "r.db", CONFIG, resume=False) as store:
        store.record_success("v1", 0, "a.mp4", 0, np.zeros(2), 1, 0.0, 0.0)
        store.record_success("v1", 0, "a.mp4", 0, np.ones(2), 1, 0.0, 0.0)
        assert len(list(store.results())) == 1


def test_not_a_database(tmp: Path) -> None:
    bad = tmp / "bad.db"
    bad.write_text("hello, I am not SQLite" * 100)
    with pytest.raises(UsageError, match="bad.db: not a results database"):
        ResultsStore(bad, CONFIG, resume=True)


def test_resume_keys_on_provider_device_and_precision(tmp: Path) -> None:
    from actionzoo.engines.base import EngineInfo

    cpu = EngineInfo("onnxruntime", "CPUExecutionProvider", "cpu", "fp32")
    cuda = EngineInfo("onnxruntime", "CUDAExecutionProvider", "cuda:0", "fp32")
    with ResultsStore(tmp / "r.db", {"model": "m", **cpu.key()}, resume=False) as store:
        store.record_success("v1", 0, "a.mp4", 0, np.zeros(2), 1, 0.0, 0.0)
    with pytest.raises(UsageError, match="belongs to another evaluation \\(provider"):
        ResultsStore(tmp / "r.db", {"model": "m", **cuda.key()}, resume=True)
    bf16 = EngineInfo("onnxruntime", "CPUExecutionProvider", "cpu", "bf16")
    with pytest.raises(UsageError, match="belongs to another evaluation \\(precision"):
        ResultsStore(tmp / "r.db", {"model": "m", **bf16.key()}, resume=True)


def test_a_detection_store_is_not_a_recognition_store(tmp: Path) -> None:
    from actionzoo.evaluation.store import KeyframeStore

    with KeyframeStore(tmp / "ava.db", {"model": "m"}, resume=False) as store:
        store.record_success(0, "vid,0902", "vid", 902, np.zeros((1, 4)), np.zeros((1, 80)), 0.0, 0.0)
    with pytest.raises(UsageError, match="not an actionzoo results database for videos"):
        ResultsStore(tmp / "ava.db", {"model": "m"}, resume=True)
