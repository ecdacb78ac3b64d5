"""`memlens mark PID TEXT [--db PATH]`: a mark ("the batch started here") on every running
watch of a process, from a shell.

The mark is left in the inbox of each running watch of PID (memlens.watch.mark_spool);
each takes it within a second and routes it as a program's mark: a `mark` event in its
recording (docs/storage.md), a line on its live chart and in `top`. Where no running
watch has an inbox for PID (a `memlens.Profiler` of the process, a watch of an older
memlens), it is written into the store instead, on the newest recording that has not
ended and whose target PID still runs. Either way it is kept in the recording: charts
draw it, reports and exports list it, `memlens analyze --since TEXT` starts from it.
"""

from __future__ import annotations

import argparse

from memlens.api.marks import MAX_TEXT, mark_in_store
from memlens.cli._common import Command
from memlens.cli._runs import add_db_option, store_path
from memlens.errors import UsageError
from memlens.outside.visible import visible
from memlens.store.files import existing_file
from memlens.watch.mark_spool import post


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("pid", type=int, metavar="PID", help="the watched process")
    p.add_argument("text", metavar="TEXT", help='what the mark says, e.g. "batch 2 starts"')
    add_db_option(p)


def run(args: argparse.Namespace) -> int:
    text = args.text
    if len(text) > MAX_TEXT:
        raise UsageError(f"a mark's text is at most {MAX_TEXT} characters")
    sent, full = post(args.pid, text)
    if sent:
        watches = "watch" if sent == 1 else "watches"
        print(visible(f"marked PID {args.pid} in {sent} running {watches}: {text}"))
        return 0
    if full:
        raise UsageError(f"the running watch of PID {args.pid} has too many marks waiting")
    path = store_path(args)
    if not existing_file(path, writing=True):
        raise UsageError(f"no recordings yet ({path} does not exist)")
    info = mark_in_store(path, args.pid, text, "shell")
    if info is None:
        raise UsageError(
            f"no running watch of PID {args.pid}, and no recording in {path} is "
            f"watching PID {args.pid} now (give the store it records into with --db)"
        )
    print(visible(f"marked recording {info.id} ({info.name}), PID {args.pid}: {text}"))
    return 0


COMMAND = Command("mark", "set a mark on every running watch of a process", configure, run)
