"""A data connection whose opening the capture lacks is oriented by the session's hosts,
not by its first captured packet (newuser57, session 56).

`editcap clean-3-resources.pcap r2.pcap 210-222` (the sniffer lost DATA_LISTEN #2 and the
handshake of its data connection 10.77.0.2:6002 <-> 10.77.0.1:5003) read PASS with step 5
"400000 B agent -> media server (backup) over 3 data connections; 198552 B the other way":
the connection was matched by ports from its first captured packet's sender (the agent),
and verify.end_roles.conn_sides took that originator for the media server. tshark shows
all of its payload agent -> media server. The same job as two files of a time-rotated
capture (tcpdump -G), the lost frames between them, read the same. With both
DATA_LISTENs before them and every DATA_START_BACKUP lost too, the kind guessed from the
bytes (sessions.classify.kind_from_bytes) read the backup as a restore, "398552 B media
server -> agent (restore)". Real components: editcap cuts the stored lab capture.
"""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sessions.callback_elsewhere import _sides
from flowcheck.verify.carried import carried_words
from flowcheck.verify.end_roles import conn_sides

CLEAN = Path(__file__).resolve().parent.parent / "captures" / "lab" / "clean-3-resources"
MEDIA, AGENT = "10.77.0.1", "10.77.0.2"


def _analyze(paths: list[Path]) -> Analysis:
    config = build_config(load_file(CLEAN.with_suffix(".toml")))
    return analyze(read_traffic([str(p) for p in paths], config), config)


@pytest.fixture(scope="module")
def lost(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    """The capture less frames 210-222, as newuser57 cut it with editcap."""
    out = tmp_path_factory.mktemp("datadir") / "r2.pcap"
    subprocess.run(["editcap", str(CLEAN.with_suffix(".pcap")), str(out), "210-222"],
                   check=True, capture_output=True)
    return _analyze([out])


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    """The same job as two files of a time-rotated capture, frames 210-222 in neither."""
    folder = tmp_path_factory.mktemp("datadir-g")
    pcap = str(CLEAN.with_suffix(".pcap"))
    for name, frames in (("job-004231.pcap", "1-209"), ("job-004232.pcap", "223-100000")):
        subprocess.run(["editcap", "-r", pcap, str(folder / name), frames],
                       check=True, capture_output=True)
    return _analyze(sorted(folder.iterdir()))


@pytest.fixture(scope="module")
def untold(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    """The capture less DATA_LISTEN #1 with C3's handshake and DATA_START_BACKUP (frames
    20-26), frames 210-222, and the third DATA_START_BACKUP (413-414): two of the three
    data connections matched by ports without their openings, the kind told by bytes."""
    out = tmp_path_factory.mktemp("datadir-kind") / "k2.pcap"
    subprocess.run(["editcap", str(CLEAN.with_suffix(".pcap")), str(out), "20-26",
                    "210-222", "413-414"], check=True, capture_output=True)
    return _analyze([out])


@pytest.mark.parametrize("which", ["lost", "rotated", "untold"])
def test_step5_counts_by_host(which: str, request: pytest.FixtureRequest) -> None:
    """All 598552 B the capture holds of the backup are agent -> media server, none the
    other way (tshark: every data segment of the three connections from 10.77.0.2)."""
    analysis: Analysis = request.getfixturevalue(which)
    assert analysis.verdict == "pass"
    (session,) = analysis.sessions
    assert session.kind == "backup"
    step5 = next(s for s in session.steps if s.step == 5)
    assert step5.detail.startswith(
        "598,552 B agent -> media server (backup) over 3 data connections; "
        "0 B the other way;"), step5.detail


def test_unopened_connection_ends_by_host(lost: Analysis) -> None:
    """The connection without its handshake: its media server end is 10.77.0.1:5003
    whoever sent its first captured packet, and the finding words that say what it
    carried name the agent as the sender."""
    (session,) = lost.sessions
    conn = next(c for c in lost.traffic.connections if {c.orig_p, c.resp_p} == {6002, 5003})
    assert not (conn.syn_seen or conn.synack_seen)
    assert conn.uid in session.data_connections
    assert conn_sides(conn, session) == ((MEDIA, 5003), (AGENT, 6002))
    words = carried_words(conn, session)
    assert words.startswith("198,552 B agent -> media server and 0 B media server -> agent"), \
        words


def test_session_sides_by_host(lost: Analysis) -> None:
    """The addresses of each side of the session that callbackmatch's search for a
    callback under another address uses (sessions.callback_elsewhere._sides): the port
    match without its opening put the agent's address on the media server's side and
    the media server's on the agent's."""
    (session,) = lost.sessions
    by_uid = {c.uid: c for c in lost.traffic.connections}
    assert _sides(session, by_uid) == ({MEDIA}, {AGENT})


DUALSTACK = (Path(__file__).resolve().parent.parent / "captures" / "lab-trial28-addresses"
             / "dualstack-v6ctl-v4data")


@pytest.fixture(scope="module")
def dualstack(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    """review56n: the dual-stack job (control over IPv6 fd77::1 -> fd77::2, callback and
    two data connections over IPv4) less both DATA_LISTENs, both DATA_START_BACKUPs and
    both data handshakes (editcap 20-26 248-254): each data connection matched by ports,
    its first captured packet the agent's data, no end at the session's (IPv6) hosts."""
    folder = tmp_path_factory.mktemp("datadir-v6")
    full, out = folder / "full.pcap", folder / "cut.pcap"
    full.write_bytes(gzip.decompress(DUALSTACK.with_suffix(".pcap.gz").read_bytes()))
    subprocess.run(["editcap", str(full), str(out), "20-26", "248-254"],
                   check=True, capture_output=True)
    config = build_config(load_file(DUALSTACK.with_suffix(".toml")))
    return analyze(read_traffic([str(out)], config), config)


def test_dual_stack_ends_by_the_callback_hosts(dualstack: Analysis) -> None:
    """The session's hosts are its IPv6 addresses; its callback (its SYN captured, from
    10.77.0.2 to 10.77.0.1) names their IPv4 ones. Since datadir the host rule missed
    them: "400000 B media server -> agent (restore) ...", kind restore, where tshark
    shows every data byte 10.77.0.2 -> 10.77.0.1."""
    (session,) = dualstack.sessions
    assert session.callback_hosts == (AGENT, MEDIA)
    assert session.kind == "backup"
    step5 = next(s for s in session.steps if s.step == 5)
    assert step5.detail.startswith(
        "400,000 B agent -> media server (backup) over 2 data connections; "
        "0 B the other way;"), step5.detail
    by_uid = {c.uid: c for c in dualstack.traffic.connections}
    for uid in session.data_connections:
        media, agent = conn_sides(by_uid[uid], session)
        assert media is not None and media[0] == MEDIA
        assert agent is not None and agent[0] == AGENT
