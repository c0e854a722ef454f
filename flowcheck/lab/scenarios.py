"""The stored lab captures: what each scenario runs and what a verifier should find.

A scenario is data: namespaces' port ranges, nftables fault rules, the peers' options,
the sidecar configuration written next to the capture, and the expected verdict and
finding codes (reviewed against docs/contract's finding table, see captures/lab/README.md).
"""

from __future__ import annotations

from dataclasses import field

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.lab.ndmjob import TapePause
from flowcheck.lab.sniffer import STOP_TRIGGERS as sniffer_triggers

PortRange = tuple[int, int]
MEDIA = (5001, 5100)
AGENT = (6001, 6100)

# Only the first SYN of a connection: return traffic (SYN-ACK, ACK) must still pass.
_SYN_ONLY = "tcp flags & (syn | ack) == syn"


def drop_inbound_syn(ports: str) -> str:
    return (
        "table inet fc_fault {\n"
        "  chain input {\n"
        "    type filter hook input priority 0; policy accept;\n"
        f"    tcp dport {ports} {_SYN_ONLY} drop\n"
        "  }\n"
        "}\n"
    )


def drop_inbound_after_syn(ports: str) -> str:
    """A rule for SYN only: every inbound packet to `ports` but a SYN is dropped (no
    `ct state established` accept ahead of it), so a connection's SYN passes, its
    listener answers, and the ACK and everything after it never arrive (field check
    trial 34: the listener resends its SYN-ACK, `handshake_incomplete`)."""
    return drop_inbound_syn(ports).replace(_SYN_ONLY, "tcp flags & syn == 0")


def reject_inbound_syn(ports: str, icmp_type: str) -> str:
    """A firewall that rejects with an ICMP error instead of dropping."""
    return drop_inbound_syn(ports).replace(" drop\n", f" reject with icmp type {icmp_type}\n")


def dnat(announced: str, reached: str) -> str:
    """M's own NAT: connections M opens to `announced` go to `reached` instead (the
    capture on M's veth sees the translated packets, as on the far side of a NAT)."""
    return (
        "table ip fc_nat {\n"
        "  chain output {\n"
        "    type nat hook output priority -100; policy accept;\n"
        f"    ip daddr {announced} dnat to {reached}\n"
        "  }\n"
        "}\n"
    )


# A multi-homed agent: a second interface a9 (veth whose peer a9p stays in A) with
# 10.79.0.2. M's route to 10.79.0.0/24 leads to a gateway MAC nothing answers to (a
# permanent neighbour entry), so M's SYNs really leave its veth and get no reply.
AGENT_SECOND_ADDRESS = (
    ("a", "ip link add a9 type veth peer name a9p"),
    ("a", "ip addr add 10.79.0.2/24 dev a9"),
    ("a", "ip link set a9p up"),
    ("a", "ip link set a9 up"),
)
MEDIA_ROUTE_TO_SECOND_ADDRESS = (
    ("m", "ip neigh add 10.77.0.254 lladdr 02:00:00:00:fc:fe dev m0 nud permanent"),
    ("m", "ip route add 10.79.0.0/24 via 10.77.0.254 dev m0"),
)


# A's backup link slowed, so a 4 MB backup lasts long enough to stop its tape mid-job.
SLOW_AGENT = (("a", "tc qdisc add dev a0 root tbf rate 4mbit burst 32kbit latency 400ms"),)


@fields_dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    kind: str  # "backup-exec" (flowcheck.lab.roles) or "ndmjob"
    summary: str
    expect_verdict: str  # pass, fail or inconclusive (contract: verdict)
    expect_codes: tuple[str, ...] = ()
    media_range: PortRange = MEDIA
    agent_range: PortRange = AGENT
    second_network: bool = False
    nft_media: str | None = None
    nft_agent: str | None = None
    media_args: tuple[str, ...] = ()
    agent_args: tuple[str, ...] | None = ()  # None: no agent runs (nothing listens)
    jobs: int = 1
    resources: int = 1
    capture_interfaces: tuple[str, ...] = ()  # default: M's backup-network veth
    ndmp_port: int = 10000
    ndmp_version: int = 4
    tape_agent: str = "resident"  # ndmjob's -T: flowcheck.lab.ndmjob.TAPE_AGENTS
    kill_after: int | None = None  # seconds after which a hung ndmjob is killed
    config: dict[str, object] = field(default_factory=dict)
    concurrent: bool = False  # the jobs start together instead of one after another
    vlan: int | None = None  # backup link's frames 802.1Q-tagged (flowcheck.lab.vlan)
    capture_tool: str = "tcpdump"  # netns.CAPTURE_TOOLS
    # How the capture is shaped (flowcheck.lab.sniffer): extra tcpdump options such as
    # ("-Q", "out") or ("-s", "54"), and the packet right after which tcpdump stops.
    capture_options: tuple[str, ...] = ()
    stop_after: str | None = None  # a sniffer.STOP_TRIGGERS name
    # Commands run in M ("m") or A ("a") before the capture starts: a second address,
    # routes, NAT (flowcheck.lab.capture.run_host_commands).
    host_commands: tuple[tuple[str, str], ...] = ()
    # ndmjob: bytes of the backup source, and the DMA (with its resident tape agent, the
    # mover that reads the data connection) stopped mid-job (flowcheck.lab.ndmjob).
    data_bytes: int = 300_000
    tape_pause: TapePause | None = None

    @property
    def shaped(self) -> bool:
        """Captured by sniffer.ShapedCapture rather than netns.PacketCapture."""
        return bool(self.capture_options) or self.stop_after is not None

    @property
    def ring(self) -> bool:
        """Captured as a tcpdump ring buffer: FILE0, FILE1, ... and a flowcheck.toml."""
        return self.capture_tool == "tcpdump-ring"

    @property
    def packet_filter(self) -> str:
        # A plain "tcp" filter reads the EtherType at offset 12: 0x8100 on a tagged frame.
        return "vlan and (tcp or icmp)" if self.vlan is not None else "tcp or icmp"

    def sidecar(self) -> dict[str, object]:
        """Configuration for flowcheck matching this capture (TOML keys of config.py)."""
        base: dict[str, object] = {
            "ndmp_port": self.ndmp_port,
            "media_range": f"{self.media_range[0]}-{self.media_range[1]}",
            "agent_range": f"{self.agent_range[0]}-{self.agent_range[1]}",
            "media_servers": ["10.77.0.1"],
            "remote_agents": ["10.77.0.2"],
            "port_hold_seconds": 60,
            "resources": self.resources,
            "profile": "backup-exec-9" if self.kind == "backup-exec" else "ndmp",
        }
        if self.kind == "backup-exec":
            base["backup_network"] = "10.77.0.0/24"
        base.update(self.config)
        # A None in `config` removes a default key (no backup_network, say).
        return {key: value for key, value in base.items() if value is not None}


def _be(name: str, summary: str, verdict: str, codes: tuple[str, ...] = (), *,
        resources: int = 1, media: tuple[str, ...] = (),
        agent: tuple[str, ...] | None = (), **kwargs: object) -> Scenario:
    media_args = ("--resources", str(resources), *media)
    return Scenario(name, "backup-exec", summary, verdict, codes, media_args=media_args,
                    agent_args=agent, resources=resources, **kwargs)  # type: ignore[arg-type]


SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    _be("clean-3-resources",
        "Backup Exec job, 3 resources, all five steps, ports in range",
        "pass", resources=3),
    _be("callback-blocked",
        "M drops inbound SYNs to its media range: step 2 never answered; job ends",
        "fail", ("callback_unanswered",), nft_media=drop_inbound_syn("5001-5100")),
    _be("callback-rejected",
        "M's firewall rejects new inbound connections to 5001-5100 with ICMP "
        "admin-prohibited: step 2 refused at once; job ends",
        "fail", ("callback_refused",),
        nft_media=reject_inbound_syn("5001-5100", "admin-prohibited")),
    _be("data-port-rejected",
        "A's firewall rejects SYNs to 6001-6100 with ICMP port-unreachable: the data "
        "connection is refused by a firewall, not by the agent",
        "fail", ("data_refused",),
        nft_agent=reject_inbound_syn("6001-6100", "port-unreachable")),
    _be("data-port-in-use",
        "2 resources; the first announced agent port is held by another socket (not "
        "listening): M's SYN gets RST, resource skipped; the second resource succeeds",
        "fail", ("data_refused",), resources=2, agent=("--squat-data-ports", "1")),
    _be("tls-clean",
        "clean 3-resource job whose control connection goes on in TLS after "
        "CONNECT_CLIENT_AUTH (flowcheck.lab.tls): the announcements are encrypted, the "
        "data connections matched by direction and ports",
        "inconclusive", ("ndmp_undecodable",), resources=3, media=("--tls",),
        agent=("--tls",)),
    _be("tls-data-port-in-use",
        "data-port-in-use with the control connection in TLS after CONNECT_CLIENT_AUTH: "
        "the refusal is TCP's, seen without the announcement",
        "fail", ("data_refused", "ndmp_undecodable"), resources=2, media=("--tls",),
        agent=("--squat-data-ports", "1", "--tls")),
    _be("tls-start-clean",
        "clean 3-resource job whose control connection is TLS from its first byte "
        "(`--tls start`, flowcheck.lab.tls: the handshake before the NDMP greeting): no "
        "NDMP message readable, the data connections matched by direction and ports",
        "inconclusive", ("ndmp_undecodable",), resources=3, media=("--tls", "start"),
        agent=("--tls", "start")),
    _be("tls-start-data-port-in-use",
        "data-port-in-use with the control connection TLS from its first byte: the "
        "refusal is TCP's, seen without any NDMP message",
        "fail", ("data_refused", "ndmp_undecodable"), resources=2,
        media=("--tls", "start"), agent=("--squat-data-ports", "1", "--tls", "start")),
    _be("listen-error",
        "3 resources; A answers the 2nd DATA_LISTEN with ILLEGAL_STATE_ERR in the body, no "
        "address: M skips that resource; resources 1 and 3 succeed",
        "fail", ("ndmp_error_reply",), resources=3, agent=("--refuse-listen", "2")),
    _be("data-port-dropped",
        "A drops inbound SYNs to its agent range: the data connection is never answered",
        "fail", ("data_unanswered",), nft_agent=drop_inbound_syn("6001-6100")),
    _be("range-small-two-addresses",
        "3 resources, agent range 6001-6002, --resources not given: each DATA_LISTEN reply "
        "lists two addresses (10.77.0.2 and 10.78.0.2, one port); the callback and the "
        "first data port take the range, the second DATA_LISTEN finds no port and the "
        "agent closes: range_too_small counts the resources the job showed, one per "
        "reply, not per address",
        "fail", ("step_missing", "range_too_small"), resources=3, agent_range=(6001, 6002),
        agent=("--also-announce", "10.78.0.2"), config={"resources": None}),
    _be("ranges-overlap",
        "clean 2-resource job; agent range 5051-5150 overlaps media range 5001-5100",
        "pass", ("ranges_overlap",), resources=2, agent_range=(5051, 5150)),
    _be("port-reused-within-hold",
        "two jobs back to back (about 1 s apart): the second binds the same job-engine "
        "and data ports (SO_REUSEADDR) well inside the 60 s hold",
        "pass", ("port_reused_within_hold",), jobs=2, media=("--reuse-ports",),
        agent=("--sessions", "2", "--restart-ports")),
    _be("control-off-backup-network",
        "control and callback over 10.78.0.0/24, data over the backup network 10.77.0.0/24",
        "fail", ("control_off_backup_network",), resources=2, second_network=True,
        capture_interfaces=("m0", "m1"), media=("--agent", "10.78.0.2"),
        agent=("--data-ip", "10.77.0.2"),
        config={"media_servers": ["10.77.0.1", "10.78.0.1"],
                "remote_agents": ["10.77.0.2", "10.78.0.2"]}),
    _be("browse-only",
        "steps 1-2 and a CONFIG_GET_FS_INFO, no backup: steps 3-5 not applicable",
        "pass", media=("--browse",)),
    _be("control-refused",
        "nothing listens on the agent's NDMP port: RST",
        "fail", ("control_refused",), agent=None),
    _be("control-dropped",
        "A drops SYNs to port 10000: control connection never answered",
        "fail", ("control_unanswered",), nft_agent=drop_inbound_syn("10000")),
    _be("callback-ack-dropped",
        "M drops every inbound non-SYN packet to its job-engine port 5001: the callback's "
        "SYN-ACK is resent after the agent's ACK, which never arrives; the job fails (no "
        "callback)",
        "fail", ("handshake_incomplete",), nft_media=drop_inbound_after_syn("5001")),
    _be("control-ack-dropped",
        "A drops every inbound non-SYN packet to port 10000: A resends its SYN-ACK after "
        "M's ACKs, the control connection never opens on A's side; M gives up and closes",
        "fail", ("handshake_incomplete",), nft_agent=drop_inbound_after_syn("10000")),
    _be("data-ack-dropped",
        "A drops every inbound non-SYN packet to its agent range: the data connection's "
        "SYN-ACK is resent after M's ACK; A halts with CONNECT_ERROR",
        "fail", ("handshake_incomplete",), nft_agent=drop_inbound_after_syn("6001-6100")),
    _be("media-range-ack-dropped",
        "M drops every inbound non-SYN packet to its media range, which holds its control "
        "connection's source port: the agent's greeting is resent, never acknowledged",
        "fail", ("control_stalled",), nft_media=drop_inbound_after_syn("5001-5100")),
    _be("restore-2-resources",
        "restore of 2 resources: data flows from M to A on each data connection",
        "pass", resources=2, media=("--restore",)),
    # Other capture tools and topologies: the same jobs, captures flowcheck was not
    # written against.
    _be("concurrent-jobs",
        "two Backup Exec jobs against the same agent at the same time, 2 resources each: "
        "two control connections overlap, their data connections interleave",
        "pass", resources=2, jobs=2, concurrent=True,
        agent=("--sessions", "2", "--concurrent", "--chunk-delay", "0.05")),
    _be("concurrent-jobs-late-callback",
        "as concurrent-jobs, but the agent answers the first job's callback 0.3 s late, "
        "after the second job's callback: the callbacks arrive in the other order than "
        "their control connections (each session must keep its own callback)",
        "pass", resources=2, jobs=2, concurrent=True,
        agent=("--sessions", "2", "--concurrent", "--chunk-delay", "0.05",
               "--first-callback-delay", "0.3")),
    _be("clean-vlan",
        "clean 2-resource job over VLAN 77: both veth ends push the 802.1Q tag on egress "
        "and pop it on ingress (tc BPF), captured on M's veth: every frame carries the tag",
        "pass", resources=2, vlan=77),
    _be("data-port-dropped-any",
        "as data-port-dropped, captured with tcpdump -i any -y LINUX_SLL2 in M's namespace",
        "fail", ("data_unanswered",), nft_agent=drop_inbound_syn("6001-6100"),
        capture_tool="tcpdump-any"),
    _be("clean-dumpcap",
        "clean 2-resource job captured with Wireshark's dumpcap (pcapng)",
        "pass", resources=2, capture_tool="dumpcap"),
    _be("clean-ring",
        "clean 3-resource job of 700 KB each, captured as a tcpdump ring buffer "
        "(-C 1 -W 10: files ring.pcap0, ring.pcap1, ...); the directory is one capture set",
        "pass", resources=3, capture_tool="tcpdump-ring", agent=("--bytes", "700000")),
    _be("agent-connects-data",
        "the other pairing: per resource M listens on its next media port and sends "
        "DATA_CONNECT with that endpoint (as a MOVER_LISTEN reply would give it); the "
        "agent opens the data connection from its range: wrong direction for backup-exec-9",
        "fail", ("step_out_of_order",), resources=2, media=("--agent-connects",)),
    # Capture shapes (issue 9): clean jobs captured the way users capture them, and an
    # agent announcing an address other than the one the media server reached.
    *[_be(f"stopped-after-{trigger}",
          f"clean 1-resource job; tcpdump stopped right after {sniffer_triggers[trigger]}: "
          "the capture ends there, the job goes on and succeeds",
          "inconclusive", ("capture_ended_early",), stop_after=trigger)
      for trigger in sniffer_triggers],
    _be("one-direction-out",
        "clean 2-resource job captured with tcpdump -Q out on M's veth: only what M sends "
        "(its ACKs acknowledge the agent's data, never seen; the DATA_LISTEN replies, "
        "never seen: the data that flowed shows step 3's announcement reached M, the "
        "address it named cannot be checked)",
        "pass", ("capture_one_direction",), resources=2,
        capture_options=("-Q", "out")),
    _be("one-direction-in",
        "clean 2-resource job captured with tcpdump -Q in on M's veth: only what M "
        "receives (the agent's ACKs acknowledge M's requests, never seen); what A sends "
        "proves every step: its SYN-ACKs, the callback, the DATA_LISTEN replies, the data",
        "pass", ("capture_one_direction",), resources=2,
        capture_options=("-Q", "in")),
    # Negative controls: one-direction captures of real drops. The retransmitted SYNs are
    # the evidence the one direction still holds (the sender never got an answer).
    _be("one-direction-out-data-dropped",
        "as data-port-dropped (A drops SYNs to 6001-6100), captured with tcpdump -Q out on "
        "M's veth: M's data SYN and its retransmissions, nothing from A",
        "fail", ("data_unanswered", "capture_one_direction"),
        nft_agent=drop_inbound_syn("6001-6100"), capture_options=("-Q", "out")),
    _be("one-direction-in-callback-blocked",
        "as callback-blocked (M drops SYNs to 5001-5100), captured with tcpdump -Q in on "
        "M's veth: A's callback SYN and its retransmissions, nothing from M",
        "fail", ("callback_unanswered", "capture_one_direction"),
        nft_media=drop_inbound_syn("5001-5100"), capture_options=("-Q", "in")),
    _be("snaplen-54",
        "clean 2-resource job captured with tcpdump -s 54: every frame cut after 54 bytes "
        "(Ethernet, IPv4, the first 20 bytes of TCP): no NDMP message readable",
        "inconclusive", ("ndmp_partial",), resources=2, capture_options=("-s", "54")),
    _be("announced-other-address",
        "A has a second interface (a9, 10.79.0.2) and announces it in DATA_LISTEN; M "
        "reached A at 10.77.0.2 and its route to 10.79.0.0/24 goes to a gateway that "
        "answers nothing: the data SYNs leave M's veth, are retransmitted, never answered; "
        "resource skipped",
        "fail", ("announced_address_mismatch",), agent=("--data-ip", "10.79.0.2"),
        host_commands=(*AGENT_SECOND_ADDRESS, *MEDIA_ROUTE_TO_SECOND_ADDRESS),
        config={"backup_network": None}),
    _be("announced-address-nat",
        "as announced-other-address, but M's SYNs to 10.79.0.2 are translated (nft DNAT "
        "in M, standing in for a NAT device) to 10.77.0.2, the address M reached A on; A "
        "listens on every address: the data connection reaches the announced port under "
        "the other address and the job succeeds",
        "fail", ("announced_address_mismatch",),
        agent=("--data-ip", "10.79.0.2", "--data-bind", "0.0.0.0"),
        host_commands=(*AGENT_SECOND_ADDRESS, *MEDIA_ROUTE_TO_SECOND_ADDRESS),
        nft_media=dnat("10.79.0.2", "10.77.0.2"), config={"backup_network": None}),
    Scenario("v4-backup-port-10500", "ndmjob",
             "ndmjob daemon on port 10500, NDMP v4 three-way backup (MOVER_LISTEN + "
             "DATA_CONNECT); Wireshark does not dissect NDMP off port 10000",
             "pass", ndmp_port=10500),
    Scenario("v4-control-refused", "ndmjob",
             "no ndmjob daemon: the DMA's SYN to 10000 gets RST", "fail",
             ("control_refused",), agent_args=None),
    Scenario("v4-local-tcp", "ndmjob",
             "ndmjob -D A -T A: data and tape agent both in A's daemon, two control "
             "connections; MOVER_LISTEN answered with A's address, DATA_CONNECT tells A to "
             "connect to it: the data connection runs over A's loopback, never on the wire; "
             "ndmjob polls TAPE_GET_STATE after TAPE_CLOSE (DEV_NOT_OPEN_ERR: a warning)",
             "pass", ("ndmp_error_reply",), tape_agent="agent"),
    Scenario("v4-local-addr", "ndmjob",
             "ndmjob -D A without -T: the tape is driven through the data agent's own "
             "connection, MOVER_LISTEN and DATA_CONNECT with NDMP_ADDR_LOCAL: no TCP data "
             "connection at all (NDMP's local, 2-way backup); TAPE_GET_STATE after "
             "TAPE_CLOSE answered DEV_NOT_OPEN_ERR (a warning)",
             "pass", ("ndmp_error_reply",), tape_agent="shared"),
    Scenario("v4-three-way", "ndmjob",
             "ndmjob -D A -T M: the DMA in M drives A's data agent and M's own ndmjob daemon "
             "(its tape agent, reached over M's loopback), two control connections; "
             "MOVER_LISTEN on M's control connection and DATA_CONNECT on A's announce one "
             "endpoint, A's data agent connects to M's mover: one data connection on the "
             "wire (captured on m0 and M's lo)",
             "pass", ("ndmp_error_reply",), tape_agent="media", capture_interfaces=("m0", "lo"),
             config={"remote_agents": ["10.77.0.2", "10.77.0.1"]}),
    Scenario("v4-three-way-data-drop", "ndmjob",
             "as v4-three-way, but M's firewall drops SYNs to 5001-5100: A's data "
             "connection to the mover M announced is never answered; ndmjob hangs and is "
             "killed after 20 s",
             "fail", ("data_unanswered",), tape_agent="media", capture_interfaces=("m0", "lo"),
             nft_media=drop_inbound_syn("5001-5100"), kill_after=20,
             config={"remote_agents": ["10.77.0.2", "10.77.0.1"]}),
    Scenario("v4-tape-stopped", "ndmjob",
             "NDMP v4 backup of 4 MB slowed to 4 mbit/s (tbf in A); 2 s in, the DMA and its "
             "resident tape agent in M get SIGSTOP (a stuck tape drive: the mover stops "
             "reading the data connection, M's window closes, A probes it), 20 s later "
             "SIGKILL (the job given up: M's RST ends the data connection)", "fail",
             ("data_receiver_stalled",), host_commands=SLOW_AGENT, data_bytes=4_000_000,
             tape_pause=TapePause(after=2.0, stopped=20.0, resume=False)),
    Scenario("v4-tape-paused", "ndmjob",
             "NDMP v4 backup of 4 MB slowed to 4 mbit/s (tbf in A); 2 s in, the DMA and its "
             "resident tape agent in M get SIGSTOP (M's window closes, A probes it), SIGCONT "
             "10 s later: the window reopens and the job completes", "pass",
             ("data_receiver_stalled",), host_commands=SLOW_AGENT, data_bytes=4_000_000,
             tape_pause=TapePause(after=2.0, stopped=10.0, resume=True)),
]}
