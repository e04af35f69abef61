"""The shared runner of ``actionzoo prepare``: atomic folders, failures that do not stop the run."""

from __future__ import annotations

from pathlib import Path

from actionzoo.errors import DataError
from actionzoo.preparation.runner import VideoTask, parse_shard, run_tasks


def _job(task: VideoTask, folder: Path) -> int:
    if task.key == "data":
        (folder / "half.jpg").write_bytes(b"x")
        raise DataError(f"{task.source}: truncated")
    if task.key == "bug":
        raise RuntimeError("codec exploded\nsecond line")
    for i in range(3):
        (folder / f"img_{i + 1:05d}.jpg").write_bytes(b"x")
    return 3


def test_failures_are_one_line_each_and_leave_no_folder(tmp_path):
    out = tmp_path / "out"
    tasks = [VideoTask(key, tmp_path / f"{key}.mp4", out / key) for key in ("a", "data", "bug", "b")]
    logged: list[str] = []
    summary = run_tasks(tasks, _job, out_root=out, progress=False, log=logged.append)
    assert (summary.done, summary.frames) == (2, 6)
    assert dict(summary.failed) == {str(tmp_path / "data.mp4"): f"{tmp_path / 'data.mp4'}: truncated",
                                    str(tmp_path / "bug.mp4"): f"{tmp_path / 'bug.mp4'}: RuntimeError: codec exploded"}
    assert sorted(logged) == sorted(f"FAILED {reason}" for _, reason in summary.failed)
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]  # no partial or failed folder left
    assert summary.failure_list == tmp_path / "out.failed.txt"
    assert len(summary.failure_list.read_text().splitlines()) == 2


def test_shards_are_disjoint_and_cover_every_task(tmp_path):
    tasks = [VideoTask(f"v{i:02d}", tmp_path / f"v{i}.mp4", tmp_path / "out" / f"v{i:02d}") for i in range(11)]
    parts = [parse_shard(f"{k}/3").select(tasks) for k in range(3)]
    keys = [task.key for part in parts for task in part]
    assert sorted(keys) == sorted(task.key for task in tasks) and len(set(keys)) == 11
    assert [len(part) for part in parts] == [4, 4, 3]
    # the split depends on the keys only, not on the order they were found in
    assert parse_shard("1/3").select(tasks[::-1]) == parts[1]
    summary = run_tasks(tasks, _job, out_root=tmp_path / "out", shard=parse_shard("2/3"), progress=False)
    assert summary.done == 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [task.key for task in parts[2]]
