"""Debian's headless chromium and the Mermaid CLI for the report tests (both installed by
.ci/run). The flags are those that work on this machine as root with no network: no
sandbox, no GPU, no background connections, a fresh profile per run."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"  # git-ignored: screenshots kept as CI artefacts
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
MMDC = ROOT / ".ci" / "mermaid" / "node_modules" / ".bin" / "mmdc"
PUPPETEER_CONFIG = ROOT / ".ci" / "mermaid" / "puppeteer.json"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio"]

# In CI the tools are installed: a missing one is a failure there, a skip on a laptop.
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                    reason="chromium missing (apt-get install chromium)")
needs_mmdc = pytest.mark.skipif(not MMDC.exists() and not os.environ.get("CI"),
                                reason="Mermaid CLI missing (see .ci/run: npm ci in .ci/mermaid)")


def _chromium(args: list[str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """One headless run; run again once when it fails (under load chromium's helper
    processes can fail to start, "GPU process launch failed: error_code=1002", and the
    run exits non-zero without a result: not the page's fault)."""
    for _ in range(2):
        with tempfile.TemporaryDirectory(prefix="flowcheck-chromium-") as profile:
            result = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                                    capture_output=True, text=True, timeout=timeout,
                                    check=False)
        if result.returncode == 0:
            break
    return result


def dump_dom(page: Path, *extra: str) -> str:
    """The DOM after chromium loaded and laid out the page (scripts in it have run)."""
    result = _chromium([*extra, "--virtual-time-budget=3000", "--dump-dom", page.as_uri()])
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def screenshot_flags(png: Path, size: str = "1280,1600") -> list[str]:
    """chromium's flags that have a run (dump_dom's) also save its page's screenshot to
    png (size: the window, pixels): one start for the DOM and the picture. The folder is
    made and an older png removed, so a run that saves none leaves none."""
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    return [f"--window-size={size}", f"--screenshot={png}"]


def print_pdf(page: Path, pdf: Path, *extra: str) -> Path:
    result = _chromium([*extra, "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
                        page.as_uri()])
    assert result.returncode == 0 and pdf.stat().st_size > 1000, result.stderr[-2000:]
    return pdf


def mmdc(source: Path, output: Path) -> subprocess.CompletedProcess[str]:
    """The official Mermaid CLI on `source` (.mmd, or .md with ```mermaid blocks)."""
    env = {**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"}
    return subprocess.run([str(MMDC), "-q", "-p", str(PUPPETEER_CONFIG), "-i", str(source),
                           "-o", str(output)], capture_output=True, text=True, timeout=180,
                          env=env, check=False)
