"""The two peers of Backup Exec's documented sequence, on real blocking sockets.

MediaServer (M, job engine + resident tape agent) and RemoteAgent (A) play the
TechNote's five steps over NDMP v4 (see docs/lab.md for the message sequence):
1. M binds its job-engine port (media range) and opens the control connection to A:10000;
2. A connects back to the job-engine port it was told in a vendor message (callback);
3. per resource, M sends DATA_LISTEN and A announces its data port (agent range) in the
   reply;
4. M binds the next free media-range port and connects to that endpoint;
5. A sends the backup over it (M sends for a restore), then NOTIFY_DATA_HALTED.
Each role runs inside its own network namespace (python -m flowcheck.lab media|agent).
"""

from __future__ import annotations

import errno
import socket
import sys
import threading
import time
from dataclasses import dataclass

from flowcheck.lab import ndmp_wire as wire
from flowcheck.lab.channel import ChannelClosed, Message, NdmpChannel, read_tcp_address

PortRange = tuple[int, int]
RESOURCE_NAMES = ("C:", "D:", "System State", "E:", "Microsoft SQL Server", "Exchange")
AUTH_USER = "administrator"
AUTH_PASSWORD = "lab-only"
CHUNK = 64 * 1024


def log(role: str, text: str) -> None:
    print(f"{role}: {text}", file=sys.stderr, flush=True)


def resource_name(index: int) -> str:
    if index < len(RESOURCE_NAMES):
        return RESOURCE_NAMES[index]
    return f"Volume {index + 1}"


def payload(size: int) -> bytes:
    pattern = b"flowcheck lab backup image / "
    return (pattern * (size // len(pattern) + 1))[:size]


class PortAllocator:
    """The next free port of a range, moving forward (held ports are not reused).

    A new allocator (a new job) starts again at the low end: that is how the lab makes
    the port_reused_within_hold case.
    """

    def __init__(self, port_range: PortRange, *, reuse_address: bool = False) -> None:
        self.low, self.high = port_range
        self.next_port = self.low
        self.reuse_address = reuse_address
        self._lock = threading.Lock()  # concurrent agent sessions share one allocator

    def restart(self) -> None:
        self.next_port = self.low

    def bind(self, ip: str, *, listen: bool) -> socket.socket:
        with self._lock:
            return self._bind(ip, listen=listen)

    def _bind(self, ip: str, *, listen: bool) -> socket.socket:
        for port in range(self.next_port, self.high + 1):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if listen or self.reuse_address:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((ip, port))
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRINUSE:
                    continue  # e.g. the kernel gave it to an outgoing connection
                raise
            if listen:
                sock.listen(4)
            self.next_port = port + 1
            return sock
        raise OSError(errno.EADDRNOTAVAIL, f"no free port left in {self.low}-{self.high}")


def receive_all(sock: socket.socket) -> int:
    received = 0
    while chunk := sock.recv(CHUNK):
        received += len(chunk)
    return received


def send_and_finish(sock: socket.socket, size: int, delay: float = 0.002) -> None:
    data = payload(size)
    for start in range(0, size, CHUNK):
        sock.sendall(data[start:start + CHUNK])
        # Paced a little so tcpdump keeps up on a busy 2-core runner (longer pauses keep
        # a data connection open long enough to overlap another job's).
        time.sleep(delay)
    sock.shutdown(socket.SHUT_WR)


@dataclass(slots=True)
class MediaOptions:
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


class MediaServer:
    """The job engine: runs one job (one control session) and reports success."""

    def __init__(self, options: MediaOptions) -> None:
        self.options = options
        self.ports = PortAllocator(options.media_range, reuse_address=options.reuse_ports)
        self.failures = 0

    def run(self) -> int:
        options = self.options
        job_engine = self.ports.bind("0.0.0.0", listen=True)  # step 1: job engine port
        try:
            control = socket.create_connection((options.agent_ip, options.ndmp_port),
                                               timeout=options.connect_timeout)
        except OSError as exc:
            log("media", f"control connection to {options.agent_ip}:{options.ndmp_port} "
                f"failed: {exc}")
            job_engine.close()
            return 1
        control.settimeout(30)
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
            self._drain_until_closed(control)
            if callback is not None:
                self._drain_until_closed(callback)
        except (ChannelClosed, OSError) as exc:
            log("media", f"job aborted: {exc}")
            self.failures += 1
        finally:
            control.close()
            job_engine.close()
        return 1 if self.failures else 0

    def _open_session(self, channel: NdmpChannel, control: socket.socket,
                      job_engine: socket.socket) -> socket.socket | None:
        channel.wait_for(wire.NOTIFY_CONNECTION_STATUS)
        channel.call(wire.CONNECT_OPEN, wire.connect_open_request(4))
        channel.call(wire.CONNECT_CLIENT_AUTH,
                     wire.connect_client_auth_text_request(AUTH_USER, AUTH_PASSWORD))
        channel.call(wire.CONFIG_GET_HOST_INFO)
        channel.call(wire.CONFIG_GET_SERVER_INFO)
        local_ip = control.getsockname()[0]
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
        log("media", f"callback from {peer[0]}:{peer[1]}")
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
        listener = self.ports.bind("0.0.0.0", listen=True)
        local_ip = channel.sock.getsockname()[0]
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
        agent_ip, agent_port = read_tcp_address(reply.body, 4)  # step 3: announced
        data = self.ports.bind("0.0.0.0", listen=False)  # step 4: next free media port
        data.settimeout(options.connect_timeout)
        try:
            data.connect((agent_ip, agent_port))
        except OSError as exc:
            # Backup Exec skips the resource: "Communication Failure has occurred
            # between the Job Engine and Remote Agent".
            log("media", f"{name}: data connection to {agent_ip}:{agent_port} failed: {exc}")
            data.close()
            self.failures += 1
            return None
        return data

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


@dataclass(slots=True)
class AgentOptions:
    listen_ip: str = "0.0.0.0"
    ndmp_port: int = 10000
    agent_range: PortRange = (6001, 6100)
    data_ip: str | None = None  # address announced; default: where control arrived
    data_bind: str | None = None  # address the data listener binds; default: data_ip
    sessions: int = 1
    data_bytes: int = 200_000
    restart_ports: bool = False  # every session starts again at the range's low end
    squat_data_ports: int = 0  # fault: the first N announced ports are held, not listening
    connect_timeout: float = 3.5
    session_timeout: float = 30.0
    concurrent: bool = False  # serve the sessions at the same time (one thread each)
    first_callback_delay: float = 0.0  # the first session's callback waits this long
    chunk_delay: float = 0.002  # pause after each 64 KB of backup data


class RemoteAgent:
    """RAWS: serves `sessions` control sessions one after another."""

    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self.ports = PortAllocator(options.agent_range)
        self.squatted = 0

    def run(self) -> int:
        options = self.options
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
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
        ip = socket.inet_ntoa(request.body[:4])
        port = request.u32(1)
        if self.number == 0 and self.options.first_callback_delay:
            time.sleep(self.options.first_callback_delay)  # a busy agent answers late
        try:
            self.callback = socket.create_connection((ip, port),
                                                     timeout=self.options.connect_timeout)
        except OSError as exc:
            log("agent", f"callback to job engine {ip}:{port} failed: {exc}")

    def _listen(self, request: Message) -> None:
        if self.data_listener is not None:
            self.data_listener.close()
            self.data_listener = None
        announce_ip = self.options.data_ip or self.control.getsockname()[0]
        if self.agent.squatted < self.options.squat_data_ports:
            # Fault: something else holds the port (bound, not listening); the agent
            # "does not bind to another port" and announces it anyway.
            self.agent.squatted += 1
            squatter = self.agent.ports.bind(announce_ip, listen=False)
            self.held.append(squatter)
            port = squatter.getsockname()[1]
            log("agent", f"data port {port} already in use, announced anyway")
        else:
            self.data_listener = self.agent.ports.bind(self.options.data_bind or announce_ip,
                                                       listen=True)
            port = self.data_listener.getsockname()[1]
        self.channel.reply(request, wire.data_listen_reply([(announce_ip, port)]))

    def _connect(self, request: Message) -> None:
        """DATA_CONNECT: open the data connection to the endpoint M announced, from the
        next free port of the agent range."""
        ip, port = read_tcp_address(request.body, 0)
        sock = self.agent.ports.bind(self.control.getsockname()[0], listen=False)
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
