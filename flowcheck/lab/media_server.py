"""The media server (M) of the lab's Backup Exec imitation: the job engine's side.

M runs one job: it binds its job-engine port, opens the control connection to the
remote agent, authenticates, tells the agent where to call back (a vendor message) and
waits for the callback, then per resource asks the agent to listen (DATA_LISTEN, the
announced endpoint in the reply) and connects to it from the next free port of its
range, or, the other pairing, listens itself and sends DATA_CONNECT; then
DATA_START_BACKUP (or _RECOVER), the image, NOTIFY_DATA_HALTED, DATA_STOP. A failed
resource is skipped as Backup Exec skips it. The five steps: flowcheck.lab.roles.

Apart from the remote agent (flowcheck.lab.remote_agent): the two run in different
network namespaces, one process each.
"""

from __future__ import annotations

import socket

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.lab import ndmp_wire as wire
from flowcheck.lab.channel import ChannelClosed, NdmpChannel, read_tcp_address
from flowcheck.lab.roles import (
    CHUNK,
    PortAllocator,
    PortRange,
    log,
    peer_ip,
    plain_ip,
    reached,
    receive_all,
    send_and_finish,
    sockaddr,
    wildcard,
)
from flowcheck.lab.tls import TlsWhen, client_context

RESOURCE_NAMES = ("C:", "D:", "System State", "E:", "Microsoft SQL Server", "Exchange")
AUTH_USER = "administrator"
AUTH_PASSWORD = "lab-only"


def resource_name(index: int) -> str:
    """The name of resource number index (from 0): a Windows server's usual selections,
    then "Volume N"."""
    if index < len(RESOURCE_NAMES):
        return RESOURCE_NAMES[index]
    return f"Volume {index + 1}"


@fields_dataclass(slots=True)
class MediaOptions:
    """One job's settings (python -m flowcheck.lab media's flags); ports, bytes, seconds."""

    agent_ip: str = "10.77.0.2"
    ndmp_port: int = 10000
    media_range: PortRange = (5001, 5100)
    resources: int = 3
    data_bytes: int = 200_000
    restore: bool = False
    browse: bool = False
    reuse_ports: bool = False
    connect_timeout: float = 3.5
    agent_connects: bool = False  # M listens and announces (DATA_CONNECT); A connects
    # The IPv4 address M writes into NDMP (vendor message, DATA_CONNECT); default: the
    # control connection's own address. 0.0.0.0: "where the control connection came
    # from" (an IPv6 job: NDMP v4's TCP address is IPv4 only).
    job_engine_ip: str | None = None
    # "auth": go on in TLS after CONNECT_CLIENT_AUTH; "start": TLS from the first byte
    # (flowcheck.lab.tls)
    tls: TlsWhen = ""


class MediaServer:
    """The job engine: runs one job (one control session) and reports success."""

    def __init__(self, options: MediaOptions) -> None:
        self.options = options
        self.ports = PortAllocator(options.media_range, reuse_address=options.reuse_ports)
        self.failures = 0

    def run(self) -> int:
        options = self.options
        # Step 1: the job engine port (dual-stack for an IPv6 agent: the callback may
        # come over either).
        job_engine = self.ports.bind(wildcard(options.agent_ip), listen=True)
        try:
            control = socket.create_connection((options.agent_ip, options.ndmp_port),
                                               timeout=options.connect_timeout)
        except OSError as exc:
            log("media", f"control connection to {options.agent_ip}:{options.ndmp_port} "
                f"failed: {exc}")
            job_engine.close()
            return 1
        control.settimeout(30)
        if options.tls == "start":  # TLS before the agent's greeting (flowcheck.lab.tls)
            try:
                control = client_context().wrap_socket(control)
            except OSError as exc:
                log("media", f"TLS handshake on the control connection failed: {exc}")
                control.close()
                job_engine.close()
                return 1
        channel = NdmpChannel(control)
        try:
            callback = self._open_session(channel, control, job_engine)
            if callback is None:
                self.failures += 1
            elif options.browse:
                channel.call(wire.CONFIG_GET_FS_INFO)
            else:
                for index in range(options.resources):
                    self._run_resource(channel, index)
            channel.request(wire.CONNECT_CLOSE)
            self._drain_until_closed(channel.sock)
            if callback is not None:
                self._drain_until_closed(callback)
        except (ChannelClosed, OSError) as exc:
            log("media", f"job aborted: {exc}")
            self.failures += 1
        finally:
            channel.sock.close()  # the control connection (in TLS with --tls)
            job_engine.close()
        return 1 if self.failures else 0

    def _open_session(self, channel: NdmpChannel, control: socket.socket,
                      job_engine: socket.socket) -> socket.socket | None:
        channel.wait_for(wire.NOTIFY_CONNECTION_STATUS)
        channel.call(wire.CONNECT_OPEN, wire.connect_open_request(4))
        channel.call(wire.CONNECT_CLIENT_AUTH,
                     wire.connect_client_auth_text_request(AUTH_USER, AUTH_PASSWORD))
        if self.options.tls == "auth":  # the session secured in band (flowcheck.lab.tls)
            channel.sock = control = client_context().wrap_socket(control)
        channel.call(wire.CONFIG_GET_HOST_INFO)
        channel.call(wire.CONFIG_GET_SERVER_INFO)
        local_ip = self._own_ip(control)
        job_engine_port = job_engine.getsockname()[1]
        channel.call(wire.VENDOR_JOB_ENGINE_ADDRESS,
                     wire.vendor_job_engine_request(local_ip, job_engine_port))
        # Step 2: the agent answers on the job engine port.
        job_engine.settimeout(self.options.connect_timeout + 2)
        try:
            callback, peer = job_engine.accept()
        except TimeoutError:
            log("media", f"no callback to job engine port {job_engine_port}")
            return None
        log("media", f"callback from {plain_ip(peer[0])}:{peer[1]}")
        return callback

    def _run_resource(self, channel: NdmpChannel, index: int) -> None:
        options = self.options
        name = resource_name(index)
        data = (self._data_from_agent(channel, name) if options.agent_connects
                else self._data_to_agent(channel, name))
        if data is None:
            return
        data.settimeout(30)
        env = [("FILESYSTEM", name), ("TYPE", "dump"), ("HIST", "n")]
        with data:
            if options.restore:
                channel.call(wire.DATA_START_RECOVER,
                             wire.data_start_recover_request(env, [name], "dump"))
                send_and_finish(data, options.data_bytes)  # step 5, restore direction
                receive_all(data)
            else:
                channel.call(wire.DATA_START_BACKUP, wire.data_start_backup_request("dump", env))
                received = receive_all(data)  # step 5: the backup image
                log("media", f"{name}: received {received} bytes")
        halted = channel.wait_for(wire.NOTIFY_DATA_HALTED)
        if halted.u32(0) != wire.DATA_HALT_SUCCESSFUL:
            self.failures += 1
        channel.call(wire.DATA_STOP)

    def _data_from_agent(self, channel: NdmpChannel, name: str) -> socket.socket | None:
        """The other pairing: M listens on the next media port (as a MOVER_LISTEN reply
        would announce it) and tells A to connect there with DATA_CONNECT."""
        listener = self.ports.bind(wildcard(self.options.agent_ip), listen=True)
        local_ip = self._own_ip(channel.sock)
        port = listener.getsockname()[1]
        with listener:
            listener.settimeout(self.options.connect_timeout + 2)
            reply = channel.call(wire.DATA_CONNECT, wire.data_connect_request([(local_ip, port)]))
            if reply.error or reply.u32(0):
                log("media", f"{name}: DATA_CONNECT failed (error {reply.error or reply.u32(0)})")
                self.failures += 1
                return None
            try:
                data, peer = listener.accept()
            except TimeoutError:
                log("media", f"{name}: the agent never connected to {local_ip}:{port}")
                self.failures += 1
                return None
        log("media", f"{name}: data connection from {peer[0]}:{peer[1]}")
        return data

    def _data_to_agent(self, channel: NdmpChannel, name: str) -> socket.socket | None:
        options = self.options
        reply = channel.call(wire.DATA_LISTEN, wire.data_listen_request())
        if reply.error or reply.u32(0):
            log("media", f"{name}: DATA_LISTEN failed (error {reply.error or reply.u32(0)})")
            self.failures += 1
            return None
        announced, agent_port = read_tcp_address(reply.body, 4)  # step 3: announced
        agent_ip = reached(announced, peer_ip(channel.sock))
        data = self.ports.bind(wildcard(agent_ip), listen=False)  # step 4: next free port
        data.settimeout(options.connect_timeout)
        try:
            data.connect(sockaddr(agent_ip, agent_port))
        except OSError as exc:
            # Backup Exec skips the resource: "Communication Failure has occurred
            # between the Job Engine and Remote Agent".
            log("media", f"{name}: data connection to {agent_ip}:{agent_port} failed: {exc}")
            data.close()
            self.failures += 1
            return None
        return data

    def _own_ip(self, control: socket.socket) -> str:
        """The address M writes into NDMP: --job-engine-ip, else the control
        connection's own (IPv4: python -m flowcheck.lab checks it)."""
        return self.options.job_engine_ip or plain_ip(control.getsockname()[0])

    @staticmethod
    def _drain_until_closed(sock: socket.socket) -> None:
        """Wait for the agent to close first (it owns the TIME_WAIT, as RAWS would)."""
        sock.settimeout(5)
        try:
            while sock.recv(CHUNK):
                pass
        except OSError:
            pass
        sock.close()
