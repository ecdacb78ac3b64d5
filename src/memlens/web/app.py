"""The Starlette application: dashboard, stream, history API and health."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from memlens import __version__
from memlens.errors import AgentRequestFailed, MemlensError
from memlens.messages import dumps, target_added
from memlens.model import SAMPLE_FIELDS
from memlens.probes.python import PythonProbe
from memlens.web.fastsend import RawSendMiddleware, encode_text_frame
from memlens.web.security import TOKEN_COOKIE, SecurityMiddleware, SecurityPolicy
from memlens.web.types import View
from memlens.web.ws import stream

if TYPE_CHECKING:
    from memlens.exporters.prometheus import LiveMetrics

MAX_BUCKETS = 10_000
STATIC_DIR = Path(str(resources.files("memlens.web") / "static"))


def create_app(
    view: View,
    policy: SecurityPolicy | None = None,
    stats: Callable[[], dict[str, int]] | None = None,
    python: Callable[[str], PythonProbe | None] | None = None,
    *,
    metrics: LiveMetrics | None = None,
    dashboard: bool = True,
) -> Starlette:
    """`stats` adds counters owned elsewhere (the sampler's ticks and misses) to /healthz.
    `python` finds a target's Python agent, for the page's tracemalloc switch.
    `metrics` adds /metrics (Prometheus), behind the same Host and token checks as the
    rest; `dashboard=False` leaves only it and /healthz (`memlens exporter`)."""
    policy = policy or SecurityPolicy()

    async def api_tracemalloc(request: Request) -> Response:
        try:
            body = await request.json()
            key, on = body["target"], body["on"]
            frames = body.get("frames", 1)
            if not isinstance(key, str) or not isinstance(on, bool):
                raise TypeError
            if isinstance(frames, bool) or not isinstance(frames, int) or not 1 <= frames <= 100:
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return JSONResponse(
                {"error": 'send {"target": KEY, "on": true|false, "frames": 1..100}'},
                status_code=400,
            )
        probe = python(key) if python is not None else None
        if probe is None:
            return JSONResponse({"error": f"target {key!r} has no Python agent"}, status_code=404)
        try:
            state = await asyncio.to_thread(probe.tracemalloc, on, frames)
        except AgentRequestFailed as e:
            return JSONResponse({"error": str(e), "code": e.code}, status_code=409)
        except MemlensError as e:
            return JSONResponse({"error": str(e)}, status_code=503)
        probe.tracing = bool(state.get("tracing"))
        probe.frames = int(state.get("frames") or 0)
        known = view.targets.get(key)
        if known is not None:  # every tab (and /api/targets) learns the new state
            known.python = probe.info()
            view.hub.publish(dumps(target_added(known)))
        return JSONResponse({"target": key, **state})

    async def dashboard_page(request: Request) -> Response:
        response = FileResponse(STATIC_DIR / "index.html", headers=_PAGE_HEADERS)
        token = request.query_params.get("token")
        if token and policy.token_ok(token):
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    async def api_targets(request: Request) -> Response:
        return JSONResponse(
            {
                "targets": [t.to_dict() for t in view.targets.values()],
                "fields": list(SAMPLE_FIELDS),
                "interval": view.interval,
            }
        )

    async def api_samples(request: Request) -> Response:
        key = request.query_params.get("target")
        if not key:
            return JSONResponse({"error": "the target parameter is required"}, status_code=400)
        if not view.knows(key):
            return JSONResponse({"error": f"no target {key!r}"}, status_code=404)
        try:
            since = _optional_float(request.query_params.get("since"))
            limit = _optional_int(request.query_params.get("limit"))
        except ValueError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return JSONResponse(
            {
                "target": key,
                "fields": list(SAMPLE_FIELDS),
                "series": view.samples(key, since, limit),
            }
        )

    async def api_range(request: Request) -> Response:
        key = request.query_params.get("target")
        if not key:
            return JSONResponse({"error": "the target parameter is required"}, status_code=400)
        if not view.knows(key):
            return JSONResponse({"error": f"no target {key!r}"}, status_code=404)
        try:
            start = _required_float(request.query_params.get("start"), "start")
            end = _required_float(request.query_params.get("end"), "end")
            buckets = _optional_int(request.query_params.get("buckets")) or 1000
        except ValueError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        buckets = min(buckets, MAX_BUCKETS)
        points = await asyncio.to_thread(view.range, key, start, end, buckets)
        return JSONResponse({"target": key, **points})

    async def healthz(request: Request) -> Response:
        body: dict[str, object] = {
            "status": "ok",
            "version": __version__,
            "mode": view.mode,
            "uptime": round(time.time() - view.started, 3),
            "targets": sum(1 for t in view.targets.values() if t.state == "running"),
            "clients": len(view.hub),
            "clients_direct": view.hub.direct,
            "dropped_messages": view.hub.dropped,
        }
        if stats is not None:
            body.update(stats())
        return JSONResponse(body)

    async def prometheus(request: Request) -> Response:
        assert metrics is not None
        # Rendered off the loop: thousands of targets take a while to format.
        body, kind = await asyncio.to_thread(metrics.render, request.headers.get("accept", ""))
        return Response(body, headers={"content-type": kind, "cache-control": "no-store"})

    async def exporter_index(request: Request) -> Response:
        return PlainTextResponse("memlens exporter: /metrics (Prometheus), /healthz\n")

    routes: list[Route | WebSocketRoute | Mount] = [Route("/healthz", healthz)]
    if dashboard:
        routes += [
            Route("/", dashboard_page),
            Route("/api/targets", api_targets),
            Route("/api/samples", api_samples),
            Route("/api/range", api_range),
            Route("/api/python/tracemalloc", api_tracemalloc, methods=["POST"]),
            WebSocketRoute("/ws", stream),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ]
    else:
        routes.append(Route("/", exporter_index))
    if metrics is not None:
        routes.append(Route("/metrics", prometheus))
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityMiddleware, policy=policy),
            Middleware(RawSendMiddleware),
        ],
    )
    app.state.view = view
    if view.hub.frame_encoder is None:
        view.hub.frame_encoder = encode_text_frame
    return app


# The page and its scripts come from this server only; nothing may load from elsewhere.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _optional_float(raw: str | None) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"since must be a number of seconds, not {raw!r}") from None


def _required_float(raw: str | None, name: str) -> float:
    if raw is None or raw == "":
        raise ValueError(f"the {name} parameter is required")
    value = _optional_float(raw)
    assert value is not None
    return value


def _optional_int(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"limit must be a positive integer, not {raw!r}") from None
    if value < 1:
        raise ValueError(f"limit must be a positive integer, not {raw!r}")
    return value
