"""`memlens prune`: drop old samples and events from the store."""

from __future__ import annotations

import argparse

from memlens.cli._common import Command, parse_duration
from memlens.cli._runs import add_db_option, store_path
from memlens.store import EVENTS_RETENTION_S, SAMPLES_RETENTION_S
from memlens.store.files import existing_file
from memlens.watch.recorder import prune


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--samples",
        type=parse_duration,
        default=SAMPLES_RETENTION_S,
        metavar="AGE",
        help="drop samples older than this (default 90d)",
    )
    p.add_argument(
        "--events",
        type=parse_duration,
        default=EVENTS_RETENTION_S,
        metavar="AGE",
        help="drop events older than this (default 7d)",
    )
    add_db_option(p)


def run(args: argparse.Namespace) -> int:
    path = store_path(args)
    if not existing_file(path, writing=True):
        print(f"memlens: nothing to prune ({path} does not exist)")
        return 0
    samples, events = prune(path, keep_samples=args.samples, keep_events=args.events)
    print(f"memlens: pruned {samples} samples and {events} events from {path}")
    return 0


COMMAND = Command("prune", "drop samples and events older than the retention", configure, run)
