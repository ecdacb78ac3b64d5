"""The listener inside the target: daemon threads that answer viewers and nothing else.

No thread here lets an exception reach the host: each body catches everything and logs a
kind of failure once. The Unix socket lives in the private runtime directory (0700), so
there is no moment when another user could reach it, and is itself made 0600 before it
listens; the umask is not used because it is process-wide and the host's own threads may
be creating files at the same moment. On Linux the peer's uid is checked as well.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import struct
import threading
import time

from memlens.agent import _entry
from memlens.agent._log import LOG, log_once
from memlens.agent._record import Record
from memlens.agent.protocol import PROTOCOL_VERSION

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from memlens.agent.addresses import TcpAddress
    from memlens.agent.connection import Handler

MAX_CONNECTIONS = 16
FRAME_TIMEOUT_S = 10.0  # to finish a frame once begun, or to take an answer
HELLO_TIMEOUT_S = 10.0  # to say hello after connecting
HOUSEKEEP_S = 10.0  # how often an idle connection's thread looks at idle gc viewers
_MAX_UNIX_PATH = 100


class AgentStartError(RuntimeError):
    """The agent could not listen (a busy port, an unusable runtime directory)."""


class AgentOptions(Record):
    __slots__ = ("auto_restart", "name", "tcp", "token")
    tcp: TcpAddress | None
    token: str | None
    name: str | None
    auto_restart: bool

    def __init__(
        self,
        tcp: TcpAddress | None = None,
        token: str | None = None,
        name: str | None = None,
        auto_restart: bool = True,
    ) -> None:
        self._set(tcp=tcp, token=token, name=name, auto_restart=auto_restart)


class AgentInfo(Record):
    """Where a running agent listens."""

    __slots__ = ("entry", "pid", "socket", "tcp", "token_required")
    pid: int
    socket: str
    tcp: str | None
    token_required: bool
    entry: str

    def __init__(
        self, pid: int, socket: str, tcp: str | None, token_required: bool, entry: str
    ) -> None:
        self._set(pid=pid, socket=socket, tcp=tcp, token_required=token_required, entry=entry)


class AgentServer:
    """Listens, and hands each viewer that speaks to the request handling (`connection`),
    which it loads when the first one does."""

    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self.owner_pid = os.getpid()
        self._listeners: list[tuple[socket.socket, str]] = []
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._stopping = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._acceptor: threading.Thread | None = None
        self._socket_path = ""
        self._entry_path = ""
        self.info: AgentInfo | None = None
        self._identity = _entry.identity()
        if options.name:
            self._identity["name"] = options.name
        self._started = time.time()
        self._handler: Handler | None = None
        self._handler_lock = threading.Lock()

    def start(self) -> AgentInfo:
        try:
            info = self._start()
        except BaseException:
            self._close_all()
            raise
        self.info = info
        return info

    def _start(self) -> AgentInfo:
        try:
            directory = _entry.runtime_dir()
        except OSError as exc:
            raise AgentStartError(f"memlens agent: {exc}") from None
        self._listeners.append((self._listen_unix(directory), "unix"))
        tcp_text = None
        if self.options.tcp is not None:
            from memlens.agent.addresses import TcpAddress

            tcp = self._listen_tcp(self.options.tcp)
            self._listeners.append((tcp, "tcp"))
            host, port = tcp.getsockname()[:2]
            tcp_text = str(TcpAddress(host, port))
        token_required = self.options.token is not None
        entry = {
            **self._identity,
            "protocol": PROTOCOL_VERSION,
            "socket": self._socket_path,
            "tcp": tcp_text,
            "token_required": token_required,
            "started": self._started,
        }
        self._entry_path = _entry.write_entry(entry, directory)
        self._acceptor = threading.Thread(
            target=self._accept_loop, name="memlens-agent", daemon=True
        )
        self._acceptor.start()
        return AgentInfo(os.getpid(), self._socket_path, tcp_text, token_required, self._entry_path)

    def _listen_unix(self, directory: str) -> socket.socket:
        path = os.path.join(directory, f"{os.getpid()}-{os.urandom(4).hex()}.sock")
        if len(os.fsencode(path)) > _MAX_UNIX_PATH:
            raise AgentStartError(
                f"memlens agent: the socket path {path} is too long; "
                "set XDG_RUNTIME_DIR to a shorter directory"
            )
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            self._socket_path = path
            os.chmod(path, 0o600)  # before listen(): until then a connect is refused anyway
            sock.listen(MAX_CONNECTIONS)
        except OSError as exc:
            sock.close()
            raise AgentStartError(f"memlens agent: cannot listen on {path}: {exc}") from None
        return sock

    def _listen_tcp(self, address: TcpAddress) -> socket.socket:
        family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
        try:
            sock = socket.create_server(
                (address.host, address.port), family=family, backlog=MAX_CONNECTIONS
            )
        except OSError as exc:
            raise AgentStartError(f"memlens agent: cannot listen on {address}: {exc}") from None
        if not address.is_loopback:
            LOG.warning(
                "memlens agent listens on %s, beyond this machine (a token is required)", address
            )
        return sock

    def _accept_loop(self) -> None:
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self._wake_r, selectors.EVENT_READ, "wake")
                for sock, transport in self._listeners:
                    selector.register(sock, selectors.EVENT_READ, transport)
                while not self._stopping:
                    for key, _ in selector.select():
                        if key.data == "wake" or self._stopping:
                            return
                        self._accept(key.fileobj, key.data)  # type: ignore[arg-type]
        except Exception as exc:
            log_once("accept-loop", f"memlens agent stopped listening: {exc!r}", exc=exc)

    def _accept(self, listener: socket.socket, transport: str) -> None:
        try:
            conn, _ = listener.accept()
        except OSError as exc:  # out of descriptors, or the peer already gone
            log_once(f"accept:{exc.errno}", f"memlens agent: accept failed: {exc}")
            time.sleep(0.1)
            return
        if not self._admit(conn, transport):
            conn.close()
            return
        name = f"memlens-agent-conn-{transport}"
        try:
            threading.Thread(
                target=self._serve, args=(conn, transport), name=name, daemon=True
            ).start()
        except RuntimeError as exc:  # no thread to be had: this viewer waits for none
            log_once("thread", f"memlens agent: refused a viewer: {exc}")
            with self._conns_lock:
                self._conns.discard(conn)
            conn.close()

    def _admit(self, conn: socket.socket, transport: str) -> bool:
        if transport == "unix" and not _same_user(conn):
            log_once("peer-uid", "memlens agent: refused a connection from another user")
            return False
        with self._conns_lock:
            if len(self._conns) >= MAX_CONNECTIONS or self._stopping:
                log_once(
                    "too-many", f"memlens agent: more than {MAX_CONNECTIONS} viewers; refused one"
                )
                return False
            self._conns.add(conn)
        return True

    def _serve(self, conn: socket.socket, transport: str) -> None:
        try:
            # A peer that hangs up unheard (`memlens ls` checks that an agent is alive by
            # connecting) or says nothing loads nothing.
            if _speaks(conn, HELLO_TIMEOUT_S):
                self._handling().serve(conn, transport, self._is_stopping)
        except OSError:
            pass  # the viewer went away or stalled: its connection ends, nothing else does
        except Exception as exc:
            log_once(
                f"serve:{type(exc).__name__}", f"memlens agent: connection failed: {exc!r}", exc=exc
            )
        finally:
            with self._conns_lock:
                self._conns.discard(conn)
            conn.close()

    def _handling(self) -> Handler:
        """The request handling, loaded and set up for the first viewer that speaks: on a
        thread of the agent's own, never the host's, and once however many arrive."""
        with self._handler_lock:
            if self._handler is None:
                from memlens.agent.connection import Handler

                self._handler = Handler(self._identity, self.options.token, self._started)
            return self._handler

    def _is_stopping(self) -> bool:
        return self._stopping

    def stop(self) -> None:
        """Stops listening, hangs up on viewers, and removes the socket file and entry."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._acceptor is not None and self._acceptor is not threading.current_thread():
            self._acceptor.join(timeout=2.0)
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._close_all()

    def abandon(self) -> None:
        """In a forked child: lets go of the parent's descriptors without touching them.

        shutdown() would hang up the parent's viewers and unlink() would remove its socket;
        close() only drops this process's copies."""
        self._stopping = True
        for sock, _ in self._listeners:
            sock.close()
        for conn in list(self._conns):
            conn.close()
        self._wake_r.close()
        self._wake_w.close()

    def _close_all(self) -> None:
        for sock, _ in self._listeners:
            sock.close()
        self._wake_r.close()
        self._wake_w.close()
        if os.getpid() != self.owner_pid:
            return
        if self._socket_path:
            with contextlib.suppress(OSError):
                os.unlink(self._socket_path)
        if self._entry_path:
            _entry.remove_entry(os.getpid(), socket=self._socket_path)


def _speaks(conn: socket.socket, timeout: float) -> bool:
    """Whether the peer sends something (left unread) before `timeout`; False when it
    hangs up or stays quiet. A peek on the socket itself, not select(): see
    `connection.wait_readable`."""
    conn.settimeout(timeout)
    try:
        return bool(conn.recv(1, socket.MSG_PEEK))
    except (TimeoutError, BlockingIOError):
        return False


def _same_user(conn: socket.socket) -> bool:
    """The peer runs as this process's user, or as root (Linux; elsewhere the directory's
    permissions are the only guard)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", creds)
    except OSError:
        return False
    return uid in (os.getuid(), 0)
