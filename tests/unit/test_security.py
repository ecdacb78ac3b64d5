from __future__ import annotations

import pytest

from memlens.web.security import SecurityPolicy, is_loopback, origin_matches_host


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
