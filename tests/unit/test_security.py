from __future__ import annotations

import ipaddress
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.web.limits import json_depth_ok, parse_json
from memlens.web.security import SecurityPolicy, is_loopback, origin_matches_host, parse_host


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "[::1]:8765", "127.0.0.2"])
def test_loopback_hosts_are_allowed(host: str) -> None:
    assert SecurityPolicy().host_allowed(host)


@pytest.mark.parametrize("host", ["evil.example:8765", "192.168.1.5:8765", "", "[::1"])
def test_other_hosts_are_refused_when_bound_to_loopback(host: str) -> None:
    assert not SecurityPolicy().host_allowed(host)


def test_a_wider_bind_accepts_other_host_names_but_needs_the_token() -> None:
    policy = SecurityPolicy(token="correct-horse", loopback_only=False)
    assert policy.host_allowed("myserver:8765")
    assert policy.token_ok("correct-horse")
    assert not policy.token_ok("correct-hors")
    assert not policy.token_ok(None)


def test_origin_must_equal_the_host() -> None:
    assert origin_matches_host("http://127.0.0.1:8765", "127.0.0.1:8765")
    assert not origin_matches_host("http://evil.example", "127.0.0.1:8765")
    assert not origin_matches_host("http://127.0.0.1:9999", "127.0.0.1:8765")
    assert not origin_matches_host("null", "127.0.0.1:8765")


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("10.0.0.1")


GOOD_HOSTS = [
    ("127.0.0.1", "127.0.0.1"),
    ("127.0.0.1:8765", "127.0.0.1"),
    ("localhost:1", "localhost"),
    ("LocalHost:65535", "localhost"),
    ("[::1]", "::1"),
    ("[::1]:8765", "::1"),
    ("my-server.example.org:80", "my-server.example.org"),
    ("host_1", "host_1"),
]
BAD_HOSTS = [
    "",
    "[::1].evil.example:8765",
    "[::1]x",
    "[::1]:",
    "[::1]:0",
    "[::1]:65536",
    "[::1%eth0]:80",
    "[evil.example]:80",
    "127.0.0.1:8765@evil.example",
    "127.0.0.1:",
    "127.0.0.1:0",
    "127.0.0.1:99999",
    "127.0.0.1:+80",
    "127.0.0.1: 80",
    "127.0.0.1:80:80",
    "::1",
    "evil..example",
    ".localhost",
    "localhost.",
    "local host",
    "user@localhost",
    "localhost/x",
    "a" * 64 + ".example",
]


@pytest.mark.parametrize(("header", "name"), GOOD_HOSTS)
def test_good_host_headers_parse(header: str, name: str) -> None:
    assert parse_host(header) == name


@pytest.mark.parametrize("header", BAD_HOSTS)
def test_loose_host_headers_are_refused(header: str) -> None:
    assert parse_host(header) is None
    assert not SecurityPolicy().host_allowed(header)
    assert not SecurityPolicy(token="t" * 8, loopback_only=False).host_allowed(header)


_name = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_host_header_parses_to_nothing_or_a_clean_name(header: str) -> None:
    name = parse_host(header)
    if name is None:
        return
    # What passes is exactly one of the four forms, and nothing trails the port.
    if header.startswith("["):
        inside, _, rest = header[1:].partition("]")
        assert name == ipaddress.IPv6Address(inside).compressed or name == inside.lower()
    else:
        host, _, rest = header.partition(":")
        assert name == host.lower()
        assert all((c.isalnum() and c.isascii()) or c in "._-" for c in host)
        rest = ":" + rest if rest else ""
    assert rest == "" or (rest[0] == ":" and rest[1:].isdigit() and 1 <= int(rest[1:]) <= 65535)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(_name, min_size=1, max_size=4).map(".".join),
    st.one_of(st.none(), st.integers(1, 65535)),
    st.text(max_size=12).filter(lambda s: s != ""),
)
def test_a_trailer_after_a_host_is_never_accepted_as_loopback(
    name: str, port: int | None, trailer: str
) -> None:
    base = f"127.0.0.1:{port}" if port else "[::1]"
    header = base + trailer
    parsed = parse_host(header)
    if parsed is not None:
        # Only a trailer that completes a port can be valid: then the name is still ours.
        assert parsed in ("127.0.0.1", "::1")
        assert header.rsplit(":", 1)[1].isdigit()
    assert parse_host(f"{name}:{port}" if port else name) == name.lower()


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("[]", True),
        ("[" * 32 + "]" * 32, True),
        ("[" * 33 + "]" * 33, False),
        ('{"a":' * 33 + "1" + "}" * 33, False),
        ('["' + "[" * 100 + '"]', True),  # brackets in a string do not count
        ('["\\"' + "[" * 100 + '"]', True),
        ("[" * 100_000, False),
    ],
)
def test_json_depth(text: str, ok: bool) -> None:
    assert json_depth_ok(text) is ok


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(alphabet='[]{}":,1 \\a', max_size=200).map(str.encode))
def test_parse_json_gives_data_or_value_error(body: bytes) -> None:
    try:
        value = parse_json(body, limit=4)
    except ValueError:
        return
    assert json.dumps(json.loads(body)) == json.dumps(value)
    assert json_depth_ok(json.dumps(value), 4)
