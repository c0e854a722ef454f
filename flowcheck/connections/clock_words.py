"""The words of the capture set's clock: capture_clock_stepped and
capture_written_out_of_order, and what the first tells as data (ClockStep).

flowcheck.connections.clock watches the timestamps (ClockSteps: where the clock steps
back, how the stretches behind end, each file's span); this module says what those
counts mean, once the capture is read: a clock set back (NTP or by hand), records
written out of time order (a multi-queue sniffer, files merged unsorted), or a second
capture appended (CapturePoints.appended), with what to do about each. The code that
acts on the kind (report.since, capture_loss's hedging) reads ClockStep, never the words.
"""

from __future__ import annotations

from flowcheck.connections.clock import ClockSteps
from flowcheck.durations import span_words
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.findings import make_finding
from flowcheck.frame_names import frame_text
from flowcheck.model import Finding

# capture_clock_stepped's words when it tells of a clock set back (or files joined out of
# order), not only of records written out of time order or of a second capture appended
# (ClockStep.set_back says which, for the code that acts on it: report.since).
SET_BACK_WORDS = "the capturing host's clock was set back while capturing"


@fields_dataclass(frozen=True, slots=True)
class ClockStep:
    """What the capture set's capture_clock_stepped tells, as data: the code that acts
    on its kind reads this, never the finding's words (a rewording would move the
    reports' time base and capture_loss's hedging).

    set_back: the frame where the clock first steps back when the finding tells of a
    clock set back (or capture files joined out of time order by hand: SET_BACK_WORDS;
    report.since then counts the times from before it); 0 when it tells only of records
    written out of time order or of a second capture appended (their times are right),
    or of a file read as its pieces merged by time. joined: that last, a file read as
    its pieces merged by time (connections.joined_order: its times are in order, no
    step for capture_loss to hedge on)."""

    set_back: int = 0
    joined: bool = False


def clock_step(clock: ClockSteps, appended: bool = False) -> ClockStep | None:
    """The kind of clock_finding's finding (same arguments); None when there is none."""
    if not clock.count:
        return None
    told = not appended and (clock.set_back + clock.still_behind or not clock.written)
    return ClockStep(set_back=min(step[0] for step in clock.steps) if told else 0)


def clock_finding(clock: ClockSteps, appended: bool = False) -> Finding | None:
    """capture_clock_stepped (info) naming the first step, its size and time; None
    without. Told as records written out of time order when every stretch behind ended
    with the time jumping forward again (ClockSteps), as a clock set back (or files
    joined out of order) otherwise, as both when there are both.
    appended: the capture holds a second capture point's copies of its packets at about
    the same times but apart in the file (CapturePoints.appended): the step is where that
    capture begins, not a clock set back."""
    kind = clock_step(clock, appended)
    if kind is None:
        return None
    frame, seconds, ts = clock.steps[0]
    more = f" ({clock.count} backward steps in all)" if clock.count > 1 else ""
    written = (f"records written out of time order: the time returns to where it was "
               f"after them ({clock.written} such place{'s' if clock.written > 1 else ''}; "
               "a sniffer capturing on several queues or CPUs, or files merged without "
               "sorting by time)") if clock.written else ""
    proof = clock.acks.found
    acked = (f" ({frame_text(proof[0])} acknowledges the bytes of {frame_text(proof[1])} "
             f"though stamped {span_words(proof[2])} before it)") if proof is not None else ""
    stepped = (f"{SET_BACK_WORDS}, NTP or by hand"
               f"{acked}: "
               "the packets after it stay behind; or capture files were joined out of time "
               "order, mergecap -a or cat in the wrong order: a shell glob puts ring.pcap10 "
               "before ring.pcap2") if kind.set_back else ""  # appended: not said
    why = ("two captures appended one after the other, mergecap -a: the capture holds "
           "copies of the same packets at about the same times apart in the file, "
           "capture_duplicates" if appended else "; and ".join(w for w in (written, stepped)
                                                              if w))
    sort = ("Sort the file by time with Wireshark's reordercap (reordercap IN.pcap "
            "OUT.pcap) and analyze the sorted file" if clock.written and not appended
            else "")
    steady = ("If the file was joined from several captures, give flowcheck the files or "
              "their directory instead (it orders them by time) or merge them by time "
              "(mergecap -w without -a); otherwise keep the capturing host's clock steady "
              "while capturing: synchronize it before the capture starts, and let NTP slew "
              "rather than step (chrony: makestep only at boot)."
              if stepped or appended else "")
    return make_finding(
        "capture_clock_stepped",
        f"The capture's clock steps back {span_words(seconds)} at {frame_text(frame)}{more}: "
        f"packets after it are stamped earlier than packets before ({why}). flowcheck "
        "judges the order of the job's steps by frame number (the order the sniffer "
        "wrote the packets) and by time together, never by time alone, and a connection's times "
        "(its start, its SYNs' span, its handshake) by the timestamps; durations and "
        "time limits that span a clock step are not reliable, and segments written more "
        "than 128 ms out of order may count as retransmitted.",
        (f"{sort}." + (" " if steady else "") if sort else "") + steady,
        frames=[step[0] for step in clock.steps], ts=ts)


def written_finding(clock: ClockSteps) -> Finding | None:
    """capture_written_out_of_order (info): packets stamped earlier than the packet
    written before them in their connection by less than CLOCK_STEP_SECONDS, which the
    tracker took in time order (by_time.in_time_order); None without, or when
    capture_clock_stepped already says the records were written out of time order."""
    if not clock.near or clock.near_first is None or clock.written:
        return None
    frame, seconds, ts = clock.near_first
    many = clock.near > 1
    return make_finding(
        "capture_written_out_of_order",
        f"The capture file's records are not in time order: {clock.near} "
        f"packet{'s are' if many else ' is'} stamped earlier than the packet written "
        f"before {'them' if many else 'it'} in {'their' if many else 'its'} connection "
        f"(the first at {frame_text(frame)}, {span_words(seconds)} earlier). Most likely the "
        "sniffer wrote them out of time order (a NIC with several receive queues, capture "
        "rings merged without sorting, some taps), not the network reordering them; a "
        "clock set back by less than 128 ms can look the same. flowcheck "
        "takes each connection's packets in time order, as in the file sorted by time, "
        "so a segment written after a later one counts as no retransmission, and judges "
        "the order of the job's steps by time; frame numbers stay the file's.",
        "Nothing to change for the backup. To read the packets in time order in "
        "Wireshark, sort the file: reordercap IN.pcap OUT.pcap (the sorted file numbers "
        "its frames anew).",
        frames=[frame], ts=ts)
