"""`memlens mark PID TEXT [--db PATH]`: a mark ("the batch started here") in the recording
that is watching a process now, from a shell.

The mark is a `mark` event (docs/storage.md) written into the store beside the recorder
that writes it (SQLite lets both write), on the newest recording that has not ended and
whose target PID still runs. It is kept in the recording: charts draw it, reports and
exports list it, `memlens analyze --since TEXT` starts from it.
"""

from __future__ import annotations

import argparse
import os
import time

from memlens.cli._common import Command
from memlens.cli._runs import add_db_option, store_path
from memlens.errors import UsageError
from memlens.outside.visible import visible
from memlens.store import Store, StoreReader
from memlens.store.files import existing_file

MAX_TEXT = 1000  # characters of a mark's text


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
    with StoreReader.open(path) as reader:
        found = None
        for info in reversed(reader.recordings()):
            if info.ended is not None:
                continue
            targets = [
                t
                for t in reader.targets(info.id)
                if t.kind == "process" and t.pid == args.pid and t.state == "running"
            ]
            if targets:
                found = (info, targets[0])
                break
    if found is None:
        raise UsageError(
            f"no recording in {path} is watching PID {args.pid} now "
            "(give the store it records into with --db)"
        )
    info, target = found
    store = Store.open(path)
    try:
        data = {"text": text, "source": "shell", "pid": args.pid, "by_pid": os.getpid()}
        store.add_event(info.id, "mark", time.time(), data, target.key)
        store.flush()
    finally:
        store.close()
    print(
        visible(f"marked recording {info.id} ({info.name}), {target.name} (PID {args.pid}): {text}")
    )
    return 0


COMMAND = Command("mark", "set a mark in the recording that watches a process", configure, run)
