"""The common command lines, run without typer: `connections` or `analyze`, captures, at
most `--format json|table`, at most `--config FILE` and the configuration flags
(`--media-range 5001-5100 --agent-range 6001-6100`: what scripts, benchmarks and the
README's commands run, again and again), `live` with options typer would take as they
are (flowcheck.cli.direct_live) and `regress` (flowcheck.cli.direct_regress).

typer builds a pydantic validator for each of a command's 18 parameters, given or not:
pydantic's import alone was 0.1 s, and with typer's own 0.03 s the command line's
start-up was twice the engine's (python -X importtime; cProfile: typer's
build_runtime_param 0.16 s). These command lines have nothing typer would refuse (a
--config typer would, config_path leaves to it): the command's body
(flowcheck.cli.commands) is called as typer calls it, every other option at its default,
under the error policy of flowcheck.cli.app for what a body raises. Every other command
line (help, other options, usage errors) is typer's (cli.app).

Light, as cli.main: the standard library and flowcheck's light modules only; the
command's modules are loaded when it runs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from pathlib import Path

from flowcheck.dispositions import catch
from flowcheck.errors import ExitStatus, FlowcheckError

# The commands direct_call runs, and the formats it takes.
DIRECT_COMMANDS = ("connections", "analyze")
DIRECT_FORMATS = ("json", "table")


# Whether this run's command line asked for --debug (take_debug; FLOWCHECK_DEBUG too).
_debug_asked = False


def take_debug(argv: list[str]) -> list[str]:
    """argv without its `--debug` words (anywhere before a `--`: `flowcheck --debug
    analyze ...` as `flowcheck analyze ... --debug`), remembering for this run whether
    there was one: an internal error then shows its traceback (contract, exit code 4)."""
    global _debug_asked
    end = argv.index("--") if "--" in argv else len(argv)
    kept = [word for word in argv[:end] if word != "--debug"] + argv[end:]
    _debug_asked = len(kept) != len(argv)
    return kept


def debug_wanted() -> bool:
    """Whether an internal error shows its traceback: --debug or FLOWCHECK_DEBUG=1."""
    return _debug_asked or bool(os.environ.get("FLOWCHECK_DEBUG"))


def direct_call(argv: list[str]) -> Callable[[], int] | None:
    """The command argv asks for, ready to run, when argv is only `connections` or
    `analyze`, captures (none starting with "-": "-", standard input, too is left to
    typer), at most one `--format json|table`, at most one `--config FILE` (config_path)
    and configuration flags (`--media-range 5001-5100`: cli.direct_flags) anywhere among
    them, `live` with options typer takes as they are (cli.direct_live), or `regress`
    with paths and its options (cli.direct_regress); else None."""
    if argv and argv[0] == "live":
        from flowcheck.cli.direct_live import live_call

        return live_call(argv[1:])
    if argv and argv[0] == "regress":
        from flowcheck.cli.direct_regress import regress_call

        return regress_call(argv[1:])
    if not argv or argv[0] not in DIRECT_COMMANDS:
        return None
    from flowcheck.cli.direct_flags import CONFIG, ordered, take_flag

    captures: list[str] = []
    chosen: str | None = None
    config_file: Path | None = None
    flags: dict[str, object] = {}
    words = iter(argv[1:])
    for word in words:
        if word == "--format" and chosen is None:
            chosen = next(words, None)
            if chosen not in DIRECT_FORMATS:
                return None
        elif word == "--config" and config_file is None:
            config_file = config_path(next(words, None))
            if config_file is None:
                return None
        elif word in CONFIG:
            if not take_flag(flags, word, next(words, None)):
                return None
        elif word.startswith("-"):
            return None
        else:
            captures.append(word)
    if not captures:
        return None
    from flowcheck.cli import commands
    from flowcheck.cli.settings import OutputFormat, resolve_config

    body = getattr(commands, argv[0])
    output = OutputFormat(chosen or "table")
    # No --config: the Config from a ring directory's own flowcheck.toml, else
    # ./flowcheck.toml, else the defaults (with_config's), the flags over it.
    return lambda: body(captures, resolve_config(config_file, ordered(flags), captures),
                        output)


def config_path(value: str | None) -> Path | None:
    """`--config VALUE` as typer's option (cli.options.ConfigFile: a Path, dir_okay
    False, readable) passes it to the command, when typer would raise nothing of its own:
    a name that is no file at all passes too (load_file's error then names it, as after
    typer). None, for typer to answer in its own words, when VALUE is missing, empty,
    `-` (standard input) or reads as an option, or names a directory or a file this
    process may not read (typer's "is a directory" and "is not readable" usage errors,
    exit 2)."""
    if not value or value.startswith("-"):
        return None
    return Path(value) if _typer_takes(value) else None


def output_path(value: str | None) -> Path | None:
    """An output FILE option's VALUE (live's `--write`, regress's `--junit`) as typer
    passes it: as config_path, and `-` (standard output) too when typer takes it. typer
    checks `-` as a file name all the same (typer 0.2x makes the value a Path before
    its allow_dash test, which then never matches): with a folder named `-` in the
    current one it says "file '-' is a directory" (exit 2), so that `-` is left to it
    (review54e: the direct path wrote to standard output)."""
    if value != "-":
        return config_path(value)
    return Path(value) if _typer_takes(value) else None


def _typer_takes(value: str) -> bool:
    """Whether typer's check of a FILE option (dir_okay False, readable) passes `value`:
    no such file, or a file this process may read; not a directory."""
    try:
        found = os.stat(value)
    except OSError:
        return True
    return not stat.S_ISDIR(found.st_mode) and os.access(value, os.R_OK)


def run_direct(call: Callable[[], int]) -> int:
    """call()'s exit code, under the error policy cli.app applies to what typer's
    command.main (standalone_mode False) lets through of a command's exceptions: a
    FlowcheckError its line and code; Ctrl-C or SIGTERM "interrupted" and 130; end of
    input an empty line, then the same; standard output's reader gone (EPIPE) exit 1 as
    typer's SystemExit; anything else an internal error (4)."""
    try:
        with term_as_interrupt():
            return int(call())
    except FlowcheckError as exc:
        report_error(str(exc))
        return int(exc.exit_status)
    except (KeyboardInterrupt, EOFError) as exc:
        if isinstance(exc, EOFError) or not _own_click():
            print(file=sys.stderr)  # typer before its own click: click's empty line
        report_error("interrupted")
        return int(ExitStatus.INTERRUPTED)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            return _internal_error(exc)
        try:
            from typer._click.utils import PacifyFlushWrapper
        except ImportError:  # pragma: no cover - depends on the installed typer
            from click.utils import PacifyFlushWrapper
        sys.stdout = PacifyFlushWrapper(sys.stdout)  # type: ignore[assignment]
        sys.stderr = PacifyFlushWrapper(sys.stderr)  # type: ignore[assignment]
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no tracebacks
        return _internal_error(exc)


def _internal_error(exc: Exception) -> int:
    if debug_wanted():
        raise exc
    report_error(internal_error_line(exc))
    return int(ExitStatus.INTERNAL)


def internal_error_line(exc: Exception) -> str:
    """The one line an internal error (a bug, exit 4) leaves without --debug."""
    return (f"internal error: {type(exc).__name__}: {exc} (a bug in flowcheck: --debug "
            "shows its traceback; please report it with that)")


def _own_click() -> bool:
    """Whether the installed typer carries its own copy of click (typer >= 0.2x: it turns
    Ctrl-C into exit code 130; before, click printed an empty line first)."""
    spec = find_spec("typer")
    places = (spec.submodule_search_locations or []) if spec else []
    return any((Path(place) / "_click").is_dir() for place in places)


@contextlib.contextmanager
def term_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, as SIGINT does, while a command runs: the
    documented interrupted exit (one line, 130) instead of the signal's silent 143. A CI
    job's timeout (GitLab, GitHub Actions, `timeout`), `kill` and `systemctl stop` send
    SIGTERM; `regress` still writes the JUnit and JSON of the cases judged, `live` sets
    its own handler while it captures (it stops and reports, cli/live_run.py). A SIGTERM
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


def report_error(message: str) -> None:
    """A failure's one line on standard error: `flowcheck: error: ` and the message's
    first line, its whitespace runs made single spaces."""
    first_line = " ".join(str(message).split("\n")[0].split())
    print(f"flowcheck: error: {first_line}", file=sys.stderr)
