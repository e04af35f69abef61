"""The project's exception types.

Every error a user can cause (a wrong file, a malformed line, a bad option) is raised as an
``ActionZooError`` whose message is one line naming the file and the problem. The CLI prints that
line and exits non-zero; it never shows a traceback for these.
"""

from __future__ import annotations


class ActionZooError(Exception):
    """Base class of user-facing errors: ``str(error)`` is the whole message for the user."""


class UsageError(ActionZooError):
    """An unknown model name, a wrong option value, an impossible combination of options."""


class CheckpointError(ActionZooError):
    """A checkpoint file that cannot be read, is unsafe to read, or does not fit the model."""


class DataError(ActionZooError):
    """A video or frame folder that is missing, corrupt, truncated or has no frames."""


class AnnotationError(ActionZooError):
    """One or more malformed lines in an annotation file.

    ``problems`` holds every problem found (a reader reports all of them, not only the first);
    the message names the file, the first problem and how many there are in all.
    """

    def __init__(self, path: object, problems: list[str]):
        self.path = str(path)
        self.problems = list(problems)
        first = self.problems[0] if self.problems else "unknown problem"
        more = f" (and {len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
        super().__init__(f"{self.path}: {first}{more}")
