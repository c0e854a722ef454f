"""The errors flowcheck finds in a stored capture judged with its sidecar configuration."""

from __future__ import annotations

from pathlib import Path

from pcap_records import read_records, write_records

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic


def failed_errors(config_path: Path, *captures: Path) -> list[Finding]:
    """The error findings of `captures` (one capture set) analyzed with the configuration
    file `config_path`; asserts the verdict is fail."""
    config = build_config(load_file(config_path))
    analysis = analyze(read_traffic([str(c) for c in captures], config), config)
    assert analysis.verdict == "fail"
    return [f for f in analysis.findings if str(f.severity) == "error"]


def sidecar(capture: Path) -> Path:
    """The configuration stored beside a capture: NAME.toml for NAME.pcap(.gz)/.pcapng."""
    name = capture.name.removesuffix(".gz").rsplit(".", 1)[0]
    return capture.with_name(f"{name}.toml")


def stored_analysis(*captures: Path, config_path: Path | None = None,
                    **settings: object) -> Analysis:
    """`captures` (one capture set) analysed with the first one's sidecar configuration
    (or `config_path`), `settings` overriding its values."""
    config = build_config({**load_file(config_path or sidecar(captures[0])), **settings})
    return analyze(read_traffic([str(c) for c in captures], config), config)


def case_config(folder: Path, name: str) -> Path:
    """A stored case's configuration: FOLDER/NAME.toml, else the folder's flowcheck.toml."""
    own = folder / f"{name}.toml"
    return own if own.is_file() else folder / "flowcheck.toml"


def without_frame(tmp_path: Path, folder: Path, name: str, frame: int) -> Path:
    """FOLDER/NAME.pcap (or .pcap.gz) with its frame `frame` (1-based) removed, as the
    sniffer would have lost it, written under tmp_path."""
    capture = next(p for p in folder.iterdir()
                   if p.name in (f"{name}.pcap", f"{name}.pcap.gz"))
    linktype, records = read_records(capture)
    return write_records(tmp_path / f"{name}-without-{frame}.pcap", linktype,
                         records[:frame - 1] + records[frame:])


def folder_analysis(folder: Path, name: str, config_name: str = "flowcheck") -> Analysis:
    """The capture `name` of a stored folder (a field check's: captures/trial38-stack)
    analysed with the folder's configuration, flowcheck.toml or `config_name`.toml."""
    return stored_analysis(folder / name, config_path=folder / f"{config_name}.toml")


def errors(analysis: Analysis) -> list[Finding]:
    """The analysis' error findings, in their order."""
    return [f for f in analysis.findings if str(f.severity) == "error"]
