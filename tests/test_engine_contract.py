"""The engine contract: an engine is a subclass of :class:`Engine` with ``info`` and ``run``, and
a new engine is one row of the table (``register_engine``): ``eval`` and ``bench`` take it by
name with no other file touched, and what the engine declares (its output width, its fp32
counterpart) is what the commands use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from actionzoo.cli.main import main
from actionzoo.data.annotations import read_video_list
from actionzoo.data.synthetic import write_synthetic_videos
from actionzoo.engines import (
    ENGINES,
    Engine,
    EngineInfo,
    EngineKind,
    Fp32Counterpart,
    Precision,
    create_engine,
    register_engine,
)
from actionzoo.errors import UsageError
from actionzoo.evaluation.recognition import evaluate_records
from actionzoo.evaluation.store import ResultsStore
from actionzoo.export.onnx import export_onnx
from actionzoo.zoo.registry import get_model_spec

MODEL, PROTOCOL = "slowfast_r50_8x8x1_k400", "ascend"  # one view per video
CLASSES = 400
FAVOURED = 1  # the class the toy engine's scores put first


class FixedScores(Engine):
    """A toy engine whose "model file" is a ``.npy`` of class scores, returned for every row. At
    bf16 it rounds them to bfloat16's 8-bit mantissa (a drift to measure), and its fp32
    counterpart is the same file at fp32."""

    made: list[FixedScores] = []

    def __init__(self, *, model_file, precision, **_) -> None:
        self.model_file = Path(model_file)
        self.scores = np.load(self.model_file).astype(np.float32)
        self.rows: list[tuple[int, ...]] = []
        self.info = EngineInfo("fixed-scores", "numpy", "cpu", precision,
                               label=f"fixed scores of {self.model_file.name} ({precision})")
        FixedScores.made.append(self)

    def run(self, views: np.ndarray, *rest: np.ndarray) -> np.ndarray:
        self.rows.append(views.shape)
        scores = np.tile(self.scores, (len(views), 1))
        if self.info.precision is Precision.BF16:
            scores = (scores.view(np.uint32) & 0xFFFF0000).view(np.float32)
        return scores

    @property
    def output_width(self) -> int:
        return len(self.scores)

    def fp32_counterpart(self, build_model=None) -> Fp32Counterpart:
        return Fp32Counterpart(f"{self.model_file.name} at fp32", "fixed-scores",
                               model_file=self.model_file)


@pytest.fixture
def fixed_scores_row():
    """The toy engine as one row of the table, for one test."""
    FixedScores.made.clear()
    kind = register_engine(EngineKind("fixed-scores", needs_model=False,
                                      precisions=(Precision.FP32, Precision.BF16),
                                      description="class scores from a .npy (a test's toy engine)",
                                      make=FixedScores))
    try:
        yield kind
    finally:
        ENGINES.pop(kind.name, None)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("contract")
    write_synthetic_videos(root, num_classes=4, videos_per_class=2, num_frames=40, size=(64, 86))
    scores = np.linspace(0.0, 1.0, CLASSES, dtype=np.float32)[::-1].copy()  # class 0 first ...
    scores[FAVOURED] = 2.0 + 1 / 3  # ... unless FAVOURED; 1/3 is not exact in bfloat16
    np.save(root / "scores.npy", scores)
    return root


def _eval(videos: Path, tmp: Path, *extra: str, engine: str = "fixed-scores") -> int:
    return main(["eval", MODEL, "--protocol", PROTOCOL, "--engine", engine,
                 "--model-file", str(videos / "scores.npy"), "--ann", str(videos / "videos.txt"),
                 "--data-root", str(videos), "--results", str(tmp / "r.db"), "--json",
                 str(tmp / "r.json"), "--batch-size", "3", "--workers", "0", "--no-progress",
                 *extra])


def test_a_new_engine_is_one_row_and_eval_runs_through_it(videos: Path, tmp: Path,
                                                          fixed_scores_row, capsys) -> None:
    assert _eval(videos, tmp) == 0
    report = json.loads((tmp / "r.json").read_text())
    labels = [int(line.split()[1]) for line in (videos / "videos.txt").read_text().splitlines()]
    assert len(labels) == 8 and report["videos"] == {"total": 8, "scored": 8, "failed": 0}
    # Every video gets the same scores: top-1 is right exactly for the videos of FAVOURED, and
    # top-5 (FAVOURED, then classes 0, 2, 3, 4) for every video of the 4 classes.
    assert report["metrics"]["top1"] == pytest.approx(labels.count(FAVOURED) / 8)
    assert report["metrics"]["top5"] == pytest.approx(1.0)
    assert report["engine"] == "fixed scores of scores.npy (fp32)" and report["precision"] == "fp32"
    assert report["drift"] is None  # fp32: nothing to measure
    (engine,) = FixedScores.made
    c, t, h, w = get_model_spec(MODEL).protocol(PROTOCOL).view_shape
    assert engine.rows == [(3, c, t, h, w)] * 3  # 8 views in batches of exactly 3 (padded)
    out = capsys.readouterr().out
    assert "fixed scores of scores.npy (fp32)" in out


def test_eval_measures_a_new_engines_drift_against_the_counterpart_it_declares(
        videos: Path, tmp: Path, fixed_scores_row, capsys) -> None:
    assert _eval(videos, tmp, "--precision", "bf16", "--drift-videos", "4") == 0
    report = json.loads((tmp / "r.json").read_text())
    assert report["precision"] == "bf16"
    drift = report["drift"]
    assert drift["measured"] is True and drift["precision"] == "bf16"
    assert drift["reference"] == "fixed scores of scores.npy (fp32)"
    assert drift["candidate"] == "fixed scores of scores.npy (bf16)"
    assert 0 < drift["max_abs_diff"] < 0.01  # bfloat16's rounding of 2 + 1/3, and no more
    assert [e.info.precision for e in FixedScores.made] == [Precision.BF16, Precision.FP32]
    assert "scores.npy at fp32" in capsys.readouterr().err  # how the reference was found


def test_bench_takes_a_new_engine_by_name(videos: Path, tmp: Path, fixed_scores_row) -> None:
    assert main(["bench", "x3d_s_k400", "--engine", "fixed-scores",
                 "--model-file", str(videos / "scores.npy"), "--batch-sizes", "1,2", "--warmup",
                 "0", "--min-seconds", "0", "--out", str(tmp / "bench")]) == 0
    rows = json.loads((tmp / "bench.json").read_text())["rows"]
    assert [(r["engine"], r["batch_size"]) for r in rows] == [("fixed-scores", 1),
                                                             ("fixed-scores", 2)]
    (engine,) = FixedScores.made
    assert {shape[0] for shape in engine.rows} == {1, 2}


def test_the_table_checks_a_new_rows_engine_before_anything_runs(videos: Path, tmp: Path,
                                                                 fixed_scores_row, capsys) -> None:
    # A precision the row does not declare: refused by the table, one line, exit 2.
    assert _eval(videos, tmp, "--precision", "fp16") == 2
    assert "engine fixed-scores runs fp32, bf16, not 'fp16'" in capsys.readouterr().err
    assert not (tmp / "r.db").exists()
    with pytest.raises(UsageError, match="needs an exported model file"):
        create_engine("fixed-scores")
    with pytest.raises(UsageError, match="fixed-scores' is already in the table"):
        register_engine(fixed_scores_row)
    assert FixedScores.made == []


def test_an_engine_without_run_or_info_is_refused_with_what_it_lacks(videos: Path, tmp: Path,
                                                                     capsys) -> None:
    class NoRun(Engine):
        def __init__(self, **_) -> None:
            self.info = EngineInfo("no-run", "none", "cpu", "fp32")

    with pytest.raises(UsageError, match=r"engine no-run: NoRun does not implement run \(an "
                                         r"engine gives `info` and `run`\)"):
        EngineKind("no-run", False, (Precision.FP32,), "lacks run", NoRun)

    class NoInfo(Engine):
        def __init__(self, **_) -> None:
            pass

        def run(self, *inputs):
            return np.zeros((len(inputs[0]), CLASSES), np.float32)

    class DuckTyped:  # the old minimal interface: no longer an engine
        info = EngineInfo("duck", "none", "cpu", "fp32")

        def run(self, *inputs):
            return np.zeros((len(inputs[0]), CLASSES), np.float32)

    with pytest.raises(UsageError, match="engine duck: DuckTyped is not an engine; subclass "
                                         "actionzoo.engines.Engine"):
        EngineKind("duck", False, (Precision.FP32,), "not an Engine", DuckTyped)

    register_engine(EngineKind("no-info", False, (Precision.FP32,), "lacks info", NoInfo))
    register_engine(EngineKind("duck", False, (Precision.FP32,), "made by a function",
                               lambda **_: DuckTyped()))
    try:
        assert _eval(videos, tmp, engine="no-info") == 2
        err = capsys.readouterr().err.strip()
        assert err == ("actionzoo: error: engine no-info: NoInfo has no `info` (an EngineInfo "
                       "saying its name, provider, device and precision); set it in __init__")
        assert _eval(videos, tmp, engine="duck") == 2
        assert "engine duck: DuckTyped is not an engine" in capsys.readouterr().err
    finally:
        ENGINES.pop("no-info", None)
        ENGINES.pop("duck", None)
    # An API caller's own object is checked where it enters, before any video is decoded.
    records = read_video_list(videos / "videos.txt", videos).records
    with ResultsStore(":memory:", {}, resume=False) as store, \
            pytest.raises(UsageError, match="engine: DuckTyped is not an engine"):
        evaluate_records(records, model_name=MODEL, protocol=get_model_spec(MODEL).protocol(PROTOCOL),
                         engine=DuckTyped(), store=store, batch_size=2, workers=0, progress=False)


def test_engine_names_are_read_from_the_table_when_options_are_parsed(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["eval", MODEL, "--engine", "pytorch,nope", "--results", "r.db"])
    assert exit_.value.code == 2
    assert "argument --engine: unknown engine 'nope'; choose from pytorch," in capsys.readouterr().err
    with pytest.raises(UsageError, match="a non-empty name without commas"):
        EngineKind("a,b", False, (Precision.FP32,), "two names", FixedScores)


def test_precision_carries_its_data_and_reads_as_its_name() -> None:
    assert [p.value for p in Precision] == ["fp32", "bf16", "fp16", "int8"]
    assert (Precision.FP32.torch_dtype, Precision.BF16.torch_dtype, Precision.FP16.torch_dtype,
            Precision.INT8.torch_dtype) == (torch.float32, torch.bfloat16, torch.float16, None)
    assert Precision.FP32.autocast_dtype is None and Precision.BF16.autocast_dtype == torch.bfloat16
    assert [p.reduced for p in Precision] == [False, True, True, True]
    assert [p.openvino_hint for p in Precision] == ["f32", "bf16", "f16", None]
    assert Precision.from_openvino_hint("f16") is Precision.FP16
    assert Precision.of("bf16") is Precision.BF16 and Precision.BF16 == "bf16"
    assert f"{Precision.INT8}" == "int8" and json.dumps([Precision.FP16]) == '["fp16"]'
    with pytest.raises(UsageError, match="precision 'fp64' unknown; choose from fp32, bf16, fp16, int8"):
        Precision.of("fp64")
    # What stores key on stays plain text, whether the engine said "bf16" or Precision.BF16.
    info = EngineInfo("e", "p", "cpu", "bf16")
    assert info.precision is Precision.BF16
    assert info.key() == {"engine": "e", "provider": "p", "device": "cpu", "precision": "bf16"}
    assert type(info.key()["precision"]) is str and type(info.to_dict()["precision"]) is str
    with pytest.raises(UsageError, match="engine precision 'f32' unknown"):
        EngineInfo("e", "p", "cpu", "f32")


class _TinyNet(torch.nn.Module):
    """Any clip shape -> 7 class scores: a pooled 3D conv and a linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 7)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3, 4)))


def test_exported_engines_declare_the_class_count_their_file_holds_and_predict_uses_it(
        videos: Path, tmp: Path) -> None:
    path = tmp / "tiny.onnx"
    export_onnx(_TinyNet(), (torch.randn(1, 3, 4, 16, 16),), path, input_names=("clips",),
                dynamic_axes={"clips": {0: "batch", 2: "time", 3: "height", 4: "width"},
                              "scores": {0: "batch"}})
    assert create_engine("onnxruntime", model_file=path).output_width == 7
    assert create_engine("openvino", model_file=path).output_width == 7
    assert create_engine("pytorch", model=_TinyNet()).output_width is None  # not declared
    video = next((videos / "videos").rglob("*.mp4"))
    assert main(["predict", MODEL, str(video), "--protocol", PROTOCOL, "--model-file", str(path),
                 "--top-k", "7", "--workers", "0", "--batch-size", "1", "--no-progress",
                 "--json", str(tmp / "p.json")]) == 0
    (prediction,) = json.loads((tmp / "p.json").read_text())
    # Seven classes named for a seven-class file (not the model's 400 Kinetics names, nor an
    # error for a count that does not match).
    assert prediction["error"] is None
    assert sorted(c["index"] for c in prediction["top"]) == list(range(7))
    assert {c["name"] for c in prediction["top"]} == {f"class {i}" for i in range(7)}
