"""Trial 13's two-host captures (captures/ndmjob-points): D2 (false pass), D3 (false
fail), D5 (silent double count) and D8's first point.

Each job was captured at once on the media server and on the agent, a router between
them. The agent's file is shifted with `editcap -t` as two machines' clocks disagree,
and given with the media server's as two files or merged with `mergecap`, as the trial
did. The copies the second file holds are recognised whatever the offset, counted once
and said, with the offset.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

POINTS = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-points"
SEGMENT = POINTS.parent / "ndmjob-segment"  # both hosts on one segment: one TTL
VOLUME = 604160  # the job's data, payload bytes (each file alone says so)


def editcap(tmp_path: Path, source: str, *options: str) -> Path:
    out = tmp_path / f"{source.split('.')[0]}{'_'.join(options)}.pcap"
    subprocess.run(["editcap", "-F", "pcap", *options, str(POINTS / source), str(out)],
                   check=True)
    return out


def mergecap(tmp_path: Path, *paths: Path, append: bool = False) -> Path:
    out = tmp_path / "merged.pcap"
    subprocess.run(["mergecap", "-F", "pcap", *(["-a"] if append else []), "-w", str(out),
                    *map(str, paths)], check=True)
    return out


def analysis(*paths: Path) -> Analysis:
    config = build_config(load_file(POINTS / "backup-media.toml"))
    return analyze(read_traffic([str(p) for p in paths], config), config)


def codes(result: Analysis) -> set[str]:
    return {f.code for f in result.findings}


def message(result: Analysis, code: str = "capture_duplicates") -> str:
    return next(f.message for f in result.findings if f.code == code)


def clock_read(said: str) -> float:
    """The offset capture_duplicates gives: "B's clock reads +65.000 s against A's"
    (the median time between a packet and its copy: the path between the hosts in it)."""
    found = re.search(r"clock reads ([+-][0-9.]+) s against", said)
    assert found, said
    return float(found.group(1))


def data_step(result: Analysis) -> str:
    [session] = result.sessions
    return next(s.detail for s in session.steps if s.name.endswith("data flows"))


def test_d2_wrong_password_fails_with_the_agents_whole_reply(tmp_path: Path) -> None:
    """The media server's capture cut to 96 bytes (the CONNECT_CLIENT_AUTH reply's error
    not in it), the agent's whole, its clock 0.3 s ahead: the agent's copy of the reply
    was read as a resend of the cut one and dropped, and the job passed."""
    media = editcap(tmp_path, "badpw-media.pcap", "-s", "96")
    agent = editcap(tmp_path, "badpw-agent.pcap", "-t", "0.3")
    result = analysis(media, agent)
    assert result.verdict == "fail"
    assert "ndmp_error_reply" in codes(result)
    assert clock_read(message(result)) == pytest.approx(0.3, abs=0.005)


@pytest.mark.parametrize("job", ["backup", "restore"])
@pytest.mark.parametrize("offset", ["0.3", "-2", "65", "3600"])
@pytest.mark.parametrize("merge", [False, True], ids=["two-files", "mergecap"])
def test_d3_d5_good_jobs_pass_counted_once(tmp_path: Path, job: str, offset: str,
                                           merge: bool) -> None:
    """A good job seen at both hosts, the agent's clock off: no control_stalled (the
    agent's copy of the control stream read as resends of bytes already ACKed), the data
    counted once (it was twice, with nothing said), the copies and the offset said."""
    media = POINTS / f"{job}-media.pcap.gz"
    agent = editcap(tmp_path, f"{job}-agent.pcap.gz", "-t", offset)
    result = analysis(mergecap(tmp_path, media, agent)) if merge else analysis(media, agent)
    assert result.verdict == "pass"
    assert codes(result) - {"ndmp_error_reply", "agent_not_seen"} == {"capture_duplicates"}
    assert data_step(result).startswith(f"{VOLUME:,} B ")
    assert f"({VOLUME:,} B of capture copies left out" in data_step(result)
    said = message(result)
    if merge:
        assert f"copies of its own packets {abs(float(offset)):.3f} s after them" in said
    else:
        assert clock_read(said) == pytest.approx(float(offset), abs=0.005)


@pytest.mark.parametrize("offset", ["0.02", "3", "-0.7"])
def test_one_segment_merged_passes_counted_once(tmp_path: Path, offset: str) -> None:
    """Both hosts on one segment (one TTL), the agent's clock off, the two captures
    merged by a plain mergecap (one interface): nothing tells the points apart but the
    copies' offset (flowcheck.connections.one_ttl). At +3 s the job read as
    control_stalled with 2,174 retransmissions; at +0.02 s it passed with every byte
    counted twice and nothing said (session 33's trial 3)."""
    agent = tmp_path / "agent.pcap"
    subprocess.run(["editcap", "-F", "pcap", "-t", offset,
                    str(SEGMENT / "backup-agent.pcap.gz"), str(agent)], check=True)
    config = build_config(load_file(SEGMENT / "backup-media.toml"))
    result = analyze(read_traffic([str(mergecap(tmp_path, SEGMENT / "backup-media.pcap.gz",
                                                agent))], config), config)
    assert result.verdict == "pass"
    assert codes(result) == {"capture_duplicates"}
    volume = 3010560
    assert data_step(result).startswith(f"{volume:,} B ")
    assert f"({volume:,} B of capture copies left out" in data_step(result)
    assert f"copies of its own packets {abs(float(offset)):.3f} s after them" in message(result)
    assert not any(c.retransmits for c in result.traffic.connections)


@pytest.mark.parametrize("offset", ["0.02", "0.7"])
def test_one_segment_merged_by_interface_says_two_points(tmp_path: Path, offset: str) -> None:
    """The same two captures merged each on an interface of its own (mergecap -I none):
    within 1 s the copies pair as a bridge's two interfaces would (relay_copies), but a
    delay this constant (every copy 20 ms, or 700 ms, after its original) is two clocks'
    offset, and the finding says so and asks for the captures alone, not for a router's
    one interface (session 33's trial 3: "up to 700.0 ms later (the time it waited in the
    queue)"). Copies on two named interfaces stay relay_copies' within copies.py's wide
    window too (copy_window.WIDE_COPY_WINDOW: its rule is for copies on one interface), so
    20 ms and 700 ms read alike, the fix asking for the capture alone."""
    agent = tmp_path / "agent.pcap"
    subprocess.run(["editcap", "-F", "pcap", "-t", offset,
                    str(SEGMENT / "backup-agent.pcap.gz"), str(agent)], check=True)
    merged = tmp_path / "merged.pcapng"
    subprocess.run(["mergecap", "-I", "none", "-F", "pcapng", "-w", str(merged),
                    str(SEGMENT / "backup-media.pcap.gz"), str(agent)], check=True)
    config = build_config(load_file(SEGMENT / "backup-media.toml"))
    result = analyze(read_traffic([str(merged)], config), config)
    assert result.verdict == "pass"
    [finding] = [f for f in result.findings if f.code == "capture_duplicates"]
    assert "two capture points' captures merged into one file" in finding.message
    assert "waited in the queue" not in finding.message
    assert "analyze its capture alone" in finding.fix
    assert "instead of -i any" not in finding.fix
    assert not any(c.retransmits for c in result.traffic.connections)


def test_d5_equal_clocks_count_every_copy_once(tmp_path: Path) -> None:
    """Equal clocks: the copies more than 0.5 ms apart across the router were counted
    (784752 B for 604160 B) under 'each byte counted once'."""
    result = analysis(POINTS / "restore-media.pcap.gz", POINTS / "restore-agent.pcap.gz")
    assert data_step(result).startswith(f"{VOLUME:,} B media server -> agent (restore)")
    assert f"({VOLUME:,} B of capture copies left out" in data_step(result)
    assert "their clocks agree" in message(result)


def test_d8_the_same_file_twice(tmp_path: Path) -> None:
    """A copy of the file given beside it (another inode) is the same capture twice; the
    very same file named twice is read once (trial 18 D10)."""
    import shutil

    media = POINTS / "backup-media.pcap.gz"
    copy = tmp_path / "copy.pcap.gz"
    shutil.copy(media, copy)
    result = analysis(media, copy)
    assert result.verdict == "pass"
    assert "the same capture given twice" in message(result)
    assert data_step(result).startswith(f"{VOLUME:,} B ")
    once = analysis(media, media)
    assert len(once.traffic.captures) == 1
    assert "capture_duplicates" not in [f.code for f in once.findings]


def test_d8_appended_captures_are_no_clock_step(tmp_path: Path) -> None:
    """mergecap -a: the agent's capture after the media server's, its times going back
    where it begins: two captures appended, not the clock set back."""
    agent = editcap(tmp_path, "backup-agent.pcap.gz")
    result = analysis(mergecap(tmp_path, POINTS / "backup-media.pcap.gz", agent, append=True))
    assert result.verdict == "pass"
    assert "two captures appended one after the other" in message(result,
                                                                 "capture_clock_stepped")
    assert "appended to the first (mergecap -a)" in message(result)
    assert data_step(result).startswith(f"{VOLUME:,} B ")


@pytest.mark.parametrize(("shift", "said"), [("-2.5", "each 2.5 s earlier in"),
                                             ("0.0004", "each 0.4 ms later in")])
def test_d8_the_same_file_twice_time_shifted(tmp_path: Path, shift: str, said: str) -> None:
    """A file and its `editcap -t` copy: the same packets, every one at one offset; not
    "at the very same times" (newuser55: said after flowcheck's own shift of 2.5 s),
    nor two capture points whose clocks agree (a shift under ALIGN_SECONDS)."""
    media = POINTS / "backup-media.pcap.gz"
    result = analysis(media, editcap(tmp_path, "backup-media.pcap.gz", "-t", shift))
    said_of = message(result)
    assert said in said_of, said_of
    assert "one copy's times shifted (editcap -t)" in said_of
    assert "very same times" not in said_of
    assert "two capture points' captures" not in said_of
    assert next(f.fix for f in result.findings
                if f.code == "capture_duplicates") == "give each capture once."
    assert data_step(result).startswith(f"{VOLUME:,} B ")
