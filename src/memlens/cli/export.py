"""`memlens export RUN --format FORMAT`: a recording as a CSV, JSON, HTML or binary file,
its chart as an SVG or PNG image, or the last heap profile it kept as folded stacks or
pprof."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from memlens.analysis.groups import DEFAULT_GROUP_BY, GROUP_BY
from memlens.cli._chart import CHARTS, recording_chart
from memlens.cli._common import Command, quiet_stdout
from memlens.cli._runs import add_db_option, open_run
from memlens.errors import UsageError
from memlens.formats import FORMATS, Format, format_for_path
from memlens.formats.heap_files import encode, format_for
from memlens.formats.output import write_atomic
from memlens.outside.visible import visible
from memlens.report.heap_compare import last_profile
from memlens.store import Recording, StoreReader, load_recording
from memlens.store.recording import counted
from memlens.units import human_bytes

HEAP = {"collapsed": "collapsed", "pprof": "pb.gz"}  # the last heap profile kept: extension


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "run",
        metavar="RUN",
        help="the recording: a recording file, FILE#ID, or an id, a name or 'last' in the store",
    )
    p.add_argument(
        "--format",
        choices=[*FORMATS, *CHARTS, *HEAP],
        help="what to write (default: from the extension of -o, .csv .json .html .mlrec "
        ".svg .png .collapsed .pb.gz); svg and png are the chart: RSS per target, leak "
        "windows, marks, limits; collapsed and pprof the last heap profile it kept",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write (default memlens-ID.EXT in the current directory; - for stdout)",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="svg, png: judge leaks with this file's settings (default: the recording's)",
    )
    add_group_by_option(p)
    add_db_option(p)


def add_group_by_option(p: argparse.ArgumentParser) -> None:
    """`--group-by`, as on `watch`: how the processes are grouped in the file."""
    p.add_argument(
        "--group-by",
        choices=GROUP_BY,
        default=DEFAULT_GROUP_BY,
        help="group the processes by name, by command (the program, or the script an "
        "interpreter runs) or by parent process, as the live page does (default: name)",
    )


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
        if fmt.name in CHARTS:
            data = recording_chart(
                recording, reader, fmt.name, config=args.config, group_by=args.group_by
            )
        elif fmt.name in HEAP:
            data = _heap(recording, reader, fmt.name)
    finally:
        reader.close()
    if fmt.name not in CHARTS and fmt.name not in HEAP:
        data = fmt.dump(recording, args.group_by)
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


def _chart(name: str) -> Format:
    """A chart as a Format: written by the caller, which has the store's settings."""
    return _written_here(name, name, text=name == "svg")


def _written_here(name: str, extension: str, *, text: bool) -> Format:
    """A Format written from the recording and its store (a chart, a heap profile)."""

    def unused(recording: Recording) -> bytes:
        raise AssertionError(f"{name} is written from its recording and store")

    return Format(name, extension, unused, text=text)


def _heap(recording: Recording, reader: StoreReader, name: str) -> bytes:
    """The last heap profile kept of the process tree's sum's process, else of the target
    whose last profile holds most, as a `memlens profile` file of format `name`."""
    sums = [t.key for t in recording.targets if t.kind == "sum"]
    kept = last_profile(reader, recording.info.id, sums[0] if sums else None)
    if kept is None:
        raise UsageError(
            f"recording {recording.info.id} kept no heap profile (it keeps those of "
            "processes that run the heap profiler: memlens run --profile)"
        )
    return encode(kept.profile, name)


def _format(args: argparse.Namespace) -> Format:
    if args.format:
        if args.format in HEAP:
            return _written_here(args.format, HEAP[args.format], text=args.format == "collapsed")
        return _chart(args.format) if args.format in CHARTS else FORMATS[args.format]
    if args.output and args.output != "-":
        found = format_for_path(args.output)
        if found is not None:
            return found
        suffix = args.output.rsplit(".", 1)[-1].lower()
        if suffix in CHARTS:
            return _chart(suffix)
        heap = format_for(args.output)
        if heap in HEAP:
            return _written_here(heap, HEAP[heap], text=heap == "collapsed")
    raise UsageError(f"say which format with --format ({', '.join([*FORMATS, *CHARTS, *HEAP])})")


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


COMMAND = Command(
    "export",
    "write a recording as a CSV, JSON, HTML or binary file, its chart as SVG or PNG, or its "
    "last heap profile as folded stacks or pprof",
    configure,
    run,
)
