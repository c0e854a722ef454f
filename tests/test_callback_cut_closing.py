"""The callback held only closing is not counted among a job's data connections when
the control connection's close the capture holds is a later RST (cutcb64b).

Stored captures cut as a sniffer started late would leave them (`editcap -r CAPTURE OUT
FROM-1000000`: the frames from FROM on, unchanged; the uncut capture is the truth):

- lab-trial17/mtu-blackhole-media.pcap.gz from frame 41: the media server's control FIN
  (frame 40) cut off, the callback 10.77.1.2:6021 -> 10.77.0.1:5001 first seen at the
  media server's FIN, the agent's LOG_MESSAGE (frame 44) answered by the media server's
  bare RST (frame 45). That log counted as the job speaking between the callback's
  first packet and the close (only_closing.job_spoke), so the callback was matched by
  ports as a data connection and step 2 said "no callback in the capture"
  (sessions.reset_answered).
- field47-tls-matrix/agent-killed-tls-loss.pcap.gz from frame 729: step 2 names C1
  10.77.1.2:6001 <-> 10.77.0.1:5002 (the data connection) or C2 10.77.1.2:6013 <->
  10.77.0.1:5001 (the callback) as maybe the callback, and steps 4-5 counted both as
  data connections without a word of it (verify.candidate_data).
"""

from __future__ import annotations

from pathlib import Path

from pcap_records import read_records, write_records
from stored import CAPTURES, stored_analysis

from flowcheck.traffic import Analysis


def _cut(tmp_path: Path, folder: str, name: str, first: int) -> Analysis:
    """The stored capture from frame `first` on, analysed with its .toml."""
    source = CAPTURES / folder / name
    linktype, records = read_records(source)
    capture = write_records(tmp_path / "cut.pcap", linktype, records[first - 1:])
    return stored_analysis(capture, config_path=source.with_name(name.split(".")[0] + ".toml"))


def _ports(analysis: Analysis) -> dict[frozenset[int], str]:
    return {frozenset((c.orig_p, c.resp_p)): c.uid for c in analysis.traffic.connections}


def test_a_log_answered_by_the_reset_is_no_job_speaking(tmp_path: Path) -> None:
    analysis = _cut(tmp_path, "lab-trial17", "mtu-blackhole-media.pcap.gz", 41)
    [session] = analysis.sessions
    callback = _ports(analysis)[frozenset((6021, 5001))]
    steps = {s.step: s for s in session.steps}
    assert callback not in session.data_connections, steps[4].detail
    assert callback in session.closing_only
    assert steps[2].status == "unknown"
    assert f"{callback} 10.77.1.2:6021 <-> 10.77.0.1:5001 (its FIN " in steps[2].detail, \
        steps[2].detail
    assert f"its data connection {callback}" not in steps[4].detail, steps[4].detail


def test_steps_4_and_5_say_step_2s_candidates_may_be_the_callback(tmp_path: Path) -> None:
    analysis = _cut(tmp_path, "field47-tls-matrix", "agent-killed-tls-loss.pcap.gz", 729)
    [session] = analysis.sessions
    ports = _ports(analysis)
    data, callback = ports[frozenset((6001, 5002))], ports[frozenset((6013, 5001))]
    steps = {s.step: s for s in session.steps}
    assert f"{data} 10.77.1.2:6001" in steps[2].detail and \
        f"{callback} 10.77.1.2:6013" in steps[2].detail, steps[2].detail
    assert sorted(session.data_connections) == sorted([data, callback])
    for number in (4, 5):
        assert steps[number].detail.endswith(
            f"; {data} and {callback} are counted here among the data connections, and one "
            "of them may be the callback instead (step 2: the capture cannot tell which)"), \
            steps[number].detail
