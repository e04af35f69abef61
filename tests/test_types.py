"""The enums that replace strings: Task, Status, AvaVariant, and the plan's checkpoint format.
Their values are what files and reports hold, so each is checked against a real file or report."""

from __future__ import annotations

import ast
import csv
import json
import sqlite3
import typing
from pathlib import Path

import numpy as np
import pytest

import actionzoo
from actionzoo.ava.metric import ava_frame_map
from actionzoo.ava.variant import AvaVariant
from actionzoo.checkpoint.read import CheckpointFormat
from actionzoo.data.work_item import Status
from actionzoo.errors import UsageError
from actionzoo.evaluation.recognition import write_predictions
from actionzoo.evaluation.staged import read_index
from actionzoo.evaluation.store import KeyframeStore, ResultsStore
from actionzoo.data.examples import example_inputs
from actionzoo.training.config import TrainConfig, plan_training
from actionzoo.zoo.spec import Task


@pytest.mark.parametrize("name", actionzoo.list_models())
def test_a_task_names_as_many_inputs_as_its_models_take(name: str) -> None:
    spec = actionzoo.get_model_spec(name)
    assert isinstance(spec.task, Task)
    inputs = example_inputs(spec.official, batch=1)
    assert len(spec.task.inputs) == len(inputs) and spec.task.inputs[0] == "video"


def test_stores_hold_the_status_text_and_give_back_members(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with ResultsStore(db, {"model": "m"}, resume=False) as store:
        store.record_success("v1", 0, "a.mp4", 1, np.array([0.2, 0.8]), 3, 0.1, 0.1)
        store.record_failure("v2", 1, "b.mp4", 0, "b.mp4: no video stream")
        results = list(store.results())
        write_predictions(store, tmp_path / "p.csv", ["a", "b"], k=1)
    assert [r.status for r in results] == [Status.OK, Status.FAILED]
    assert all(type(r.status) is Status for r in results)
    with sqlite3.connect(db) as raw:  # the file holds plain text, as before the enum
        stored = raw.execute("SELECT status, typeof(status) FROM videos ORDER BY position")
        stored = stored.fetchall()
    assert stored == [("ok", "text"), ("failed", "text")]
    rows = list(csv.reader((tmp_path / "p.csv").open()))
    assert [row[2] for row in rows[1:]] == ["ok", "failed: b.mp4: no video stream"]

    frames = tmp_path / "k.db"
    with KeyframeStore(frames, {"model": "m"}, resume=False) as store:
        store.record_success(0, "v,0902", "v", 902, np.zeros((1, 4)), np.ones((1, 3)), 0.0, 0.0)
        store.record_failure(1, "v,0903", "v", 903, "no frames")
        assert [r.status for r in store.results()] == [Status.OK, Status.FAILED]


def test_a_store_refuses_a_status_it_does_not_know(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with ResultsStore(db, {"model": "m"}, resume=False) as store:
        store.record_success("v1", 0, "a.mp4", 1, np.array([0.2, 0.8]), 3, 0.1, 0.1)
    with sqlite3.connect(db) as raw:  # the schema's CHECK names exactly the enum's values
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            raw.execute("UPDATE videos SET status = 'skipped'")
        schema = raw.execute("SELECT sql FROM sqlite_master WHERE name = 'videos'").fetchone()[0]
    assert "CHECK (status IN ('ok', 'failed'))" in schema


def test_a_staged_index_with_an_unknown_status_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "index.csv").write_text("file,video_id,label,num_views,status,reason\n"
                                        "000000.npy,v0,0,1,ok,\n"
                                        ",v1,0,0,failed,unreadable\n"
                                        "000002.npy,v2,0,1,done,\n")
    with pytest.raises(UsageError) as caught:
        read_index(tmp_path)
    assert str(caught.value) == f"{tmp_path / 'index.csv'}:4: malformed index row"
    (tmp_path / "index.csv").write_text("file,video_id,label,num_views,status,reason\n"
                                        "000000.npy,v0,0,1,ok,\n"
                                        ",v1,0,0,failed,unreadable\n")
    assert [r.status for r in read_index(tmp_path)] == [Status.OK, Status.FAILED]


def test_the_ava_variant_is_parsed_once_and_carries_its_protocol() -> None:
    assert AvaVariant.parse("pyslowfast") is AvaVariant.PYSLOWFAST
    assert AvaVariant.parse(AvaVariant.OFFICIAL) is AvaVariant.OFFICIAL
    with pytest.raises(UsageError, match=r"unknown AVA evaluation variant 'mmaction2'; use "
                                         r"official or pyslowfast"):
        AvaVariant.parse("mmaction2")
    truth = [("v", 902, 0.1, 0.1, 0.5, 0.9, 12, 1)]
    dets = [("v", 902, 0.1, 0.1, 0.5, 0.9, 12, 0.9)]
    for variant in AvaVariant:
        result = ava_frame_map(truth, dets, [12], variant=variant.value)
        assert result.variant is variant and result.protocol == variant.protocol
        assert json.loads(json.dumps(result.to_dict()))["variant"] == variant.value


def test_the_plan_keeps_its_checkpoint_format_until_it_is_written(tmp_path: Path) -> None:
    for name, written in (("x3d_s_k400", "pyslowfast"), ("tsm_r50_1x1x8_sthv2", "mmaction2")):
        spec = actionzoo.get_model_spec(name)
        plan = plan_training(TrainConfig(model=name, work_dir=tmp_path, batch_size=2), spec,
                             num_classes=2, class_names=None, train_samples=4, world_size=1)
        assert plan.checkpoint_format is spec.recipe.writes
        assert isinstance(plan.checkpoint_format, CheckpointFormat)
        assert plan.to_dict()["checkpoint_format"] == written
        assert json.loads(json.dumps(plan.to_dict(), default=str))["checkpoint_format"] == written


# ---------------------------------------------------------------------------------------------
# the leftovers: no isinstance on pipeline classes, no precision or status text in the code


SRC = Path(actionzoo.__file__).parent


def _trees(*parts: str):
    for path in sorted(SRC.joinpath(*parts).rglob("*.py")):
        yield path, ast.parse(path.read_text())


def test_no_code_dispatches_on_a_pipeline_class_with_isinstance() -> None:
    from actionzoo.zoo import protocols, recipes

    pipelines = {t.__name__ for t in (*typing.get_args(protocols.Pipeline),
                                      *typing.get_args(recipes.TrainPipeline))}
    found = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance" \
                    and len(node.args) == 2:
                named = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                if named & pipelines:
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert found == [], "dispatch through data.views.VIEW_FAMILIES, TRAIN_CLIP_FAMILIES or a " \
                        f"declared attribute: {found}"


def test_every_recognizer_trains_through_one_clip_family_and_the_detector_through_none() -> None:
    from actionzoo.data.train_clips import TRAIN_CLIP_FAMILIES, recognition_train_clip

    for name in actionzoo.list_models():
        pipeline = actionzoo.get_model_spec(name).recipe.pipeline
        assert (type(pipeline) in TRAIN_CLIP_FAMILIES) is (not pipeline.takes_boxes), name
        if pipeline.takes_boxes:
            with pytest.raises(TypeError, match="not a recognition train pipeline"):
                recognition_train_clip(None, 8, pipeline, np.random.default_rng(0), 0)


def test_amp_is_a_precision_from_the_plan_on_and_text_in_the_cli_and_the_checkpoint(
        tmp_path: Path) -> None:
    from actionzoo.cli.main import build_parser
    from actionzoo.runtime.precisions import Precision
    from actionzoo.training.config import AMP_MODES

    assert AMP_MODES == (Precision.BF16, Precision.FP16)
    spec = actionzoo.get_model_spec("x3d_s_k400")

    def plan(amp):
        return plan_training(TrainConfig(model=spec.name, work_dir=tmp_path, batch_size=2, amp=amp),
                             spec, num_classes=2, class_names=None, train_samples=4, world_size=1)

    for text in ("bf16", "fp16"):
        args = build_parser().parse_args(["train", spec.name, "--work-dir", "w", "--amp", text])
        made = plan(args.amp)
        assert made.amp is Precision(text)
        # the plan a checkpoint stores stays plain text (the restricted unpickler admits no enum)
        assert type(made.to_dict()["amp"]) is str and made.to_dict()["amp"] == text
        assert f"amp {text}, sync BN" in made.render()
    assert plan(None).amp is None and plan(None).to_dict()["amp"] is None
    with pytest.raises(UsageError, match=r"^--amp 'int8': choose bf16 or fp16$"):
        plan("int8")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", spec.name, "--work-dir", "w", "--amp", "fp32"])


def test_training_names_no_precision_as_text() -> None:
    from actionzoo.runtime.precisions import Precision

    texts = {p.value for p in Precision}
    found = [f"{path.relative_to(SRC)}:{node.lineno} {node.value!r}"
             for path, tree in _trees("training") for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and node.value in texts]
    assert found == []


def _comparisons_with_text(members) -> list[str]:
    """Where code under src/ compares something with one of ``members``' texts."""
    texts = {m.value for m in members}
    found = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                if any(isinstance(o, ast.Constant) and o.value in texts for o in operands):
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    return found


def test_no_code_compares_a_status_with_its_text() -> None:
    assert _comparisons_with_text(Status) == []


def test_the_eval_report_holds_a_precision_and_writes_the_same_json() -> None:
    from actionzoo.evaluation.report import EvalReport
    from actionzoo.runtime.precisions import Precision

    assert typing.get_type_hints(EvalReport)["precision"] is Precision
    report = EvalReport(model="m", protocol="p", engine="e", precision=Precision.BF16, batch_size=1,
                        workers=0, total=1, scored=1, failed=[], metrics={"top1": 1.0})
    assert '"precision": "bf16"' in json.dumps(report.to_dict())
    assert "precision bf16" in report.render_text()


def test_no_code_compares_a_precision_with_its_text() -> None:
    from actionzoo.runtime.precisions import Precision

    assert _comparisons_with_text(Precision) == []


def test_engine_options_turn_the_precision_text_into_a_precision_once() -> None:
    from actionzoo.engines.options import EngineOptions
    from actionzoo.runtime.precisions import Precision

    assert EngineOptions().precision is Precision.FP32
    assert EngineOptions(precision="bf16").precision is Precision.BF16
    with pytest.raises(UsageError, match="precision 'fp64' unknown; choose from fp32, bf16, fp16, int8"):
        EngineOptions(precision="fp64")
