"""The agent's FIN that answered the media server's lost FIN is no close on an
unanswered request (flowcheck.verify.unanswered_close with verify.first_close).

captures/ndmjob/v4-backup.pcap (a good NDMP v4 backup) with the sniffer's losses at the
job's end: two of the media server's last three DATA_GET_STATE-style requests, the
agent's replies after its second-last one, and the media server's FIN. The media
server's last request is captured; the agent's FIN acknowledges one sequence number
past it: the media server's FIN, which the capture lacks, so the media server closed
first and the agent's FIN answered it. A new-user trial (control packets of
v4-three-resources lost at 25%) read INCONCLUSIVE: step 2 "unknown: after its last NDMP
message ... 10.77.0.2 acknowledged 57 B more ..., then closed the control connection
(FIN ...): not a CONNECT_CLOSE ... (another resource's DATA_LISTEN that 10.77.0.2
could not serve ... ends a job so)", the 57 B being the two lost requests and the
media server's FIN. Now: PASS, the losses still said (ndmp_partial, capture_loss).
"""

from __future__ import annotations

import functools
from pathlib import Path

from pcap_records import read_records, tcp_of, write_records

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

STORED = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
MEDIA = bytes([10, 77, 0, 1])
_FIN = 0x01


@functools.cache
def _records() -> tuple[int, tuple]:
    linktype, records = read_records(STORED / "v4-backup.pcap")
    return linktype, tuple(records)


def _lost(tmp_path: Path) -> Path:
    """Without the media server's third- and second-last control requests, the agent's
    last three replies and the media server's FIN."""
    linktype, records = _records()
    control = [n for n, r in enumerate(records)
               if (t := tcp_of(r.data)) is not None and 10000 in (t.sport, t.dport)]
    media = [n for n in control if records[n].data[26:30] == MEDIA]
    agent = [n for n in control if records[n].data[26:30] != MEDIA]
    media_data = [n for n in media if tcp_of(records[n].data).payload]
    agent_data = [n for n in agent if tcp_of(records[n].data).payload]
    media_fin = next(n for n in media if tcp_of(records[n].data).flags & _FIN)
    agent_fin = next(n for n in agent if tcp_of(records[n].data).flags & _FIN)
    assert media_fin < agent_fin  # the media server closed first
    dropped = {media_data[-3], media_data[-2], *agent_data[-3:], media_fin}
    kept = [r for n, r in enumerate(records) if n not in dropped]
    return write_records(tmp_path / "lost.pcap", linktype, kept)


def _analyze(path: Path) -> Analysis:
    config = build_config(load_file(STORED / "flowcheck.toml"))
    return analyze(read_traffic([str(path)], config), config)


def test_answering_fin_is_no_unanswered_close(tmp_path: Path) -> None:
    result = _analyze(_lost(tmp_path))
    (session,) = result.sessions
    assert [s.status for s in session.steps] == ["ok"] * len(session.steps)
    assert not any("the one request NDMP leaves unanswered" in s.detail
                   for s in session.steps)
    assert result.verdict == "pass"
    codes = {f.code for f in result.findings}
    assert {"ndmp_partial", "capture_loss"} <= codes
    assert "ndmp_no_reply" not in codes
