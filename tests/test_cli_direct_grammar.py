"""The options each typer-free start path reads (flowcheck.cli.direct, direct_live,
direct_regress) against the options typer declares for the same command: they are
declared twice, so a change on one side alone must fail here.

Every option typer declares for `analyze`, `connections`, `live` and `regress` is listed
below as read by the direct path (with what its conversion assumes of typer's
declaration: its type, a Path's checks, a number without range, the choices) or as left
to typer, and direct_call behaves so: a command line with a read option is taken, one
with a left option is not. The defaults typer passes equal the defaults of the body the
direct path calls with the option left out (commands.analyze, live_run.run_live, ...).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import pytest

from flowcheck.cli import app, commands, live_run, regress_run
from flowcheck.cli.direct import DIRECT_FORMATS, direct_call
from flowcheck.cli.direct_flags import CONFIG
from flowcheck.cli.live_run import Sniffer
from flowcheck.cli.settings import OutputFormat

ROOT = Path(__file__).resolve().parent.parent
CAPTURE = str(ROOT / "captures" / "ndmjob" / "v4-swap-refused.pcap")
A_FILE = CAPTURE  # an existing, readable file: what a FILE option takes as it is

# What the direct path assumes of typer's declaration, by kind: the Python type typer
# converts to, and the typer.Option settings the direct conversion copies
# (cli.direct.config_path and output_path: a Path neither checked for existence nor
# resolved, refused when a directory or unreadable, `-` checked so too).
FILE = {"type": Path, "exists": False, "dir_okay": False, "file_okay": True,
        "readable": True, "writable": False, "resolve_path": False, "allow_dash": False}
KINDS: dict[str, dict[str, object]] = {
    "text": {"type": str},
    "format": {"type": OutputFormat},
    "sniffer": {"type": Sniffer, "case_sensitive": True},
    "float": {"type": float, "min": None, "max": None},
    "int": {"type": int, "min": None, "max": None},
    "flag": {"type": bool},
    "file": FILE,
}
CONFIG_KINDS = {spelling: "text" for spelling in CONFIG}

# command -> option read by the direct path -> (its kind, a value it takes as it is).
READ: dict[str, dict[str, tuple[str, str | None]]] = {
    "analyze": {"--format": ("format", "json"), "--config": ("file", A_FILE)},
    "connections": {"--format": ("format", "json"), "--config": ("file", A_FILE)},
    "live": {"--interface": ("text", "lo"), "--format": ("format", "json"),
             "--write": ("file", "-"), "--duration": ("float", "2.5"),
             "--capture-filter": ("text", "tcp"), "--buffer": ("int", "64"),
             "--html": ("file", "report.html"), "--sniffer": ("sniffer", "tcpdump"),
             "--config": ("file", A_FILE)},
    "regress": {"--update": ("flag", None), "--format": ("format", "json"),
                "--junit": ("file", "-")},
}
for _command in ("analyze", "connections", "live"):
    READ[_command].update({spelling: ("text", "5001-5100") for spelling in CONFIG})
# command -> options the direct path leaves to typer, with a value typer would take.
LEFT: dict[str, dict[str, str | None]] = {
    "analyze": {"--graph": "g.dot", "--html": "r.html", "--mermaid": "m.md",
                "--ladder": None, "--no-ladder": None, "--all-sessions": None},
    "connections": {"--filter": "tcp"},
    "live": {},
    "regress": {},
}
# The start of a command line the direct path takes, before the option probed.
BASE = {"analyze": ["analyze", CAPTURE], "connections": ["connections", CAPTURE],
        "live": ["live", "--interface", "lo"], "regress": ["regress", CAPTURE]}
# The body each direct path calls, its parameters left out at their defaults.
BODY = {"analyze": commands.analyze, "connections": commands.connections,
        "live": live_run.run_live, "regress": regress_run.run_regress}
COMMANDS = sorted(READ)


def _declared(command: str) -> dict[str, Any]:
    """Spelling -> click parameter, every option typer declares for `command`."""
    params = app.click_command().commands[command].params  # type: ignore[attr-defined]
    return {spelling: param for param in params if param.param_type_name == "option"
            for spelling in (*param.opts, *param.secondary_opts)}


def _typer_declaration(command: str, name: str) -> tuple[type, Any]:
    """The Python type and the typer.Option info of `command`'s parameter `name`, as
    its registered callback (with_config's signature for live and the traffic
    commands) declares them."""
    info = next(each for each in app.app.registered_commands if each.name == command)
    annotation = inspect.signature(info.callback).parameters[name].annotation
    assert get_origin(annotation) is Annotated, (command, name)
    base, option = get_args(annotation)[:2]
    bare = [arg for arg in get_args(base) if arg is not type(None)] or [base]
    if get_origin(bare[0]) is list:  # a repeatable option: list[str] | None
        bare = list(get_args(bare[0]))
    return bare[0], option


@pytest.mark.parametrize("command", COMMANDS)
def test_every_declared_option_is_read_or_left(command: str) -> None:
    """An option added to typer's declaration and not here (or to here and not to
    typer) fails: decide whether the direct path reads it."""
    declared = set(_declared(command)) - {"--help", "-h"}
    listed = set(READ[command]) | set(LEFT[command])
    if command == "live":
        listed.add("-i")
    assert declared == listed


@pytest.mark.parametrize("command", COMMANDS)
def test_read_options_are_declared_as_the_direct_path_converts_them(command: str) -> None:
    declared = _declared(command)
    for spelling, (kind, _) in READ[command].items():
        param = declared[spelling]
        assert param.multiple == CONFIG.get(spelling, ("", False))[1], spelling
        assert bool(getattr(param, "is_flag", False)) == (kind == "flag"), spelling
        assert not param.envvar, spelling  # typer would read the environment too
        python_type, option = _typer_declaration(command, param.name)
        expected = dict(KINDS[CONFIG_KINDS.get(spelling, kind)])
        assert python_type is expected.pop("type"), spelling
        assert {key: getattr(option, key) for key in expected} == expected, spelling
        if kind == "format":
            assert set(DIRECT_FORMATS) <= {each.value for each in OutputFormat}


@pytest.mark.parametrize("command", COMMANDS)
def test_typer_defaults_are_the_bodys(command: str) -> None:
    """The direct path calls the body without the options not given: typer's default
    for each must be the body's own."""
    body = inspect.signature(BODY[command]).parameters
    for param in app.click_command().commands[command].params:  # type: ignore[attr-defined]
        if param.name in body and body[param.name].default is not inspect.Parameter.empty:
            assert param.default == body[param.name].default, param.name


@pytest.mark.parametrize("command", COMMANDS)
def test_direct_call_takes_read_options_and_leaves_the_others(command: str) -> None:
    for spelling, (_, value) in READ[command].items():
        if spelling in ("--interface",):
            argv = ["live", spelling, "lo"]
        else:
            argv = [*BASE[command], spelling, *([] if value is None else [value])]
        assert direct_call(argv) is not None, argv
    for spelling, value in LEFT[command].items():
        argv = [*BASE[command], spelling, *([] if value is None else [value])]
        assert direct_call(argv) is None, argv


def test_config_flags_in_with_configs_order() -> None:
    """cli.direct_flags.ordered hands the flags to resolve_config in CONFIG's order,
    with_config in CONFIG_PARAMETERS': of two wrong values, the same one is reported
    first only while the two orders are one."""
    from flowcheck.cli.options import CONFIG_PARAMETERS

    assert [key for key, _ in CONFIG.values()] == [
        key for _, key in CONFIG_PARAMETERS.values()]
