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


def resolve_config(config_file: Path | None, flags: dict[str, object]) -> Config:
    """The Config from --config (or ./flowcheck.toml) overlaid by the flags given.

    Raises UsageError naming the flag, or the key and the file (the implicit one as
    `./flowcheck.toml`: a user who gave no --config must learn which file is read)."""
    from flowcheck.config import build_config, load_file

    file_values: dict[str, object] = {}
    file_name: str | None = None
    if config_file is None and Path("flowcheck.toml").is_file():
        config_file, file_name = Path("flowcheck.toml"), "./flowcheck.toml"  # documented
        file_values = load_file(config_file, file_name)
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


def check_captures(captures: list[str]) -> list[str]:
    if not captures:
        raise UsageError("give at least one capture file, directory or - (standard input)")
    if captures.count("-") > 1:
        raise UsageError("standard input (-) can be given only once")
    return captures


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
