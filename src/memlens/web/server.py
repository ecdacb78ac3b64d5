"""Running the app: bind the socket ourselves (clear errors, port 0), then uvicorn on it."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import uvicorn
from starlette.types import ASGIApp

from memlens.errors import PortInUse, UsageError
from memlens.metrics.prometheus import LiveMetrics
from memlens.model import Alert, Tick
from memlens.watch.alerts import AlertEngine
from memlens.watch.live import LiveView
from memlens.watch.python_poll import PythonPoller
from memlens.watch.sampler import Sampler
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
    live: LiveView,
    sampler: Sampler,
    sock: socket.socket,
    policy: SecurityPolicy,
    *,
    on_started: Callable[[], None] | None = None,
    consumers: Sequence[Callable[[Tick], None]] = (),
    stop: threading.Event | None = None,
    alerts: AlertEngine | None = None,
    metrics: LiveMetrics | None = None,
    dashboard: bool = True,
) -> None:
    """Serve until SIGINT/SIGTERM; the sampler runs for exactly as long as the server.

    `consumers` get every tick on the sampler's thread (the recorder, say) before it is
    handed to the event loop for the clients. Setting `stop` ends the server too (for a
    server run on a thread, where it installs no signal handlers). `alerts`, when given,
    is fed every tick and its alerts reach the page; it runs exactly as long as the
    sampler. `metrics` (made here when not given) is fed every tick and served at
    /metrics; `dashboard=False` serves only /metrics and /healthz.
    """
    loop = asyncio.get_running_loop()

    def stats() -> dict[str, int]:
        return {"ticks": sampler.ticks, "missed_ticks": sampler.missed_ticks}

    if metrics is None:
        metrics = LiveMetrics(verdicts=None if alerts is None else alerts.verdicts, stats=stats)
    consumers = [*consumers, metrics.on_tick]
    if alerts is not None:
        consumers = [*consumers, alerts.on_tick]

        def to_page(alert: Alert) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(live.post_alert, alert)

        alerts.sinks.append(to_page)
        alerts.sinks.append(metrics.on_alert)
        alerts.start()

    def hand_over(tick: Tick) -> None:
        for consume in consumers:
            consume(tick)
        with contextlib.suppress(RuntimeError):  # the loop is closing: nobody to tell
            loop.call_soon_threadsafe(live.apply, tick)

    sampler.on_tick = hand_over
    app = create_app(
        live,
        policy,
        stats=stats,
        python=sampler.agents.probe,
        metrics=metrics,
        dashboard=dashboard,
    )

    def to_page_python(message: dict[str, Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(live.post_python, message)

    poller = PythonPoller(sampler.agents, to_page_python, watching=lambda: len(live.hub) > 0)
    config = uvicorn_config(app)
    server = uvicorn.Server(config)

    async def watch_stop(event: threading.Event) -> None:
        while not event.is_set():
            await asyncio.sleep(0.1)
        server.should_exit = True

    # A page that connects before the first round (which may wait on linking a Python
    # agent) still gets the targets in its hello.
    for target in sampler.targets():
        live.targets.setdefault(target.key, target)
    sampler.start()
    poller.start()
    watcher = asyncio.create_task(watch_stop(stop)) if stop is not None else None
    try:
        if on_started is not None:
            loop.call_soon(on_started)
        await server.serve(sockets=[sock])
    finally:
        if watcher is not None:
            watcher.cancel()
        poller.stop()
        sampler.stop()
        if alerts is not None:
            alerts.stop()
