"""The `/ws` stream: hello, backfill, then whatever the hub publishes."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from memlens.watch.hub import Subscription
from memlens.web.fastsend import transport_sink
from memlens.web.types import View

log = logging.getLogger(__name__)

MAX_CLIENT_MESSAGE = 4096


async def stream(websocket: WebSocket) -> None:
    view: View = websocket.app.state.view
    await websocket.accept()
    sink = transport_sink(websocket.scope)
    older = await asyncio.to_thread(view.older_history)  # from the store: may take a while
    # Subscribe before reading the recent history, with no await in between: every tick is
    # then either in the backfill or in this client's queue, never in both or in neither.
    sub = view.hub.subscribe(sink=sink)
    hello = view.hello_message()
    backfill = view.backfill_message(older)
    if sink is not None:
        sender = asyncio.create_task(_send_first_then_release(websocket, [hello, backfill], sub))
    else:
        sender = asyncio.create_task(_send_all(websocket, [hello, backfill], sub))
    try:
        await _read_until_closed(websocket, sender)
    finally:
        sub.close()
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


async def _send_first_then_release(
    websocket: WebSocket, first: list[str], sub: Subscription
) -> None:
    """Hello and backfill through ASGI, then the hub writes to the transport itself."""
    for message in first:
        await websocket.send_text(message)
    sub.release()
    await asyncio.Event().wait()  # stay pending, like _send_all, until cancelled


async def _send_all(websocket: WebSocket, first: list[str], sub: Subscription) -> None:
    for message in first:
        await websocket.send_text(message)
    while True:
        await websocket.send_text(await sub.get())


async def _read_until_closed(websocket: WebSocket, sender: asyncio.Task[None]) -> None:
    """Ignore what the client says; end when it leaves, talks too much, or sending fails."""
    receiver = asyncio.ensure_future(websocket.receive())
    try:
        while True:
            done, _ = await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
            if sender in done:
                return  # the connection broke while sending
            message = receiver.result()
            if message["type"] == "websocket.disconnect":
                return
            size = len(message.get("text") or message.get("bytes") or b"")
            if size > MAX_CLIENT_MESSAGE:
                await websocket.close(code=1009)
                return
            receiver = asyncio.ensure_future(websocket.receive())
    except WebSocketDisconnect:
        return
    finally:
        receiver.cancel()
