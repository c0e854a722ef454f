"""Results the pytest workers of one run share: a function of stored files computed once a
run, by the first worker that asks, and read by the others from a pickle.

pytest-xdist gives each worker a contiguous share of the tests (worksteal), so the files
that walk every stored capture run on different workers: stored.case_analysis was made by
test_finding_fields on one, test_report_session_status on another and
test_verify_unexplained on a third, and test_tshark_counts tracked every capture again
on the worker after test_connections_acked_unseen's. A per-worker functools.cache saw
none of that.

The pickles live in the run's own temporary directory (pytest's basetemp, the folder of
the workers' basetemps under xdist: tests/conftest.py sets it), made new for each run and
removed by pytest's retention of the last three runs: a result is never read by a later
run, whose flowcheck or captures may have changed. Outside pytest (no folder set) the
results are kept in the process only.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_folder: Path | None = None


def share_in(folder: Path | None) -> None:
    """Keep the run's shared results in `folder` (None: in the process only)."""
    global _folder
    _folder = folder


def run_shared(function: Callable[P, R]) -> Callable[P, R]:
    """`function` kept per process (functools.cache: same arguments, same object) and, in a
    pytest run, for the run's other workers: a pickle named by the function and the repr
    of its arguments (hashable values whose repr tells them apart: paths, flags). Only for
    pure functions of files the run does not change; a caller must not change what it
    gets (the other callers in its process get the same object)."""
    @functools.cache
    def kept(*args: P.args, **kwargs: P.kwargs) -> R:
        folder = _folder
        if folder is None:
            return function(*args, **kwargs)
        name = repr((function.__module__, function.__qualname__, args, sorted(kwargs.items())))
        path = folder / f"{hashlib.sha256(name.encode()).hexdigest()}.pickle"
        try:
            return pickle.loads(path.read_bytes())
        except FileNotFoundError:
            pass  # not made yet (or being made by another worker: made here too)
        result = function(*args, **kwargs)
        part = path.with_name(f"{path.name}.{os.getpid()}")
        part.write_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(part, path)  # whole or absent: another worker never reads half a file
        return result

    return functools.wraps(function)(kept)  # type: ignore[return-value]
