"""The remote agent (A, RAWS) of the lab's Backup Exec imitation: the agent's side.

A listens on the NDMP port and serves control sessions (one after another, or at the
same time): it posts NOTIFY_CONNECTION_STATUS, answers the media server's requests,
calls back the job-engine port a vendor message names, and per resource binds the next
free port of its range and announces it in the DATA_LISTEN reply (or connects where
DATA_CONNECT says), sends the image, and posts NOTIFY_DATA_HALTED. Its faults: data
ports held and announced anyway, a late first callback, ports restarted per session.
The five steps: flowcheck.lab.roles.

Apart from the media server (flowcheck.lab.media_server): the two run in different
network namespaces, one process each.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.lab import ndmp_wire as wire
from flowcheck.lab.channel import ChannelClosed, Message, NdmpChannel, read_tcp_address
from flowcheck.lab.roles import (
    PortAllocator,
    PortRange,
    log,
    peer_ip,
    plain_ip,
    reached,
    receive_all,
    send_and_finish,
    tcp_socket,
    wildcard,
)
from flowcheck.lab.tls import TlsWhen, server_context


@fields_dataclass(slots=True)
class AgentOptions:
    """The agent's settings (python -m flowcheck.lab agent's flags); ports, bytes, seconds."""

    listen_ip: str = "0.0.0.0"
    ndmp_port: int = 10000
    agent_range: PortRange = (6001, 6100)
    data_ip: str | None = None  # address announced; default: where control arrived
    data_bind: str | None = None  # address the data listener binds; default: data_ip
    sessions: int = 1
    data_bytes: int = 200_000
    restart_ports: bool = False  # every session starts again at the range's low end
    squat_data_ports: int = 0  # fault: the first N announced ports are held, not listening
    refuse_listen: int = 0  # fault: the Nth DATA_LISTEN (1-based) is answered ILLEGAL_STATE_ERR
    # A second address each DATA_LISTEN reply lists after the first (NDMP v4's
    # ndmp4_addr holds a list: a host of two addresses may give both), same port.
    also_announce: str | None = None
    connect_timeout: float = 3.5
    session_timeout: float = 30.0
    concurrent: bool = False  # serve the sessions at the same time (one thread each)
    first_callback_delay: float = 0.0  # the first session's callback waits this long
    chunk_delay: float = 0.002  # pause after each 64 KB of backup data
    # "auth": go on in TLS after CONNECT_CLIENT_AUTH; "start": TLS from the first byte
    # (flowcheck.lab.tls)
    tls: TlsWhen = ""


class RemoteAgent:
    """RAWS: serves `sessions` control sessions one after another."""

    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self.ports = PortAllocator(options.agent_range)
        self.squatted = 0
        self.listens = 0  # DATA_LISTEN requests served, every session

    def run(self) -> int:
        options = self.options
        listener = tcp_socket(options.listen_ip)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((options.listen_ip, options.ndmp_port))
        listener.listen(4)
        listener.settimeout(options.session_timeout)
        print("ready", flush=True)
        threads: list[threading.Thread] = []
        status = 0
        with listener:
            for number in range(options.sessions):
                try:
                    control, peer = listener.accept()
                except TimeoutError:
                    log("agent", "no control connection came")
                    status = 1
                    break
                log("agent", f"control connection from {peer[0]}:{peer[1]}")
                if options.restart_ports:
                    self.ports.restart()
                if options.concurrent:
                    thread = threading.Thread(target=AgentSession(self, control, number).run)
                    thread.start()
                    threads.append(thread)
                else:
                    AgentSession(self, control, number).run()
        for thread in threads:
            thread.join()
        return status


class AgentSession:
    """One control session of the agent: its NDMP requests answered until CONNECT_CLOSE,
    then its sockets closed (the agent closes first)."""

    def __init__(self, agent: RemoteAgent, control: socket.socket, number: int = 0) -> None:
        self.number = number  # 0 for the first control connection accepted
        self.agent = agent
        self.options = agent.options
        self.control = control
        self.channel = NdmpChannel(control)
        self.callback: socket.socket | None = None
        self.data_listener: socket.socket | None = None
        self.data_connection: socket.socket | None = None  # opened by A (DATA_CONNECT)
        self.held: list[socket.socket] = []

    def run(self) -> None:
        self.control.settimeout(60)
        channel = self.channel
        if self.options.tls == "start":  # the handshake before the greeting
            try:
                self.control = channel.sock = server_context().wrap_socket(
                    self.control, server_side=True)
            except (OSError, subprocess.CalledProcessError) as exc:  # openssl's too
                log("agent", f"TLS on the control connection failed: {exc}")
                self.control.close()
                return
        channel.post(wire.NOTIFY_CONNECTION_STATUS,
                     wire.notify_connection_status_post(4, "Remote Agent ready"))
        try:
            while True:
                request = channel.receive()
                if request.code == wire.CONNECT_CLOSE:
                    break
                self._dispatch(request)
        except (ChannelClosed, OSError) as exc:
            log("agent", f"session ended: {exc}")
        finally:
            # The agent closes first: callback, data listener, then control.
            for sock in (self.callback, self.data_listener, self.data_connection,
                         *self.held, self.control):
                if sock is not None:
                    sock.close()

    def _dispatch(self, request: Message) -> None:
        channel = self.channel
        code = request.code
        if code in (wire.CONNECT_OPEN, wire.CONNECT_CLIENT_AUTH, wire.DATA_STOP):
            channel.reply(request, wire.error_reply())
            if code == wire.CONNECT_CLIENT_AUTH and self.options.tls == "auth":
                # The session secured in band: the media server's ClientHello comes next.
                self.control = channel.sock = server_context().wrap_socket(
                    self.control, server_side=True)
        elif code == wire.CONFIG_GET_HOST_INFO:
            channel.reply(request, wire.config_get_host_info_reply(
                "RAWS-LAB", "Windows", "5.2 Service Pack 1", "0a4d0002"))
        elif code == wire.CONFIG_GET_SERVER_INFO:
            channel.reply(request, wire.config_get_server_info_reply(
                "flowcheck lab", "Remote Agent imitation", "9.1"))
        elif code == wire.CONFIG_GET_FS_INFO:
            channel.reply(request, wire.config_get_fs_info_reply(
                [("C:", 40 << 30, 12 << 30), ("D:", 200 << 30, 80 << 30)]))
        elif code == wire.VENDOR_JOB_ENGINE_ADDRESS:
            channel.reply(request, wire.error_reply())
            self._call_back(request)
        elif code == wire.DATA_LISTEN:
            self._listen(request)
        elif code == wire.DATA_CONNECT:
            self._connect(request)
        elif code in (wire.DATA_START_BACKUP, wire.DATA_START_RECOVER):
            channel.reply(request, wire.error_reply())
            self._transfer(restore=code == wire.DATA_START_RECOVER)
        else:
            channel.reply(request, error=wire.NOT_SUPPORTED_ERR)  # header-only error reply

    def _call_back(self, request: Message) -> None:
        ip = reached(socket.inet_ntoa(request.body[:4]), peer_ip(self.control))
        port = request.u32(1)
        if self.number == 0 and self.options.first_callback_delay:
            time.sleep(self.options.first_callback_delay)  # a busy agent answers late
        try:
            self.callback = socket.create_connection((ip, port),
                                                     timeout=self.options.connect_timeout,
                                                     source_address=self._source_for(ip))
        except OSError as exc:
            log("agent", f"callback to job engine {ip}:{port} failed: {exc}")

    def _source_for(self, ip: str) -> tuple[str, int] | None:
        """The callback's source: the agent's own address, --data-bind or --listen, when
        one is a specific address of `ip`'s family (a host with two agent addresses
        answers from the agent's, not from the interface's first); else the kernel's
        choice (None)."""
        for own in (self.options.data_bind, self.options.listen_ip):
            if own and own not in ("0.0.0.0", "::") and "%" not in ip + own \
                    and (":" in own) == (":" in ip):
                return (own, 0)
        return None

    def _listen(self, request: Message) -> None:
        if self.data_listener is not None:
            self.data_listener.close()
            self.data_listener = None
        announce_ip = self.options.data_ip or plain_ip(self.control.getsockname()[0])
        # Over an IPv6 control connection the announced address is IPv4 or 0.0.0.0:
        # listen on both (the media server reaches it over either).
        bind_ip = self.options.data_bind or (
            "::" if self.control.family == socket.AF_INET6 else announce_ip)
        self.agent.listens += 1
        if self.agent.listens == self.options.refuse_listen:
            # Fault: the error in the reply's body, with no address (12 bytes of body).
            log("agent", f"DATA_LISTEN #{self.agent.listens}: answering ILLEGAL_STATE_ERR")
            self.channel.reply(request, wire.data_listen_reply([], wire.ILLEGAL_STATE_ERR))
            return
        if self.agent.squatted < self.options.squat_data_ports:
            # Fault: something else holds the port (bound, not listening); the agent
            # "does not bind to another port" and announces it anyway.
            self.agent.squatted += 1
            squatter = self.agent.ports.bind(bind_ip, listen=False)
            self.held.append(squatter)
            port = squatter.getsockname()[1]
            log("agent", f"data port {port} already in use, announced anyway")
        else:
            self.data_listener = self.agent.ports.bind(bind_ip, listen=True)
            port = self.data_listener.getsockname()[1]
        also = [(self.options.also_announce, port)] if self.options.also_announce else []
        self.channel.reply(request, wire.data_listen_reply([(announce_ip, port), *also]))

    def _connect(self, request: Message) -> None:
        """DATA_CONNECT: open the data connection to the endpoint M announced, from the
        next free port of the agent range."""
        announced, port = read_tcp_address(request.body, 0)
        ip = reached(announced, peer_ip(self.control))
        local = plain_ip(self.control.getsockname()[0])
        sock = self.agent.ports.bind(local if (":" in local) == (":" in ip) else wildcard(ip),
                                     listen=False)
        sock.settimeout(self.options.connect_timeout)
        try:
            sock.connect((ip, port))
        except OSError as exc:
            log("agent", f"data connection to {ip}:{port} failed: {exc}")
            sock.close()
            self.channel.reply(request, wire.error_reply(wire.CONNECT_ERR))
            return
        self.data_connection = sock
        self.channel.reply(request, wire.error_reply())

    def _transfer(self, *, restore: bool) -> None:
        reason = wire.DATA_HALT_SUCCESSFUL
        listener = self.data_listener
        try:
            if self.data_connection is not None:
                data, self.data_connection = self.data_connection, None
            elif listener is None:
                raise OSError("no data listener")
            else:
                listener.settimeout(self.options.connect_timeout)
                data, _peer = listener.accept()
            with data:
                data.settimeout(30)
                if restore:
                    receive_all(data)
                else:
                    send_and_finish(data, self.options.data_bytes, self.options.chunk_delay)
                    receive_all(data)  # until the media server closes its side
        except OSError as exc:
            log("agent", f"data transfer failed: {exc}")
            reason = wire.DATA_HALT_CONNECT_ERROR
        finally:
            if listener is not None:
                listener.close()
            self.data_listener = None
        operation = "Restore" if restore else "Backup"
        self.channel.post(wire.LOG_MESSAGE, wire.log_message_post(f"{operation} completed"))
        self.channel.post(wire.NOTIFY_DATA_HALTED, wire.notify_data_halted_post(reason))
