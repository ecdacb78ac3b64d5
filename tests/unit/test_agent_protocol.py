"""The agent's framing, limits and request handling, over real socket pairs in-process."""

from __future__ import annotations

import contextlib
import gc
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.agent import _entry, answers, budget, protocol
from memlens.agent._redact import redact_argv
from memlens.agent.addresses import TcpAddress, parse_address, parse_tcp
from memlens.agent.budget import CostGate
from memlens.agent.gcpauses import GcPauses
from memlens.agent.objects import type_name
from memlens.agent.protocol import (
    MAX_REQUEST_BYTES,
    ConnectionClosed,
    ProtocolError,
    RequestError,
    read_frame,
    write_frame,
)
from memlens.agent.session import AgentState, Session
from memlens.agent.tracing import Tracing
from memlens.errors import AgentMisbehaved


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)
    yield a, b
    a.close()
    b.close()


def _raw(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def test_a_frame_round_trips(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    message = {"id": 7, "op": "stats", "text": "ünïcødé"}
    write_frame(a, message, MAX_REQUEST_BYTES)
    write_frame(a, {"id": 8}, MAX_REQUEST_BYTES)
    assert read_frame(b, MAX_REQUEST_BYTES) == message
    assert read_frame(b, MAX_REQUEST_BYTES) == {"id": 8}


def test_a_frame_arriving_a_byte_at_a_time_is_read_whole(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    data = protocol.encode({"op": "hello", "pad": "x" * 300})

    def trickle() -> None:
        for i in range(len(data)):
            a.sendall(data[i : i + 1])

    sender = threading.Thread(target=trickle)
    sender.start()
    assert read_frame(b, MAX_REQUEST_BYTES)["pad"] == "x" * 300
    sender.join()


def test_a_deadline_bounds_the_whole_frame_not_each_read(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """A byte arrives well within each read's time, but the frame is not done by the
    deadline: that is a timeout, however long the peer would go on."""
    a, b = pair
    data = protocol.encode({"op": "hello", "pad": "x" * 300})
    done = threading.Event()

    def trickle() -> None:
        for i in range(len(data)):
            if done.wait(0.02):
                return
            with contextlib.suppress(OSError):
                a.sendall(data[i : i + 1])

    sender = threading.Thread(target=trickle)
    sender.start()
    try:
        with pytest.raises(TimeoutError):
            read_frame(b, MAX_REQUEST_BYTES, deadline=time.monotonic() + 0.3)
    finally:
        done.set()
        sender.join()
    with pytest.raises(TimeoutError):  # a deadline already past reads nothing
        read_frame(b, MAX_REQUEST_BYTES, deadline=time.monotonic() - 1)


def test_a_length_over_the_limit_is_refused_before_its_body_arrives(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    a.sendall(struct.pack(">I", MAX_REQUEST_BYTES + 1))  # and no body at all
    with pytest.raises(ProtocolError, match="limit"):
        read_frame(b, MAX_REQUEST_BYTES)


def test_the_peer_closing_is_told_apart_from_a_cut_frame(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    a.close()
    with pytest.raises(ConnectionClosed, match=r"closed the connection$"):
        read_frame(b, MAX_REQUEST_BYTES)

    c, d = socket.socketpair()
    with c, d:
        c.sendall(struct.pack(">I", 10) + b'{"a"')
        c.close()
        with pytest.raises(ConnectionClosed, match="middle of a frame"):
            read_frame(d, MAX_REQUEST_BYTES)


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe{}",  # not UTF-8
        b"{'single': 'quotes'}",
        b"[1, 2, 3]",  # JSON, but not an object
        b'"text"',
        b"",
        b'{"x": NaN}',
        b'{"x": Infinity}',
        b"[" * 200_000,  # nesting deep enough to exhaust the parser's recursion
        b'{"x": ' + b"9" * 10_000 + b"}",  # an integer too long to convert
    ],
)
def test_malformed_bodies_are_protocol_errors(
    pair: tuple[socket.socket, socket.socket], body: bytes
) -> None:
    a, b = pair
    sender = threading.Thread(target=a.sendall, args=(_raw(body),))
    sender.start()
    with pytest.raises(ProtocolError):
        read_frame(b, MAX_REQUEST_BYTES)
    sender.join()


def test_encoding_refuses_what_the_peer_would_refuse() -> None:
    with pytest.raises(ProtocolError, match="limit"):
        protocol.encode({"pad": "x" * 100}, limit=50)
    with pytest.raises(ValueError, match="JSON"):
        protocol.encode({"x": float("nan")})


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1), (0, 0), (True, None), ("1", None), (1.0, None), (2**70, None), (None, None)],
)
def test_request_ids_are_plain_integers(value: object, expected: int | None) -> None:
    assert protocol.request_id({"id": value}) == expected


def test_arguments_are_checked() -> None:
    assert protocol.int_arg({}, "frames", 1, 1, 100) == 1
    assert protocol.int_arg({"frames": 100}, "frames", 1, 1, 100) == 100
    for bad in (0, 101, True, "5", 2.5, None):
        with pytest.raises(RequestError, match="frames must be"):
            protocol.int_arg({"frames": bad}, "frames", 1, 1, 100)
    assert protocol.choice_arg({"by": "traceback"}, "by", "lineno", ("lineno", "traceback"))
    with pytest.raises(RequestError, match="by must be"):
        protocol.choice_arg({"by": ["lineno"]}, "by", "lineno", ("lineno", "traceback"))


@pytest.fixture
def gc_pauses() -> Iterator[GcPauses]:
    pauses = GcPauses()
    yield pauses
    pauses.clear()
    assert pauses._hook not in gc.callbacks


def _session(gc_pauses: GcPauses, token: str | None = None) -> Session:
    state = AgentState({"pid": 1}, token, Tracing(), gc_pauses)
    return Session(state, "unix")


def _hello(**fields: Any) -> dict[str, Any]:
    return {"id": 1, "op": "hello", "protocol": 1, "token": None, **fields}


def test_the_first_frame_must_be_a_hello_in_a_known_protocol(gc_pauses: GcPauses) -> None:
    for first in ({"id": 1, "op": "stats"}, _hello(protocol=2), _hello(protocol=True)):
        session = _session(gc_pauses)
        answer = session.handle(first)
        assert answer["ok"] is False
        assert session.closing
    session = _session(gc_pauses)
    answer = session.handle(_hello())
    assert answer["ok"] is True
    assert answer["id"] == 1
    assert answer["result"]["protocol"] == 1
    assert "stats" in answer["result"]["ops"]
    assert not session.closing


@pytest.mark.parametrize("presented", [None, "", "wrong", "secret-token!", 12345, "\ud800"])
def test_a_wrong_token_ends_the_connection(gc_pauses: GcPauses, presented: object) -> None:
    session = _session(gc_pauses, token="secret-token")
    answer = session.handle(_hello(token=presented))
    assert answer["code"] == "unauthorized"
    assert session.closing
    right = _session(gc_pauses, token="secret-token")
    assert right.handle(_hello(token="secret-token"))["ok"] is True


def test_unknown_or_bad_requests_get_an_error_and_the_connection_goes_on(
    gc_pauses: GcPauses,
) -> None:
    session = _session(gc_pauses)
    session.handle(_hello())
    for request, code in [
        ({"id": 2, "op": "exec", "code": "print(1)"}, "unknown_op"),
        ({"id": 3, "op": ["stats"]}, "unknown_op"),
        ({"id": 4}, "unknown_op"),
        ({"id": 5, "op": "tracemalloc.start", "frames": 0}, "bad_request"),
        ({"id": 6, "op": "top", "by": "everything"}, "bad_request"),
        ({"id": 7, "op": "objects", "limit": 10**9}, "bad_request"),
    ]:
        answer = session.handle(request)
        assert (answer["id"], answer["ok"], answer["code"]) == (request["id"], False, code)
        assert not session.closing
    stats = session.handle({"id": 8, "op": "stats"})
    assert stats["ok"] is True
    json.dumps(stats, allow_nan=False)  # every answer is plain JSON
    assert session.handle({"id": 9, "op": "bye"})["ok"] is True
    assert session.closing


def test_gc_pauses_are_collected_only_while_asked_for(gc_pauses: GcPauses) -> None:
    session = _session(gc_pauses)
    session.handle(_hello())
    assert gc_pauses._hook not in gc.callbacks
    first = session.handle({"id": 2, "op": "gc.pauses"})["result"]
    assert first["collecting"] is True
    assert gc_pauses._hook in gc.callbacks
    gc.collect()
    second = session.handle({"id": 3, "op": "gc.pauses"})["result"]
    assert second["count"] >= 1
    assert second["pauses"][-1]["generation"] == 2
    session.close()
    assert gc_pauses._hook not in gc.callbacks


def test_only_one_costly_request_at_a_time() -> None:
    gate = CostGate()
    with gate.run("top"), pytest.raises(RequestError) as busy, gate.run("objects"):
        pass
    assert busy.value.code == "busy"
    with gate.run("objects"):  # free again once the first ended
        pass


def test_a_costly_request_earns_a_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "CHEAP_S", 0.0)
    gate = CostGate(rest_factor=1e9)
    with gate.run("top"):
        time.sleep(0.001)
    with pytest.raises(RequestError) as resting, gate.run("top"):
        pass
    assert resting.value.code == "busy"
    assert resting.value.retry_after_s is not None
    assert resting.value.retry_after_s > 0


def test_addresses() -> None:
    assert parse_tcp("8765") == TcpAddress("127.0.0.1", 8765)
    assert parse_tcp(":0") == TcpAddress("127.0.0.1", 0)
    assert parse_tcp("0.0.0.0:80") == TcpAddress("0.0.0.0", 80)
    assert parse_tcp("[::1]:9") == TcpAddress("::1", 9)
    assert str(TcpAddress("::1", 9)) == "[::1]:9"
    assert TcpAddress("127.0.0.1", 1).is_loopback
    assert not TcpAddress("0.0.0.0", 1).is_loopback
    for bad in ("host:port", "1:2:3", "70000", "[::1]"):
        with pytest.raises(ValueError, match="not a TCP"):
            parse_tcp(bad)
    assert parse_address("unix:agent.sock") == "agent.sock"
    assert parse_address("/run/x/1-ab.sock") == "/run/x/1-ab.sock"
    assert parse_address("localhost:9000") == TcpAddress("localhost", 9000)


def test_command_lines_in_the_registry_are_redacted() -> None:
    argv = ["app.py", "--token", "abc", "--api-key=xyz", "postgres://u:pw@db/x", "x" * 500]
    out = redact_argv(argv)
    assert out[:4] == ["app.py", "--token", "***", "--api-key=***"]
    assert out[4] == "postgres://u:***@db/x"
    assert len(out[5]) < 250


def test_type_names_do_not_run_a_metaclass_code() -> None:
    class Meta(type):
        @property
        def __module__(cls) -> str:
            raise RuntimeError("ran")

    class Hostile(metaclass=Meta):
        pass

    with pytest.raises(RuntimeError):
        _ = Hostile.__module__
    assert (
        type_name(Hostile)
        == f"{__name__}.test_type_names_do_not_run_a_metaclass_code.<locals>.Hostile"
    )
    assert type_name(int) == "int"
    assert type_name(json.JSONDecoder) == "json.decoder.JSONDecoder"


# The wire codec: `_json`'s C encoder and scanner, configured as json.dumps and json.loads.

TRICKY_MESSAGES: list[dict[str, Any]] = [
    {"id": 1, "op": "stats"},
    {"text": '\ud800 lone, \udcff escaped, 😀 astral, é, \x00\x1f\x7f "quoted" \\ /'},
    {"n": [0, -1, 2**70, -(2**63), 0.1, -0.0, 1e300, 5e-324, True, False, None]},
    {"nested": {"a": [{"b": []}, {}], "ünïcødé key": "\u2028\u2029"}},
    {},
]


@pytest.mark.parametrize("message", TRICKY_MESSAGES)
def test_frames_hold_what_json_writes_and_reads(message: dict[str, Any]) -> None:
    body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    assert protocol.encode(message) == struct.pack(">I", len(body)) + body
    assert protocol.decode(body) == json.loads(body)
    assert protocol.decode(b" \r\n\t" + json.dumps(message, indent=2).encode() + b"\n ") == message
    # The fallback, where `_json` is missing, writes and reads the same.
    assert protocol._dumps_json(message) == protocol._dumps(message)
    assert protocol._loads_json(body.decode()) == protocol._loads(body.decode())


@pytest.mark.parametrize(
    "text", ["", "  ", "{", '{"a": 1} x', '{"a": 1}{}', "[1,]", '{"a": -Infinity}', '"\x01"']
)
def test_the_codec_refuses_what_json_refuses(text: str) -> None:
    with pytest.raises(ProtocolError, match="not a JSON frame"):
        protocol.decode(text.encode())
    with pytest.raises(ValueError, match=r"Expecting|Extra data|Invalid control|is not JSON"):
        protocol._loads_json(text)


def test_encoding_refuses_what_json_cannot_write() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        protocol.encode({"x": object()})
    with pytest.raises(ValueError, match="JSON"):
        protocol.encode({"x": float("inf")})


# The registry entry's own JSON writer (the agent does without `json` until a viewer).


@pytest.mark.parametrize(
    "text", ["plain", "", "\ud800", "\udcff\udc80x", '\x00\x1f\x7f"\\/\b\f\n\r\t', "é€😀\u2028"]
)
def test_the_registry_entry_is_json_whatever_its_strings_hold(text: str) -> None:
    fields = {"pid": 1, "name": text, "argv": [text, "x"], "tcp": None, "ok": True, "t": 0.5}
    written = _entry.json_object(fields)
    assert written.isascii()
    assert json.loads(written) == fields
    assert _entry.json_string(text) == json.dumps(text)


def test_the_registry_entry_refuses_what_json_would_not_read() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        _entry.json_object({"started": float("nan")})
    with pytest.raises(TypeError):
        _entry.json_object({"x": {"nested": 1}})


# -- frames and answers from outside: valid data passes unchanged, the rest is one error --


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _expected_frame(data: bytes, limit: int) -> dict[str, Any] | type[ProtocolError]:
    """What reading `data` (then the peer's close) must give: json.loads's object, or a
    ProtocolError (ConnectionClosed being one)."""
    if len(data) < 4 or int.from_bytes(data[:4], "big") > limit:
        return ProtocolError
    length = int.from_bytes(data[:4], "big")
    if len(data) - 4 < length:
        return ProtocolError
    try:
        value = json.loads(data[4 : 4 + length].decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return ProtocolError
    return value if isinstance(value, dict) else ProtocolError


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_frames = st.one_of(
    st.dictionaries(st.text(max_size=8), _json_values, max_size=5).map(protocol.encode),
    _json_values.map(lambda v: protocol.encode({"v": v})[:-1]),  # cut short
    st.binary(max_size=60).map(lambda b: len(b).to_bytes(4, "big") + b),
    st.text(max_size=40).map(lambda t: len(t.encode()).to_bytes(4, "big") + t.encode()),
    st.binary(max_size=40),  # any length at all
)


@settings(max_examples=300, deadline=None)
@given(_frames, st.sampled_from([protocol.MAX_REQUEST_BYTES, protocol.MAX_RESPONSE_BYTES, 16]))
def test_any_bytes_read_as_a_frame_are_an_object_or_a_protocol_error(
    data: bytes, limit: int
) -> None:
    """The decoder both sides use (the agent with the request limit, memlens with the
    answer limit): a frame is json.loads's object, or ProtocolError, nothing else."""
    a, b = socket.socketpair()
    with a, b:
        a.sendall(data)
        a.shutdown(socket.SHUT_WR)
        expected = _expected_frame(data, limit)
        if expected is ProtocolError:
            with pytest.raises(ProtocolError):
                read_frame(b, limit, deadline=time.monotonic() + 10)
        else:
            assert read_frame(b, limit, deadline=time.monotonic() + 10) == expected


_counts = st.integers(0, 2**63 - 1)
_seconds = st.floats(0, 1e11) | st.integers(0, 10**11)
_names = st.text(max_size=40)


def _full(**fields: Any) -> Any:
    return st.fixed_dictionaries(fields)


_VALID = {
    "hello": _full(
        agent=st.just("memlens"),
        protocol=st.just(1),
        pid=_counts,
        ppid=_counts,
        start_ticks=st.none() | _counts,
        name=_names,
        python=st.just("3.11.7"),
        implementation=st.just("cpython"),
        executable=st.none() | _names,
        argv=st.lists(_names, max_size=5),
        started=_seconds,
        transport=st.sampled_from(["unix", "tcp"]),
        ops=st.lists(st.sampled_from(["stats", "top", "bye"]), max_size=3),
        limits=_full(
            max_request_bytes=_counts,
            max_response_bytes=_counts,
            max_frames=_counts,
            max_limit=_counts,
        ),
    ),
    "stats": _full(
        time=_seconds,
        uptime_s=st.floats(-1e6, 1e6),
        rss_bytes=st.none() | _counts,
        vms_bytes=st.none() | _counts,
        max_rss_bytes=st.none() | _counts,
        threads=_counts,
        python_threads=_counts,
        fds=_counts,
        allocated_blocks=_counts,
        gc=_full(
            enabled=st.booleans(),
            counts=st.lists(_counts, max_size=3),
            thresholds=st.lists(_counts, max_size=3),
            generations=st.lists(
                _full(collections=_counts, collected=_counts, uncollectable=_counts), max_size=3
            ),
            garbage=_counts,
            pauses_collecting=st.booleans(),
        ),
        tracemalloc=_full(
            tracing=st.booleans(),
            frames=_counts,
            current_bytes=_counts,
            peak_bytes=_counts,
            overhead_bytes=_counts,
        ),
    ),
    "tracemalloc.start": _full(
        tracing=st.booleans(),
        frames=_counts,
        started_by_agent=st.booleans(),
        since=st.none() | _seconds,
    ),
    "top": _full(
        by=st.sampled_from(["lineno", "traceback", "filename"]),
        order=st.sampled_from(["growth", "size"]),
        frames=_counts,
        baseline=st.sampled_from(["previous", "trace_start"]),
        baseline_time=st.none() | _seconds,
        total_bytes=_counts,
        total_blocks=_counts,
        total_diff_bytes=st.integers(-(2**63 - 1), 2**63 - 1),
        sites=st.lists(
            _full(
                file=_names,
                line=_counts,
                size_bytes=_counts,
                count=_counts,
                size_diff_bytes=st.integers(-(2**40), 2**40),
                count_diff=st.integers(-9, 9),
                traceback=st.lists(_full(file=_names, line=_counts), max_size=3),
            ),
            max_size=3,
        ),
        elapsed_s=_seconds,
        over_budget=st.booleans(),
    ),
    "objects": _full(
        total=_counts,
        distinct_types=_counts,
        types=st.lists(_full(type=_names, count=_counts), max_size=3),
        elapsed_s=_seconds,
        over_budget=st.booleans(),
    ),
    "gc.pauses": _full(
        collecting=st.booleans(),
        since=st.none() | _seconds,
        count=_counts,
        total_s=_seconds,
        max_s=_seconds,
        dropped=_counts,
        idle_stop_s=_seconds,
        pauses=st.lists(
            _full(
                time=_seconds,
                generation=_counts,
                duration_s=_seconds,
                collected=_counts,
                uncollectable=_counts,
            ),
            max_size=3,
        ),
    ),
}
_answers = st.sampled_from(sorted(_VALID)).flatmap(lambda op: st.tuples(st.just(op), _VALID[op]))


@settings(max_examples=200, deadline=None)
@given(_answers)
def test_a_valid_answer_passes_unchanged(answer: tuple[str, dict[str, Any]]) -> None:
    op, result = answer
    assert answers.checked(op, result, "unix:x") == result
    # Fields it does not know are left out; the rest is as it was.
    assert answers.checked(op, {**result, "new_field": [1, {"x": 2}]}, "unix:x") == result


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _nodes(item, (*path, i))


def _hostile(value: Any) -> list[Any]:
    """Values that are wrong wherever `value` is right."""
    if value is None:
        return [{"k": 1}]
    if isinstance(value, bool):
        return [1, "true", {"k": 1}, [True]]
    if isinstance(value, (int, float)):
        return ["7", float("nan"), float("inf"), True, {"k": 1}, [1], 2**70, -(2**70), 1e300]
    if isinstance(value, str):
        return [7, True, {"k": 1}, ["a"], "x" * 5000]
    if isinstance(value, list):
        return [7, "x", {"k": 1}]
    return [7, "x", [1], None] if value is not None else []


@settings(max_examples=300, deadline=None)
@given(_answers, st.data())
def test_anything_else_is_the_one_clean_error(
    answer: tuple[str, dict[str, Any]], data: st.DataObject
) -> None:
    op, result = answer
    path, node = data.draw(st.sampled_from(list(_nodes(result))))
    bad = data.draw(st.sampled_from(_hostile(node)))
    if not path:
        result = bad
    else:
        parent = result
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = bad
    with pytest.raises(AgentMisbehaved) as error:
        answers.checked(op, result, "unix:x")
    assert "\n" not in str(error.value)


def test_a_list_longer_than_an_agent_sends_is_refused() -> None:
    with pytest.raises(AgentMisbehaved, match="more than"):
        answers.checked("gc.pauses", {"pauses": [{}] * 5000}, "unix:x")
