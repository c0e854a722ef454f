"""Session 34's trial B: large real jobs and awkward inputs (captures/trial34-big)."""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

CASES = Path(__file__).resolve().parent.parent / "captures" / "trial34-big"


def test_acks_lost_on_the_way_to_the_sender_name_the_senders_firewall() -> None:
    """The agent's input chain dropped the media server's ACKs mid-transfer; the capture,
    on the media server, holds the ACKs and the agent's resends. The host firewall to
    look at is the agent's; it named the media server's, and asked for a capture there
    (where this one was taken) to see whether the resends reach it."""
    name = "agent-input-drops-mid-transfer"
    config = build_config(load_file(CASES / f"{name}.toml"))
    result = analyze(read_traffic([str(CASES / f"{name}.pcap.gz")], config), config)
    [stalled] = [f for f in result.findings if f.code == "data_stalled"]
    assert "its ACKs are in the capture but never reached 10.88.0.2" in stalled.message
    assert "host firewall or IPS on 10.88.0.2 that blocks this flow" in stalled.message
    assert "a capture on 10.88.0.2 shows whether 10.88.0.1's ACKs reach it" in stalled.message
    assert "on 10.88.0.1 that blocks" not in stalled.message
    assert "security software on 10.88.0.2" in stalled.fix


def test_snap96_ndmjob_with_no_profile_given_is_judged_as_plain_ndmp() -> None:
    """ndmjob captured with -s 96, no profile given: DATA_CONNECT's address cut, the
    agent's 5 MB connection to the mover (after it) read as Backup Exec's callback, which
    failed the job (announced_not_used). No Backup Exec sign (no vendor message, no
    connection from the agent before the announcement): judged by the ndmp profile
    (profile_inferred, new-user trial 54), under which it passes, as with --profile
    ndmp given (step 2 ok on the data C2 carried, whether DATA_CONNECT named the address
    C2 reached unchecked: its address cut). With --profile backup-exec-9 given, the old reading: it
    names that connection and leads with --profile ndmp."""
    name = "ndmjob-snap96-default-profile"
    path = str(CASES / f"{name}.pcap.gz")
    config = build_config(load_file(CASES / f"{name}.toml"))
    result = analyze(read_traffic([path], config), config)
    assert result.verdict == "pass"
    assert result.profile is not None and result.profile.name == "ndmp"
    assert sorted(f.code for f in result.findings) == ["ndmp_partial", "profile_inferred"]
    [session] = result.sessions
    assert [s.status for s in session.steps] == ["ok"] * 4
    assert "whether it named the address C2 reached cannot be checked" in " ".join(
        session.steps[1].detail.split())
    plain = build_config(load_file(CASES / f"{name}.toml"), {"profile": "ndmp"})
    assert analyze(read_traffic([path], plain), plain).verdict == "pass"
    chosen = build_config(load_file(CASES / f"{name}.toml"), {"profile": "backup-exec-9"})
    result = analyze(read_traffic([path], chosen), chosen)
    [found] = [f for f in result.findings if f.code == "announced_not_used"]
    assert "read as the callback (step 2): C2 10.88.0.2:6081 -> 10.88.0.1:5076" in \
        found.message
    assert "in plain NDMP C2 is this data connection" in found.message
    assert found.fix.startswith("Analyze the capture again with --profile ndmp")
