"""A start request's reply whose error word the snap length cut (review62b, second read
of field70): trial39-server-errors/start-backup-before-data-connect, the agent's
DATA_START_BACKUP reply (frame 17, ILLEGAL_STATE_ERR in its body) cut to 24 B of TCP
payload (`-i any -s 96`: the record mark and the header but its error word, field70's
error_cut) or 28 B (the header whole, the body's error word cut), the DMA's
CONNECT_CLOSE and RST after it. The reply's error unknown was read as a start accepted:
"reset ... while the job was running" (control_reset, FAIL), where the reply lost
altogether reads inconclusive (running._start_refused: the DMA did what a refusal
brings). Its error unknown is that reply's refusal unseen: read as the lost reply.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pcap_records import read_records, write_records
from stored import case_config, errors, stored_analysis

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "trial39-server-errors"
NAME = "start-backup-before-data-connect"
REPLY = 17  # the DATA_START_BACKUP reply, 32 B of TCP payload (1-based frame)


def _cut(tmp_path: Path, folder: Path, name: str, reply: int, keep: int,
         request: int | None = None) -> Path:
    """folder/name with frame `reply` (1-based, 32 B of TCP payload) cut to `keep` B of
    TCP payload, its length on the wire kept, and frame `request` removed (as the
    sniffer lost it) when given."""
    capture = next(p for p in folder.iterdir() if p.name in (f"{name}.pcap", f"{name}.pcap.gz"))
    linktype, records = read_records(capture)
    cut = replace(records[reply - 1], data=records[reply - 1].data[:keep - 32])
    records[reply - 1] = cut
    if request is not None:
        del records[request - 1]
    return write_records(tmp_path / f"{name}-{keep}.pcap", linktype, records)


@pytest.mark.parametrize(("keep", "lost"), [(24, None), (28, None), (24, 16)])
def test_a_start_reply_whose_error_was_cut_is_no_start_accepted(
        tmp_path: Path, keep: int, lost: int | None) -> None:
    """Kept whole or lost (then the reply stands for the start, hidden_ends.lost_start),
    the request is no start accepted: the job ran or was refused cannot be seen."""
    path = _cut(tmp_path, FOLDER, NAME, REPLY, keep, lost)
    analysis = stored_analysis(path, config_path=case_config(FOLDER, NAME))
    [stream] = analysis.traffic.streams
    [start_reply] = [m for m in stream.messages
                     if m.name == "NDMP_DATA_START_BACKUP" and m.type == "reply"]
    assert start_reply.error_unknown and start_reply.error_name is None
    assert not errors(analysis)  # control_closed / control_reset "while the job was running"
    assert analysis.verdict == "inconclusive"


def test_a_start_whose_data_flowed_is_still_read_as_begun(tmp_path: Path) -> None:
    """trial42-keepalive/keepalive-probe-reset-media, its DATA_START_BACKUP request (frame
    25) lost and its reply (frame 26) cut to 24 B: 3 MB of backup data flowed after it,
    no sign of a refusal, so the RST reset a running job (control_reset) as whole."""
    folder = FOLDER.parent / "trial42-keepalive"
    name = "keepalive-probe-reset-media"
    path = _cut(tmp_path, folder, name, 26, 24, request=25)
    analysis = stored_analysis(path, config_path=case_config(folder, name))
    assert [f.code for f in errors(analysis)] == ["control_reset"]
