"""The ``actionzoo`` command: a thin layer over the Python API."""

from actionzoo.cli.main import main

__all__ = ["main"]
