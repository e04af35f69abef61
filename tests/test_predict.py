"""Class names as package data, ``predict`` (equal to ``eval``), and ``timeline`` over files,
rendered video and a piped live source."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from helpers import random_state

import actionzoo
from actionzoo.checkpoint import CheckpointFormat
from actionzoo.checkpoint.write import checkpoint_payload, save_checkpoint
from actionzoo.cli import main
from actionzoo.data.synthetic import _frames, _write_mp4, write_synthetic_videos
from actionzoo.engines.base import EngineBase, EngineInfo
from actionzoo.engines.pytorch import TorchEngine
from actionzoo.errors import UsageError
from actionzoo.prediction.timeline import timeline, window_view
from actionzoo.prediction.videos import predict
from actionzoo.zoo.categories import ava_action_names, ava_evaluated_ids, category_names
from actionzoo.zoo.registry import get_model_spec

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

# --------------------------------------------------------------------------------- class names


def test_each_shipped_list_has_its_length_order_and_known_entries() -> None:
    k400 = category_names("kinetics400")
    assert len(k400) == 400 and len(set(k400)) == 400
    assert k400[0] == "abseiling" and k400[-1] == "zumba"
    assert list(k400) == sorted(k400, key=lambda n: n.replace(" ", "_"))  # mmaction2's derivation
    sthv2 = category_names("sthv2")
    assert len(sthv2) == 174 and len(set(sthv2)) == 174
    recipe = get_model_spec("tsm_r50_1x1x8_sthv2").recipe
    for a, b in recipe.flip_label_pairs:  # the pairs that swap on a flip name left and right
        assert sthv2[a].replace("left", "X").replace("right", "left").replace("X", "right") == sthv2[b]
    ucf = category_names("ucf101")
    assert len(ucf) == 101 and ucf[0] == "ApplyEyeMakeup" and ucf[-1] == "YoYo"
    ava = ava_action_names()
    assert sorted(ava) == list(range(1, 81))
    assert (ava[1], ava[12], ava[14], ava[80]) == ("bend/bow (at the waist)", "stand", "walk",
                                                   "watch (a person)")
    evaluated = ava_evaluated_ids()
    assert len(evaluated) == 60 and 2 not in evaluated and 80 in evaluated


def test_every_registry_entry_names_its_classes() -> None:
    for name in actionzoo.list_models():
        spec = get_model_spec(name)
        assert spec.class_names() is not None and len(spec.class_names()) == spec.num_classes, name
    ucf = get_model_spec("r2plus1d_r34_8x8x1_ucf101")
    assert ucf.class_names(101)[36] == "HandstandPushups" and len(ucf.class_names(101)) == 101
    assert ucf.class_names()[100] == "YoYo" and ucf.class_names()[101] == "unused output 101"
    assert get_model_spec("x3d_s_k400").class_names(7) is None  # 400 names do not fit 7 outputs


# ------------------------------------------------------------------------------------- predict

MODEL = "slowfast_r50_8x8x1_k400"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("predict")
    write_synthetic_videos(root, num_classes=3, videos_per_class=1, num_frames=40, size=(64, 86))
    (root / "videos" / "broken.mp4").write_bytes(os.urandom(2000))
    torch.save({"state_dict": random_state(MODEL)}, root / "k400.pth")
    torch.save({"epoch": 1, "model_state": random_state("x3d_s_k400")}, root / "x3d.pyth")
    # A checkpoint as `actionzoo train` writes it for 3 custom classes: it carries their names.
    state = random_state(MODEL, num_classes=3)
    ours = {"class_names": ["left", "right", "up"], "num_classes": 3}
    save_checkpoint(root / "custom.pth", checkpoint_payload(
        CheckpointFormat.MMACTION2, state, {}, epochs_done=1, iteration=1, seed=0, config={},
        ours=ours))
    return root


def _eval_scores(db: Path) -> dict[str, np.ndarray]:
    with sqlite3.connect(db) as con:
        return {v: np.frombuffer(b) for v, b in con.execute("SELECT path, scores FROM videos")
                if b is not None}


@pytest.mark.slow
# X3D's official protocol is 30 full-size views a video: one video there (SlowFast's two check
# that each row lands on its own video).
@pytest.mark.parametrize("model, weights, protocol, count", [(MODEL, "k400.pth", "ascend", 2),
                                                             ("x3d_s_k400", "x3d.pyth", "official", 1)])
def test_predict_gives_eval_scores_with_class_names(clips: Path, tmp: Path, model: str, weights: str,
                                                    protocol: str, count: int, capsys) -> None:
    videos = sorted(str(p) for p in (clips / "videos").rglob("*_000.mp4"))[:count]
    (tmp / "list.txt").write_text("".join(f"{v} 0\n" for v in videos))
    # mmaction2's protocol at 64 (the scores' equality is the point, not the size); PySlowFast's
    # pools over a window fixed by its crop, so X3D runs at its own 182.
    size = ["--input-size", "64"] if model == MODEL else []
    assert main(["eval", model, "--checkpoint", str(clips / weights), "--protocol", protocol, *size,
                 "--ann", str(tmp / "list.txt"), "--data-root", "/", "--results", str(tmp / "r.db"),
                 "--workers", "0", "--no-progress"]) == 0
    expected = _eval_scores(tmp / "r.db")
    assert main(["predict", model, *videos, str(clips / "videos" / "broken.mp4"), "--checkpoint",
                 str(clips / weights), "--protocol", protocol, *size, "--json", str(tmp / "p.json"),
                 "--csv", str(tmp / "p.csv"), "--workers", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "FAILED" in out and "broken.mp4" in out  # the bad file's reason; the others go on
    rows = json.loads((tmp / "p.json").read_text())
    names = category_names("kinetics400")
    for row in rows[:count]:
        top = row["top"][0]
        assert top["name"] == names[top["index"]]
        assert top["score"] == pytest.approx(expected[row["video"]][top["index"]], abs=1e-6)
        assert row["protocol"].startswith(protocol) and "pytorch" in row["engine"]
    header = (tmp / "p.csv").read_text().splitlines()[0]
    assert header.startswith("video,protocol,engine,status,top1,probability1,score1")

    if model != MODEL:
        return  # the API is the same code for every model: SlowFast's run shows it
    # the API returns typed results with every class's score, equal to eval's
    engine = TorchEngine(actionzoo.build_model(model, clips / weights))
    results = predict(model, videos, engine=engine, protocol=get_model_spec(model).protocol(protocol).scaled(64),
                      class_names=list(names), workers=0)
    for result in results:
        np.testing.assert_allclose(result.scores, expected[result.video], rtol=0, atol=1e-6)


@pytest.mark.slow
def test_predict_takes_names_from_a_trained_checkpoint_and_refuses_a_detector(clips: Path, tmp: Path,
                                                                              capsys) -> None:
    video = str(next((clips / "videos").rglob("*_000.mp4")))
    assert main(["predict", MODEL, video, "--checkpoint", str(clips / "custom.pth"), "--protocol",
                 "ascend", "--input-size", "64", "--top-k", "3", "--json", str(tmp / "p.json"),
                 "--workers", "0", "--no-progress"]) == 0  # 64: the names are the point, not the size
    top = json.loads((tmp / "p.json").read_text())[0]["top"]
    assert sorted(c["name"] for c in top) == ["left", "right", "up"]
    assert sum(c["probability"] for c in top) == pytest.approx(1.0)
    assert main(["predict", "slowfast_r50_ava", video]) == 2
    assert "actionzoo detect" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ timeline


class TintEngine(EngineBase):
    """A hand-built model whose output follows the content: the class whose background tint the
    view's mean colour is nearest to (the synthetic videos' classes)."""

    def __init__(self, prototypes: np.ndarray) -> None:
        self.prototypes = prototypes
        self.info = EngineInfo("tint", "hand-built", "cpu", "fp32")

    def run(self, views: np.ndarray) -> np.ndarray:
        means = views.mean(axis=(2, 3, 4))
        distance = ((means[:, None, :] - self.prototypes[None]) ** 2).sum(-1)
        return (-distance * 10).astype(np.float32)  # logits


SEGMENTS = [0, 2, 1, 3, 0]  # class per 3-second segment


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("timeline")
    frames = np.concatenate([_frames(c, seed=i, count=90, height=64, width=86)
                             for i, c in enumerate(SEGMENTS)])
    _write_mp4(root / "long.mp4", frames, 30)
    return root


def test_collecting_the_collected_videos_again_keeps_them_as_they_are(tmp: Path) -> None:
    """`predict_videos` walks the folders once and hands the list it found to `predict`."""
    from actionzoo.prediction.videos import collect_videos

    (tmp / "b" / "clip_frames").mkdir(parents=True)
    (tmp / "b" / "clip_frames" / "img_00001.jpg").write_bytes(b"")
    for name in ("b/two.mp4", "a.avi", "b/notes.txt"):
        (tmp / name).write_bytes(b"")
    found = collect_videos([tmp, tmp / "missing.mp4"])
    assert found == [tmp / "a.avi", tmp / "b" / "two.mp4", tmp / "b" / "clip_frames", tmp / "missing.mp4"]
    assert collect_videos(found) == found


def test_window_view_pyslowfast_equals_normalise_then_resize() -> None:
    """timeline's X3D-S view resizes first; the reference normalises full frames first."""
    import torch.nn.functional as F

    protocol = get_model_spec("x3d_s_k400").protocol("official")
    frames = np.random.default_rng(0).integers(0, 256, (13, 120, 200, 3), dtype=np.uint8)
    x = torch.from_numpy(frames).float() / 255.0
    x = ((x - torch.tensor([0.45] * 3)) / torch.tensor([0.225] * 3)).permute(3, 0, 1, 2)
    x = F.interpolate(x, size=(182, 303), mode="bilinear", align_corners=False)  # floor(200*182/120)
    expected = x[..., :, 61:243]  # centre: ceil((303 - 182) / 2)
    view = window_view(frames, protocol)
    assert view.shape == expected.shape and (view - expected).abs().max().item() <= 1e-5


def test_timeline_puts_each_change_in_the_right_window(long_video: Path) -> None:
    protocol = get_model_spec(MODEL).protocol("official")
    prototypes = np.stack([window_view(_frames(c, 99, 32, 64, 86), protocol).numpy().mean(axis=(1, 2, 3))
                           for c in range(4)])
    names = ["c0", "c1", "c2", "c3"]
    seen = []
    result = timeline(MODEL, str(long_video / "long.mp4"), engine=TintEngine(prototypes), window=1.0,
                      stride=1.0, class_names=names, on_window=seen.append)
    assert [w.index for w in result.windows] == list(range(15))
    assert [w.top[0].name for w in result.windows] == [f"c{SEGMENTS[i // 3]}" for i in range(15)]
    assert len(seen) == 15 and result.frames_read == 450
    half = timeline(MODEL, str(long_video / "long.mp4"), engine=TintEngine(prototypes), window=2.0,
                    stride=0.5, class_names=names)
    # a 2 s window starting every 0.5 s: the windows wholly inside a segment name its class
    for w in half.windows:
        first, last = int(w.start // 3), int((w.end - 1e-9) // 3)
        if first == last and w.end <= 15:
            assert w.top[0].name == f"c{SEGMENTS[first]}", (w.start, w.end)


@pytest.mark.slow
def test_cli_timeline_writes_table_plot_and_labelled_video(long_video: Path, tmp: Path, capsys) -> None:
    assert main(["timeline", "x3d_s_k400", str(long_video / "long.mp4"), "--window", "3",
                 "--stride", "3", "--out", str(tmp / "out"), "--render", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "5 windows over 15.0 s of video" in text and "real time" in text
    data = json.loads((tmp / "out" / "timeline.json").read_text())
    assert [w["start"] for w in data["windows"]] == [0, 3, 6, 9, 12]
    assert data["windows"][0]["top"][0]["name"] in category_names("kinetics400")
    assert len((tmp / "out" / "timeline.csv").read_text().splitlines()) == 6
    import cv2

    png = cv2.imread(str(tmp / "out" / "timeline.png"))
    assert png is not None and png.shape[1] > 600
    with av.open(str(tmp / "out" / "timeline.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 450 and frames[0].shape == (64, 86, 3)
    banner = frames[100][: max(18, 64 // 12)]
    assert (banner.max(axis=2) > 200).any()  # the label's white text
    assert np.median(banner) < 30  # on a dark banner


@pytest.mark.slow
def test_a_piped_live_source_prints_each_window_and_writes_what_it_saw(long_video: Path, tmp: Path) -> None:
    stream = tmp / "live.ts"  # MPEG-TS streams through a pipe (MP4 needs seeking)
    with av.open(str(long_video / "long.mp4")) as src, av.open(str(stream), "w", format="mpegts") as dst:
        out = dst.add_stream("libx264", rate=30)
        out.width, out.height, out.pix_fmt = 86, 64, "yuv420p"
        for frame in src.decode(video=0):
            for packet in out.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"),
                                                                format="rgb24")):
                dst.mux(packet)
        for packet in out.encode():
            dst.mux(packet)
    with stream.open("rb") as pipe:
        run = subprocess.run([sys.executable, "-m", "actionzoo", "timeline", "x3d_s_k400", "-",
                              "--window", "5", "--stride", "5", "--out", str(tmp / "live")],
                             stdin=pipe, env=ENV, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == 3 and lines[0].startswith("[    0.00 -     5.00 s]")
    assert json.loads((tmp / "live" / "timeline.json").read_text())["source"] == "stdin"
    with pytest.raises(UsageError, match="must be positive"):
        timeline(MODEL, str(stream), engine=TintEngine(np.zeros((4, 3))), window=0, stride=1,
                 class_names=["a", "b", "c", "d"])


def test_a_source_is_live_when_it_can_be_read_once_not_by_where_it_lies(tmp: Path) -> None:
    from actionzoo.data.stream import is_live

    assert is_live("-") and is_live("rtsp://camera/stream") and is_live("/dev/video7")
    os.mkfifo(tmp / "pipe")
    assert is_live(str(tmp / "pipe"))
    assert is_live("/dev/null")  # a character device
    (tmp / "clip.mp4").write_bytes(b"")
    assert not is_live(str(tmp / "clip.mp4"))
    shm = Path("/dev/shm")  # where videos are copied for fast reads: a file there is a file
    if shm.is_dir() and os.access(shm, os.W_OK):
        with __import__("tempfile").NamedTemporaryFile(dir=shm, suffix=".mp4") as copied:
            assert not is_live(copied.name)


@pytest.mark.parametrize("name", [m for m in actionzoo.list_models()
                                  if actionzoo.get_model_spec(m).task == "recognition"])
def test_every_protocol_turns_its_model_outputs_into_probabilities_one_way(name: str) -> None:
    """predict and timeline print ``aggregation.probabilities``: for each protocol, views of the
    model's own output kind (logits or probabilities) become a distribution, whatever the count."""
    from actionzoo.zoo.protocols import softmax
    from actionzoo.zoo.spec import Output

    spec = actionzoo.get_model_spec(name)
    rng = np.random.default_rng(0)
    for protocol in spec.protocols.values():
        for views in (1, 7):
            outputs = rng.standard_normal((views, 11)) * 3
            if spec.output is Output.PROBABILITIES:
                outputs = softmax(outputs)
            rule = protocol.aggregation
            prob = rule.probabilities(rule.combine(outputs), views)
            assert prob.shape == (11,) and (prob >= 0).all() and prob.sum() == pytest.approx(1.0)
            # the ranking is the score's: predict sorts by score, prints probability
            assert np.argmax(prob) == np.argmax(rule.combine(outputs))
