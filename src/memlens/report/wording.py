"""How a report names times and exit states; the figures come from `memlens.analysis`
and the units from `memlens.units`, so a page agrees with `memlens show`."""

from __future__ import annotations

import math
import time

from memlens.model import Target


def utc_time(t: float | None) -> str:
    """A wall-clock time as 'YYYY-MM-DD HH:MM:SS UTC': unambiguous wherever it is read."""
    if t is None or not math.isfinite(t):
        return "–"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def exit_text(target: Target) -> str:
    """'running', 'exited (code 3)', 'exited: pid-reused', ..."""
    if target.state == "running":
        return "running"
    text = target.state
    if target.exit_reason and target.exit_reason != target.state:
        text += f": {target.exit_reason}"
    if target.exit_code is not None:
        text += f" (code {target.exit_code})"
    return text
