"""The names of a model's outputs, resolved in one place for every verb.

``predict``, ``timeline``, ``eval`` (its per-class table and predictions CSV) and training's
checkpoints all name a classifier's outputs by this one order, the first source that has names:

1. **a names file the user gives** (``--class-names``; for ``eval`` the names its annotation
   carries: that file, ``classInd.txt``, ``labels.json``, a Kinetics CSV's labels). Its count must
   equal the model's output width: a mismatch is one error naming the file, never a silent
   renaming. A test set's names may cover only the first outputs (its labels index them; the
   registry's UCF-101 R(2+1)D keeps a 400-way head): the others are ``unused output <i>``;
2. **the names a checkpoint carries** (an actionzoo fine-tune stores its ``class_names``), when
   their count is the width;
3. **the registry's names** (:meth:`~actionzoo.zoo.spec.ModelSpec.class_names`), when the model's
   dataset fits the width;
4. **numbered**: ``class 0``, ``class 1``, ... (:func:`numbered_class_names`).

AVA detectors name action *ids* (1-based) through a label map instead; their numbered fallback,
``action <id>``, is :func:`~actionzoo.zoo.categories.action_name`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from actionzoo.errors import UsageError
from actionzoo.zoo.categories import unused_output_name

if TYPE_CHECKING:  # pragma: no cover
    from actionzoo.zoo.spec import ModelSpec

__all__ = ["resolve_class_names", "numbered_class_name", "numbered_class_names", "check_class_count",
           "checkpoint_class_names"]


def numbered_class_name(index: int) -> str:
    """The name of output ``index`` when nothing names it: ``class <index>``."""
    return f"class {index}"


def numbered_class_names(width: int) -> list[str]:
    """The last resort: ``class 0`` ... ``class <width - 1>``."""
    return [numbered_class_name(i) for i in range(width)]


def class_count_problem(count: int, width: int) -> str:
    """The one wording for names that do not fit the model (the file is named before it)."""
    return f"{count} class names for a model with {width} outputs"


def check_class_count(names: Sequence[str], width: int, source: object) -> None:
    """The one error for names that do not fit the model: ``<source>: N class names for a model
    with W outputs``, where ``source`` is the file (or argument) the names came from."""
    if len(names) != width:
        raise UsageError(f"{source}: {class_count_problem(len(names), width)}")


def checkpoint_class_names(extras: Mapping[str, object] | None) -> list[str] | None:
    """The class names an actionzoo checkpoint stores (``meta['actionzoo']['class_names']``)."""
    from actionzoo.checkpoint.write import actionzoo_state

    ours = actionzoo_state(extras or {})
    names = ours.get("class_names") if ours else None
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        return None
    return list(names)


def resolve_class_names(
    width: int | None,
    *,
    spec: ModelSpec | None = None,
    file: str | Path | None = None,
    names: Sequence[str] | None = None,
    source: object = "class_names",
    dataset: bool = False,
    checkpoint_extras: Mapping[str, object] | None = None,
) -> list[str] | None:
    """The names of a ``width``-output classifier, by the order of the module doc.

    ``file`` is a names file to read (``--class-names``), or ``names`` are given already read from
    ``source`` (a file or an argument, named in the error). ``dataset``: the names are a test
    set's (an annotation's), whose labels index the model's first outputs; a head wider than the
    dataset names its other outputs ``unused output <i>``, as the registry does. ``width`` None
    (a model that does not declare it) skips the count checks; then the registry's default list
    is taken, and None is returned when nothing names the outputs (there is no count to number).
    """
    if file is not None:
        from actionzoo.data.annotations import read_class_names

        names, source = read_class_names(file), file
    if names is not None:
        names = [str(n) for n in names]
        if width is not None and dataset and len(names) < width:
            return names + [unused_output_name(i) for i in range(len(names), width)]
        if width is not None:
            check_class_count(names, width, source)
        return names
    stored = checkpoint_class_names(checkpoint_extras)
    if stored and (width is None or len(stored) == width):
        return stored
    registry = spec.class_names(width) if spec is not None else None
    if registry is not None:
        return registry
    return None if width is None else numbered_class_names(width)
