"""Logging that cannot flood or break the host.

A hostile or buggy viewer can repeat the same mistake thousands of times a second; the
host's logs get one line per kind of problem, not one per occurrence.
"""

from __future__ import annotations

import contextlib
import logging
import threading

LOG = logging.getLogger("memlens.agent")

_seen: set[str] = set()
_lock = threading.Lock()


def log_once(kind: str, message: str, *, exc: BaseException | None = None) -> None:
    """Logs `message` the first time `kind` happens in this process; never raises."""
    with contextlib.suppress(Exception):  # logging must never take the host down
        with _lock:
            if kind in _seen:
                return
            _seen.add(kind)
        LOG.warning("%s", message, exc_info=exc)


def reset_after_fork() -> None:
    """A fork can copy the lock while another thread holds it; the child starts afresh."""
    global _lock
    _lock = threading.Lock()
