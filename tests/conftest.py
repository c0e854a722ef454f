"""Checks around every test of tests/ (flowcheck's own pytest plugin is captures/')."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from child_signals import describe, signal_state, signals_kept
from run_shared import share_in
from step_codes import disagreement

from flowcheck.model import Step

_cites_checked = [True]  # off while a test marked cites_unchecked runs


@pytest.fixture(autouse=True)
def _signals_kept(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that leaves SIGINT's or SIGTERM's disposition or the signal mask changed
    fails (tests/child_signals.py): the later tests' children would inherit it."""
    with signals_kept(request.node.nodeid):
        yield


@pytest.fixture(autouse=True, scope="session")
def _run_shared_folder(request: pytest.FixtureRequest,
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Where this run's workers share their results (tests/run_shared.py): the run's
    basetemp, or in an xdist worker (config.workerinput; not the environment, which a
    pytest started by a test inherits) the folder of the workers' basetemps
    (.../pytest-N/popen-gwK)."""
    base = tmp_path_factory.getbasetemp()
    worker = hasattr(request.config, "workerinput")
    folder = (base.parent if worker else base) / "run-shared"
    folder.mkdir(exist_ok=True)
    share_in(folder)
    yield
    share_in(None)


@pytest.fixture(autouse=True, scope="session")
def _steps_cite_their_codes() -> Iterator[None]:
    """Every Step any test's analysis builds (in this process) cites the codes its detail
    shows, no more and no fewer (tests/step_codes.disagreement; Step.cites, model.said):
    review63c found four detail builders that lost their codes' cites on inputs no
    stored case holds (a ring's hole, a protocol filter under a snap length, two hosts'
    clocks apart, an aborted connection beside others' lost bytes: this check found the
    last two, in tests/test_clocks_apart_* and tests/test_merged_sets), which
    tests/test_step_cites, walking the stored cases, could not see. A test that
    builds a Step whose words and cites differ on purpose is marked cites_unchecked."""
    made = Step.__init__

    def checked(self: Step, *args: object, **kwargs: object) -> None:
        made(self, *args, **kwargs)  # type: ignore[arg-type]
        if _cites_checked[0]:
            wrong = disagreement(self)
            assert wrong is None, f"Step.cites disagrees with the detail (model.said): {wrong}"

    Step.__init__ = checked  # type: ignore[method-assign]
    yield
    Step.__init__ = made  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _cites_unchecked(request: pytest.FixtureRequest) -> Iterator[None]:
    """No Step cites check (_steps_cite_their_codes) while a test marked cites_unchecked
    runs."""
    if request.node.get_closest_marker("cites_unchecked") is None:
        yield
        return
    _cites_checked[0] = False
    try:
        yield
    finally:
        _cites_checked[0] = True


def pytest_report_header() -> str | None:
    """Says so when pytest started with SIGINT ignored or blocked (a shell without job
    control starts `cmd &` ignoring it): what the tests' children would inherit."""
    handlers, blocked = signal_state()
    if handlers[0] is signal.SIG_IGN or signal.SIGINT in blocked:
        return (f"signals: {describe((handlers, blocked))}: started as a background job "
                "of a shell without job control? Children interrupted by the tests "
                "start with SIGINT's default (tests/child_signals.py)")
    return None


def pytest_configure(config: pytest.Config) -> None:
    """In the pytest-xdist controller, before its workers start: the test modules'
    rewritten bytecode written once rather than by every worker (tests/rewrite_ahead.py)."""
    if (not hasattr(config, "workerinput") and config.getoption("dist", "no") != "no"
            and config.getoption("tx", None)):
        from rewrite_ahead import rewrite_ahead

        import flowcheck

        rewrite_ahead(config, Path(flowcheck.__file__).resolve().parent)
