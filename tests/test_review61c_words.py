"""Review 61c of words61 (one style of byte figure): the figures it left in their old
style in stored cases' findings, step details and `ndmp` output.

A data_moved reading's state reply counted its bytes unseparated in "bytes"
(trial27-three-way/3w-full-m: "DATA_GET_STATE reply counting 724992 bytes", in a finding
and step 4's detail; trial39's MOVER_GET_STATE "440320 bytes"), and the NDMP decode's
lengths were unseparated ("7611 bytes that are not NDMP", "record fragment of 1195725856
bytes"), where docs/findings.md's "Byte figures" has an amount read "724,992 B" and a
length "1,788 bytes".
"""

from __future__ import annotations

import re
from pathlib import Path

from stored import case_analysis, case_config

from flowcheck.model import Finding
from flowcheck.pipeline import Analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def _analysis(name: str) -> Analysis:
    """The stored case `name` (FOLDER/FILE) analysed with its configuration."""
    capture = CAPTURES / name
    stem = capture.name.removesuffix(".gz").rsplit(".", 1)[0]
    return case_analysis(capture, case_config(capture.parent, stem))
UNSEPARATED = re.compile(r"\b\d{4,} (B|bytes)\b")


def _texts(findings: list[Finding], details: list[str]) -> str:
    return "\n".join([*(f.message for f in findings), *(f.fix for f in findings), *details])


def test_a_state_reply_counts_its_bytes_in_the_reports_style() -> None:
    """DATA_GET_STATE's bytes_processed and MOVER_GET_STATE's bytes_moved read "724,992 B"
    in the finding and the step's detail (they read "724992 bytes")."""
    for name, words in (
            ("trial27-three-way/3w-full-m.pcap.gz",
             "DATA_GET_STATE reply counting 724,992 B, frame 46"),
            ("trial39-server-errors/tape-full-mover-paused-eom.pcap",
             "MOVER_GET_STATE reply counting 440,320 B, frame 63")):
        analysis = _analysis(name)
        details = [step.detail for s in analysis.sessions for step in s.steps]
        text = _texts(analysis.findings, details)
        assert words in text, name
        assert not UNSEPARATED.search(text), (name, UNSEPARATED.findall(text))


def test_the_ndmp_decodes_lengths_are_separated() -> None:
    """ndmp_undecodable's skipped bytes (an amount: "B", tidy61) and an absurd record
    fragment's length (lengths keep "bytes") read with thousands separators."""
    for name, words in (
            ("review54h/copies-routed-back-out-one-router-port-two-subnets-one-segment-"
             "ether.pcap.gz", "(7,611 B that are not NDMP until the stream ended)"),
            ("ndmjob-probes/probes-10000-media.pcap.gz",
             "(record fragment of 1,195,725,856 bytes (over 16 MiB): not NDMP)")):
        analysis = _analysis(name)
        undecodable = [f for f in [*analysis.findings, *analysis.traffic.findings]
                       if f.code == "ndmp_undecodable"]
        assert any(words in f.message for f in undecodable), name
        assert not UNSEPARATED.search(_texts(undecodable, [])), name
