"""``actionzoo prepare frames``: mmaction2's ``build_rawframes.py --use-opencv`` output, resumable,
sharded, with bad inputs named. Every video here is generated; frames carry their own index."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import actionzoo
from actionzoo.errors import UsageError
from actionzoo.preparation.frames import Resize, resized_size
from actionzoo.preparation.runner import parse_shard, resolve_shard
from helpers import CLI_ENV, run_cli
from media import (
    decode_index,
    write_audio_only_m4a,
    write_corrupt_mp4,
    write_garbage_file,
    write_h264_mp4,
    write_mpeg4_avi,
    write_truncated_mp4,
    write_vp9_webm,
    write_zero_frame_avi,
)


def reference_frames(video: Path, short: int | None = None, wh: tuple[int, int] | None = None) -> list[bytes]:
    """The reference's rule written from its facts: cv2.VideoCapture for CAP_PROP_FRAME_COUNT
    frames; short side -> N with the long side int()-truncated, or exactly W x H, bilinear;
    cv2's JPEG at its default quality (95)."""
    capture = cv2.VideoCapture(str(video))
    out = []
    for _ in range(int(capture.get(cv2.CAP_PROP_FRAME_COUNT))):
        ok, frame = capture.read()
        if not ok:  # "Length inconsistent!": the reference stops and keeps what it has
            break
        h, w = frame.shape[:2]
        if short is not None:
            size = (int(short / h * w), short) if h < w else (short, int(short / w * h))
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
        elif wh is not None:
            frame = cv2.resize(frame, wh, interpolation=cv2.INTER_LINEAR)
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
        out.append(bytes(data))
    capture.release()
    return out


def frame_files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def ucf_tree(tmp_path_factory) -> Path:
    """A UCF-101-like tree: two classes, AVI (mpeg4) and MP4 (H.264) videos."""
    root = tmp_path_factory.mktemp("videos")
    for name in ("Archery", "Biking"):
        (root / name).mkdir()
    write_mpeg4_avi(root / "Archery" / "v_Archery_g01_c01.avi", 20)
    write_mpeg4_avi(root / "Archery" / "v_Archery_g01_c02.avi", 14)
    write_mpeg4_avi(root / "Biking" / "v_Biking_g01_c01.avi", 9)
    write_h264_mp4(root / "Archery" / "v_Archery_g02_c01.mp4", 16)
    write_h264_mp4(root / "Biking" / "v_Biking_g02_c01.mp4", 11)
    return root


def test_resize_rule_truncates_the_long_side():
    assert resized_size(120, 160, Resize(short=100)) == (100, 133)  # 100/120*160 = 133.33
    assert resized_size(160, 120, Resize(short=100)) == (133, 100)  # portrait: width is short
    assert resized_size(240, 320, Resize(short=256)) == (256, 341)  # 341.33
    assert resized_size(120, 160, Resize(width=50, height=40)) == (40, 50)
    assert resized_size(120, 160, Resize()) == (120, 160)
    with pytest.raises(UsageError):
        Resize(short=100, width=50, height=40)
    with pytest.raises(UsageError):
        Resize(width=50)


@pytest.mark.parametrize("ext", ["avi", "mp4"])
@pytest.mark.parametrize("level", [1, 2])
def test_frames_match_the_reference_byte_for_byte(ucf_tree, tmp_path, ext, level):
    src = ucf_tree if level == 2 else ucf_tree / "Archery"
    out = tmp_path / "rawframes"
    summary = actionzoo.prepare_frames(src, out, level=level, ext=ext, progress=False)
    videos = sorted(src.glob("/".join(["*"] * level) + "." + ext))
    assert summary.ok and summary.done == len(videos) and summary.skipped == 0
    for video in videos:
        folder = out / video.relative_to(src).with_suffix("")  # Class/video at level 2, video at 1
        expected = reference_frames(video)
        files = frame_files(folder)
        assert [f.name for f in files] == [f"img_{i:05d}.jpg" for i in range(1, len(expected) + 1)]
        assert [f.read_bytes() for f in files] == expected
        # and the frames are the video's frames, in order (their drawn indices)
        codes = [decode_index(cv2.imread(str(f))[..., ::-1]) for f in files]
        assert codes == list(range(len(expected)))
    assert sorted(p.name for p in out.iterdir()) == sorted(
        {v.relative_to(src).parts[0] if level == 2 else v.stem for v in videos})


@pytest.mark.parametrize("resize", [{"new_short": 100}, {"new_width": 90, "new_height": 50}])
@pytest.mark.parametrize("ext", ["avi", "mp4"])
def test_resized_frames_match_the_reference(ucf_tree, tmp_path, ext, resize):
    out = tmp_path / "rawframes"
    summary = actionzoo.prepare_frames(ucf_tree, out, level=2, ext=ext, progress=False, **resize)
    assert summary.ok
    for video in sorted(ucf_tree.glob(f"*/*.{ext}")):
        folder = out / video.relative_to(ucf_tree).with_suffix("")
        if "new_short" in resize:
            expected = reference_frames(video, short=resize["new_short"])
            shape = (100, 133)
        else:
            expected = reference_frames(video, wh=(resize["new_width"], resize["new_height"]))
            shape = (50, 90)
        files = frame_files(folder)
        assert [f.read_bytes() for f in files] == expected
        assert cv2.imread(str(files[0])).shape[:2] == shape


def bad_inputs(root: Path) -> dict[str, str]:
    """One file of every bad kind (all named .mp4 so one --ext finds them) -> expected reason."""
    write_garbage_file(root / "garbage.mp4")
    write_truncated_mp4(root / "truncated_index.mp4")  # moov lost: cannot be opened
    write_truncated_mp4(root / "truncated_data.mp4", faststart=True)  # index promises missing frames
    write_corrupt_mp4(root / "corrupt.mp4")
    write_zero_frame_avi(root / "zero.avi")
    (root / "zero.avi").rename(root / "zero_frames.mp4")
    write_audio_only_m4a(root / "audio.m4a")
    (root / "audio.m4a").rename(root / "audio_only.mp4")
    (root / "empty.mp4").write_bytes(b"")
    return {
        "garbage": "cannot open video",
        "truncated_index": "cannot open video",
        "truncated_data": "truncated or corrupt",
        "corrupt": "truncated or corrupt",
        "zero_frames": "no frames",
        "audio_only": "no video stream",
        "empty": "empty file",
    }


@pytest.mark.slow  # CLI processes (each start imports the CLI)
def test_bad_inputs_are_named_and_the_rest_goes_on(tmp_path):
    src = tmp_path / "videos"
    src.mkdir()
    expected = bad_inputs(src)
    write_h264_mp4(src / "good_a.mp4", 10)
    write_h264_mp4(src / "good_b.mp4", 12)
    out = tmp_path / "frames"
    result = run_cli(["prepare", "frames", str(src), str(out), "--level", "1", "--ext", "mp4",
                      "--workers", "0", "--no-progress"], timeout=300)
    assert result.returncode == 1, result.stderr
    failed_lines = [line for line in result.stderr.splitlines() if line.startswith("FAILED ")]
    assert len(failed_lines) == len(expected)
    for name, reason in expected.items():
        line = next(line for line in failed_lines if f"{name}.mp4" in line)
        assert reason in line, line
    assert "9 videos: 2 done, 0 skipped (complete), 7 failed" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["good_a", "good_b"]  # no folder for a failure
    assert len(list((out / "good_b").iterdir())) == 12
    failures = tmp_path / "frames.failed.txt"
    listed = failures.read_text().splitlines()
    assert sorted(Path(line.split("\t")[0]).stem for line in listed) == sorted(expected)
    # fixing the inputs and rerunning leaves no stale failure list and redoes nothing done
    for name in expected:
        (src / f"{name}.mp4").unlink()
    result = run_cli(["prepare", "frames", str(src), str(out), "--level", "1", "--ext", "mp4",
                      "--workers", "0", "--no-progress", "--resume"], timeout=300)
    assert result.returncode == 0, result.stderr
    assert "2 videos: 0 done, 2 skipped" in result.stdout
    assert not failures.exists()


def test_webm_shortfall_keeps_the_frames_as_the_reference_does(tmp_path):
    """WebM has no frame index: OpenCV's count is an estimate, and the reference keeps the frames
    that decode. Here a WebM cut in half states 60 frames and decodes 24."""
    src = tmp_path / "videos"
    src.mkdir()
    data = write_vp9_webm(tmp_path / "whole.webm", 60).path.read_bytes()
    (src / "half.webm").write_bytes(data[: len(data) // 2])
    logged = []
    from actionzoo.preparation.frames import frame_tasks, extract_frames
    from actionzoo.preparation.runner import run_tasks

    summary = run_tasks(frame_tasks(src, tmp_path / "out", 1, "webm"), extract_frames,
                        out_root=tmp_path / "out", progress=False, log=logged.append)
    assert summary.ok and summary.done == 1 and len(summary.warnings) == 1
    assert logged[0].startswith("WARNING ") and "kept 24" in logged[0] and "half.webm" in logged[0]
    expected = reference_frames(src / "half.webm")
    assert len(expected) == 24
    assert [f.read_bytes() for f in frame_files(tmp_path / "out" / "half")] == expected
    assert "1 done (1 with warnings)" in summary.line()


def test_rerun_skips_complete_folders_and_redoes_partial_ones(ucf_tree, tmp_path):
    out = tmp_path / "rawframes"
    first = actionzoo.prepare_frames(ucf_tree, out, ext="avi", progress=False)
    assert first.done == 3
    done = out / "Archery" / "v_Archery_g01_c01"
    stamp = done.stat().st_mtime_ns, [f.stat().st_mtime_ns for f in frame_files(done)]
    # a killed run leaves a partial folder (never the final name); simulate one and remove a video
    redo = out / "Biking" / "v_Biking_g01_c01"
    os.rename(redo, redo.parent / f".{redo.name}.partial-999999")
    second = actionzoo.prepare_frames(ucf_tree, out, ext="avi", progress=False)
    assert (second.done, second.skipped) == (1, 2)
    assert (done.stat().st_mtime_ns, [f.stat().st_mtime_ns for f in frame_files(done)]) == stamp
    assert [f.read_bytes() for f in frame_files(redo)] == reference_frames(ucf_tree / "Biking" / "v_Biking_g01_c01.avi")
    assert not list(redo.parent.glob(".*partial*"))


def _entries(folder: Path) -> int:
    try:
        return len(os.listdir(folder))
    except FileNotFoundError:  # its video finished meanwhile: the folder took its final name
        return 0


@pytest.mark.slow  # CLI processes (each start imports the CLI)
def test_kill_9_then_resume_loses_nothing(tmp_path):
    src = tmp_path / "videos"
    (src / "C").mkdir(parents=True)
    for i in range(6):
        write_h264_mp4(src / "C" / f"v{i}.mp4", 150, size=(240, 320))
    out = tmp_path / "frames"
    command = [sys.executable, "-m", "actionzoo", "prepare", "frames", str(src), str(out), "--ext", "mp4",
               "--workers", "0", "--no-progress"]
    process = subprocess.Popen(command, env=CLI_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    # kill once one video is complete and the next is half written
    while time.monotonic() < deadline:
        partial = list((out / "C").glob(".*partial*")) if (out / "C").is_dir() else []
        complete = [p for p in (out / "C").iterdir() if not p.name.startswith(".")] if partial else []
        if complete and partial and _entries(partial[0]) > 20:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    complete = [p for p in (out / "C").iterdir() if not p.name.startswith(".")]
    assert complete, "the run was killed before any video completed"
    for folder in complete:  # every folder with a final name is complete
        assert len(list(folder.iterdir())) == 150
    assert list((out / "C").glob(".*partial*"))  # the kill did interrupt a video
    result = run_cli(command[3:] + ["--resume"], timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"6 videos: {6 - len(complete)} done, {len(complete)} skipped" in result.stdout
    assert not list((out / "C").glob(".*partial*"))
    for i in range(6):
        files = frame_files(out / "C" / f"v{i}")
        assert [f.read_bytes() for f in files] == reference_frames(src / "C" / f"v{i}.mp4")


@pytest.mark.slow  # CLI processes (each start imports the CLI)
def test_two_shard_processes_split_the_work_and_a_final_run_confirms(tmp_path):
    src = tmp_path / "videos"
    for name in ("c0", "c1"):
        (src / name).mkdir(parents=True)
    for i in range(7):
        write_mpeg4_avi(src / f"c{i % 2}" / f"v{i}.avi", 8 + i)
    out = tmp_path / "frames"
    base = [sys.executable, "-m", "actionzoo", "prepare", "frames", str(src), str(out), "--workers", "0",
            "--no-progress"]
    # one shard from --shard, the other from torchrun's RANK / WORLD_SIZE
    processes = [
        subprocess.Popen(base + ["--shard", "0/2"], env=CLI_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True),
        subprocess.Popen(base, env={**CLI_ENV, "RANK": "1", "WORLD_SIZE": "2"}, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True),
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert "4 videos (shard 0/2): 4 done" in outputs[0][0]
    assert "3 videos (shard 1/2): 3 done" in outputs[1][0]
    final = run_cli(base[3:] + ["--resume"], timeout=300)
    assert final.returncode == 0 and "7 videos: 0 done, 7 skipped (complete), 0 failed" in final.stdout
    for i in range(7):
        video = src / f"c{i % 2}" / f"v{i}.avi"
        assert [f.read_bytes() for f in frame_files(out / f"c{i % 2}" / f"v{i}")] == reference_frames(video)


def test_shard_parsing():
    assert parse_shard("1/3").index == 1 and parse_shard("1/3").count == 3
    for bad in ["3/3", "-1/2", "a/b", "1", "0/0"]:
        with pytest.raises(UsageError):
            parse_shard(bad)
    assert resolve_shard(None, {"RANK": "2", "WORLD_SIZE": "4"}) == parse_shard("2/4")
    assert resolve_shard("0/2", {"RANK": "2", "WORLD_SIZE": "4"}) == parse_shard("0/2")
    assert resolve_shard(None, {}) is None


def test_dry_run_estimates_and_writes_nothing(ucf_tree, tmp_path):
    out = tmp_path / "rawframes"
    result = run_cli(["prepare", "frames", str(ucf_tree), str(out), "--ext", "avi", "--dry-run"], timeout=120)
    assert result.returncode == 0, result.stderr
    assert "dry run: 3 videos (0 already complete), 3 to extract, ~43 frames" in result.stdout  # 20+14+9
    assert " KB of JPEGs" in result.stdout and "frames written" not in result.stdout
    assert not out.exists()
    summary = actionzoo.prepare_frames(ucf_tree, out, ext="avi", dry_run=True, new_short=60)
    assert summary.frames == 43 and 0 < summary.estimated_bytes < 43 * 20_000


def test_worker_processes_give_the_same_bytes(ucf_tree, tmp_path):
    out = tmp_path / "rawframes"
    summary = actionzoo.prepare_frames(ucf_tree, out, ext="mp4", workers=2, progress=False)
    assert summary.ok and summary.done == 2
    for video in sorted(ucf_tree.glob("*/*.mp4")):
        files = frame_files(out / video.relative_to(ucf_tree).with_suffix(""))
        assert [f.read_bytes() for f in files] == reference_frames(video)


def test_encoding_threads_write_the_reference_bytes(ucf_tree, tmp_path):
    """Frames resized and encoded on several threads are the same files as on one."""
    for threads in (1, 3):
        summary = actionzoo.prepare_frames(ucf_tree, tmp_path / str(threads), ext="mp4", new_short=100,
                                           threads=threads, progress=False)
        assert summary.ok and summary.done == 2
    for video in sorted(ucf_tree.glob("*/*.mp4")):
        folder = video.relative_to(ucf_tree).with_suffix("")
        expected = reference_frames(video, short=100)
        for threads in (1, 3):
            files = frame_files(tmp_path / str(threads) / folder)
            assert [f.name for f in files] == [f"img_{i:05d}.jpg" for i in range(1, len(expected) + 1)]
            assert [f.read_bytes() for f in files] == expected


def test_a_write_failing_on_an_encoding_thread_fails_that_video_alone(ucf_tree, tmp_path, monkeypatch):
    real_imwrite = cv2.imwrite

    def imwrite(name, frame):  # the 5th frame of one video cannot be written
        return False if name.endswith("v_Archery_g02_c01.partial-%d/img_00005.jpg" % os.getpid()) \
            else real_imwrite(name, frame)

    monkeypatch.setattr(cv2, "imwrite", imwrite)
    out = tmp_path / "rawframes"
    summary = actionzoo.prepare_frames(ucf_tree, out, ext="mp4", threads=3, progress=False)
    assert summary.done == 1 and len(summary.failed) == 1
    source, reason = summary.failed[0]
    assert source.endswith("v_Archery_g02_c01.mp4") and "could not write" in reason
    assert sorted(p.name for p in (out / "Archery").iterdir()) == []  # no folder, no partial left
    files = frame_files(out / "Biking" / "v_Biking_g02_c01")
    assert [f.read_bytes() for f in files] == reference_frames(ucf_tree / "Biking" / "v_Biking_g02_c01.mp4")
    with pytest.raises(UsageError, match="threads must be at least 1"):
        actionzoo.prepare_frames(ucf_tree, out, ext="mp4", threads=0)


@pytest.mark.slow
def test_usage_errors_are_one_line(tmp_path):
    result = run_cli(["prepare", "frames", str(tmp_path / "nope"), str(tmp_path / "out")], timeout=60)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "no such source folder" in result.stderr
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"no videos match \*/\*\.webm"):
        actionzoo.prepare_frames(tmp_path / "empty", tmp_path / "out", ext="webm")


def test_simplejpeg_is_not_byte_identical_to_cv2_at_quality_95(ucf_tree):
    """Why frames stay on cv2's encoder: libjpeg-turbo through simplejpeg writes other bytes."""
    simplejpeg = pytest.importorskip("simplejpeg")
    capture = cv2.VideoCapture(str(ucf_tree / "Archery" / "v_Archery_g02_c01.mp4"))
    ok, frame = capture.read()
    capture.release()
    ok, cv2_bytes = cv2.imencode(".jpg", frame)
    ours = simplejpeg.encode_jpeg(frame, quality=95, colorspace="BGR", colorsubsampling="420", fastdct=False)
    assert bytes(cv2_bytes) != ours
    # same quality, nearly the same pixels
    difference = np.abs(cv2.imdecode(cv2_bytes, 1).astype(int) - simplejpeg.decode_jpeg(ours, "BGR"))
    assert difference.mean() < 1.0
