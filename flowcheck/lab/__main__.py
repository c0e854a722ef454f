"""python -m flowcheck.lab: capture scenarios, or play one peer inside a namespace.

  capture SCENARIO FILE    run SCENARIO in fresh namespaces, write FILE and beside it
                           its configuration, FILE with .toml in place of its
                           extension (x.pcap -> x.toml; a ring's: flowcheck.toml)
  list                     scenarios and what a verifier should find
  cleanup                  delete namespaces left behind by killed runs
  matrix plan|run|one ...  the seeded fault matrix: runs whose injected fault is the
                           expected answer, judged against flowcheck analyze
  media ... / agent ...    the peers (run by `capture` inside the namespaces)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flowcheck.lab.netns import LabError
from flowcheck.lab.tls import TLS_WHEN


def _port_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LO-HI") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m flowcheck.lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    capture = commands.add_parser("capture", help="run a scenario and store its capture")
    capture.add_argument("scenario")
    capture.add_argument("output", type=Path)
    capture.add_argument("--no-sidecar", action="store_true",
                         help="do not write the configuration (x.pcap -> x.toml)")
    commands.add_parser("list", help="list scenarios")
    commands.add_parser("cleanup", help="remove stale fc* namespaces")
    from flowcheck.lab.matrix_run import add_parser as add_matrix

    add_matrix(commands)

    media = commands.add_parser("media", help="media server role (job engine)")
    media.add_argument("--agent", default="10.77.0.2")
    media.add_argument("--tls", nargs="?", const="auth", choices=TLS_WHEN, default="",
                       help="secure the control connection with TLS (agent --tls too): "
                            "'auth' (the default) in band after CONNECT_CLIENT_AUTH, "
                            "'start' from its first byte, before the NDMP greeting")
    media.add_argument("--ndmp-port", type=int, default=10000)
    media.add_argument("--media-range", type=_port_range, default=(5001, 5100))
    media.add_argument("--resources", type=int, default=3)
    media.add_argument("--bytes", type=int, default=None,
                       help="data per resource the media server sends, with --restore "
                            "only (default 200000); a backup's data is the agent's "
                            "(agent --bytes)")
    media.add_argument("--restore", action="store_true")
    media.add_argument("--browse", action="store_true", help="steps 1-2 only")
    media.add_argument("--reuse-ports", action="store_true", help="SO_REUSEADDR on data ports")
    media.add_argument("--connect-timeout", type=float, default=3.5)
    media.add_argument("--agent-connects", action="store_true",
                       help="M listens and sends DATA_CONNECT; the agent opens the data")
    media.add_argument("--job-engine-ip", default=None,
                       help="IPv4 address written in the vendor message and DATA_CONNECT "
                            "(default: the control connection's own; 0.0.0.0: where the "
                            "control connection came from); required with an IPv6 --agent")

    agent = commands.add_parser("agent", help="remote agent role")
    agent.add_argument("--listen", default="0.0.0.0")
    agent.add_argument("--ndmp-port", type=int, default=10000)
    agent.add_argument("--agent-range", type=_port_range, default=(6001, 6100))
    agent.add_argument("--data-ip", default=None,
                       help="IPv4 address announced for data (default: where control "
                            "arrived; 0.0.0.0: where the control connection came from); "
                            "required with an IPv6 --listen")
    agent.add_argument("--data-bind", default=None,
                       help="address the data listener binds (default: the announced one)")
    agent.add_argument("--sessions", type=int, default=1)
    agent.add_argument("--bytes", type=int, default=200_000)
    agent.add_argument("--restart-ports", action="store_true",
                       help="each session starts again at the low end of the agent range")
    agent.add_argument("--squat-data-ports", type=int, default=0,
                       help="fault: the first N announced data ports are held, not listening")
    agent.add_argument("--refuse-listen", type=int, default=0, metavar="N",
                       help="fault: the Nth DATA_LISTEN is answered ILLEGAL_STATE_ERR")
    agent.add_argument("--also-announce", default=None, metavar="IP",
                       help="list IP too, after the first address, in each DATA_LISTEN "
                            "reply (the same port: NDMP v4's address list)")
    agent.add_argument("--connect-timeout", type=float, default=3.5)
    agent.add_argument("--concurrent", action="store_true",
                       help="serve the sessions at the same time, not one after another")
    agent.add_argument("--first-callback-delay", type=float, default=0.0,
                       help="seconds the first session waits before its callback")
    agent.add_argument("--chunk-delay", type=float, default=0.002,
                       help="seconds to pause after each 64 KB of backup data")
    agent.add_argument("--tls", nargs="?", const="auth", choices=TLS_WHEN, default="",
                       help="secure the control connection with TLS, as media --tls "
                            "('auth' after CONNECT_CLIENT_AUTH, 'start' from the first byte)")
    return parser


def _check_addresses(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """NDMP v4's TCP address carries IPv4 only (trial 28 D17: an IPv6 address ended in a
    traceback): the address a peer writes into NDMP must be IPv4 (or 0.0.0.0), and one
    whose control connection is IPv6 must be given it; else one line, exit 2."""
    if args.command == "media":
        written, flag, peer, peer_flag = args.job_engine_ip, "--job-engine-ip", \
            args.agent, "--agent"
    elif args.command == "agent":
        written, flag, peer, peer_flag = args.data_ip, "--data-ip", args.listen, "--listen"
    else:
        return
    if written is not None and ":" in written:
        parser.error(f"{flag} {written}: NDMP v4 carries IPv4 addresses only: give an "
                     "IPv4 address, or 0.0.0.0 (where the control connection came from)")
    if written is None and ":" in peer:
        parser.error(f"{peer_flag} {peer} is IPv6 and NDMP v4 carries IPv4 addresses only: "
                     f"give {flag} (this host's IPv4 address, or 0.0.0.0: where the control "
                     "connection came from)")


def _check_bytes(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """media --bytes sizes only the data the media server sends, a restore's: in a
    backup the agent sends (agent --bytes) and a browse moves none, so there it changed
    nothing, silently (newuser65 item 7: `media --bytes 20000000` for a backup sent the
    agent's 200,000 B per resource). Given there: one line, exit 2."""
    if args.command != "media" or args.bytes is None or args.restore:
        return
    job = "a browse (--browse) moves no data" if args.browse else \
        "in a backup the agent sends the data: give the agent --bytes N"
    parser.error(f"--bytes sizes the data the media server sends, a restore's "
                 f"(--restore); {job}")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _check_addresses(parser, args)
    _check_bytes(parser, args)
    try:
        if args.command == "media":
            from flowcheck.lab.media_server import MediaOptions, MediaServer

            return MediaServer(MediaOptions(
                agent_ip=args.agent, ndmp_port=args.ndmp_port, media_range=args.media_range,
                resources=args.resources,
                data_bytes=200_000 if args.bytes is None else args.bytes, restore=args.restore,
                browse=args.browse, reuse_ports=args.reuse_ports,
                connect_timeout=args.connect_timeout,
                agent_connects=args.agent_connects,
                job_engine_ip=args.job_engine_ip, tls=args.tls)).run()
        if args.command == "agent":
            from flowcheck.lab.remote_agent import AgentOptions, RemoteAgent

            return RemoteAgent(AgentOptions(
                listen_ip=args.listen, ndmp_port=args.ndmp_port, agent_range=args.agent_range,
                data_ip=args.data_ip, data_bind=args.data_bind, sessions=args.sessions,
                data_bytes=args.bytes,
                restart_ports=args.restart_ports, squat_data_ports=args.squat_data_ports,
                refuse_listen=args.refuse_listen, connect_timeout=args.connect_timeout,
                also_announce=args.also_announce, concurrent=args.concurrent,
                chunk_delay=args.chunk_delay,
                first_callback_delay=args.first_callback_delay, tls=args.tls)).run()
        if args.command == "list":
            from flowcheck.lab.scenarios import SCENARIOS

            for scenario in SCENARIOS.values():
                codes = ", ".join(scenario.expect_codes) or "-"
                print(f"{scenario.name:30} {scenario.expect_verdict:12} {codes:28} "
                      f"{scenario.summary}")
            return 0
        if args.command == "matrix":
            from flowcheck.lab.matrix_run import run_matrix

            return run_matrix(args)
        if args.command == "cleanup":
            from flowcheck.lab.netns import cleanup_stale

            for name in cleanup_stale():
                print(f"removed {name}")
            return 0
        from flowcheck.lab.capture import capture_scenario

        result = capture_scenario(args.scenario, args.output, sidecar=not args.no_sidecar)
        print(f"{result.path}: {result.packets} packets; job exit codes "
              f"{result.job_exit_codes}"
              + ("" if args.no_sidecar else f"; configuration {result.config_path}"))
        return 0
    except LabError as exc:
        print(f"flowcheck.lab: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
