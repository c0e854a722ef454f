"""The pytest plugin's cases, as `flowcheck regress` finds them (flowcheck/regress_cases.py):
which `NAME.expected.json` is flowcheck's, the cases each collects, the ring folders and
dangling links of a folder, and a path given on the command line as the file its case is
collected from. Paths only: the nodes are flowcheck/pytest_plugin.py's."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

from flowcheck.printable import printable_name
from flowcheck.regress_cases import (
    Case,
    _has_capture_magic,  # a ring's parts, as regress finds them
    capture_stem,
    capture_suffix,
    case_for_expected,
    holds_one_ring,
    is_orphaned_config,
    is_ring,
)

EXPECTED = ".expected.json"
_SUMMARY_KEYS = {"findings", "sessions", "connections", "ndmp_messages"}  # regress.summarize


def as_collected(arg: str, here: Path) -> str:
    """`arg` naming a case by its capture or id, as its expected result; else `arg`."""
    text, _, rest = arg.partition("::")
    given = Path(text)
    path = here / given
    if not given.name or path.name.endswith(EXPECTED):
        return arg
    expected = path.with_name(capture_stem(path) + EXPECTED)
    try:
        if not is_ours(expected):
            return _collected_alone(given, path, rest) or arg
        if path.is_dir() and not in_ring(path):
            return arg
        if not rest and path.is_file():
            rest = printable_name(path.name)  # only this capture (x.pcap, not x.pcap.gz)
    except OSError:
        return arg  # pytest reports a path it cannot read
    named = str(given.with_name(expected.name))
    return f"{named}::{rest}" if rest else named


def _collected_alone(given: Path, path: Path, rest: str) -> str | None:
    """The id printed for a case without an expected result, as the file it is collected
    from: `lib/gone::gone` (an orphaned `gone.toml`) as `lib/gone.toml::gone`,
    `lib/new::new.pcap` (a capture given alone) as `lib/new.pcap`, `lib/ring::ring` as
    `lib/ring`; None for another."""
    if not rest or "/" in rest or "::" in rest:
        return None
    config = path.with_name(path.name + ".toml")
    if not os.path.lexists(path) and is_orphaned_config(config):
        return f"{given.with_name(config.name)}::{rest}"
    capture = path.with_name(rest)
    if capture.is_file() and capture_stem(capture) == path.name:
        return str(given.with_name(rest))
    if rest == path.name and path.is_dir():
        return str(given)  # a ring's folder (pytest_plugin's _new_ring)
    return None


def is_ours(expected: Path) -> bool:
    """Whether `expected` is flowcheck's expected result: a JSON object with `verdict` or
    `flowcheck_version`, or two of its other keys (a hand edit misspelled `verdict`: its
    item fails as regress reports it); one that is not a JSON object is ours only beside
    a capture (a merge conflict in it fails its item); another tool's `{"rows": 3}` never."""
    if not expected.is_file():
        return False
    try:
        document = json.loads(expected.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        document = None
    if isinstance(document, dict):
        return bool({"verdict", "flowcheck_version"} & set(document)) or \
            len(_SUMMARY_KEYS & set(document)) >= 2
    return case_for_expected(expected) is not None


def cases_of(expected: Path) -> list[Case]:
    """The cases of an expected result: its capture, then any other capture of its name
    (`x.pcap.gz` beside `x.pcap`); when none is there, the capture it misses (a dangling
    link of its name, else the bare name), which fails as regress reports it."""
    case = case_for_expected(expected)
    stem = expected.name.removesuffix(EXPECTED)
    named = sorted(p for p in expected.parent.glob(glob.escape(stem) + "*")
                   if capture_suffix(p.name) == p.name[len(stem):])
    if case is None:
        links = [p for p in named if p.is_symlink() and not p.exists()]
        return [Case(links[0] if links else expected.with_name(stem), None)]
    return [case] + [Case(p, case.config_path) for p in named
                     if p.is_file() and p != case.capture]


def in_ring(folder: Path) -> bool:
    """Whether `folder` is itself a ring case: its expected result beside it, or one
    ring's parts alone in it (an expectation of one part, left by an older
    `regress --update`, is not a case). A folder left holding no capture is none: its
    expected results are orphans, which fail (trial 21 D3)."""
    try:
        return is_ring(folder) or holds_one_ring(folder) and any(
            p.is_file() and _has_capture_magic(p) for p in folder.iterdir())
    except OSError:
        return False  # pytest reports a folder it cannot list


def dangling_links(folder: Path) -> list[Path]:
    """The dangling links of a capture's name in `folder` (pytest lists no link whose
    target is not there) whose expected result is not flowcheck's (with one, its
    expected result collects the case); none in a ring's folder."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []  # pytest reports a folder it cannot list
    links = [folder / name for name in names if capture_suffix(name) is not None]
    dangling = [link for link in links if link.is_symlink() and not link.exists()
                and not is_ours(Case(link, None).expected_path)]
    return dangling if dangling and not in_ring(folder) else []
