"""``evaluation.staged`` owns the staged folders' ``meta.json``: what preprocess writes is what the
later stages read back, and a hostile file is refused in one line that names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from actionzoo.engines.options import EngineOptions
from actionzoo.errors import UsageError
from actionzoo.evaluation.staged import (
    META_NAME,
    infer_folder,
    postprocess_folder,
    read_meta,
    write_meta,
)


def test_meta_written_is_meta_read_and_a_folder_without_one_has_none(tmp: Path) -> None:
    assert read_meta(tmp) == {}
    meta = {"model": "x3d_s_k400", "protocol": "official", "summary": "s", "annotation": "a.txt"}
    assert write_meta(tmp, meta) == tmp / META_NAME
    assert read_meta(tmp) == meta


@pytest.mark.parametrize("content, why", [
    (b"{not json", "not a meta.json that preprocess wrote"),
    (b"[1, 2]", "expected an object"),
    (b'{"model": ["x3d_s_k400"]}', "model is not a name"),
    (b'{"model": "x3d_s_k400", "protocol": {"a": 1}}', "protocol is not a name"),
    (b'{"a": "' + b"x" * (1 << 20) + b'"}', "larger than 1 MiB"),
])
def test_a_hostile_meta_is_refused_in_one_line_naming_the_file(tmp: Path, content: bytes,
                                                               why: str) -> None:
    (tmp / META_NAME).write_bytes(content)
    with pytest.raises(UsageError, match=why) as error:
        read_meta(tmp)
    assert str(tmp / META_NAME) in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(UsageError, match=why):  # every stage reads it through read_meta
        postprocess_folder(tmp)


def test_the_model_comes_from_the_meta_or_must_be_named(tmp: Path) -> None:
    with pytest.raises(UsageError, match="no meta.json to name the model; pass --model"):
        postprocess_folder(tmp)
    with pytest.raises(UsageError, match="the pytorch engine needs --model"):
        infer_folder(tmp, tmp / "out", engine=EngineOptions(engine="pytorch"))
    write_meta(tmp, {"model": "x3d_s_k400", "protocol": "official"})
    # The model and protocol of the meta are taken; the scores' index is what is missing next.
    with pytest.raises(UsageError, match="run `actionzoo preprocess` first"):
        postprocess_folder(tmp)
    with pytest.raises(UsageError, match="no protocol 'nope'"):
        postprocess_folder(tmp, protocol="nope")
