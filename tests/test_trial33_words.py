"""Field check trial 33 D4, on the real capture of tests/data/trial33 (README there): the
media server's capture of a job whose control connection's first SYN the router dropped;
the media server resent it about 1 s later and the handshake completed then. Step 1 said
only "handshake 0.0880 ms" (the round trip from the last SYN, as the JSON's `rtt` keeps
it), hiding that the connection opened a SYN timeout late. The control, callback and data
steps share the words (verify.details.handshake_words)."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.model import Connection
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.verify.details import handshake_words

DATA = Path(__file__).resolve().parent / "data" / "trial33"
NAME = "data-port-dropped.synret2-loss5"
TIME = r"[0-9.]+ (?:ms|s)"


@functools.cache
def _analysis() -> Analysis:
    config = build_config(load_file(DATA / f"{NAME}.m.toml"))
    return analyze(read_traffic([str(DATA / f"{NAME}.m.pcap")], config), config)


def test_step_1_says_the_resent_syn_and_how_late_it_opened() -> None:
    analysis = _analysis()
    [session] = analysis.sessions
    control, callback = session.steps[0], session.steps[1]
    assert re.search(rf"; handshake {TIME} after 1 resent SYN, answered {TIME} after the "
                     r"first; ", control.detail), control.detail
    # The callback's SYN was answered at once: its words stay as they were.
    assert re.search(rf"; handshake {TIME}; ", callback.detail), callback.detail
    assert "resent" not in callback.detail


def test_json_rtt_stays_from_the_last_syn() -> None:
    """The detail says the wait; the JSON's rtt stays the last SYN's round trip."""
    [c1] = [c for c in _analysis().traffic.connections if c.uid == "C1"]
    assert c1.syn_retries == 1
    assert c1.rtt is not None and c1.syn_ts is not None and c1.synack_ts is not None
    assert c1.rtt < c1.synack_ts - c1.syn_ts
    assert json.loads(json.dumps(c1.as_dict()))["rtt"] == c1.rtt


def test_handshake_words_count_resent_syns() -> None:
    """Any step's connection (control, callback, data): the resent SYNs counted, the
    first SYN-ACK's wait from the first SYN; without a SYN-ACK time, the count alone."""
    conn = Connection("C3", "10.77.0.1", 5002, "10.77.0.2", 6001, 1.0, rtt=0.00005,
                      syn_retries=2, syn_ts=1.0, synack_ts=4.0)
    assert handshake_words(conn) == "handshake 0.05 ms after 2 resent SYNs, answered " \
                                    "3 s after the first"
    conn.synack_ts = None
    assert handshake_words(conn) == "handshake 0.05 ms after 2 resent SYNs"
    conn.syn_retries = 0
    assert handshake_words(conn) == "handshake 0.05 ms"
