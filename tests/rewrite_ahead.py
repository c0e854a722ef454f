"""The test modules' assertion-rewritten bytecode (and the other modules' plain bytecode)
written once, by the pytest-xdist controller before its workers start, where it is
missing or out of date.

Why: pytest rewrites each test module's asserts and keeps the result in
`__pycache__/NAME.cpython-311-pytest-X.pyc`; a fresh checkout (CI's clone) has none, and
the README's workers (three) start together and collect every module in the same order, so
each rewrote nearly every module itself before any had written it: a collection of a
fresh tree cost 21 CPU-s against 7.6 with the bytecode kept (-n 0), and a run of
no test 60 against 27 with -n 4 (load 8-12). Here the controller writes it once,
split over the machine's cores; the workers then read it as a second run does.

Only what pytest itself would write: its own rewrite (`_rewrite_test`, `_write_pyc`: the
same code object, the same file; pytest still checks each file's header and rewrites
again whatever it finds out of date). Those are pytest internals: where they are missing
(another pytest), nothing is done and each worker rewrites as before. Nothing a test
asserts depends on it.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import py_compile
import struct
import sys
from pathlib import Path

import pytest


def _fresh(source: Path, cached: Path) -> bool:
    """Whether `cached` has the header a bytecode file of `source`'s current version has
    (magic, no flags, source mtime and size: what pytest's _read_pyc and the import
    system check first), read without unmarshalling the code."""
    try:
        stat = source.stat()
        with cached.open("rb") as handle:
            header = handle.read(16)
    except OSError:
        return False
    return header == (importlib.util.MAGIC_NUMBER + b"\x00\x00\x00\x00"
                      + struct.pack("<LL", int(stat.st_mtime) & 0xFFFFFFFF,
                                    stat.st_size & 0xFFFFFFFF))


def _sources(config: pytest.Config, package: Path) -> tuple[list[Path], list[Path]]:
    """(test modules and conftests pytest rewrites, other modules imported as they are)
    under the run's paths, and `package`'s modules."""
    patterns = [*config.getini("python_files"), "conftest.py"]
    rewritten: list[Path] = []
    plain = sorted(package.rglob("*.py"))
    for arg in config.args:
        root = Path(config.invocation_params.dir, arg.split("::")[0])
        for path in sorted(root.rglob("*.py") if root.is_dir() else [root]):
            if "__pycache__" in path.parts:
                continue
            (rewritten if any(fnmatch.fnmatch(path.name, p) for p in patterns)
             else plain).append(path)
    return rewritten, plain


def rewrite_ahead(config: pytest.Config, package: Path) -> None:
    """Write the bytecode the run's workers would each write (module docstring): for the
    rewritten modules pytest's, for the others (tests' helpers, `package`) the import
    system's, in os.cpu_count() forked processes. Nothing when bytecode is not written
    (PYTHONDONTWRITEBYTECODE) or asserts are not rewritten (--assert=plain)."""
    try:
        from _pytest.assertion import rewrite
        tail = rewrite.PYC_TAIL
        for name in ("_rewrite_test", "_write_pyc", "get_cache_dir", "try_makedirs"):
            getattr(rewrite, name)
        config.stash[rewrite.assertstate_key]
    except (ImportError, AttributeError, KeyError):
        return  # another pytest: the workers rewrite as usual
    if sys.dont_write_bytecode or config.getoption("assertmode") != "rewrite":
        return
    rewritten, plain = _sources(config, package)
    todo = [(path, True) for path in rewritten
            if not _fresh(path, rewrite.get_cache_dir(path) / (path.name[:-3] + tail))]
    todo += [(path, False) for path in plain
             if not _fresh(path, Path(importlib.util.cache_from_source(str(path))))]
    share = max(1, min(os.cpu_count() or 1, len(todo)))
    children = []
    for index in range(1, share):
        pid = os.fork()
        if pid == 0:  # a child: its share, then gone without pytest's exit handlers
            status = 0
            try:
                _write(todo[index::share], config)
            except BaseException:  # noqa: BLE001 - the workers then write what is left
                status = 1
            finally:
                os._exit(status)
        children.append(pid)
    try:
        _write(todo[0::share], config)
    finally:
        for pid in children:
            os.waitpid(pid, 0)


def _write(todo: list[tuple[Path, bool]], config: pytest.Config) -> None:
    """Each (module, rewritten) of `todo`'s bytecode written (whole or not at all: both
    writers write a temporary file and rename it); a module that does not compile is
    left to its import, which reports it."""
    from _pytest.assertion import rewrite

    state = config.stash[rewrite.assertstate_key]
    for path, rewritten in todo:
        try:
            if rewritten:
                folder = rewrite.get_cache_dir(path)
                if rewrite.try_makedirs(folder):
                    stat, code = rewrite._rewrite_test(path, config)
                    rewrite._write_pyc(state, code, stat,
                                       folder / (path.name[:-3] + rewrite.PYC_TAIL))
            else:
                py_compile.compile(str(path), doraise=True,
                                   invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
        except (SyntaxError, py_compile.PyCompileError, OSError, ValueError):
            continue
