"""Logging that cannot flood or break the host.

A hostile or buggy viewer can repeat the same mistake thousands of times a second; the
host's logs get one line per kind of problem, not one per occurrence. `logging` itself
is imported on the first line logged: an agent with nothing to say leaves it unloaded.
"""

from __future__ import annotations

import _thread

LOGGER_NAME = "memlens.agent"

_seen: set[str] = set()
_lock = _thread.allocate_lock()


def warning(message: str, *args: object, exc_info: BaseException | None = None) -> None:
    """A warning through the `memlens.agent` logger, looked up (and imported) only now."""
    import logging

    logging.getLogger(LOGGER_NAME).warning(message, *args, exc_info=exc_info)


def log_once(kind: str, message: str, *, exc: BaseException | None = None) -> None:
    """Logs `message` the first time `kind` happens in this process; never raises."""
    try:
        with _lock:
            if kind in _seen:
                return
            _seen.add(kind)
        warning("%s", message, exc_info=exc)
    except Exception:  # logging must never take the host down
        return


def reset_after_fork() -> None:
    """A fork can copy the lock while another thread holds it; the child starts afresh."""
    global _lock
    _lock = _thread.allocate_lock()
