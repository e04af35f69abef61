"""The shared run pieces: the one batch packer, stage timing, the progress display."""

from __future__ import annotations

import numpy as np
import pytest

from actionzoo.runtime.batching import BatchPacker, Deferred
from actionzoo.runtime.progress import ProgressDisplay
from actionzoo.runtime.streaming import stream_items
from actionzoo.runtime.timing import StageTimes
from actionzoo.data.work_item import WorkItem


def test_rows_of_many_items_come_back_to_their_items_in_order() -> None:
    calls: list[int] = []
    done: dict[str, list[int]] = {}

    def run(rows):
        calls.append(len(rows))
        return [row * 10 for row in rows]

    packer = BatchPacker(run, 4, lambda item, outputs: done.__setitem__(item, outputs))
    packer.add("a", [1, 2, 3])
    packer.add("b", [4, 5])  # fills the first call: a's three rows and b's first
    assert calls == [4] and done == {"a": [10, 20, 30]}
    packer.add("c", [6, 7, 8])  # b's last row and all of c: the second full call
    assert calls == [4, 4] and done["b"] == [40, 50] and done["c"] == [60, 70, 80]
    packer.add("d", [9])
    assert "d" not in done  # waits for more rows
    packer.flush()
    assert calls == [4, 4, 1] and done["d"] == [90]
    assert list(done) == ["a", "b", "c", "d"]
    packer.add("empty", [])
    assert done["empty"] == []


def test_groups_never_share_a_call_and_waiting_is_bounded() -> None:
    calls: list[list[tuple[str, int]]] = []
    packer = BatchPacker(lambda rows: (calls.append(list(rows)), rows)[1], 3,
                         lambda item, outputs: None, group_of=lambda row: row[0], max_waiting=4)
    for i in range(3):
        packer.add(i, [("small", i)])
        packer.add(i + 10, [("large", i)])
    packer.flush()
    for call in calls:
        assert len({kind for kind, _ in call}) == 1 and 1 <= len(call) <= 3
    assert sorted(i for call in calls for _, i in call) == [0, 0, 1, 1, 2, 2]


def test_a_wrong_output_count_is_an_error() -> None:
    packer = BatchPacker(lambda rows: rows[:-1], 2, lambda item, outputs: None)
    with pytest.raises(RuntimeError, match="a batch of 2 rows gave 1 outputs"):
        packer.add("x", [1, 2])


def test_deferred_calls_keep_one_in_flight_and_flush_takes_them_all() -> None:
    log: list[str] = []
    done: dict[str, list[int]] = {}

    def run(rows):
        call = len([e for e in log if e.startswith("start")])
        log.append(f"start {call}")

        def result():
            log.append(f"take {call}")
            return [row * 10 for row in rows]

        return Deferred(result)

    packer = BatchPacker(run, 2, lambda item, outputs: done.__setitem__(item, outputs))
    packer.add("a", [1, 2])
    assert log == ["start 0"] and not done  # running: its outputs are not taken yet
    packer.add("b", [3, 4])
    assert log == ["start 0", "start 1", "take 0"] and done == {"a": [10, 20]}
    packer.add("c", [5])
    packer.flush()
    assert log == ["start 0", "start 1", "take 0", "start 2", "take 1", "take 2"]
    assert done == {"a": [10, 20], "b": [30, 40], "c": [50]}

    log.clear()
    eager = BatchPacker(run, 1, lambda item, outputs: None, in_flight=0)
    eager.add("x", [1, 2])
    assert log == ["start 0", "take 0", "start 1", "take 1"]
    with pytest.raises(ValueError, match="in_flight"):
        BatchPacker(run, 1, lambda item, outputs: None, in_flight=-1)


def test_streaming_sends_failures_aside_and_charges_time() -> None:
    items = [WorkItem(0, [np.ones(2)], None, 0.5, 0.25), WorkItem(1, None, "broken", 0.1, 0.0),
             WorkItem(2, [np.zeros(2), np.ones(2)], None, 0.5, 0.25)]
    times = StageTimes()
    finished, failed = [], []
    packer = BatchPacker(lambda rows: [r.sum() for r in rows], 2,
                         lambda item, outputs: finished.append((item.position, outputs)), times=times)
    interrupted = stream_items(iter(items), packer, on_failure=lambda item: failed.append(item.error),
                               times=times)
    assert not interrupted and failed == ["broken"]
    assert finished == [(0, [2.0]), (2, [0.0, 2.0])]
    assert times.decode == pytest.approx(1.1) and times.preprocess == pytest.approx(0.5)
    assert times.wall >= times.model


def test_stage_times_name_the_stage_that_bounds_throughput() -> None:
    model_bound = StageTimes(decode=1.0, preprocess=2.0, model=10.0, waiting=2.5, wall=12.6)
    assert model_bound.bound().startswith("the model:") and "1.26x" in model_bound.bound()
    preprocessing = StageTimes(decode=1.2, preprocess=6.0, model=4.3, waiting=5.5, wall=9.9)
    assert preprocessing.bound().startswith("the data path (preprocessing)")
    decoding = StageTimes(decode=6.0, preprocess=1.0, model=4.0, waiting=1.01, wall=5.1)
    assert decoding.bound().startswith("the data path (decoding)")
    assert StageTimes().bound() == "nothing measured"


def test_progress_display_counts_and_can_be_disabled(capsys) -> None:
    with ProgressDisplay(3, "eval", "videos") as bar:
        for _ in range(3):
            bar.advance(loss=0.25)
    assert "3/3" in capsys.readouterr().err
    with ProgressDisplay(3, "eval", "videos", enabled=False) as bar:
        bar.advance()
    assert capsys.readouterr().err == ""


def test_the_plots_leave_the_callers_matplotlib_as_it_was(tmp_path) -> None:
    """curves.png, bench.png and timeline.png are drawn on their own Figure: an API user's backend
    (a notebook's) is not switched to Agg, and no figure stays registered in pyplot."""
    import json
    import subprocess
    import sys

    code = f"""
import json, sys
from pathlib import Path
import matplotlib
matplotlib.use("svg")
from actionzoo.engines.throughput import BenchRow, plot_rows
from actionzoo.training.logs import plot_curves
out = Path({str(tmp_path)!r})
(out / "log.jsonl").write_text("\\n".join(json.dumps(r) for r in [
    {{"kind": "train", "iter": 1, "loss": 2.0, "lr": 0.1}}, {{"kind": "train", "iter": 2, "loss": 1.0, "lr": 0.1}},
    {{"kind": "val", "epoch": 1, "value": 0.5}}]) + "\\n")
plot_curves(out / "log.jsonl", out / "curves.png", title="t")
plot_rows([BenchRow("m", "pytorch", "eager", "cpu", "fp32", b, 10.0 * b, 1.0, 2.0, 3) for b in (1, 2)],
          out / "bench.png")
print(json.dumps([matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == ["svg", False]
    for name in ("curves.png", "bench.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
