"""Regression cases: which files and folders are cases, and the files beside them.

Layout (docs/cli.md, "regress"): beside `NAME.pcap` (or .pcapng, .gz; suffixes in any
case, `B.PCAP` from a Windows tool) lie `NAME.toml`, its configuration (else the
directory's `flowcheck.toml`, else the defaults), and `NAME.expected.json`, the reviewed
summary (flowcheck.regress). A file without a capture suffix is a case only when it is a
capture (pcap or pcapng magic, gzipped or not) with `NAME.expected.json` or `NAME.toml`
beside it, NAME its whole name: a folder's README or LICENSE stays out. A folder of one
ring's parts (tcpdump `ring.pcap0`, ...; dumpcap `ring_00001_YYYYMMDDhhmmss.pcap`, ...
alone in it) is one case, `NAME.expected.json` beside the folder.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import replace
from pathlib import Path

from flowcheck.config import Config, build_config, load_file
from flowcheck.errors import UsageError
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.folder_walk import FolderWalk
from flowcheck.sources.inputs import CAPTURE_SUFFIXES

_LONGEST_FIRST = sorted(CAPTURE_SUFFIXES, key=len, reverse=True)  # .pcap.gz before .gz


@fields_dataclass(slots=True)
class Case:
    """One case: its capture (a file, or a ring's folder) and its configuration file
    (None: the defaults); its expected result is `NAME.expected.json` beside it.
    `problem`: why a path given or found is a case that cannot be judged (a missing
    path, a folder without captures), said without its name; None for a capture."""

    capture: Path
    config_path: Path | None
    problem: str | None = None

    @property
    def expected_path(self) -> Path:
        return self.capture.with_name(capture_stem(self.capture) + ".expected.json")

    def config(self) -> Config:
        """The case's configuration; UsageError naming its file (a repository holds many)."""
        if self.config_path is None:
            return build_config({})
        try:
            return replace(build_config(load_file(self.config_path)),
                           source=str(self.config_path))
        except UsageError as exc:
            message = str(exc).removeprefix(f"--config {self.config_path}: ")
            raise UsageError(f"{self.config_path}: {message}") from None


def capture_suffix(name: str) -> str | None:
    """The capture suffix `name` ends with, in any case (`B.PCAP`, `x.Pcap.GZ` from
    Windows tools), as written in the name; None without one."""
    lowered = name.lower()
    for suffix in _LONGEST_FIRST:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            return name[-len(suffix):]
    return None


def capture_stem(capture: Path) -> str:
    """`v4.pcap.gz` -> `v4`, `B.PCAP` -> `B`: the name its sidecar files share; the whole
    name for a capture without a capture suffix (a ring directory, `noext`)."""
    suffix = capture_suffix(capture.name)
    return capture.name[: -len(suffix)] if suffix else capture.name


def is_capture_file(path: Path) -> bool:
    """A capture a folder's walk takes as a case: a file with a capture suffix, or one
    without that is a pcap or pcapng file (by its magic, gzipped or not) with its
    expected result or configuration beside it (`NAME.expected.json`, `NAME.toml`)."""
    if not path.is_file():
        return False
    if capture_suffix(path.name) is not None:
        return True
    sidecars = (path.with_name(path.name + ".expected.json"), path.with_name(path.name + ".toml"))
    return any(s.is_file() for s in sidecars) and _has_capture_magic(path)


def _has_capture_magic(path: Path) -> bool:
    """Whether the file starts as pcap or pcapng does, inside gzip when compressed."""
    from flowcheck.sources.inputs import GZIP_MAGIC, format_of

    try:
        with path.open("rb") as file:
            head = file.read(4)
            if head[:2] == GZIP_MAGIC:
                file.seek(0)
                with gzip.open(file) as inflated:
                    head = inflated.read(4)
    except (OSError, EOFError, zlib.error):
        return False  # unreadable or a broken gzip: not taken as a capture by content
    return format_of(head) is not None


def _siblings_named(directory: Path, stem: str) -> list[Path]:
    """The files and links in `directory` named `stem` + a capture suffix in any case."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [directory / name for name in names
            if name.startswith(stem) and capture_suffix(name) == name[len(stem):]]


def _config_for(capture: Path) -> Path | None:
    """A case's configuration file: `NAME.toml` beside it, else a ring directory's own
    `flowcheck.toml`, else `flowcheck.toml` in its folder, else None (the defaults).
    NAME.toml first for every case, a ring too (docs/pytest-plugin.md): the file that
    names the case is the most particular one."""
    own = capture.with_name(capture_stem(capture) + ".toml")
    if own.is_file():
        return own
    try:
        if capture.is_dir() and (capture / "flowcheck.toml").is_file():
            return capture / "flowcheck.toml"  # a ring directory's own configuration
    except OSError:
        return None  # a folder that cannot be read: reading it reports why
    shared = capture.parent / "flowcheck.toml"
    return shared if shared.is_file() else None


def is_ring(directory: Path) -> bool:
    """A directory that is one capture set (a ring buffer, tcpdump -C/-W): its expected
    result `DIR.expected.json` lies beside it, its configuration inside (flowcheck.toml).
    `directory` may be relative, `.` or `..` (it is resolved to find its name)."""
    if not directory.is_dir():
        return False
    named = _absolute(directory)
    return bool(named.name) and named.with_name(named.name + ".expected.json").is_file()


def _absolute(path: Path) -> Path:
    """`path` made absolute with `.` and `..` folded, symlinks kept: a ring directory's
    expected result lies beside the name it was given, not beside a link's target."""
    return Path(os.path.abspath(path))


def case_for_expected(expected: Path) -> Case | None:
    """The case an expected result belongs to: `NAME.expected.json` beside the capture
    `NAME.pcap` (or another capture suffix) or the ring directory `NAME/`; None if absent."""
    stem = expected.name.removesuffix(".expected.json")
    for capture in _siblings_named(expected.parent, stem):
        if capture.is_file():
            return Case(capture, _config_for(capture))
    bare = expected.with_name(stem)  # a ring directory, or a capture without a suffix
    if is_ring(bare) or bare.is_file() and _has_capture_magic(bare):
        return Case(bare, _config_for(bare))
    return None


def find_cases(paths: list[str]) -> list[Case]:
    """The cases under `paths` (captures, ring directories, directories of them), each
    path resolved so `.` and `..` have names, each once. An expected result under a
    directory with no capture beside it (a dangling link, a Git LFS or git-annex checkout
    without the content, a capture deleted) is a case too, and so is a dangling link of a
    capture's name, a path given that does not exist and a folder given that holds no
    capture (Case.problem): run_cases reports each, and judges the others."""
    captures: list[Path] = []
    problems: dict[Path, str] = {}  # a path given that holds no case: an error case
    walk = FolderWalk(Path(text) for text in paths)
    for text in paths:
        path = _absolute(Path(text))
        if path.is_dir() and not is_ring(path) and holds_one_ring(path):
            captures.append(path)  # named on its own, it is one capture set (a ring)
        elif path.is_dir() and not is_ring(path):
            entries, unreadable = _tree(path, walk)
            rings = [d for d in entries if is_ring(d) or _new_ring(d, path)]
            found = rings + [p for p in entries if (is_capture_file(p) or _dangling(p))
                             and not any(ring in p.parents for ring in rings)]
            captures.extend(found)
            # Only an expected result no case found claims is looked up (a folder listing
            # each): one per case made a folder of 400 cases take 0.4 s to list.
            claimed = {Case(c, None).expected_path for c in found}
            captures.extend(_missing_capture(p) for p in entries
                            if p.name.endswith(".expected.json") and p not in claimed
                            and case_for_expected(p) is None)
            captures.extend(unreadable)
            for orphan, config in _orphaned_configs(entries, found, path):
                captures.append(orphan)
                problems[orphan] = orphaned_config_problem(config)
            if not found and not unreadable and walk.enters(path) and not any(
                    p.name.endswith(".expected.json") for p in entries):
                captures.append(path)
                problems[path] = "no capture files in this folder or under it"
        elif path.is_file() or is_ring(path) or _dangling(path):
            captures.append(path)
        else:
            captures.append(path)  # judged as an error case: the others are still judged
            problems[path] = "no such file or directory"
    unique = list(dict.fromkeys(captures))  # a directory named twice, or inside another
    return [Case(capture, _config_for(capture), problems.get(capture))
            for capture in unique]


def _orphaned_configs(entries: list[Path], found: list[Path],
                      top: Path) -> list[tuple[Path, Path]]:
    """Each `NAME.toml` under `top` (not a hidden folder's) with no capture `NAME.*` or
    `NAME/` beside it and no `NAME.expected.json` (that one is reported), that reads as a
    flowcheck configuration (a pyproject.toml is not one): (the missing capture's bare
    path, the file). A capture renamed without its configuration is judged with the
    folder's (trial 21 D15)."""
    cases = {c.with_name(capture_stem(c)) for c in found}  # no folder listing per file
    orphans = []
    for path in entries:
        if (path.suffix != ".toml" or path.with_suffix("") in cases
                or any(part.startswith(".") for part in path.relative_to(top).parts)):
            continue
        if is_orphaned_config(path):
            orphans.append((path.with_suffix(""), path))
    return orphans


def is_orphaned_config(path: Path) -> bool:
    """Whether `path` is a `NAME.toml` (not `flowcheck.toml`) with no capture `NAME.*` or
    `NAME/` and no `NAME.expected.json` beside it, that reads as a flowcheck
    configuration: a case of its own, which fails (orphaned_config_problem), in regress
    and in the pytest plugin alike."""
    if path.suffix != ".toml" or path.name == "flowcheck.toml":
        return False
    bare = path.with_suffix("")
    if (os.path.lexists(bare) or _siblings_named(path.parent, bare.name)
            or os.path.lexists(bare.with_name(bare.name + ".expected.json"))):
        return False
    return _reads_as_configuration(path)


def orphaned_config_problem(config: Path) -> str:
    """Why the case of an orphaned `NAME.toml` (is_orphaned_config) cannot be judged."""
    return (f"{config}: a configuration with no capture beside it (deleted, or never "
            f"checked out{rename_hint(config.with_suffix(''))})")


def _reads_as_configuration(path: Path) -> bool:
    """Whether the TOML file holds flowcheck settings, and only them."""
    from flowcheck.config import ALIASES, KEYS

    try:
        settings = load_file(path)
    except UsageError:
        return False
    return bool(settings) and all(
        ALIASES.get(key.replace("-", "_"), key.replace("-", "_")) in KEYS for key in settings)


def rename_hint(missing: Path) -> str:
    """For the bare path of a missing capture: `; renamed? NEW.pcap beside it has no
    expected result: move NAME.expected.json and NAME.toml to its name` when captures
    without an expected result lie in its folder (a `git mv` of the capture alone), else
    ''."""
    folder = missing.parent
    sidecars = [p.name for p in (missing.with_name(missing.name + ".expected.json"),
                                 missing.with_name(missing.name + ".toml")) if p.is_file()]
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return ""
    whole = [name for name in names if name.startswith(missing.name + ".")
             and capture_suffix(name) is None and not name.endswith((".toml", ".json"))
             and _has_capture_magic(folder / name)]
    if whole and sidecars:  # `trace.dmp` beside `trace.toml`: its sidecars take its name
        return (f"; {whole[0]} beside it is a capture without a capture suffix, whose files "
                f"take its whole name: rename {' and '.join(sidecars)} to "
                + " and ".join(whole[0] + name.removeprefix(missing.name)
                               for name in sidecars))
    new = [name for name in names if capture_suffix(name) is not None
           and (folder / name).is_file()
           and not Case(folder / name, None).expected_path.exists()]
    if not new or not sidecars:
        return ""
    shown = ", ".join(new[:3]) + (f" and {len(new) - 3} more" if len(new) > 3 else "")
    return (f"; renamed? {shown} beside it {'has' if len(new) == 1 else 'have'} no "
            f"expected result: move {' and '.join(sidecars)} to its name")


def _dangling(path: Path) -> bool:
    """A link of a capture's name whose target is not there (git-annex or Git LFS
    without its content fetched, a moved target): a case, which reading reports."""
    return capture_suffix(path.name) is not None and path.is_symlink() and not path.exists()


def _tree(top: Path, walk: FolderWalk) -> tuple[list[Path], list[Path]]:
    """Everything under `top` (files and folders, links to folders followed, each real
    folder once: flowcheck/folder_walk.py), hidden folders left out (`.git`: git-annex
    keys keep a capture's suffix; pytest enters none either), sorted; and the folders
    that cannot be listed (no permission), which a walk would skip silently: each is a
    case of its own, which reading then reports."""
    entries: list[Path] = []
    unreadable: list[Path] = []
    if not walk.enters(top):
        return entries, unreadable  # walked already under another given name
    for folder, dirs, files in os.walk(top, followlinks=True,
                                       onerror=lambda e: unreadable.append(Path(e.filename))):
        # A hidden folder is an entry (a ring `.x/` with `.x.expected.json`), not entered.
        entries.extend(Path(folder, name) for name in dirs if name.startswith("."))
        dirs[:] = [name for name in dirs
                   if not name.startswith(".") and walk.enters(Path(folder, name))]
        entries.extend(Path(folder, name) for name in dirs + files)
    return sorted(entries), sorted(unreadable)


def _missing_capture(expected: Path) -> Path:
    """Where the capture of an expected result without one should be: a dangling link of
    a capture's name (git-annex, a moved target), else the bare name."""
    stem = expected.name.removesuffix(".expected.json")
    for candidate in _siblings_named(expected.parent, stem):
        if candidate.is_symlink():
            return candidate
    return expected.with_name(stem)


def _new_ring(directory: Path, top: Path) -> bool:
    """A ring-buffer folder under `top` without its expected result yet (`--update`
    writes its first): one ring by its content (holds_one_ring) with files that are
    captures by their magic. Hidden folders are not (.git/lfs/objects holds capture
    contents under hash names)."""
    if any(part.startswith(".") for part in directory.relative_to(top).parts):
        return False
    try:
        if not directory.is_dir() or not holds_one_ring(directory):
            return False
        return any(p.is_file() and _has_capture_magic(p) for p in directory.iterdir())
    except OSError:
        return False  # a folder that cannot be read is a case of its own (_tree)


def holds_one_ring(directory: Path) -> bool:
    """Whether `directory` is one capture set by its content: no subfolder, and either no
    capture file by name (tcpdump -C/-W parts `ring.pcap0`, `ring.pcap1`, ...) or two or
    more that are all parts of one dumpcap ring (dumpcap/tshark -b, editcap -c:
    `ring_00001_20261201120000.pcap`, `ring_00002_...`; flowcheck/sources/ring.py). Parts
    beside other captures are cases of their own. Raises OSError when it cannot be listed."""
    from flowcheck.sources.ring import dumpcap_ring  # numpy: not at the plugin's load

    named = 0
    rings: set[tuple[str, str] | None] = set()
    for path in directory.iterdir():
        if path.is_dir():
            return False
        if is_capture_file(path):
            rings.add(dumpcap_ring(path.name))
            if None in rings or len(rings) > 1:
                # A capture that is no ring's part, or parts of two rings: not one ring,
                # whatever else the folder holds (the plugin asks this for each expected
                # result of a folder: the whole listing each time was quadratic).
                return False
            named += 1
    return not named or named >= 2
