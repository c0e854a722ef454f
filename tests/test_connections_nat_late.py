"""A control connection seen on both sides of a NAT, one side's capture begun late
(new-user trial 31, D2).

dumpcap -i r0 -i r1 on a router doing DNAT began recording r1 about 10 ms after r0: the
post-NAT view of the control connection lacks its handshake and first messages. It read
as a second session, started mid-job, that took the job's data connection by direction
and ports while the real session, whose DATA_CONNECT announced exactly that
connection's endpoint, read capture_filtered (INCONCLUSIVE on a healthy job).
flowcheck.connections.nat_views now joins a late view to the whole one when its
messages are the whole view's last ones, at one offset, with their payload.
"""

from __future__ import annotations

from pathlib import Path

from stored import stored_analysis

from flowcheck.connections.nat_views import fold_nat_views
from flowcheck.model import Connection, NdmpAddress, NdmpMessage, NdmpStream

CASE = (Path(__file__).resolve().parent.parent / "captures" / "trial31-dnat"
        / "dnat-art-good-dump2-late-r1.pcapng.gz")
MEDIA, PUBLIC, AGENT = "10.77.0.1", "10.77.0.254", "10.77.1.2"


def test_a_late_view_across_dnat_is_the_same_job_and_its_data_is_the_announced() -> None:
    analysis = stored_analysis(CASE)
    [session] = analysis.sessions
    assert analysis.verdict == "pass"
    assert (session.media_server, session.remote_agent) == (MEDIA, PUBLIC)
    assert [s.status for s in session.steps] == ["ok"] * 4
    # The data connection reached DATA_CONNECT's endpoint: matched by it, not by ports.
    [announced] = session.announced
    assert session.data_connections == [announced.used_by]
    assert session.port_matched == [] and session.match_reason == ""
    codes = {f.code for f in analysis.findings}
    assert not codes & {"capture_filtered", "capture_started_mid_session"}
    [views] = [f for f in analysis.findings if "on both sides of a NAT" in f.message]
    assert f"{PUBLIC} seen as {AGENT}" in views.message
    assert "begins later, without the connection's opening" in views.message


def _conn(uid: str, resp: str, ts: float, orig_bytes: int, resp_bytes: int, *,
          opened: bool) -> Connection:
    return Connection(uid=uid, orig_h=MEDIA, orig_p=5009, resp_h=resp, resp_p=10000, ts=ts,
                      syn_ts=ts if opened else None, syn_frames=[1] if opened else [],
                      orig_bytes=orig_bytes, resp_bytes=resp_bytes, first_frame=int(uid[1:]))


def _messages(start: float, count: int = 10, port: int = 5034) -> list[NdmpMessage]:
    """count messages alternating request (28 B) and reply (40 B), 10 ms apart; the
    seventh (a request) names MEDIA:port."""
    found = []
    for n in range(count):
        direction = "orig" if n % 2 == 0 else "resp"
        found.append(NdmpMessage(
            frame=n + 1, ts=start + n * 0.01, direction=direction, sequence=n // 2 + 1,
            type="request" if direction == "orig" else "reply", code=0x409, name="X",
            error=0, reply_sequence=0 if direction == "orig" else n // 2 + 1,
            addresses=[NdmpAddress(MEDIA, port)] if n == 6 else [],
            size=28 if direction == "orig" else 40))
    return found


def _late(skip: int, start: float = 1.0, **kwargs: object) -> NdmpStream:
    """The view from message `skip` on (its messages 10 ms apart from `start`)."""
    return NdmpStream(uid="C2", messages=_messages(start, **kwargs)[skip:])  # type: ignore[arg-type]


def test_a_late_view_whose_messages_are_the_last_ones_is_folded() -> None:
    whole = _conn("C1", PUBLIC, 1.0, 5 * 28, 5 * 40, opened=True)
    late = _conn("C2", AGENT, 1.0201, 3 * 28, 3 * 40, opened=False)
    kept, pairs = fold_nat_views([whole, late], [NdmpStream(uid="C1", messages=_messages(1.0)),
                                                 _late(4, 1.0001)])
    assert [c.uid for c in kept] == ["C1"]
    assert [(a.uid, b.uid) for a, b in pairs] == [("C1", "C2")]
    # The late view's first captured packet may hold the end of the message before.
    late.orig_bytes += 20
    assert fold_nat_views([whole, late], [NdmpStream(uid="C1", messages=_messages(1.0)),
                                          _late(4, 1.0001)])[1] != []


def test_a_late_view_is_not_folded_without_the_proof() -> None:
    whole = _conn("C1", PUBLIC, 1.0, 5 * 28, 5 * 40, opened=True)
    streams = [NdmpStream(uid="C1", messages=_messages(1.0))]
    late = _conn("C2", AGENT, 1.0201, 3 * 28, 3 * 40, opened=False)
    # Other messages (another announced port), another rhythm, more payload than the
    # messages hold (and the message before them), an opening of its own, too few.
    assert fold_nat_views([whole, late], [*streams, _late(4, 1.0001, port=5035)])[1] == []
    slow = _late(4, 1.0001)
    slow.messages[-1].ts += 0.5
    assert fold_nat_views([whole, late], [*streams, slow])[1] == []
    more = _conn("C2", AGENT, 1.0201, 3 * 28 + 29, 3 * 40, opened=False)
    assert fold_nat_views([whole, more], [*streams, _late(4, 1.0001)])[1] == []
    opened = _conn("C2", AGENT, 1.0201, 3 * 28, 3 * 40, opened=True)
    assert fold_nat_views([whole, opened], [*streams, _late(4, 1.0001)])[1] == []
    few = _conn("C2", AGENT, 1.0201, 28, 40, opened=False)
    assert fold_nat_views([whole, few], [*streams, _late(8, 1.0001)])[1] == []
    # Two whole views (of other beginnings) it may be the end of: nothing proven.
    twin = _conn("C3", "10.77.0.253", 1.0, 5 * 28, 5 * 40, opened=True)
    other = _messages(1.0)
    other[0].code = 0x900
    assert fold_nat_views([whole, twin, late],
                          [*streams, NdmpStream(uid="C3", messages=other),
                           _late(4, 1.0001)])[1] == []


def test_an_exact_announced_endpoint_beats_a_blind_sessions_port_match(
        tmp_path: Path) -> None:
    """The late view holding only its last three messages (too few to prove it is the
    job's control connection): it stays a second session, started mid-job, that could
    show no announcement. The data connection reached exactly the endpoint the job's
    DATA_CONNECT announced, after it: the job's, not the late view's by direction and
    ports (it was, and the job read capture_filtered)."""
    import subprocess

    late = tmp_path / "late.pcapng"
    subprocess.run(["tshark", "-r", str(CASE), "-w", str(late), "-Y",
                    f"not (ip.addr == {AGENT} and tcp.port == 10000 and frame.number < 893)"],
                   check=True, capture_output=True)
    analysis = stored_analysis(late, config_path=CASE.with_name(
        "dnat-art-good-dump2-late-r1.toml"))
    job, blind = analysis.sessions
    assert (job.remote_agent, blind.remote_agent) == (PUBLIC, AGENT)
    [announced] = job.announced
    assert job.data_connections == [announced.used_by] and job.port_matched == []
    assert [s.status for s in job.steps] == ["ok"] * 4
    assert blind.data_connections == [] and not blind.announced
    assert not any(f.code == "capture_filtered" for f in analysis.findings)
