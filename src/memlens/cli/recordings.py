"""`memlens ls-recordings` and `memlens show RUN`: what the store holds."""

from __future__ import annotations

import argparse

from memlens.cli._common import Command
from memlens.cli._runs import add_db_option, open_run, store_path
from memlens.cli._summary import local_time, print_recording, shown_name
from memlens.outside.visible import for_rich
from memlens.store import StoreReader
from memlens.store.files import existing_file
from memlens.units import human_duration


def configure_ls(p: argparse.ArgumentParser) -> None:
    add_db_option(p)


def run_ls(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    path = store_path(args)
    console = Console()
    if not existing_file(path, writing=False):
        console.print(for_rich(f"no recordings yet ({path} does not exist)"))
        return 0
    reader = StoreReader.open(path)
    try:
        recordings = reader.recordings()
    finally:
        reader.close()
    table = Table(title=for_rich(str(path)), title_justify="left")
    for name in ("id", "name", "started", "duration", "targets", "samples", "exit"):
        table.add_column(name, justify="right" if name in ("id", "targets", "samples") else "left")
    for r in recordings:
        duration = human_duration(r.ended - r.started) if r.ended else "running or cut short"
        exit_code = "–" if r.exit_code is None else str(r.exit_code)
        table.add_row(
            str(r.id),
            for_rich(shown_name(r.name, 40)),
            local_time(r.started),
            duration,
            str(r.target_count),
            str(r.sample_count),
            exit_code,
        )
    console.print(table)
    return 0


def configure_show(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="a recording: its id, name, `last`, or a file")
    add_db_option(p)


def run_show(args: argparse.Namespace) -> int:
    from rich.console import Console

    reader, info = open_run(args.run, args)
    try:
        print_recording(
            Console(), info, reader.targets(info.id), lambda key: reader.series(info.id, key)
        )
    finally:
        reader.close()
    return 0


LS_COMMAND = Command("ls-recordings", "list the recordings in the store", configure_ls, run_ls)
SHOW_COMMAND = Command("show", "summarise one recording", configure_show, run_show)
