"""The configuration flags (cli.options.CONFIG_PARAMETERS, added to every traffic command
by with_config) as the command line's own parsing reads them without typer
(flowcheck.cli.direct, cli.direct_live): `--name VALUE`, a single-value flag once, a
repeatable one as often as given, each value text that does not read as an option (typer
passes text unchanged; flowcheck.config reads it, as the same key in a file). Anything
else is typer's to answer.

Light, as cli.direct: the standard library only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# Spelling -> (the configuration key it sets, whether it repeats), in CONFIG_PARAMETERS'
# order: with_config hands the flags to build_config in that order, so of two wrong
# values the same one is reported first.
CONFIG = {"--ndmp-port": ("ndmp_port", False), "--media-range": ("media_range", True),
          "--agent-range": ("agent_range", True),
          "--media-server": ("media_servers", True),
          "--remote-agent": ("remote_agents", True),
          "--backup-network": ("backup_network", True),
          "--port-hold": ("port_hold_seconds", False), "--resources": ("resources", False),
          "--profile": ("profile", False),
          "--retransmission-timeout": ("retransmission_timeout", False),
          "--vxlan-port": ("vxlan_ports", True), "--geneve-port": ("geneve_ports", True)}


def take_flag(flags: dict[str, object], word: str, value: str | None) -> bool:
    """Add the configuration flag `word` given `value` to `flags` (key -> text, or list
    of texts for a repeatable one); False, leaving the command line to typer, when
    `word` is no configuration flag, `value` is missing or reads as an option, or a
    single-value flag is given again (cli.repeats refuses that)."""
    if word not in CONFIG or value is None or value.startswith("-"):
        return False
    key, repeatable = CONFIG[word]
    if repeatable:
        flags.setdefault(key, []).append(value)  # type: ignore[union-attr]
        return True
    if key in flags:
        return False
    flags[key] = value
    return True


def ordered(flags: dict[str, object]) -> dict[str, object]:
    """`flags` in CONFIG's order (with_config's), for resolve_config."""
    return {key: flags[key] for key, _ in CONFIG.values() if key in flags}


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
