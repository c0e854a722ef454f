"""Input resolution: which files form the capture set, from paths, directories, "-" and
open binary streams, and what a file's first bytes say it is (format_of, describe_magic).
Reading an input's bytes is flowcheck.sources.byte_source's.
"""

from __future__ import annotations

import gzip
import os
import shlex
import stat
import sys
import zlib
from dataclasses import field
from typing import BinaryIO

from flowcheck.errors import InputError
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.sources.pcap import PCAPNG_SECTION, is_pcap_magic

GZIP_MAGIC = b"\x1f\x8b"
# A macOS AppleDouble file: the "._NAME" a Mac writes beside each file it copies to a
# volume that cannot hold its attributes (FAT, exFAT, SMB): metadata, never a capture.
APPLE_DOUBLE = b"\x00\x05\x16\x07"
# The names of capture files (regress's cases too): a file named so in a directory is
# read even when its first bytes are no capture's, so that it is reported, not skipped.
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz")


def format_of(head: bytes) -> str | None:
    """'pcap' or 'pcapng' from the first four (decompressed) bytes, else None."""
    if head[:4] == PCAPNG_SECTION:
        return "pcapng"
    if is_pcap_magic(head):
        return "pcap"
    return None


# Files users send instead of a capture flowcheck reads, by their first bytes, with what
# turns them into one (Wireshark's editcap reads the capture formats; libpcap's and
# Wireshark's file-format references give the magics).
_OTHER_FORMATS = (
    (b"GMBU", "a Microsoft Network Monitor 2.x capture: convert it with "
              "`editcap -F pcapng {file} {converted}` (Wireshark)"),
    (b"RTSS", "a Microsoft Network Monitor 1.x capture: convert it with "
              "`editcap -F pcapng {file} {converted}` (Wireshark)"),
    (b"snoop\0\0\0", "a Solaris snoop capture (also what Check Point's `fw monitor -o` "
                      "writes): convert it with `editcap -F pcapng {file} {converted}` "
                      "(Wireshark)"),
    (b"version https://git-lfs.github.com/spec/", "a Git LFS pointer, not the capture: "
                                                 "fetch the content (git lfs pull)"),
    (b"/annex/objects/", "a git-annex pointer, not the capture: fetch the content "
                         "(git annex get {file})"),
    (b"PK\x03\x04", "a zip archive: extract the capture from it first"),
    (b"7z\xbc\xaf", "a 7-Zip archive: extract the capture from it first"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed: decompress it first (zstd -d {file})"),
    (b"\xfd7zXZ", "xz-compressed: decompress it first (xz -d {file})"),
    (b"BZh", "bzip2-compressed: decompress it first (bunzip2 {file})"),
    (APPLE_DOUBLE, "macOS AppleDouble metadata (the ._ file a Mac writes beside each file "
                   "it copies to a FAT, exFAT or SMB volume): the packets are in the file "
                   "of the same name without ._"),
    (b"\x04\x22\x4d\x18", "lz4-compressed: decompress it first (lz4 -d {file})"),
)


# Windows trace files have no magic of their own to tell them by (an .etl starts with an
# ETW buffer header, a .matp is a zip package): their suffix names them (trial 24 D9).
_OTHER_SUFFIXES = (
    (".etl", "a Windows event trace (netsh trace or pktmon): convert it on Windows with "
             "`pktmon etl2pcap {file} --out {converted}` (or Microsoft's etl2pcapng) and "
             "give flowcheck the .pcapng"),
    (".matp", "a Microsoft Message Analyzer trace: save it from Message Analyzer as a "
              "Network Monitor .cap file, then `editcap -F pcapng FILE.cap FILE.pcapng` "
              "(Wireshark)"),
)


def describe_magic(head: bytes, name: str = "FILE") -> str:
    """Why the file `name` whose first bytes are `head` is not read: not pcap or pcapng,
    and what it is (with the command that converts it) when its magic or, for Windows
    traces, its suffix says so."""
    for suffix, what in _OTHER_SUFFIXES:
        if name.lower().endswith(suffix):
            stem = name[:-len(suffix)]
            what = what.format(file=shlex.quote(name), converted=shlex.quote(stem + ".pcapng"))
            return f"not a pcap or pcapng file: {what}"
    for magic, what in _OTHER_FORMATS:
        if head.startswith(magic):
            what = what.format(file=shlex.quote(name), converted=shlex.quote(name + ".pcapng"))
            return f"not a pcap or pcapng file: {what}"
    shown = " ".join(f"{byte:02x}" for byte in head[:4])
    return f"not a pcap or pcapng file (starts with {shown})"


@fields_dataclass(slots=True)
class InputSpec:
    """One member of a capture set, before it is opened."""

    name: str  # the path, "-" or "<stream>"
    path: str | None = None  # a file that can be opened (again) by name
    stream: BinaryIO | None = None  # standard input or a pipe: read once
    size: int | None = None  # bytes on disk, for the progress bar
    file_id: tuple[int, int] | None = None  # (device, inode): one file under two names
    # The first member of a directory: the files of other capture formats in it, each
    # "NAME: what it is: how to convert it" (describe_magic), left out of the set.
    beside: list[str] = field(default_factory=list)

    @property
    def reopenable(self) -> bool:
        return self.path is not None

    @property
    def shown(self) -> str:
        """The member as its messages name it: `standard input` for `-` (newuser54: "-:
        empty file" read as a file named "-"), else `name`."""
        return shown_name(self.name)


def shown_name(name: str) -> str:
    """A capture set member's name (CaptureInfo.path, InputSpec.name) as a message says
    it: `standard input` for `-`, else the name as given."""
    return "standard input" if name == "-" else name


def resolve_inputs(inputs: list[str | BinaryIO]) -> list[InputSpec]:
    """Expand paths and directories into the capture set's members (InputError if none)."""
    if not inputs:
        raise InputError("no capture given")
    specs: list[InputSpec] = []
    for item in inputs:
        if isinstance(item, str | os.PathLike):
            specs.extend(_resolve_path(os.fspath(item)))
        else:
            # A pipe's file object is named by its descriptor number: no use to a reader.
            name = getattr(item, "name", None)
            specs.append(InputSpec(name if isinstance(name, str) and name else "<stream>",
                                   stream=item))
    return _each_file_once(specs)


def _each_file_once(specs: list[InputSpec]) -> list[InputSpec]:
    """The specs without a file named again (a directory and one of its files,
    overlapping globs, a hard link): read twice, its packets would count twice. The
    first name given is kept."""
    seen: set[tuple[int, int]] = set()
    unique = []
    for spec in specs:
        if spec.file_id is not None:
            if spec.file_id in seen:
                continue
            seen.add(spec.file_id)
        unique.append(spec)
    return unique


def _resolve_path(path: str) -> list[InputSpec]:
    if path == "-":
        return [InputSpec("-", stream=sys.stdin.buffer)]
    info = _stat(path)
    if stat.S_ISDIR(info.st_mode):
        return _resolve_directory(path)
    if stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode):
        # A named pipe can be read only once: treat it as a stream.
        return [InputSpec(path, stream=open_path(path, buffered=True))]
    open_path(path).close()  # permission problems surface now, as one line
    return [InputSpec(path, path=path, size=info.st_size,
                      file_id=(info.st_dev, info.st_ino))]


def _resolve_directory(path: str) -> list[InputSpec]:
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise _input_error(path, exc) from None
    if not names:
        raise InputError(f"{path}: empty directory, no capture files in it")
    specs = []
    others: list[str] = []  # captures of other formats, named with their conversion
    empty: list[str] = []  # 0-byte files named as captures: skipped, named if none reads
    for name in names:
        member = os.path.join(path, name)
        try:
            info = os.stat(member)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            if stat.S_ISREG(info.st_mode) and name.lower().endswith(CAPTURE_SUFFIXES):
                empty.append(name)
            continue
        if not os.access(member, os.R_OK):
            # Unreadable (dumpcap writes its ring files 0600): kept, so that its reading
            # fails as one line naming it (capture_unreadable, or the set's error when
            # nothing could be read), not "no pcap or pcapng files" (trial B).
            specs.append(InputSpec(member, path=member, size=info.st_size,
                                   file_id=(info.st_dev, info.st_ino)))
            continue
        head = _head(member)
        # A gzip file that does not inflate (cut or corrupt, a ring file damaged) is kept
        # too: its reading fails as capture_unreadable, naming it (new-user trial: a
        # ring with one such file passed without a word).
        if (head is not None and format_of(head) is not None) or (
                head is None and _gzip_magic(member)):
            specs.append(InputSpec(member, path=member, size=info.st_size,
                                   file_id=(info.st_dev, info.st_ino)))
            continue
        what = describe_magic(head, member).partition(": ")[2] if head is not None else ""
        # A capture in a format flowcheck does not read, or a pointer to one (trial 24
        # D12: skipped without a word); not a compressed log beside the captures.
        other = "capture" in what or "trace" in what
        if other and len(others) < _OTHERS_NAMED:
            others.append(f"{name}: {what}")
        elif not other and name.lower().endswith(CAPTURE_SUFFIXES) \
                and not (head or b"").startswith(APPLE_DOUBLE):
            # Named as a capture but none by its first bytes (newuser56: a .pcap of
            # random bytes skipped without a word): kept, so that its reading fails as
            # capture_unreadable naming it, as for a file given by name. Not a Mac's
            # ._NAME.pcap beside each file of a ring copied from it (review56e: one
            # capture_unreadable for metadata): skipped, as before.
            specs.append(InputSpec(member, path=member, size=info.st_size,
                                   file_id=(info.st_dev, info.st_ino)))
    if not specs:
        # A sniffer killed before it wrote its buffered header leaves a 0-byte job.pcap
        # (review56e: "no pcap or pcapng files" beside it read as the wrong folder).
        named = others + [f"{name}: empty file, 0 bytes" for name in
                          empty[:max(0, _OTHERS_NAMED - len(others))]]
        raise InputError(f"{path}: no pcap or pcapng files in this directory"
                         + (f" ({'; '.join(named)})" if named else ""))
    specs[0].beside = others
    return specs


# Other-format files a directory without captures names in its error.
_OTHERS_NAMED = 3


def _head(path: str) -> bytes | None:
    """The file's first 64 bytes (inflated when gzipped); None when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
            if head[:2] == GZIP_MAGIC:
                handle.seek(0)
                with gzip.GzipFile(fileobj=handle, mode="rb") as inflated:
                    head = inflated.read(64)
    except (OSError, EOFError, zlib.error):
        return None
    return head


def _gzip_magic(path: str) -> bool:
    """Does the file begin with gzip's magic bytes (RFC 1952 2.3.1)?"""
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == GZIP_MAGIC
    except OSError:
        return False


_OS_ERRORS = (
    (FileNotFoundError, "no such file or directory"),
    (PermissionError, "permission denied"),
    (IsADirectoryError, "is a directory"),
)


def _input_error(path: str, exc: OSError) -> InputError:
    """The one-line error for an input path the system refused."""
    for kind, text in _OS_ERRORS:
        if isinstance(exc, kind):
            return InputError(f"{path}: {text}")
    return InputError(f"{path}: {exc.strerror or exc}")


def _stat(path: str) -> os.stat_result:
    try:
        return os.stat(path)
    except OSError as exc:
        raise _input_error(path, exc) from None


def open_path(path: str, *, buffered: bool = False) -> BinaryIO:
    """The file at path, opened for reading bytes (unbuffered unless buffered).

    Raises InputError, one line naming the path, for any OSError (missing file, no
    permission, a directory).
    """
    try:
        return open(path, "rb", buffering=-1 if buffered else 0)  # noqa: SIM115
    except OSError as exc:
        raise _input_error(path, exc) from None
