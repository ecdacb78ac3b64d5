"""One agent per process: start, stop, and what happens to it across fork() and exit.

After fork() the child holds copies of the parent's descriptors and none of its threads.
It closes its copies (never the parent's socket file or entry) and, when the agent was
started with auto_restart (the default), starts its own: a prefork server's workers each
get an agent, with their own socket and registry entry. A TCP agent's child listens on a
free port of the same host, since the parent keeps its port.

Starting loads only what listening needs (see `server`); what answers viewers is loaded
by the first one that speaks (see `connection`), so stop() and fork() undo its state only
if it is there.
"""

from __future__ import annotations

import _thread
import atexit
import sys

from memlens.agent import _log
from memlens.agent._log import log_once, warning
from memlens.agent.server import AgentInfo, AgentOptions, AgentServer

if sys.platform == "win32":  # no agent runs there, but the viewer's side imports this
    import os as posix
else:
    import posix

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from memlens.agent.addresses import TcpAddress

# The request handling and its process-wide state, loaded by the first viewer that spoke.
_CONNECTION = "memlens.agent.connection"

_lock = _thread.allocate_lock()
_current: AgentServer | None = None


def start(
    address: str | None = None,
    token: str | None = None,
    *,
    name: str | None = None,
    auto_restart: bool = True,
) -> AgentInfo:
    """Starts this process's agent, or returns the one already running.

    It always listens on a private Unix socket; `address` (`HOST:PORT`, or a port, on
    127.0.0.1) adds TCP and then needs a `token`. A token, when given, is required on
    both. Bad arguments raise ValueError; a socket that cannot be bound raises
    AgentStartError. Once running, nothing the agent does raises into the program."""
    global _current
    tcp = _tcp_option(address, token)
    options = AgentOptions(tcp=tcp, token=token, name=name, auto_restart=auto_restart)
    with _lock:
        if _current is not None and _current.info is not None:
            if _current.options != options:
                warning("memlens agent already running; stop() it to change its options")
            return _current.info
        server = AgentServer(options)
        info = server.start()
        _current = server
        return info


def stop() -> None:
    """Stops the agent: hangs up, removes its socket and registry entry, and switches off
    tracemalloc if the agent switched it on. Does nothing when none runs."""
    global _current
    with _lock:
        server, _current = _current, None
    if server is None:
        return
    server.stop()
    connection = sys.modules.get(_CONNECTION)
    if connection is not None:
        try:  # noqa: SIM105 (no contextlib in the host)
            connection.after_stop()
        except Exception:
            pass


def is_running() -> bool:
    return _current is not None


def info() -> AgentInfo | None:
    server = _current
    return server.info if server is not None else None


def _tcp_option(address: str | None, token: str | None) -> TcpAddress | None:
    if token is not None and (not isinstance(token, str) or not token):
        raise ValueError("the token must be a non-empty string")
    if address is None:
        return None
    from memlens.agent.addresses import parse_tcp

    tcp = parse_tcp(address)
    if token is None:
        raise ValueError("a TCP address needs a token (any viewer on the network could connect)")
    return tcp


def _after_fork_in_child() -> None:
    global _lock, _current
    try:
        _lock = _thread.allocate_lock()
        _log.reset_after_fork()
        connection = sys.modules.get(_CONNECTION)
        if connection is not None:
            # Looked up, not imported: a fork in the middle of its import would leave the
            # child waiting for a lock that no thread of its own will ever release.
            try:  # noqa: SIM105 (no contextlib in the host)
                connection.after_fork_in_child()
            except Exception:
                pass  # its state is the viewers'; the child's own agent starts all the same
        marks = sys.modules.get("memlens.agent.marks")
        if marks is not None:
            marks.after_fork_in_child()
        parent, _current = _current, None
        if parent is None:
            return
        parent.abandon()
        if not parent.options.auto_restart:
            return
        options = parent.options
        if options.tcp is not None:
            options = options._replace(tcp=options.tcp._replace(port=0))
        server = AgentServer(options)
        server.start()
        _current = server
    except Exception as exc:
        log_once("fork", f"memlens agent: no agent in the forked child {posix.getpid()}: {exc}")


def _at_exit() -> None:
    try:
        server = _current
        if server is not None and server.owner_pid == posix.getpid():
            stop()
    except Exception:  # the program is ending: nothing to tell it
        return


atexit.register(_at_exit)
if hasattr(posix, "register_at_fork"):
    posix.register_at_fork(after_in_child=_after_fork_in_child)
