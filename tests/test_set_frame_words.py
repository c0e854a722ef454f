"""Every frame a set's text report names is the file's own, the words the ringframes
conversion missed included (review62d): stored cases cut into three files (editcap -c,
dumpcap's names) said "the session authenticated (frame 1479)", "the job engine's vendor
message (frame 15)", "sent its SYN again 3 times after it (frames 26, 28, 30)", "RSTs,
frames 901 (10.77.0.1), 969 (10.77.0.2)" and "its SYN-ACK, frame 2": the set's merged
numbers, which no file of the set holds as such.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"

# (stored case, senders whose packets are cut out first (none: the whole capture), the
# words before the frame the finding or step names)
CASES = [
    ("ndmjob-nojob/C-b2b-reuse", (), "the session authenticated ("),
    ("lab-trial19-callback/mh3-jobengine-other-nic", (), "the job engine's vendor message ("),
    ("trial37-impairments/callback-synacks-lost-media", (), "sent its SYN again 3 times "
     "after it ("),
    ("ndmjob-firewall/v3-midjob-data-reject-rst-at-media", (), "reset mid-transfer (RSTs, "),
    # tests/test_agent_side_cuts: the IPv4 job opens with the agent's SYN-ACK
    ("lab-trial28-dualstack/happy-eyeballs-v6-rst", ("10.77.0.1", "fd77::1"),
     "the agent answered (its SYN-ACK, "),
]

MENTION = re.compile(r"\bframes? \d+(?: \(\S+\))?(?:(?:, |-)\d+(?: \(\S+\))?)*"
                     r"(?: and \d+ more)?(?: of \S+)?")


def _ring(case: str, senders: tuple[str, ...], folder: Path) -> Path:
    """captures/CASE's capture (without `senders`' packets) cut into three files, in a
    folder of their own."""
    [stored] = [p for p in (CAPTURES / case).parent.glob(f"{Path(case).name}.pcap*")
                if not p.name.endswith(".json")]
    whole = folder / "whole.pcap"
    with (gzip.open(stored, "rb") if stored.suffix == ".gz" else stored.open("rb")) as source, \
            whole.open("wb") as target:
        shutil.copyfileobj(source, target)
    if senders:
        kept = folder / "kept.pcap"
        subprocess.run(["tcpdump", "-r", str(whole), "-w", str(kept),
                        "not (" + " or ".join(f"src host {s}" for s in senders) + ")"],
                       check=True, capture_output=True)
        whole = kept
    counted = subprocess.run(["capinfos", "-Mc", str(whole)], check=True,
                             capture_output=True, text=True).stdout.split()[-1]
    ring = folder / "ring"
    ring.mkdir()
    subprocess.run(["editcap", "-c", str(int(counted) // 3 + 1), str(whole),
                    str(ring / "ring.pcap")], check=True, capture_output=True)
    assert len(list(ring.iterdir())) == 3
    return ring


@pytest.mark.parametrize(("case", "senders", "words"), CASES,
                         ids=[case.split("/")[1] for case, _, _ in CASES])
def test_a_set_names_every_frame_by_its_file(tmp_path: Path, case: str,
                                             senders: tuple[str, ...], words: str) -> None:
    """The case's words name their frame with its file, and no frame the text names
    lacks one."""
    ring = _ring(case, senders, tmp_path)
    config = CAPTURES / f"{case}.toml"
    if not config.exists():  # one configuration for the folder's cases
        config = config.parent / "flowcheck.toml"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "1000", "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "flowcheck", "analyze", str(ring),
                           "--config", str(config)], capture_output=True, text=True,
                          env=env, check=False)
    assert done.returncode in (0, 1, 2, 5), done.stderr  # 5: inconclusive
    text = " ".join(done.stdout.split())
    assert words in text
    named = text[text.index(words) + len(words):]
    assert re.match(r"frames? \d+(, \d+)* (\(\S+\) )?of ring_\d{5}_\d+\.pcap", named), named[:80]
    unnamed = [m for m in MENTION.findall(text) if " of " not in m]
    assert unnamed == [], unnamed


def test_one_process_names_each_reading_by_its_own_files(tmp_path: Path) -> None:
    """A set read, then a single file, then the set again in one process (a script, the
    pytest plugin, regress): each reading's words name frames by its own files, and no
    reading leaves its names current after it (frame_names.current() None: the lead's
    54091c3c moved track_connections' names into a `naming` block; review62f)."""
    from flowcheck.config import build_config, load_file
    from flowcheck.frame_names import current
    from flowcheck.pipeline import analyze, read_traffic

    case, words = "trial37-impairments/callback-synacks-lost-media", "sent its SYN again 3 times "
    ring = _ring(case, (), tmp_path)
    [single] = [p for p in (CAPTURES / case).parent.glob(f"{Path(case).name}.pcap*")
                if not p.name.endswith(".json")]
    config = build_config(load_file(CAPTURES / "trial37-impairments" / "flowcheck.toml"))

    def text(capture: Path) -> str:
        analysis = analyze(read_traffic([str(capture)], config), config)
        assert current() is None
        return " ".join(" ".join([f.message, f.fix, *(s.detail for x in analysis.sessions
                                                       for s in x.steps)])
                        for f in analysis.findings)

    for capture, by_file in ((ring, True), (single, False), (ring, True)):
        said = text(capture)
        assert words in said
        mentions = MENTION.findall(said)
        assert mentions and all((" of ring_" in m) == by_file for m in mentions), mentions
