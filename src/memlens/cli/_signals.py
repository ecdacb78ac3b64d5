"""SIGTERM and SIGHUP stop a command the way Ctrl-C does.

Service managers stop with SIGTERM (systemd, `docker stop`) and a closed terminal sends
SIGHUP; left to their defaults either kills memlens on the spot, and its recording is
never ended. Here each is handed to whatever handles SIGINT at that moment: Python's
default handler (KeyboardInterrupt), asyncio.run's (it cancels the main task) or
uvicorn's (a graceful shutdown). So every command's Ctrl-C path, which ends the
recording and exits 0, is its SIGTERM and SIGHUP path too, without a second copy of it.
Where a signal is handled closer to the work (uvicorn's own SIGTERM handler while it
serves, which re-raises the signal once it has shut down; `run` and `check`, which
take signals synchronously and pass them to their command; the terminal UI), that
handler applies first and this one last.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _as_ctrl_c(signum: int, frame: FrameType | None) -> None:
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:  # SIGINT ignored (a background job of a script): stopping still means stopping
        raise KeyboardInterrupt


@contextlib.contextmanager
def stop_like_ctrl_c() -> Iterator[None]:
    """SIGTERM and SIGHUP act as Ctrl-C inside the block (in the main thread only:
    elsewhere, when `main` is called from a thread, signals are not this code's)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, _as_ctrl_c) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
