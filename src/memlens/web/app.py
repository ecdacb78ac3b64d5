"""The Starlette application: dashboard, stream, history API and health."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from memlens._version import __version__
from memlens.errors import AgentRequestFailed, MemlensError
from memlens.model import SAMPLE_FIELDS
from memlens.probes.python import PythonProbe
from memlens.watch.messages import dumps, target_added
from memlens.web.attach_api import attach_routes
from memlens.web.fastsend import RawSendMiddleware, encode_text_frame
from memlens.web.heap_api import heap_routes
from memlens.web.limits import BodyLimitMiddleware, parse_json
from memlens.web.security import SecurityMiddleware, SecurityPolicy, cookie_name
from memlens.web.types import View
from memlens.web.ws import stream

if TYPE_CHECKING:
    from memlens.metrics.prometheus import LiveMetrics

MAX_BUCKETS = 10_000
MAX_LIMIT = 1_000_000  # samples in one /api/samples answer
STATIC_DIR = Path(str(resources.files("memlens.web") / "static"))


def create_app(
    view: View,
    policy: SecurityPolicy | None = None,
    stats: Callable[[], dict[str, int]] | None = None,
    python: Callable[[str], PythonProbe | None] | None = None,
    *,
    metrics: LiveMetrics | None = None,
    dashboard: bool = True,
    look_again: Callable[[str], None] | None = None,
    count_objects: Callable[[str], float | None] | None = None,
) -> Starlette:
    """`stats` adds counters owned elsewhere (the sampler's ticks and misses) to /healthz.
    `python` finds a target's Python agent, for the page's tracemalloc switch and heap
    profiler (memlens.web.heap_api); `look_again` has the sampler look for a target's
    agent at once, after the page's "look inside" attached one (memlens.web.attach_api).
    `count_objects` asks a target's agent for its object counts at once (the page's
    "Count now"), or once the agent's rest ends, rather than 30 s after the last.
    `metrics` adds /metrics (Prometheus), behind the same Host and token checks as the
    rest; `dashboard=False` leaves only it and /healthz (`memlens exporter`)."""
    policy = policy or SecurityPolicy()

    async def api_tracemalloc(request: Request) -> Response:
        try:
            body = parse_json(await request.body())
            if not isinstance(body, dict):
                raise TypeError
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

    async def api_objects(request: Request) -> Response:
        try:
            body = parse_json(await request.body())
            if not isinstance(body, dict) or not isinstance(body.get("target"), str):
                raise TypeError
        except (ValueError, TypeError):
            return JSONResponse({"error": 'send {"target": KEY}'}, status_code=400)
        key = body["target"]
        if python is None or python(key) is None:
            return JSONResponse({"error": f"target {key!r} has no Python agent"}, status_code=404)
        wait = count_objects(key) if count_objects is not None else None
        if wait is None:
            return JSONResponse({"error": "objects are not counted here"}, status_code=404)
        return JSONResponse({"target": key, "in_s": round(wait, 1)})

    async def dashboard_page(request: Request) -> Response:
        token = request.query_params.get("token")
        if policy.token is None or not token:
            return FileResponse(STATIC_DIR / "index.html", headers=_PAGE_HEADERS)
        # (The middleware let the request in, so the token is the right one.) The cookie
        # keeps it for reloads and new tabs, and the redirect takes it out of the address
        # bar and the history.
        response = RedirectResponse("./", status_code=303, headers={"Cache-Control": "no-store"})
        response.set_cookie(
            cookie_name(request.scope), token, httponly=True, samesite="strict", path="/"
        )
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
            since = _seconds(request.query_params, "since")
            limit = _count(request.query_params, "limit", MAX_LIMIT)
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
            start = _seconds(request.query_params, "start", required=True)
            end = _seconds(request.query_params, "end", required=True)
            # The page asks for as many buckets as it has pixels: more are cut to the most.
            buckets = min(_count(request.query_params, "buckets") or 1000, MAX_BUCKETS)
            if start is None or end is None or end < start:
                raise ValueError("end must not be before start")
        except ValueError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
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
            Route("/api/python/objects", api_objects, methods=["POST"]),
            *heap_routes(view, python),
            *attach_routes(view, look_again),
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
            Middleware(BodyLimitMiddleware),
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


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 40 else raw[:40] + "…")


def _seconds(params: QueryParams, name: str, *, required: bool = False) -> float | None:
    """A finite time in seconds; ValueError naming the parameter."""
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise ValueError(f"the {name} parameter is required")
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a number of seconds, not {_shown(raw)}")
    return value


def _count(params: QueryParams, name: str, most: int | None = None) -> int | None:
    """A positive integer, at most `most` when given; ValueError naming the parameter."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    bounds = f"from 1 to {most}" if most is not None else "of 1 or more"
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else 0
    if value < 1 or (most is not None and value > most):
        raise ValueError(f"{name} must be an integer {bounds}, not {_shown(raw)}")
    return value
