"""Trial 20 D9: the first screen of `analyze` on an 80x24 terminal carries the answer:
under the verdict, each failing session's cause and fix (its first error's, short),
naming the finding. Before, the first explanation started on line 27 to 60."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from rich.console import Console

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.analyze import render_analysis
from flowcheck.report.answer import answer_rows, gist

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


@functools.cache
def _lab(name: str) -> Analysis:
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(LAB / f"{name}.pcap")], config), config)


@pytest.mark.parametrize(("name", "code", "cause", "fix"), [
    ("callback-blocked", "callback_unanswered", "10.77.0.1:5001 (step 2) and never got an "
     "answer", "allow TCP from 10.77.0.2 to 10.77.0.1 ports 5001-5100 (media range)"),
    ("control-refused", "control_refused", "refused the control connection from "
     "10.77.0.1 with a RST", "start the Remote Agent service on 10.77.0.2"),
    ("data-port-dropped", "data_unanswered", "10.77.0.2:6001 was never answered",
     "allow TCP from 10.77.0.1 to 10.77.0.2 ports 6001-6100 (agent range)"),
    ("listen-error", "ndmp_error_reply", "DATA_LISTEN was answered ILLEGAL_STATE_ERR", ""),
])
def test_the_first_screen_says_why_and_what_to_do(name: str, code: str, cause: str,
                                                   fix: str) -> None:
    console = Console(width=80, record=True, force_terminal=True, color_system=None)
    render_analysis(_lab(name), console, ladder=None)
    screen = console.export_text().splitlines()[:24]
    first = " ".join(" ".join(screen).split())
    assert first.startswith("FAIL ")
    assert "cause: " in first and "fix: " in first
    assert cause in first and fix in first
    assert f"(see {code} under Findings and in 'flowcheck docs findings {code}')" in first
    # The answer comes before the session's step table.
    assert first.index("fix: ") < first.index("Session S1:")


def test_an_ok_or_inconclusive_session_gets_no_answer() -> None:
    for name in ("clean-3-resources", "stopped-after-callback-syn"):
        [session] = _lab(name).sessions
        assert answer_rows(session, _lab(name).findings) == []


def test_a_fix_already_given_is_not_repeated() -> None:
    analysis = _lab("callback-blocked")
    [session] = analysis.sessions
    told: dict[str, str] = {}
    first = answer_rows(session, analysis.findings, told)
    again = answer_rows(session, analysis.findings, told)
    assert first[0] == again[0]
    # The findings page is named the first time a report points under Findings only
    # (newuser59), the fix's pointer after that the bare code.
    assert first[1][1].endswith(
        "(see callback_unanswered under Findings and in "
        "'flowcheck docs findings callback_unanswered')")
    assert again[1] == ("fix:", "as for S1 (see callback_unanswered under Findings)")


def test_gist_keeps_the_first_sentence_without_long_asides() -> None:
    text = ("The listener could not open a data port: free ports in 6001-6100 (agent "
            "range) or widen it (a port in use skips the resource: \"Communication "
            "Failure has occurred\"). Then run the job again.")
    assert gist(text) == ("The listener could not open a data port: free ports in "
                          "6001-6100 (agent range) or widen it")


def test_gist_ends_at_a_clause_break_never_inside_a_word() -> None:
    text = ("Allow TCP from 10.77.0.2 to 10.77.0.1 ports 5001-5100 (media range) inbound on "
            "the media server; check the service, and more words follow here.")
    assert gist(text, 100) == ("Allow TCP from 10.77.0.2 to 10.77.0.1 ports 5001-5100 "
                               "(media range) inbound on the media server")
    # No break to end at: the sentence whole, never cut mid-sentence (newuser56).
    whole = "word " * 30 + "10.77.0.2:6001 and more words"
    assert gist(whole, 160) == whole
    # Nor ended on a one-word clause ("...; else: ...", newuser56's "...; else (see").
    fix = ("Look for a limit on new connections and raise the limit above what a job "
           "opens at once; else: allow TCP from 10.77.0.1 to 10.77.0.2 ports 6001-6100 "
           "(agent range) outbound on the media server and inbound on the agent")
    assert gist(fix, 120) == ("Look for a limit on new connections and raise the limit "
                              "above what a job opens at once")


def test_gist_does_not_end_on_a_condition_or_half_an_either_or() -> None:
    fix = ("If the port was in use: free it or widen the range so each resource gets its "
           "own port; if a firewall rejects it: allow TCP from 10.77.0.1 to 10.77.0.2 "
           "ports 6001-6100 (agent range) outbound on the media server and inbound on the "
           "agent, and its return traffic.")
    assert gist(fix, 150) == ("If the port was in use: free it or widen the range so each "
                              "resource gets its own port")
    cause = ("The data connection was refused: 10.77.0.2:6001 answered the SYN with a RST: "
             "either nothing listens there because the port was already in use, or a "
             "firewall rejects it, and more words follow here to make it long enough.")
    assert gist(cause, 150) == ("The data connection was refused: 10.77.0.2:6001 answered "
                                "the SYN with a RST")
    # Without "either" too: the first alternative alone reads as the cause (review 56m:
    # a bridge's reject, netns r56m, read "cause: ... a firewall on fd77::2").
    cause = ("The agent's NDMP port [fd77::2]:10000 refused the control connection from "
             "fd77::1 with an ICMPv6 port unreachable (code 4): a firewall on fd77::2, or a "
             "bridge (transparent) firewall in front of fd77::2 answering in its name, "
             "rejects it (a closed TCP port answers a SYN with a RST).")
    assert gist(cause) == ("The agent's NDMP port [fd77::2]:10000 refused the control "
                           "connection from fd77::1 with an ICMPv6 port unreachable (code 4)")


def test_gist_keeps_both_directions_of_a_rule_together() -> None:
    """Trial 23 D8: a dropped callback whose SYNs or SYN-ACKs may be the ones lost: the
    summary's fix was cut to the inbound rule (which already existed) at ", and TCP from
    ... back to", leaving out the outbound half that cured it."""
    text = ("Allow TCP from 10.77.0.2 to 10.77.0.1 ports 5001-5100 (media range) inbound on "
            "the media server, and TCP from 10.77.0.1 ports 5001-5100 back to 10.77.0.2 "
            "ports 6001-6100 outbound on the media server; check the service. More.")
    assert gist(text, 100) == ("Allow TCP from 10.77.0.2 to 10.77.0.1 ports 5001-5100 "
                               "(media range) inbound on the media server, and TCP from "
                               "10.77.0.1 ports 5001-5100 back to 10.77.0.2 ports 6001-6100 "
                               "outbound on the media server")


@pytest.mark.parametrize(("name", "back"), [
    ("callback-blocked", "TCP from 10.77.0.1 ports 5001-5100 back to 10.77.0.2 ports "
     "6001-6100 (the agent range: this connection's source port 6087 is drawn from it anew "
     "each time) outbound on the media server"),
    ("data-port-dropped", "TCP from 10.77.0.2 ports 6001-6100 back to 10.77.0.1 ports "
     "5001-5100 (the media range: this connection's source port 5002 is drawn from it anew "
     "each time) outbound on the agent"),
])
def test_the_summary_fix_names_both_directions_when_either_may_be_lost(name: str,
                                                                       back: str) -> None:
    """Trial 23 D8: the finding cannot tell the SYNs' drop from the SYN-ACKs', so the fix
    under the verdict names the rule for each, as the finding's own fix does."""
    analysis = _lab(name)
    [session] = analysis.sessions
    rows = dict(answer_rows(session, analysis.findings))
    assert back in rows["fix:"], rows["fix:"]
    assert "inbound on" in rows["fix:"].split(", and TCP from")[0]


def test_the_answer_lines_hang_under_their_label_with_no_trailing_spaces() -> None:
    """Piped at 200 columns the cause and fix lines were padded with spaces to the width
    (a rich grid): a diff of two reports, or a grep for a line's end, met them."""
    console = Console(width=120, record=True, color_system=None)
    render_analysis(_lab("data-port-dropped"), console, ladder=None)
    lines = console.export_text().splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("    cause: "))
    answer = lines[start:start + 4]
    assert all(line == line.rstrip() for line in answer), answer
    wrapped = [line for line in answer[1:] if not line.startswith("    fix:")]
    assert wrapped and all(line.startswith(" " * 11) for line in wrapped[:1]), answer


def test_the_summary_fix_keeps_its_qualifier_and_findings_do_not_repeat_it() -> None:
    """newuser56 on the README's first command: the fix under the verdict left out "(the
    SYN-ACK's way: established connections)", so a firewall admin could open a wider
    return rule than needed; and the report printed the fix twice (under the verdict and
    under Findings). The summary's fix is now the fix's first sentence whole, said once:
    the finding points to it and leads with its cause, the detail after."""
    analysis = _lab("data-port-dropped")
    [error] = [f for f in analysis.findings if f.code == "data_unanswered"]
    rule = error.fix.split(". ")[0]
    assert "(the SYN-ACK's way: established connections)" in rule
    console = Console(width=100, record=True, color_system=None)
    render_analysis(analysis, console, ladder=None)
    report = " ".join(console.export_text().split())
    assert report.count(rule[1:]) == 1, report  # "allow ..." under the verdict only
    assert (f"fix: a{rule[1:]} (see data_unanswered under Findings and in "
            "'flowcheck docs findings data_unanswered')") in report
    assert "Fix: as under the verdict (S1). Also: If this capture was taken on 10.77.0.2" \
        in report
    # The rest of the fix is still told, once.
    assert report.count("prints these rules for nft, iptables, PowerShell and netsh") == 1
    # newuser59: the pointer to the page that explains the code, once in the report.
    assert report.count("'flowcheck docs findings") == 1


def test_a_fix_after_the_ranges_advice_is_not_repeated_either() -> None:
    """The same capture with flowcheck's default ranges: the fix starts "First set
    --media-range and --agent-range ...: ... Until then, for this job: allow TCP ...";
    the summary gives the rule and the advice as a note, and the finding keeps the
    advice and points to the rule (it printed the rule a second time)."""
    config = build_config({})
    analysis = analyze(read_traffic([str(LAB / "data-port-dropped.pcap")], config), config)
    [error] = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert error.fix.startswith("First set --media-range and --agent-range")
    console = Console(width=100, record=True, color_system=None)
    render_analysis(analysis, console, ladder=None)
    report = " ".join(console.export_text().split())
    assert report.count("back to 10.77.0.1 ports in its dynamic (ephemeral) range") == 1, report
    assert "Until then, for this job: as under the verdict (S1). Also: " in report
