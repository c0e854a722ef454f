"""The command line: the typer app and its error policy, kept apart from the commands
(httpie's raw_main/program).

Every failure leaves as one line on standard error and an exit code from ExitStatus;
a traceback is shown only with FLOWCHECK_DEBUG=1. The process's entry point, which
loads this module, is flowcheck.cli.main (interruptions while this loads).
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Annotated

import typer

try:  # typer >= 0.2x carries its own copy of click; older releases use click itself
    from typer._click import exceptions as click_errors
    from typer._click.utils import PacifyFlushWrapper
    OWN_CLICK = True
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_errors
    from click.utils import PacifyFlushWrapper
    OWN_CLICK = False

from flowcheck.cli.helptext import APP_EPILOG
from flowcheck.dispositions import catch
from flowcheck.errors import ExitStatus, FlowcheckError
from flowcheck.exiting import release_kept

app = typer.Typer(
    name="flowcheck",
    help="Verify NDMP / Backup Exec backup traffic in packet captures: which step of the "
         "sequence failed, why, and which firewall rule or setting fixes it.",
    epilog=APP_EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[default: 10000]" is not a rich tag
    context_settings={"help_option_names": ["-h", "--help"]},
)

INTERNAL_ERROR = ExitStatus.INTERNAL  # a bug in flowcheck (contract: exit code 4)


def _print_version(asked: bool) -> None:
    if asked:
        from flowcheck import __version__

        print(f"flowcheck {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_version,
        help="Print flowcheck's version and exit.")] = False) -> None:
    # No docstring: the app's help stays the one given to typer.Typer above.
    pass


def _register_commands() -> None:
    # Once per process: run() is called many times by tests and scripts, and each
    # registration adds the commands again (typer keeps a list), so every later run
    # built all the earlier copies too (a test file of 200 runs took 2 minutes).
    if app.registered_commands:
        return
    from flowcheck.cli import live, regress, setup, traffic

    traffic.register(app)
    live.register(app)
    regress.register(app)
    setup.register(app)


def run(argv: list[str] | None = None, *, ending: bool = False) -> int:
    """Run the CLI on argv and return the exit code (tests call this directly).
    `ending`: the process ends right after (cli.main, flowcheck.exiting.exit_now): what
    the command read stays held (keep_to_exit) instead of being freed here."""
    try:
        return _run(argv)
    finally:
        # Commands that read a capture freeze what they read (flowcheck.exiting.read_once)
        # and hold it (keep_to_exit): back to the garbage collector, for callers that go
        # on (tests, scripts).
        gc.unfreeze()
        if not ending:
            release_kept()


def _run(argv: list[str] | None) -> int:
    call = _direct_call(sys.argv[1:] if argv is None else argv)
    # A reader that leaves standard output early is handled by the writers
    # (cli/output.py): a report keeps its exit code, live's stream stops.
    try:
        with _term_as_interrupt():
            if call is not None:
                result = _as_typer_would(call)
            else:
                _register_commands()
                command = typer.main.get_command(app)
                result = command.main(args=argv, prog_name="flowcheck",
                                      standalone_mode=False)
    except FlowcheckError as exc:
        _error(str(exc))
        return int(exc.exit_status)
    except typer.Exit as exc:
        return exc.exit_code
    except click_errors.NoArgsIsHelpError as exc:
        # `flowcheck` alone: the help (the commands), not its first line as an error.
        print(exc.format_message(), file=sys.stderr)
        return int(ExitStatus.USAGE)
    except click_errors.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        # typer checks values through pydantic, whose messages start "Value error, ".
        _error(f"{exc.format_message().replace('Value error, ', '')}{hint}")
        return int(ExitStatus.USAGE)
    except click_errors.ClickException as exc:
        _error(exc.format_message())
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        _error("interrupted")
        return int(ExitStatus.INTERRUPTED)
    except SystemExit as exc:
        # typer's answer to EPIPE (its only exit when not standalone): help written to a
        # reader that left (`flowcheck --help | head`) was shown as far as it was read,
        # as a report keeps its verdict's code (cli/output.py). Anything else keeps 1.
        if exc.code == 1 and _help_asked(sys.argv[1:] if argv is None else argv):
            return int(ExitStatus.OK)
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no tracebacks
        if os.environ.get("FLOWCHECK_DEBUG"):
            raise
        _error(f"internal error: {type(exc).__name__}: {exc} (FLOWCHECK_DEBUG=1 shows more)")
        return int(INTERNAL_ERROR)
    if result == ExitStatus.INTERRUPTED:
        # typer >= 0.2x returns Ctrl-C (and SIGTERM: _term_as_interrupt) as a silent 130;
        # no command returns it otherwise: the documented line, as for Abort above.
        _error("interrupted")
    return result if isinstance(result, int) else 0


# The commands _direct_call runs without typer's parsing, and the formats it takes.
DIRECT_COMMANDS = ("connections", "analyze")
DIRECT_FORMATS = ("json", "table")


def _direct_call(argv: list[str]) -> Callable[[], object] | None:
    """The command argv asks for, ready to run, when argv is only `connections` or
    `analyze`, captures (none starting with "-") and at most one `--format json|table`:
    the same call typer makes (every other option at its default); else None (typer
    parses it: help, other options, usage errors).

    Why: typer builds a pydantic validator for each of a command's 18 parameters, given
    or not, and pydantic's import alone is 0.1 s: the CLI's start-up was twice the
    engine's (python -X importtime; cProfile: build_runtime_param 0.16 s)."""
    if not argv or argv[0] not in DIRECT_COMMANDS:
        return None
    captures: list[str] = []
    chosen: str | None = None
    words = iter(argv[1:])
    for word in words:
        if word == "--format" and chosen is None:
            chosen = next(words, None)
            if chosen not in DIRECT_FORMATS:
                return None
        elif word.startswith("-"):
            return None
        else:
            captures.append(word)
    if not captures:
        return None
    from flowcheck.cli import traffic
    from flowcheck.cli.options import OutputFormat, with_config

    command = with_config(getattr(traffic, argv[0]))
    output = OutputFormat(chosen or "table")
    return lambda: command(captures, output=output)


def _as_typer_would(call: Callable[[], object]) -> object:
    """call()'s result, its exceptions turned into what typer's command.main
    (standalone_mode False) turns them into: typer.Exit its exit code, returned; an
    interruption 130, returned (typer with its own click; before, as end of input); end
    of input an Abort after an empty line; a reader gone (EPIPE) exit 1."""
    try:
        return call()
    except typer.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt as exc:
        if not OWN_CLICK:  # pragma: no cover - depends on the installed typer
            print(file=sys.stderr)
            raise typer.Abort() from exc
        return int(ExitStatus.INTERRUPTED)
    except EOFError as exc:
        print(file=sys.stderr)
        raise typer.Abort() from exc
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        sys.stdout = PacifyFlushWrapper(sys.stdout)  # type: ignore[assignment]
        sys.stderr = PacifyFlushWrapper(sys.stderr)  # type: ignore[assignment]
        sys.exit(1)


@contextlib.contextmanager
def _term_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, as SIGINT does, while a command runs: the
    documented interrupted exit (one line, 130) instead of the signal's silent 143. A CI
    job's timeout (GitLab, GitHub Actions, `timeout`), `kill` and `systemctl stop` send
    SIGTERM; `regress` still writes the JUnit and JSON of the cases judged, `live` sets
    its own handler while it captures (it stops and reports, cli/live.py). A SIGTERM
    ignored when flowcheck started stays ignored (flowcheck.dispositions)."""
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set a handler (a script's worker thread)
        return
    previous = catch(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _help_asked(argv: list[str]) -> bool:
    """Whether argv asks for help (-h or --help before any `--`)."""
    before = argv[:argv.index("--")] if "--" in argv else argv
    return "-h" in before or "--help" in before


def _error(message: str) -> None:
    first_line = " ".join(str(message).split("\n")[0].split())
    print(f"flowcheck: error: {first_line}", file=sys.stderr)


def tolerate_file_names() -> None:
    """Standard output that does not fail on a file name that is not UTF-8. Python keeps
    such a name's bytes as lone surrogates (PEP 383); in a UTF-8 locale other than
    C.UTF-8 (or with PYTHONIOENCODING=utf-8) its standard output is strict, and a text
    report naming the file (capture_unreadable, ...) ended in an internal error. Written
    as `\\udcNN` instead, as standard error already does (backslashreplace)."""
    stream = sys.stdout
    if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
        stream.reconfigure(errors="backslashreplace")

