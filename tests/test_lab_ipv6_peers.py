"""The lab's peers over IPv6 (new-user trial 28, D17).

`python -m flowcheck.lab agent --listen fd77::2` and `media --agent fd77::2` ended in
tracebacks (an AF_INET listener; the vendor message encoding the control connection's
IPv6 address as IPv4). NDMP v4's TCP address carries IPv4 only, so an IPv6 peer writes
an IPv4 address it is given (`--job-engine-ip`, `--data-ip`), or 0.0.0.0 for "where the
control connection came from", which the other peer then reaches under the control
connection's address. Without it, one line and exit 2. Run on the loopback here: both
peers in one process, the agent in a thread.
"""

from __future__ import annotations

import socket
import threading

import pytest

from flowcheck.lab.__main__ import main
from flowcheck.lab.media_server import MediaOptions, MediaServer
from flowcheck.lab.remote_agent import AgentOptions, RemoteAgent


def _free_port(family: int, host: str) -> int:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _job(agent: AgentOptions, media: MediaOptions) -> tuple[int, list[int]]:
    """Run one job: (the media server's exit status, the agent's). The connection that
    finds the agent's listener up is the agent's first session (it ends at once): the
    agent serves two."""
    status: list[int] = []
    thread = threading.Thread(target=lambda: status.append(RemoteAgent(agent).run()))
    thread.start()
    try:
        for _ in range(100):  # the agent's listener is up
            try:
                socket.create_connection((media.agent_ip, agent.ndmp_port), 0.1).close()
                break
            except OSError:
                threading.Event().wait(0.05)
        return MediaServer(media).run(), status
    finally:
        thread.join(30)


def _options(listen: str, data_ip: str, agent: str, job_engine: str
             ) -> tuple[AgentOptions, MediaOptions]:
    port = _free_port(socket.AF_INET6, "::1")
    base = port % 2000
    agent_options = AgentOptions(listen_ip=listen, ndmp_port=port, data_ip=data_ip,
                                 agent_range=(50000 + base, 50000 + base + 20), sessions=2,
                                 session_timeout=10, connect_timeout=2)
    media = MediaOptions(agent_ip=agent, ndmp_port=port, job_engine_ip=job_engine,
                         media_range=(53000 + base, 53000 + base + 20), resources=2,
                         data_bytes=50_000, connect_timeout=2)
    return agent_options, media


def test_all_ipv6_job_with_any_address_announced() -> None:
    """Control, callback and data over IPv6: both peers announce 0.0.0.0 and are
    reached under the control connection's address."""
    agent, media = _options("::1", "0.0.0.0", "::1", "0.0.0.0")
    media_status, agent_status = _job(agent, media)
    assert (media_status, agent_status) == (0, [0])


def test_dual_stack_job_control_over_ipv6_the_rest_over_ipv4() -> None:
    """Control over IPv6, the callback and data to the IPv4 addresses announced."""
    agent, media = _options("::", "127.0.0.1", "::1", "127.0.0.1")
    media_status, agent_status = _job(agent, media)
    assert (media_status, agent_status) == (0, [0])


@pytest.mark.parametrize(("argv", "words"), [
    (["media", "--agent", "fd77::2"], "--job-engine-ip"),
    (["media", "--agent", "10.77.0.2", "--job-engine-ip", "fd77::1"], "IPv4"),
    (["agent", "--listen", "fd77::2"], "--data-ip"),
    (["agent", "--data-ip", "fd77::2"], "IPv4")])
def test_an_ipv6_address_ndmp_cannot_carry_is_one_line(
        argv: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert words in err and "NDMP" in err, err
    assert "Traceback" not in capsys.readouterr().err
