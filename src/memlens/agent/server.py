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
import secrets
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from memlens.agent import registry
from memlens.agent._log import LOG, log_once
from memlens.agent.addresses import TcpAddress
from memlens.agent.gcpauses import GcPauses
from memlens.agent.protocol import (
    E_BAD_REQUEST,
    E_INTERNAL,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    PROTOCOL_VERSION,
    ConnectionClosed,
    ProtocolError,
    encode,
    error,
    read_frame,
    request_id,
)
from memlens.agent.session import AgentState, Session
from memlens.agent.tracing import Tracing

MAX_CONNECTIONS = 16
FRAME_TIMEOUT_S = 10.0  # to finish a frame once begun, or to take an answer
HELLO_TIMEOUT_S = 10.0  # to say hello after connecting
HOUSEKEEP_S = 10.0  # how often an idle connection's thread looks at idle gc viewers
_MAX_UNIX_PATH = 100


class AgentStartError(RuntimeError):
    """The agent could not listen (a busy port, an unusable runtime directory)."""


@dataclass(frozen=True)
class AgentOptions:
    tcp: TcpAddress | None = None
    token: str | None = None
    name: str | None = None
    auto_restart: bool = True


@dataclass(frozen=True)
class AgentInfo:
    """Where a running agent listens."""

    pid: int
    socket: str
    tcp: str | None
    token_required: bool
    entry: str


class AgentServer:
    def __init__(self, options: AgentOptions, tracing: Tracing, gc_pauses: GcPauses) -> None:
        self.options = options
        self.owner_pid = os.getpid()
        self._tracing = tracing
        self._gc_pauses = gc_pauses
        self._listeners: list[tuple[socket.socket, str]] = []
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._stopping = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._acceptor: threading.Thread | None = None
        self._socket_path = ""
        self._entry = ""
        self.info: AgentInfo | None = None
        identity = registry.identity()
        if options.name:
            identity["name"] = options.name
        self._state = AgentState(identity, options.token, tracing, gc_pauses)

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
            directory = registry.runtime_dir()
        except OSError as exc:
            raise AgentStartError(f"memlens agent: {exc}") from None
        self._listeners.append((self._listen_unix(directory), "unix"))
        tcp_text = None
        if self.options.tcp is not None:
            tcp = self._listen_tcp(self.options.tcp)
            self._listeners.append((tcp, "tcp"))
            host, port = tcp.getsockname()[:2]
            tcp_text = str(TcpAddress(host, port))
        token_required = self.options.token is not None
        entry = {
            **self._state.identity,
            "protocol": PROTOCOL_VERSION,
            "socket": self._socket_path,
            "tcp": tcp_text,
            "token_required": token_required,
            "started": self._state.started,
        }
        self._entry = str(registry.write_entry(entry, directory))
        self._acceptor = threading.Thread(
            target=self._accept_loop, name="memlens-agent", daemon=True
        )
        self._acceptor.start()
        return AgentInfo(os.getpid(), self._socket_path, tcp_text, token_required, self._entry)

    def _listen_unix(self, directory: Path) -> socket.socket:
        path = directory / f"{os.getpid()}-{secrets.token_hex(4)}.sock"
        if len(os.fsencode(path)) > _MAX_UNIX_PATH:
            raise AgentStartError(
                f"memlens agent: the socket path {path} is too long; "
                "set XDG_RUNTIME_DIR to a shorter directory"
            )
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(path))
            self._socket_path = str(path)
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
        session = Session(self._state, transport)
        try:
            while not self._stopping and not session.closing:
                if not _wait_readable(conn, HOUSEKEEP_S if session.greeted else HELLO_TIMEOUT_S):
                    if not session.greeted:
                        break
                    self._gc_pauses.expire()
                    continue
                conn.settimeout(FRAME_TIMEOUT_S)
                try:
                    message = read_frame(conn, MAX_REQUEST_BYTES)
                except ConnectionClosed:
                    break
                except ProtocolError as exc:
                    log_once("malformed", f"memlens agent: closed a connection that sent {exc}")
                    with contextlib.suppress(OSError):
                        conn.sendall(encode(error(None, E_BAD_REQUEST, str(exc))))
                    break
                conn.sendall(_answer(session, message))
        except OSError:
            pass  # the viewer went away or stalled: its connection ends, nothing else does
        except Exception as exc:
            log_once(
                f"serve:{type(exc).__name__}", f"memlens agent: connection failed: {exc!r}", exc=exc
            )
        finally:
            with contextlib.suppress(Exception):
                session.close()
            with self._conns_lock:
                self._conns.discard(conn)
            conn.close()

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
        if self._entry:
            registry.remove_entry(os.getpid(), socket=self._socket_path)


def _answer(session: Session, message: dict[str, object]) -> bytes:
    try:
        response = session.handle(message)
    except Exception as exc:
        op = str(message.get("op"))[:32]
        log_once(f"op:{op}", f"memlens agent: {op} failed: {exc!r}", exc=exc)
        response = error(request_id(message), E_INTERNAL, f"{op} failed: {type(exc).__name__}")
    try:
        return encode(response, MAX_RESPONSE_BYTES)
    except (ProtocolError, ValueError, TypeError) as exc:
        return encode(error(request_id(message), E_INTERNAL, f"no answer could be sent: {exc}"))


def _wait_readable(conn: socket.socket, timeout: float) -> bool:
    """Waits for the next frame (or the end) without reading it; False on a quiet timeout.

    A peek on the socket itself, not select(): the host may hold more than FD_SETSIZE
    descriptors, and a selector would cost one more of them per viewer."""
    conn.settimeout(timeout)
    try:
        conn.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return False
    except BlockingIOError:
        return False
    return True


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
