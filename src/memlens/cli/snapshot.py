"""`memlens snapshot PID [--json] [--objects]`: one snapshot of any process, with the
figures and field names of `Profiler.take_snapshot`.

Memory, threads and descriptors come from the process probe (/proc or psutil); when the
process runs the Python agent, tracemalloc's figures come from it too, and with
`--objects` the count of gc-tracked objects (a walk over the target's heap, so asked
for only on request).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from memlens.api.snapshot import MemorySnapshot, snapshot_of, system_memory_percent
from memlens.cli._common import Command, parse_pid
from memlens.cli._summary import local_time, shown_name
from memlens.errors import MemlensError
from memlens.model import PYTHON_FIELDS, Reading
from memlens.outside.visible import visible
from memlens.probes import open_process
from memlens.probes.python import PythonProbe


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("pid", metavar="PID", help="the process to read")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--objects",
        action="store_true",
        help="also count the gc-tracked objects through the Python agent (walks the "
        "target's heap, pausing it for a moment)",
    )


def run(args: argparse.Namespace) -> int:
    pid = parse_pid(args.pid)
    probe = open_process(pid)
    try:
        reading = probe.read()
        t = time.time()
        name = probe.name
        reading, objects, agent = _python(reading, pid, probe.identity.start_ticks, args.objects)
    finally:
        probe.close()
    snap = snapshot_of(
        reading, timestamp=t, system_percent=system_memory_percent(), gc_objects=objects
    )
    if args.json:
        out: dict[str, Any] = {"pid": pid, "name": name, "agent": agent, **snap.to_dict()}
        print(json.dumps(out, indent=2))
    else:
        print("\n".join(visible(line) for line in text(snap, pid=pid, name=name, agent=agent)))
    return 0


def _python(
    reading: Reading, pid: int, start_ticks: int, count_objects: bool
) -> tuple[Reading, int | None, bool]:
    """The reading with the agent's fields, the object count, and whether an agent
    answered. An agent that fails midway leaves what the probe read."""
    agent = PythonProbe.find(pid, start_ticks)
    if agent is None:
        return reading, None, False
    objects = None
    try:
        fields: dict[str, Any] = dict(zip(PYTHON_FIELDS, agent.fields(), strict=True))
        reading = reading._replace(**fields)
        if count_objects:
            total = agent.objects(limit=1).get("total")
            objects = int(total) if isinstance(total, int) else None
    except MemlensError:
        pass
    finally:
        agent.close()
    return reading, objects, True


def text(snap: MemorySnapshot, *, pid: int, name: str, agent: bool) -> list[str]:
    def mb(value: float | None) -> str:
        return "–" if value is None else f"{value:,.1f} MB"

    if snap.tracemalloc_current_mb is not None:
        traced = f"{mb(snap.tracemalloc_current_mb)}, peak {mb(snap.tracemalloc_peak_mb)}"
    else:
        traced = "off" if agent else "– (no Python agent)"
    if snap.gc_objects_count is not None:
        objects = f"{snap.gc_objects_count:,}"
    else:
        objects = "– (--objects counts them)" if agent else "– (no Python agent)"
    rows = [
        ("process memory", f"{mb(snap.process_memory_mb)} (RSS)"),
        ("system memory", f"{snap.system_memory_percent:.1f}% in use"),
        ("tracemalloc", traced),
        ("gc objects", objects),
        ("threads", str(snap.thread_count)),
        ("open fds", str(snap.file_descriptors)),
    ]
    head = f"{shown_name(name)} (PID {pid}) at {local_time(snap.timestamp)}"
    return [head, *(f"  {label:<16}{value}" for label, value in rows)]


COMMAND = Command(
    "snapshot",
    "one snapshot of a process's memory, as Profiler.take_snapshot gives",
    configure,
    run,
)
