"""Start-up without a code change: run from a `.pth` line when MEMLENS_AGENT=1.

Interpreter start-up must not fail because of a profiler, so nothing here raises: a
problem is logged (to stderr, through the `memlens.agent` logger) and the program runs on
without an agent.
"""

from __future__ import annotations

import os

from memlens.agent._log import log_once
from memlens.agent.lifecycle import start

ENABLING = ("1", "true", "yes", "on")


def enabled(environ: dict[str, str] | os._Environ[str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return environ.get("MEMLENS_AGENT", "").strip().lower() in ENABLING


def run() -> None:
    """Starts the agent as MEMLENS_AGENT, MEMLENS_AGENT_ADDRESS and MEMLENS_AGENT_TOKEN say,
    and the heap profiler too when MEMLENS_HEAP=1 (MEMLENS_HEAP_INTERVAL: its mean interval)."""
    try:
        if not enabled():
            return
        address = os.environ.get("MEMLENS_AGENT_ADDRESS") or None
        token = os.environ.get("MEMLENS_AGENT_TOKEN") or None
        name = os.environ.get("MEMLENS_AGENT_NAME") or None
        try:
            start(address, token, name=name)
        except ValueError as exc:
            log_once("autostart-tcp", f"memlens agent: no TCP ({exc}); Unix socket only")
            start(None, token, name=name)
        if os.environ.get("MEMLENS_HEAP", "").strip().lower() in ENABLING:
            from memlens.agent import heap

            heap.start_from_env(os.environ)
    except Exception as exc:
        log_once("autostart", f"memlens agent: not started: {exc}")
