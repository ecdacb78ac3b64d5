"""Logging that cannot flood or break the host.

A hostile or buggy viewer can repeat the same mistake thousands of times a second; the
host's logs get one line per kind of problem, not one per occurrence. `logging` itself
is imported on the first line logged: an agent with nothing to say leaves it unloaded.
"""

from __future__ import annotations

import contextlib
import threading

LOGGER_NAME = "memlens.agent"

_seen: set[str] = set()
_lock = threading.Lock()


class _Log:
    """The `memlens.agent` logger, looked up when something is logged."""

    __slots__ = ()

    def warning(self, message: str, *args: object, exc_info: BaseException | None = None) -> None:
        import logging

        logging.getLogger(LOGGER_NAME).warning(message, *args, exc_info=exc_info)


LOG = _Log()


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
