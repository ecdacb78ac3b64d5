"""Where an agent listens, written the one way both sides parse it.

A path (or `unix:PATH`) is a Unix domain socket; `HOST:PORT`, `[V6]:PORT`, `:PORT` or a
bare port is TCP, on 127.0.0.1 unless a host is named: nothing listens beyond the machine
unless someone asked for it by name.
"""

from __future__ import annotations

from memlens.agent._record import Record

DEFAULT_HOST = "127.0.0.1"
_IPV6_LOOPBACK = bytes(15) + b"\x01"


class TcpAddress(Record):
    __slots__ = ("host", "port")
    host: str
    port: int

    def __init__(self, host: str, port: int) -> None:
        self._set(host=host, port=port)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        """`localhost`, an address in 127.0.0.0/8, or ::1 (with or without a scope); what
        `ipaddress` says of them, without loading it into the agent's host."""
        if self.host == "localhost":
            return True
        import _socket

        ipv6 = ":" in self.host
        family = _socket.AF_INET6 if ipv6 else _socket.AF_INET
        try:
            packed = _socket.inet_pton(family, self.host.partition("%")[0] if ipv6 else self.host)
        except (OSError, ValueError):  # a name, or not an address at all
            return False
        return packed == _IPV6_LOOPBACK if ipv6 else packed[0] == 127


def parse_tcp(text: str) -> TcpAddress:
    """`HOST:PORT`, `[V6]:PORT`, `:PORT` or `PORT`; ValueError for anything else."""
    text = text.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"not a TCP address: {text!r}")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    elif ":" not in text:
        host, port = "", text
    else:
        raise ValueError(f"not a TCP address: {text!r} (write an IPv6 host as [HOST]:PORT)")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"not a TCP port: {port!r}")
    return TcpAddress(host or DEFAULT_HOST, int(port))


def parse_address(text: str) -> str | TcpAddress:
    """A Unix socket path (a str) or a TcpAddress, for a client to connect to."""
    if text.startswith("unix:"):
        return text[len("unix:") :]
    if "/" in text:
        return text
    try:
        return parse_tcp(text)
    except ValueError:
        return text
