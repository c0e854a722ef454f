"""Data flows one way: a module imports only from its own stage or stages to its left.

(sources -> decode -> connections -> ndmp -> sessions -> graph -> verify -> report).
Imports under `if TYPE_CHECKING:` are annotations only and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "flowcheck"

# Stage of each top-level part of the package; a module may import equal or lower stages.
STAGES: dict[str, int] = {
    "": 0, "model": 0, "config": 0, "findings": 0, "errors": 0,
    "sources": 1,
    "decode": 2,
    "connections": 3,
    "ndmp": 4,
    "profiles": 5, "rules": 5, "plan": 5,
    "sessions": 6,
    "graph": 7,
    "verify": 8,
    "report": 9,
    "pipeline": 10, "regress": 10, "live": 10,
    "cli": 11, "lab": 11, "__main__": 11, "pytest_plugin": 11,
}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _runtime_imports(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_only)
            return
        if not type_only:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((node.lineno, node.module))
            elif isinstance(node, ast.Import):
                found.extend((node.lineno, alias.name) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child, type_only)

    visit(tree, False)
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path: Path) -> None:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = [p for p in relative.parts if p != "__init__"]
    own = _part(".".join(parts))
    assert own in STAGES, f"{own!r} has no stage: add it to STAGES"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for line, module in _runtime_imports(tree):
        if module != "flowcheck" and not module.startswith("flowcheck."):
            continue
        target = _part(module)
        assert target in STAGES, f"{path.name}:{line} imports unknown part {module}"
        assert STAGES[target] <= STAGES[own], (
            f"{relative}:{line} imports {module}: stage {target!r} is to the right of {own!r}")


def test_hot_path_imports_no_heavy_libraries() -> None:
    """`flowcheck connections` must not pay for scapy, pyshark or networkx at start-up:
    no module of the reading path imports them at module level (a function that only
    the live fallback calls may; tests/test_sources_startup.py checks sys.modules)."""
    for part in ("sources", "decode", "connections"):
        for path in (PACKAGE / part).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in tree.body:
                names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                for module in names:
                    assert module.split(".")[0] not in {"scapy", "pyshark", "networkx"}, path
