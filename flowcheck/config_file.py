"""The configuration file's side of the settings (flowcheck.config): reading the TOML,
and writing its values back in TOML's spelling in the errors that name them."""

from __future__ import annotations

import datetime
import difflib
import math
import tomllib
from collections.abc import Iterable
from pathlib import Path

from flowcheck.errors import UsageError
from flowcheck.setting_words import range_settings, range_words


def shown(value: object) -> str:
    """`value` as an error shows it: TOML's spelling for what TOML writes otherwise than
    Python (`true`, not `True`; `nan`, `inf`; `{a = 1}`; dates in RFC 3339), text and
    numbers as before (`'5001-'`, `5`). A flag's value is text, shown the same way."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(shown(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {shown(item)}" for key, item in value.items()) + "}"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return repr(value)


def unknown_key(raw_key: str, known: Iterable[str], where: str = "") -> UsageError:
    """The error for a key flowcheck does not know, with the settings a newcomer's words
    for the port ranges mean (`data_ports`, `dynamic_ports`: agent_range and media_range,
    flowcheck.setting_words), else the nearest known one when a typo is likely
    (`media_rnage`: did you mean media_range?). `where`: " in FILE"."""
    known = sorted(known)
    ranges = tuple(s for s in range_settings(raw_key) if s in known)
    if ranges:
        return UsageError(f"unknown configuration key {raw_key!r}{where}: did you mean "
                          f"{range_words(ranges, flags=False)}?")
    close = difflib.get_close_matches(raw_key.replace("-", "_"), known, n=1)
    hint = f": did you mean {close[0]}?" if close else ""
    return UsageError(f"unknown configuration key {raw_key!r}{where}{hint}")


def load_file(path: Path, label: str | None = None,
              data: bytes | None = None) -> dict[str, object]:
    """The settings in a TOML file, at its top level or under a [flowcheck] table.

    `label` names the file in errors (default `--config PATH`; `./flowcheck.toml` for the
    file read without --config). `data`: the file's bytes when already read (`--config -`,
    standard input; a relative profile path then lies beside `path`, "-": the working
    directory). Raises UsageError for an unreadable file, invalid TOML,
    keys both at the top level and under [flowcheck], or another table beside
    [flowcheck] (`[other]` is not a flowcheck setting)."""
    label = label or f"--config {path}"
    try:
        text = (path.read_bytes() if data is None else data).decode("utf-8")
    except OSError as exc:
        raise UsageError(f"{label}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{label}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{label}: not valid TOML ({exc})") from None
    if isinstance(data.get("flowcheck"), dict):
        # One place or the other: merged, a key in both would silently lose one value.
        tables = [key for key, value in data.items()
                  if key != "flowcheck" and isinstance(value, dict)]
        if tables:
            raise UsageError(f"{label}: a table [{tables[0]}] is not a flowcheck setting: "
                             "flowcheck reads its settings under [flowcheck] (or all at "
                             "the top level)")
        others = [key for key in data if key != "flowcheck"]
        if others:
            raise UsageError(f"{label}: settings both at the top level ({', '.join(others)}) "
                             "and under [flowcheck]: put them all in one place")
        data = data["flowcheck"]
    # A profile file named relative to this file lies beside it, wherever flowcheck runs
    # (a capture folder's flowcheck.toml in CI): a built-in name has no suffix.
    profile = data.get("profile")
    if isinstance(profile, str) and Path(profile).suffix and not Path(profile).is_absolute():
        data["profile"] = str(path.parent / profile)
    return data
