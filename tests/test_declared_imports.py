"""Every distribution flowcheck's package imports is one pyproject.toml declares (or the
standard library's): newuser62's fresh install (`pip install .` in a new virtual
environment) made every command but a plain `analyze` a traceback, exit 1, because
cli/docs.py imported click, which typer (0.29) no longer installs and pyproject.toml does
not name; the suite's Python had click from elsewhere, so nothing failed here. An import
inside `try:` whose handler catches ImportError is a fallback and not counted (cli/app.py's
click exceptions), nor is the pytest plugin's pytest (pytest loads it)."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "flowcheck"
# Distribution name -> the module it installs, where the two differ.
IMPORT_NAMES = {"pyshark": "pyshark", "scapy": "scapy", "networkx": "networkx"}


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = set()
    for requirement in project["dependencies"]:
        name = requirement.split(";")[0].split("[")[0]
        for mark in "<>=!~ ":
            name = name.split(mark)[0]
        names.add(IMPORT_NAMES.get(name, name.replace("-", "_")))
    return names


def _fallbacks(tree: ast.AST) -> set[int]:
    """ids of the nodes inside a `try:` that catches ImportError, and of its handlers
    (the import tried and the one it falls back to)."""
    kept = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                handler.type is not None and any(
                    name in ast.unparse(handler.type)
                    for name in ("ImportError", "ModuleNotFoundError"))
                for handler in node.handlers):
            for part in [*node.body, *node.handlers]:
                kept.update(id(inner) for inner in ast.walk(part))
    return kept


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    skip = _fallbacks(tree)
    names = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_package_imports_only_what_it_declares() -> None:
    allowed = set(sys.stdlib_module_names) | {"flowcheck"} | _declared()
    undeclared = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        extra = _imported(path) - allowed
        if path.name == "pytest_plugin.py":
            extra -= {"pytest", "_pytest"}
        if extra:
            undeclared[str(path.relative_to(ROOT))] = sorted(extra)
    assert undeclared == {}, "declare these in pyproject.toml or import them in a fallback"


def test_an_undeclared_import_is_caught(tmp_path: Path) -> None:
    """The check itself: `import click` at a module's top is one, in a fallback not."""
    module = tmp_path / "m.py"
    module.write_text("import click\ntry:\n    import yaml\nexcept ImportError:\n"
                      "    from ruamel import yaml\n")
    assert _imported(module) == {"click"}
