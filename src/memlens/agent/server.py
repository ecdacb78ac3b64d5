"""The listener inside the target: daemon threads that answer viewers and nothing else.

No thread here lets an exception reach the host: each body catches everything and logs a
kind of failure once. The Unix socket lives in the private runtime directory (0700), so
there is no moment when another user could reach it, and is itself made 0600 before it
listens; the umask is not used because it is process-wide and the host's own threads may
be creating files at the same moment. On Linux the peer's uid is checked as well.

Listening costs the host as little as it can: every module imported stays for good and its
objects are walked by every full collection of the host's garbage collector. So this uses
the C modules under `socket`, `threading`, `selectors` and `os` (`_socket`, `_thread`,
`select`, `posix`), which add a few dozen objects where those add thousands. The agent's
threads are therefore not `threading.Thread`s: `threading.enumerate()` does not list them.
"""

from __future__ import annotations

import _socket
import _thread
import select
import sys
import time

from memlens.agent import _entry
from memlens.agent._constants import PROTOCOL_VERSION
from memlens.agent._log import log_once, warning
from memlens.agent._record import Record

if sys.platform == "win32":  # no agent runs there, but the viewer's side imports this
    import os as posix
else:
    import posix

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from memlens.agent.addresses import TcpAddress
    from memlens.agent.connection import Handler

MAX_CONNECTIONS = 16  # viewers that said hello
# Connections still in their hello, apart from the viewers: a peer without the token can
# hold these only, never a viewer's place. Over the cap the oldest is hung up on, not the
# newest: a viewer says hello within a round trip of connecting, so the connection that
# has waited longest is the one least likely to be a viewer, and a peer that keeps slow
# connections open cannot keep a viewer out.
MAX_PENDING = 8
# To finish the hello after connecting, whole. Read when each connection is accepted, so
# a test can shorten it in its child before starting the agent.
HELLO_TIMEOUT_S = 10.0
STOP_WAIT_S = 2.0  # how long stop() waits for the listening thread to end
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
        self.owner_pid = posix.getpid()
        self.info: AgentInfo | None = None
        self._listeners: list[tuple[_socket.socket, str]] = []
        # Dicts keep the order of arrival: the oldest pending connection is the first.
        self._pending: dict[_socket.socket, None] = {}
        self._viewers: set[_socket.socket] = set()
        self._conns_lock = _thread.allocate_lock()
        self._stopping = False
        self._wake_r, self._wake_w = _socket.socketpair()
        self._acceptor: int | None = None  # the listening thread's ident
        self._accepting = _thread.allocate_lock()  # held while the listening thread runs
        self._socket_path = ""
        self._entry_path = ""
        self._identity = _entry.identity()
        if options.name:
            self._identity["name"] = options.name
        self._started = time.time()
        self._handler: Handler | None = None
        self._handler_lock = _thread.allocate_lock()

    def start(self) -> AgentInfo:
        try:
            self.info = self._start()
        except BaseException:
            self._close_all()
            raise
        return self.info

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
        self._accepting.acquire()
        try:
            self._acceptor = _thread.start_new_thread(self._accept_loop, ())
        except BaseException:
            self._accepting.release()
            raise
        return AgentInfo(
            self.owner_pid, self._socket_path, tcp_text, token_required, self._entry_path
        )

    def _listen_unix(self, directory: str) -> _socket.socket:
        path = _entry.in_dir(directory, f"{posix.getpid()}-{posix.urandom(4).hex()}.sock")
        encoded = path.encode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())
        if len(encoded) > _MAX_UNIX_PATH:  # as os.fsencode(path) would be
            raise AgentStartError(
                f"memlens agent: the socket path {path} is too long; "
                "set XDG_RUNTIME_DIR to a shorter directory"
            )
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.bind(path)
            self._socket_path = path
            posix.chmod(path, 0o600)  # before listen(): until then a connect is refused anyway
            sock.listen(MAX_CONNECTIONS + MAX_PENDING)
            sock.setblocking(False)  # a peer gone between poll() and accept() blocks nothing
        except OSError as exc:
            sock.close()
            raise AgentStartError(f"memlens agent: cannot listen on {path}: {exc}") from None
        return sock

    def _listen_tcp(self, address: TcpAddress) -> _socket.socket:
        """What `socket.create_server` does on POSIX, without loading `socket`."""
        family = _socket.AF_INET6 if ":" in address.host else _socket.AF_INET
        sock = _socket.socket(family, _socket.SOCK_STREAM)
        try:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
            if family == _socket.AF_INET6:
                sock.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 1)
            sock.bind((address.host, address.port))
            sock.listen(MAX_CONNECTIONS + MAX_PENDING)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise AgentStartError(f"memlens agent: cannot listen on {address}: {exc}") from None
        if not address.is_loopback:
            warning(
                "memlens agent listens on %s, beyond this machine (a token is required)", address
            )
        return sock

    def _accept_loop(self) -> None:
        try:
            # poll(), not select(): select() fails on descriptors above FD_SETSIZE (1024),
            # which a busy host may well have handed out before the agent started.
            poller = select.poll()
            poller.register(self._wake_r, select.POLLIN)
            listeners = {sock.fileno(): (sock, transport) for sock, transport in self._listeners}
            for fd in listeners:
                poller.register(fd, select.POLLIN)
            while not self._stopping:
                for fd, _ in poller.poll():
                    if fd not in listeners or self._stopping:
                        return  # the wake-up: stop() was called
                    self._accept(*listeners[fd])
        except Exception as exc:
            log_once("accept-loop", f"memlens agent stopped listening: {exc!r}", exc=exc)
        finally:
            self._accepting.release()

    def _accept(self, listener: _socket.socket, transport: str) -> None:
        try:
            # `_accept` is what `socket.socket.accept` wraps: a descriptor and the address.
            fd, _ = listener._accept()  # type: ignore[attr-defined]
        except BlockingIOError:  # the peer left before it was taken
            return
        except OSError as exc:  # out of descriptors, or the peer already gone
            log_once(f"accept:{exc.errno}", f"memlens agent: accept failed: {exc}")
            time.sleep(0.1)
            return
        hello_deadline = time.monotonic() + HELLO_TIMEOUT_S
        try:
            conn = _socket.socket(fileno=fd)
        except OSError:
            _socket.close(fd)
            return
        if not self._admit(conn, transport):
            conn.close()
            return
        try:
            _thread.start_new_thread(self._serve, (conn, transport, hello_deadline))
        except RuntimeError as exc:  # no thread to be had: this viewer waits for none
            log_once("thread", f"memlens agent: refused a viewer: {exc}")
            self._forget(conn)

    def _admit(self, conn: _socket.socket, transport: str) -> bool:
        """Takes `conn` as pending (not yet a viewer), hanging up on the oldest pending
        connection when there are MAX_PENDING already."""
        if transport == "unix" and not _same_user(conn):
            log_once("peer-uid", "memlens agent: refused a connection from another user")
            return False
        with self._conns_lock:
            if self._stopping:
                return False
            if len(self._pending) >= MAX_PENDING:
                oldest = next(iter(self._pending))
                del self._pending[oldest]
                _hang_up(oldest)  # under the lock: its thread closes it under the lock too
                log_once(
                    "too-many-pending",
                    f"memlens agent: more than {MAX_PENDING} connections without a hello; "
                    "hung up on the oldest",
                )
            self._pending[conn] = None
        return True

    def _promote(self, conn: _socket.socket) -> bool:
        """Makes a pending connection that said a good hello a viewer; False when it was
        hung up on meanwhile or MAX_CONNECTIONS viewers are served already."""
        with self._conns_lock:
            if conn not in self._pending or self._stopping:
                return False
            if len(self._viewers) >= MAX_CONNECTIONS:
                log_once(
                    "too-many", f"memlens agent: more than {MAX_CONNECTIONS} viewers; refused one"
                )
                return False
            del self._pending[conn]
            self._viewers.add(conn)
        return True

    def _forget(self, conn: _socket.socket) -> None:
        with self._conns_lock:
            self._pending.pop(conn, None)
            self._viewers.discard(conn)
            conn.close()

    def _serve(self, conn: _socket.socket, transport: str, hello_deadline: float) -> None:
        try:
            # A peer that hangs up unheard (`memlens ls` checks that an agent is alive by
            # connecting) or says nothing loads nothing.
            if _speaks(conn, hello_deadline):
                promote = lambda: self._promote(conn)  # noqa: E731 (no functools in the host)
                self._handling().serve(conn, transport, self._is_stopping, hello_deadline, promote)
        except OSError:
            pass  # the viewer went away or stalled: its connection ends, nothing else does
        except Exception as exc:
            log_once(
                f"serve:{type(exc).__name__}", f"memlens agent: connection failed: {exc!r}", exc=exc
            )
        finally:
            self._forget(conn)

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
        try:  # noqa: SIM105 (no contextlib in the host)
            self._wake_w.send(b"x")
        except OSError:
            pass
        waits = self._acceptor is not None and self._acceptor != _thread.get_ident()
        if waits and self._accepting.acquire(timeout=STOP_WAIT_S):
            self._accepting.release()  # the listening thread has ended
        with self._conns_lock:
            for conn in [*self._pending, *self._viewers]:
                _hang_up(conn)
        self._close_all()

    def abandon(self) -> None:
        """In a forked child: lets go of the parent's descriptors without touching them.

        shutdown() would hang up the parent's viewers and unlink() would remove its socket;
        close() only drops this process's copies."""
        self._stopping = True
        for sock, _ in self._listeners:
            sock.close()
        for conn in [*self._pending, *self._viewers]:
            conn.close()
        self._wake_r.close()
        self._wake_w.close()

    def _close_all(self) -> None:
        for sock, _ in self._listeners:
            sock.close()
        self._wake_r.close()
        self._wake_w.close()
        if posix.getpid() != self.owner_pid:
            return
        if self._socket_path:
            try:  # noqa: SIM105 (no contextlib in the host)
                posix.unlink(self._socket_path)
            except OSError:
                pass
        if self._entry_path:
            _entry.remove_entry(self.owner_pid, socket=self._socket_path)


def _hang_up(conn: _socket.socket) -> None:
    """Ends a connection that another thread serves: its recv returns, and that thread
    closes it."""
    try:  # noqa: SIM105 (no contextlib in the host)
        conn.shutdown(_socket.SHUT_RDWR)
    except OSError:
        pass


def _speaks(conn: _socket.socket, deadline: float) -> bool:
    """Whether the peer sends something (left unread) before `deadline` (monotonic);
    False when it hangs up or stays quiet. A peek on the socket itself, not select(): see
    `connection.wait_readable`."""
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    conn.settimeout(left)
    try:
        return bool(conn.recv(1, _socket.MSG_PEEK))
    except (TimeoutError, BlockingIOError):
        return False


def _same_user(conn: _socket.socket) -> bool:
    """The peer runs as this process's user, or as root (Linux; elsewhere the directory's
    permissions are the only guard)."""
    option = getattr(_socket, "SO_PEERCRED", None)
    if option is None:
        return True
    try:
        # struct ucred: pid_t pid, uid_t uid, gid_t gid, in the machine's byte order.
        creds = conn.getsockopt(_socket.SOL_SOCKET, option, 12)
    except OSError:
        return False
    uid = int.from_bytes(creds[4:8], sys.byteorder)
    return uid in (posix.getuid(), 0)
