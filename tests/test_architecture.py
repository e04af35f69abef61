"""The layers of docs/architecture.md, enforced: `lint-imports` checks every import (function-level
ones too) against the layers contract in pyproject.toml, and that contract is the doc's table."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def _lint_imports(source_root: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` over the ``actionzoo`` found under ``source_root``, with the project's
    contract; no cache, so nothing is written into the checkout."""
    # The console script of the interpreter running the tests, called through it (no PATH lookup).
    command = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
               "lint_imports_command()"]
    path = os.pathsep.join([str(source_root), os.environ.get("PYTHONPATH", "")])
    return subprocess.run([*command, "--no-cache", "--no-logo", str(PYPROJECT)], cwd=cwd,
                          env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True,
                          timeout=120)


def _layers() -> list[list[str]]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [[name.strip() for name in re.split(r"[|:]", layer)] for layer in contract["layers"]]


def test_imports_run_one_way() -> None:
    done = _lint_imports(ROOT / "src", ROOT)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "1 kept, 0 broken" in done.stdout


def test_the_contract_sees_an_upward_import_inside_a_function(tmp_path: Path) -> None:
    # The copy differs from the package by one import inside a function body, from the bottom
    # layer's fileio up to the CLI: the check must fail and name it.
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "actionzoo", copy / "actionzoo",
                    ignore=shutil.ignore_patterns("__pycache__"))
    atomic = copy / "actionzoo" / "fileio" / "atomic.py"
    atomic.write_text(atomic.read_text() + "\n\ndef _upward():\n"
                      "    from actionzoo.cli.main import main\n\n    return main\n")
    done = _lint_imports(copy, tmp_path)
    assert done.returncode == 1, done.stdout[-6000:]
    assert "BROKEN" in done.stdout
    assert "actionzoo.fileio.atomic -> actionzoo.cli.main" in done.stdout


def test_the_contract_is_the_table_of_docs_architecture() -> None:
    """The doc's table lists the packages top to bottom in the contract's order (siblings of one
    layer in adjacent rows), and its layer statement says what the contract checks."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    rows = re.findall(r"^\| `([a-z_]+)(?:/|\.py)` \|", doc, flags=re.MULTILINE)
    layered = [name for layer in _layers() for name in layer if name != "__main__"]
    assert rows == layered
    assert "lint-imports" in doc and "function" in doc


def test_every_module_of_the_package_sits_in_a_layer() -> None:
    """`exhaustive` makes lint-imports refuse a new top-level module that no layer names; this
    keeps that option on, and checks the layers name only what exists."""
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    assert contract["exhaustive"] is True and contract["containers"] == ["actionzoo"]
    package = ROOT / "src" / "actionzoo"
    children = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    children |= {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert {name for layer in _layers() for name in layer} == children
