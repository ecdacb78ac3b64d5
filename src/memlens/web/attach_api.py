"""The page's "look inside" button: `memlens attach` of a watched process, asked for by a
person who said yes to the page's question (POST /api/python/attach, with the dashboard's
token like every request). Only a running local process that the sampler found to be a
CPython 3.10+ of this user, and that has no agent, is attached to; the attach runs on a
worker thread (it takes a second or two), and the sampler looks for the new agent at its
next rescan, which then adds the Python panel to every open page (docs/attach.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from memlens.errors import AccessDenied, MemlensError, TargetGone
from memlens.web.limits import parse_json
from memlens.web.types import View

MAX_KEY = 1024
USAGE = 'send {"target": KEY}, the key of a running Python process without an agent'


def attach_routes(view: View, look_again: Callable[[str], None] | None) -> list[Route]:
    async def post_attach(request: Request) -> Response:
        try:
            body = parse_json(await request.body())
            key = body["target"] if isinstance(body, dict) else None
            if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY:
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": USAGE}, status_code=400)
        target = view.targets.get(key)
        if target is None or target.kind != "process":
            return JSONResponse({"error": "no such process is watched"}, status_code=404)
        if target.state != "running":
            return JSONResponse({"error": "the process has exited"}, status_code=410)
        if target.python is not None:
            return JSONResponse({"target": key, "pid": target.pid, "already": True})
        if not target.attachable or look_again is None:
            return JSONResponse(
                {"error": "memlens cannot attach to this process (not a CPython 3.10+ of yours)"},
                status_code=409,
            )
        from memlens.attach import attach

        try:
            result = await asyncio.to_thread(attach, target.pid)
        except TargetGone as e:
            return JSONResponse({"error": str(e)}, status_code=410)
        except AccessDenied as e:
            return JSONResponse({"error": str(e)}, status_code=403)
        except MemlensError as e:
            return JSONResponse({"error": str(e)}, status_code=409)
        look_again(key)
        return JSONResponse(
            {"target": key, "pid": target.pid, "already": result.already, "method": result.method}
        )

    return [Route("/api/python/attach", post_attach, methods=["POST"])]
