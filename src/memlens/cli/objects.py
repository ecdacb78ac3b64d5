"""`memlens objects PID [--duration D] [--top N] [--json]`: the Python object types whose
counts grow fastest in a process that runs the memlens agent, next to the source lines
whose traced memory grew most meanwhile (when tracemalloc traces there).

Two object counts by type (the agent's `objects` op) DURATION apart; the agent returns the
100 most numerous types at each, so a type that entered them meanwhile is counted from
the smallest count of the first reading ("new"). The lines are the agent's `top` by
growth over the same stretch.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from memlens.agent.protocol import E_NOT_TRACING
from memlens.cli._common import Command, parse_duration
from memlens.errors import AgentBusy, AgentRequestFailed, MemlensError, UsageError
from memlens.outside.visible import json_visible, visible
from memlens.probes.python import PythonProbe
from memlens.units import human_bytes, human_duration

TYPES = 100  # the most the agent counts per reading
BUSY_TRIES = 20  # asks of a busy agent before giving up
MAX_REST = 5.0  # s: the longest rest waited for at once
T = TypeVar("T")


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("pid", type=int, metavar="PID", help="a process that runs the memlens agent")
    p.add_argument(
        "--duration",
        type=parse_duration,
        default=10.0,
        metavar="DURATION",
        help="how long to watch the counts grow (default 10s)",
    )
    p.add_argument("--top", type=int, default=15, metavar="N", help="types and lines shown")
    p.add_argument("--json", action="store_true", help="one JSON object for scripts")


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.top <= TYPES:
        raise UsageError(f"--top is 1 to {TYPES}")
    agent = PythonProbe.find(args.pid)
    if agent is None:
        raise UsageError(
            f"PID {args.pid} runs no memlens agent that answers: start it with "
            "`memlens attach PID`, `memlens run --agent -- CMD`, or "
            "`import memlens.agent; memlens.agent.start()`"
        )
    try:
        before = _patiently(lambda: agent.objects(limit=TYPES))
        # The baseline the lines' growth counts from.
        tracing = _patiently(lambda: _sites(agent, args.top)) is not None
        t0 = time.monotonic()
        time.sleep(args.duration)
        after = _patiently(lambda: agent.objects(limit=TYPES))
        seconds = time.monotonic() - t0
        sites = _patiently(lambda: _sites(agent, args.top)) if tracing else None
    except MemlensError as e:
        raise UsageError(f"the agent of PID {args.pid} stopped answering: {e}") from None
    finally:
        agent.close()
    types = growth(before, after, seconds)[: args.top]
    body: dict[str, Any] = {
        "pid": args.pid,
        "seconds": seconds,
        "total": after.get("total"),
        "total_change": _int(after.get("total")) - _int(before.get("total")),
        "types": types,
        "sites": sites,
    }
    if args.json:
        print(json_visible(json.dumps(body, ensure_ascii=False)))
    else:
        print("\n".join(visible(line) for line in text(body)))
    return 0


def _patiently(ask: Callable[[], T]) -> T:
    """`ask()`, again after the rest the agent asks for while it is busy: each costly
    request (a count, a tracemalloc snapshot) is followed by a rest under its budget."""
    for _ in range(BUSY_TRIES - 1):
        try:
            return ask()
        except AgentBusy as e:
            time.sleep(min(max(e.retry_after_s, 0.05), MAX_REST))
    return ask()


def _sites(agent: PythonProbe, limit: int) -> list[dict[str, Any]] | None:
    """The lines whose traced memory grew most since the last call; None while the
    process does not trace (the agent refuses `top` then)."""
    try:
        sites: list[dict[str, Any]] = agent.top(limit=limit)["sites"]
    except AgentRequestFailed as e:
        if e.code == E_NOT_TRACING:
            return None
        raise
    return sites


def growth(before: dict[str, Any], after: dict[str, Any], seconds: float) -> list[dict[str, Any]]:
    """Each type of the later reading with its change and rate, the fastest growing first."""
    old = {t["type"]: int(t["count"]) for t in before.get("types", [])}
    floor = min(old.values(), default=0)
    rows = []
    for entry in after.get("types", []):
        name, count = entry["type"], int(entry["count"])
        new = name not in old
        change = count - (floor if new else old[name])
        rows.append(
            {
                "type": name,
                "count": count,
                "change": change,
                "rate": change / seconds if seconds > 0 else None,
                "new": new,
            }
        )
    rows.sort(key=lambda r: (-r["change"], -r["count"]))
    return rows


def text(body: dict[str, Any]) -> list[str]:
    lines = [
        f"memlens objects: PID {body['pid']}, over {human_duration(body['seconds'])}: "
        f"{_int(body['total']):,} objects tracked by the collector ({body['total_change']:+,})",
        "",
        f"{'change':>10} {'per s':>9} {'count':>10}  type",
    ]
    for row in body["types"]:
        rate = "–" if row["rate"] is None else f"{row['rate']:+.1f}"
        new = " (new in the top 100)" if row["new"] else ""
        lines.append(f"{row['change']:>+10,} {rate:>9} {row['count']:>10,}  {row['type']}{new}")
    lines.append("")
    if body["sites"] is None:
        lines.append(
            "allocation sites: tracemalloc is off in the process (turn it on from the "
            "dashboard, or `memlens run --tracemalloc 1`) to see the lines that grew"
        )
    else:
        lines.append("allocation sites whose traced memory grew most meanwhile:")
        for site in body["sites"]:
            sign = "+" if site["size_diff_bytes"] >= 0 else "-"
            lines.append(
                f"{sign + human_bytes(abs(site['size_diff_bytes'])):>12} "
                f"{site['count_diff']:>+10,} blocks  {site['file']}:{site['line']}"
            )
    return lines


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


COMMAND = Command(
    "objects",
    "the Python object types growing fastest in a process with the agent, and where",
    configure,
    run,
)
