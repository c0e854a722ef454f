"""The command line: the typer app and its error policy, kept apart from the commands
(httpie's raw_main/program).

Every failure leaves as one line on standard error and an exit code from ExitStatus;
a traceback is shown only with --debug (or FLOWCHECK_DEBUG=1). The process's entry point, which
loads this module, is flowcheck.cli.main (interruptions while this loads).
"""

from __future__ import annotations

import gc
import sys
from typing import Annotated

import typer

try:  # typer >= 0.2x carries its own copy of click; older releases use click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_errors

from flowcheck.cli.direct import (
    debug_wanted,
    direct_call,
    internal_error_line,
    report_error,
    run_direct,
    take_debug,
    term_as_interrupt,
)
from flowcheck.cli.helptext import APP_EPILOG
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
        help="Print flowcheck's version and exit.")] = False,
        debug: Annotated[bool, typer.Option(
            "--debug", help="Show the traceback of an internal error (exit code 4: a bug "
                            "in flowcheck); also after the command, or FLOWCHECK_DEBUG=1."
        )] = False) -> None:
    # --debug is taken out of the command line before parsing (cli.direct.take_debug),
    # so that it goes anywhere; declared here for --help.
    # No docstring: the app's help stays the one given to typer.Typer above.
    pass


def _register_commands() -> None:
    # Once per process: run() is called many times by tests and scripts, and each
    # registration adds the commands again (typer keeps a list), so every later run
    # built all the earlier copies too (a test file of 200 runs took 2 minutes).
    if app.registered_commands:
        return
    from flowcheck.cli import docs, live, regress, setup, traffic

    traffic.register(app)
    live.register(app)
    regress.register(app)
    setup.register(app)
    docs.register(app)


_command: list[typer.core.TyperGroup] = []  # the app's click command, once built


def click_command() -> typer.core.TyperGroup:
    """The app's click command (every command registered), built once a process: run()
    is called many times by tests and scripts, and typer builds each parameter's
    validator anew on every build (6 ms of an in-process run of 18, `firewall`, session
    54). click parses each command line in a context of its own: nothing of one run is
    kept in the command for the next."""
    if not _command:
        _register_commands()
        _command.append(typer.main.get_command(app))  # type: ignore[arg-type]
    return _command[0]


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
    argv = take_debug(sys.argv[1:] if argv is None else argv)
    call = direct_call(argv)
    if call is not None:  # the common command lines: no typer parsing (cli.direct)
        return run_direct(call)
    command = click_command()
    # A reader that leaves standard output early is handled by the writers
    # (cli/output.py): a report keeps its exit code, live's stream stops.
    try:
        if not _help_asked(argv):
            from flowcheck.cli.repeats import refuse_repeats

            refuse_repeats(command, argv)  # `--filter A --filter B`: not the last alone
        with term_as_interrupt():
            # complete_var "": no shell completion (add_completion False above): typer
            # answered any command line, with _FLOWCHECK_COMPLETE set, "Shell complete
            # not supported." and exit 1, where cli.direct ran it (review54e).
            result = command.main(args=argv, prog_name="flowcheck", complete_var="",
                                  standalone_mode=False)
    except FlowcheckError as exc:
        report_error(str(exc))
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
        message = exc.format_message().replace('Value error, ', '')
        if _html_asked(exc, argv):
            message = f"{message.rstrip('.')}; for an HTML report use --html FILE"
        message = _range_meant(exc) or _live_meant(exc) or message
        report_error(f"{message}{hint}")
        return int(ExitStatus.USAGE)
    except click_errors.ClickException as exc:
        report_error(exc.format_message())
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        report_error("interrupted")
        return int(ExitStatus.INTERRUPTED)
    except SystemExit as exc:
        # typer's answer to EPIPE (its only exit when not standalone): help written to a
        # reader that left (`flowcheck --help | head`) was shown as far as it was read,
        # as a report keeps its verdict's code (cli/output.py). Anything else keeps 1.
        if exc.code == 1 and _help_asked(argv):
            return int(ExitStatus.OK)
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no tracebacks
        if debug_wanted():
            raise
        report_error(internal_error_line(exc))
        return int(INTERNAL_ERROR)
    if result == ExitStatus.INTERRUPTED:
        # typer >= 0.2x returns Ctrl-C (and SIGTERM: term_as_interrupt) as a silent 130;
        # no command returns it otherwise: the documented line, as for Abort above.
        report_error("interrupted")
    return result if isinstance(result, int) else 0


def _range_meant(exc: click_errors.UsageError) -> str | None:
    """"No such option: --data-ports; did you mean --agent-range LO-HI or --media-range
    LO-HI (...)?" when an unknown option's words name the port ranges
    (flowcheck.setting_words) and the command has those options; None otherwise. Click's
    own possibilities go by spelling alone (`--data-ports`: "--ndmp-port, --vxlan-port")."""
    if not isinstance(exc, click_errors.NoSuchOption) or exc.ctx is None:
        return None
    from flowcheck.setting_words import range_settings, range_words

    options = {opt for param in exc.ctx.command.params for opt in getattr(param, "opts", ())}
    ranges = tuple(s for s in range_settings(exc.option_name)
                   if f"--{s.replace('_', '-')}" in options)
    if not ranges:
        return None
    return f"No such option: {exc.option_name}; did you mean {range_words(ranges, flags=True)}?"


def _live_meant(exc: click_errors.UsageError) -> str | None:
    """"No such option: -i; that is flowcheck live's (it captures from an interface:
    flowcheck live -i IFACE); analyze reads capture files" when an unknown option of
    another command is one of `live`'s (newuser66: `flowcheck analyze -i m0` said "No
    such option: -i" and no more); None otherwise."""
    if not isinstance(exc, click_errors.NoSuchOption) or exc.ctx is None \
            or exc.ctx.parent is None or exc.ctx.command.name == "live":
        return None
    live = getattr(exc.ctx.parent.command, "commands", {}).get("live")
    if live is None or not any(exc.option_name in getattr(param, "opts", ())
                               for param in live.params):
        return None
    name = exc.option_name
    usage = ("flowcheck live -i IFACE" if name in ("-i", "--interface")
             else f"flowcheck live -i IFACE {name} ...")
    return (f"No such option: {name}; that is flowcheck live's (it captures from an "
            f"interface: {usage}); {exc.ctx.command.name} reads capture files")


def _html_asked(exc: click_errors.UsageError, argv: list[str]) -> bool:
    """Was `exc` the refusal of `--format html` (any case, `--format=html` too) by a
    command that writes the HTML report with its own option, `--html FILE` (analyze,
    live)? Then its line says so: "'html' is not one of 'table', 'json'" alone left a
    user who wanted that report no way to it (docs/cli.md)."""
    param = getattr(exc, "param", None)
    if param is None or "--format" not in param.opts or exc.ctx is None:
        return False
    if not any("--html" in getattr(other, "opts", ()) for other in exc.ctx.command.params):
        return False
    values = [value for word, value in zip(argv, [*argv[1:], ""], strict=True)
              if word == "--format"]
    values += [word.removeprefix("--format=") for word in argv
               if word.startswith("--format=")]
    return any(value.lower() == "html" for value in values)


def _help_asked(argv: list[str]) -> bool:
    """Whether argv asks for help (-h or --help before any `--`)."""
    before = argv[:argv.index("--")] if "--" in argv else argv
    return "-h" in before or "--help" in before
