"""The errors flowcheck finds in a stored capture judged with its sidecar configuration."""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic


def failed_errors(config_path: Path, *captures: Path) -> list[Finding]:
    """The error findings of `captures` (one capture set) analyzed with the configuration
    file `config_path`; asserts the verdict is fail."""
    config = build_config(load_file(config_path))
    analysis = analyze(read_traffic([str(c) for c in captures], config), config)
    assert analysis.verdict == "fail"
    return [f for f in analysis.findings if str(f.severity) == "error"]
