"""`memlens mark PID TEXT [--db PATH]`: a mark ("the batch started here") in the recording
that is watching a process now, from a shell.

The mark is a `mark` event (docs/storage.md) written into the store beside the recorder
that writes it (SQLite lets both write), on the newest recording that has not ended and
whose target PID still runs. It is kept in the recording: charts draw it, reports and
exports list it, `memlens analyze --since TEXT` starts from it.
"""

from __future__ import annotations

import argparse

from memlens.api.marks import MAX_TEXT, mark_in_store
from memlens.cli._common import Command
from memlens.cli._runs import add_db_option, store_path
from memlens.errors import UsageError
from memlens.outside.visible import visible
from memlens.store.files import existing_file


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("pid", type=int, metavar="PID", help="the watched process")
    p.add_argument("text", metavar="TEXT", help='what the mark says, e.g. "batch 2 starts"')
    add_db_option(p)


def run(args: argparse.Namespace) -> int:
    text = args.text
    if len(text) > MAX_TEXT:
        raise UsageError(f"a mark's text is at most {MAX_TEXT} characters")
    path = store_path(args)
    if not existing_file(path, writing=True):
        raise UsageError(f"no recordings yet ({path} does not exist)")
    info = mark_in_store(path, args.pid, text, "shell")
    if info is None:
        raise UsageError(
            f"no recording in {path} is watching PID {args.pid} now "
            "(give the store it records into with --db)"
        )
    print(visible(f"marked recording {info.id} ({info.name}), PID {args.pid}: {text}"))
    return 0


COMMAND = Command("mark", "set a mark in the recording that watches a process", configure, run)
