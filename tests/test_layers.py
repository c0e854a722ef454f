"""Data flows one way: a module imports only from its own stage or stages to its left.

(sources -> decode -> connections -> ndmp -> sessions -> graph -> verify -> report).
Imports under `if TYPE_CHECKING:` are annotations only and do not count for the stages.

Inside a stage, imports go one way too: no module import cycle anywhere in the package.
For cycles every import counts, TYPE_CHECKING and function-local ones included: a
type-only or deferred import back still ties the two modules together, and becomes a
run-time circle as soon as the name is needed at run time.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "flowcheck"

# Stage of each top-level part of the package; a module may import equal or lower stages.
STAGES: dict[str, int] = {
    "": 0, "model": 0, "config": 0, "config_file": 0, "findings": 0, "errors": 0, "exiting": 0,
    "bpf": 0,
    "dispositions": 0,
    "interrupts": 0,
    "arrays": 0, "fields_dataclass": 0, "printable": 0, "utc_times": 0, "tcp_sequence": 0,
    "durations": 0, "doc_files": 0, "frame_names": 0, "setting_words": 0, "heap": 0,
    "sentence_end": 0,
    "sources": 1,
    "decode": 2,
    "connections": 3,
    "ndmp": 4,
    "profiles": 5, "rules": 5, "plan": 5, "firewall_notes": 5,
    "sessions": 6,
    "graph": 7,
    "verify": 8,
    "report": 9,
    "pipeline": 10, "regress": 10, "regress_cases": 10, "regress_diff": 10, "folder_walk": 10,
    "regress_expected": 10, "mixed_reading": 10, "traffic": 10,
    "live": 10,
    "cli": 11, "lab": 11, "__main__": 11, "pytest_plugin": 11, "pytest_cases": 11,
}


@functools.cache
def _imports_of(path: Path) -> tuple[tuple[tuple[int, str], ...], tuple[str, ...],
                                     tuple[tuple[int, str | None, tuple[str, ...]], ...]]:
    """A module's imports, from one parse a process (the stage, heavy-library and cycle
    tests each parsed every module of the package: 443 files, about 0.75 CPU-s a pass):
    its run-time imports (_runtime_imports), the modules its top-level statements import,
    and every import statement anywhere as (level, module, names): level -1 for
    `import names`. Only these tuples are kept: the trees alive for the whole run made
    every full garbage collection walk them (the file took 2 CPU-s more)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = [name for node in tree.body for name in (
        [alias.name for alias in node.names] if isinstance(node, ast.Import)
        else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])]
    every = [(-1, None, tuple(alias.name for alias in node.names))
             if isinstance(node, ast.Import)
             else (node.level, node.module, tuple(alias.name for alias in node.names))
             for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]
    return tuple(_runtime_imports(tree)), tuple(top), tuple(every)


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
    for line, module in _imports_of(path)[0]:
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
            for module in _imports_of(path)[1]:
                assert module.split(".")[0] not in {"scapy", "pyshark", "networkx"}, path


# -- no import cycles ----------------------------------------------------------------


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _all_imports(path: Path, name: str) -> list[str]:
    """Every module name `path` imports (module `name`), in any block, as written:
    `from a.b import c` gives "a.b" and "a.b.c" (c may be a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[str] = []
    for level, module, names in _imports_of(path)[2]:
        if level < 0:  # import names
            found.extend(names)
            continue
        base = module or ""
        if level:  # relative: resolved against the importing module's package
            anchor = package.split(".")
            anchor = anchor[:len(anchor) - (level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        found.append(base)
        found.extend(f"{base}.{name}" for name in names)
    return found


def import_graph(root: Path) -> nx.DiGraph:
    """Modules of the package at `root` and the imports between them (edges importer ->
    imported). A package's `__init__` is the package's own name. Importing a module does
    run its parent packages' `__init__` too, but that is no edge here: a package's
    __init__ importing its own submodules would otherwise always look like a cycle."""
    modules = {_module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for target in _all_imports(path, name):
            if target in modules and target != name:
                graph.add_edge(name, target)
    return graph


def import_cycles(graph: nx.DiGraph) -> list[list[str]]:
    """Each set of modules that import one another in a circle, sorted (strongly
    connected components of more than one module)."""
    return sorted(sorted(component) for component in nx.strongly_connected_components(graph)
                  if len(component) > 1)


def test_no_import_cycles_in_the_package() -> None:
    graph = import_graph(PACKAGE)
    assert graph.number_of_edges() > 100  # the graph really was read
    assert import_cycles(graph) == [], "modules that import each other: break the circle"


def _fake_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "fakepkg"
    for relative, text in {"__init__.py": "", **files}.items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return package


@pytest.mark.parametrize(("files", "cycles"), [
    # the two circles issue 11 found, in miniature: a function-local import back ...
    ({"lab/__init__.py": "", "lab/netns.py": "def f():\n    from fakepkg.lab.vlan import g\n",
      "lab/vlan.py": "from fakepkg.lab.netns import f\n"},
     [["fakepkg.lab.netns", "fakepkg.lab.vlan"]]),
    # ... and a type-only import back
    ({"regress.py": "def run():\n    from fakepkg.report.regress import write\n",
      "report/__init__.py": "",
      "report/regress.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                           "    from fakepkg.regress import Case\n"},
     [["fakepkg.regress", "fakepkg.report.regress"]]),
    # three modules, `import x.y` and a relative import
    ({"a.py": "import fakepkg.b\n", "b.py": "from . import c\n",
      "c.py": "from fakepkg.a import thing\n"},
     [["fakepkg.a", "fakepkg.b", "fakepkg.c"]]),
    # one way: no cycle; a package __init__ importing its submodule is none either
    ({"a.py": "from fakepkg.b import x\n", "b.py": "import os\n",
      "sub/__init__.py": "from fakepkg.sub.leaf import y\n",
      "sub/leaf.py": "from fakepkg.a import z\n"}, []),
])
def test_cycle_checker_finds_circles(tmp_path: Path, files: dict[str, str],
                                     cycles: list[list[str]]) -> None:
    assert import_cycles(import_graph(_fake_package(tmp_path, files))) == cycles
