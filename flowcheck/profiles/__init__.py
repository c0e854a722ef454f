"""Profiles: a product's documented connection sequence, as data (docs/profiles.md).

A profile is a TOML file: which steps a session goes through, in which order, whether
the agent calls the job engine back, and who opens the data connection. The built-in
profiles ship next to this module; a user's file is loaded by path.
"""

from __future__ import annotations

import difflib
import functools
import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal, cast, get_args

from flowcheck.errors import UsageError
from flowcheck.fields_dataclass import fields_dataclass

StepKind = Literal["control", "callback", "announcement", "data_connection", "data_flow"]
CallbackMode = Literal["none", "connection", "control"]
Connector = Literal["media_server", "remote_agent", "listener"]

BUILTIN = ("backup-exec-9", "ndmp")
# What each built-in profile is for, one line each, for the unknown-name error (newuser68
# item 7: `--profile backup-exec-22` listed the names alone; docs/profiles.md, "Which
# profile fits").
BUILTIN_USES = {
    "backup-exec-9": "Backup Exec's remote agent sequence of Veritas TechNote 255831, "
                     "written for 9.x; whether later versions (10d to 22, 2010-2014 "
                     "among them) follow it is unknown: docs/profiles.md",
    "ndmp": "plain NDMP with no callback: ndmjob, a filer's NDMP server",
}
_TOP_KEYS = {"name", "description", "callback", "data", "steps"}
_STEP_KEYS = {"kind", "name", "description"}


@fields_dataclass(frozen=True, slots=True)
class StepSpec:
    """One step of a profile's job sequence ([[steps]]): its number, kind and name."""

    number: int  # 1-based, the order of the [[steps]] tables
    kind: StepKind
    name: str
    description: str = ""


@fields_dataclass(frozen=True, slots=True)
class Profile:
    """A backup product's NDMP job sequence: its steps, how the callback comes and who
    opens a data connection (a builtin profile or a TOML file)."""

    name: str
    description: str
    steps: tuple[StepSpec, ...]
    # "connection": a separate agent -> media server connection into the media range;
    # "control": the agent's reply on the control connection is the callback (the other
    # reading of the TechNote); "none": no callback (plain NDMP).
    callback: CallbackMode
    # Who opens a data connection: the media server, the agent, or whoever did not
    # listen (the announcement's listener decides).
    connector: Connector
    source: str = "builtin"

    @property
    def backup_exec(self) -> bool:
        """Is this Backup Exec's sequence (Veritas TechNote 255831): the built-in
        backup-exec-9, or any profile with a callback (either reading of the TechNote's
        step 2)? Findings say Backup Exec's own words (its job log's "Communication
        Failure ...", a skipped resource) only then (docs/profiles.md)."""
        return self.callback != "none" or self.name.startswith("backup-exec")

    def step(self, kind: StepKind) -> StepSpec | None:
        return next((s for s in self.steps if s.kind == kind), None)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "callback": self.callback,
            "connector": self.connector,
            "steps": [{"step": s.number, "kind": s.kind, "name": s.name} for s in self.steps],
            "source": self.source,
        }


def load_profile(name_or_path: str, setting: str = "profile") -> Profile:
    """A built-in profile by name, or a user's TOML file by path.

    Raises UsageError, one line beginning with `setting` (how the user chose the profile:
    `--profile`, or the key `profile`), for an unknown name or an unreadable or bad file."""
    if name_or_path in BUILTIN:
        return _builtin(name_or_path)
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        raise UsageError(f"{setting}: unknown profile {name_or_path!r}: "
                         f"{unknown_words(name_or_path)}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"{setting} {name_or_path}: cannot read: {reason}") from None
    return parse_profile(text, origin=f"{setting} {name_or_path}", source=str(path))


def unknown_words(name: str) -> str:
    """The rest of the one-line error for an unknown profile name: the closest built-in
    one when the name resembles one ("backup-exec", "backup-exec-22" -> backup-exec-9:
    the longest shared start, else difflib's nearest at ratio 0.6), then every built-in
    name with what it is for (BUILTIN_USES), then the file alternative."""
    closest = _closest(name)
    lead = f"the closest is {closest}; " if closest else ""
    uses = "; ".join(f"{n} ({BUILTIN_USES[n]})" for n in BUILTIN)
    return f"{lead}built-in {uses}; or give a .toml file"


def _closest(name: str) -> str | None:
    """The built-in profile name `name` most resembles, or None: the one sharing the
    longest start with it, of at least 4 characters ("backup" of "backup-exec-22"), else
    difflib.get_close_matches' first (case folded)."""
    folded = name.casefold()
    shared = {n: len(os.path.commonprefix([folded, n])) for n in BUILTIN}
    best = max(BUILTIN, key=lambda n: shared[n])
    if shared[best] >= 4:
        return best
    near = difflib.get_close_matches(folded, BUILTIN, n=1)
    return near[0] if near else None


@functools.cache
def _builtin(name: str) -> Profile:
    """The built-in profile `name`, read and parsed once a process (every analysis, and
    `plan`, `rules` and the late-start words, asked for it again: about 0.4 ms of a small
    capture's 11 ms analysis). Shared safely: a Profile is frozen, its steps a tuple of
    frozen StepSpecs."""
    text = resources.files(__name__).joinpath(f"{name}.toml").read_text("utf-8")
    return parse_profile(text, origin=f"profile {name}", source="builtin")


def parse_profile(text: str, *, origin: str = "profile", source: str = "builtin") -> Profile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{origin}: not valid TOML ({exc})") from None
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise UsageError(f"{origin}: unknown key {sorted(unknown)[0]!r}")
    name = _text(data, "name", origin, required=True)
    description = _text(data, "description", origin)
    callback = cast(CallbackMode, _choice(_table(data, "callback", origin), "mode",
                                          get_args(CallbackMode), "none", f"{origin} [callback]"))
    connector = cast(Connector, _choice(_table(data, "data", origin), "connector",
                                        get_args(Connector), "listener", f"{origin} [data]"))
    steps = _steps(data.get("steps"), origin)
    kinds = [s.kind for s in steps]
    if kinds[0] != "control":
        raise UsageError(f"{origin}: the first step must be kind \"control\"")
    if len(set(kinds)) != len(kinds):
        raise UsageError(f"{origin}: each step kind may appear once")
    if ("callback" in kinds) != (callback != "none"):
        raise UsageError(f"{origin}: a \"callback\" step needs [callback] mode other than "
                         "\"none\", and that mode needs a \"callback\" step")
    order = [k for k in get_args(StepKind) if k in kinds]
    if kinds != order:
        raise UsageError(f"{origin}: steps must keep the order {', '.join(order)}")
    if "data_connection" in kinds and "announcement" not in kinds:
        raise UsageError(f"{origin}: a \"data_connection\" step needs an \"announcement\" step")
    return Profile(name=name, description=description, steps=tuple(steps), callback=callback,
                   connector=connector, source=source)


def _text(data: dict, key: str, origin: str, *, required: bool = False) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise UsageError(f"{origin}: {key!r} must be a non-empty string")
    return value


def _table(data: dict, key: str, origin: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise UsageError(f"{origin}: [{key}] must be a table")
    return value


def _choice(table: dict, key: str, allowed: tuple[str, ...], default: str, where: str) -> str:
    extra = set(table) - {key}
    if extra:
        raise UsageError(f"{where}: unknown key {sorted(extra)[0]!r}")
    value = table.get(key, default)
    if value not in allowed:
        raise UsageError(f"{where}: {key} = {value!r}, expected one of {', '.join(allowed)}")
    return value


def _steps(raw: object, origin: str) -> list[StepSpec]:
    if not isinstance(raw, list) or not raw:
        raise UsageError(f"{origin}: needs at least one [[steps]] table")
    steps: list[StepSpec] = []
    for number, item in enumerate(raw, start=1):
        where = f"{origin} step {number}"
        if not isinstance(item, dict):
            raise UsageError(f"{where}: must be a table")
        extra = set(item) - _STEP_KEYS
        if extra:
            raise UsageError(f"{where}: unknown key {sorted(extra)[0]!r}")
        kind = item.get("kind")
        if kind not in get_args(StepKind):
            raise UsageError(f"{where}: kind = {kind!r}, expected one of "
                             f"{', '.join(get_args(StepKind))}")
        name = item.get("name", str(kind).replace("_", " "))
        if not isinstance(name, str):
            raise UsageError(f"{where}: name must be a string")
        steps.append(StepSpec(number, cast(StepKind, kind), name,
                              str(item.get("description", ""))))
    return steps
