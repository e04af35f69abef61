"""The project's exception types.

Every error a user can cause (a wrong file, a malformed line, a bad option) is raised as an
``ActionZooError`` whose message is one line naming the file and the problem. The CLI prints that
line and exits non-zero; it never shows a traceback for these.
"""

from __future__ import annotations

import re


class ActionZooError(Exception):
    """Base class of user-facing errors: ``str(error)`` is the whole message for the user."""


class UsageError(ActionZooError):
    """An unknown model name, a wrong option value, an impossible combination of options."""


class CheckpointError(ActionZooError):
    """A checkpoint file that cannot be read, is unsafe to read, or does not fit the model."""


class DataError(ActionZooError):
    """A video or frame folder that is missing, corrupt, truncated or has no frames."""


_PLACE = re.compile(r"^(line \d+|key .+?)(?=[ :(])")
#: How many other bad lines the one-line message lists by number before it only counts them.
MAX_LISTED_PLACES = 50


def _places(problems: list[str]) -> list[str]:
    """Where each problem is ("4" for "line 4 ...", "key 'x'" for "key 'x': ..."), in order."""
    places: list[str] = []
    for problem in problems:
        match = _PLACE.match(problem)
        if match:
            place = match.group(1).removeprefix("line ")
            if place not in places:
                places.append(place)
    return places


class AnnotationError(ActionZooError):
    """One or more malformed lines in an annotation file.

    ``problems`` holds every problem found (a reader reports all of them, not only the first).
    The one-line message names the file, the first problem in full, and where every other one
    is (up to :data:`MAX_LISTED_PLACES` line numbers, then a count), so a user can fix the file
    in one pass: ``f.txt: line 2 ('x'): ...; also at lines 4, 5, 9 (and 3 more problems)``.
    """

    def __init__(self, path: object, problems: list[str]):
        self.path = str(path)
        self.problems = list(problems)
        first = self.problems[0] if self.problems else "unknown problem"
        more = ""
        if len(self.problems) > 1:
            places = [p for p in _places(self.problems[1:]) if p != (_places([first]) or [None])[0]]
            shown = ", ".join(places[:MAX_LISTED_PLACES])
            if len(places) > MAX_LISTED_PLACES:
                shown += f", ... ({len(places) - MAX_LISTED_PLACES} more places)"
            lines = all(p.isdigit() for p in places[:MAX_LISTED_PLACES])
            where = f"; also at {'lines ' if lines else ''}{shown}" if places else ""
            more = f"{where} (and {len(self.problems) - 1} more problems)"
        super().__init__(f"{self.path}: {first}{more}")
