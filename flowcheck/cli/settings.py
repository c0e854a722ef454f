"""What every traffic command does with its shared options, without typer (the
command line's own parsing, flowcheck.cli.direct, runs these too): the output format,
the Config from --config and the flags, the captures' check.

flowcheck.cli.options declares the options for typer and re-exports these.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from flowcheck.errors import UsageError

if TYPE_CHECKING:
    from flowcheck.config import Config


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def capture_set_config(captures: list[str] | None) -> Path | None:
    """The configuration a capture set carries itself: the `flowcheck.toml` inside a ring
    directory given alone as the CAPTURE (`analyze captures/lab-ring/`), as `regress` and
    the pytest plugin take it (flowcheck.regress_cases._config_for); None otherwise
    (several captures, a file, standard input)."""
    if not captures or len(captures) != 1 or captures[0] == "-":
        return None
    own = Path(captures[0]) / "flowcheck.toml"
    return own if Path(captures[0]).is_dir() and own.is_file() else None


def resolve_config(config_file: Path | None, flags: dict[str, object],
                   captures: list[str] | None = None, *,
                   stdin_capture: bool = False) -> Config:
    """The Config from --config (`-`: standard input, unless `stdin_capture`, a CAPTURE
    `-`, needs it; else a ring directory's own flowcheck.toml, capture_set_config, else
    ./flowcheck.toml) overlaid by the flags given.

    Raises UsageError naming the flag, or the key and the file (the implicit one as
    `./flowcheck.toml` or `DIR/flowcheck.toml`: a user who gave no --config must learn
    which file is read)."""
    from flowcheck.config import build_config, load_file

    file_values: dict[str, object] = {}
    file_name: str | None = None
    own = capture_set_config(captures) if config_file is None else None
    if own is not None:
        config_file, file_name = own, str(own)
        file_values = load_file(config_file, file_name)
    elif config_file is None and Path("flowcheck.toml").is_file():
        config_file, file_name = Path("flowcheck.toml"), "./flowcheck.toml"  # documented
        file_values = load_file(config_file, file_name)
    elif config_file is not None and str(config_file) == "-":
        file_name = STDIN_CONFIG
        file_values = load_file(config_file, "--config -", _stdin_config(stdin_capture))
    elif config_file is not None:
        file_name = str(config_file)
        file_values = load_file(config_file)
    config = build_config(file_values, flags, file_name)
    # Fail early, as a usage error, on an unknown profile name or a bad profile file,
    # named as the user set it: the flag, or the key in the file.
    from flowcheck.profiles import load_profile

    if flags.get("profile") is not None:
        load_profile(config.profile, setting="--profile")
    else:
        try:
            load_profile(config.profile)
        except UsageError as exc:
            raise UsageError(f"{exc} (in {file_name})" if "profile" in file_values
                             else str(exc)) from None
    return config


STDIN_CONFIG = "standard input"  # the configuration's name given as `--config -`


def _stdin_config(stdin_capture: bool) -> bytes:
    """The bytes of `--config -`, read from standard input, which a CAPTURE `-` would
    need too (`stdin_capture`): then a UsageError naming the clash (one stream cannot
    carry both)."""
    if stdin_capture:
        raise UsageError("--config - and the CAPTURE - both name standard input, which "
                         "can carry only one of them: save the configuration or the "
                         "capture to a file")
    try:
        return sys.stdin.buffer.read()
    except OSError as exc:
        raise UsageError(f"--config -: {exc.strerror or exc}") from None


def check_captures(captures: list[str]) -> list[str]:
    if not captures:
        raise UsageError("give at least one capture file, directory or - (standard input)")
    if captures.count("-") > 1:
        raise UsageError("standard input (-) can be given only once")
    return captures


def refuse_stdout(path: Path | str | None, option: str, hint: str) -> None:
    """UsageError when an output file option names `-`: standard output carries the
    command's report, so `-` would mix two documents (and was a file named `-`).
    `hint`: what to give instead, ending the one line."""
    if path is not None and str(path) == "-":
        raise UsageError(f"{option} -: standard output carries the report, so this "
                         f"output cannot go there too: {hint}")


def check_write_file(path: Path) -> None:
    """UsageError (exit 2) unless `live --write` can write `path`: a missing folder, no
    permission. An existing file that is not a regular one (a FIFO a reader waits on,
    /dev/full) is only checked for permission: opening a FIFO would wait for its reader."""
    import os

    if path.exists() and not path.is_file():
        if not os.access(path, os.W_OK):
            raise UsageError(f"--write {path}: cannot write (Permission denied)")
        return
    from flowcheck.report.files import check_report_file

    check_report_file(path, "--write")


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
