"""Class names are resolved in one place (``data.class_names``), by one order, for every verb:
a names file > the names a checkpoint carries > the registry's > numbered, with one error for a
names file whose count is not the model's output width."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from helpers import random_state

import actionzoo
from actionzoo.checkpoint.read import CheckpointFormat
from actionzoo.checkpoint.write import checkpoint_payload, save_checkpoint
from actionzoo.data.class_names import numbered_class_names, resolve_class_names
from actionzoo.data.synthetic import write_synthetic_videos
from actionzoo.engines.base import Engine, EngineInfo
from actionzoo.engines.options import EngineOptions
from actionzoo.errors import UsageError
from actionzoo.prediction.classifier import load_classifier
from actionzoo.prediction.timeline import timeline
from actionzoo.prediction.videos import predict
from actionzoo.zoo.categories import category_names

SRC = Path(actionzoo.__file__).parent
K400 = actionzoo.get_model_spec("x3d_s_k400")


def _ours(names: list[str]) -> dict:
    """A checkpoint's extras as ``actionzoo train`` writes them."""
    return {"meta": {"actionzoo": {"class_names": names, "num_classes": len(names)}}}


def test_the_order_is_file_then_checkpoint_then_registry_then_numbered(tmp_path: Path) -> None:
    names = tmp_path / "names.txt"
    names.write_text("".join(f"n{i}\n" for i in range(400)))
    extras = _ours([f"ck{i}" for i in range(400)])
    assert resolve_class_names(400, spec=K400, file=names, checkpoint_extras=extras)[:2] == ["n0", "n1"]
    assert resolve_class_names(400, spec=K400, checkpoint_extras=extras)[:2] == ["ck0", "ck1"]
    assert resolve_class_names(400, spec=K400) == list(category_names("kinetics400"))
    # a checkpoint's names for another width, and the registry's 400 for 7 outputs, do not fit
    assert resolve_class_names(7, spec=K400, checkpoint_extras=extras) == numbered_class_names(7)
    assert numbered_class_names(3) == ["class 0", "class 1", "class 2"]
    # a model that does not declare its width: the registry's default list, else nothing
    assert resolve_class_names(None, spec=K400)[0] == category_names("kinetics400")[0]
    assert resolve_class_names(None) is None


def test_a_names_file_of_another_count_is_one_error_naming_the_file(tmp_path: Path) -> None:
    names = tmp_path / "names.txt"
    names.write_text("a\nb\nc\n")
    with pytest.raises(UsageError) as caught:
        resolve_class_names(400, spec=K400, file=names)
    assert str(caught.value) == f"{names}: 3 class names for a model with 400 outputs"
    with pytest.raises(UsageError, match=r"^class_names: 2 class names for a model with 3 outputs$"):
        resolve_class_names(3, names=["a", "b"])
    # a test set's names index the first outputs: a wider head names the rest as unused
    assert resolve_class_names(4, names=["a", "b"], dataset=True) == \
        ["a", "b", "unused output 2", "unused output 3"]
    with pytest.raises(UsageError, match=r"^ann\.txt: 3 class names for a model with 2 outputs$"):
        resolve_class_names(2, names=["a", "b", "c"], source="ann.txt", dataset=True)


def test_the_classifier_of_predict_and_timeline_takes_the_checkpoints_names(tmp_path: Path) -> None:
    state = random_state("x3d_s_k400", num_classes=3)
    path = tmp_path / "custom.pyth"
    save_checkpoint(path, checkpoint_payload(
        CheckpointFormat.PYSLOWFAST, state, {}, epochs_done=1, iteration=1, seed=0, config={},
        ours={"class_names": ["left", "right", "up"], "num_classes": 3}))
    engine, names = load_classifier(K400, EngineOptions(checkpoint=path))
    assert names == ["left", "right", "up"]
    wrong = tmp_path / "two.txt"
    wrong.write_text("a\nb\n")
    with pytest.raises(UsageError) as caught:
        load_classifier(K400, EngineOptions(checkpoint=path), wrong)
    assert str(caught.value) == f"{wrong}: 2 class names for a model with 3 outputs"


class _Constant(Engine):
    """Scores every view with the same ``width`` logits, class 1 highest."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.info = EngineInfo("constant", "hand-built", "cpu", "fp32")

    def run(self, views: np.ndarray) -> np.ndarray:
        row = np.zeros(self.width, dtype=np.float32)
        row[1] = 5.0
        return np.tile(row, (len(views), 1))


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("class_names")
    write_synthetic_videos(root, num_classes=1, videos_per_class=1, num_frames=40, size=(64, 86))
    return next((root / "videos").rglob("*.mp4"))


def test_the_python_api_names_outputs_as_the_cli_does(video: Path) -> None:
    model = "slowfast_r50_8x8x1_k400"
    protocol = actionzoo.get_model_spec(model).protocol("ascend").scaled(64)
    # no names given: the registry's when they fit the width, numbered when they do not
    for width, expected in ((400, category_names("kinetics400")[1]), (5, "class 1")):
        [prediction] = predict(model, [video], engine=_Constant(width), protocol=protocol,
                               workers=0)
        assert prediction.top[0].name == expected
        run = timeline(model, str(video), engine=_Constant(width), window=1.0, stride=1.0,
                       protocol=protocol)
        assert run.windows[0].top[0].name == expected
    with pytest.raises(UsageError, match=r"^class_names: 2 class names for a model with 5 outputs$"):
        predict(model, [video], engine=_Constant(5), protocol=protocol, class_names=["a", "b"],
                workers=0)
    with pytest.raises(UsageError, match=r"^class_names: 2 class names for a model with 5 outputs$"):
        timeline(model, str(video), engine=_Constant(5), window=1.0, stride=1.0,
                 protocol=protocol, class_names=["a", "b"])


def test_no_other_module_resolves_or_numbers_class_names() -> None:
    """The order and the fallbacks live in ``data/class_names.py`` (the registry's list and the
    numbering words in ``zoo/``): a second copy elsewhere fails here."""
    allowed = {Path("data/class_names.py"), Path("zoo/spec.py"), Path("zoo/categories/__init__.py")}
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "class_names":  # spec.class_names(...): the registry's
                found.append(f"{rel}:{node.lineno} calls .class_names()")
            if isinstance(node, ast.JoinedStr) and node.values and \
                    isinstance(node.values[0], ast.Constant) and \
                    str(node.values[0].value) in ("class ", "action ", "unused output "):
                found.append(f"{rel}:{node.lineno} numbers a class")
            if isinstance(node, ast.Name) and node.id == "actionzoo_state" and \
                    rel.parts[0] in ("prediction", "evaluation", "ava", "bench"):
                found.append(f"{rel}:{node.lineno} reads a checkpoint's names")
    assert found == []
