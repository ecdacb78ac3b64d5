"""Naming a recording on the command line: `RUN` is a file, `FILE#ID`, or an id/name/`last`
in the data store (`--db`, `$MEMLENS_DB`, or the XDG data directory)."""

from __future__ import annotations

import argparse
from pathlib import Path

from memlens.errors import UsageError
from memlens.store import RecordingInfo, StoreReader, default_db_path
from memlens.store.files import existing_file


def add_db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="PATH",
        help="the recording store (default: $MEMLENS_DB, else the XDG data directory, "
        "~/.local/share/memlens/memlens.db)",
    )


def store_path(args: argparse.Namespace) -> Path:
    db: str | None = getattr(args, "db", None)
    return Path(db).expanduser() if db else default_db_path()


def open_run(text: str, args: argparse.Namespace) -> tuple[StoreReader, RecordingInfo]:
    """The reader and recording that `text` names. The caller closes the reader."""
    path, _, which = text.partition("#")
    if existing_file(Path(path).expanduser(), writing=False):
        reader = StoreReader.open(path)
        which = which or "last"
    else:
        if which:
            raise UsageError(f"no recording file {path!r}")
        location = store_path(args)
        if not existing_file(location, writing=False):
            raise UsageError(f"no recordings yet ({location} does not exist)")
        reader = StoreReader.open(location)
        which = text
    try:
        return reader, reader.recording(which)
    except BaseException:
        reader.close()
        raise
