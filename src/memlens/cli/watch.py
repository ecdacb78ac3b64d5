"""`memlens watch PID [PID ...]`: sample processes and stream them to the dashboard."""

from __future__ import annotations

import argparse

from memlens.cli._common import Command, add_serving_options, compile_pattern, parse_pid
from memlens.cli._serve import run_dashboard
from memlens.errors import UsageError
from memlens.probes import ProcessProbe, open_process


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("pids", nargs="*", metavar="PID", help="process IDs to watch")
    p.add_argument(
        "--name",
        metavar="PATTERN",
        help="watch every process whose name or command line matches this regular "
        "expression (case-insensitive), picking up new ones as they start",
    )
    p.add_argument(
        "--children",
        action="store_true",
        help="include descendants: one series per process and one summed series",
    )
    add_serving_options(p)


def run(args: argparse.Namespace) -> int:
    pids = [parse_pid(text) for text in args.pids]
    pattern = compile_pattern(args.name) if args.name else None
    if not pids and pattern is None:
        raise UsageError("name at least one PID to watch, or --name PATTERN")
    if len(set(pids)) != len(pids):
        raise UsageError("a PID is named twice")
    probes: list[ProcessProbe] = []
    try:
        for pid in pids:
            probes.append(open_process(pid, detail=args.detail, backend=args.backend))
    except BaseException:
        for probe in probes:
            probe.close()
        raise
    return run_dashboard(args, probes, name_pattern=pattern, children=args.children)


COMMAND = Command("watch", "watch processes' memory live in the browser", configure, run)
