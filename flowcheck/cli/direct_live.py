"""`flowcheck live`'s command lines, run without typer when typer would refuse nothing in
them (flowcheck.cli.direct): every option given once, as `--name VALUE` (two words), each
value one typer takes as it is (the configuration flags: cli.direct_flags). Anything
else (help, `--name=VALUE`, `-iIFACE`, an unknown option or word, a value typer would
convert or refuse, an option repeated) is left to typer, whose words, exit codes and
help stay the only ones (tests/test_cli_direct_live.py runs both on the same command
lines).

typer building live's 21 parameters' validators (pydantic) took 0.12 CPU-s of each
start, as much as the rest of the command line's parsing and imports (session 54,
`/usr/bin/time`: `live -i IFACE --duration x` through typer 0.19-0.21 CPU-s, the light
modules alone 0.07-0.08), and the tests start `flowcheck live` about a hundred times.

Light, as cli.direct: the standard library and flowcheck's light modules only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from flowcheck.cli.direct_flags import CONFIG, config_path, ordered, output_path, take_flag

# The values typer takes as they are and converts as Python does: decimal digits for
# --buffer (int), and a decimal number for --duration (float). Others ("1e3", "+5",
# "1_000", " 5", "nan") are typer's to read or refuse.
WHOLE = re.compile(r"(0|[1-9][0-9]{0,8})")
DECIMAL = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9})?")

# live's own options (cli.live): spelling -> the parameter of live_run.run_live.
OWN = {"--interface": "interface", "-i": "interface", "--format": "output",
       "--write": "write", "--duration": "duration", "--capture-filter": "capture_filter",
       "--buffer": "buffer", "--html": "html", "--sniffer": "sniffer"}
FORMATS = ("table", "json")
SNIFFERS = ("tcpdump", "dumpcap", "scapy")


def live_call(words: list[str]) -> Callable[[], int] | None:
    """`flowcheck live`'s body ready to run, on the Config its flags and --config give,
    when `words` (the command line after `live`) are only options typer takes as they
    are (the module's docstring); else None, for typer."""
    own: dict[str, object] = {}
    flags: dict[str, object] = {}
    config_file: Path | None = None
    given: set[str] = set()
    rest = iter(words)
    for word in rest:
        value = next(rest, None)
        if value is None:
            return None
        if word in OWN:
            name = OWN[word]
            if name in given:
                return None
            given.add(name)
            converted = _own_value(name, value)
            if converted is None:
                return None
            own[name] = converted
        elif word in CONFIG:
            if not take_flag(flags, word, value):
                return None
        elif word == "--config" and "config" not in given:
            given.add("config")
            config_file = config_path(value)
            if config_file is None:
                return None
        else:
            return None
    if "interface" not in own:
        return None
    return lambda: _run(own, ordered(flags), config_file)


def _run(own: dict[str, object], flags: dict[str, object], config_file: Path | None) -> int:
    """The body, called as typer calls it (cli.options.with_config, then cli.live)."""
    from flowcheck.cli import live_run
    from flowcheck.cli.settings import resolve_config

    config = resolve_config(config_file, flags)
    return live_run.run_live(config, **own)  # type: ignore[arg-type]


def _own_value(name: str, value: str) -> object | None:
    """live's own option `name` given `value`, as typer passes it to the command; None
    when typer would refuse it or read it otherwise."""
    from flowcheck.cli.live_run import Sniffer
    from flowcheck.cli.settings import OutputFormat

    if name == "output":
        return OutputFormat(value) if value in FORMATS else None
    if name == "sniffer":
        return Sniffer(value) if value in SNIFFERS else None
    if name == "duration":
        return float(value) if DECIMAL.fullmatch(value) else None
    if name == "buffer":
        return int(value) if WHOLE.fullmatch(value) else None
    if name in ("write", "html"):
        return output_path(value) if name == "write" else config_path(value)
    # interface, capture_filter: text, any but one that reads as an option ("" too: no
    # capture filter).
    return None if value.startswith("-") else value
