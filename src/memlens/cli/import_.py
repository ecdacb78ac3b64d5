"""`memlens import FILE`: a JSON or binary export back into the store, as a new recording."""

from __future__ import annotations

import argparse
import sys

from memlens.cli._common import Command
from memlens.cli._runs import add_db_option, store_path
from memlens.formats import import_file
from memlens.store.recording import counted


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file", metavar="FILE", help="a JSON or binary export (recognised by its content)"
    )
    add_db_option(p)


def run(args: argparse.Namespace) -> int:
    db = store_path(args)
    rid, recording = import_file(args.file, db)
    print(rid)
    print(
        f"memlens: imported {recording.info.name!r} ({counted(recording)}) "
        f"as recording {rid} of {db}",
        file=sys.stderr,
    )
    return 0


COMMAND = Command("import", "add a JSON or binary export to the store", configure, run)
