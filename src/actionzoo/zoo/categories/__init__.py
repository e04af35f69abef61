"""Class names, in each reference's label order, shipped with the package.

=====================  ======================================================================
``kinetics400``        400 names, mmaction2 ``label_map_k400.txt`` order (sorted with ``_``)
``sthv2``              174 templates, Something-Something V2 ``labels.json`` index order
``ucf101``             101 names, ``classInd.txt`` order
``ava_v2.2``           80 actions with their ids (``ava_v2.2_evaluated.txt``: the 60 scored ones)
=====================  ======================================================================

``SOURCES.md`` beside this file names where each list comes from. A wrong order silently renames
every prediction, so the tests check length, order and known entries of every list.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from actionzoo.errors import UsageError

__all__ = ["CATEGORY_LISTS", "category_names", "ava_action_names", "ava_evaluated_ids", "action_name",
           "unused_output_name"]

CATEGORY_LISTS = ("kinetics400", "sthv2", "ucf101", "ava_v2.2")


def _text(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def unused_output_name(index: int) -> str:
    """The name of output ``index`` of a head wider than its dataset (the UCF-101 R(2+1)D keeps
    its 400-way Kinetics head): ``unused output <index>``."""
    return f"unused output {index}"


def action_name(action_id: int) -> str:
    """The name of an AVA action id (1-based) that no label map names: ``action <id>``."""
    return f"action {action_id}"


@lru_cache(maxsize=None)
def category_names(list_name: str) -> tuple[str, ...]:
    """The class names of a shipped list, index = label."""
    if list_name == "ava_v2.2":
        names = ava_action_names()
        return tuple(names.get(i, action_name(i)) for i in range(1, max(names) + 1))
    if list_name not in CATEGORY_LISTS:
        raise UsageError(f"unknown class list {list_name!r}; shipped: {', '.join(CATEGORY_LISTS)}")
    return tuple(line for line in _text(f"{list_name}.txt").splitlines() if line)


@lru_cache(maxsize=None)
def ava_action_names() -> dict[int, str]:
    """AVA v2.2's 80 actions: ``{id: name}``, ids 1..80."""
    names = {}
    for line in _text("ava_v2.2.txt").splitlines():
        if line.strip():
            ident, name = line.split("\t", 1)
            names[int(ident)] = name
    return names


@lru_cache(maxsize=None)
def ava_evaluated_ids() -> tuple[int, ...]:
    """The 60 action ids the ActivityNet AVA evaluation scores."""
    return tuple(int(line) for line in _text("ava_v2.2_evaluated.txt").splitlines() if line.strip())

