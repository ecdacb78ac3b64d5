"""`memlens monitor PID --duration D [--interval S] [-o FILE]`: `memlens record` under the
name the Profiler's `start_monitoring` suggests; the same options and the same code."""

from __future__ import annotations

from memlens.cli import record
from memlens.cli._common import Command

COMMAND = Command(
    "monitor",
    "record processes' memory for a while (the same command as record)",
    record.configure,
    record.run,
)
