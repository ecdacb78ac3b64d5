"""The page's way to the heap profiler of a target's Python agent (docs/protocol.md,
"/api/python/heap"): read a profile, start, stop, set a mark.

Each request goes to the agent through the watch's own link to it
(`PythonProbe.heap`, on its costly connection), on a worker thread: an aggregation over
thousands of stacks must not hold the event loop. The agent answers only when asked, so a
profile is read only while a page asks for one. Every parameter is checked before the
agent is asked; what the agent refuses, and an agent that does not answer, come back as
JSON with a status the page can tell apart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from memlens.errors import AgentBusy, AgentMisbehaved, AgentRequestFailed, MemlensError
from memlens.probes.python import PythonProbe
from memlens.watch.messages import dumps, target_added
from memlens.web.limits import parse_json
from memlens.web.types import View

KINDS = ("inuse", "allocated", "growth")
OPS = ("start", "stop", "mark")
MAX_LIMIT = 20_000
DEFAULT_LIMIT = 2000
MAX_MARK = 64
MAX_KEY = 1024
INTERVAL_RANGE = (1024, 1 << 30)
FRAMES_RANGE = (1, 128)

FindProbe = Callable[[str], "PythonProbe | None"]


class BadParams(ValueError):
    """What the request asked for is not something to ask an agent."""


def heap_routes(view: View, python: FindProbe | None) -> list[Route]:
    async def get_profile(request: Request) -> Response:
        try:
            key, args = profile_args(request.query_params)
        except BadParams as e:
            return _error(str(e), 400)
        return await _ask(view, python, key, "profile", args)

    async def post_op(request: Request) -> Response:
        try:
            key, op, args = op_args(parse_json(await request.body()))
        except (BadParams, ValueError) as e:
            return _error(str(e) if isinstance(e, BadParams) else USAGE, 400)
        return await _ask(view, python, key, op, args)

    return [
        Route("/api/python/heap", get_profile, methods=["GET"]),
        Route("/api/python/heap", post_op, methods=["POST"]),
    ]


USAGE = (
    'send {"target": KEY, "op": "start"|"stop"|"mark"}, with "interval_bytes" '
    f'({INTERVAL_RANGE[0]}..{INTERVAL_RANGE[1]}) and "frames" ({FRAMES_RANGE[0]}..'
    f'{FRAMES_RANGE[1]}) for start, "name" (1..{MAX_MARK} characters) for mark'
)


def profile_args(params: Any) -> tuple[str, dict[str, Any]]:
    """target, and the heap.profile arguments, from the query; BadParams naming the one
    that is wrong."""
    key = _key(params.get("target"))
    kind = params.get("kind") or "inuse"
    if kind not in KINDS:
        raise BadParams(f"kind must be one of {', '.join(KINDS)}")
    args: dict[str, Any] = {"kind": kind}
    since = params.get("since")
    if since is not None:
        args["since"] = _mark(since, "since")
    elif kind == "growth":
        raise BadParams("a growth profile needs since: the name of a mark")
    raw = params.get("limit")
    limit = DEFAULT_LIMIT
    if raw is not None:
        limit = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else 0
        if not 1 <= limit <= MAX_LIMIT:
            raise BadParams(f"limit must be an integer from 1 to {MAX_LIMIT}")
    args["limit"] = limit
    return key, args


def op_args(body: Any) -> tuple[str, str, dict[str, Any]]:
    """target, op and its arguments from a POST body; BadParams when any is wrong."""
    if not isinstance(body, dict):
        raise BadParams(USAGE)
    key = _key(body.get("target"))
    op = body.get("op")
    if op not in OPS or not isinstance(op, str):
        raise BadParams(USAGE)
    args: dict[str, Any] = {}
    if op == "start":
        for name, (low, high) in (("interval_bytes", INTERVAL_RANGE), ("frames", FRAMES_RANGE)):
            if name in body:
                value = body[name]
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int)
                    or not low <= value <= high
                ):
                    raise BadParams(f"{name} must be an integer from {low} to {high}")
                args[name] = value
    elif op == "mark":
        args["name"] = _mark(body.get("name"), "name")
    return key, op, args


def _key(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_KEY:
        raise BadParams("the target parameter is required")
    return value


def _mark(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_MARK:
        raise BadParams(f"{what} must be a mark's name of 1 to {MAX_MARK} characters")
    if not value.isprintable():
        raise BadParams(f"{what} must hold no control characters")
    return value


async def _ask(
    view: View, python: FindProbe | None, key: str, op: str, args: dict[str, Any]
) -> Response:
    probe = python(key) if python is not None else None
    if probe is None:
        why = "has no Python agent" if view.knows(key) else "is not watched"
        return _error(f"target {key!r} {why}", 404)
    try:
        result = await asyncio.to_thread(_run, probe, op, args)
    except AgentRequestFailed as e:  # the agent said no: not profiling, an unknown mark
        return JSONResponse({"error": str(e), "code": e.code}, status_code=409)
    except AgentBusy as e:
        return JSONResponse(
            {"error": str(e), "retry_after_s": e.retry_after_s},
            status_code=503,
            headers={"Retry-After": str(max(1, round(e.retry_after_s)))},
        )
    except AgentMisbehaved as e:
        return _error(str(e), 502)
    except MemlensError as e:
        return _error(str(e), 503)
    if op in ("start", "stop", "mark"):
        _announce(view, probe, key)
    return JSONResponse({"target": key, **result}, headers={"Cache-Control": "no-store"})


def _run(probe: PythonProbe, op: str, args: dict[str, Any]) -> dict[str, Any]:
    result = probe.heap(op, **args)
    if op == "mark":  # the marks a page offers come with the status
        with contextlib.suppress(MemlensError):
            probe.heap("status")
    return result


def _announce(view: View, probe: PythonProbe, key: str) -> None:
    """Every tab (and /api/targets) learns the profiler's new state at once, rather than
    with the next sample."""
    known = view.targets.get(key)
    if known is not None:
        known.python = probe.info()
        view.hub.publish(dumps(target_added(known)))


def _error(text: str, status: int) -> Response:
    return JSONResponse({"error": text}, status_code=status, headers={"Cache-Control": "no-store"})
