"""A range given on the command line as flowcheck's default (1025-65535), or wider
(1024-65535), is evidence of nothing, as the range left unset is not: every check that
takes a port in a range as a tie to a job asks Config.wide_ranges, what the range holds;
words about the user's settings ("First set --agent-range", ", the default", `LO-HI`)
ask Config.default_ranges, who set it (docs/findings.md "Fixes and the ranges",
docs/configuration.md). note61: `control_left_out` and `late_start` asked "equals the
default" while limit_words asked "not set", so `--agent-range 1025-65535` read "the way
lets that range through" where the same range unset did not, and `1024-65535` tied a
1 MB upload to port 8080 to a job ("this is not a capture without the job")."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_json import run_json

from flowcheck.config import build_config

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
UPLOAD = CAPTURES / "review54g" / "hosts-only-unrelated-upload.pcap.gz"
LIMITED = CAPTURES / "trial43-callback-limit" / "callback-limited-second-job.pcapng.gz"
HOSTS = ("--media-server", "10.43.1.1", "--remote-agent", "10.43.1.2")


def _analyze(capture: Path, none: Path, *flags: str) -> dict:
    """`flowcheck analyze --config NONE FLAGS CAPTURE --format json` (NONE: an empty file,
    so only the flags configure the run), in this process."""
    return run_json("analyze", "--config", str(none), *flags, "--format", "json", str(capture))


def _words(doc: dict, code: str) -> str:
    return " ".join(" ".join(f"{f['message']} {f['fix']}".split())
                    for f in doc["findings"] if f["code"] == code)


@pytest.fixture()
def none(tmp_path: Path) -> Path:
    (tmp_path / "none.toml").write_text("")
    return tmp_path / "none.toml"


def test_wide_ranges_is_what_a_range_holds_default_ranges_who_set_it() -> None:
    given = build_config(flag_values={"agent_range": "1025-65535",
                                      "media_range": "1-1024,1025-65535"})
    assert given.default_ranges() == []
    assert given.wide_ranges() == ["media", "agent"]
    narrowed = build_config(flag_values={"agent_range": "1025-65534"})
    assert narrowed.default_ranges() == ["media"]
    assert narrowed.wide_ranges() == ["media"]


@pytest.mark.parametrize("ranges", [(), ("1025-65535",), ("1024-65535",)])
def test_an_upload_between_the_hosts_is_no_job_whatever_range_holds_every_port(
        none: Path, ranges: tuple[str, ...]) -> None:
    """Review54g's upload (no NDMP at all, 10.77.0.2:40123 -> 10.77.0.1:8080, 1 MB), the
    hosts configured: the same error with the ranges unset, given as the default, or
    given as 1024-65535 (it read capture_filtered, inconclusive, "this is not a capture
    without the job" with that one: docs/findings.md no_control_session, "a range
    narrower than the default")."""
    flags = [f"--{which}-range={value}" for value in ranges for which in ("media", "agent")]
    doc = _analyze(UPLOAD, none, "--media-server", "10.77.0.1", "--remote-agent",
                   "10.77.0.2", *flags)
    codes = {f["code"] for f in doc["findings"]}
    assert doc["verdict"] == "fail", codes
    assert "no_control_session" in codes and "capture_filtered" not in codes


def test_a_callback_dropped_after_one_passed_blames_no_limit_in_a_range_of_every_port(
        none: Path) -> None:
    """trial43-callback-limit: the second job's callback dropped after the first one's
    passed. With the ranges set (its sidecar's 5001-5100 / 6001-6100) the earlier
    callback to another port of the media range reads "a limit on new connections";
    with the media range unset no range ties the two ports, and given as 1025-65535 it
    ties them no better: no limit reading either way (it read the limit with the range
    given). The words about the settings still follow who set it: the unset range's fix
    asks first to set it, the given one's does not."""
    limited = _words(_analyze(LIMITED, none, *HOSTS, "--media-range", "5001-5100",
                              "--agent-range", "6001-6100"), "callback_unanswered")
    assert "limit on new connections" in limited
    unset = _words(_analyze(LIMITED, none, *HOSTS), "callback_unanswered")
    given = _words(_analyze(LIMITED, none, *HOSTS, "--media-range", "1025-65535",
                            "--agent-range", "1025-65535"), "callback_unanswered")
    for words in (unset, given):
        assert words and "limit on new connections" not in words, words
    assert "First set --media-range and --agent-range" in unset
    assert "First set" not in given and "1025-65535 (media range)" in given, given
