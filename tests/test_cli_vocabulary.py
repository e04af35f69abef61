"""The CLI's vocabulary is one: a flag shared by several verbs has one type, one default and one
meaning everywhere, and a verb does not take options it would ignore."""

from __future__ import annotations

import argparse
from collections import defaultdict

import pytest

from actionzoo.cli.main import build_parser


def _verbs() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _options(verb: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in verb._actions for s in a.option_strings if s.startswith("--")}


def test_each_shared_flag_has_one_type_one_default_and_one_kind() -> None:
    seen: dict[str, set] = defaultdict(set)
    for name, verb in _verbs().items():
        for flag, action in _options(verb).items():
            if flag == "--help":
                continue
            seen[flag].add((type(action).__name__, getattr(action.type, "__name__", action.type),
                            repr(action.default), tuple(action.choices or ())))
    differing = {flag: kinds for flag, kinds in seen.items() if len(kinds) > 1}
    # defaults that differ on purpose: where outputs go, which model a verb is about, what a
    # verb's batch holds (views, windows, keyframes), where the protocol comes from (postprocess:
    # the inputs' meta.json), paths relative to "." for score folders, and export's precisions
    # (a file is fp32 or int8; bf16/fp16 are run-time choices); --workers is 2 on a CPU
    # everywhere, where eval/predict/bench leave it unset to use every core on a CUDA device; the
    # demo's short training has its own epoch count
    allowed = {"--out", "--model", "--batch-size", "--protocol", "--data-root", "--precision",
               "--workers", "--epochs"}
    assert {f: k for f, k in differing.items() if f not in allowed} == {}


@pytest.mark.parametrize("verb", ["detect", "timeline", "infer"])
def test_verbs_that_measure_no_drift_and_upload_nothing_refuse_those_options(verb: str) -> None:
    options = _options(_verbs()[verb])
    assert "--reference" not in options and "--upload" not in options
    assert "--engine" in options and "--precision" in options


def test_every_verb_with_a_progress_bar_can_turn_it_off() -> None:
    verbs = _verbs()
    for name in ("eval", "predict", "preprocess", "timeline", "train", "bench"):
        assert "--no-progress" in _options(verbs[name]), name


def test_drift_videos_has_one_default_and_takes_zero_everywhere() -> None:
    verbs = _verbs()
    for name in ("eval", "predict", "export"):
        action = _options(verbs[name])["--drift-videos"]
        assert action.default == 32 and action.type("0") == 0, name


def test_postprocess_json_takes_a_path_like_eval_and_predict(tmp_path) -> None:
    verbs = _verbs()
    assert verbs["postprocess"].parse_args(["--scores", "s", "--json", str(tmp_path / "r.json")]).json \
        == str(tmp_path / "r.json")
    assert verbs["postprocess"].parse_args(["--scores", "s", "--json"]).json == "-"


def test_ground_truth_and_boxes_have_one_name_across_verbs() -> None:
    verbs = _verbs()
    assert "--gt" in _options(verbs["ava-map"]) and "--gt" in _options(verbs["eval"])
    assert "--boxes" in _options(verbs["detect"]) and "--boxes" in _options(verbs["eval"])
