"""``cli/`` holds no orchestration: each command's handler (and every ``cli/`` helper it calls) is a
short parse -> API call -> print, and the CLI reaches the rest of the package through public names
only. The work lives in the API, where a Python caller gets the same result."""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import actionzoo.cli
from actionzoo.cli.main import build_parser

MAX_LINES = 25  # statements of a handler's body, without its docstring, blank lines and comments


def _modules() -> dict[str, ast.Module]:
    trees = {}
    for info in pkgutil.iter_modules(actionzoo.cli.__path__):
        if info.name == "__main__":  # importing it runs the command
            continue
        module = importlib.import_module(f"actionzoo.cli.{info.name}")
        trees[module.__name__] = ast.parse(Path(module.__file__).read_text())
    return trees


MODULES = _modules()


def _handlers(parser: argparse.ArgumentParser) -> list:
    """Every ``handler`` a (sub)command sets, nested steps (``prepare frames``) included."""
    found = []
    handler = parser._defaults.get("handler")  # argparse keeps set_defaults here
    if handler is not None:
        found.append(handler)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _handlers(sub)
    return found


def _function(module: str, name: str) -> ast.FunctionDef | None:
    for node in MODULES[module].body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def _body_lines(function: ast.FunctionDef, source: list[str]) -> int:
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None),
                                                             ast.Constant):
        body = body[1:]  # the docstring
    if not body:
        return 0
    lines = source[body[0].lineno - 1: body[-1].end_lineno]
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def _cli_names(module: str) -> dict[str, tuple[str, str]]:
    """Names a cli module can call that are cli functions: (module, function) by local name."""
    names = {node.name: (module, node.name) for node in MODULES[module].body
             if isinstance(node, ast.FunctionDef)}
    for node in ast.walk(MODULES[module]):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("actionzoo.cli"):
            for alias in node.names:
                if node.module in MODULES and _function(node.module, alias.name) is not None:
                    names[alias.asname or alias.name] = (node.module, alias.name)
    return names


def _called_cli_functions(module: str, function: ast.FunctionDef) -> set[tuple[str, str]]:
    """The cli functions ``function`` names: called, or chosen and called later."""
    names = _cli_names(module)
    return {names[node.id] for node in ast.walk(function)
            if isinstance(node, ast.Name) and node.id in names}


def _handler_closure() -> dict[tuple[str, str], int]:
    """(module, function) -> body lines, for every handler and the cli helpers it reaches."""
    todo = [(h.__module__, h.__name__) for h in _handlers(build_parser())]
    seen: dict[tuple[str, str], int] = {}
    while todo:
        module, name = todo.pop()
        if (module, name) in seen:
            continue
        function = _function(module, name)
        assert function is not None, f"{module}.{name} is not a module-level function"
        source = inspect.getsource(importlib.import_module(module)).splitlines()
        seen[(module, name)] = _body_lines(function, source)
        todo += _called_cli_functions(module, function) - set(seen)
    return seen


def test_every_command_has_a_handler_in_a_cli_module() -> None:
    handlers = _handlers(build_parser())
    assert len(handlers) >= 17  # every verb of `actionzoo --help`, prepare's steps included
    assert all(h.__module__ in MODULES for h in handlers)


def test_each_handler_and_the_cli_helpers_it_calls_stay_short() -> None:
    closure = _handler_closure()
    assert ("actionzoo.cli.evaluate", "run") in closure
    assert ("actionzoo.cli.evaluate", "_run_recognition") in closure  # helpers are followed
    long = {f"{m}.{f}": n for (m, f), n in closure.items() if n > MAX_LINES}
    assert not long, f"orchestration in cli/ (lines per body, at most {MAX_LINES}): {long}"


def _private_imports(module: str) -> list[str]:
    """Names of other actionzoo packages a cli module imports that start with an underscore:
    a module on the way or the name itself. Function-level imports count too."""
    bad = []
    for node in ast.walk(MODULES[module]):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("actionzoo"):
            if node.module.startswith("actionzoo.cli"):
                continue
            parts = node.module.split(".") + [a.name for a in node.names]
            bad += [f"{node.module}:{p}" for p in parts if p.startswith("_")]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("actionzoo") and not alias.name.startswith("actionzoo.cli"):
                    bad += [alias.name for p in alias.name.split(".") if p.startswith("_")]
    return bad


@pytest.mark.parametrize("module", sorted(MODULES))
def test_cli_modules_use_only_public_names_of_the_api(module: str) -> None:
    assert not _private_imports(module)


def test_the_checks_would_catch_a_long_handler_and_a_private_import() -> None:
    """The walkers see what they are meant to see: a private import and a long body."""
    tree = ast.parse("from actionzoo.evaluation.store import _parts\n"
                     "def f():\n" + "".join(f"    x{i} = {i}\n" for i in range(30)))
    MODULES["actionzoo.cli._probe"] = tree
    try:
        assert _private_imports("actionzoo.cli._probe") == ["actionzoo.evaluation.store:_parts"]
        source = ast.unparse(tree).splitlines()
        assert _body_lines(_function("actionzoo.cli._probe", "f"), source) == 30
    finally:
        del MODULES["actionzoo.cli._probe"]
