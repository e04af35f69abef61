"""``actionzoo prepare ava``: the guide's FFmpeg cut + ``-r 30 -q:v 1`` frames, compared frame by
frame with a real FFmpeg binary (``imageio-ffmpeg``, test-only), and frame lists read by the AVA
datasets. Sources are generated; each frame shows its own source index (``coded_video``)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import simplejpeg

import actionzoo
from actionzoo.ava.annotations import read_frame_list
from actionzoo.ava.dataset import load_test_set
from actionzoo.preparation.cfr import FrameRateConverter
from coded_video import ffmpeg_ava_frames, ffmpeg_guide_frames, read_index, read_indices, write_coded_video
from helpers import CORES, run_cli, write_boxes
from media import (
    write_audio_only_m4a,
    write_garbage_file,
    write_h264_mp4,
    write_truncated_mp4,
    write_zero_frame_avi,
)

pytest.importorskip("imageio_ffmpeg")


def indices(files: list[Path]) -> list[int]:
    gray = [simplejpeg.decode_jpeg(f.read_bytes(), colorspace="GRAY")[..., 0] for f in files]
    return read_indices(np.stack(gray)) if gray else []


def jpegs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jpg"))


# (rate, container, audio): 25 fps Matroska and 29.97 fps MP4 with audio (CFR sync, as movies
# with sound get), 29.97 and 30 fps without (VSCFR), 23.976 with audio (duplicates on the grid)
SOURCES = [
    (Fraction(25), "mkv", True),
    (Fraction(30000, 1001), "mp4", True),
    (Fraction(30000, 1001), "mp4", False),
    (Fraction(30), "mp4", False),
    (Fraction(24000, 1001), "mp4", True),
    (Fraction(60), "mp4", False),  # more frames than the grid: drops
]


@pytest.mark.parametrize("rate,container,audio", SOURCES, ids=lambda v: str(v).replace("/", "_"))
def test_every_output_frame_is_the_source_frame_the_guides_two_commands_put_there(tmp_path, rate, container,
                                                                                  audio):
    """The default: the guide's cut file, then its frames (the cut re-times the movie)."""
    source = tmp_path / "videos" / f"movie.{container}"
    source.parent.mkdir()
    write_coded_video(source, rate, 40, audio=audio)
    expected = ffmpeg_guide_frames(source, tmp_path / "ffmpeg" / "movie", start=9, duration=21)
    summary = actionzoo.prepare_ava(source.parent, tmp_path / "frames", start=9, duration=21, progress=False)
    assert summary.ok and summary.done == 1
    ours = jpegs(tmp_path / "frames" / "movie")
    assert [f.name for f in ours] == [f.name for f in expected]  # movie_000001.jpg ...
    assert indices(ours) == indices(expected)


# cut points whose first kept frame lies past the middle of the cut file's first tick: the cut
# writes it one tick late (VFR, Matroska) or repeats it (CFR with sound), or not (VSCFR)
PHASES = [(Fraction(30000, 1001), "mp4", True, 9.02), (Fraction(30000, 1001), "mp4", False, 9.02),
          (Fraction(30000, 1001), "mkv", False, 9.02), (Fraction(25), "mkv", True, 9.02),
          (Fraction(24000, 1001), "mkv", False, 9.0)]
# Not followed: a Matroska/WebM source with sound whose first kept frame is written one tick late
# and whose sound, in the cut file, starts later still (the seek's cluster begins just before the
# cut); the cut file then starts with the video, not at 0 (see GuideCut).


@pytest.mark.parametrize("rate,container,audio,start", PHASES, ids=lambda v: str(v).replace("/", "_"))
def test_the_cut_files_first_tick_is_followed(tmp_path, rate, container, audio, start):
    source = tmp_path / "videos" / f"movie.{container}"
    source.parent.mkdir()
    write_coded_video(source, rate, 26, audio=audio)
    expected = ffmpeg_guide_frames(source, tmp_path / "ffmpeg" / "movie", start=start, duration=16.5)
    actionzoo.prepare_ava(source.parent, tmp_path / "frames", start=start, duration=16.5, progress=False)
    assert indices(jpegs(tmp_path / "frames" / "movie")) == indices(expected)


@pytest.mark.parametrize("rate,container,audio", [
    pytest.param(*SOURCES[0], marks=pytest.mark.slow), SOURCES[1], pytest.param(*SOURCES[5], marks=pytest.mark.slow)],
    ids=["25fps_mkv_audio", "29.97fps_mp4_audio", "60fps_mp4"])
def test_single_command_follows_ffmpeg_cut_and_rate_in_one_command(tmp_path, rate, container, audio):
    """``single_command``: ``ffmpeg -ss S -t D -i in -r 30``, no cut file: at 29.97 fps the grid's
    repeated frame falls elsewhere than the guide's (one period in ~1000 frames)."""
    source = tmp_path / "videos" / f"movie.{container}"
    source.parent.mkdir()
    write_coded_video(source, rate, 40, audio=audio)
    expected = ffmpeg_ava_frames(source, tmp_path / "ffmpeg" / "movie", start=9, duration=21)
    guide = ffmpeg_guide_frames(source, tmp_path / "guide" / "movie", start=9, duration=21)
    actionzoo.prepare_ava(source.parent, tmp_path / "frames", start=9, duration=21, single_command=True,
                          progress=False)
    ours = indices(jpegs(tmp_path / "frames" / "movie"))
    assert ours == indices(expected)
    if rate == Fraction(30000, 1001):
        assert ours != indices(guide)  # the two forms differ, so each test tells them apart


@pytest.mark.slow
@pytest.mark.parametrize("rate,container,audio", [SOURCES[0], SOURCES[1], SOURCES[3]],
                         ids=["25fps_mkv_audio", "29.97fps_mp4_audio", "30fps_mp4"])
def test_the_guide_cut_900_901_on_half_hour_sources(tmp_path, rate, container, audio):
    """Sources longer than 1801 s with the guide's defaults: the cut -ss 900 -t 901, then -r 30."""
    source = tmp_path / "videos" / f"clip.{container}"
    source.parent.mkdir()
    write_coded_video(source, rate, 1805, audio=audio)
    expected = ffmpeg_guide_frames(source, tmp_path / "ffmpeg" / "clip", start=900, duration=901)
    summary = actionzoo.prepare_ava(source.parent, tmp_path / "frames", progress=False)
    assert summary.ok
    ours = jpegs(tmp_path / "frames" / "clip")
    assert [f.name for f in ours] == [f.name for f in expected]
    got = indices(ours)
    assert got == indices(expected)
    # keyframe t -> JPEG number (t - 900) * 30 + 1 shows the source frame at about t seconds
    for second in (902, 1350, 1798):
        assert abs(got[(second - 900) * 30] / float(rate) - second) <= 1 / float(rate)


def test_pixels_are_within_jpeg_tolerance_of_ffmpeg(tmp_path):
    """Not bytes: FFmpeg's -q:v 1 MJPEG tables change between releases (see the module doc)."""
    source = tmp_path / "videos" / "textured.mp4"
    source.parent.mkdir()
    write_h264_mp4(source, 30, size=(240, 320))
    expected = ffmpeg_ava_frames(source, tmp_path / "ffmpeg" / "textured", start=0, duration=1)
    actionzoo.prepare_ava(source.parent, tmp_path / "frames", start=0, duration=1, progress=False)
    ours = jpegs(tmp_path / "frames" / "textured")
    assert len(ours) == len(expected) == 30
    errors = np.concatenate([np.abs(cv2.imread(str(a)).astype(int) - cv2.imread(str(b))).ravel()
                             for a, b in zip(ours, expected)])
    assert errors.mean() < 2.5 and np.percentile(errors, 99.9) <= 12, (errors.mean(), errors.max())


def test_bad_movies_are_named_and_the_rest_goes_on(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_coded_video(videos / "good.mkv", Fraction(25), 8)
    write_coded_video(videos / "short.mkv", Fraction(25), 2)  # ends before the cut starts
    write_garbage_file(videos / "garbage.mkv")
    write_audio_only_m4a(videos / "sound.m4a")
    write_truncated_mp4(videos / "cut_off.mp4")
    write_zero_frame_avi(videos / "nothing.avi")
    out = tmp_path / "frames"
    summary = actionzoo.prepare_ava(videos, out, start=3, duration=4, progress=False)
    assert (summary.done, len(summary.failed)) == (1, 5)
    reasons = dict((Path(source).name, reason) for source, reason in summary.failed)
    assert "no video frame in the cut [3 s, 7 s)" in reasons["short.mkv"]
    assert "cannot open video" in reasons["garbage.mkv"]
    assert "no video stream" in reasons["sound.m4a"]
    assert "cannot open video" in reasons["cut_off.mp4"]
    assert "no video frame in the cut" in reasons["nothing.avi"]
    assert all("\n" not in reason and str(videos) in reason for reason in reasons.values())
    assert sorted(p.name for p in out.iterdir()) == ["good"]
    assert len(summary.failure_list.read_text().splitlines()) == 5
    assert summary.failure_list.parent == out.parent


def test_dry_run_estimates_frames_and_bytes(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_coded_video(videos / "a.mp4", Fraction(30000, 1001), 40)
    write_coded_video(videos / "b.mp4", Fraction(25), 20)
    summary = actionzoo.prepare_ava(videos, tmp_path / "frames", start=9, duration=21, dry_run=True)
    assert summary.frames == 630 + 330  # b has 11 s after the cut start
    assert summary.estimated_bytes > 0 and "2 to extract" in summary.notes[0]
    assert not (tmp_path / "frames").exists()


def test_frame_lists_are_read_by_the_ava_datasets(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    ids = {"-a_Video-1": Fraction(30000, 1001), "vidB": Fraction(25)}
    for name, rate in ids.items():
        write_coded_video(videos / f"{name}.mp4", rate, 6)
    gt_train = write_boxes(tmp_path / "ava_train_v2.2.csv", ["-a_Video-1,0902,0.1,0.1,0.5,0.9,12,0"])
    gt_val = write_boxes(tmp_path / "ava_val_v2.2.csv", ["vidB,0902,0.2,0.1,0.6,0.9,80,0",
                                                         "missing_movie,0903,0.2,0.1,0.6,0.9,80,0"])
    lists = tmp_path / "frame_lists"
    result = run_cli(["prepare", "ava", str(videos), str(tmp_path / "frames"), "--start", "0", "--duration", "5",
                      "--frame-lists", str(lists), "--train-gt", str(gt_train), "--val-gt", str(gt_val),
                      "--workers", "0", "--no-progress"], timeout=300)
    assert result.returncode == 0, result.stderr
    assert "1 GT videos have no frames: missing_movie" in result.stdout
    header, first = (lists / "train.csv").read_text().splitlines()[:2]
    assert header == "original_vido_id video_id frame_id path labels"
    assert first == '-a_Video-1 0 0 -a_Video-1/-a_Video-1_000001.jpg ""'
    train = read_frame_list(lists / "train.csv")
    assert train.videos == ["-a_Video-1"] and len(train.frames["-a_Video-1"]) == 150
    # the training set reads them directly
    from actionzoo.training.data import AvaTrainPipeline, load_ava_train_set

    train_set = load_ava_train_set(tmp_path / "frames", lists / "train.csv", gt_train, None,
                                   AvaTrainPipeline(), num_classes=80, seed=0)
    assert len(train_set) == 1
    # and so does the evaluation set: keyframe 902 is frame (902 - 900) * 30 = 60 of the list
    boxes = write_boxes(tmp_path / "boxes.csv", ["vidB,0902,0.2,0.1,0.6,0.9,,0.9"])
    test_set = load_test_set(tmp_path / "frames", lists / "val.csv", boxes)
    assert [k.key for k in test_set.keyframes] == ["vidB,0902"]
    frames = test_set.source("vidB").read([60])
    assert read_index(frames[0]) == 50  # 2.0 s of a 25 fps source on the 30 fps grid


def test_frame_rate_converter_follows_the_sync_rule_on_exact_cases():
    """60 fps in: a frame is written once while the drift stays within 1.1 output ticks, so the
    first four all go out before every other one is dropped (the real FFmpeg does the same: the
    60 fps case above). 15 fps in: every frame twice."""
    half = FrameRateConverter(Fraction(1, 60), 30, single_stream_input=True)
    assert [half.push(pts, 1)[1] for pts in range(12)] == [1, 1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1]
    double = FrameRateConverter(Fraction(1, 15), 30, single_stream_input=True)
    assert [double.push(pts, 1) for pts in range(4)] == [(0, 2)] * 4


@pytest.mark.slow
def test_eval_and_train_read_the_prepared_frames_directly(tmp_path):
    """`actionzoo eval` / `train` on slowfast_r50_ava (random weights) take the prepared layout."""
    videos = tmp_path / "videos"
    videos.mkdir()
    write_coded_video(videos / "vidB.mp4", Fraction(25), 6)
    gt = write_boxes(tmp_path / "gt.csv", ["vidB,0902,0.2,0.1,0.6,0.9,12,0", "vidB,0903,0.2,0.1,0.6,0.9,80,0"])
    boxes = write_boxes(tmp_path / "boxes.csv", ["vidB,0902,0.2,0.1,0.6,0.9,,0.9", "vidB,0903,0.2,0.1,0.6,0.9,,0.9"])
    labelmap = tmp_path / "labelmap.pbtxt"
    labelmap.write_text('item {\n  name: "stand"\n  id: 12\n}\nitem {\n  name: "watch (a person)"\n  id: 80\n}\n')
    excluded = write_boxes(tmp_path / "excluded.csv", [])
    frames, lists = tmp_path / "frames", tmp_path / "frame_lists"
    prepared = run_cli(["prepare", "ava", str(videos), str(frames), "--start", "0", "--duration", "5",
                        "--frame-lists", str(lists), "--train-gt", str(gt), "--val-gt", str(gt),
                        "--workers", "0", "--no-progress"], timeout=300)
    assert prepared.returncode == 0, prepared.stderr
    evaluated = run_cli(["eval", "slowfast_r50_ava", "--frames-dir", str(frames), "--frame-list",
                         str(lists / "val.csv"), "--boxes", str(boxes), "--gt", str(gt), "--labelmap",
                         str(labelmap), "--excluded", str(excluded), "--results", str(tmp_path / "r.db"),
                         "--workers", "0", "--no-progress"], timeout=600, threads=CORES)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "2 scored (2 boxes), 0 failed, of 2" in evaluated.stdout
    trained = run_cli(["train", "slowfast_r50_ava", "--frames-dir", str(frames), "--frame-list",
                       str(lists / "train.csv"), "--gt", str(gt), "--work-dir", str(tmp_path / "run"),
                       "--epochs", "1", "--batch-size", "2", "--input-size", "64", "--workers", "0",
                       "--no-progress", "--init", "none"], timeout=600, threads=CORES)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "2 training samples" in trained.stdout
