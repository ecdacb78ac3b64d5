"""`memlens watch PID [PID ...]`: sample processes and stream them to the dashboard."""

from __future__ import annotations

import argparse

from memlens.cli._alerts import add_alert_options
from memlens.cli._common import Command, add_serving_options, add_target_options, open_targets
from memlens.cli._serve import run_dashboard


def configure(p: argparse.ArgumentParser) -> None:
    add_target_options(p, "watch")
    add_serving_options(p)
    add_alert_options(p)


def run(args: argparse.Namespace) -> int:
    probes, pattern = open_targets(args, "watch")
    return run_dashboard(args, probes, name_pattern=pattern, children=args.children)


COMMAND = Command("watch", "watch processes' memory live in the browser", configure, run)
