"""`memlens watch [TARGET ...]`: sample processes and stream them to the dashboard.

A target is a PID, or the address of an agent (`HOST:PORT`, `unix:PATH`) read through
its socket. With no target at all, the one local process that runs the agent.
"""

from __future__ import annotations

import argparse

from memlens.cli._alerts import add_alert_options
from memlens.cli._attaching import add_attach_option, attach_where_needed
from memlens.cli._common import Command, add_serving_options
from memlens.cli._dashboard import run_dashboard
from memlens.cli._targets import add_agent_target_options, only_agent, open_agent_targets


def configure(p: argparse.ArgumentParser) -> None:
    add_agent_target_options(p, "watch")
    add_serving_options(p)
    add_alert_options(p)
    add_attach_option(p)


def run(args: argparse.Namespace) -> int:
    if not args.pids and not args.name:
        args.pids = [str(only_agent("watch"))]
    attach_where_needed(_local_pids(args.pids), args)
    probes, pattern = open_agent_targets(args, "watch")
    return run_dashboard(args, probes, name_pattern=pattern, children=args.children)


def _local_pids(texts: list[str]) -> list[int]:
    return [int(t) for t in texts if t.isdigit() and int(t) > 0]


COMMAND = Command("watch", "watch processes' memory live in the browser", configure, run)
