"""The ``actionzoo`` command: a thin layer over the Python API.

Each subcommand lives in its own module with ``register(subparsers)``; its handler parses nothing
itself beyond turning options into API objects, calls the API and prints the result. Errors a user
can cause arrive as :class:`~actionzoo.errors.ActionZooError` and are printed as one line with exit
status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from actionzoo.cli import (
    ava_map,
    bench,
    demo,
    detect,
    evaluate,
    export,
    inspect,
    models,
    predict,
    prepare,
    preprocess,
    staged,
    timeline,
    train,
)
from actionzoo.errors import ActionZooError
from actionzoo.fileio.display import escape

__all__ = ["build_parser", "main"]

# In the order `actionzoo --help` lists them.
COMMANDS = [models, inspect, predict, timeline, preprocess, export, staged, evaluate, detect, bench,
            train, ava_map, demo, prepare]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="actionzoo",
        description="Video action-recognition models from official checkpoint to measured deployment.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ActionZooError as error:
        # Messages quote names from users' files: escaped, so a file cannot forge the output.
        print(f"actionzoo: error: {escape(str(error), 4000)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("actionzoo: interrupted", file=sys.stderr)
        return 130
