"""`memlens maps PID [--json] [--top N]`: where one process's memory lives, by category
(heap, anonymous, file-backed, thread stacks, shared memory, other), its largest
mappings, the runtimes the mappings show, and a sentence on what it sees.

One reading of /proc/PID/smaps (docs/maps.md: the categories, how each mapping is
classified, and why they add up to smaps_rollup). A process that ends while it is read,
or whose map the OS will not show (another user's), is one line and exit code 3.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from memlens.analysis.maptext import reading as reading_text
from memlens.cli._common import Command, parse_pid
from memlens.cli._summary import local_time, shown_name
from memlens.outside.visible import json_visible, visible
from memlens.probes.maps import CATEGORIES, Mapping, MapsProbe, MapsReading, Usage
from memlens.units import human_bytes

DEFAULT_TOP = 10
MAX_TOP = 1000


def _top(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of mappings") from None
    if not 0 <= value <= MAX_TOP:
        raise argparse.ArgumentTypeError(f"--top takes 0 to {MAX_TOP}")
    return value


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("pid", metavar="PID", help="the process to read")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--top",
        type=_top,
        default=DEFAULT_TOP,
        metavar="N",
        help=f"show the N mappings with the most resident memory (default {DEFAULT_TOP})",
    )


def run(args: argparse.Namespace) -> int:
    probe = MapsProbe(parse_pid(args.pid))
    try:
        reading = probe.read()
        name = probe.name
    finally:
        probe.close()
    if args.json:
        print(json_visible(json.dumps(as_json(reading, name, args.top), indent=2)))
    else:
        print("\n".join(text(reading, name, args.top)))
    return 0


def usage_json(usage: Usage) -> dict[str, int]:
    return dict(usage._asdict())


def mapping_json(m: Mapping) -> dict[str, Any]:
    return {
        "start": f"{m.start:#x}",
        "end": f"{m.end:#x}",
        "perms": m.perms,
        "path": m.path,
        "label": m.label,
        "category": m.category,
        "role": m.role,
        "size": m.size,
        **usage_json(m.usage),
    }


def as_json(reading: MapsReading, name: str, top: int) -> dict[str, Any]:
    rss = {c: u.rss for c, u in reading.categories.items()}
    return {
        "pid": reading.pid,
        "name": name,
        "time": reading.time,
        "categories": {c: usage_json(reading.categories[c]) for c in CATEGORIES},
        "total": usage_json(reading.total),
        "mapping_count": len(reading.mappings),
        "thread_stacks": reading.thread_stacks,
        "runtimes": [
            {"name": r.name, "what": r.what, "count": r.count, "size": r.size, "rss": r.rss}
            for r in reading.runtimes
        ],
        "top": [mapping_json(m) for m in reading.top(top)],
        "reading": reading_text(rss, reading.runtimes),
        "truncated": reading.truncated,
    }


def text(reading: MapsReading, name: str, top: int) -> list[str]:
    """The lines printed; everything from the process goes through `visible`."""
    out = [f"{shown_name(name)} (PID {reading.pid}) at {local_time(reading.time)}", ""]
    head = f"  {'category':<10}{'RSS':>12}{'PSS':>12}{'USS':>12}{'swap':>12}"
    out.append(head)
    for category in CATEGORIES:
        out.append(_usage_row(category, reading.categories[category]))
    out.append(_usage_row("total", reading.total))
    out.append("")
    rss = {c: u.rss for c, u in reading.categories.items()}
    out.append(f"  {reading_text(rss, reading.runtimes)}")
    if reading.thread_stacks:
        out.append(f"  thread stacks: {reading.thread_stacks}")
    for r in reading.runtimes:
        if r.name == "glibc malloc":
            figures = f": {r.count}, {human_bytes(r.rss)} resident"
        elif r.size:
            figures = f": {human_bytes(r.size)}, {human_bytes(r.rss)} resident"
        else:
            figures = ""
        out.append(f"  {r.name}: {r.what}{figures}")
    if reading.truncated:
        out.append(f"  only the first {len(reading.mappings):,} mappings were read")
    chosen = reading.top(top)
    if chosen:
        out += ["", f"  {'RSS':>10}  {'size':>10}  perms  {'category':<8}  mapping"]
        for m in chosen:
            out.append(
                f"  {human_bytes(m.usage.rss):>10}  {human_bytes(m.size):>10}  {m.perms}  "
                f"{m.category:<8}  {visible(m.label)}"
            )
    return out


def _usage_row(label: str, usage: Usage) -> str:
    cells = "".join(f"{human_bytes(v):>12}" for v in usage)
    return f"  {label:<10}{cells}"


COMMAND = Command(
    "maps",
    "where a process's memory lives: heap, anonymous, file-backed, stacks, shared",
    configure,
    run,
)
