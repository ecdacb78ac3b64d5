"""`memlens ls`: the Python processes of this user that run the memlens agent."""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING, Any

from memlens.agent import AgentEntry, list_agents
from memlens.cli._common import Command
from memlens.errors import MemlensError
from memlens.outside.visible import for_rich
from memlens.probes import open_process
from memlens.units import human_bytes, human_duration

if TYPE_CHECKING:
    from rich.console import Console  # imported where printed: see cli/_summary.py

NONE_FOUND = (
    "no Python process of yours runs the memlens agent; start one with "
    "`memlens run --agent -- python app.py`, `MEMLENS_AGENT=1 python app.py`, "
    "or `memlens.agent.start()` in the program"
)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON array instead of a table")


def run(args: argparse.Namespace) -> int:
    rows = describe(list_agents())
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    from rich.console import Console

    console = Console()
    if not rows:
        console.print(NONE_FOUND, markup=False, highlight=False, soft_wrap=True)
        return 0
    print_agents(console, rows)
    return 0


def describe(entries: list[AgentEntry]) -> list[dict[str, Any]]:
    """Each agent as plain data, with its process's RSS read from the outside (no round
    trip to the agent, which may be busy)."""
    now = time.time()
    return [
        {
            "pid": e.pid,
            "ppid": e.ppid,
            "start_ticks": e.start_ticks,
            "name": e.name,
            "python": e.python,
            "argv": e.argv,
            "uptime_s": max(0.0, now - e.started) if e.started else None,
            "rss_bytes": _rss(e.pid),
            "address": e.address,
            "socket": e.socket,
            "tcp": e.tcp,
            "token_required": e.token_required,
            "started": e.started,
        }
        for e in entries
    ]


def print_agents(console: Console, rows: list[dict[str, Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Python processes running the memlens agent", title_justify="left")
    for name in ("PID", "name", "Python", "uptime", "RSS"):
        table.add_column(name, justify="right" if name in ("PID", "uptime", "RSS") else "left")
    table.add_column("address", overflow="fold")
    for row in rows:
        addresses = [row["address"]]
        if row["tcp"] and row["tcp"] != row["address"]:
            addresses.append(row["tcp"])
        if row["token_required"]:
            addresses[-1] += " (token)"
        table.add_row(
            str(row["pid"]),
            for_rich(row["name"]),
            for_rich(row["python"]),
            "–" if row["uptime_s"] is None else human_duration(row["uptime_s"]),
            "–" if row["rss_bytes"] is None else human_bytes(row["rss_bytes"]),
            Text("\n").join(for_rich(a) for a in addresses),
        )
    console.print(table)


def _rss(pid: int) -> int | None:
    try:
        probe = open_process(pid)
    except MemlensError:
        return None
    try:
        return probe.read(full=False).rss
    except MemlensError:
        return None
    finally:
        probe.close()


COMMAND = Command("ls", "list the Python processes that run the memlens agent", configure, run)
