"""`memlens export RUN --format FORMAT`: a recording as a CSV, JSON, HTML or binary file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from memlens.cli._common import Command, quiet_stdout
from memlens.cli._runs import add_db_option, open_run
from memlens.errors import UsageError
from memlens.formats import FORMATS, Format, format_for_path
from memlens.formats.output import write_atomic
from memlens.outside.visible import visible
from memlens.store import Recording, load_recording
from memlens.store.recording import counted
from memlens.units import human_bytes


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "run",
        metavar="RUN",
        help="the recording: a recording file, FILE#ID, or an id, a name or 'last' in the store",
    )
    p.add_argument(
        "--format",
        choices=list(FORMATS),
        help="what to write (default: from the extension of -o, .csv .json .html .mlrec)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write (default memlens-ID.EXT in the current directory; - for stdout)",
    )
    add_db_option(p)


def run(args: argparse.Namespace) -> int:
    fmt = _format(args)
    to_stdout = args.output == "-"
    if to_stdout and not fmt.text and sys.stdout.isatty():
        raise UsageError(
            f"{fmt.name} output would garble the terminal: redirect it, or give -o FILE"
        )
    reader, info = open_run(args.run, args)
    try:
        recording = load_recording(reader, info)
    finally:
        reader.close()
    data = fmt.write(recording)
    if to_stdout:
        if not write_stdout(data):
            return 0  # the reader stopped early (`| head`): as any filter, say nothing
        where = "standard output"
    else:
        path = Path(args.output or f"memlens-{info.id}.{fmt.extension}")
        write_file(path, data)
        print(path)
        where = str(path)
    print(f"memlens: {visible(_summary(recording, fmt, len(data)))} to {where}", file=sys.stderr)
    return 0


def _format(args: argparse.Namespace) -> Format:
    if args.format:
        return FORMATS[args.format]
    if args.output and args.output != "-":
        found = format_for_path(args.output)
        if found is not None:
            return found
    raise UsageError(f"say which format with --format ({', '.join(FORMATS)})")


def _summary(recording: Recording, fmt: Format, size: int) -> str:
    info = recording.info
    return (
        f"recording {info.id} ({info.name}): {counted(recording)}, "
        f"written as {fmt.name} ({human_bytes(size)})"
    )


def write_stdout(data: bytes) -> bool:
    """Write `data` to stdout; False when the reader went away before the end."""
    sys.stdout.flush()
    fd = sys.stdout.fileno()
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except BrokenPipeError:
        quiet_stdout()  # nothing may be written to stdout any more, not even at exit
        return False
    return True


def write_file(path: Path, data: bytes) -> None:
    write_atomic(path, data)


COMMAND = Command("export", "write a recording as a CSV, JSON, HTML or binary file", configure, run)
