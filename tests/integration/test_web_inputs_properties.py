"""What a client sends, however malformed, against a real `memlens watch`: request bodies
answer 200 or a 4xx with a JSON error (never a 500), and WebSocket messages are never
parsed: the stream goes on, or a message over the size limit closes it with 1009."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from helpers import MemlensServer

MAX_BODY = 16 * 1024  # web/limits.py
MAX_MESSAGE = 4 * 1024  # web/ws.py


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@st.composite
def bodies(draw: st.DrawFn, key: str) -> bytes:
    """Bytes, JSON of any shape, and near-valid switch requests."""
    kind = draw(st.sampled_from(["bytes", "json", "request", "deep", "large"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "deep":
        depth = draw(st.integers(min_value=1, max_value=3000))
        return b"[" * depth + b"]" * draw(st.sampled_from([0, depth]))
    if kind == "large":
        return b" " * draw(st.integers(min_value=MAX_BODY - 8, max_value=MAX_BODY + 64)) + b"{}"
    request: dict[str, Any] = {
        "target": draw(st.sampled_from([key, "", "nope"]) | st.text(max_size=10)),
        "on": draw(st.booleans() | json_values),
    }
    if draw(st.booleans()):
        request["frames"] = draw(st.integers(min_value=-5, max_value=200) | json_values)
    return json.dumps(request).encode()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_body_is_answered_with_json_never_500(
    watched: tuple[MemlensServer, str], data: st.DataObject
) -> None:
    server, key = watched
    body = data.draw(bodies(key))
    response = server.post(
        "api/python/tracemalloc",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    # The target runs no agent: a well-formed request is a 404, anything else a 400, a
    # body over the cap a 413.
    expected = (413,) if len(body) > MAX_BODY else (400, 404)
    assert response.status_code in expected, (body[:80], response.text)
    if response.status_code != 413:
        assert isinstance(response.json()["error"], str)
    if response.status_code == 404:
        request = json.loads(body)
        assert isinstance(request["target"], str)
        assert isinstance(request["on"], bool)


messages = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    st.sampled_from(["ping", "[" * 3000, '{"type": "hello"}', "\x00"]),
    st.just("\udc80".encode("utf-8", "surrogatepass")),  # not UTF-8, as a binary message
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sent=st.lists(messages, min_size=1, max_size=5), oversize=st.booleans())
def test_websocket_messages_are_ignored_or_close_the_socket_cleanly(
    watched: tuple[MemlensServer, str], sent: list[str | bytes], oversize: bool
) -> None:
    server, _ = watched
    with connect(server.ws_url, max_size=None) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        for message in sent:
            ws.send(message)
        # Nothing a client says is parsed: the stream goes on.
        assert json.loads(ws.recv(timeout=10))["type"] in ("backfill", "tick", "python", "target")
        if oversize:
            ws.send("x" * (MAX_MESSAGE + 1))
            with pytest.raises(ConnectionClosed) as closed:
                _drain(ws)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009
    assert server.get("healthz").status_code == 200


def _drain(ws: ClientConnection) -> None:
    for _ in range(1000):
        ws.recv(timeout=10)
