"""Running the app: bind the socket ourselves (clear errors, port 0), then uvicorn on it."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
from collections.abc import Callable
from urllib.parse import quote

import uvicorn
from starlette.types import ASGIApp

from memlens.errors import PortInUse, UsageError
from memlens.watch.session import Session
from memlens.web.app import create_app
from memlens.web.security import SecurityPolicy
from memlens.web.ws import MAX_CLIENT_MESSAGE

log = logging.getLogger(__name__)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; port 0 lets the OS pick a free one."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise UsageError(f"cannot listen on {host!r}: {e.strerror}") from e
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {port} on {host} is already in use; pick another with --port, "
                "or --port 0 for any free one"
            ) from e
        if e.errno in (errno.EACCES, errno.EPERM):
            raise UsageError(f"not allowed to listen on {host}:{port} ({e.strerror})") from e
        raise UsageError(f"cannot listen on {host}:{port} ({e.strerror})") from e
    sock.setblocking(False)
    return sock


def url_for(sock: socket.socket, token: str | None = None) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = socket.gethostname()
    suffix = f"?token={quote(token, safe='')}" if token else ""
    return f"http://{shown}:{port}/{suffix}"


def uvicorn_config(app: ASGIApp) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        ws="websockets-sansio",
        ws_max_size=MAX_CLIENT_MESSAGE,  # clients only ever send "ping"
        # Off so that one frame built once can go to every client (see web/fastsend.py);
        # ticks are a few hundred bytes, where compression saves little.
        ws_per_message_deflate=False,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        timeout_graceful_shutdown=2,
        lifespan="off",
        server_header=False,
    )


async def serve(
    session: Session,
    sock: socket.socket,
    policy: SecurityPolicy,
    *,
    on_started: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
    dashboard: bool = True,
) -> None:
    """Serve the session's live view until SIGINT/SIGTERM; the session runs for exactly
    as long as the server (a face that stops it first, `run` with its command's exit
    code, keeps what it did).

    Setting `stop` ends the server too (for a server run on a thread, where it installs
    no signal handlers). The session's metrics, when it has them, are served at
    /metrics; `dashboard=False` serves only /metrics and /healthz.
    """
    live = session.live
    if live is None:
        raise ValueError("a served session needs a live view")
    loop = asyncio.get_running_loop()
    session.deliver(loop)
    app = create_app(
        live,
        policy,
        stats=session.stats,
        python=session.sampler.agents.probe,
        metrics=session.metrics,
        dashboard=dashboard,
        look_again=session.sampler.look_again,
        count_objects=session.count_objects_now,
    )
    server = uvicorn.Server(uvicorn_config(app))

    async def watch_stop(event: threading.Event) -> None:
        while not event.is_set():
            await asyncio.sleep(0.1)
        server.should_exit = True

    session.start()
    watcher = asyncio.create_task(watch_stop(stop)) if stop is not None else None
    try:
        if on_started is not None:
            loop.call_soon(on_started)
        await server.serve(sockets=[sock])
    finally:
        if watcher is not None:
            watcher.cancel()
        session.stop()
